"""Factories of ticketing figures (fictitious data only)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from dataspace.indicators import services
from tests.factories import PARIS, HallFactory, PerformanceFactory, ProductionFactory


def run(owner: Any, count: int, *, start: dt.datetime | None = None, hall: Any = None, **production: Any) -> list[Any]:
    """`count` daily performances of one new production of `owner` in one hall (a run)."""
    show = ProductionFactory(owner=owner, **production)
    hall = hall or HallFactory(venue__owner=owner, owner=owner, seated_capacity=300)
    first = start or dt.datetime(2026, 10, 6, 20, 0, tzinfo=PARIS)
    return [
        PerformanceFactory(owner=owner, production=show, hall=hall, start=first + dt.timedelta(days=day), capacity=None)
        for day in range(count)
    ]


def figures(performances: Any, external_id: str = "BIL-1", **values: Any) -> Any:
    """Record figures through the service (the rules apply); returns the row."""
    items = performances if isinstance(performances, list) else [performances]
    data = services.FiguresInput(
        external_id=external_id,
        performances=items,
        tickets_total=values.pop("tickets_total", 100),
        receipts_total=Decimal(values.pop("receipts_total", "1500.00")),
        **values,
    )
    row, _outcome = services.record_figures(data)
    return row
