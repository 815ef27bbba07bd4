"""schema.org JSON-LD of the referentials (DOMAIN.md, "The data model").

Every document inlines its `@context` (`CONTEXT`, also served at `/api/v1/context.jsonld`), so
reading a record never requires fetching anything: `@vocab` is `https://schema.org/` (always
https), `xsd:` is XML Schema and `sc:` is the namespace of the Scène Commune terms schema.org
lacks (`sc:version`, `sc:origin`, `sc:owner`, technical-sheet measures…).

Type choices (one function per record type below):

- Performance, by its production's discipline: theatre, musical, puppetry → `TheaterEvent`;
  dance → `DanceEvent`; music and opera → `MusicEvent` (schema.org has no opera event; opera is
  staged music); circus, street arts, multidisciplinary → `Event` (no schema.org subtype fits and
  calling them theatre would mislead agendas).
- Production → `CreativeWork` plus `sc:Production`: a staging is a creative work, realised from its
  works (`exampleOfWork`), based on its original for a revival (`isBasedOn`); the run itself is
  the set of performances pointing to it with `workPerformed`.
- Work → `Play` (play), `MusicComposition` (opera, music), else `CreativeWork`.
- Venue → `PerformingArtsTheater` (theatre, opera house), `MusicVenue` (concert hall, music club),
  else `Place`. Hall → `Place`, `containedInPlace` its venue.
- Organisation → `PerformingGroup` for a company, else `Organization`. Person → `Person`.
- Contribution → `PerformanceRole` for a performer (with `characterName`), else `Role` (the
  schema.org role pattern). Season → `Festival` for a festival edition, else `EventSeries`.
- Technical sheet → `sc:TechnicalSheet`, `about` its hall.

Event status: scheduled → `EventScheduled`, cancelled → `EventCancelled`; postponed and moved →
`EventRescheduled` with `previousStartDate` (a postponed performance here always has its new
date; `EventPostponed` means "no new date yet", `EventMovedOnline` means online — neither fits).
Performances under option are never rendered (the views never select them for outsiders).
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
import zoneinfo
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Any

from django.db import models

from dataspace.records.models import Record
from dataspace.referentials.models import (
    Contribution,
    Discipline,
    Hall,
    Organisation,
    Performance,
    Person,
    Production,
    Season,
    TechnicalSheet,
    Venue,
    Work,
)

SCHEMA = "https://schema.org/"
SC = "https://scene-commune.fr/ns#"
XSD = "http://www.w3.org/2001/XMLSchema#"

Node = dict[str, Any]

#: The JSON-LD context of every document (inlined) and of /api/v1/context.jsonld.
CONTEXT: dict[str, Any] = {
    "@vocab": SCHEMA,
    "schema": SCHEMA,
    "xsd": XSD,
    "sc": SC,
    "sameAs": {"@id": "schema:sameAs", "@type": "@id"},
    "url": {"@id": "schema:url", "@type": "@id"},
    "eventStatus": {"@id": "schema:eventStatus", "@type": "@vocab"},
    "eventAttendanceMode": {"@id": "schema:eventAttendanceMode", "@type": "@vocab"},
    "startDate": {"@id": "schema:startDate", "@type": "xsd:dateTime"},
    "endDate": {"@id": "schema:endDate", "@type": "xsd:dateTime"},
    "previousStartDate": {"@id": "schema:previousStartDate", "@type": "xsd:dateTime"},
    "duration": {"@id": "schema:duration", "@type": "xsd:duration"},
    "sc:version": {"@type": "xsd:integer"},
    "sc:updatedAt": {"@type": "xsd:dateTime"},
    "sc:origin": {"@type": "@id"},
    "sc:owner": {"@type": "@id"},
    "sc:operator": {"@type": "@id"},
    "sc:technicalSheet": {"@type": "@id"},
    "sc:production": {"@type": "@id"},
    "sc:work": {"@type": "@id"},
    "sc:coproducer": {"@type": "@id"},
}

EVENT_TYPES: dict[str, str] = {
    Discipline.THEATRE: "TheaterEvent",
    Discipline.MUSICAL: "TheaterEvent",
    Discipline.PUPPETRY: "TheaterEvent",
    Discipline.DANCE: "DanceEvent",
    Discipline.MUSIC: "MusicEvent",
    Discipline.OPERA: "MusicEvent",
    Discipline.CIRCUS: "Event",
    Discipline.STREET_ARTS: "Event",
    Discipline.MULTIDISCIPLINARY: "Event",
}
EVENT_STATUSES: dict[str, str] = {
    Performance.Status.SCHEDULED: "EventScheduled",
    Performance.Status.CANCELLED: "EventCancelled",
    Performance.Status.POSTPONED: "EventRescheduled",
    Performance.Status.MOVED: "EventRescheduled",
    Performance.Status.OPTION: "EventScheduled",  # never rendered outside the node's staff
}
#: Our accessibility values as schema.org `accessibilityFeature` terms (W3C WebSchemas vocabulary
#: where one exists, else an explicit term of ours).
ACCESSIBILITY_FEATURES: dict[str, str] = {
    Performance.Accessibility.WHEELCHAIR: "wheelchairAccessible",
    Performance.Accessibility.LSF: "signLanguage",
    Performance.Accessibility.AUDIO_DESCRIPTION: "audioDescription",
    Performance.Accessibility.SURTITLES: "openCaptions",
    Performance.Accessibility.INDUCTION_LOOP: "inductionLoop",
    Performance.Accessibility.RELAXED: "relaxedPerformance",
    Performance.Accessibility.EASY_READ: "easyRead",
}
VENUE_TYPES: dict[str, str] = {
    Venue.VenueType.THEATRE: "PerformingArtsTheater",
    Venue.VenueType.OPERA_HOUSE: "PerformingArtsTheater",
    Venue.VenueType.CONCERT_HALL: "MusicVenue",
    Venue.VenueType.MUSIC_CLUB: "MusicVenue",
}
WORK_TYPES: dict[str, str] = {
    Work.Genre.PLAY: "Play",
    Work.Genre.OPERA: "MusicComposition",
    Work.Genre.MUSIC: "MusicComposition",
}


# ---------------------------------------------------------------------------- helpers


def _compact(node: Node) -> Node:
    """Drop members without a value (None, "", [], {}), keep 0 and False."""
    return {key: value for key, value in node.items() if value not in (None, "", [], {})}


def _typed(value: Any, datatype: str) -> Node | None:
    return None if value is None else {"@value": str(value), "@type": datatype}


def iso_duration(minutes: int | None) -> str | None:
    """ISO 8601 duration of a number of minutes, e.g. 90 → PT1H30M."""
    if not minutes:
        return None
    hours, rest = divmod(int(minutes), 60)
    return "PT" + (f"{hours}H" if hours else "") + (f"{rest}M" if rest else "")


def local_iso(moment: dt.datetime | None, time_zone: str) -> str | None:
    """An aware datetime as ISO 8601 with the offset of the given IANA zone."""
    if moment is None:
        return None
    return moment.astimezone(zoneinfo.ZoneInfo(time_zone)).isoformat()


def _decimal(value: Decimal | None) -> Node | None:
    return _typed(value, "xsd:decimal")


def _record(record: Record, types: str | list[str]) -> Node:
    """Members every record carries: identity, external identifiers and provenance."""
    owner = getattr(record, "owner", None)
    return {
        "@id": record.uri,
        "@type": types,
        "sameAs": list(record.same_as or []),
        "sc:version": record.version,
        "sc:origin": record.origin,
        "sc:owner": owner.uri if owner is not None else None,
        "sc:updatedAt": record.updated_at.isoformat() if record.updated_at else None,
    }


def _address(*, street: str = "", postal_code: str = "", city: str = "", region: str = "", country: str = "") -> Node:
    return (
        _compact(
            {
                "@type": "PostalAddress",
                "streetAddress": street,
                "postalCode": postal_code,
                "addressLocality": city,
                "addressRegion": region,
                "addressCountry": country,
            }
        )
        if (street or postal_code or city or region)
        else {}
    )


def organisation_ref(organisation: Organisation | None) -> Node | None:
    if organisation is None:
        return None
    kind = "PerformingGroup" if organisation.kind == Organisation.Kind.COMPANY else "Organization"
    return {"@id": organisation.uri, "@type": kind, "name": organisation.name}


def venue_ref(venue: Venue) -> Node:
    return _compact(
        {
            "@id": venue.uri,
            "@type": VENUE_TYPES.get(venue.venue_type, "Place"),
            "name": venue.name,
            "address": _address(
                street=venue.street_address,
                postal_code=venue.postal_code,
                city=venue.city,
                region=venue.region,
                country=venue.country,
            ),
        }
    )


def hall_ref(hall: Hall) -> Node:
    return {"@id": hall.uri, "@type": "Place", "name": hall.name, "containedInPlace": venue_ref(hall.venue)}


def work_ref(work: Work) -> Node:
    return {"@id": work.uri, "@type": WORK_TYPES.get(work.genre, "CreativeWork"), "name": work.title}


def production_ref(production: Production) -> Node:
    return _compact(
        {
            "@id": production.uri,
            "@type": ["CreativeWork", "sc:Production"],
            "name": production.title,
            "exampleOfWork": [work_ref(work) for work in production.works.all()],
        }
    )


def season_ref(season: Season | None) -> Node | None:
    if season is None:
        return None
    kind = "Festival" if season.kind == Season.Kind.FESTIVAL else "EventSeries"
    return {"@id": season.uri, "@type": kind, "name": season.name}


def person_ref(person: Person) -> Node:
    return {"@id": person.uri, "@type": "Person", "name": person.name}


def _role(contribution: Contribution) -> Node:
    performer = contribution.role == Contribution.Role.PERFORMER
    return _compact(
        {
            "@type": "PerformanceRole" if performer else "Role",
            "roleName": contribution.role,
            "characterName": contribution.character if performer else None,
            "contributor": person_ref(contribution.person),
        }
    )


# ---------------------------------------------------------------------------- one function per type


def performance_node(performance: Performance) -> Node:
    production = performance.production
    node = _record(performance, EVENT_TYPES.get(production.discipline, "Event"))
    end = None
    if production.duration_minutes:
        end = performance.start + dt.timedelta(minutes=production.duration_minutes)
    node.update(
        {
            "name": production.title,
            "startDate": local_iso(performance.start, performance.time_zone),
            "endDate": local_iso(end, performance.time_zone),
            "previousStartDate": local_iso(performance.previous_start, performance.time_zone),
            "eventStatus": EVENT_STATUSES[performance.status],
            "eventAttendanceMode": "OfflineEventAttendanceMode",
            "location": hall_ref(performance.hall),
            "workPerformed": production_ref(production),
            "superEvent": season_ref(performance.season),
            "organizer": organisation_ref(performance.owner),
            "maximumAttendeeCapacity": performance.capacity,
            "accessibilityFeature": [
                ACCESSIBILITY_FEATURES.get(value, value) for value in performance.accessibility or []
            ],
            "inLanguage": production.language,
            "duration": iso_duration(production.duration_minutes),
            "typicalAgeRange": f"{production.minimum_age}-" if production.minimum_age else None,
            "offers": {"@type": "Offer", "url": performance.ticketing_url} if performance.ticketing_url else None,
            "sc:timeZone": performance.time_zone,
        }
    )
    return _compact(node)


def production_node(production: Production) -> Node:
    node = _record(production, ["CreativeWork", "sc:Production"])
    audience = _compact(
        {
            "@type": "PeopleAudience",
            "audienceType": production.audience,
            "suggestedMinAge": production.minimum_age,
        }
    )
    node.update(
        {
            "name": production.title,
            "genre": production.discipline,
            "exampleOfWork": [work_ref(work) for work in production.works.all()],
            "producer": organisation_ref(production.producer),
            "sc:coproducer": [organisation.uri for organisation in production.coproducers.all()],
            "isBasedOn": {"@id": production.original_production.uri} if production.original_production else None,
            "inLanguage": production.language,
            "duration": iso_duration(production.duration_minutes),
            "audience": audience,
            "dateCreated": _typed(production.premiere_date, "xsd:date"),
            "description": production.description,
            "contributor": [_role(contribution) for contribution in production.contributions.all()],
            "subjectOf": {"@id": production.technical_rider_url} if production.technical_rider_url else None,
        }
    )
    return _compact(node)


def work_node(work: Work) -> Node:
    node = _record(work, WORK_TYPES.get(work.genre, "CreativeWork"))
    node.update(
        {
            "name": work.title,
            "alternateName": work.original_title,
            "genre": work.genre,
            "dateCreated": _typed(work.year, "xsd:gYear"),
            "duration": iso_duration(work.duration_minutes),
            "inLanguage": work.language,
            "description": work.description,
            "contributor": [_role(contribution) for contribution in work.contributions.all()],
        }
    )
    return _compact(node)


def venue_node(venue: Venue) -> Node:
    node = _record(venue, VENUE_TYPES.get(venue.venue_type, "Place"))
    geo = None
    if venue.latitude is not None and venue.longitude is not None:
        geo = {"@type": "GeoCoordinates", "latitude": _decimal(venue.latitude), "longitude": _decimal(venue.longitude)}
    node.update(
        {
            "name": venue.name,
            "address": _address(
                street=venue.street_address,
                postal_code=venue.postal_code,
                city=venue.city,
                region=venue.region,
                country=venue.country,
            ),
            "geo": geo,
            "url": venue.website,
            "containsPlace": [{"@id": hall.uri, "@type": "Place", "name": hall.name} for hall in venue.halls.all()],
            "sc:venueType": venue.venue_type,
            "sc:operator": venue.operator.uri if venue.operator else None,
            "sc:siret": venue.siret,
            "sc:departement": venue.departement,
        }
    )
    return _compact(node)


def hall_node(hall: Hall) -> Node:
    node = _record(hall, "Place")
    capacities = [c for c in (hall.seated_capacity, hall.standing_capacity) if c is not None]
    sheet = getattr(hall, "technical_sheet", None) if _has_sheet(hall) else None
    node.update(
        {
            "name": hall.name,
            "containedInPlace": venue_ref(hall.venue),
            "maximumAttendeeCapacity": max(capacities) if capacities else None,
            "sc:seatedCapacity": hall.seated_capacity,
            "sc:standingCapacity": hall.standing_capacity,
            "sc:wheelchairPlaces": hall.wheelchair_places,
            "sc:technicalSheet": sheet.uri if sheet is not None else None,
        }
    )
    return _compact(node)


def _has_sheet(hall: Hall) -> bool:
    try:
        hall.technical_sheet  # noqa: B018  (reverse one-to-one: raises when absent)
    except TechnicalSheet.DoesNotExist:
        return False
    return True


def technical_sheet_node(sheet: TechnicalSheet) -> Node:
    node = _record(sheet, "sc:TechnicalSheet")
    node["about"] = {"@id": sheet.hall.uri, "@type": "Place", "name": sheet.hall.name}
    for name in TechnicalSheet.TRACKED_FIELDS:
        field = TechnicalSheet._meta.get_field(name)
        value = getattr(sheet, name)
        if isinstance(field, models.DecimalField):
            value = _decimal(value)
        elif name == "documents":
            value = [
                _compact({"@type": "DigitalDocument", "name": doc.get("title"), "url": doc.get("url")})
                for doc in value or []
                if isinstance(doc, dict)
            ]
        node[f"sc:{name}"] = value
    return _compact(node)


def organisation_node(organisation: Organisation) -> Node:
    node = _record(organisation, organisation_ref(organisation)["@type"])  # type: ignore[index]
    node.update(
        {
            "name": organisation.name,
            "legalName": organisation.legal_name,
            "url": organisation.website,
            "address": _address(
                postal_code=organisation.postal_code, city=organisation.city, region=organisation.region, country="FR"
            ),
            "sc:kind": organisation.kind,
            "sc:siret": organisation.siret,
            "sc:siren": organisation.siren,
            "sc:legalStatus": organisation.legal_status,
            "sc:label": organisation.label,
            "sc:discipline": list(organisation.disciplines or []),
        }
    )
    return _compact(node)


def person_node(person: Person) -> Node:
    node = _record(person, "Person")
    node.update({"name": person.name, "givenName": person.given_name, "familyName": person.family_name})
    return _compact(node)


def contribution_node(contribution: Contribution) -> Node:
    node = _record(contribution, "PerformanceRole" if contribution.role == Contribution.Role.PERFORMER else "Role")
    node.update(
        {
            "roleName": contribution.role,
            "characterName": contribution.character if contribution.role == Contribution.Role.PERFORMER else None,
            "contributor": person_ref(contribution.person),
            "sc:roleLabel": contribution.role_label,
            "sc:production": contribution.production.uri if contribution.production else None,
            "sc:work": contribution.work.uri if contribution.work else None,
            "sc:position": contribution.position,
        }
    )
    return _compact(node)


def season_node(season: Season) -> Node:
    node = _record(season, "Festival" if season.kind == Season.Kind.FESTIVAL else "EventSeries")
    node.update(
        {
            "name": season.name,
            "startDate": _typed(season.start_date, "xsd:date"),
            "endDate": _typed(season.end_date, "xsd:date"),
            "organizer": organisation_ref(season.organiser or season.owner),
            "sc:edition": season.edition,
        }
    )
    return _compact(node)


NODE_BUILDERS: dict[type[Record], Callable[[Any], Node]] = {
    Performance: performance_node,
    Production: production_node,
    Work: work_node,
    Venue: venue_node,
    Hall: hall_node,
    TechnicalSheet: technical_sheet_node,
    Organisation: organisation_node,
    Person: person_node,
    Contribution: contribution_node,
    Season: season_node,
}


def record_node(record: Record) -> Node:
    return NODE_BUILDERS[type(record)](record)


def record_document(record: Record) -> Node:
    """One record as a standalone JSON-LD document (context inlined)."""
    return {"@context": CONTEXT, **record_node(record)}


def graph_document(records: Iterable[Record]) -> Node:
    """A collection (one page of it) as a JSON-LD document with `@graph`."""
    return {"@context": CONTEXT, "@graph": [record_node(record) for record in records]}


def context_document() -> Node:
    return {"@context": CONTEXT}


# ---------------------------------------------------------------------------- embedded records

_RECORD_URI = re.compile(r"/id/(?P<type>[a-z_]+)/(?P<id>[0-9a-fA-F-]{32,36})/?$")
#: Members of a performance node that come from its production: withheld with the production.
PRODUCTION_MEMBERS = ("name", "endDate", "inLanguage", "duration", "typicalAgeRange")


def _top_nodes(document: Node) -> list[Node]:
    graph = document.get("@graph")
    return [node for node in graph if isinstance(node, dict)] if isinstance(graph, list) else [document]


def _nested(value: Any) -> Iterable[Node]:
    """The embedded record nodes under `value` (a node with an `@id` and more), outermost first."""
    if isinstance(value, list):
        for item in value:
            yield from _nested(item)
    elif isinstance(value, dict):
        if "@id" in value and len(value) > 1 and isinstance(value["@id"], str):
            yield value
        for member in value.values():
            yield from _nested(member)


def embedded_records(document: Node) -> dict[str, tuple[str, uuid.UUID]]:
    """URI → (record type, id) of every other record a document embeds (names, addresses…)."""
    found: dict[str, tuple[str, uuid.UUID]] = {}
    for top in _top_nodes(document):
        for name, member in top.items():
            if name == "@context":
                continue
            for node in _nested(member):
                match = _RECORD_URI.search(node["@id"])
                if match is not None:
                    found[node["@id"]] = (match.group("type"), uuid.UUID(match.group("id")))
    return found


def _withhold_in(value: Any, withheld: set[str], dropped: set[str]) -> Any:
    if isinstance(value, list):
        kept = [item for item in value if not (isinstance(item, dict) and item.get("@id") in dropped)]
        return [_withhold_in(item, withheld, dropped) for item in kept]
    if isinstance(value, dict):
        if value.get("@id") in withheld:
            return {"@id": value["@id"]}
        return {name: _withhold_in(member, withheld, dropped) for name, member in value.items()}
    return value


def withhold(document: Node, withheld: set[str], dropped: set[str] | None = None) -> Node:
    """The document with each embedded record of `withheld` (URIs) reduced to its `@id`, as the
    JSON rendering gives only the related record's UUID, and the records of `dropped` (hidden
    from the caller) left out of lists; a performance whose production is withheld loses the
    members it takes from it (`PRODUCTION_MEMBERS`)."""
    hidden = dropped or set()
    withheld = withheld | hidden
    if not withheld:
        return document

    def top(node: Node) -> Node:
        work = node.get("workPerformed")
        trimmed = {
            name: member
            for name, member in node.items()
            if not (isinstance(work, dict) and work.get("@id") in withheld and name in PRODUCTION_MEMBERS)
        }
        return {
            name: member if name == "@context" else _withhold_in(member, withheld, hidden)
            for name, member in trimmed.items()
        }

    graph = document.get("@graph")
    if isinstance(graph, list):
        return {**document, "@graph": [top(node) if isinstance(node, dict) else node for node in graph]}
    return top(document)
