"""/api/v1/ticketing/figures/: upsert by external id, series, validation naming fields, prices."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from dataspace.indicators.models import CoveredPerformance, TicketingFigures
from dataspace.oauth.mandates import grant_mandate, revoke_mandate
from tests.factories import PARIS, HallFactory, OrganisationFactory, PerformanceFactory, UserFactory
from tests.indicators.conftest import FIGURES, body
from tests.indicators.factories import figures, run

pytestmark = pytest.mark.django_db


#: Every ticket exempt (a free show) — then receipts make no sense.
ALL_EXEMPT = {"tickets_total": 10, "tickets_full_price": 0, "tickets_subscription": 0, "tickets_exempt": 10}


def fields_of(response: Any) -> dict[str, Any]:
    assert response.status_code == 400, response.content
    document = response.json()
    assert document["error"] == "invalid"
    return dict(document["fields"])


# ---------------------------------------------------------------------------- upsert by external id


def test_post_creates_then_the_same_external_id_updates_never_duplicates(vendor: Any, shows: list[Any]) -> None:
    created = vendor.post(FIGURES, body(shows[0], "BIL-42"), format="json")
    assert created.status_code == 201, created.content
    row = created.json()
    assert created["Location"].endswith(f"{FIGURES}{row['id']}")
    assert created["ETag"] == f'"{row["id"]}-1"'
    assert row["owner"] == str(shows[0].owner_id)
    assert row["quarter"] == "2026-T4"
    assert row["performances"] == [str(shows[0].pk)]
    assert row["capacity"] == 300  # the hall's seated capacity: the performance has none
    assert row["paying_tickets"] == 240
    assert row["average_price"] == "18.01"  # 4321.50 / 240, rounded half up
    assert row["average_full_price"] == "22.00"

    again = vendor.post(FIGURES, body(shows[0], "BIL-42", tickets_total=260, tickets_exempt=20), format="json")
    assert again.status_code == 200, again.content
    assert again.json()["id"] == row["id"]
    assert again.json()["tickets_total"] == 260
    assert again.json()["version"] == 2
    assert TicketingFigures.objects.count() == 1

    unchanged = vendor.post(FIGURES, body(shows[0], "BIL-42", tickets_total=260, tickets_exempt=20), format="json")
    assert unchanged.status_code == 200
    assert unchanged.json()["version"] == 2  # nothing changed, nothing written
    assert TicketingFigures.objects.count() == 1


def test_put_by_external_id_upserts(vendor: Any, shows: list[Any]) -> None:
    url = f"{FIGURES}external/SERIE-OCT"
    payload = body(shows, "ignored-in-body")
    created = vendor.put(url, payload, format="json")
    assert created.status_code == 201, created.content
    assert created.json()["external_id"] == "SERIE-OCT"
    assert created.json()["performance_count"] == 3
    assert created.json()["capacity"] == 900
    updated = vendor.put(url, {**payload, "receipts_total": "5000.00"}, format="json")
    assert updated.status_code == 200
    assert updated.json()["receipts_total"] == "5000.00"
    assert TicketingFigures.objects.get().external_id == "SERIE-OCT"


def test_the_same_external_id_in_two_structures_is_two_rows(vendor: Any, shows: list[Any], bearer_client: Any) -> None:
    other = OrganisationFactory(name="Autre scène")
    other_vendor = bearer_client("ticketing:write", owner=other)
    assert vendor.post(FIGURES, body(shows[0], "BIL-1"), format="json").status_code == 201
    assert other_vendor.post(FIGURES, body(run(other, 1), "BIL-1"), format="json").status_code == 201
    assert TicketingFigures.objects.filter(external_id="BIL-1").count() == 2


def test_resending_a_series_with_other_performances_moves_its_coverage(vendor: Any, shows: list[Any]) -> None:
    assert vendor.post(FIGURES, body(shows, "SERIE"), format="json").status_code == 201
    smaller = vendor.post(FIGURES, body(shows[:2], "SERIE"), format="json")
    assert smaller.status_code == 200, smaller.content
    assert smaller.json()["performance_count"] == 2
    assert set(CoveredPerformance.objects.values_list("performance_id", flat=True)) == {shows[0].pk, shows[1].pk}
    # The freed performance may now be declared on its own.
    assert vendor.post(FIGURES, body(shows[2], "SEULE"), format="json").status_code == 201


def test_idempotency_key_replays_the_first_answer(vendor: Any, shows: list[Any]) -> None:
    first = vendor.post(FIGURES, body(shows[0]), format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert first.status_code == 201
    replay = vendor.post(FIGURES, body(shows[0]), format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert replay.status_code == 201
    assert replay["Idempotent-Replayed"] == "true"
    assert replay.json() == first.json()
    other_body = vendor.post(FIGURES, body(shows[0], tickets_total=251), format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert other_body.status_code == 422
    assert other_body.json()["error"] == "idempotency_key_reused"
    assert TicketingFigures.objects.get().tickets_total == 250


# ---------------------------------------------------------------------------- detail: ETag, If-Match


def test_detail_etag_if_match_and_delete(vendor: Any, shows: list[Any]) -> None:
    row = vendor.post(FIGURES, body(shows[0]), format="json").json()
    url = f"{FIGURES}{row['id']}/"
    detail = vendor.get(url)
    assert detail.status_code == 200
    etag = detail["ETag"]
    assert vendor.get(url, HTTP_IF_NONE_MATCH=etag).status_code == 304
    changed = vendor.patch(url, {"tickets_exempt": 5}, format="json", HTTP_IF_MATCH=etag)
    assert changed.status_code == 200, changed.content
    assert changed.json()["tickets_exempt"] == 5
    assert changed.json()["tickets_total"] == 250  # PATCH keeps what it does not name
    stale = vendor.patch(url, {"tickets_exempt": 6}, format="json", HTTP_IF_MATCH=etag)
    assert stale.status_code == 412
    renamed = vendor.patch(url, {"external_id": "AUTRE"}, format="json")
    assert "external_id" in fields_of(renamed)
    assert vendor.delete(url, HTTP_IF_MATCH=changed["ETag"]).status_code == 204
    assert not TicketingFigures.objects.exists()
    assert not CoveredPerformance.objects.exists()


# ---------------------------------------------------------------------------- rules, each naming its field


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"tickets_total": -1}, "tickets_total"),
        ({"tickets_exempt": -3}, "tickets_exempt"),
        ({"receipts_total": "-10.00"}, "receipts_total"),
        ({"tickets_full_price": 300}, "tickets_full_price"),
        ({"tickets_subscription": 251}, "tickets_subscription"),
        ({"tickets_full_price": 120, "tickets_subscription": 120, "tickets_exempt": 20}, "tickets_total"),
        ({"receipts_full_price": "5000.00"}, "receipts_full_price"),
        ({"tickets_full_price": 0, "receipts_full_price": "10.00"}, "receipts_full_price"),
        (ALL_EXEMPT, "receipts_total"),
        ({"tickets_total": 301, "tickets_exempt": 0}, "tickets_total"),
        ({"capacity": 0}, "capacity"),
        ({"external_id": ""}, "external_id"),
        ({"receipts_total": "12.345"}, "receipts_total"),
    ],
)  # fmt: skip
def test_invalid_figures_are_refused_naming_the_field(
    vendor: Any, shows: list[Any], changes: dict[str, Any], field: str
) -> None:
    response = vendor.post(FIGURES, body(shows[0], **changes), format="json")
    assert field in fields_of(response), response.json()
    assert not TicketingFigures.objects.exists()


def test_every_error_is_reported_at_once(vendor: Any, shows: list[Any]) -> None:
    response = vendor.post(
        FIGURES,
        body(shows[0], tickets_full_price=400, receipts_full_price="9000.00", capacity=200),
        format="json",
    )
    assert {"tickets_full_price", "receipts_full_price", "tickets_total"} <= set(fields_of(response))


def test_free_show_has_no_average_price_and_no_division_by_zero(vendor: Any, shows: list[Any]) -> None:
    free = body(
        shows[0],
        tickets_total=120,
        tickets_full_price=0,
        tickets_subscription=0,
        tickets_exempt=120,
        receipts_total="0.00",
        receipts_full_price="0.00",
    )
    response = vendor.post(FIGURES, free, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["paying_tickets"] == 0
    assert response.json()["average_price"] is None
    assert response.json()["average_full_price"] is None
    row = TicketingFigures.objects.get()
    assert row.average_price is None


def test_capacity_sent_overrides_the_performances(vendor: Any, shows: list[Any]) -> None:
    response = vendor.post(FIGURES, body(shows[0], capacity=280), format="json")
    assert response.json()["capacity"] == 280


def test_capacity_unknown_is_asked_for(vendor: Any, theatre: Any) -> None:
    hall = HallFactory(venue__owner=theatre, owner=theatre, seated_capacity=None, standing_capacity=None)
    performance = PerformanceFactory(owner=theatre, production__owner=theatre, hall=hall, capacity=None)
    assert "capacity" in fields_of(vendor.post(FIGURES, body(performance), format="json"))
    assert vendor.post(FIGURES, body(performance, capacity=250), format="json").status_code == 201


def test_unknown_performance_and_missing_performance_are_named(vendor: Any, shows: list[Any]) -> None:
    unknown = body(shows[0])
    unknown["performance"] = "00000000-0000-4000-8000-000000000000"
    assert "performance" in fields_of(vendor.post(FIGURES, unknown, format="json"))
    missing = body(shows[0])
    del missing["performance"]
    assert "performance" in fields_of(vendor.post(FIGURES, missing, format="json"))


def test_cancelled_and_option_performances_carry_no_figures(vendor: Any, theatre: Any) -> None:
    for status in ("cancelled", "option"):
        performance = run(theatre, 1)[0]
        performance.status = status
        performance.save()
        assert "performances" in fields_of(vendor.post(FIGURES, body(performance, f"X-{status}"), format="json"))


# ---------------------------------------------------------------------------- series


def test_a_series_straddling_two_quarters_is_refused_with_the_reason(vendor: Any, theatre: Any) -> None:
    straddling = run(theatre, 3, start=dt.datetime(2026, 12, 30, 20, 0, tzinfo=PARIS))  # 30/12, 31/12, 01/01
    response = vendor.post(FIGURES, body(straddling, "SERIE-NOEL"), format="json")
    messages = " ".join(fields_of(response)["performances"])
    assert "chevaucher deux trimestres" in messages
    assert "2026-T4" in messages
    assert "2027-T1" in messages
    assert not TicketingFigures.objects.exists()
    # The same run declared as two series, one per quarter, is accepted.
    assert vendor.post(FIGURES, body(straddling[:2], "SERIE-NOEL-T4"), format="json").status_code == 201
    assert vendor.post(FIGURES, body(straddling[2:], "SERIE-NOEL-T1"), format="json").status_code == 201


def test_the_quarter_is_the_local_date_of_the_performance(vendor: Any, theatre: Any) -> None:
    late = run(theatre, 1, start=dt.datetime(2026, 12, 31, 23, 30, tzinfo=PARIS))[0]  # 22:30 UTC
    assert vendor.post(FIGURES, body(late), format="json").json()["quarter"] == "2026-T4"
    new_year = run(theatre, 1, start=dt.datetime(2027, 1, 1, 0, 30, tzinfo=PARIS))[0]  # still 2026 in UTC
    assert vendor.post(FIGURES, body(new_year, "NY"), format="json").json()["quarter"] == "2027-T1"


def test_a_series_spans_one_production_in_one_venue(vendor: Any, theatre: Any, shows: list[Any]) -> None:
    elsewhere = run(theatre, 1, start=dt.datetime(2026, 10, 20, 20, 0, tzinfo=PARIS))  # another production and hall
    assert "performances" in fields_of(vendor.post(FIGURES, body([shows[0], elsewhere[0]]), format="json"))
    same_show_other_venue = PerformanceFactory(
        owner=theatre,
        production=shows[0].production,
        hall=HallFactory(venue__owner=theatre, owner=theatre),
        start=dt.datetime(2026, 10, 21, 20, 0, tzinfo=PARIS),
    )
    assert "performances" in fields_of(vendor.post(FIGURES, body([shows[0], same_show_other_venue]), format="json"))


def test_a_performance_is_declared_once(vendor: Any, shows: list[Any]) -> None:
    assert vendor.post(FIGURES, body(shows[:2], "SERIE-A"), format="json").status_code == 201
    response = vendor.post(FIGURES, body(shows[1], "SEULE"), format="json")
    assert "SERIE-A" in " ".join(fields_of(response)["performances"])


def test_young_audience_and_accessible_performances_are_copied(vendor: Any, theatre: Any) -> None:
    young = run(theatre, 2, audience="young")
    young[1].accessibility = ["wheelchair", "sign_language"]
    young[1].save()
    row = vendor.post(FIGURES, body(young, "JP"), format="json").json()
    assert row["young_audience"] is True
    assert row["accessible_performances"] == 1  # step-free access alone does not count


# ---------------------------------------------------------------------------- writers


def test_staff_editor_writes_reader_role_only_reads(member: Any, shows: list[Any]) -> None:
    editor = member("editor")
    assert editor.post(FIGURES, body(shows[0]), format="json").status_code == 201
    reader = member("reader")
    assert len(reader.get(FIGURES).json()["results"]) == 1
    assert reader.post(FIGURES, body(shows[1], "B2"), format="json").status_code == 403


def test_a_vendor_writes_for_a_structure_only_under_a_ticketing_mandate(
    bearer_client: Any, theatre: Any, shows: list[Any]
) -> None:
    vendor_org = OrganisationFactory(name="Billetterie Exemple SAS")
    outside = bearer_client("ticketing:write referentials:write", owner=vendor_org)
    refused = outside.post(FIGURES, body(shows[0]), format="json")
    assert refused.status_code == 403
    assert "owner" in refused.json()["fields"]
    administrator = UserFactory(username="admin-theatre")
    from dataspace.node.models import StaffMembership

    StaffMembership.objects.create(user=administrator, organisation=theatre, role="administrator")
    referentials_only = grant_mandate(theatre, outside.oauth_client, ["referentials:write"], administrator)
    assert outside.post(FIGURES, body(shows[0]), format="json").status_code == 403
    revoke_mandate(referentials_only, administrator)
    grant_mandate(theatre, outside.oauth_client, ["ticketing:write"], administrator)
    assert outside.post(FIGURES, body(shows[0]), format="json").status_code == 201
    assert len(outside.get(FIGURES).json()["results"]) == 1  # a vendor reads back what it deposits


# ---------------------------------------------------------------------------- listing


def test_list_filters_and_query_count_flat_in_page_size(vendor: Any, theatre: Any) -> None:
    for index in range(3):
        figures(run(theatre, 1)[0], f"A{index}")
    series = run(theatre, 3, start=dt.datetime(2027, 2, 2, 20, 0, tzinfo=PARIS))
    figures(series, "SERIE-T1", tickets_total=600)
    assert {row["external_id"] for row in vendor.get(f"{FIGURES}?quarter=2027-T1").json()["results"]} == {"SERIE-T1"}
    assert vendor.get(f"{FIGURES}?performance={series[1].pk}").json()["results"][0]["performance_count"] == 3
    with CaptureQueriesContext(connection) as few:
        assert len(vendor.get(f"{FIGURES}?page_size=2").json()["results"]) == 2
    with CaptureQueriesContext(connection) as many:
        assert len(vendor.get(f"{FIGURES}?page_size=50").json()["results"]) == 4
    assert len(many.captured_queries) == len(few.captured_queries)


def test_average_price_rounds_to_the_cent(shows: list[Any]) -> None:
    row = figures(shows[0], tickets_total=3, receipts_total="10.00")
    assert row.average_price == Decimal("3.33")
