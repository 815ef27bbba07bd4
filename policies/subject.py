"""Who is asking: the attributes the decision point reads about the assignee (DESIGN.md §5).

`Subject` is built once per request (`policies.enforcement.subject_for_request`) from the
authenticated person or client, their staff roles, mandates and, for a professional, the licence
registry (`dataspace.directory.services.professional_profile`).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from dataspace.directory.profiles import LicenceFact, ProfessionalProfile

__all__ = ["ANONYMOUS", "LicenceFact", "ProfessionalProfile", "Subject", "SubjectKind"]

SubjectKind = Literal["anonymous", "person", "client"]


@dataclass(frozen=True)
class Subject:
    kind: SubjectKind
    user_id: int | None = None
    username: str = ""
    client_id: str = ""
    #: Organisations the subject acts for: its staff memberships, its client's owner and the
    #: structures that gave its client an active mandate. Reading their data is not "another
    #: owner's data".
    acts_for: frozenset[uuid.UUID] = field(default_factory=frozenset)
    #: Staff role per organisation (administrator, editor, reader).
    staff_roles: Mapping[uuid.UUID, str] = field(default_factory=dict)
    is_superuser: bool = False
    #: The node the subject comes from (this node's base URL for local accounts and clients).
    node: str = ""
    #: The subject's organisation region (for the `region` constraint), "" if unknown.
    region: str = ""
    professional: ProfessionalProfile | None = None

    @property
    def organisation_id(self) -> uuid.UUID | None:
        """The organisation the subject belongs to: its professional account's, else one it acts for."""
        if self.professional is not None and self.professional.organisation_id is not None:
            return self.professional.organisation_id
        return next(iter(sorted(self.acts_for)), None) if self.acts_for else None

    def licences_in_force(self, day: dt.date) -> tuple[LicenceFact, ...]:
        if self.professional is None:
            return ()
        return tuple(licence for licence in self.professional.licences if licence.in_force(day))

    @property
    def key(self) -> str:
        """Stable identity for counters and journals: `user:<pk>`, `client:<id>` or `anonymous`."""
        if self.user_id is not None:
            return f"user:{self.user_id}"
        if self.client_id:
            return f"client:{self.client_id}"
        return "anonymous"


ANONYMOUS = Subject(kind="anonymous")
