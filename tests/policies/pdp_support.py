"""Personas and policy helpers of the decision-point tests (test_pdp, test_enforcement, test_explain…).

Subjects are built directly (`Subject`, `LicenceFact`) for unit tests; the API tests use real
accounts and tokens (`professional_user`). Policies are saved through `policies.services` and the
policy generation is bumped at once (tests run inside a transaction that never commits, so the
`on_commit` bump of `save_policy` would not run).
"""

from __future__ import annotations

import datetime as dt
import itertools
import uuid
import zoneinfo
from collections.abc import Iterator
from typing import Any

import pytest

from dataspace.directory.profiles import LicenceFact, ProfessionalProfile
from policies.language import PolicyDoc, Rule
from policies.subject import Subject

PARIS = zoneinfo.ZoneInfo("Europe/Paris")
#: The instant most tests decide at (a Tuesday, noon in Paris).
NOW = dt.datetime(2026, 12, 1, 12, 0, tzinfo=PARIS)
TODAY = NOW.date()
MINISTRY_NODE = "https://ministere.example"

_ids = itertools.count(9001)


def licence(
    category: int = 2,
    *,
    status: str = "valide",
    valid_until: dt.date | None = dt.date(2030, 1, 15),
    deposited_on: dt.date | None = dt.date(2025, 1, 15),
    number: str | None = None,
) -> LicenceFact:
    return LicenceFact(
        number=number or f"{category}-PLATESV-D-2025-{next(_ids):06d}",
        category=category,
        status=status,
        valid_until=valid_until,
        deposited_on=deposited_on,
    )


def professional(
    *licences: LicenceFact,
    organisation_id: uuid.UUID | None = None,
    verified: bool = True,
    terms_accepted: str = "",
    acts_for: frozenset[uuid.UUID] = frozenset(),
) -> Subject:
    """A person with a professional account holding these licences (none: unlicensed)."""
    user_id = next(_ids)
    organisation = organisation_id or uuid.uuid4()
    profile = ProfessionalProfile(
        account_id=user_id,
        organisation_id=organisation,
        organisation_name="Compagnie fictive",
        licences=tuple(licences),
        terms_accepted=terms_accepted,
        verified=verified,
    )
    return Subject(
        kind="person",
        user_id=user_id,
        username=f"pro-{user_id}",
        acts_for=acts_for,
        node="http://testserver",
        professional=profile,
    )


def licensed(category: int = 2, **kwargs: Any) -> Subject:
    return professional(licence(category), **kwargs)


def client_of(organisation_id: uuid.UUID, *, node: str = "http://testserver") -> Subject:
    """A machine client acting for `organisation_id` (its owner or a mandate)."""
    return Subject(kind="client", client_id=f"client-{next(_ids)}", acts_for=frozenset({organisation_id}), node=node)


def staff_of(organisation_id: uuid.UUID, role: str = "editor") -> Subject:
    user_id = next(_ids)
    return Subject(
        kind="person",
        user_id=user_id,
        username=f"staff-{user_id}",
        acts_for=frozenset({organisation_id}),
        staff_roles={organisation_id: role},
    )


def save(
    owner: Any, target_type: str = "venue", *, target_id: Any = None, now: dt.datetime | None = None, **kwargs: Any
) -> Any:
    """Save a policy (templates= or odrl=) and make it current at once."""
    from policies.services import bump_policy_generation, save_policy

    policy = save_policy(owner=owner, target_type=target_type, target_id=target_id, now=now, **kwargs)
    bump_policy_generation()
    return policy


def save_rules(owner: Any, rules: tuple[Rule, ...], target_type: str = "venue", **kwargs: Any) -> Any:
    """Save a policy written as rules of the internal form (through its ODRL document)."""
    from policies.odrl import to_odrl

    document = to_odrl(PolicyDoc(uid="", rules=rules), target="urn:test", assigner="")
    return save(owner, target_type, odrl=document, **kwargs)


@pytest.fixture(autouse=True)
def fresh_policy_cache() -> Iterator[None]:
    """Compiled policies never outlive a test (its transaction is rolled back, the cache is not).

    Import it into a test module to make it apply there.
    """
    from policies.pdp import forget_compiled_policies
    from policies.services import bump_policy_generation

    forget_compiled_policies()
    bump_policy_generation()
    yield
    forget_compiled_policies()
    bump_policy_generation()
