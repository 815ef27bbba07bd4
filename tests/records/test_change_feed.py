"""GET /api/v1/changes: paging, cursors, filters, embedded records, refused inputs."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from rest_framework.test import APIClient

from dataspace.records import services
from dataspace.records.api.serializers import represent
from dataspace.records.models import Change
from dataspace.referentials.models import Performance
from tests.consent.agreement_factories import agree_to_everything_published
from tests.factories import PerformanceFactory, ProductionFactory, VenueFactory, WorkFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/changes"
Status = Performance.Status


def get(client: APIClient, **params: Any) -> Any:
    # The reader is a member node: the owners signed a federation agreement for what it reads
    # (without one nothing leaves the node: tests/consent/test_agreements_feed.py).
    agree_to_everything_published()
    response = client.get(URL, params)
    assert response.status_code == 200, response.content
    return response.json()


def read_all(client: APIClient, since: str | None = None, **params: Any) -> tuple[list[dict[str, Any]], str]:
    """Every change after `since`, page by page; returns them and the final cursor."""
    seen: list[dict[str, Any]] = []
    while True:
        query = {**params, **({"since": since} if since else {})}
        body = get(client, **query)
        seen.extend(body["changes"])
        since = body["next"]
        if not body["has_more"]:
            return seen, since


def logged(**filters: Any) -> list[tuple[str, str, int]]:
    return [
        (str(record_id), op, version)
        for record_id, op, version in Change.objects.filter(**filters)
        .order_by("seq")
        .values_list("record_id", "op", "version")
    ]


def keys(changes: list[dict[str, Any]]) -> list[tuple[str, str, int]]:
    return [(change["uuid"], change["op"], change["version"]) for change in changes]


# ---------------------------------------------------------------------------- shape and order


def test_entry_shape(sync_client: APIClient) -> None:
    production = ProductionFactory(title="Les Fictions")
    body = get(sync_client, types="production")
    assert body["has_more"] is False
    [entry] = body["changes"]
    assert set(entry) == {"op", "type", "id", "uuid", "version", "owner", "changed_at", "record"}
    assert entry["op"] == "upsert"
    assert entry["type"] == "production"
    assert entry["id"] == production.uri
    assert entry["id"].endswith(f"/id/production/{production.pk}")
    assert entry["uuid"] == str(production.pk)
    assert entry["version"] == 1
    assert entry["owner"] == str(production.owner_id)
    assert entry["changed_at"].endswith("Z")
    assert entry["record"]["title"] == "Les Fictions"
    assert "seq" not in entry


def test_empty_log_answers_a_cursor_that_resumes_from_the_start(staff_client: APIClient) -> None:
    # A staff session (a token's client would need an owner organisation: a first change).
    body = get(staff_client)
    assert body == {"changes": [], "next": body["next"], "has_more": False}
    WorkFactory()
    assert [c["type"] for c in get(staff_client, since=body["next"])["changes"]] == ["organisation", "work"]


def test_resume_across_pages_has_no_duplicate_and_no_gap(sync_client: APIClient) -> None:
    productions = ProductionFactory.create_batch(5)
    for production in productions[:3]:
        production.title += " (reprise)"
        production.save()
    productions[4].delete()
    expected = logged()
    pages: list[list[dict[str, Any]]] = []
    since: str | None = None
    while True:
        body = get(sync_client, limit=3, **({"since": since} if since else {}))
        pages.append(body["changes"])
        since = body["next"]
        if not body["has_more"]:
            break
    assert [len(page) for page in pages[:-1]] == [3] * (len(pages) - 1)
    assert keys([change for page in pages for change in page]) == expected


def test_nothing_new_answers_the_same_cursor(sync_client: APIClient) -> None:
    WorkFactory()
    first = get(sync_client)
    again = get(sync_client, since=first["next"])
    assert again == {"changes": [], "next": first["next"], "has_more": False}


def test_has_more_is_exact_at_a_page_boundary(sync_client: APIClient) -> None:
    WorkFactory.create_batch(2)
    count = Change.objects.count()
    body = get(sync_client, limit=count)
    assert body["has_more"] is False
    assert get(sync_client, limit=count - 1)["has_more"] is True


def test_writes_between_pages_are_picked_up_once(sync_client: APIClient) -> None:
    WorkFactory.create_batch(3)
    seen, cursor = read_all(sync_client, limit=2)
    production = ProductionFactory()
    production.delete()
    more, _ = read_all(sync_client, since=cursor, limit=2)
    assert keys(seen + more) == logged()


def test_default_limit_is_100() -> None:
    assert services.DEFAULT_FEED_LIMIT == 100


def test_default_page_holds_100_changes(sync_client: APIClient) -> None:
    WorkFactory.create_batch(101)  # each with its owner: 202 changes
    body = get(sync_client)
    assert len(body["changes"]) == 100
    assert body["has_more"] is True


# ---------------------------------------------------------------------------- tombstones


def test_delete_emits_a_tombstone_with_the_next_version_and_no_record(sync_client: APIClient) -> None:
    production = ProductionFactory()
    production.title = "v2"
    production.save()
    pk = str(production.pk)
    production.delete()
    changes = [c for c in get(sync_client, types="production")["changes"] if c["uuid"] == pk]
    assert [(c["op"], c["version"]) for c in changes] == [("upsert", 1), ("upsert", 2), ("delete", 3)]
    assert changes[-1]["record"] is None
    assert changes[-1]["id"].endswith(f"/id/production/{pk}")
    # Earlier upserts of a record that is gone carry no record: the tombstone follows.
    assert changes[0]["record"] is None


def test_cascading_delete_tombstones_performances(sync_client: APIClient) -> None:
    production = ProductionFactory()
    performances = PerformanceFactory.create_batch(3, production=production)
    production.delete()
    tombstones = [c for c in get(sync_client, limit=1000)["changes"] if c["op"] == "delete"]
    assert {(c["type"], c["uuid"], c["version"]) for c in tombstones if c["type"] == "performance"} == {
        ("performance", str(p.pk), 2) for p in performances
    }
    assert all(c["record"] is None for c in tombstones)


# ---------------------------------------------------------------------------- options never leave


def perf_changes(client: APIClient, performance: Performance) -> list[tuple[str, int]]:
    return [
        (c["op"], c["version"]) for c in get(client, types="performance")["changes"] if c["uuid"] == str(performance.pk)
    ]


def test_option_created_is_not_in_the_feed(sync_client: APIClient) -> None:
    performance = PerformanceFactory(status=Status.OPTION)
    assert perf_changes(sync_client, performance) == []


def test_scheduled_then_option_shows_as_a_tombstone(sync_client: APIClient) -> None:
    performance = PerformanceFactory()
    performance.status = Status.OPTION
    performance.save()
    assert perf_changes(sync_client, performance) == [("upsert", 1), ("delete", 2)]


def test_option_then_scheduled_shows_as_an_upsert_with_the_record(sync_client: APIClient) -> None:
    performance = PerformanceFactory(status=Status.OPTION)
    performance.status = Status.SCHEDULED
    performance.save()
    [change] = [c for c in get(sync_client, types="performance")["changes"] if c["uuid"] == str(performance.pk)]
    assert (change["op"], change["version"]) == ("upsert", 2)
    assert change["record"]["status"] == "scheduled"


def test_deleted_never_published_option_is_not_in_the_feed(sync_client: APIClient) -> None:
    performance = PerformanceFactory(status=Status.OPTION)
    pk = str(performance.pk)
    performance.delete()
    assert [c for c in get(sync_client, limit=1000)["changes"] if c["uuid"] == pk] == []


def test_upsert_of_a_record_now_under_option_carries_no_record(sync_client: APIClient) -> None:
    performance = PerformanceFactory()
    performance.status = Status.OPTION
    performance.save()
    upsert = next(c for c in get(sync_client, types="performance")["changes"] if c["op"] == "upsert")
    assert upsert["record"] is None


# ---------------------------------------------------------------------------- type filter


def test_types_filter_keeps_only_those_types(sync_client: APIClient) -> None:
    PerformanceFactory()
    VenueFactory()
    changes, _ = read_all(sync_client, types="performance,venue", limit=2)
    assert {c["type"] for c in changes} == {"performance", "venue"}
    assert keys(changes) == logged(record_type__in=["performance", "venue"])


def test_cursor_reached_with_a_filter_cannot_widen_it(sync_client: APIClient) -> None:
    PerformanceFactory()
    narrow = get(sync_client, types="venue")["next"]
    response = sync_client.get(URL, {"since": narrow})
    assert response.status_code == 400
    assert "since" in response.json()["fields"]
    response = sync_client.get(URL, {"since": narrow, "types": "venue,hall"})
    assert response.status_code == 400
    assert get(sync_client, since=narrow, types="venue")["changes"] == []


def test_unfiltered_cursor_may_be_narrowed(sync_client: APIClient) -> None:
    WorkFactory()
    cursor = get(sync_client)["next"]
    venue = VenueFactory()
    assert [c["uuid"] for c in get(sync_client, since=cursor, types="venue")["changes"]] == [str(venue.pk)]


@pytest.mark.parametrize("types", ["show", "performance,show", "Performance"])
def test_unknown_type_is_refused_naming_types(sync_client: APIClient, types: str) -> None:
    response = sync_client.get(URL, {"types": types})
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "invalid"
    assert list(body["fields"]) == ["types"]
    assert "performance" in body["fields"]["types"][0]  # lists the known ones


# ---------------------------------------------------------------------------- refused inputs


@pytest.mark.parametrize("limit", ["0", "-1", "1001", "ten", "1.5"])
def test_bad_limit_is_refused_naming_limit(sync_client: APIClient, limit: str) -> None:
    response = sync_client.get(URL, {"limit": limit})
    assert response.status_code == 400
    assert response.json()["fields"] == {"limit": [response.json()["fields"]["limit"][0]]}
    assert response.json()["error"] == "invalid"


def test_limit_bounds_are_accepted(sync_client: APIClient) -> None:
    assert sync_client.get(URL, {"limit": "1"}).status_code == 200
    assert sync_client.get(URL, {"limit": "1000"}).status_code == 200


def _b64(payload: Any) -> str:
    raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _tampered(token: str, **changes: Any) -> str:
    payload = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    payload.update(changes)
    return _b64(payload)


@pytest.mark.parametrize(
    "cursor",
    [
        "not-a-cursor!",
        "%%%",
        _b64(b"\xff\xfe"),
        _b64([1, 2]),
        _b64({"v": 1, "s": 3}),
        _b64({"v": 99, "s": 3}),
        "x" * 2000,
    ],
)
def test_malformed_cursor_is_refused_naming_since(sync_client: APIClient, cursor: str) -> None:
    response = sync_client.get(URL, {"since": cursor})
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "invalid"
    assert list(body["fields"]) == ["since"]


def test_tampered_cursor_is_refused(sync_client: APIClient) -> None:
    WorkFactory.create_batch(2)
    token = get(sync_client, limit=1)["next"]
    for tampered in (_tampered(token, s=0), _tampered(token, s=-1), _tampered(token, n="00000000")):
        response = sync_client.get(URL, {"since": tampered})
        assert response.status_code == 400, tampered
        assert list(response.json()["fields"]) == ["since"]


def test_cursor_of_another_node_is_refused(staff_client: APIClient, settings: Any) -> None:
    # A staff session: changing NODE_BASE_URL would also make a token's issuer foreign (401).
    WorkFactory()
    token = get(staff_client)["next"]
    settings.NODE_BASE_URL = "https://other-node.example"
    response = staff_client.get(URL, {"since": token})
    assert response.status_code == 400
    assert "another node" in response.json()["fields"]["since"][0]


def test_cursor_past_the_end_of_the_log_is_refused(sync_client: APIClient) -> None:
    WorkFactory()
    cursor = services.encode_cursor(services.FeedCursor(seq=10_000))
    response = sync_client.get(URL, {"since": cursor})
    assert response.status_code == 400
    assert "past the end" in response.json()["fields"]["since"][0]


def test_cursor_round_trip() -> None:
    cursor = services.FeedCursor(seq=42, types=frozenset({"venue", "hall"}))
    token = services.encode_cursor(cursor)
    assert services.decode_cursor(token) == cursor
    assert not set(token) & set("=/+")  # urlsafe, unpadded: usable as is in a query string


def test_feed_is_read_only(staff_client: APIClient) -> None:
    assert staff_client.post(URL, {}, format="json").status_code == 405


# ---------------------------------------------------------------------------- bulk loading


def _queries_for(client: APIClient, limit: int) -> int:
    agree_to_everything_published()
    with CaptureQueriesContext(connection) as captured:
        assert client.get(URL, {"limit": limit}).status_code == 200
    return len(captured.captured_queries)


def test_query_count_is_flat_in_page_size(sync_client: APIClient) -> None:
    for _ in range(30):
        PerformanceFactory()  # organisation, venue, hall, production, performance: 5 types
    _queries_for(sync_client, 1)  # the policies compile once per process
    small, large = _queries_for(sync_client, 10), _queries_for(sync_client, 150)
    assert large == small
    # The page, one query per record type present (5 here) and the API querysets' prefetches,
    # plus the bearer token's checks (its issued-token row, its client read by the verification
    # and by the authentication).
    assert small <= 1 + 5 + 8 + 3


def test_plain_representation_when_the_api_serves_no_serializer() -> None:
    work = WorkFactory()
    production = ProductionFactory(duration_minutes=None)
    production.works.add(work)
    data = represent([production], None, None)[production.pk]
    assert data["uri"] == production.uri
    assert data["id"] == str(production.pk)
    assert data["owner"] == str(production.owner_id)
    assert data["works"] == [str(work.pk)]
    assert data["duration_minutes"] is None
    assert data["created_at"] == production.created_at.isoformat()


def test_embedded_record_is_the_api_representation(sync_client: APIClient) -> None:
    production = ProductionFactory(title="Même forme")
    detail = reverse("production-detail", args=[str(production.pk)])
    [change] = get(sync_client, types="production")["changes"]
    assert change["record"] == sync_client.get(detail, HTTP_ACCEPT="application/json").json()
