"""POST /api/v1/policies/explain: who could do what with a record, and why; touches no data."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from dataspace.audit.models import JournalEntry
from dataspace.node.models import StaffMembership
from policies.language import Constraint, Rule
from policies.models import Block, HiddenRecord, UsageCount
from tests.directory.factories import LicenceFactory, ProfessionalAccountFactory
from tests.factories import OrganisationFactory, UserFactory, VenueFactory
from tests.policies.pdp_support import fresh_policy_cache, save, save_rules  # noqa: F401 - autouse fixture

pytestmark = pytest.mark.django_db

EXPLAIN = "/api/v1/policies/explain"


@pytest.fixture
def owner() -> Any:
    return OrganisationFactory(name="Théâtre du Nord")


@pytest.fixture
def partner() -> Any:
    return OrganisationFactory(name="Scène partenaire")


@pytest.fixture
def venue(owner: Any, partner: Any) -> Any:
    record = VenueFactory(owner=owner)
    save(owner, templates=[{"name": "licensed_only", "categories": [2, 3]}, {"name": "no_redistribution"}])
    save(
        owner,
        target_id=record.pk,
        templates=[
            {"name": "licensed_only", "categories": [2, 3]},
            {"name": "named_partners", "organisations": [str(partner.pk)]},
            {"name": "no_redistribution"},
        ],
    )
    return record


@pytest.fixture
def manager(owner: Any, bearer_client: Any) -> APIClient:
    """The owner's administrator through a personal key carrying policies:manage."""
    admin = UserFactory()
    StaffMembership.objects.create(user=admin, organisation=owner, role="administrator")
    client: APIClient = bearer_client("policies:manage referentials:read", kind="reader", user=admin)
    return client


def by_label(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {answer["subject"]["label"]: {d["action"]: d for d in answer["decisions"]} for answer in body["answers"]}


def test_samples_explain_every_action_for_every_sample_subject(manager: APIClient, venue: Any, partner: Any) -> None:
    response = manager.post(EXPLAIN, {"record": venue.uri, "purpose": "programming"}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["record"]["owner"]["name"] == "Théâtre du Nord"
    assert body["policy"]["scope"] == "record"
    assert body["policy"]["sentence"]
    answers = by_label(body)
    assert answers["Visiteur anonyme"]["read"]["reason_code"] == "not_licensed"
    assert answers["Professionnel licencié (catégorie 1)"]["read"]["reason_code"] == "licence_category"
    assert answers["Professionnel licencié (catégorie 2)"]["read"]["effect"] == "permit"
    assert answers["Professionnel licencié (catégorie 2)"]["read"]["obligations"] == [
        {"action": "journal", "value": None}
    ]
    assert answers["Professionnel licencié (catégorie 3)"]["search"]["effect"] == "permit"
    assert answers["Professionnel licencié (catégorie 2)"]["redistribute"]["reason_code"] == "prohibited"
    assert answers["Professionnel sans licence"]["read"]["reason_code"] == "not_licensed"
    assert answers["Professionnel dont la licence a expiré"]["read"]["reason_code"] == "licence_expired"
    assert answers[f"Partenaire nommé : {partner.name}"]["export"]["effect"] == "permit"
    assert answers["Personnel de la structure propriétaire"]["modify"]["reason_code"] == "owner"
    assert set(answers["Visiteur anonyme"]) == {"read", "search", "export", "aggregate", "redistribute", "modify"}


def test_explaining_touches_no_data(manager: APIClient, owner: Any, venue: Any) -> None:
    save_rules(owner, (Rule("permission", ("read",), (Constraint("count", "lteq", 1),)),), target_id=venue.pk)
    for _ in range(3):
        body = manager.post(
            EXPLAIN, {"record": {"type": "venue", "id": str(venue.pk)}, "action": "read"}, format="json"
        ).json()
        assert by_label(body)["Professionnel sans licence"]["read"]["effect"] == "permit"
    assert not UsageCount.objects.exists()
    assert not JournalEntry.objects.exists()


def test_one_described_subject(manager: APIClient, venue: Any, partner: Any) -> None:
    subject = {"licensed": True, "licence_categories": [1]}
    body = manager.post(EXPLAIN, {"record": venue.uri, "action": "read", "subject": subject}, format="json").json()
    assert [a["decisions"][0]["reason_code"] for a in body["answers"]] == ["licence_category"]
    subject = {"licensed": False, "organisation": str(partner.pk)}
    body = manager.post(EXPLAIN, {"record": venue.uri, "action": "read", "subject": subject}, format="json").json()
    assert body["answers"][0]["decisions"][0]["effect"] == "permit"
    staff = {"staff_role": "reader"}
    body = manager.post(EXPLAIN, {"record": venue.uri, "action": "modify", "subject": staff}, format="json").json()
    assert body["answers"][0]["decisions"][0]["reason_code"] == "owner"


def test_malformed_requests_name_the_member(manager: APIClient, venue: Any) -> None:
    cases = [
        ({}, "record"),
        ({"record": "https://ailleurs.example/nothing"}, "record"),
        ({"record": venue.uri, "action": "destroy"}, "action"),
        ({"record": venue.uri, "purpose": "gossip"}, "purpose"),
        ({"record": venue.uri, "subject": {"licensed": "yes"}}, "subject.licensed"),
        ({"record": venue.uri, "subject": {"colour": "blue"}}, "subject.colour"),
    ]
    for body, member in cases:
        response = manager.post(EXPLAIN, body, format="json")
        assert response.status_code == 400, body
        assert member in response.json()["fields"], response.json()
    missing = manager.post(
        EXPLAIN, {"record": {"type": "venue", "id": "8d1f0000-0000-4000-8000-000000000000"}}, format="json"
    )
    assert missing.status_code == 404


def test_others_may_only_ask_about_themselves(bearer_client: Any, venue: Any) -> None:
    account = ProfessionalAccountFactory()
    LicenceFactory(organisation=account.organisation, category=2)
    reader = bearer_client("referentials:read", kind="reader", user=account.user)
    refused = reader.post(EXPLAIN, {"record": venue.uri}, format="json")
    assert refused.status_code == 403
    assert refused.json()["error"] == "explain_own_only"
    own = reader.post(EXPLAIN, {"record": venue.uri, "subject": "me", "purpose": "programming"}, format="json")
    assert own.status_code == 200  # a reader client may ask: the POST writes nothing
    decisions = {d["action"]: d for d in own.json()["answers"][0]["decisions"]}
    assert decisions["read"]["effect"] == "permit"
    assert decisions["export"]["reason_code"] == "no_permission"


def test_a_blocked_caller_is_not_told_about_the_block(bearer_client: Any, owner: Any, venue: Any) -> None:
    user = UserFactory()
    Block.objects.create(owner=owner, blocked_user=user)
    api = bearer_client("referentials:read", kind="reader", user=user)
    body = api.post(EXPLAIN, {"record": venue.uri, "subject": "me", "action": "read"}, format="json").json()
    decision = body["answers"][0]["decisions"][0]
    assert (decision["reason_code"], decision["reason"]) == ("refused", "Accès refusé.")
    assert "block" not in str(body).lower()


def test_a_hidden_record_is_not_found_for_the_caller(bearer_client: Any, owner: Any, venue: Any) -> None:
    HiddenRecord.objects.create(owner=owner, target_type="venue", target_id=venue.pk)
    api = bearer_client("referentials:read", kind="reader", user=UserFactory())
    assert api.post(EXPLAIN, {"record": venue.uri, "subject": "me"}, format="json").status_code == 404


def test_credentials_and_scopes(bearer_client: Any, owner: Any, venue: Any) -> None:
    assert APIClient().post(EXPLAIN, {"record": venue.uri, "subject": "me"}, format="json").status_code == 401
    wrong = bearer_client("federation:sync", kind="reader")
    response = wrong.post(EXPLAIN, {"record": venue.uri, "subject": "me"}, format="json")
    assert response.status_code == 403
    assert response.json()["error"] == "insufficient_scope"
    # The owner's own client, without policies:manage, asks about itself only.
    own_client = bearer_client("referentials:read", kind="reader", owner=owner)
    assert own_client.post(EXPLAIN, {"record": venue.uri}, format="json").status_code == 403
    manage = bearer_client("policies:manage", kind="reader", owner=owner)
    assert manage.post(EXPLAIN, {"record": venue.uri}, format="json").status_code == 200


def test_owner_staff_session_gets_the_full_answer(client: Any, owner: Any, venue: Any) -> None:
    staff = UserFactory()
    StaffMembership.objects.create(user=staff, organisation=owner, role="editor")
    client.force_login(staff)
    response = client.post(EXPLAIN, {"record": venue.uri}, content_type="application/json")
    assert response.status_code == 200
    assert len(response.json()["answers"]) >= 8
