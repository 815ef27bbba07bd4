"""CSV export of collections: ?format=csv&fields=…, filters, options, paging, cap."""

from __future__ import annotations

import csv
import io
import zoneinfo
from typing import Any

import pytest

from dataspace.api.renderers import csv_cell
from dataspace.referentials.api.views import PerformanceViewSet
from tests.factories import PerformanceFactory, ProductionFactory, VenueFactory, WorkFactory

pytestmark = pytest.mark.django_db


def rows_of(response: Any) -> list[dict[str, str]]:
    assert response.status_code == 200, getattr(response, "content", b"")
    assert response["Content-Type"].startswith("text/csv")
    content = b"".join(response.streaming_content) if response.streaming else response.content
    return list(csv.DictReader(io.StringIO(content.decode("utf-8"))))


def test_default_columns_and_attachment(anon_client: Any) -> None:
    performance = PerformanceFactory(accessibility=["wheelchair"])
    response = anon_client.get("/api/v1/performances/?format=csv")
    disposition = response["Content-Disposition"]
    assert disposition.startswith('attachment; filename="performances-')
    assert disposition.endswith('.csv"')
    rows = rows_of(response)
    assert list(rows[0]) == list(PerformanceViewSet.csv_default_columns)
    assert rows[0]["id"] == str(performance.pk)
    assert rows[0]["start"] == performance.start.astimezone(zoneinfo.ZoneInfo("Europe/Paris")).isoformat()
    assert rows[0]["accessibility"] == '["wheelchair"]'


def test_selected_columns_in_the_given_order(anon_client: Any) -> None:
    work = WorkFactory(title="Le Cid", year=1637)
    rows = rows_of(anon_client.get("/api/v1/works/?format=csv&fields=title,year,uri"))
    assert rows == [{"title": "Le Cid", "year": "1637", "uri": work.uri}]


def test_unknown_column_is_400_naming_fields(anon_client: Any) -> None:
    WorkFactory()
    response = anon_client.get("/api/v1/works/?format=csv&fields=title,salary,password")
    assert response.status_code == 400
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert "fields" in body["fields"]
    message = body["fields"]["fields"][0]
    assert "salary" in message
    assert "password" in message


def test_export_honours_filters_and_hides_options(anon_client: Any, staff_client: Any) -> None:
    dance = ProductionFactory(discipline="dance")
    kept = PerformanceFactory(production=dance)
    PerformanceFactory()
    option = PerformanceFactory(production=dance, status="option")
    rows = rows_of(anon_client.get("/api/v1/performances/?format=csv&fields=id&discipline=dance"))
    assert [row["id"] for row in rows] == [str(kept.pk)]
    staff_rows = rows_of(staff_client.get("/api/v1/performances/?format=csv&fields=id,status&discipline=dance"))
    assert {row["id"] for row in staff_rows} == {str(kept.pk), str(option.pk)}


def test_full_export_is_not_paginated(anon_client: Any) -> None:
    venues = [VenueFactory() for _ in range(60)]
    rows = rows_of(anon_client.get("/api/v1/venues/?format=csv&fields=id,name"))
    assert sorted(row["id"] for row in rows) == sorted(str(v.pk) for v in venues)


def test_paged_export_follows_the_link_header(anon_client: Any) -> None:
    venues = {str(VenueFactory().pk) for _ in range(5)}
    seen: list[str] = []
    url: str | None = "/api/v1/venues/?format=csv&fields=id&page_size=2"
    while url:
        response = anon_client.get(url)
        seen += [row["id"] for row in rows_of(response)]
        link = response.get("Link", "")
        url = link.split(";")[0].strip("<>") if 'rel="next"' in link else None
    assert sorted(seen) == sorted(venues)


def test_export_above_the_cap_is_400(anon_client: Any, monkeypatch: Any) -> None:
    monkeypatch.setattr(PerformanceViewSet, "csv_max_rows", 2)
    for _ in range(3):
        PerformanceFactory()
    response = anon_client.get("/api/v1/performances/?format=csv")
    assert response.status_code == 400
    assert "format" in response.json()["fields"]
    assert len(rows_of(anon_client.get("/api/v1/performances/?format=csv&page_size=2"))) == 2


def test_formula_like_text_is_neutralised() -> None:
    assert csv_cell('=HYPERLINK("http://evil")') == '\'=HYPERLINK("http://evil")'
    assert csv_cell("@SUM(A1)") == "'@SUM(A1)"
    assert csv_cell("-12.5") == "-12.5"
    assert csv_cell(None) == ""
    assert csv_cell(True) == "true"
    assert csv_cell(["a", "b"]) == '["a", "b"]'


def test_formula_title_in_export(anon_client: Any) -> None:
    WorkFactory(title="=cmd|' /C calc'!A0")
    rows = rows_of(anon_client.get("/api/v1/works/?format=csv&fields=title"))
    assert rows[0]["title"].startswith("'=")
