"""What the decision point needs to know about a professional: account, organisation, licences."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass


@dataclass(frozen=True)
class LicenceFact:
    """One licence d'entrepreneur de spectacles as the registry holds it."""

    number: str  # normalised, e.g. "2-PLATESV-R-2021-000123"
    category: int  # 1, 2 or 3
    #: "valide", "en_instruction", "invalide" (refused), "invalide_retire" (withdrawn), or "expire" when
    #: the ministry's list says "Expiré" outright (see dataspace.directory.models.Licence.Status).
    status: str
    valid_until: dt.date | None  # end of validity (5 years from the receipt), None if unknown
    deposited_on: dt.date | None = None

    def in_force(self, day: dt.date) -> bool:
        """A current *Valide* licence on `day` (validity end inclusive)."""
        return (
            self.status == "valide"
            and (self.valid_until is None or day <= self.valid_until)
            and (self.deposited_on is None or self.deposited_on <= day)
        )


@dataclass(frozen=True)
class ProfessionalProfile:
    """A professional account: a person linked to an organisation and its licences."""

    account_id: int
    organisation_id: uuid.UUID | None
    organisation_name: str
    licences: tuple[LicenceFact, ...]
    #: The terms-of-use version this person accepted last ("" if none).
    terms_accepted: str = ""
    #: The registry checked that the person works for the organisation (`ProfessionalAccount.verified_at`);
    #: an unverified account is not licensed, whatever its organisation holds.
    verified: bool = True
    #: The registry's current terms version when the profile was read ("" none published), so the
    #: decision point needs no query of its own; None when unknown (a profile built by hand).
    terms_current: str | None = None
