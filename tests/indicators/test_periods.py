"""Quarters as SIBIL counts them."""

from __future__ import annotations

import datetime as dt

import pytest

from dataspace.indicators.periods import InvalidQuarter, local_date, normalise_quarter, quarter_bounds, quarter_of


@pytest.mark.parametrize(
    ("day", "quarter"),
    [(dt.date(2026, 1, 1), "2026-T1"), (dt.date(2026, 3, 31), "2026-T1"), (dt.date(2026, 4, 1), "2026-T2"),
     (dt.date(2026, 9, 30), "2026-T3"), (dt.date(2026, 12, 31), "2026-T4")],
)  # fmt: skip
def test_quarter_of(day: dt.date, quarter: str) -> None:
    assert quarter_of(day) == quarter


def test_bounds_and_spelling() -> None:
    assert quarter_bounds("2026-T4") == (dt.date(2026, 10, 1), dt.date(2026, 12, 31))
    assert quarter_bounds("2028-T1") == (dt.date(2028, 1, 1), dt.date(2028, 3, 31))
    assert normalise_quarter(" 2026-t2 ") == "2026-T2"
    for bad in ("2026-T5", "2026-Q1", "26-T1", ""):
        with pytest.raises(InvalidQuarter):
            normalise_quarter(bad)


def test_local_date_uses_the_time_zone() -> None:
    moment = dt.datetime(2026, 12, 31, 23, 30, tzinfo=dt.UTC)
    assert local_date(moment, "Europe/Paris") == dt.date(2027, 1, 1)
    assert local_date(moment, "America/Martinique") == dt.date(2026, 12, 31)
    assert local_date(moment, "Not/A_Zone") == dt.date(2027, 1, 1)  # the node's zone (Europe/Paris)
