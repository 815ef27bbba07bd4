"""Licence registry and professional accounts (contract; implemented by the directory work)."""

from __future__ import annotations

from typing import Any

from dataspace.directory.profiles import ProfessionalProfile


def professional_profile(user: Any) -> ProfessionalProfile | None:
    """The professional account of this person with its organisation's licences, or None."""
    raise NotImplementedError


def current_terms_version() -> str:
    """The registry's current terms-of-use version ("" when none is published)."""
    raise NotImplementedError
