"""What the decision point answers: permit or deny, the obligations, and a reason a person understands."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Effect = Literal["permit", "deny"]

#: Stable reason codes (API clients may branch on them; the sentence is for people).
REASONS: dict[str, str] = {
    "owner": "the subject acts for the owner of the data",
    "policy_permits": "a permission of the policy applies",
    "no_permission": "no permission of the policy applies (deny by default)",
    "prohibited": "a prohibition of the policy applies",
    "not_licensed": "the policy asks for a licensed professional and the subject holds no licence",
    "licence_expired": "the subject's licence expired",
    "licence_pending": "the subject's licence is still under review (en instruction)",
    "licence_withdrawn": "the subject's licence was refused or withdrawn",
    "licence_category": "the subject's licence is not of a category the policy asks for",
    "purpose_required": "a purpose is mandatory to read another owner's data",
    "purpose_not_allowed": "the declared purpose is not one the policy allows",
    "count_exceeded": "the daily number of uses allowed by the policy is reached",
    "outside_time_window": "the policy does not allow this use at this date",
    "terms_not_accepted": "the current terms of use of the registry were not accepted",
    "refused": "refused (a blocked party is not told why)",
    "hidden": "the record is hidden by its owner",
    "break_glass": "emergency access (break-glass) with a written justification",
    "object_grant": "an object-level grant of the owner (django-guardian)",
    "not_owner": "only the owner (or a party it granted) may modify the data",
    "no_agreement": "the subject comes from another node and no data-sharing agreement of the owner in force covers it",
}


@dataclass(frozen=True)
class Obligation:
    """A duty the node carries out (journal) or passes on with the data (attribute, deleteAfter)."""

    action: str  # "journal", "attribute", "deleteAfter"
    value: Any = None


@dataclass(frozen=True)
class Decision:
    effect: Effect
    reason_code: str
    #: One sentence a person understands, in the active language (French first).
    reason: str
    obligations: tuple[Obligation, ...] = field(default_factory=tuple)
    #: URI of the policy that decided (None when no policy was involved: owner, block, hidden…).
    policy_uid: str | None = None

    @property
    def permitted(self) -> bool:
        return self.effect == "permit"
