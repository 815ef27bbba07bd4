"""save_policy, policy_doc, default_policy_doc and the policy generation counter."""

from __future__ import annotations

from typing import Any

import pytest

from policies import services
from policies.language import Constraint, Duty, PolicyError, Rule
from policies.models import Policy
from tests.factories import OrganisationFactory, PerformanceFactory


def test_default_policy_is_public_for_every_referential_type() -> None:
    for target_type in services.governed_types():
        doc = services.default_policy_doc(target_type)
        assert doc.rules == (
            Rule("permission", ("read", "search", "export", "aggregate", "redistribute"), (), (Duty("attribute"),)),
        )
        assert doc.uid.endswith(f"/id/policy/default-{target_type}")
    assert services.default_policy_doc("policy").rules == ()


def test_policy_doc_reads_the_stored_policy(db: Any) -> None:
    owner = OrganisationFactory()
    policy = services.save_policy(
        owner=owner, target_type="performance", templates=[{"name": "licensed_only", "categories": [3, 2]}]
    )
    doc = services.policy_doc(policy)
    assert doc.uid == policy.uri
    assert doc.valid_from == policy.valid_from
    assert doc.templates == ({"name": "licensed_only", "categories": [2, 3]},)
    assert doc.rules == (
        Rule(
            "permission",
            ("read", "search"),
            (Constraint("licensed", "eq", True), Constraint("licenceCategory", "isAnyOf", (2, 3))),
            (Duty("journal"),),
        ),
    )
    assert policy.odrl["uid"] == policy.uri
    assert policy.odrl["target"] == f"{owner.uri}/datasets/performance"
    assert policy.odrl["assigner"] == owner.uri


def test_generation_changes_on_commit_of_every_write(db: Any, django_capture_on_commit_callbacks: Any) -> None:
    owner = OrganisationFactory()
    first = services.policy_generation()
    assert services.policy_generation() == first
    with django_capture_on_commit_callbacks(execute=True):
        policy = services.save_policy(owner=owner, target_type="work", templates=[{"name": "public"}])
    second = services.policy_generation()
    assert second != first
    with django_capture_on_commit_callbacks(execute=True):
        services.deactivate_policy(policy)
    third = services.policy_generation()
    assert third != second
    with django_capture_on_commit_callbacks(execute=True):
        policy.delete()
    assert services.policy_generation() != third


def test_new_policy_deactivates_the_previous_one(db: Any) -> None:
    owner = OrganisationFactory()
    other = OrganisationFactory()
    first = services.save_policy(owner=owner, target_type="performance", templates=[{"name": "public"}])
    theirs = services.save_policy(owner=other, target_type="performance", templates=[{"name": "public"}])
    second = services.save_policy(owner=owner, target_type="performance", templates=[])
    first.refresh_from_db()
    theirs.refresh_from_db()
    assert (first.active, second.active, theirs.active) == (False, True, True)
    assert Policy.objects.filter(owner=owner).count() == 2
    assert services.active_policy(owner.pk, "performance") == second


def test_record_override_needs_a_record_of_the_owner(db: Any) -> None:
    owner = OrganisationFactory()
    mine = PerformanceFactory(production__owner=owner)
    theirs = PerformanceFactory()
    policy = services.save_policy(
        owner=owner, target_type="performance", target_id=str(mine.pk), templates=[{"name": "public"}]
    )
    assert policy.target_id == mine.pk
    assert policy.odrl["target"] == mine.uri
    with pytest.raises(PolicyError) as refused:
        services.save_policy(owner=owner, target_type="performance", target_id=theirs.pk, templates=[])
    assert refused.value.field == "target_id"
    with pytest.raises(PolicyError) as missing:
        services.save_policy(owner=owner, target_type="venue", target_id=mine.pk, templates=[])
    assert missing.value.field == "target_id"
    with pytest.raises(PolicyError) as bad_type:
        services.save_policy(owner=owner, target_type="policy", templates=[])
    assert bad_type.value.field == "target_type"


def test_exactly_one_of_templates_or_odrl(db: Any) -> None:
    owner = OrganisationFactory()
    with pytest.raises(PolicyError) as neither:
        services.save_policy(owner=owner, target_type="work")
    assert neither.value.field == "templates"
    with pytest.raises(PolicyError):
        services.save_policy(owner=owner, target_type="work", templates=[], odrl={})


def test_odrl_errors_name_the_odrl_member(db: Any) -> None:
    owner = OrganisationFactory()
    document = {
        "@context": "http://www.w3.org/ns/odrl.jsonld",
        "profile": "https://scene-commune.example/odrl/profile/v1",
        "permission": [{"action": "print"}],
    }
    with pytest.raises(PolicyError) as refused:
        services.save_policy(owner=owner, target_type="work", odrl=document)
    assert refused.value.field == "odrl.permission[0].action"
