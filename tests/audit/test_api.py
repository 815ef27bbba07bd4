"""GET /api/v1/journal/ and /api/v1/journal/verify: who reads which entries, filters, CSV."""

from __future__ import annotations

import csv
import io
import uuid
from typing import Any

import pytest
from rest_framework.test import APIClient

from dataspace.audit.models import JournalEntry
from dataspace.audit.services import Actor
from dataspace.node.models import StaffMembership
from tests.audit.factories import TABLE, sql, write
from tests.factories import OrganisationFactory, UserFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/journal/"
VERIFY = "/api/v1/journal/verify"


@pytest.fixture
def theatre(db: Any) -> Any:
    return OrganisationFactory(name="Théâtre du Journal")


@pytest.fixture
def other(db: Any) -> Any:
    return OrganisationFactory(name="Opéra Voisin")


@pytest.fixture
def entries(theatre: Any, other: Any) -> dict[str, Any]:
    """Three entries about the theatre's data, one about the other structure's."""
    return {
        "read": write(theatre, minutes=0),
        "deny": write(
            theatre, minutes=60 * 24, action="search", decision="deny", reason_code="licence_expired", purpose=""
        ),
        "urgent": write(
            theatre,
            minutes=60 * 48,
            stream="break_glass",
            reason_code="break_glass",
            actor=Actor(username="urgence.regie", client_id="autre-logiciel", licence_number="PLATESV-R-2025-000999"),
        ),
        "other": write(other, minutes=5),
    }


def staff_session(organisation: Any, role: str = "reader", **user: Any) -> APIClient:
    person = UserFactory(**user)
    StaffMembership.objects.create(user=person, organisation=organisation, role=role)
    client = APIClient()
    client.force_login(person)
    return client


def seqs(response: Any) -> list[int]:
    assert response.status_code == 200, response.content
    return [row["seq"] for row in response.json()["results"]]


# ---------------------------------------------------------------------------- who reads what


def test_structure_staff_reads_its_own_journal_newest_first(theatre: Any, entries: dict[str, Any]) -> None:
    response = staff_session(theatre).get(URL)
    assert seqs(response) == [entries["urgent"].seq, entries["deny"].seq, entries["read"].seq]
    first = response.json()["results"][0]
    assert first["stream"] == "break_glass"
    assert first["owner_id"] == str(theatre.pk)
    assert first["hash"] == entries["urgent"].hash
    assert first["record_ids"] == entries["urgent"].record_ids


def test_another_structures_staff_sees_none_of_it(other: Any, entries: dict[str, Any]) -> None:
    assert seqs(staff_session(other).get(URL)) == [entries["other"].seq]
    assert seqs(staff_session(OrganisationFactory()).get(URL)) == []


def test_a_superuser_sees_every_entry(staff_client: APIClient, entries: dict[str, Any]) -> None:
    assert len(seqs(staff_client.get(URL))) == 4


def test_a_machine_client_reads_its_owners_journal(
    bearer_client: Any, theatre: Any, other: Any, entries: dict[str, Any]
) -> None:
    own = bearer_client("journal:read", kind="reader", owner=theatre)
    assert seqs(own.get(URL)) == [entries["urgent"].seq, entries["deny"].seq, entries["read"].seq]
    stranger = bearer_client("journal:read", kind="reader")
    assert seqs(stranger.get(URL)) == []


def test_a_client_without_journal_read_is_refused(bearer_client: Any, theatre: Any, entries: dict[str, Any]) -> None:
    response = bearer_client("referentials:read", owner=theatre).get(URL)
    assert response.status_code == 403
    assert response.json()["error"] == "insufficient_scope"
    assert "journal:read" in response["WWW-Authenticate"]


def test_anonymous_is_asked_to_authenticate(anon_client: APIClient, entries: dict[str, Any]) -> None:
    response = anon_client.get(URL)
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_a_logged_in_outsider_is_refused(outsider_client: APIClient, entries: dict[str, Any]) -> None:
    assert outsider_client.get(URL).status_code == 403


def test_the_journal_is_read_only(bearer_client: Any, theatre: Any) -> None:
    client = bearer_client("journal:read", owner=theatre)
    assert client.post(URL, {}, format="json").status_code in (403, 405)
    assert not JournalEntry.objects.exists()


# ---------------------------------------------------------------------------- filters


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"decision": "deny"}, ["deny"]),
        ({"action": "search"}, ["deny"]),
        ({"stream": "break_glass"}, ["urgent"]),
        ({"purpose": "programming"}, ["urgent", "read"]),
        ({"since": "2026-11-03"}, ["urgent", "deny"]),
        ({"until": "2026-11-03"}, ["deny", "read"]),  # a date: up to the end of that day
        ({"since": "2026-11-03T09:00:00Z", "until": "2026-11-03T09:00:00Z"}, ["deny"]),
        ({"until": "2026-11-02T09:30:00+00:00"}, ["read"]),
        ({"actor": "urgence"}, ["urgent"]),
        ({"actor": "PLATESV-R-2025-000999"}, ["urgent"]),
        ({"actor": "autre-logiciel"}, ["urgent"]),
        ({"actor": "fil tendu"}, ["deny", "read"]),
        ({"record_type": "performance"}, ["urgent", "deny", "read"]),
        ({"record_type": "work"}, []),
    ],
)
def test_filters(theatre: Any, entries: dict[str, Any], query: dict[str, str], expected: list[str]) -> None:
    assert seqs(staff_session(theatre).get(URL, query)) == [entries[name].seq for name in expected]


def test_record_and_owner_filters(theatre: Any, other: Any, entries: dict[str, Any]) -> None:
    client = staff_session(theatre)
    record = entries["deny"].record_ids[0]
    assert seqs(client.get(URL, {"record_id": record})) == [entries["deny"].seq]
    assert seqs(client.get(URL, {"owner": str(theatre.pk), "decision": "permit"})) == [
        entries["urgent"].seq,
        entries["read"].seq,
    ]
    assert seqs(client.get(URL, {"owner": str(other.pk)})) == []  # not one of the caller's structures


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"since": "hier"}, "since"),
        ({"until": "2026-13-45"}, "until"),
        ({"decision": "maybe"}, "decision"),
        ({"stream": "secret"}, "stream"),
        ({"record_id": "not-a-uuid"}, "record_id"),
        ({"owner": "42"}, "owner"),
    ],
)
def test_a_malformed_filter_is_a_400_naming_it(theatre: Any, query: dict[str, str], field: str) -> None:
    response = staff_session(theatre).get(URL, query)
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "invalid"
    assert set(body["fields"]) == {field}


def test_pages_follow_the_cursor(theatre: Any) -> None:
    written = [write(theatre, minutes=index).seq for index in range(5)]
    client = staff_session(theatre)
    first = client.get(URL, {"page_size": 2})
    assert seqs(first) == written[::-1][:2]
    second = client.get(first.json()["next"])
    assert seqs(second) == written[::-1][2:4]
    assert 'rel="next"' in first["Link"]


def test_page_queries_do_not_grow_with_page_size(theatre: Any, django_assert_max_num_queries: Any) -> None:
    for index in range(30):
        write(theatre, minutes=index)
    client = staff_session(theatre)
    client.get(URL)  # session and roles warm
    with django_assert_max_num_queries(6):
        assert len(seqs(client.get(URL, {"page_size": 30}))) == 30


# ---------------------------------------------------------------------------- CSV


def test_csv_export_streams_the_filtered_entries(theatre: Any, entries: dict[str, Any]) -> None:
    response = staff_session(theatre).get(URL, {"format": "csv", "decision": "permit"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"].startswith('attachment; filename="journal-')
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode("utf-8"))))
    assert [int(row["seq"]) for row in rows] == [entries["urgent"].seq, entries["read"].seq]
    assert rows[1]["reason"] == "Une permission de la politique s'applique."
    assert rows[1]["record_ids"] == f'["{entries["read"].record_ids[0]}"]'
    assert rows[1]["hash"] == entries["read"].hash


def test_csv_with_a_bad_filter_is_a_json_400(theatre: Any) -> None:
    response = staff_session(theatre).get(URL, {"format": "csv", "since": "demain"})
    assert response.status_code == 400
    assert response.json()["fields"] == {"since": [response.json()["fields"]["since"][0]]}


def test_csv_cells_that_look_like_formulas_are_defused(theatre: Any) -> None:
    write(theatre, reason="=HYPERLINK(1)")
    response = staff_session(theatre).get(URL, {"format": "csv"})
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode("utf-8"))))
    assert rows[0]["reason"] == "'=HYPERLINK(1)"


# ---------------------------------------------------------------------------- verify


def test_node_staff_verify_the_chain(staff_client: APIClient, entries: dict[str, Any]) -> None:
    response = staff_client.get(VERIFY)
    assert response.status_code == 200
    assert response.json()["ok"] is True
    assert response.json()["entries"] == 4
    sql(f"UPDATE {TABLE} SET action = 'export' WHERE seq = 2")  # noqa: S608
    report = staff_client.get(VERIFY).json()
    assert report["ok"] is False
    assert report["problems"][0]["seq"] == 2
    assert report["problems"][0]["kind"] == "edited"


def test_verify_is_refused_to_structure_staff_and_clients(
    theatre: Any, bearer_client: Any, entries: dict[str, Any]
) -> None:
    assert staff_session(theatre, role="administrator").get(VERIFY).status_code == 403
    assert bearer_client("journal:read", owner=theatre).get(VERIFY).status_code == 403
    assert APIClient().get(VERIFY).status_code == 401


def test_uuid_in_results_is_a_string(theatre: Any, entries: dict[str, Any]) -> None:
    row = staff_session(theatre).get(URL).json()["results"][-1]
    assert uuid.UUID(row["owner_id"]) == theatre.pk
