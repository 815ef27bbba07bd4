"""This node's ticketing figures summed per cell of dimensions: what an aggregation campaign may
take from the node (never a row).

`local_aggregate(period_start, period_end, dimensions)` reads the figures whose (first) performance
falls between the two dates (both included, local dates) and answers, per cell, the sums of
`MEASURES`, the number of contributing structures and each measure's largest single contribution
(what primary statistical secrecy needs: fewer than 3 contributors, or one above 85 % of the
cell). A series is counted whole in the cell of its first performance (a series lies in one
quarter, one venue, one production; it may span two months: its month is its first one).

Dimensions (`DIMENSIONS`): `discipline` (the production's), `region` and `departement` (the
venue's, else the structure's), `month` ("2026-10"), `quarter` ("2026-T4"), `venue_type` (SIBIL
venue type). An unknown value (a venue without a region) is None.

Measures: `figures` (rows), `performances`, `young_audience_performances`,
`accessible_performances`, `attendance` (all tickets, exempt included), `paying_tickets`,
`tickets_full_price`, `tickets_subscription`, `tickets_exempt`, `receipts` and
`receipts_full_price` (Decimal euros), `capacity` (places offered: the fill rate is attendance /
capacity, the average price receipts / paying_tickets).

One SQL query grouped by structure and cell; the rest is a pass over the groups in Python.

For the campaigns: `aggregate_per_owner` gives the same cells split per structure (each
structure's own contribution, from the same query), and `combine_cells` combines cell documents of
disjoint sets of structures (values and contributors summed, the largest contribution kept), which
is how a node's partial is made from its structures' contributions and how the ministry adds the
partials of several nodes.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any

from django.db.models import Case, Count, F, IntegerField, Q, Sum, Value, When
from django.db.models.functions import Coalesce, NullIf, TruncMonth

from dataspace.indicators.models import TicketingFigures

#: Dimension name -> the expression of its value on a row of figures.
DIMENSIONS: dict[str, Any] = {
    "discipline": F("production__discipline"),
    "region": Coalesce(NullIf(F("venue__region"), Value("")), NullIf(F("owner__region"), Value(""))),
    "departement": Coalesce(NullIf(F("venue__departement"), Value("")), NullIf(F("owner__departement"), Value(""))),
    "month": TruncMonth("first_date"),
    "quarter": F("quarter"),
    "venue_type": F("venue__venue_type"),
}

#: Measure name -> its SQL aggregate over the rows of one structure in one cell.
_SUMS: dict[str, Any] = {
    "figures": Count("id"),
    "performances": Sum("performance_count"),
    "young_audience_performances": Sum(
        Case(When(young_audience=True, then=F("performance_count")), default=Value(0), output_field=IntegerField())
    ),
    "accessible_performances": Sum("accessible_performances"),
    "attendance": Sum("tickets_total"),
    "paying_tickets": Sum(F("tickets_total") - F("tickets_exempt")),
    "tickets_full_price": Sum("tickets_full_price"),
    "tickets_subscription": Sum("tickets_subscription"),
    "tickets_exempt": Sum("tickets_exempt"),
    "receipts": Sum("receipts_total"),
    "receipts_full_price": Sum("receipts_full_price"),
    "capacity": Sum("capacity"),
}
MEASURES: tuple[str, ...] = tuple(_SUMS)
#: Measures in euros (Decimal, two decimals); the others are integers.
AMOUNTS = frozenset({"receipts", "receipts_full_price"})
_CENT = Decimal("0.01")


class AggregateError(ValueError):
    """A request for an aggregate that cannot be computed (unknown dimension, empty period)."""


def _zero(measure: str) -> Any:
    return Decimal("0.00") if measure in AMOUNTS else 0


def _number(measure: str, value: Any) -> Any:
    if measure in AMOUNTS:
        return Decimal(value or 0).quantize(_CENT)
    return int(value or 0)


def _dimension_value(name: str, value: Any) -> Any:
    if value is None or value == "":
        return None
    if name == "month":
        moment = value.date() if isinstance(value, dt.datetime) else value
        return f"{moment.year}-{moment.month:02d}"
    return str(value)


def check_dimensions(dimensions: Iterable[str]) -> list[str]:
    """The dimensions in order, without repeats; AggregateError naming any unknown one."""
    ordered: list[str] = []
    for name in dimensions:
        if name not in DIMENSIONS:
            raise AggregateError(f"unknown dimension {name!r}; known: {', '.join(DIMENSIONS)}")
        if name not in ordered:
            ordered.append(name)
    return ordered


class _Cell:
    """Sums of one cell, and the same sums per contributing structure."""

    def __init__(self) -> None:
        self.per_owner: dict[uuid.UUID, dict[str, Any]] = {}

    def add(self, owner_id: uuid.UUID, values: dict[str, Any]) -> None:
        mine = self.per_owner.setdefault(owner_id, {measure: _zero(measure) for measure in MEASURES})
        for measure in MEASURES:
            mine[measure] += values[measure]

    def document(self) -> dict[str, Any]:
        contributions = list(self.per_owner.values())
        return {
            "values": {m: sum((c[m] for c in contributions), _zero(m)) for m in MEASURES},
            "contributors": len(contributions),
            "largest": {m: max((c[m] for c in contributions), default=_zero(m)) for m in MEASURES},
        }

    def owner_document(self, owner_id: uuid.UUID) -> dict[str, Any]:
        """The cell as one structure alone makes it (contributors 1, largest = its values)."""
        mine = self.per_owner[owner_id]
        return {"values": dict(mine), "contributors": 1, "largest": dict(mine)}


def zero_document(measures: Sequence[str] = MEASURES) -> dict[str, Any]:
    """A cell nobody contributes to (every measure 0)."""
    return {
        "values": {m: _zero(m) for m in measures},
        "contributors": 0,
        "largest": {m: _zero(m) for m in measures},
    }


def cell_sort_key(key: Iterable[Any]) -> tuple[tuple[bool, str], ...]:
    """The order of cells: by their dimension values in order, an unknown value (None) last."""
    return tuple((value is None, value or "") for value in key)


def combine_cells(documents: Iterable[Mapping[str, Any]], measures: Sequence[str] = MEASURES) -> dict[str, Any]:
    """Cell documents of disjoint sets of structures combined into one: each measure summed, the
    contributors summed, each measure's largest contribution the largest of theirs.

    Values may be numbers or their JSON form (amounts as "1234.50" strings); the result holds int
    counts and Decimal amounts (two decimals). A measure missing from a document counts as 0. No
    document: the zero cell. Correct only when no structure is in two of the documents.
    """
    combined = zero_document(measures)
    for document in documents:
        values, largest = document.get("values", {}), document.get("largest", {})
        combined["contributors"] += int(document.get("contributors", 0))
        for measure in measures:
            combined["values"][measure] += _number(measure, values.get(measure))
            combined["largest"][measure] = max(combined["largest"][measure], _number(measure, largest.get(measure)))
    return combined


def _period_cells(
    period_start: dt.date,
    period_end: dt.date,
    names: list[str],
    owner_ids: Iterable[uuid.UUID] | None,
) -> tuple[list[tuple[tuple[Any, ...], _Cell]], _Cell]:
    """The cells of the period (sorted by key) and the total, each with its per-structure sums."""
    if period_end < period_start:
        raise AggregateError(f"the period ends ({period_end}) before it starts ({period_start})")
    queryset = TicketingFigures.objects.filter(Q(first_date__gte=period_start) & Q(first_date__lte=period_end))
    if owner_ids is not None:
        queryset = queryset.filter(owner_id__in=list(owner_ids))
    columns = {f"dim_{name}": DIMENSIONS[name] for name in names}
    groups = queryset.annotate(**columns).values("owner_id", *columns).annotate(**_SUMS).order_by()
    cells: dict[tuple[Any, ...], _Cell] = {}
    total = _Cell()
    for group in groups:
        key = tuple(_dimension_value(name, group[f"dim_{name}"]) for name in names)
        values = {measure: _number(measure, group[measure]) for measure in MEASURES}
        cells.setdefault(key, _Cell()).add(group["owner_id"], values)
        total.add(group["owner_id"], values)
    return sorted(cells.items(), key=lambda item: cell_sort_key(item[0])), total


def local_aggregate(
    period_start: dt.date,
    period_end: dt.date,
    dimensions: list[str],
    *,
    owner_ids: Iterable[uuid.UUID] | None = None,
) -> dict[str, Any]:
    """This node's figures summed per cell (see the module docstring).

    Returns `{"period": {"start", "end"}, "dimensions": [...], "measures": [...], "cells": [{"key":
    {dimension: value}, "values": {measure: sum}, "contributors": n, "largest": {measure: max}}],
    "total": {"values", "contributors", "largest"}}`, cells sorted by key. `owner_ids` limits the
    structures counted (None: every structure whose figures the node holds). Raises AggregateError
    for an unknown dimension or a period that ends before it starts.
    """
    names = check_dimensions(dimensions)
    ordered, total = _period_cells(period_start, period_end, names, owner_ids)
    return {
        "period": {"start": period_start.isoformat(), "end": period_end.isoformat()},
        "dimensions": names,
        "measures": list(MEASURES),
        "cells": [{"key": dict(zip(names, key, strict=True)), **cell.document()} for key, cell in ordered],
        "total": total.document(),
    }


def aggregate_per_owner(
    period_start: dt.date,
    period_end: dt.date,
    dimensions: list[str],
    *,
    owner_ids: Iterable[uuid.UUID] | None = None,
) -> dict[uuid.UUID, dict[str, Any]]:
    """The cells of `local_aggregate` split per structure, from the same single query.

    Returns `{owner_id: {"cells": [...], "total": {...}}}` for each structure with figures in the
    period (and among `owner_ids` when given): its own cells, shaped and sorted like
    `local_aggregate`'s, each with `contributors` 1 and `largest` equal to its values. Combining
    every structure's cells of one key with `combine_cells` gives `local_aggregate`'s cell.
    """
    names = check_dimensions(dimensions)
    ordered, total = _period_cells(period_start, period_end, names, owner_ids)
    per_owner: dict[uuid.UUID, dict[str, Any]] = {
        owner: {"cells": [], "total": total.owner_document(owner)} for owner in total.per_owner
    }
    for key, cell in ordered:
        for owner in cell.per_owner:
            per_owner[owner]["cells"].append({"key": dict(zip(names, key, strict=True)), **cell.owner_document(owner)})
    return per_owner
