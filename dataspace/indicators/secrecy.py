"""Statistical secrecy of a published table: primary secrecy, secondary suppression, ratios.

Pure code: no model, no query. The input is a table whose cells hold the combined value of one
additive measure (attendance, receipts…), the number of contributing structures and the largest
single contribution (`CellFigures`, what `local_aggregate` and the campaign partials carry), plus
the table's *linear relations*: each total equals the sum of its parts (`Relation`). Margins are
cells too. `cross_table` builds the relations of a 1-D table (cells + total) or of a cross table
of any dimension (rows × columns + row totals + column totals + grand total) from keys where
`TOTAL` stands for "all values of this dimension".

**Primary secrecy** (`primary_reason`, DOMAIN.md "Statistical secrecy"): a cell is confidential
when fewer than `min_contributors` (3) structures contribute, or when the largest contribution is
more than `dominance` (85 %) of the value. A cell with value 0 and enough contributors is not
dominated. A cell with no contributor at all (value 0) describes no structure: it is published.

**Secondary suppression** (`protect`): more cells are hidden until no hidden cell can be
recomputed exactly from the published cells and the relations:

1. *balance*: while some relation has exactly one hidden member (it would be its total minus the
   published parts, or the sum of its parts), hide one more member of that relation, the cheapest
   (`_Suppression.preference`: the smallest value, an inner cell before a total, then key order;
   a cell of value 0 only when nothing else is left, since 0 is too easy to guess). 2-D tables
   need several rounds: each new hidden cell may leave its column alone;
2. *audit*: solve the whole system of relations exactly (Gaussian elimination over fractions,
   `recomputable`); a hidden cell that a combination of several relations pins down (a "bridge"
   between two blocks of hidden cells) gets one more hidden neighbour, then back to 1;
3. *prune*: a secondary cell whose return to publication keeps 1 and 2 true is published again,
   the most valuable first.

The result is deterministic (every choice goes through a total order on keys, never a set's
iteration order). **Guarantee**: no hidden cell (primary or secondary) is the only hidden member
of a relation, and no hidden cell is determined by the relations and the published values (its
value cannot be computed by adding and subtracting published figures and totals). **Not
guaranteed**: bounds. An attacker who also uses that figures are never negative (linear
programming) can narrow a hidden cell to an interval, sometimes a narrow one (a hidden cell paired
with a small one is nearly its pair's sum; two hidden cells whose sum is 0 are both 0). Relations
between measures (attendance = paying tickets + exempt tickets) and between separately published
tables are not considered: `protect_jointly` hides the same cells in every measure of a table.

**Ratios** (`protect_ratio`): average price, fill rate, shares are hidden when their numerator or
denominator cell is hidden; a zero denominator gives a published `None` (undefined, not secret).

Every published cell is a `PublishedCell`: `{"value": number | None, "status": "published" |
"primary" | "secondary", "reason": French text | None}`.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from itertools import combinations
from typing import Any, Literal

from django.utils.translation import gettext as _

#: A figure of an additive measure: a count, or euros (Decimal).
Number = int | Decimal
#: A cell's key: one value per dimension (`TOTAL` for a margin).
Key = tuple[Hashable, ...]
#: What happened to a cell.
Status = Literal["published", "primary", "secondary"]
PUBLISHED: Status = "published"
PRIMARY: Status = "primary"
SECONDARY: Status = "secondary"


class Margin(enum.Enum):
    """The value of a dimension in a margin's key: all values of that dimension."""

    TOTAL = "total"

    def __repr__(self) -> str:
        return "TOTAL"


#: In a key, "every value of this dimension": ("théâtre", TOTAL) is the théâtre row's total.
TOTAL = Margin.TOTAL


class SecrecyError(ValueError):
    """A table that cannot be protected as given (inconsistent figures, missing margins…)."""


# ---------------------------------------------------------------------------- input


@dataclass(frozen=True)
class CellFigures:
    """One cell of one measure: the combined value, how many structures contribute to it, and the
    largest single structure's contribution."""

    value: Number
    contributors: int
    largest: Number

    def __post_init__(self) -> None:
        if self.contributors < 0 or self.value < 0 or self.largest < 0:
            raise SecrecyError(f"negative figures in a cell: {self}")
        if self.largest > self.value:
            raise SecrecyError(f"the largest contribution exceeds the cell's value: {self}")
        if self.contributors == 0 and self.value != 0:
            raise SecrecyError(f"a value without contributors: {self}")

    @property
    def empty(self) -> bool:
        """No structure contributes: the cell describes nobody."""
        return self.contributors == 0


def cell_figures(document: Mapping[str, Any], measure: str) -> CellFigures:
    """The figures of `measure` in a cell document shaped like `local_aggregate`'s
    (`{"values": {...}, "contributors": n, "largest": {...}}`)."""
    return CellFigures(
        value=document["values"][measure],
        contributors=int(document["contributors"]),
        largest=document["largest"][measure],
    )


@dataclass(frozen=True)
class Relation:
    """`total` = the sum of `parts` (all of them keys of the table)."""

    total: Key
    parts: tuple[Key, ...]

    @property
    def members(self) -> tuple[Key, ...]:
        return (self.total, *self.parts)


@dataclass(frozen=True)
class SecrecyTable:
    """The cells of one measure (margins included) and the relations between them.

    Checked on construction: every relation names cells of the table, has at least one part, no
    repeated member, and its total equals the sum of its parts.
    """

    cells: Mapping[Key, CellFigures]
    relations: tuple[Relation, ...] = ()

    def __post_init__(self) -> None:
        for relation in self.relations:
            members = relation.members
            missing = [key for key in members if key not in self.cells]
            if missing:
                raise SecrecyError(f"a relation names cells that are not in the table: {missing}")
            if not relation.parts or len(set(members)) != len(members):
                raise SecrecyError(f"a relation needs distinct parts: {relation}")
            parts_sum = sum((self.cells[key].value for key in relation.parts), Decimal(0))
            if parts_sum != self.cells[relation.total].value:
                raise SecrecyError(
                    f"the total {relation.total!r} is {self.cells[relation.total].value}, "
                    f"its parts add up to {parts_sum}"
                )

    @property
    def totals(self) -> frozenset[Key]:
        """The cells that are the total of some relation (the margins)."""
        return frozenset(relation.total for relation in self.relations)


def _margins_of(key: Key) -> Iterable[Key]:
    """Every margin that covers a cell: the key with one or more dimensions replaced by TOTAL."""
    positions = range(len(key))
    for size in range(1, len(key) + 1):
        for chosen in combinations(positions, size):
            yield tuple(TOTAL if index in chosen else value for index, value in enumerate(key))


def cross_table(cells: Mapping[Key, CellFigures], margins: Mapping[Key, CellFigures] | None = None) -> SecrecyTable:
    """A table crossing one or more dimensions, with its relations.

    `cells` are keyed by one value per dimension (no TOTAL); `margins` by keys with TOTAL in one or
    more positions: `(TOTAL,)` for a 1-D table's total; `(row, TOTAL)`, `(TOTAL, column)` and
    `(TOTAL, TOTAL)` for a 2-D table. The margins must be complete (every margin of every cell:
    a missing one would still constrain the others through the grand total) or absent (no relation:
    primary secrecy only). A margin equals the sum, along each of its TOTAL dimensions, of the keys
    present with a value there; an absent key counts as an empty cell (0).
    """
    margins = dict(margins or {})
    lengths = {len(key) for key in [*cells, *margins]}
    if len(lengths) > 1 or 0 in lengths:
        raise SecrecyError("every key needs one value per dimension (same length, at least one)")
    if any(TOTAL in key for key in cells):
        raise SecrecyError("a cell's key cannot contain TOTAL: pass margins separately")
    if any(TOTAL not in key for key in margins):
        raise SecrecyError("a margin's key needs TOTAL in at least one position")
    if not margins:
        return SecrecyTable(cells=dict(cells))
    expected = {margin for key in cells for margin in _margins_of(key)}
    missing = sorted(expected - margins.keys(), key=sort_key)
    if missing:
        raise SecrecyError(f"missing margins: {missing[:5]}")
    extra = sorted(margins.keys() - expected, key=sort_key)
    if extra:
        raise SecrecyError(f"margins that cover no cell: {extra[:5]}")
    everything: dict[Key, CellFigures] = {**cells, **margins}
    parts: dict[tuple[Key, int], list[Key]] = {}
    for key in everything:
        for position, value in enumerate(key):
            if value is not TOTAL:
                parent = (*key[:position], TOTAL, *key[position + 1 :])
                parts.setdefault((parent, position), []).append(key)
    relations = [
        Relation(total=total, parts=tuple(sorted(members, key=sort_key)))
        for (total, position), members in sorted(parts.items(), key=lambda item: (sort_key(item[0][0]), item[0][1]))
    ]
    return SecrecyTable(cells=everything, relations=tuple(relations))


def sort_key(key: Key) -> tuple[tuple[int, Any, str], ...]:
    """A total order on keys mixing str, int, None and TOTAL (values first, None, then TOTAL)."""

    def rank(value: Hashable) -> tuple[int, Any, str]:
        if value is TOTAL:
            return (3, 0, "")
        if value is None:
            return (2, 0, "")
        if isinstance(value, int | Decimal) and not isinstance(value, bool):
            return (0, value, "")
        return (1, 0, str(value))

    return tuple(rank(value) for value in key)


# ---------------------------------------------------------------------------- primary secrecy


@dataclass(frozen=True)
class SecrecyRules:
    """The thresholds of primary secrecy: at least `min_contributors` structures, and none above
    `dominance` (a share, 0.85 = 85 %) of the cell's value."""

    min_contributors: int = 3
    dominance: Decimal = Decimal("0.85")

    def __post_init__(self) -> None:
        if self.min_contributors < 1:
            raise SecrecyError("min_contributors must be at least 1")
        if not Decimal(0) < self.dominance <= Decimal(1):
            raise SecrecyError("dominance must be a share in (0, 1]")


DEFAULT_RULES = SecrecyRules()


def _percent(share: Decimal) -> str:
    """0.85 -> "85", 0.875 -> "87,5" (French decimal comma)."""
    text = format((share * 100).normalize(), "f")
    return text.replace(".", ",")


def primary_reason(cell: CellFigures, rules: SecrecyRules = DEFAULT_RULES) -> str | None:
    """Why the cell is confidential on its own (French), or None when it may be published.

    Fewer than `min_contributors` structures (an empty cell, describing nobody, excepted), else a
    largest contribution strictly above `dominance` × value (never for a value of 0).
    """
    if cell.empty:
        return None
    if cell.contributors < rules.min_contributors:
        return _("moins de %(count)d structures") % {"count": rules.min_contributors}
    if Decimal(cell.largest) > rules.dominance * Decimal(cell.value):
        return _("une structure représente plus de %(percent)s %%") % {"percent": _percent(rules.dominance)}
    return None


# ---------------------------------------------------------------------------- secondary suppression


def _coefficients(relation: Relation) -> dict[Key, int]:
    """The relation as an equation `total - sum(parts) = 0`."""
    return {relation.total: 1, **{part: -1 for part in relation.parts}}


def recomputable(relations: Sequence[Relation], hidden: Iterable[Key]) -> list[Key]:
    """The hidden cells whose value the relations determine exactly, given every other cell.

    Each relation restricted to the hidden cells is a linear equation whose right-hand side is
    published; a hidden cell is determined when the unit equation "x = constant" lies in the span
    of those equations. The reduced row echelon form (exact, over fractions) answers it: the cell
    is a pivot whose row has no other non-zero coefficient. Sorted by key.
    """
    unknowns = sorted(set(hidden), key=sort_key)
    column = {key: index for index, key in enumerate(unknowns)}
    rows: list[dict[int, Fraction]] = []
    for relation in relations:
        row = {column[key]: Fraction(c) for key, c in _coefficients(relation).items() if key in column}
        if row:
            rows.append(row)
    return [unknowns[col] for col, row in _reduce(rows).items() if len(row) == 1]


def _reduce(rows: list[dict[int, Fraction]]) -> dict[int, dict[int, Fraction]]:
    """Gauss-Jordan elimination of sparse rows (column -> non-zero coefficient): the reduced row of
    each pivot column, keyed by that column. Each row is used as a pivot once, on its smallest
    column, and that column is then eliminated from every other row (pivot rows included)."""
    pending = [dict(row) for row in rows]
    pivots: dict[int, dict[int, Fraction]] = {}
    while pending:
        row = pending.pop()
        for col, pivot_row in pivots.items():
            if col in row:
                row = _subtract(row, row[col], pivot_row)
        if not row:
            continue
        col = min(row)
        scale = row[col]
        row = {index: value / scale for index, value in row.items()}
        for other, pivot_row in list(pivots.items()):
            if col in pivot_row:
                pivots[other] = _subtract(pivot_row, pivot_row[col], row)
        pivots[col] = row
    return pivots


def _subtract(row: dict[int, Fraction], factor: Fraction, pivot_row: dict[int, Fraction]) -> dict[int, Fraction]:
    """`row - factor * pivot_row`, dropping the coefficients that become zero."""
    result = dict(row)
    for index, value in pivot_row.items():
        updated = result.get(index, Fraction(0)) - factor * value
        if updated:
            result[index] = updated
        else:
            result.pop(index, None)
    return result


def lone_hidden(relations: Sequence[Relation], hidden: set[Key]) -> list[Relation]:
    """The relations with exactly one hidden member (it is their total minus the rest)."""
    return [relation for relation in relations if sum(key in hidden for key in relation.members) == 1]


#: The cost of hiding a cell (compared as tuples: smaller is cheaper).
Cost = Callable[[Key], tuple[Number, ...]]


@dataclass
class _Suppression:
    """The state of secondary suppression over one table's structure."""

    table: SecrecyTable
    cost: Cost
    hidden: set[Key] = field(default_factory=set)
    totals: frozenset[Key] = field(init=False)

    def __post_init__(self) -> None:
        self.totals = self.table.totals

    def preference(self, key: Key) -> tuple[Any, ...]:
        """Cheapest first: a cell whose cost is not all zeros before one that is, then the smallest
        cost, an inner cell before a total, then key order.

        A zero cell (an empty cell, the receipts of free shows) shields nothing: 0 is the first
        value anyone guesses, and with it its partner's value is the published sum. It is hidden
        only when nothing else is left."""
        cost = self.cost(key)
        return (not any(cost), cost, key in self.totals, sort_key(key))

    def cheapest(self, candidates: Iterable[Key]) -> Key | None:
        visible = [key for key in candidates if key not in self.hidden]
        return min(visible, key=self.preference) if visible else None

    def balance(self) -> None:
        """Until no relation has a lone hidden member, hide the cheapest other member of the first.
        (A relation has two members at least, so the lone hidden one always has a visible partner.)"""
        while lonely := lone_hidden(self.table.relations, self.hidden):
            visible = [key for key in lonely[0].members if key not in self.hidden]
            self.hidden.add(min(visible, key=self.preference))

    def shield(self, exposed: Key) -> bool:
        """Hide one more cell next to a cell that the system of relations determines: the cheapest
        visible member of its relations, else of any relation. False when none is left."""
        around = [key for relation in self.table.relations if exposed in relation.members for key in relation.members]
        chosen = self.cheapest(around) or self.cheapest(
            key for relation in self.table.relations for key in relation.members
        )
        if chosen is None:
            return False
        self.hidden.add(chosen)
        return True

    def safe(self, hidden: set[Key]) -> bool:
        relations = self.table.relations
        return not lone_hidden(relations, hidden) and not recomputable(relations, hidden)

    def prune(self, primary: set[Key]) -> None:
        """Publish again every secondary cell not needed, the most costly first, until stable."""
        changed = True
        while changed:
            changed = False
            for key in sorted(self.hidden - primary, key=self.preference, reverse=True):
                trial = self.hidden - {key}
                if self.safe(trial):
                    self.hidden = trial
                    changed = True


def secondary_suppression(table: SecrecyTable, primary: Iterable[Key], cost: Cost | None = None) -> set[Key]:
    """The cells to hide besides `primary` so that no hidden cell can be recomputed exactly.

    `cost(key)` orders the candidates (default: the cell's value). See the module docstring for the
    three steps and the guarantee. Deterministic for a given table, primary set and cost.

    It always ends: each round hides one more cell. In a `cross_table` hiding everything would be
    safe (setting a cell and every margin above it to 1, the rest to 0, satisfies every relation,
    so no cell is ever pinned down by the relations alone), so the guarantee always holds there.
    With hand-written relations, a cell that the relations alone pin down whatever the figures
    (e.g. `t = a + b` and `t = a`, which force `b = 0`) stays as it is: its value is known anyway.
    """
    primary = set(primary)
    unknown = sorted(primary - table.cells.keys(), key=sort_key)
    if unknown:
        raise SecrecyError(f"primary cells that are not in the table: {unknown[:5]}")
    state = _Suppression(table=table, cost=cost or (lambda key: (table.cells[key].value,)), hidden=set(primary))
    while True:
        state.balance()
        exposed = recomputable(table.relations, state.hidden)
        if not exposed or not state.shield(exposed[0]):
            break
    state.prune(primary)
    return state.hidden - primary


# ---------------------------------------------------------------------------- output


@dataclass(frozen=True)
class PublishedCell:
    """A cell as published: its value, or None when hidden (or undefined: a ratio over 0)."""

    value: Number | None
    status: Status
    reason: str | None = None

    @property
    def hidden(self) -> bool:
        return self.status != PUBLISHED

    def as_dict(self) -> dict[str, Any]:
        return {"value": self.value, "status": self.status, "reason": self.reason}


@dataclass(frozen=True)
class ProtectedTable:
    """Every cell of a table (margins included) as published."""

    cells: Mapping[Key, PublishedCell]

    @property
    def hidden(self) -> frozenset[Key]:
        return frozenset(key for key, cell in self.cells.items() if cell.hidden)

    def as_list(self) -> list[dict[str, Any]]:
        """The cells sorted by key, each `{"key": [...], "value", "status", "reason"}` (TOTAL as
        "total")."""
        return [
            {"key": [_plain(value) for value in key], **self.cells[key].as_dict()}
            for key in sorted(self.cells, key=sort_key)
        ]


def _plain(value: Hashable) -> Hashable:
    return value.value if isinstance(value, Margin) else value


def secondary_reason() -> str:
    return _("secret secondaire")


def _publish(table: SecrecyTable, primary: Mapping[Key, str], secondary: set[Key]) -> ProtectedTable:
    cells: dict[Key, PublishedCell] = {}
    for key, figures in table.cells.items():
        if key in primary:
            cells[key] = PublishedCell(value=None, status=PRIMARY, reason=primary[key])
        elif key in secondary:
            cells[key] = PublishedCell(value=None, status=SECONDARY, reason=secondary_reason())
        else:
            cells[key] = PublishedCell(value=figures.value, status=PUBLISHED)
    return ProtectedTable(cells=cells)


def _primary_cells(table: SecrecyTable, rules: SecrecyRules) -> dict[Key, str]:
    reasons = {key: primary_reason(figures, rules) for key, figures in table.cells.items()}
    return {key: reason for key, reason in reasons.items() if reason is not None}


def protect(table: SecrecyTable, rules: SecrecyRules = DEFAULT_RULES) -> ProtectedTable:
    """Primary secrecy then secondary suppression of one measure's table."""
    primary = _primary_cells(table, rules)
    return _publish(table, primary, secondary_suppression(table, primary))


def protect_jointly(
    tables: Mapping[str, SecrecyTable], rules: SecrecyRules = DEFAULT_RULES
) -> dict[str, ProtectedTable]:
    """Several measures of the same table (same keys, same relations) with one suppression pattern.

    A cell confidential in one measure is hidden in all of them ("secret secondaire" where it was
    not confidential itself), so that no relation between measures (attendance = paying + exempt
    tickets) reveals it. Candidates cost their values in the measures' order.
    """
    if not tables:
        return {}
    names = list(tables)
    first = tables[names[0]]
    for name in names[1:]:
        other = tables[name]
        if other.cells.keys() != first.cells.keys() or set(other.relations) != set(first.relations):
            raise SecrecyError(f"the table of {name!r} does not have the keys and relations of {names[0]!r}")
    primaries = {name: _primary_cells(tables[name], rules) for name in names}
    union = {key for primary in primaries.values() for key in primary}

    def cost(key: Key) -> tuple[Number, ...]:
        return tuple(tables[name].cells[key].value for name in names)

    hidden = union | secondary_suppression(first, union, cost)
    return {name: _publish(tables[name], primaries[name], hidden - primaries[name].keys()) for name in names}


def protect_ratio(
    numerator: ProtectedTable,
    denominator: ProtectedTable,
    *,
    denominator_key: Callable[[Key], Key] | None = None,
) -> ProtectedTable:
    """A ratio per key of the numerator (average price = receipts / paying tickets, fill rate =
    attendance / capacity, a share = part / whole), from the two protected component tables.

    The ratio is hidden when either component cell is hidden: "primary" with the component's reason
    when one of them is confidential itself, else "secondary". Otherwise it is the exact quotient
    (Decimal; rounding is the display's business), or None over a zero denominator (undefined, not
    secret). `denominator_key` maps a numerator key to its denominator's (default: the same key; a
    share of the grand total of a 2-D table: `lambda key: (TOTAL, TOTAL)`).
    """
    pick = denominator_key or (lambda key: key)
    cells: dict[Key, PublishedCell] = {}
    for key in sorted(numerator.cells, key=sort_key):
        top, bottom = numerator.cells[key], denominator.cells.get(pick(key))
        if bottom is None:
            raise SecrecyError(f"no denominator cell {pick(key)!r} for {key!r}")
        cells[key] = _ratio_cell(top, bottom)
    return ProtectedTable(cells=cells)


def _ratio_cell(top: PublishedCell, bottom: PublishedCell) -> PublishedCell:
    confidential = next((part for part in (top, bottom) if part.status == PRIMARY), None)
    if confidential is not None:
        return PublishedCell(value=None, status=PRIMARY, reason=confidential.reason)
    if top.hidden or bottom.hidden:
        return PublishedCell(value=None, status=SECONDARY, reason=secondary_reason())
    if top.value is None or bottom.value is None or bottom.value == 0:
        return PublishedCell(value=None, status=PUBLISHED)  # undefined: nothing over nothing
    value = Decimal(top.value) / Decimal(bottom.value)
    return PublishedCell(value=value, status=PUBLISHED)
