"""Calendar quarters as SIBIL counts them: "2026-T4" is 1 October to 31 December 2026.

A performance belongs to the quarter of its local date (the start in the performance's own time
zone): a show at 23:30 on 31 December in Paris is in T4 even though it is already 1 January in UTC.
"""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo

from django.conf import settings

QUARTER_RE = re.compile(r"^(?P<year>\d{4})-T(?P<quarter>[1-4])$")


class InvalidQuarter(ValueError):
    """A text that is not a quarter of the form YYYY-TN (N from 1 to 4)."""


def quarter_of(day: dt.date) -> str:
    """The quarter of a date: `quarter_of(date(2026, 11, 3)) == "2026-T4"`."""
    return f"{day.year}-T{(day.month - 1) // 3 + 1}"


def month_of(day: dt.date) -> str:
    """The month of a date as "YYYY-MM"."""
    return f"{day.year}-{day.month:02d}"


def parse_quarter(text: str) -> tuple[int, int]:
    """(year, quarter number) of "YYYY-TN"; raises InvalidQuarter otherwise."""
    match = QUARTER_RE.match((text or "").strip().upper())
    if not match:
        raise InvalidQuarter(text)
    return int(match.group("year")), int(match.group("quarter"))


def quarter_bounds(text: str) -> tuple[dt.date, dt.date]:
    """First and last day (both included) of the quarter "YYYY-TN"."""
    year, number = parse_quarter(text)
    first = dt.date(year, 3 * (number - 1) + 1, 1)
    following = dt.date(year + 1, 1, 1) if number == 4 else dt.date(year, 3 * number + 1, 1)
    return first, following - dt.timedelta(days=1)


def normalise_quarter(text: str) -> str:
    """The canonical spelling of a quarter ("2026-t4 " -> "2026-T4"); raises InvalidQuarter."""
    year, number = parse_quarter(text)
    return f"{year}-T{number}"


def local_date(moment: dt.datetime, time_zone: str | None = None) -> dt.date:
    """The calendar date of an aware datetime in `time_zone` (default: the node's time zone)."""
    try:
        zone = zoneinfo.ZoneInfo(time_zone or str(settings.NODE_TIME_ZONE))
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        zone = zoneinfo.ZoneInfo(str(settings.NODE_TIME_ZONE))
    return moment.astimezone(zone).date()
