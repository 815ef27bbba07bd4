"""JSON-LD (schema.org) renderings, parsed by rdflib with the network switched off."""

from __future__ import annotations

import datetime as dt
import json
import socket
import zoneinfo
from typing import Any

import pytest
from rdflib import RDF, XSD, Graph, Literal, Namespace, URIRef

from dataspace.referentials import jsonld
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

SDO = Namespace("https://schema.org/")
SC = Namespace(jsonld.SC)
PARIS = zoneinfo.ZoneInfo("Europe/Paris")
LD = {"HTTP_ACCEPT": "application/ld+json"}


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: Any) -> None:
    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("JSON-LD parsing tried to reach the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def graph_of(response: Any) -> Graph:
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("application/ld+json")
    return Graph().parse(data=response.content.decode(), format="json-ld")


def test_performance_as_schema_org_event(anon_client: Any) -> None:
    season = SeasonFactory(name="Saison 26-27")
    production = ProductionFactory(
        title="Les Bonnes", discipline="theatre", language="fr", duration_minutes=95, minimum_age=12
    )
    work = WorkFactory(title="Les Bonnes (texte)")
    production.works.add(work)
    performance = PerformanceFactory(
        production=production,
        season=season,
        capacity=380,
        accessibility=["sign_language", "wheelchair"],
        ticketing_url="https://billetterie.example/bonnes",
        start=dt.datetime(2026, 10, 2, 20, 30, tzinfo=PARIS),
        same_as=["https://kg.artsdata.ca/resource/K11-1"],
    )
    g = graph_of(anon_client.get(f"/api/v1/performances/{performance.pk}/", **LD))
    event = URIRef(performance.uri)
    assert (event, RDF.type, SDO.TheaterEvent) in g
    start = g.value(event, SDO.startDate)
    assert start.datatype == XSD.dateTime
    assert str(start) == "2026-10-02T20:30:00+02:00"
    assert str(g.value(event, SDO.endDate)) == "2026-10-02T22:05:00+02:00"
    assert g.value(event, SDO.eventStatus) == SDO.EventScheduled
    assert g.value(event, SDO.name) == Literal("Les Bonnes")
    location = g.value(event, SDO.location)
    assert location == URIRef(performance.hall.uri)
    assert (location, RDF.type, SDO.Place) in g
    venue = g.value(location, SDO.containedInPlace)
    assert venue == URIRef(performance.hall.venue.uri)
    assert (venue, RDF.type, SDO.PerformingArtsTheater) in g
    performed = g.value(event, SDO.workPerformed)
    assert performed == URIRef(production.uri)
    assert g.value(performed, SDO.exampleOfWork) == URIRef(work.uri)
    assert g.value(event, SDO.superEvent) == URIRef(season.uri)
    assert g.value(event, SDO.organizer) == URIRef(performance.owner.uri)
    assert g.value(event, SDO.maximumAttendeeCapacity).toPython() == 380
    assert {str(v) for v in g.objects(event, SDO.accessibilityFeature)} == {"signLanguage", "wheelchairAccessible"}
    assert str(g.value(event, SDO.inLanguage)) == "fr"
    assert str(g.value(event, SDO.duration)) == "PT1H35M"
    assert str(g.value(event, SDO.typicalAgeRange)) == "12-"
    offer = g.value(event, SDO.offers)
    assert g.value(offer, SDO.url) == URIRef("https://billetterie.example/bonnes")
    assert g.value(event, SDO.sameAs) == URIRef("https://kg.artsdata.ca/resource/K11-1")
    assert g.value(event, SC.version).toPython() == 1
    assert g.value(event, SC.origin) == URIRef("http://127.0.0.1:8000")
    # https://schema.org/ only: nothing in the http namespace
    assert not any(str(p).startswith("http://schema.org/") for p in g.predicates())


@pytest.mark.parametrize(
    ("discipline", "expected"),
    [
        ("dance", "DanceEvent"),
        ("music", "MusicEvent"),
        ("opera", "MusicEvent"),
        ("puppetry", "TheaterEvent"),
        ("musical", "TheaterEvent"),
        ("circus", "Event"),
        ("street_arts", "Event"),
        ("multidisciplinary", "Event"),
    ],
)
def test_event_type_follows_the_discipline(anon_client: Any, discipline: str, expected: str) -> None:
    performance = PerformanceFactory(production=ProductionFactory(discipline=discipline))
    g = graph_of(anon_client.get(f"/api/v1/performances/{performance.pk}/", **LD))
    assert (URIRef(performance.uri), RDF.type, SDO[expected]) in g


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("scheduled", "EventScheduled"),
        ("cancelled", "EventCancelled"),
        ("postponed", "EventRescheduled"),
        ("moved", "EventRescheduled"),
    ],
)
def test_event_status(anon_client: Any, status: str, expected: str) -> None:
    previous = dt.datetime(2026, 9, 1, 20, tzinfo=PARIS)
    performance = PerformanceFactory(status=status, previous_start=previous if status == "postponed" else None)
    g = graph_of(anon_client.get(f"/api/v1/performances/{performance.pk}/", **LD))
    event = URIRef(performance.uri)
    assert g.value(event, SDO.eventStatus) == SDO[expected]
    if status == "postponed":
        assert str(g.value(event, SDO.previousStartDate)) == "2026-09-01T20:00:00+02:00"


def test_start_date_uses_the_performance_time_zone(anon_client: Any) -> None:
    zone = zoneinfo.ZoneInfo("Indian/Reunion")
    performance = PerformanceFactory(start=dt.datetime(2026, 7, 14, 19, tzinfo=zone), time_zone="Indian/Reunion")
    g = graph_of(anon_client.get(f"/api/v1/performances/{performance.pk}/", **LD))
    assert str(g.value(URIRef(performance.uri), SDO.startDate)) == "2026-07-14T19:00:00+04:00"


def test_collection_is_a_graph_without_options(anon_client: Any, staff_client: Any) -> None:
    public = [PerformanceFactory() for _ in range(3)]
    option = PerformanceFactory(status="option")
    response = anon_client.get("/api/v1/performances/", **LD)
    document = json.loads(response.content)
    assert isinstance(document["@context"], dict)
    assert "@graph" in document
    g = graph_of(response)
    events = set(g.subjects(RDF.type, SDO.TheaterEvent))
    assert events == {URIRef(p.uri) for p in public}
    assert URIRef(option.uri) not in set(g.subjects())
    assert anon_client.get(f"/api/v1/performances/{option.pk}/", **LD).status_code == 404
    staff_graph = graph_of(staff_client.get("/api/v1/performances/", **LD))
    assert URIRef(option.uri) in set(staff_graph.subjects(RDF.type, SDO.TheaterEvent))


def test_format_query_parameter_also_gives_json_ld(anon_client: Any) -> None:
    person = PersonFactory(given_name="Jean", family_name="Genêt-Fictif")
    g = graph_of(anon_client.get(f"/api/v1/persons/{person.pk}/?format=jsonld"))
    assert (URIRef(person.uri), RDF.type, SDO.Person) in g
    assert str(g.value(URIRef(person.uri), SDO.familyName)) == "Genêt-Fictif"


def test_every_type_maps_to_schema_org(anon_client: Any) -> None:
    company = OrganisationFactory(kind="company", siret="73282932000074")
    venue = VenueFactory(venue_type="concert_hall", latitude="45.764043", longitude="4.835659")
    hall = HallFactory(venue=venue, seated_capacity=300, standing_capacity=800)
    sheet = TechnicalSheetFactory(hall=hall)
    work = WorkFactory(genre="opera", year=1875)
    production = ProductionFactory(original_production=ProductionFactory())
    contribution = ContributionFactory(production=production, role="performer", character="Carmen")
    festival = SeasonFactory(kind="festival_edition", organiser=company)
    expectations = [
        ("organisations", company, SDO.PerformingGroup),
        ("venues", venue, SDO.MusicVenue),
        ("halls", hall, SDO.Place),
        ("technical-sheets", sheet, SC.TechnicalSheet),
        ("works", work, SDO.MusicComposition),
        ("productions", production, SDO.CreativeWork),
        ("contributions", contribution, SDO.PerformanceRole),
        ("seasons", festival, SDO.Festival),
    ]
    for plural, record, rdf_type in expectations:
        g = graph_of(anon_client.get(f"/api/v1/{plural}/{record.pk}/", **LD))
        assert (URIRef(record.uri), RDF.type, rdf_type) in g, plural
    g = graph_of(anon_client.get(f"/api/v1/halls/{hall.pk}/", **LD))
    assert g.value(URIRef(hall.uri), SDO.containedInPlace) == URIRef(venue.uri)
    assert g.value(URIRef(hall.uri), SDO.maximumAttendeeCapacity).toPython() == 800
    g = graph_of(anon_client.get(f"/api/v1/productions/{production.pk}/", **LD))
    assert g.value(URIRef(production.uri), SDO.isBasedOn) == URIRef(production.original_production.uri)
    role = g.value(URIRef(production.uri), SDO.contributor)
    assert str(g.value(role, SDO.characterName)) == "Carmen"
    g = graph_of(anon_client.get(f"/api/v1/seasons/{festival.pk}/", **LD))
    assert g.value(URIRef(festival.uri), SDO.startDate).datatype == XSD.date
    g = graph_of(anon_client.get(f"/api/v1/technical-sheets/{sheet.pk}/", **LD))
    assert g.value(URIRef(sheet.uri), SC.height_under_grid_m).toPython() == pytest.approx(14)


def test_context_document_is_served_and_matches_the_inlined_one(client: Any) -> None:
    response = client.get("/api/v1/context.jsonld", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/ld+json")
    document = json.loads(response.content)
    assert document == {"@context": jsonld.CONTEXT}
    assert document["@context"]["@vocab"] == "https://schema.org/"
    assert document["@context"]["sc"] == jsonld.SC


def test_errors_stay_json_under_json_ld(anon_client: Any) -> None:
    response = anon_client.get("/api/v1/performances/?start__gte=nope", **LD)
    assert response.status_code == 400
    assert response["Content-Type"].startswith("application/json")
    assert "start__gte" in response.json()["fields"]


def test_iso_duration() -> None:
    assert jsonld.iso_duration(90) == "PT1H30M"
    assert jsonld.iso_duration(45) == "PT45M"
    assert jsonld.iso_duration(120) == "PT2H"
    assert jsonld.iso_duration(None) is None


def test_performance_node_function_is_usable_without_http() -> None:
    performance = PerformanceFactory(status=m.Performance.Status.CANCELLED)
    node = jsonld.performance_node(performance)
    assert node["@id"] == performance.uri
    assert node["eventStatus"] == "EventCancelled"
