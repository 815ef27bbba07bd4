"""/api/v1/directory/entries/: published to licensed professionals only with a consent in force, and
only the consented fields; refused reads; purpose; withdrawal; journal; encryption; query counts."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from dataspace.audit.models import JournalEntry
from dataspace.audit.services import verify_chain
from dataspace.consent import services as consent_services
from dataspace.directory.models import DirectoryEntry
from dataspace.node.models import StaffMembership
from dataspace.records.models import Change
from tests.directory.factories import DirectoryEntryFactory, TermsOfUseFactory, grant_entry_consent
from tests.factories import OrganisationFactory, UserFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/directory/entries/"
PURPOSE = {"purpose": "contracting"}
PUBLIC = {"id", "uri", "version", "owner"}


@pytest.fixture
def pro(bearer_client: Any, licensed_professional: Any) -> APIClient:
    """A licensed professional's application (a token acting for them, `directory:search`)."""
    client: APIClient = bearer_client("directory:search", kind="reader", user=licensed_professional)
    return client


@pytest.fixture
def expired_pro(bearer_client: Any, unlicensed_professional: Any) -> APIClient:
    client: APIClient = bearer_client("directory:search", kind="reader", user=unlicensed_professional)
    return client


@pytest.fixture
def entry() -> DirectoryEntry:
    entry: DirectoryEntry = DirectoryEntryFactory(display_name="Éloïse Lumière")
    return entry


def detail(entry: DirectoryEntry) -> str:
    return f"{URL}{entry.pk}/"


def ids(response: Any) -> list[str]:
    return [item["id"] for item in response.json()["results"]]


# ---------------------------------------------------------------------------- consent


def test_without_consent_a_person_cannot_be_found_even_by_a_licensed_professional(pro: APIClient, entry: Any) -> None:
    listed = pro.get(URL, PURPOSE)
    assert listed.status_code == 200, listed.content
    assert ids(listed) == []
    assert ids(pro.get(URL, {**PURPOSE, "q": "eloise"})) == []
    assert pro.get(detail(entry), PURPOSE).status_code == 404
    # with a consent in force, the same reader finds them
    grant_entry_consent(entry, ["display_name"])
    assert ids(pro.get(URL, {**PURPOSE, "q": "eloise"})) == [str(entry.pk)]
    assert pro.get(detail(entry), PURPOSE).status_code == 200


def test_with_consent_only_the_chosen_fields_show(pro: APIClient, entry: Any) -> None:
    grant_entry_consent(entry, ["display_name", "trades", "region"])
    body = pro.get(detail(entry), PURPOSE).json()
    assert set(body) == PUBLIC | {"display_name", "trades", "region"}
    assert body["display_name"] == "Éloïse Lumière"
    assert body["trades"] == ["regisseur_lumiere", "machiniste"]
    listed = pro.get(URL, PURPOSE).json()["results"]
    assert [set(item) for item in listed] == [PUBLIC | {"display_name", "trades", "region"}]
    assert "contact_email" not in str(listed)
    assert "exemple.test" not in str(listed)


def test_the_owner_sees_the_whole_entry_without_consent(bearer_client: Any, entry: Any) -> None:
    owner = bearer_client("directory:search", kind="reader", owner=entry.owner)
    body = owner.get(detail(entry)).json()
    assert body["contact_email"] == entry.contact_email
    assert body["postal_address"] == "1 rue de l'Exemple, 35000 Rennes"
    assert ids(owner.get(URL)) == [str(entry.pk)]


def test_a_consent_listing_fields_outside_the_entry_shows_none_of_them(pro: APIClient, entry: Any) -> None:
    consent = grant_entry_consent(entry, ["display_name"])
    consent_services_fields = [*consent.fields, "person_user", "search_index"]
    type(consent).objects.filter(pk=consent.pk).update(fields=consent_services_fields)
    body = pro.get(detail(entry), PURPOSE).json()
    assert set(body) == PUBLIC | {"display_name"}


# ---------------------------------------------------------------------------- refused readers


def test_an_expired_licence_is_refused_with_its_reason(expired_pro: APIClient, entry: Any) -> None:
    grant_entry_consent(entry, ["display_name"])
    refused = expired_pro.get(detail(entry), PURPOSE)
    assert refused.status_code == 403
    assert refused.json()["error"] == "licence_expired"
    assert "12/02/2025" in refused.json()["detail"]
    listed = expired_pro.get(URL, PURPOSE)
    assert listed.status_code == 200
    assert ids(listed) == []


def test_a_person_without_a_professional_account_is_refused(bearer_client: Any, entry: Any) -> None:
    grant_entry_consent(entry, ["display_name"])
    someone = bearer_client("directory:search", kind="reader", user=UserFactory())
    refused = someone.get(detail(entry), PURPOSE)
    assert refused.status_code == 403
    assert refused.json()["error"] == "not_licensed"
    machine = bearer_client("directory:search", kind="reader")  # a client acting for no person
    assert machine.get(detail(entry), PURPOSE).json()["error"] == "not_licensed"
    assert ids(machine.get(URL, PURPOSE)) == []


def test_the_search_scope_is_needed(bearer_client: Any, licensed_professional: Any, entry: Any) -> None:
    grant_entry_consent(entry, ["display_name"])
    other = bearer_client("referentials:read", kind="reader", user=licensed_professional)
    refused = other.get(URL, PURPOSE)
    assert refused.status_code == 403
    assert refused.json()["error"] == "insufficient_scope"


def test_on_a_registry_the_terms_must_be_accepted(registry: Any, pro: APIClient, entry: Any) -> None:
    grant_entry_consent(entry, ["display_name"])
    TermsOfUseFactory(version="2026-11")
    refused = pro.get(detail(entry), PURPOSE)
    assert refused.status_code == 403
    assert refused.json()["error"] == "terms_not_accepted"
    assert pro.get(URL, PURPOSE).status_code == 403


def test_an_entry_without_consent_answers_404_before_the_licence_is_judged(expired_pro: APIClient, entry: Any) -> None:
    assert expired_pro.get(detail(entry), PURPOSE).status_code == 404


# ---------------------------------------------------------------------------- purpose


def test_a_purpose_is_mandatory(pro: APIClient, entry: Any) -> None:
    grant_entry_consent(entry, ["display_name"])
    for response in (pro.get(URL), pro.get(detail(entry)), pro.get(URL, {"q": "eloise"})):
        assert response.status_code == 400, response.content
        assert "purpose" in response.json()["fields"]
    unknown = pro.get(URL, {"purpose": "curiosite"})
    assert unknown.status_code == 400
    assert "purpose" in unknown.json()["fields"]


def test_a_purpose_is_mandatory_even_when_nothing_matches(pro: APIClient) -> None:
    response = pro.get(URL, {"q": "personne"})
    assert response.status_code == 400
    assert "purpose" in response.json()["fields"]


# ---------------------------------------------------------------------------- withdrawal


def test_after_withdrawal_every_read_is_refused_at_once_and_a_tombstone_is_in_the_feed(
    pro: APIClient, staff_client: APIClient, entry: Any
) -> None:
    consent = grant_entry_consent(entry, ["display_name", "trades"])
    assert pro.get(detail(entry), PURPOSE).status_code == 200
    feed = staff_client.get("/api/v1/changes", {"types": "directory-entry"}).json()["changes"]
    assert [change["op"] for change in feed][-1] == "upsert"
    # the feed adds the consent's scope (fields, purposes, expiry) for replicas to honour it (issue 6)
    assert set(feed[-1]["record"]) == PUBLIC | {"display_name", "trades", "consent"}
    assert feed[-1]["record"]["consent"]["fields"] == ["display_name", "trades"]

    consent_services.withdraw_consent(consent)

    assert pro.get(detail(entry), PURPOSE).status_code == 404
    assert ids(pro.get(URL, PURPOSE)) == []
    assert ids(pro.get(URL, {**PURPOSE, "trade": "machiniste"})) == []
    last = Change.objects.filter(record_type="directory-entry", record_id=entry.pk).order_by("-seq").first()
    assert last is not None
    assert last.op == Change.Op.DELETE
    feed = staff_client.get("/api/v1/changes", {"types": "directory-entry"}).json()["changes"]
    assert feed[-1]["op"] == "delete"
    assert feed[-1]["record"] is None
    entry.refresh_from_db()
    assert entry.search_index == ""


def test_an_expired_consent_is_refused_without_waiting_for_the_task(pro: APIClient, entry: Any) -> None:
    from django.utils import timezone

    now = timezone.now()
    grant_entry_consent(entry, ["display_name"], expires_at=now + dt.timedelta(hours=1), now=now)
    assert pro.get(detail(entry), PURPOSE).status_code == 200
    type(consent_services.active_consent("directory-entry", entry.pk)).objects.filter(target_id=entry.pk).update(
        expires_at=now - dt.timedelta(seconds=1)
    )
    assert pro.get(detail(entry), PURPOSE).status_code == 404
    assert ids(pro.get(URL, PURPOSE)) == []


def test_an_entry_never_published_leaves_no_change_in_the_feed(entry: Any) -> None:
    entry.display_name = "Autre nom"
    entry.save()
    assert not Change.objects.filter(record_type="directory-entry", record_id=entry.pk).exists()


# ---------------------------------------------------------------------------- journal


def test_every_read_is_journaled_for_the_person(pro: APIClient, licensed_professional: Any) -> None:
    first, second = DirectoryEntryFactory(), DirectoryEntryFactory()
    grant_entry_consent(first, ["display_name"])
    grant_entry_consent(second, ["display_name"])
    before = JournalEntry.objects.filter(stream="access").count()
    assert len(ids(pro.get(URL, PURPOSE))) == 2
    assert pro.get(detail(first), PURPOSE).status_code == 200
    reads = list(JournalEntry.objects.filter(stream="access").order_by("seq")[before:])
    assert len(reads) == 3
    assert {(e.subject_person_id, e.action) for e in reads[:2]} == {(first.pk, "search"), (second.pk, "search")}
    assert (reads[2].subject_person_id, reads[2].action) == (first.pk, "read")
    for read in reads:
        assert read.record_type == "directory-entry"
        assert read.username == licensed_professional.username
        assert read.licence_number == "2-PLATESV-D-2026-000211"
        assert read.organisation_name == "Compagnie des Essais licenciée"
        assert read.purpose == "contracting"
        assert read.decision == "permit"
        assert read.owner_id == (first.owner_id if read.subject_person_id == first.pk else second.owner_id)
    assert verify_chain().ok


def test_a_refused_read_is_journaled_for_the_person_too(expired_pro: APIClient, entry: Any) -> None:
    grant_entry_consent(entry, ["display_name"])
    expired_pro.get(detail(entry), PURPOSE)
    refused = JournalEntry.objects.filter(subject_person_id=entry.pk, decision="deny").get()
    assert refused.reason_code == "licence_expired"


# ---------------------------------------------------------------------------- encryption


def test_contact_fields_are_ciphertext_in_the_database_and_plaintext_through_the_api(pro: APIClient) -> None:
    entry = DirectoryEntryFactory(contact_email="camille@exemple.test", contact_phone="+33 6 12 34 56 78")
    grant_entry_consent(entry, ["contact_email", "contact_phone", "postal_address"])
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT contact_email, contact_phone, postal_address FROM directory_directoryentry WHERE id = %s",
            [entry.pk.hex if connection.vendor == "sqlite" else entry.pk],
        )
        stored = cursor.fetchone()
    assert stored is not None
    assert all(value.startswith("enc1:") for value in stored)
    assert "camille" not in stored[0]
    assert "12 34" not in stored[1]
    assert "Rennes" not in stored[2]
    body = pro.get(detail(entry), PURPOSE).json()
    assert body["contact_email"] == "camille@exemple.test"
    assert body["contact_phone"] == "+33 6 12 34 56 78"
    assert body["postal_address"] == "1 rue de l'Exemple, 35000 Rennes"


# ---------------------------------------------------------------------------- query counts


def _count_list(client: APIClient, size: int) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(URL, {**PURPOSE, "page_size": size})
    assert response.status_code == 200
    assert len(response.json()["results"]) == size
    return len(queries)


def test_list_query_count_is_flat_in_the_page_size(pro: APIClient) -> None:
    for _ in range(12):
        grant_entry_consent(DirectoryEntryFactory(), ["display_name", "trades", "contact_email"])
    _count_list(pro, 2)  # warm the per-process caches (compiled policies)
    assert _count_list(pro, 2) == _count_list(pro, 12)


# ---------------------------------------------------------------------------- filters


def test_filters_match_the_published_fields_only(pro: APIClient) -> None:
    published = DirectoryEntryFactory(display_name="Noémie Éclairagiste", skills=["Électricité", "Accroche"])
    grant_entry_consent(published, ["display_name", "trades", "skills", "languages", "region", "availability"])
    secret_region = DirectoryEntryFactory(display_name="Anonyme Rennes", region="Bretagne")
    grant_entry_consent(secret_region, ["display_name"])

    def found(**params: str) -> list[str]:
        response = pro.get(URL, {**PURPOSE, **params})
        assert response.status_code == 200, response.content
        return ids(response)

    assert found(trade="regisseur_lumiere") == [str(published.pk)]
    assert found(skill="electricite") == [str(published.pk)]
    assert found(language="EN") == [str(published.pk)]
    assert found(region="bretagne") == [str(published.pk)]  # the other one did not publish its region
    assert found(available_on="2027-03-14") == [str(published.pk)]
    assert found(available_on="2027-04-01") == []
    assert found(q="NOEMIE eclairagiste") == [str(published.pk)]
    assert found(q="régisseur·se lumière") == [str(published.pk)]
    assert found(q="rennes") == [str(secret_region.pk)]  # its name, not its (unpublished) address
    assert found(q="exemple.test") == []  # emails are never searchable
    assert sorted(found()) == sorted([str(published.pk), str(secret_region.pk)])


@pytest.mark.parametrize(
    ("param", "value"),
    [("trade", "astronaute"), ("language", "xx"), ("region", "Atlantide"), ("available_on", "14/03/2027")],
)
def test_a_filter_it_cannot_read_is_a_400_naming_it(pro: APIClient, param: str, value: str) -> None:
    response = pro.get(URL, {**PURPOSE, param: value})
    assert response.status_code == 400
    assert param in response.json()["fields"]


# ---------------------------------------------------------------------------- writes


def _editor(organisation: Any, role: str = "editor") -> APIClient:
    user = UserFactory()
    StaffMembership.objects.create(user=user, organisation=organisation, role=role)
    client = APIClient()
    client.force_login(user)
    return client


def test_the_owner_staff_creates_and_updates_entries(structure: Any) -> None:
    editor = _editor(structure)
    created = editor.post(
        URL,
        {
            "owner": str(structure.pk),
            "display_name": "Sacha Plateau",
            "trades": ["regisseur_plateau"],
            "languages": ["fr"],
            "region": "Occitanie",
            "availability": [{"start": "2027-01-01", "end": "2027-01-31"}],
            "contact_channel": "phone",
            "contact_phone": "+33 5 00 00 00 00",
            "same_as": ["isni:0000000000000002"],
        },
        format="json",
    )
    assert created.status_code == 201, created.content
    entry = DirectoryEntry.objects.get(pk=created.json()["id"])
    assert entry.availability == [{"start": "2027-01-01", "end": "2027-01-31"}]
    changed = editor.patch(detail(entry), {"skills": ["Cintres"]}, format="json")
    assert changed.status_code == 200, changed.content
    entry.refresh_from_db()
    assert entry.skills == ["Cintres"]
    assert entry.version == 2


def test_a_bad_window_or_trade_is_a_400_naming_the_field(structure: Any) -> None:
    editor = _editor(structure)
    response = editor.post(
        URL,
        {
            "owner": str(structure.pk),
            "display_name": "X",
            "availability": [{"start": "2027-02-01", "end": "2027-01-01"}],
        },
        format="json",
    )
    assert response.status_code == 400
    assert "availability" in response.json()["fields"]
    response = editor.post(
        URL, {"owner": str(structure.pk), "display_name": "X", "trades": ["astronaute"]}, format="json"
    )
    assert response.status_code == 400
    assert "trades" in response.json()["fields"]


def test_others_may_not_write_entries(structure: Any, entry: Any) -> None:
    grant_entry_consent(entry, ["display_name"])
    outsider = _editor(OrganisationFactory())
    assert outsider.patch(detail(entry), {"display_name": "Piraté"}, format="json").status_code == 404
    created = outsider.post(URL, {"owner": str(entry.owner_id), "display_name": "Intrus"}, format="json")
    assert created.status_code == 403
    assert "owner" in created.json()["fields"]
    reader = _editor(entry.owner, role="reader")
    assert reader.patch(detail(entry), {"display_name": "Lecteur"}, format="json").status_code == 403
    entry.refresh_from_db()
    assert entry.display_name == "Éloïse Lumière"


def test_a_reader_client_may_not_manage_entries(bearer_client: Any, entry: Any) -> None:
    reader = bearer_client("directory:manage directory:search", kind="reader", owner=entry.owner)
    response = reader.patch(detail(entry), {"display_name": "Y"}, format="json")
    assert response.status_code == 403
    assert response.json()["error"] == "reader_client"
    depositor = bearer_client("directory:manage", owner=entry.owner)
    assert depositor.patch(detail(entry), {"display_name": "Y"}, format="json").status_code == 200


def test_deleting_a_published_entry_leaves_a_tombstone(bearer_client: Any, entry: Any) -> None:
    grant_entry_consent(entry, ["display_name"])
    depositor = bearer_client("directory:manage", owner=entry.owner)
    assert depositor.delete(detail(entry)).status_code == 204
    last = Change.objects.filter(record_type="directory-entry", record_id=entry.pk).order_by("-seq").first()
    assert last is not None
    assert last.op == Change.Op.DELETE


# ---------------------------------------------------------------------------- global URI


def test_the_uri_of_an_unpublished_entry_resolves_like_a_missing_one(anon_client: APIClient, entry: Any) -> None:
    assert anon_client.get(f"/id/directory-entry/{entry.pk}").status_code == 404
    grant_entry_consent(entry, ["display_name"])
    resolved = anon_client.get(f"/id/directory-entry/{entry.pk}")
    assert resolved.status_code == 303
    assert resolved["Location"].endswith(f"/api/v1/directory/entries/{entry.pk}/")
