"""Reading the referentials over /api/v1/: representations, options, filters, paging, ETags, 410."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from dataspace.referentials import models as m
from tests.factories import (
    HallFactory,
    OrganisationFactory,
    PerformanceFactory,
    PersonFactory,
    ProductionFactory,
    SeasonFactory,
    TechnicalSheetFactory,
    VenueFactory,
    WorkFactory,
)
from tests.referentials.factories_extra import ContributionFactory

pytestmark = pytest.mark.django_db

PARIS = zoneinfo.ZoneInfo("Europe/Paris")
COMMON = {"id", "uri", "version", "owner", "origin", "same_as", "created_at", "updated_at"}
COLLECTIONS = [
    ("organisations", "organisation"),
    ("venues", "venue"),
    ("halls", "hall"),
    ("technical-sheets", "technical-sheet"),
    ("persons", "person"),
    ("works", "work"),
    ("productions", "production"),
    ("contributions", "contribution"),
    ("seasons", "season"),
    ("performances", "performance"),
]


def make(record_type: str, **kwargs: Any) -> Any:
    """One record of each type, with the relations its representation shows."""
    if record_type == "organisation":
        return OrganisationFactory(**kwargs)
    if record_type == "venue":
        venue = VenueFactory(**kwargs)
        HallFactory(venue=venue)
        return venue
    if record_type == "hall":
        hall = HallFactory(**kwargs)
        TechnicalSheetFactory(hall=hall)
        return hall
    if record_type == "technical-sheet":
        return TechnicalSheetFactory(**kwargs)
    if record_type == "person":
        return PersonFactory(**kwargs)
    if record_type == "work":
        work = WorkFactory(**kwargs)
        ContributionFactory(work=work, production=None, owner=work.owner)
        return work
    if record_type == "production":
        production = ProductionFactory(**kwargs)
        production.works.add(WorkFactory(owner=production.owner))
        production.coproducers.add(OrganisationFactory())
        ContributionFactory(production=production)
        ProductionFactory(original_production=production, owner=production.owner)
        return production
    if record_type == "contribution":
        return ContributionFactory(**kwargs)
    if record_type == "season":
        return SeasonFactory(organiser=OrganisationFactory(), **kwargs)
    if record_type == "performance":
        performance = PerformanceFactory(season=SeasonFactory(), **kwargs)
        performance.production.works.add(WorkFactory())
        return performance
    raise AssertionError(record_type)


# ---------------------------------------------------------------------------- representations


@pytest.mark.parametrize(("plural", "record_type"), COLLECTIONS)
def test_every_collection_lists_and_details_by_uuid(anon_client: Any, plural: str, record_type: str) -> None:
    record = make(record_type)
    listed = anon_client.get(f"/api/v1/{plural}/")
    assert listed.status_code == 200
    ids = [row["id"] for row in listed.json()["results"]]
    assert str(record.pk) in ids
    url = reverse(f"{record_type}-detail", kwargs={"pk": record.pk})
    assert url == f"/api/v1/{plural}/{record.pk}/"
    detail = anon_client.get(url)
    assert detail.status_code == 200
    body = detail.json()
    assert set(body) >= COMMON
    assert body["id"] == str(record.pk)
    assert body["uri"] == record.uri == f"http://127.0.0.1:8000/id/{record_type}/{record.pk}"
    assert body["version"] == record.version
    assert body["origin"] == "http://127.0.0.1:8000"
    owner = record.owner_id
    assert body["owner"] == (str(owner) if owner else None)


def test_list_and_detail_url_names_follow_record_types() -> None:
    for plural, record_type in COLLECTIONS:
        assert reverse(f"{record_type}-list") == f"/api/v1/{plural}/"


def test_hall_exposes_venue_and_current_technical_sheet(anon_client: Any) -> None:
    sheet = TechnicalSheetFactory()
    bare = HallFactory()
    body = anon_client.get(f"/api/v1/halls/{sheet.hall_id}/").json()
    assert body["venue"] == str(sheet.hall.venue_id)
    assert body["technical_sheet"] == str(sheet.pk)
    assert anon_client.get(f"/api/v1/halls/{bare.pk}/").json()["technical_sheet"] is None


def test_production_exposes_works_contributions_original_and_revivals(anon_client: Any) -> None:
    production = make("production")
    revival = m.Production.objects.get(original_production=production)
    body = anon_client.get(f"/api/v1/productions/{production.pk}/").json()
    assert body["works"] == [str(w.pk) for w in production.works.all()]
    assert body["contributions"] == [str(c.pk) for c in production.contributions.all()]
    assert body["revivals"] == [str(revival.pk)]
    assert body["original_production"] is None
    assert anon_client.get(f"/api/v1/productions/{revival.pk}/").json()["original_production"] == str(production.pk)


def test_technical_sheet_revisions_action(anon_client: Any) -> None:
    sheet = TechnicalSheetFactory()
    sheet.height_under_grid_m = "15.50"
    sheet.save()
    response = anon_client.get(f"/api/v1/technical-sheets/{sheet.pk}/revisions/")
    assert response.status_code == 200
    revisions = response.json()
    assert [r["version"] for r in revisions] == [2, 1]
    assert revisions[0]["diff"] == {"height_under_grid_m": {"from": "14.00", "to": "15.50"}}
    assert {"version", "diff", "changed_at"} <= set(revisions[0])
    assert response["ETag"] == f'"{sheet.pk}-2"'


def test_performance_dates_are_given_in_its_own_time_zone(anon_client: Any) -> None:
    performance = PerformanceFactory(
        start=dt.datetime(2026, 11, 3, 19, 30, tzinfo=zoneinfo.ZoneInfo("America/Martinique")),
        time_zone="America/Martinique",
    )
    body = anon_client.get(f"/api/v1/performances/{performance.pk}/").json()
    assert body["start"] == "2026-11-03T19:30:00-04:00"
    assert body["venue"] == str(performance.hall.venue_id)


# ---------------------------------------------------------------------------- options


def test_option_is_invisible_to_anonymous_and_outsiders(anon_client: Any, outsider_client: Any) -> None:
    option = PerformanceFactory(status=m.Performance.Status.OPTION)
    public = PerformanceFactory()
    for client in (anon_client, outsider_client):
        ids = [row["id"] for row in client.get("/api/v1/performances/").json()["results"]]
        assert ids == [str(public.pk)]
        response = client.get(f"/api/v1/performances/{option.pk}/")
        assert response.status_code == 404
        assert response.json()["error"] == "not_found"
        assert client.get("/api/v1/performances/?status=option").json()["results"] == []


def test_option_is_visible_to_staff(staff_client: Any) -> None:
    option = PerformanceFactory(status=m.Performance.Status.OPTION)
    ids = [row["id"] for row in staff_client.get("/api/v1/performances/").json()["results"]]
    assert str(option.pk) in ids
    assert staff_client.get(f"/api/v1/performances/{option.pk}/").json()["status"] == "option"


def test_option_withdrawn_from_public_stays_404_not_410(anon_client: Any) -> None:
    performance = PerformanceFactory()
    performance.status = m.Performance.Status.OPTION
    performance.save()  # the feed publishes a tombstone, but the record still exists here
    assert anon_client.get(f"/api/v1/performances/{performance.pk}/").status_code == 404


# ---------------------------------------------------------------------------- query counts


def _populate(record_type: str, count: int) -> None:
    for _ in range(count):
        make(record_type)


def _count(client: Any, url: str, **headers: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url, **headers)
    assert response.status_code == 200, response.content
    return len(queries)


@pytest.mark.parametrize(("plural", "record_type"), COLLECTIONS)
@pytest.mark.parametrize("accept", ["application/json", "application/ld+json"])
def test_list_query_count_is_flat_in_page_size(anon_client: Any, plural: str, record_type: str, accept: str) -> None:
    _populate(record_type, 101 if accept == "application/json" else 25)
    anon_client.get(f"/api/v1/{plural}/?page_size=1", HTTP_ACCEPT=accept)  # the policies compile once per process
    small = _count(anon_client, f"/api/v1/{plural}/?page_size=10", HTTP_ACCEPT=accept)
    large_size = 100 if accept == "application/json" else 25
    large = _count(anon_client, f"/api/v1/{plural}/?page_size={large_size}", HTTP_ACCEPT=accept)
    assert small == large


# ---------------------------------------------------------------------------- filters, search, ordering


def test_performance_filters(anon_client: Any) -> None:
    lyon_venue = VenueFactory(city="Lyon", region="Auvergne-Rhône-Alpes")
    nantes_venue = VenueFactory(city="Nantes", region="Pays de la Loire")
    dance = ProductionFactory(discipline="dance")
    season = SeasonFactory()
    p1 = PerformanceFactory(
        hall=HallFactory(venue=lyon_venue),
        start=dt.datetime(2026, 10, 1, 20, tzinfo=PARIS),
        season=season,
        accessibility=["wheelchair"],
    )
    p2 = PerformanceFactory(
        hall=HallFactory(venue=nantes_venue),
        production=dance,
        start=dt.datetime(2026, 12, 1, 20, tzinfo=PARIS),
        status="cancelled",
    )

    def ids(query: str) -> set[str]:
        response = anon_client.get(f"/api/v1/performances/?{query}")
        assert response.status_code == 200, response.content
        return {row["id"] for row in response.json()["results"]}

    assert ids(f"production={p1.production_id}") == {str(p1.pk)}
    assert ids(f"hall={p2.hall_id}") == {str(p2.pk)}
    assert ids(f"venue={lyon_venue.pk}") == {str(p1.pk)}
    assert ids(f"season={season.pk}") == {str(p1.pk)}
    assert ids("status=cancelled") == {str(p2.pk)}
    assert ids("status=cancelled&status=scheduled") == {str(p1.pk), str(p2.pk)}
    assert ids("discipline=dance") == {str(p2.pk)}
    assert ids("city=nantes") == {str(p2.pk)}
    assert ids("region=Auvergne-Rh%C3%B4ne-Alpes") == {str(p1.pk)}
    assert ids("start_after=2026-11-01T00:00:00%2B01:00") == {str(p2.pk)}
    assert ids("start_before=2026-11-01T00:00:00%2B01:00") == {str(p1.pk)}
    assert ids("start__gte=2026-11-01T00:00:00Z") == {str(p2.pk)}
    assert ids("accessibility=wheelchair") == {str(p1.pk)}
    assert ids("venue=00000000-0000-0000-0000-000000000000") == set()


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("start__gte=notadate", "start__gte"),
        ("start_after=tomorrow", "start_after"),
        ("hall=not-a-uuid", "hall"),
        ("status=maybe", "status"),
        ("discipline=juggling", "discipline"),
    ],
)
def test_malformed_filter_values_are_400_naming_the_parameter(anon_client: Any, query: str, parameter: str) -> None:
    response = anon_client.get(f"/api/v1/performances/?{query}")
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "invalid"
    assert parameter in body["fields"]


def test_production_filters(anon_client: Any) -> None:
    producer = OrganisationFactory()
    original = ProductionFactory(discipline="opera", audience="young", producer=producer)
    revival = ProductionFactory(original_production=original)

    def ids(query: str) -> set[str]:
        return {row["id"] for row in anon_client.get(f"/api/v1/productions/?{query}").json()["results"]}

    assert ids("discipline=opera") == {str(original.pk)}
    assert ids("audience=young") == {str(original.pk)}
    assert ids(f"producer={producer.pk}") == {str(original.pk)}
    assert ids(f"original_production={original.pk}") == {str(revival.pk)}
    assert ids("is_revival=true") == {str(revival.pk)}


def test_venue_and_technical_sheet_filters(anon_client: Any) -> None:
    venue = VenueFactory(city="Marseille", region="Provence-Alpes-Côte d'Azur", departement="13", venue_type="big_top")
    VenueFactory(city="Lyon")
    big = TechnicalSheetFactory(proscenium_opening_m="14.00", height_under_grid_m="18.00")
    TechnicalSheetFactory(proscenium_opening_m="8.00", height_under_grid_m="9.00")

    def ids(path: str) -> set[str]:
        response = anon_client.get(path)
        assert response.status_code == 200, response.content
        return {row["id"] for row in response.json()["results"]}

    assert ids("/api/v1/venues/?city=marseille") == {str(venue.pk)}
    assert ids("/api/v1/venues/?departement=13") == {str(venue.pk)}
    assert ids("/api/v1/venues/?venue_type=big_top") == {str(venue.pk)}
    assert ids("/api/v1/technical-sheets/?min_proscenium_opening=12") == {str(big.pk)}
    assert ids("/api/v1/technical-sheets/?min_height_under_grid=10&min_proscenium_opening=9.5") == {str(big.pk)}
    bad = anon_client.get("/api/v1/technical-sheets/?min_height_under_grid=high")
    assert bad.status_code == 400
    assert "min_height_under_grid" in bad.json()["fields"]


def test_search_and_ordering(anon_client: Any) -> None:
    WorkFactory(title="Bérénice")
    WorkFactory(title="Andromaque")
    WorkFactory(title="Phèdre")
    titles = [r["title"] for r in anon_client.get("/api/v1/works/?ordering=-title").json()["results"]]
    assert titles == ["Phèdre", "Bérénice", "Andromaque"]
    found = anon_client.get("/api/v1/works/?search=androm").json()["results"]
    assert [r["title"] for r in found] == ["Andromaque"]


def test_unknown_ordering_field_is_400(anon_client: Any) -> None:
    response = anon_client.get("/api/v1/performances/?ordering=password")
    assert response.status_code == 400
    assert "ordering" in response.json()["fields"]


# ---------------------------------------------------------------------------- cursor pagination


def test_cursor_pagination_walks_every_record_once(anon_client: Any) -> None:
    created = {str(PersonFactory().pk) for _ in range(7)}
    seen: list[str] = []
    url: str | None = "/api/v1/persons/?page_size=3"
    pages = 0
    while url:
        response = anon_client.get(url)
        assert response.status_code == 200
        body = response.json()
        seen += [row["id"] for row in body["results"]]
        if body["next"]:
            assert f'<{body["next"]}>; rel="next"' in response["Link"]
        url = body["next"]
        pages += 1
    assert pages == 3
    assert sorted(seen) == sorted(created)


@pytest.mark.parametrize("query", ["cursor=garbage", "cursor=%%%", "page_size=abc", "page_size=0", "page_size=-3"])
def test_bad_cursor_or_page_size_is_400(anon_client: Any, query: str) -> None:
    PersonFactory()
    response = anon_client.get(f"/api/v1/persons/?{query}")
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "invalid"
    assert set(body["fields"]) & {"cursor", "page_size"}


def test_page_size_is_capped(anon_client: Any) -> None:
    for _ in range(3):
        PersonFactory()
    assert len(anon_client.get("/api/v1/persons/?page_size=100000").json()["results"]) == 3


# ---------------------------------------------------------------------------- ETags, 304, 410, 404


def test_detail_has_strong_etag_and_if_none_match_gives_304(anon_client: Any) -> None:
    work = WorkFactory()
    response = anon_client.get(f"/api/v1/works/{work.pk}/")
    etag = response["ETag"]
    assert etag == f'"{work.pk}-1"'
    again = anon_client.get(f"/api/v1/works/{work.pk}/", HTTP_IF_NONE_MATCH=etag)
    assert again.status_code == 304
    assert again.content == b""
    assert again["ETag"] == etag
    assert anon_client.get(f"/api/v1/works/{work.pk}/", HTTP_IF_NONE_MATCH=f"W/{etag}").status_code == 304
    work.title = "Nouveau titre"
    work.save()
    changed = anon_client.get(f"/api/v1/works/{work.pk}/", HTTP_IF_NONE_MATCH=etag)
    assert changed.status_code == 200
    assert changed["ETag"] == f'"{work.pk}-2"'


def test_deleted_record_is_410_with_tombstone(anon_client: Any) -> None:
    person = PersonFactory()
    pk = person.pk
    person.delete()
    response = anon_client.get(f"/api/v1/persons/{pk}/")
    assert response.status_code == 410
    body = response.json()
    assert body["error"] == "gone"
    assert body["tombstone"]["op"] == "delete"
    assert body["tombstone"]["uuid"] == str(pk)
    assert body["tombstone"]["id"].endswith(f"/id/person/{pk}")


def test_unknown_record_and_malformed_uuid_are_json_404(anon_client: Any) -> None:
    for path in ("/api/v1/persons/00000000-0000-0000-0000-000000000000/", "/api/v1/persons/nope/"):
        response = anon_client.get(path)
        assert response.status_code == 404
        assert response.json()["error"] == "not_found"


def test_unknown_api_path_is_json_404(client: Any, settings: Any) -> None:
    settings.DEBUG = False
    response = client.get("/api/v1/no-such-collection/")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("application/json")
    assert response.json() == {
        "error": "not_found",
        "detail": "No resource at /api/v1/no-such-collection/.",
        "fields": {},
    }


def test_unsupported_accept_is_406_json(anon_client: Any) -> None:
    response = anon_client.get("/api/v1/persons/", HTTP_ACCEPT="application/xml")
    assert response.status_code == 406
    assert response.json()["error"] == "not_acceptable"
