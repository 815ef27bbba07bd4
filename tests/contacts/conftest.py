"""Personas of the contacts tests: a structure with its staff, its notice, consenting contacts."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from dataspace.consent import services as consent_services
from dataspace.node.models import StaffMembership
from tests.factories import OrganisationFactory, UserFactory

CONTACTS = "/api/v1/contacts/"


@pytest.fixture
def theatre(db: Any) -> Any:
    return OrganisationFactory(name="Théâtre des Contacts")


@pytest.fixture
def contact_notice(theatre: Any) -> Any:
    return consent_services.publish_notice(
        controller=theatre, kind="contact", version="2026-1", text="Nous vous écrivons pour nos saisons."
    )


@pytest.fixture
def member(theatre: Any) -> Any:
    """Factory: a logged-in person with `role` on the theatre (or on `organisation`)."""

    def make(role: str = "editor", organisation: Any = None, username: str | None = None) -> APIClient:
        user = UserFactory(username=username or f"{role}-{(organisation or theatre).pk.hex[:6]}")
        StaffMembership.objects.create(user=user, organisation=organisation or theatre, role=role)
        api = APIClient()
        api.force_login(user)
        api.user = user  # type: ignore[attr-defined]
        return api

    return make
