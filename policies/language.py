"""The internal form of a usage policy: our ODRL 2.2 profile as typed, immutable values.

This module is the contract between the policy language (ODRL JSON-LD import/export, templates,
French sentences: `policies.odrl`, `policies.templates`, `policies.sentences`) and the decision
point (`policies.pdp`). Everything a policy can say is listed here; anything else is refused when
the policy is saved (`PolicyError`, naming the offending member).

Semantics (what `policies.pdp.decide` implements):
* Deny by default. A **permission** applies to a request when the request's action is one of its
  actions and every one of its constraints holds; its duties become obligations.
* A **prohibition** whose action matches and whose constraints all hold wins over any permission.
* Constraints are about the assignee and the request, never about the record's content, so a
  policy's answer for one subject is the same for every record it governs: list endpoints decide
  once per (policy, subject) and filter the whole queryset.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Literal

#: ODRL actions of the profile.
ACTIONS: tuple[str, ...] = ("read", "search", "export", "aggregate", "redistribute", "modify")

#: The fixed purpose vocabulary (the `purpose` constraint and the `purpose` request parameter).
PURPOSES: tuple[str, ...] = ("programming", "touring", "contracting", "reporting", "research", "communication")

#: Constraint left operands of the profile, and the type of their right operand once parsed:
#:   licensed        bool           the assignee holds a current *Valide* licence on the request day
#:   licenceCategory tuple[int,...] ... of one of these categories (1, 2, 3)
#:   organisation    tuple[str,...] the assignee's organisation (UUIDs as strings)
#:   node            tuple[str,...] the node the assignee comes from (base URLs)
#:   staffRole       tuple[str,...] the assignee's staff role on the owner (administrator, editor, reader)
#:   purpose         tuple[str,...] the declared purpose of the request (PURPOSES)
#:   dateTime        dt.datetime    the request's instant, compared with lt/lteq/gt/gteq
#:   elapsedTime     dt.timedelta   time since the policy took effect (its `valid_from`), lteq/lt
#:   count           int            uses by one assignee per day under this rule, lteq/lt
#:   recipient       tuple[str,...] who receives the data (organisation UUIDs), for redistribute
#:   region          tuple[str,...] the assignee organisation's region
LEFT_OPERANDS: tuple[str, ...] = (
    "licensed",
    "licenceCategory",
    "organisation",
    "node",
    "staffRole",
    "purpose",
    "dateTime",
    "elapsedTime",
    "count",
    "recipient",
    "region",
)
OPERATORS: tuple[str, ...] = ("eq", "neq", "lt", "lteq", "gt", "gteq", "isAnyOf", "isNoneOf")

#: Duties: `journal` (the access is journaled), `attribute` (the answer names the source; value:
#: the attribution text), `deleteAfter` (the recipient deletes the data after a duration; value:
#: dt.timedelta).
DUTIES: tuple[str, ...] = ("journal", "attribute", "deleteAfter")

RuleKind = Literal["permission", "prohibition"]


@dataclass(frozen=True)
class Constraint:
    left: str
    operator: str
    right: Any


@dataclass(frozen=True)
class Duty:
    action: str
    value: Any = None


@dataclass(frozen=True)
class Rule:
    kind: RuleKind
    actions: tuple[str, ...]
    constraints: tuple[Constraint, ...] = ()
    duties: tuple[Duty, ...] = ()


@dataclass(frozen=True)
class PolicyDoc:
    """One policy: its URI (`uid`), its rules, and when it took effect."""

    uid: str
    rules: tuple[Rule, ...]
    valid_from: dt.datetime | None = None
    #: The templates it was composed from (names and parameters), when it was; informative only.
    templates: tuple[dict[str, Any], ...] = field(default_factory=tuple)


class PolicyError(ValueError):
    """A policy outside the profile. `field` names where (a JSON pointer-like path), `message` why."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message
