"""Search facets of a replicated record: what `IndexedRecord`'s columns hold, from the representation.

`facets(record_type, data, related=None)` reads one record's representation exactly as the change
feed serves it (`/api/v1/changes`: `dataspace.referentials.api.serializers`, the consent-built
`dataspace.directory.api.entry_serializers`, the plain form of policies) and returns the facet
columns of `IndexedRecord` plus `availability` (a directory entry's published windows). It is a
pure function: what it needs from other records (a performance's production and venue, a
production's producer, an owner's name) comes in `related`, which `federation.replication`
gathers for a whole page in a couple of queries.

Columns (all types: `title`, `text`, `tags`, `dedupe_key`; the others where they make sense):

=================  ===========================================================================
record type        facets
=================  ===========================================================================
directory-entry    title = display name; region; tags ``|trade:<code>|``, ``|lang:<code>|``;
                   text = the directory's own tokens (``name=``, ``trade=``, ``tradelabel=``,
                   ``skill=``, ``lang=``, ``region=``, ``avail``) of the published fields only
                   (the representation holds nothing else); availability windows.
organisation       title = name; region, departement; discipline = first discipline;
                   tags ``|kind:<kind>|``, ``|discipline:<code>|``…; text: name, legal name,
                   label, city, SIRET.
venue              title = name; region, departement; tags ``|venue_type:<type>|``; text: name,
                   city, address.
hall               title = "<venue> — <hall>"; parent_uri = venue; region, departement (venue);
                   capacity = the largest of seated, standing and configuration capacities;
                   the four stage dimensions of its technical sheet (when known).
technical-sheet    parent_uri = hall; region, departement (venue); the four stage dimensions.
production         title; discipline; tags ``|discipline:<code>|``, ``|audience:<code>|``;
                   dedupe_key (below); text: title, description, producer's name.
performance        title = its production's title; parent_uri = production, place_uri = hall;
                   starts_at = ends_at = start; capacity; discipline (production); region,
                   departement (venue); tags ``|status:<status>|``, ``|venue:<venue uri>|``,
                   ``|access:<code>|``…
season             title = name; starts_at / ends_at = its first and last day (node time zone).
person, work,      title and text from their names; contribution: parent_uri = production (or
contribution       work), place_uri = person.
policy             title; parent_uri = the record it overrides (a dataset policy: none);
                   tags ``|dataset:<type>|`` and ``|inactive|`` for a policy switched off.
=================  ===========================================================================

* `text` is folded like the directory's search index (`dataspace.directory.vocabulary.fold`:
  NFKD, no accents, case-folded): ``|key=value|key=value|``. A free-text word matches with
  ``text__contains=fold(word)``; an exact value with ``text__contains="|key=value|"``.
* `tags` are ``|name:code|`` members; test one with ``tags__contains=tag("trade", "machiniste")``.
* `dedupe_key` of a production: ``"production:" + folded title + "|" + producer identity`` where
  the identity is ``siret:<SIRET>`` when the producer's SIRET is known (the producer organisation
  replicated from the same origin), else the producer's URI, else the production's own URI (a
  production without a producer is never merged with another). Other types: "".

Tombstones: a deleted record stays in the index as a marker (`data == {}`, `expires_at` set to
the deletion's instant) so that an older upsert arriving later cannot bring it back.
`visible_q(now)` is the filter every search applies: not a marker, not past its expiry.
"""

from __future__ import annotations

import datetime as dt
import decimal
import re
import uuid
import zoneinfo
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db.models import Q
from django.utils.dateparse import parse_date, parse_datetime

from dataspace.directory.vocabulary import Trade, fold

#: The facet columns `facets()` fills (besides `availability`).
FACET_COLUMNS: tuple[str, ...] = (
    "title",
    "text",
    "region",
    "departement",
    "discipline",
    "tags",
    "starts_at",
    "ends_at",
    "parent_uri",
    "place_uri",
    "capacity",
    "proscenium_opening_m",
    "height_under_grid_m",
    "stage_width_m",
    "stage_depth_m",
    "dedupe_key",
)
#: The stage dimensions of a technical sheet (metres) that halls carry too.
DIMENSIONS: tuple[str, ...] = ("proscenium_opening_m", "height_under_grid_m", "stage_width_m", "stage_depth_m")
#: Longest text kept from one free-text field (a description), folded.
MAX_FIELD_TEXT = 2000
_MAX_DECIMAL = decimal.Decimal("9999.99")
_TITLE_LENGTH = 300
_NON_WORD = re.compile(r"[^\w]+", re.UNICODE)


# ---------------------------------------------------------------------------- helpers for searches


def tag(name: str, code: str) -> str:
    """One member of `tags`, delimiters included: ``tags__contains=tag("trade", "machiniste")``."""
    return f"|{name}:{code}|"


def token(key: str, value: str) -> str:
    """One member of `text`, delimiters included: ``text__contains=token("trade", "machiniste")``."""
    return f"|{key}={fold(value).replace('|', ' ')}|"


def visible_q(now: dt.datetime) -> Q:
    """Index rows a search may show: not a tombstone marker, not past their expiry (a consent's)."""
    return Q(expires_at__isnull=True) | Q(expires_at__gt=now)


def record_uri(origin: str, record_type: str, record_id: Any) -> str:
    """The global URI of a record of `origin` (DESIGN.md §3)."""
    return f"{origin.rstrip('/')}/id/{record_type}/{record_id}"


def origin_of(data: Mapping[str, Any]) -> str:
    """The origin node of a representation: its `origin`, else what its `uri` says."""
    origin = data.get("origin")
    if isinstance(origin, str) and origin:
        return origin.rstrip("/")
    uri = data.get("uri")
    if isinstance(uri, str) and "/id/" in uri:
        return uri.rsplit("/id/", 1)[0]
    return ""


def title_key(title: str) -> str:
    """A title folded for comparison: no accents, no case, punctuation as spaces (« L’Avare » = "l avare")."""
    return " ".join(_NON_WORD.sub(" ", fold(title).replace("_", " ")).split())


# ---------------------------------------------------------------------------- what other records tell


@dataclass(frozen=True)
class OrganisationFacts:
    name: str = ""
    siret: str = ""


@dataclass(frozen=True)
class VenueFacts:
    name: str = ""
    city: str = ""
    region: str = ""
    departement: str = ""


@dataclass(frozen=True)
class ProductionFacts:
    title: str = ""
    discipline: str = ""


@dataclass
class Related:
    """Facts of other records of the same origin, by UUID (string), that facets may use, and that
    origin (the node the record was replicated from; "": what the representation says)."""

    origin: str = ""
    organisations: dict[str, OrganisationFacts] = field(default_factory=dict)
    venues: dict[str, VenueFacts] = field(default_factory=dict)
    productions: dict[str, ProductionFacts] = field(default_factory=dict)
    #: Technical sheet UUID → its stage dimensions.
    sheets: dict[str, dict[str, decimal.Decimal | None]] = field(default_factory=dict)


# ---------------------------------------------------------------------------- value parsing


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def _uuid(value: Any) -> str:
    if value is None or value == "":
        return ""
    try:
        return str(uuid.UUID(str(value)))
    except (ValueError, AttributeError, TypeError):
        return ""


def _int(value: Any) -> int | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return number if 0 <= number <= 2_147_483_647 else None


def _decimal(value: Any) -> decimal.Decimal | None:
    if value is None or value == "" or isinstance(value, bool):
        return None
    try:
        number = decimal.Decimal(str(value)).quantize(decimal.Decimal("0.01"))
    except (decimal.InvalidOperation, ValueError):
        return None
    return number if 0 <= number <= _MAX_DECIMAL else None


def _zone() -> dt.tzinfo:
    return zoneinfo.ZoneInfo(str(getattr(settings, "NODE_TIME_ZONE", "Europe/Paris")))


def _datetime(value: Any) -> dt.datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = parse_datetime(value)
    except ValueError:
        return None
    if moment is None:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=_zone())


def _day_bound(value: Any, *, end: bool) -> dt.datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        day = parse_date(value[:10])
    except ValueError:
        return None
    if day is None:
        return None
    moment = dt.datetime.combine(day, dt.time.max if end else dt.time.min)
    return moment.replace(tzinfo=_zone())


def _strings(value: Any) -> list[str]:
    if not isinstance(value, (list, tuple)):
        return []
    return [str(item).strip() for item in value if isinstance(item, (str, int)) and str(item).strip()]


def _tags(pairs: Iterable[tuple[str, str]]) -> str:
    members = list(dict.fromkeys(f"{name}:{code}".replace("|", " ") for name, code in pairs if code))
    return "|" + "|".join(members) + "|" if members else ""


def _text_tokens(pairs: Iterable[tuple[str, Any]]) -> str:
    members: list[str] = []
    for key, value in pairs:
        if value is None or value == "":
            continue
        folded = fold(str(value)[:MAX_FIELD_TEXT]).replace("|", " ")
        if folded:
            members.append(f"{key}={folded}")
    members = list(dict.fromkeys(members))
    return "|" + "|".join(members) + "|" if members else ""


def _title(value: Any) -> str:
    return _text(value)[:_TITLE_LENGTH]


def _empty() -> dict[str, Any]:
    columns: dict[str, Any] = dict.fromkeys(FACET_COLUMNS, "")
    for name in ("starts_at", "ends_at", "capacity", *DIMENSIONS):
        columns[name] = None
    columns["availability"] = []
    return columns


# ---------------------------------------------------------------------------- per record type


def _directory_entry(data: Mapping[str, Any], columns: dict[str, Any], related: Related) -> None:
    """The tokens of `dataspace.directory.entries.build_search_index`, from the representation."""
    labels = {str(code): str(label) for code, label in Trade.choices}
    name = _text(data.get("display_name"))
    trades = _strings(data.get("trades"))
    skills = _strings(data.get("skills"))
    languages = [code.lower() for code in _strings(data.get("languages"))]
    region = _text(data.get("region"))
    windows = availability_windows(data.get("availability"))
    pairs: list[tuple[str, Any]] = [("name", name)]
    for code in trades:
        pairs.append(("trade", code))
        if code in labels:
            pairs.append(("tradelabel", labels[code]))
    pairs += [("skill", skill) for skill in skills]
    pairs += [("lang", code) for code in languages]
    pairs.append(("region", region))
    text = _text_tokens(pairs)
    if windows:
        text = (text or "|") + "avail|"
    columns.update(
        title=_title(name),
        text=text,
        region=region[:100],
        tags=_tags([*(("trade", code) for code in trades), *(("lang", code) for code in languages)]),
        availability=windows,
    )


def _organisation(data: Mapping[str, Any], columns: dict[str, Any], related: Related) -> None:
    disciplines = _strings(data.get("disciplines"))
    name = _text(data.get("name"))
    columns.update(
        title=_title(name),
        region=_text(data.get("region"))[:100],
        departement=_text(data.get("departement"))[:3],
        discipline=(disciplines[0] if disciplines else "")[:40],
        tags=_tags([("kind", _text(data.get("kind"))), *(("discipline", code) for code in disciplines)]),
        text=_text_tokens(
            [
                ("name", name),
                ("legal_name", data.get("legal_name")),
                ("label", data.get("label")),
                ("city", data.get("city")),
                ("siret", data.get("siret")),
            ]
        ),
    )


def _venue(data: Mapping[str, Any], columns: dict[str, Any], related: Related) -> None:
    name = _text(data.get("name"))
    columns.update(
        title=_title(name),
        region=_text(data.get("region"))[:100],
        departement=_text(data.get("departement"))[:3],
        tags=_tags([("venue_type", _text(data.get("venue_type")))]),
        text=_text_tokens(
            [
                ("name", name),
                ("city", data.get("city")),
                ("address", data.get("street_address")),
                ("postal_code", data.get("postal_code")),
                ("siret", data.get("siret")),
            ]
        ),
    )


def _venue_columns(origin: str, venue_id: str, related: Related) -> dict[str, Any]:
    venue = related.venues.get(venue_id, VenueFacts())
    return {
        "parent_uri": record_uri(origin, "venue", venue_id) if venue_id else "",
        "region": venue.region[:100],
        "departement": venue.departement[:3],
    }


def _capacity(data: Mapping[str, Any]) -> int | None:
    values = [_int(data.get("seated_capacity")), _int(data.get("standing_capacity"))]
    configurations = data.get("configurations")
    if isinstance(configurations, list):
        values += [_int(item.get("capacity")) for item in configurations if isinstance(item, Mapping)]
    known = [value for value in values if value is not None]
    return max(known) if known else None


def _hall(data: Mapping[str, Any], columns: dict[str, Any], related: Related) -> None:
    origin = related.origin or origin_of(data)
    venue_id = _uuid(data.get("venue"))
    venue = related.venues.get(venue_id, VenueFacts())
    name = _text(data.get("name"))
    columns.update(_venue_columns(origin, venue_id, related))
    columns.update(
        title=_title(f"{venue.name} — {name}" if venue.name else name),
        capacity=_capacity(data),
        text=_text_tokens([("name", name), ("venue", venue.name), ("city", venue.city)]),
        tags=_tags([("venue", columns["parent_uri"])]),
    )
    dimensions = related.sheets.get(_uuid(data.get("technical_sheet")), {})
    columns.update({name: dimensions.get(name) for name in DIMENSIONS})


def sheet_dimensions(data: Mapping[str, Any]) -> dict[str, decimal.Decimal | None]:
    """The four stage dimensions of a technical sheet's representation (metres, None: unknown)."""
    return {name: _decimal(data.get(name)) for name in DIMENSIONS}


def _technical_sheet(data: Mapping[str, Any], columns: dict[str, Any], related: Related) -> None:
    origin = related.origin or origin_of(data)
    venue_id = _uuid(data.get("venue"))
    hall_id = _uuid(data.get("hall"))
    venue = related.venues.get(venue_id, VenueFacts())
    venue_columns = _venue_columns(origin, venue_id, related)
    columns.update(
        title=_title(venue.name),
        region=venue_columns["region"],
        departement=venue_columns["departement"],
        parent_uri=record_uri(origin, "hall", hall_id) if hall_id else "",
        place_uri=venue_columns["parent_uri"],
        text=_text_tokens([("venue", venue.name), ("city", venue.city), ("floor", data.get("floor"))]),
        **sheet_dimensions(data),
    )


def _producer_identity(data: Mapping[str, Any], related: Related) -> str:
    origin = related.origin or origin_of(data)
    producer = _uuid(data.get("producer"))
    if producer:
        siret = related.organisations.get(producer, OrganisationFacts()).siret
        return f"siret:{siret}" if siret else record_uri(origin, "organisation", producer)
    return _text(data.get("uri")) or record_uri(origin, "production", _uuid(data.get("id")))


def _production(data: Mapping[str, Any], columns: dict[str, Any], related: Related) -> None:
    title = _text(data.get("title"))
    discipline = _text(data.get("discipline"))[:40]
    producer = related.organisations.get(_uuid(data.get("producer")), OrganisationFacts())
    columns.update(
        title=_title(title),
        discipline=discipline,
        tags=_tags([("discipline", discipline), ("audience", _text(data.get("audience")))]),
        text=_text_tokens([("title", title), ("producer", producer.name), ("description", data.get("description"))]),
        dedupe_key=f"production:{title_key(title)}|{_producer_identity(data, related)}"[:300],
    )


def _performance(data: Mapping[str, Any], columns: dict[str, Any], related: Related) -> None:
    origin = related.origin or origin_of(data)
    production_id = _uuid(data.get("production"))
    hall_id = _uuid(data.get("hall"))
    venue_id = _uuid(data.get("venue"))
    production = related.productions.get(production_id, ProductionFacts())
    venue = related.venues.get(venue_id, VenueFacts())
    start = _datetime(data.get("start"))
    venue_uri = record_uri(origin, "venue", venue_id) if venue_id else ""
    accessibility = _strings(data.get("accessibility"))
    columns.update(
        title=_title(production.title),
        discipline=production.discipline[:40],
        starts_at=start,
        ends_at=start,
        parent_uri=record_uri(origin, "production", production_id) if production_id else "",
        place_uri=record_uri(origin, "hall", hall_id) if hall_id else "",
        capacity=_int(data.get("capacity")),
        region=venue.region[:100],
        departement=venue.departement[:3],
        tags=_tags(
            [
                ("status", _text(data.get("status"))),
                ("venue", venue_uri),
                ("discipline", production.discipline),
                *(("access", code) for code in accessibility),
            ]
        ),
        text=_text_tokens([("title", production.title), ("venue", venue.name), ("city", venue.city)]),
    )


def _season(data: Mapping[str, Any], columns: dict[str, Any], related: Related) -> None:
    name = _text(data.get("name"))
    columns.update(
        title=_title(name),
        starts_at=_day_bound(data.get("start_date"), end=False),
        ends_at=_day_bound(data.get("end_date"), end=True),
        tags=_tags([("kind", _text(data.get("kind")))]),
        text=_text_tokens([("name", name)]),
    )


def _person(data: Mapping[str, Any], columns: dict[str, Any], related: Related) -> None:
    name = _text(data.get("name")) or f"{_text(data.get('given_name'))} {_text(data.get('family_name'))}".strip()
    columns.update(title=_title(name), text=_text_tokens([("name", name)]))


def _work(data: Mapping[str, Any], columns: dict[str, Any], related: Related) -> None:
    title = _text(data.get("title"))
    columns.update(
        title=_title(title),
        tags=_tags([("genre", _text(data.get("genre")))]),
        text=_text_tokens(
            [("title", title), ("original_title", data.get("original_title")), ("description", data.get("description"))]
        ),
    )


def _contribution(data: Mapping[str, Any], columns: dict[str, Any], related: Related) -> None:
    origin = related.origin or origin_of(data)
    production_id = _uuid(data.get("production"))
    work_id = _uuid(data.get("work"))
    person_id = _uuid(data.get("person"))
    if production_id:
        parent = record_uri(origin, "production", production_id)
    elif work_id:
        parent = record_uri(origin, "work", work_id)
    else:
        parent = ""
    columns.update(
        title=_title(data.get("role_label") or data.get("role")),
        parent_uri=parent,
        place_uri=record_uri(origin, "person", person_id) if person_id else "",
        tags=_tags([("role", _text(data.get("role")))]),
        text=_text_tokens([("role", data.get("role_label")), ("character", data.get("character"))]),
    )


def _policy(data: Mapping[str, Any], columns: dict[str, Any], related: Related) -> None:
    origin = related.origin or origin_of(data)
    target_type = _text(data.get("target_type"))
    target_id = _uuid(data.get("target_id"))
    members = [("dataset", target_type)]
    if data.get("active") is False:
        members.append(("inactive", "true"))
    columns.update(
        title=_title(data.get("title")),
        parent_uri=record_uri(origin, target_type, target_id) if target_type and target_id else "",
        tags=_tags(members),
        text=_text_tokens([("title", data.get("title"))]),
    )


_BY_TYPE = {
    "directory-entry": _directory_entry,
    "organisation": _organisation,
    "venue": _venue,
    "hall": _hall,
    "technical-sheet": _technical_sheet,
    "production": _production,
    "performance": _performance,
    "season": _season,
    "person": _person,
    "work": _work,
    "contribution": _contribution,
    "policy": _policy,
}


def availability_windows(value: Any) -> list[tuple[dt.date, dt.date]]:
    """A directory entry's windows `[{"start", "end"}]` as date pairs (unreadable or reversed: left out)."""
    if not isinstance(value, list):
        return []
    windows: list[tuple[dt.date, dt.date]] = []
    for item in value:
        if not isinstance(item, Mapping):
            continue
        try:
            start = parse_date(str(item.get("start", ""))[:10])
            end = parse_date(str(item.get("end", ""))[:10])
        except ValueError:
            continue
        if start is not None and end is not None and start <= end:
            windows.append((start, end))
    return list(dict.fromkeys(windows))


def facets(record_type: str, data: Mapping[str, Any], related: Related | None = None) -> dict[str, Any]:
    """The facet columns of `IndexedRecord` for one representation, plus `availability` (date
    pairs; directory entries only). Unknown types get a title from `title`/`name` and nothing else;
    a value that cannot be read (a malformed date, a negative capacity) is left empty, never raised."""
    columns = _empty()
    builder = _BY_TYPE.get(record_type)
    if builder is None:
        name = _title(data.get("title") or data.get("name"))
        columns.update(title=name, text=_text_tokens([("title", name)]))
        return columns
    builder(data, columns, related or Related())
    return columns
