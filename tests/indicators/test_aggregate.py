"""local_aggregate: this node's figures summed per cell, with contributors and largest contributions."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from dataspace.indicators.aggregate import MEASURES, AggregateError, local_aggregate
from dataspace.indicators.models import TicketingFigures
from tests.factories import PARIS, HallFactory, OrganisationFactory
from tests.indicators.factories import figures, run

pytestmark = pytest.mark.django_db

OCT, JAN = dt.datetime(2026, 10, 6, 20, 0, tzinfo=PARIS), dt.datetime(2027, 1, 12, 20, 0, tzinfo=PARIS)
SEASON = (dt.date(2026, 9, 1), dt.date(2027, 6, 30))


@pytest.fixture
def node(theatre: Any) -> dict[str, Any]:
    """Two structures on this node: the theatre (Rennes, Bretagne) and an opera (Lyon), with rows
    across two quarters, two disciplines, a series, a free show and a young-audience run."""
    opera = OrganisationFactory(name="Opéra fictif", region="Auvergne-Rhône-Alpes", departement="69")
    theatre_hall = HallFactory(
        venue__owner=theatre, owner=theatre, venue__region="", venue__departement="", seated_capacity=300
    )  # a venue without region: the structure's region is used
    opera_hall = HallFactory(venue__owner=opera, owner=opera, venue__venue_type="opera_house", seated_capacity=1000)
    theatre_oct = run(theatre, 2, start=OCT, hall=theatre_hall, discipline="theatre")
    theatre_jan = run(theatre, 1, start=JAN, hall=theatre_hall, discipline="theatre")
    young = run(theatre, 3, start=dt.datetime(2026, 11, 29, 10, 0, tzinfo=PARIS), hall=theatre_hall, audience="young")
    young[0].accessibility = ["audio_description"]
    young[0].save()
    opera_oct = run(opera, 1, start=OCT, hall=opera_hall, discipline="opera")
    rows = [
        figures(theatre_oct[0], "T-1", tickets_total=200, tickets_exempt=10, receipts_total="3000.00"),
        figures(theatre_oct[1], "T-2", tickets_total=100, tickets_exempt=100, receipts_total="0.00"),  # free
        figures(theatre_jan[0], "T-3", tickets_total=280, receipts_total="5600.00"),
        figures(young, "T-SERIE", tickets_total=800, receipts_total="6400.00"),  # 29/11 → 1/12: month of its first
        figures(opera_oct[0], "O-1", tickets_total=900, tickets_full_price=400, receipts_total="45000.00",
                receipts_full_price="26000.00"),
    ]  # fmt: skip
    return {"theatre": theatre, "opera": opera, "rows": rows}


def cell(result: dict[str, Any], **key: Any) -> dict[str, Any]:
    found = [c for c in result["cells"] if c["key"] == key]
    assert len(found) == 1, (key, [c["key"] for c in result["cells"]])
    return found[0]


def test_totals_equal_the_sum_of_the_rows(node: dict[str, Any]) -> None:
    result = local_aggregate(*SEASON, [])
    assert result["measures"] == list(MEASURES)
    total = result["total"]["values"]
    rows = TicketingFigures.objects.all()
    assert total["attendance"] == sum(r.tickets_total for r in rows)
    assert total["receipts"] == sum((r.receipts_total for r in rows), Decimal("0"))
    assert total["capacity"] == sum(r.capacity for r in rows)
    assert total["performances"] == 7
    assert total["figures"] == 5
    assert total["paying_tickets"] == sum(r.paying_tickets for r in rows)
    assert total["young_audience_performances"] == 3
    assert total["accessible_performances"] == 1
    assert result["total"]["contributors"] == 2
    assert result["cells"] == [{"key": {}, **result["total"]}]


def test_cells_by_quarter_and_discipline_with_contributors_and_largest(node: dict[str, Any]) -> None:
    result = local_aggregate(*SEASON, ["quarter", "discipline"])
    assert result["dimensions"] == ["quarter", "discipline"]
    theatre_t4 = cell(result, quarter="2026-T4", discipline="theatre")
    assert theatre_t4["values"]["attendance"] == 200 + 100 + 800
    assert theatre_t4["values"]["performances"] == 5
    assert theatre_t4["contributors"] == 1
    opera_t4 = cell(result, quarter="2026-T4", discipline="opera")
    assert opera_t4["values"]["receipts"] == Decimal("45000.00")
    assert opera_t4["values"]["receipts_full_price"] == Decimal("26000.00")
    assert cell(result, quarter="2027-T1", discipline="theatre")["values"]["attendance"] == 280
    by_quarter = local_aggregate(*SEASON, ["quarter"])
    t4 = cell(by_quarter, quarter="2026-T4")
    assert t4["contributors"] == 2
    assert t4["values"]["attendance"] == 1100 + 900
    assert t4["largest"]["attendance"] == 1100  # the theatre's share of the cell
    assert t4["largest"]["receipts"] == Decimal("45000.00")  # the opera's


def test_region_and_departement_fall_back_to_the_structure(node: dict[str, Any]) -> None:
    result = local_aggregate(*SEASON, ["region", "departement"])
    assert cell(result, region="Bretagne", departement="35")["values"]["figures"] == 4
    assert cell(result, region="Auvergne-Rhône-Alpes", departement="69")["values"]["figures"] == 1


def test_month_venue_type_and_the_series_in_its_first_month(node: dict[str, Any]) -> None:
    result = local_aggregate(*SEASON, ["month", "venue_type"])
    assert cell(result, month="2026-11", venue_type="theatre")["values"]["performances"] == 3  # 29/11, 30/11, 1/12
    assert cell(result, month="2026-10", venue_type="opera_house")["values"]["attendance"] == 900
    assert [c["key"]["month"] for c in result["cells"]] == sorted(c["key"]["month"] for c in result["cells"])


def test_the_period_bounds_are_included_and_owner_ids_restrict(node: dict[str, Any]) -> None:
    only_oct_6 = local_aggregate(dt.date(2026, 10, 6), dt.date(2026, 10, 6), [])
    assert only_oct_6["total"]["values"]["figures"] == 2  # T-1 and O-1
    assert only_oct_6["total"]["contributors"] == 2
    theatre_only = local_aggregate(*SEASON, [], owner_ids=[node["theatre"].pk])
    assert theatre_only["total"]["values"]["figures"] == 4
    empty = local_aggregate(dt.date(2025, 1, 1), dt.date(2025, 3, 31), ["quarter"])
    assert empty["cells"] == []
    assert empty["total"]["contributors"] == 0
    assert empty["total"]["values"]["receipts"] == Decimal("0.00")


def test_bad_requests_are_refused(node: dict[str, Any]) -> None:
    with pytest.raises(AggregateError, match="unknown dimension"):
        local_aggregate(*SEASON, ["genre"])
    with pytest.raises(AggregateError, match="before it starts"):
        local_aggregate(dt.date(2027, 1, 1), dt.date(2026, 1, 1), [])
    assert local_aggregate(*SEASON, ["quarter", "quarter"])["dimensions"] == ["quarter"]


def test_one_query_whatever_the_number_of_rows(node: dict[str, Any], django_assert_num_queries: Any) -> None:
    with django_assert_num_queries(1):
        local_aggregate(*SEASON, ["quarter", "discipline", "region", "departement", "month", "venue_type"])
