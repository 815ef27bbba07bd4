"""The decision point's rule for directory entries (policies.pdp.directory_entry_decision) and the
change feed's cost for them."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from dataspace.directory.services import professional_profile
from dataspace.node.models import StaffMembership
from policies import pdp
from policies.models import Block
from policies.subject import Subject
from tests.directory.factories import DirectoryEntryFactory, grant_entry_consent
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/directory/entries/"
PURPOSE = {"purpose": "programming"}


def professional(user: Any) -> Subject:
    return Subject(kind="person", user_id=user.pk, username=user.username, professional=professional_profile(user))


def test_a_licensed_professional_with_a_purpose_is_permitted_and_journaled(licensed_professional: Any) -> None:
    entry = DirectoryEntryFactory()
    grant_entry_consent(entry, ["display_name"])
    decision = pdp.decide(professional(licensed_professional), "read", entry, pdp.Context(purpose="programming"))
    assert decision.permitted
    assert [obligation.action for obligation in decision.obligations] == ["journal"]


@pytest.mark.parametrize("action", ["modify", "aggregate", "redistribute", "export"])
def test_nothing_but_reading_is_ever_permitted_to_others(licensed_professional: Any, action: str) -> None:
    entry = DirectoryEntryFactory()
    grant_entry_consent(entry, ["display_name"])
    decision = pdp.decide(professional(licensed_professional), action, entry, pdp.Context(purpose="programming"))
    assert not decision.permitted


def test_the_owners_policies_cannot_open_an_entry_without_consent(licensed_professional: Any) -> None:
    """Even the default policy's public reading of the referentials does not apply to entries."""
    entry = DirectoryEntryFactory()
    decision = pdp.decide(professional(licensed_professional), "read", entry, pdp.Context(purpose="programming"))
    assert decision.reason_code == "hidden"
    anonymous = pdp.decide(pdp.ANONYMOUS, "read", entry, pdp.Context())
    assert anonymous.reason_code == "hidden"


def test_the_rule_fails_closed_when_the_consents_cannot_be_read(
    licensed_professional: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    entry = DirectoryEntryFactory()
    grant_entry_consent(entry, ["display_name"])

    def broken(*_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError("consent store unavailable")

    monkeypatch.setattr("dataspace.directory.entries.consented_fields_map", broken)
    decision = pdp.decide(professional(licensed_professional), "read", entry, pdp.Context(purpose="programming"))
    assert not decision.permitted
    assert decision.reason_code == "hidden"


def test_the_anonymous_subject_is_never_licensed() -> None:
    entry = DirectoryEntryFactory()
    grant_entry_consent(entry, ["display_name"])
    decision = pdp.decide(pdp.ANONYMOUS, "read", entry, pdp.Context(purpose="programming"))
    assert decision.reason_code == "not_licensed"


def test_an_owner_that_blocks_a_professional_disappears_from_their_search(
    bearer_client: Any, licensed_professional: Any
) -> None:
    blocking, other = DirectoryEntryFactory(), DirectoryEntryFactory()
    grant_entry_consent(blocking, ["display_name"])
    grant_entry_consent(other, ["display_name"])
    Block.objects.create(owner=blocking.owner, blocked_user=licensed_professional)
    pro = bearer_client("directory:search", kind="reader", user=licensed_professional)
    listed = pro.get(URL, PURPOSE)
    assert [item["id"] for item in listed.json()["results"]] == [str(other.pk)]
    refused = pro.get(f"{URL}{blocking.pk}/", PURPOSE)
    assert refused.status_code == 403
    assert refused.json()["detail"] == "Accès refusé."


def test_the_owners_reader_staff_see_their_entries_whole_and_are_not_journaled(bearer_client: Any) -> None:
    from dataspace.audit.models import JournalEntry

    entry = DirectoryEntryFactory()
    reader = UserFactory()
    StaffMembership.objects.create(user=reader, organisation=entry.owner, role="reader")
    client = APIClient()
    client.force_login(reader)
    body = client.get(f"{URL}{entry.pk}/").json()
    assert body["contact_phone"] == "+33 6 00 00 00 00"
    assert not JournalEntry.objects.filter(subject_person_id=entry.pk).exists()


def _feed_queries(staff_client: APIClient) -> tuple[int, int]:
    with CaptureQueriesContext(connection) as queries:
        response = staff_client.get("/api/v1/changes", {"types": "directory-entry"})
    assert response.status_code == 200
    return len(queries), len(response.json()["changes"])


def test_the_change_feed_reads_published_entries_at_a_flat_cost(staff_client: APIClient) -> None:
    for _ in range(2):
        grant_entry_consent(DirectoryEntryFactory(), ["display_name", "contact_email"])
    _feed_queries(staff_client)
    few, count_few = _feed_queries(staff_client)
    for _ in range(8):
        grant_entry_consent(DirectoryEntryFactory(), ["display_name", "contact_email"])
    many, count_many = _feed_queries(staff_client)
    assert (count_few, count_many) == (2, 10)
    assert few == many
