"""/feeds/performances.ics: the public programme as iCalendar."""

from __future__ import annotations

import datetime as dt
import uuid
import zoneinfo
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone
from icalendar import Calendar

from dataspace.referentials import ics
from dataspace.referentials.models import Performance
from tests.factories import HallFactory, PerformanceFactory, ProductionFactory, VenueFactory

pytestmark = pytest.mark.django_db

URL = "/feeds/performances.ics"
PARIS = zoneinfo.ZoneInfo("Europe/Paris")
Status = Performance.Status


def soon(days: int = 10, hour: int = 20, zone: zoneinfo.ZoneInfo = PARIS) -> dt.datetime:
    day = timezone.localdate() + dt.timedelta(days=days)
    return dt.datetime.combine(day, dt.time(hour, 0), tzinfo=zone)


def fetch(client: Client, **params: Any) -> Calendar:
    response = client.get(URL, params)
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "text/calendar; charset=utf-8"
    return Calendar.from_ical(response.content)


def events(calendar: Calendar) -> dict[str, Any]:
    return {str(event["UID"]): event for event in calendar.walk("VEVENT")}


def uid(performance: Performance) -> str:
    return f"{performance.pk}@127.0.0.1"


# ---------------------------------------------------------------------------- the calendar


def test_calendar_headers(client: Client, settings: Any) -> None:
    PerformanceFactory(start=soon())
    calendar = fetch(client)
    assert str(calendar["VERSION"]) == "2.0"
    assert settings.NODE_NAME in str(calendar["PRODID"])
    assert str(calendar["X-WR-CALNAME"]) == f"{settings.NODE_NAME} — programme"
    assert str(calendar["X-WR-TIMEZONE"]) == "Europe/Paris"
    assert str(calendar["X-PUBLISHED-TTL"]) == "PT1H"
    assert [str(tz["TZID"]) for tz in calendar.walk("VTIMEZONE")] == ["Europe/Paris"]


def test_empty_calendar_is_still_valid(client: Client) -> None:
    calendar = fetch(client)
    assert calendar.walk("VEVENT") == []
    assert calendar.walk("VTIMEZONE") == []


def test_event_fields(client: Client) -> None:
    venue = VenueFactory(name="Grand Théâtre", city="Lyon", latitude="45.767000", longitude="4.836000")
    production = ProductionFactory(title="La Tempête", duration_minutes=95, description="Une île.")
    performance = PerformanceFactory(
        production=production,
        hall=HallFactory(venue=venue, name="Salle Molière"),
        start=soon(),
        ticketing_url="https://billetterie.example/tempete",
    )
    event = events(fetch(client))[uid(performance)]
    assert str(event["SUMMARY"]) == "La Tempête"
    assert str(event["LOCATION"]) == "Salle Molière, Grand Théâtre, Lyon"
    assert str(event["URL"]) == performance.uri
    assert str(event["STATUS"]) == "CONFIRMED"
    assert int(event["SEQUENCE"]) == 0
    assert event.decoded("DTEND") - event.decoded("DTSTART") == dt.timedelta(minutes=95)
    assert "Une île." in str(event["DESCRIPTION"])
    assert "https://billetterie.example/tempete" in str(event["DESCRIPTION"])
    assert event.decoded("LAST-MODIFIED") == performance.updated_at.replace(microsecond=0)
    assert event.decoded("DTSTAMP") == performance.updated_at.replace(microsecond=0)
    assert event["GEO"].latitude == pytest.approx(45.767)


def test_no_dtend_when_duration_unknown(client: Client) -> None:
    performance = PerformanceFactory(production=ProductionFactory(duration_minutes=None), start=soon())
    assert "DTEND" not in events(fetch(client))[uid(performance)]


def test_local_time_with_zone_parses_back_to_the_same_instant(client: Client) -> None:
    start = soon(hour=20)
    performance = PerformanceFactory(start=start, time_zone="Europe/Paris")
    response = client.get(URL)
    assert f"DTSTART;TZID=Europe/Paris:{start:%Y%m%d}T200000" in response.content.decode()
    decoded = events(Calendar.from_ical(response.content))[uid(performance)].decoded("DTSTART")
    assert decoded == start
    assert decoded.utcoffset() == start.utcoffset()
    assert str(decoded.tzinfo) == "Europe/Paris"


def test_each_zone_used_gets_its_vtimezone(client: Client) -> None:
    reunion = zoneinfo.ZoneInfo("Indian/Reunion")
    performance = PerformanceFactory(start=soon(hour=19, zone=reunion), time_zone="Indian/Reunion")
    PerformanceFactory(start=soon())
    calendar = fetch(client)
    assert {str(tz["TZID"]) for tz in calendar.walk("VTIMEZONE")} == {"Europe/Paris", "Indian/Reunion"}
    decoded = events(calendar)[uid(performance)].decoded("DTSTART")
    assert (decoded.hour, str(decoded.tzinfo)) == (19, "Indian/Reunion")


def test_commas_and_semicolons_are_escaped(client: Client) -> None:
    title = "Roméo, Juliette; et les autres\\"
    performance = PerformanceFactory(production=ProductionFactory(title=title), start=soon())
    response = client.get(URL)
    assert "SUMMARY:Roméo\\, Juliette\\; et les autres\\\\" in response.content.decode()
    assert str(events(Calendar.from_ical(response.content))[uid(performance)]["SUMMARY"]) == title


# ---------------------------------------------------------------------------- what is listed


def test_options_are_never_listed(client: Client) -> None:
    option = PerformanceFactory(status=Status.OPTION, start=soon())
    shown = PerformanceFactory(start=soon(11))
    assert set(events(fetch(client))) == {uid(shown)}
    assert str(option.pk) not in client.get(URL).content.decode()


def test_cancelled_is_listed_as_cancelled(client: Client) -> None:
    performance = PerformanceFactory(start=soon())
    performance.status = Status.CANCELLED
    performance.save()
    event = events(fetch(client))[uid(performance)]
    assert str(event["STATUS"]) == "CANCELLED"
    assert int(event["SEQUENCE"]) == 1


@pytest.mark.parametrize("status", [Status.MOVED, Status.POSTPONED])
def test_moved_and_postponed_are_confirmed_at_their_new_date(client: Client, status: str) -> None:
    initial, new = soon(5), soon(40)
    performance = PerformanceFactory(start=new, status=status, previous_start=initial)
    event = events(fetch(client))[uid(performance)]
    assert str(event["STATUS"]) == "CONFIRMED"
    assert event.decoded("DTSTART") == new
    if status == Status.POSTPONED:
        assert f"{initial:%d/%m/%Y}" in str(event["DESCRIPTION"])


def test_uid_is_stable_across_an_edit_and_sequence_moves(client: Client) -> None:
    performance = PerformanceFactory(start=soon())
    before = events(fetch(client))
    performance.start = soon(12)
    performance.capacity = 100
    performance.save()
    after = events(fetch(client))
    assert set(before) == set(after) == {uid(performance)}
    assert int(after[uid(performance)]["SEQUENCE"]) == int(before[uid(performance)]["SEQUENCE"]) + 1
    assert after[uid(performance)].decoded("DTSTART") == soon(12)


def test_default_window_starts_30_days_ago(client: Client) -> None:
    old = PerformanceFactory(start=soon(-31))
    recent = PerformanceFactory(start=soon(-29))
    listed = set(events(fetch(client)))
    assert uid(recent) in listed
    assert uid(old) not in listed
    earlier = (timezone.localdate() - dt.timedelta(days=40)).isoformat()
    assert uid(old) in set(events(fetch(client, **{"from": earlier})))


def test_date_filters_are_inclusive_days(client: Client) -> None:
    inside = PerformanceFactory(start=soon(10, hour=23))
    outside = PerformanceFactory(start=soon(11, hour=0))
    day = (timezone.localdate() + dt.timedelta(days=10)).isoformat()
    assert set(events(fetch(client, **{"from": day, "to": day}))) == {uid(inside)}
    assert uid(outside) in set(events(fetch(client, **{"from": day})))


def test_venue_and_production_filters(client: Client) -> None:
    first = PerformanceFactory(start=soon())
    second = PerformanceFactory(start=soon(11))
    assert set(events(fetch(client, venue=str(first.hall.venue_id)))) == {uid(first)}
    assert set(events(fetch(client, production=str(second.production_id)))) == {uid(second)}
    assert events(fetch(client, venue=str(uuid.uuid4()))) == {}


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"from": "2026-13-01"}, "from"),
        ({"from": "01/10/2026"}, "from"),
        ({"from": "20261001"}, "from"),
        ({"to": "tomorrow"}, "to"),
        ({"from": "2026-10-10", "to": "2026-10-01"}, "to"),
        ({"venue": "12"}, "venue"),
        ({"production": "not-a-uuid"}, "production"),
    ],
)
def test_bad_filter_is_400_naming_it(client: Client, params: dict[str, str], field: str) -> None:
    response = client.get(URL, params)
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "invalid"
    assert list(body["fields"]) == [field]


# ---------------------------------------------------------------------------- HTTP caching


def test_conditional_get_with_etag_and_last_modified(client: Client) -> None:
    performance = PerformanceFactory(start=soon())
    first = client.get(URL)
    assert first["ETag"].startswith('W/"')
    assert "max-age" in first["Cache-Control"]
    assert client.get(URL, HTTP_IF_NONE_MATCH=first["ETag"]).status_code == 304
    assert client.get(URL, HTTP_IF_MODIFIED_SINCE=first["Last-Modified"]).status_code == 304
    performance.production.title = "Nouveau titre"
    performance.production.save()  # not the performance itself: the event's SUMMARY still changes
    changed = client.get(URL, HTTP_IF_NONE_MATCH=first["ETag"])
    assert changed.status_code == 200
    assert changed["ETag"] != first["ETag"]
    assert "Nouveau titre" in changed.content.decode()


def test_etag_depends_on_the_filter(client: Client) -> None:
    PerformanceFactory(start=soon())
    day = timezone.localdate().isoformat()
    assert client.get(URL)["ETag"] != client.get(URL, {"from": day})["ETag"]


def test_head_and_refused_methods(client: Client) -> None:
    assert client.head(URL).status_code == 200
    assert client.post(URL).status_code == 405


def test_feed_query_count_is_flat(client: Client, django_assert_max_num_queries: Any) -> None:
    PerformanceFactory.create_batch(20, start=soon())
    client.get(URL)  # the policies compile once per process
    with django_assert_max_num_queries(2):  # the change-log head for validators, then one joined query
        client.get(URL)


def test_uid_host_comes_from_the_node_base_url(settings: Any) -> None:
    settings.NODE_BASE_URL = "https://scene.example.org:8443"
    assert ics.node_host() == "scene.example.org"


def test_body_does_not_depend_on_the_visitor_language(client: Client) -> None:
    PerformanceFactory(start=soon())
    french = client.get(URL, HTTP_ACCEPT_LANGUAGE="fr")
    english = client.get(URL, HTTP_ACCEPT_LANGUAGE="en")
    assert french.content == english.content
    assert french["ETag"] == english["ETag"]
