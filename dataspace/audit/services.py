"""Write and read the journal (helper-owned: see the module's final docstring once implemented)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Actor:
    """Who acted, as the journal records it (no dependency on the policies app)."""

    user_id: int | None = None
    username: str = ""
    organisation_id: uuid.UUID | None = None
    organisation_name: str = ""
    licence_number: str = ""
    client_id: str = ""
    node: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def journal(
    *,
    actor: Actor,
    action: str,
    decision: str,
    reason_code: str = "",
    reason: str = "",
    purpose: str = "",
    record_type: str = "",
    record_ids: Sequence[uuid.UUID] = (),
    owner_id: uuid.UUID | None = None,
    stream: str = "access",
    details: dict[str, Any] | None = None,
) -> Any:
    """Append one hash-chained entry and return it. `stream` is "access", "break_glass" or "admin".

    One entry per (request, owner): a list answer covering several records of one owner is one
    entry listing their ids. Contract fixed for the policies app; implemented by the audit work.
    """
    raise NotImplementedError
