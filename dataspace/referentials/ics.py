"""/feeds/performances.ics: the public programme as an iCalendar feed (RFC 5545).

What agendas and calendar apps get:
- every confirmed performance (never an option) starting from 30 days ago by default
  (`DEFAULT_PAST_DAYS`), narrowed by `?from=YYYY-MM-DD&to=YYYY-MM-DD&venue=<uuid>&production=<uuid>`
  (`from`/`to` are inclusive dates in the node's time zone; an explicit `from` replaces the
  default lower bound);
- one VEVENT per performance whose `UID` is `<uuid>@<node host>`: it never changes, so an edit
  replaces the event in subscribed calendars instead of duplicating it; `SEQUENCE` is the
  record's version − 1 and `LAST-MODIFIED`/`DTSTAMP` its last update, so apps take the update;
- `STATUS:CONFIRMED` for scheduled, moved and postponed performances (at their current date; a
  postponed one says its initial date in `DESCRIPTION`), and `STATUS:CANCELLED` for cancelled
  ones, which stay in the feed so that subscribed calendars remove or strike them rather than
  keep a stale event (an event that merely vanishes from a feed is not removed by every app);
- times carry their IANA zone (`DTSTART;TZID=Europe/Paris`) with a VTIMEZONE for every zone used.

Conditional GET: the weak `ETag` and `Last-Modified` follow the node's change log (any change of
a performance, production, hall or venue moves them) and the day the default window starts on;
a matching `If-None-Match` / `If-Modified-Since` gets 304.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import uuid
import zoneinfo
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone, translation
from django.utils.cache import get_conditional_response
from django.utils.http import http_date
from django.views.decorators.http import require_safe
from icalendar import Calendar, Event

from dataspace.records.models import Change
from dataspace.referentials.models import Performance

#: By default the feed starts this many days before today (past events stay briefly visible).
DEFAULT_PAST_DAYS = 30
#: Bumped whenever the rendering changes, so that cached copies are not reused across versions.
FEED_FORMAT_VERSION = 1
CACHE_MAX_AGE = 300
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)
STATUS_TO_ICAL: dict[str, str] = {
    Performance.Status.SCHEDULED: "CONFIRMED",
    Performance.Status.MOVED: "CONFIRMED",
    Performance.Status.POSTPONED: "CONFIRMED",
    Performance.Status.CANCELLED: "CANCELLED",
}

# ---------------------------------------------------------------------------- filters


class InvalidFilter(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class FeedFilter:
    start_date: dt.date
    end_date: dt.date | None = None
    venue: uuid.UUID | None = None
    production: uuid.UUID | None = None
    #: True when `start_date` is the default sliding bound (today − DEFAULT_PAST_DAYS).
    sliding: bool = False

    def cache_key(self) -> str:
        return f"{self.start_date}|{self.end_date}|{self.venue}|{self.production}"


def _node_zone() -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(str(settings.NODE_TIME_ZONE))


def _parse_date(params: Mapping[str, str], name: str) -> dt.date | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    if _DATE.fullmatch(raw):
        try:
            return dt.date.fromisoformat(raw)
        except ValueError:
            pass
    raise InvalidFilter(name, f"Expected a date as YYYY-MM-DD, got {raw!r}.")


def _parse_uuid(params: Mapping[str, str], name: str) -> uuid.UUID | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise InvalidFilter(name, f"Expected the UUID of a {name}, got {raw!r}.") from None


def parse_filter(params: Mapping[str, str], *, today: dt.date) -> FeedFilter:
    """The feed's filter from query parameters; `InvalidFilter` names the bad one."""
    explicit_start = _parse_date(params, "from")
    start = explicit_start or today - dt.timedelta(days=DEFAULT_PAST_DAYS)
    end = _parse_date(params, "to")
    if end is not None and end < start:
        raise InvalidFilter("to", f"`to` ({end}) is before `from` ({start}).")
    return FeedFilter(
        start_date=start,
        end_date=end,
        venue=_parse_uuid(params, "venue"),
        production=_parse_uuid(params, "production"),
        sliding=explicit_start is None,
    )


# ---------------------------------------------------------------------------- selection


def public_performances(feed_filter: FeedFilter) -> QuerySet[Performance]:
    """The confirmed (non-option) performances the feed lists, with what their events show: only
    those the anonymous subject may read under their owners' usage policies (`policies.pdp`)."""
    zone = _node_zone()
    lower = dt.datetime.combine(feed_filter.start_date, dt.time.min, tzinfo=zone)
    queryset = (
        Performance.objects.exclude(status=Performance.Status.OPTION)
        .filter(start__gte=lower)
        .select_related("production", "hall__venue")
        .order_by("start", "id")
    )
    if feed_filter.end_date is not None:
        upper = dt.datetime.combine(feed_filter.end_date + dt.timedelta(days=1), dt.time.min, tzinfo=zone)
        queryset = queryset.filter(start__lt=upper)
    if feed_filter.venue is not None:
        queryset = queryset.filter(hall__venue_id=feed_filter.venue)
    if feed_filter.production is not None:
        queryset = queryset.filter(production_id=feed_filter.production)
    return anonymously_readable(queryset)


def anonymously_readable(queryset: QuerySet[Performance]) -> QuerySet[Performance]:
    """The performances anyone may read under their owners' usage policies (`policies.pdp`), and
    whose production, hall and venue anyone may read too: a public event shows the production's
    title and description and the place's name and address, so a licensed-only or hidden
    production or venue of another owner keeps its performances out of public listings."""
    from dataspace.referentials.models import Hall, Production, Venue
    from policies.pdp import filter_queryset
    from policies.subject import ANONYMOUS

    readable, _permits = filter_queryset(ANONYMOUS, "read", queryset)
    productions, _p = filter_queryset(ANONYMOUS, "read", Production.objects.all())
    halls, _h = filter_queryset(ANONYMOUS, "read", Hall.objects.all())
    venues, _v = filter_queryset(ANONYMOUS, "read", Venue.objects.all())
    return readable.filter(
        production__in=productions.values("pk"), hall__in=halls.values("pk"), hall__venue__in=venues.values("pk")
    )


@dataclass(frozen=True)
class FeedState:
    etag: str
    last_modified: dt.datetime


def feed_state(feed_filter: FeedFilter) -> FeedState:
    """Validators of the feed's current content, from one indexed query on the change log."""
    last = Change.objects.order_by("-seq").values_list("seq", "changed_at").first()
    seq, changed_at = last if last is not None else (0, dt.datetime(1970, 1, 1, tzinfo=dt.UTC))
    last_modified = changed_at
    if feed_filter.sliding:
        # The default window moves at midnight: the content may change then without any write.
        midnight = dt.datetime.combine(
            feed_filter.start_date + dt.timedelta(days=DEFAULT_PAST_DAYS), dt.time.min, tzinfo=_node_zone()
        )
        last_modified = max(changed_at, min(midnight, timezone.now()))
    from policies.services import policy_generation

    policies = policy_generation()  # a policy change may hide or show performances without a write
    digest = hashlib.sha256(
        f"{FEED_FORMAT_VERSION}|{settings.NODE_BASE_URL}|{seq}|{policies}|{feed_filter.cache_key()}".encode()
    ).hexdigest()[:32]
    return FeedState(etag=f'W/"{digest}"', last_modified=last_modified)


# ---------------------------------------------------------------------------- rendering


def node_host() -> str:
    return urlsplit(str(settings.NODE_BASE_URL)).hostname or "localhost"


def _location(performance: Performance) -> str:
    hall = performance.hall
    venue = hall.venue
    return ", ".join(part for part in (hall.name, venue.name, venue.street_address, venue.city) if part)


def _description(performance: Performance, zone: zoneinfo.ZoneInfo) -> str:
    lines: list[str] = []
    if performance.status == Performance.Status.CANCELLED:
        lines.append("Représentation annulée.")
    elif performance.status == Performance.Status.POSTPONED and performance.previous_start:
        initially = performance.previous_start.astimezone(zone)
        lines.append(f"Représentation reportée (initialement le {initially:%d/%m/%Y à %H:%M}).")
    elif performance.status == Performance.Status.MOVED:
        lines.append("Représentation déplacée : voir le lieu indiqué.")
    production = performance.production
    if production.description:
        lines.append(production.description)
    if production.duration_minutes:
        lines.append(f"Durée : {production.duration_minutes} min.")
    if performance.ticketing_url and performance.status != Performance.Status.CANCELLED:
        lines.append(f"Billetterie : {performance.ticketing_url}")
    return "\n\n".join(lines)


def performance_event(performance: Performance, host: str) -> Event:
    """The VEVENT of one performance."""
    zone = zoneinfo.ZoneInfo(performance.time_zone)
    start = performance.start.astimezone(zone)
    updated = performance.updated_at.astimezone(dt.UTC)
    event = Event()
    event.add("uid", f"{performance.pk}@{host}")
    event.add("dtstamp", updated)
    event.add("dtstart", start)
    if performance.production.duration_minutes:
        event.add("dtend", start + dt.timedelta(minutes=performance.production.duration_minutes))
    event.add("summary", performance.production.title)
    event.add("location", _location(performance))
    description = _description(performance, zone)
    if description:
        event.add("description", description)
    event.add("url", performance.uri)
    event.add("sequence", max(performance.version - 1, 0))
    event.add("created", performance.created_at.astimezone(dt.UTC))
    event.add("last-modified", updated)
    event.add("status", STATUS_TO_ICAL[performance.status])
    event.add("categories", [performance.production.get_discipline_display()])
    venue = performance.hall.venue
    if venue.latitude is not None and venue.longitude is not None:
        event.add("geo", (float(venue.latitude), float(venue.longitude)))
    return event


def build_calendar(performances: Iterable[Performance]) -> Calendar:
    """The VCALENDAR of these performances, with a VTIMEZONE for each zone their times use."""
    calendar = Calendar()
    calendar.add("prodid", f"-//Scène Commune//{settings.NODE_NAME}//FR")
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("x-wr-calname", f"{settings.NODE_NAME} — programme")
    calendar.add("x-wr-timezone", str(settings.NODE_TIME_ZONE))
    calendar.add("x-published-ttl", "PT1H")
    calendar.add("refresh-interval", dt.timedelta(hours=1), parameters={"VALUE": "DURATION"})
    host = node_host()
    years: list[int] = []
    for performance in performances:
        calendar.add_component(performance_event(performance, host))
        years.append(performance.start.year)
    if years:
        # Whole years, so each VTIMEZONE carries its standard and daylight rules for them.
        calendar.add_missing_timezones(dt.date(min(years) - 1, 1, 1), dt.date(max(years) + 2, 1, 1))
    return calendar


# ---------------------------------------------------------------------------- view


def _invalid(error: InvalidFilter) -> JsonResponse:
    body: dict[str, Any] = {
        "error": "invalid",
        "detail": f"Invalid value(s) for: {error.field}.",
        "fields": {error.field: [str(error)]},
    }
    return JsonResponse(body, status=400)


@require_safe
def performances_ics(request: HttpRequest) -> HttpResponse:
    """The public programme as text/calendar, with conditional GET."""
    try:
        feed_filter = parse_filter(request.GET, today=timezone.localdate(timezone=_node_zone()))
    except InvalidFilter as error:
        return _invalid(error)
    state = feed_state(feed_filter)
    not_modified = get_conditional_response(
        request, etag=state.etag, last_modified=int(state.last_modified.timestamp())
    )
    if not_modified is None:
        # One language whatever the visitor's, so that one ETag stands for one body.
        with translation.override(settings.LANGUAGE_CODE):
            calendar = build_calendar(public_performances(feed_filter))
        response = HttpResponse(calendar.to_ical(), content_type="text/calendar; charset=utf-8")
        response["Content-Disposition"] = 'inline; filename="performances.ics"'
    else:
        response = not_modified
    response["ETag"] = state.etag
    response["Last-Modified"] = http_date(state.last_modified.timestamp())
    response["Cache-Control"] = f"public, max-age={CACHE_MAX_AGE}"
    response["Access-Control-Allow-Origin"] = "*"
    return response
