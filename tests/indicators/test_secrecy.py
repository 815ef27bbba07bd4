"""Statistical secrecy of published tables: primary rules at their thresholds, secondary suppression
checked by an attacker who recomputes hidden cells from what is published, ratios, determinism.

The attacker (`attack`) knows only the published table: the keys, the published values, which cells
are hidden. It derives the relations itself from the keys (a margin is the sum of the keys that
differ from it in one TOTAL position), then solves them exactly (Gauss-Jordan over fractions, dense,
written independently of the module's sparse solver). Tables are built from per-structure
contributions (`build`), so every margin's contributors and largest contribution are the true ones.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from collections import defaultdict
from collections.abc import Mapping
from decimal import Decimal
from fractions import Fraction
from itertools import product
from pathlib import Path
from typing import Any

import pytest

from dataspace.indicators.secrecy import (
    PRIMARY,
    PUBLISHED,
    SECONDARY,
    TOTAL,
    CellFigures,
    Key,
    ProtectedTable,
    PublishedCell,
    Relation,
    SecrecyError,
    SecrecyRules,
    SecrecyTable,
    cell_figures,
    cross_table,
    primary_reason,
    protect,
    protect_jointly,
    protect_ratio,
)

FEW = "moins de 3 structures"
DOMINANT = "une structure représente plus de 85 %"
SECRET = "secret secondaire"

Contributions = Mapping[Key, Mapping[str, Any]]


# ---------------------------------------------------------------------------- helpers


def covering(key: Key) -> list[Key]:
    """The key and every margin above it (each position kept or replaced by TOTAL)."""
    return [tuple(choice) for choice in product(*[(value, TOTAL) for value in key])]


def build(contributions: Contributions) -> SecrecyTable:
    """A cross table with complete margins from {cell key: {structure: value}}."""
    per_key: dict[Key, dict[str, Any]] = defaultdict(lambda: defaultdict(int))
    for key, by_structure in contributions.items():
        for target in covering(key):
            for structure, value in by_structure.items():
                per_key[target][structure] += value
    figures = {
        key: CellFigures(value=sum(values.values()), contributors=len(values), largest=max(values.values()))
        for key, values in per_key.items()
    }
    cells = {key: cell for key, cell in figures.items() if TOTAL not in key}
    return cross_table(cells, {key: cell for key, cell in figures.items() if TOTAL in key})


def spread(value: int, structures: int = 4, prefix: str = "s") -> dict[str, int]:
    """`value` shared evenly-ish by `structures` structures (none dominant when there are 3+)."""
    share, rest = divmod(value, structures)
    return {f"{prefix}{index}": share + (rest if index == 0 else 0) for index in range(structures)}


def equations(published: ProtectedTable) -> list[tuple[Key, list[Key]]]:
    """The relations an attacker reads off the keys: each margin = the sum of its parts along each
    TOTAL position."""
    keys = list(published.cells)
    found = []
    for total in keys:
        for position, value in enumerate(total):
            if value is TOTAL:
                parts = [
                    key
                    for key in keys
                    if key[position] is not TOTAL and all(key[i] == total[i] for i in range(len(key)) if i != position)
                ]
                found.append((total, parts))
    return found


def attack(published: ProtectedTable, known: list[tuple[Key, list[Key]]] | None = None) -> dict[Key, Fraction]:
    """Every hidden cell the attacker computes exactly, with its value, from the relations read off
    the keys (or `known` ones: (total, parts))."""
    hidden = sorted((key for key, cell in published.cells.items() if cell.hidden), key=repr)
    column = {key: index for index, key in enumerate(hidden)}
    matrix: list[list[Fraction]] = []
    for total, parts in equations(published) if known is None else known:
        # total - sum(parts) = 0  ->  hidden terms on the left, published ones on the right.
        row = [Fraction(0)] * (len(hidden) + 1)
        for key, sign in [(total, 1), *[(part, -1) for part in parts]]:
            if key in column:
                row[column[key]] += sign
            else:
                row[-1] -= sign * Fraction(published.cells[key].value)
        if any(row[:-1]):
            matrix.append(row)
    # Dense Gauss-Jordan elimination.
    pivot_rows: list[tuple[int, int]] = []
    for col in range(len(hidden)):
        start = len(pivot_rows)
        found = next((r for r in range(start, len(matrix)) if matrix[r][col] != 0), None)
        if found is None:
            continue
        matrix[start], matrix[found] = matrix[found], matrix[start]
        pivot = matrix[start] = [value / matrix[start][col] for value in matrix[start]]
        nonzero = [index for index, value in enumerate(pivot) if value]
        for r, row in enumerate(matrix):
            if r != start and row[col] != 0:
                factor = row[col]
                for index in nonzero:
                    row[index] -= factor * pivot[index]
        pivot_rows.append((start, col))
    return {
        hidden[col]: matrix[r][-1]
        for r, col in pivot_rows
        if all(value == 0 for index, value in enumerate(matrix[r][:-1]) if index != col)
    }


def peel(published: ProtectedTable) -> dict[Key, Fraction]:
    """The simple attacker: while some relation has one unknown member, subtract."""
    known = {key: Fraction(cell.value) for key, cell in published.cells.items() if not cell.hidden}
    found: dict[Key, Fraction] = {}
    progress = True
    while progress:
        progress = False
        for total, parts in equations(published):
            unknown = [key for key in [total, *parts] if key not in known]
            if len(unknown) == 1:
                parts_sum = sum((known[part] for part in parts if part in known), Fraction(0))
                value = known[total] - parts_sum if unknown[0] != total else parts_sum
                known[unknown[0]] = found[unknown[0]] = value
                progress = True
    return found


def hide(table: SecrecyTable, keys: set[Key]) -> ProtectedTable:
    """A table published with exactly `keys` hidden (a naive suppression to attack)."""
    return ProtectedTable(
        cells={
            key: PublishedCell(value=None, status=PRIMARY)
            if key in keys
            else PublishedCell(value=cell.value, status=PUBLISHED)
            for key, cell in table.cells.items()
        }
    )


def statuses(published: ProtectedTable) -> dict[Key, str]:
    return {key: cell.status for key, cell in published.cells.items()}


# ---------------------------------------------------------------------------- primary secrecy


@pytest.mark.parametrize(
    ("value", "contributors", "largest", "reason"),
    [
        (300, 2, 150, FEW),
        (300, 3, 100, None),
        (300, 1, 300, FEW),
        (100, 3, 85, None),  # exactly 85 %: allowed
        (100, 3, 86, DOMINANT),
        (Decimal("1000.00"), 5, Decimal("850.00"), None),
        (Decimal("1000.00"), 5, Decimal("850.01"), DOMINANT),
        (0, 3, 0, None),  # nothing to dominate
        (0, 2, 0, FEW),  # two free shows are still two structures
        (0, 0, 0, None),  # an empty cell describes nobody
        (10, 2, 10, FEW),  # both rules: the count comes first
    ],
)
def test_primary_rules_at_their_boundaries(value: Any, contributors: int, largest: Any, reason: str | None) -> None:
    assert primary_reason(CellFigures(value, contributors, largest)) == reason


def test_thresholds_are_parameters() -> None:
    rules = SecrecyRules(min_contributors=5, dominance=Decimal("0.875"))
    assert primary_reason(CellFigures(100, 4, 10), rules) == "moins de 5 structures"
    assert primary_reason(CellFigures(1000, 5, 876), rules) == "une structure représente plus de 87,5 %"
    assert primary_reason(CellFigures(1000, 5, 875), rules) is None
    with pytest.raises(SecrecyError):
        SecrecyRules(min_contributors=0)
    with pytest.raises(SecrecyError):
        SecrecyRules(dominance=Decimal("1.2"))


def test_inconsistent_figures_are_refused() -> None:
    with pytest.raises(SecrecyError, match="largest"):
        CellFigures(100, 3, 101)
    with pytest.raises(SecrecyError, match="negative"):
        CellFigures(-1, 3, 0)
    with pytest.raises(SecrecyError, match="contributors"):
        CellFigures(5, 0, 0)
    cells = {("a",): CellFigures(10, 3, 4), ("b",): CellFigures(20, 3, 8)}
    with pytest.raises(SecrecyError, match="parts add up to 30"):
        cross_table(cells, {(TOTAL,): CellFigures(31, 6, 8)})
    with pytest.raises(SecrecyError, match="missing margins"):
        cross_table({("a", "x"): CellFigures(10, 3, 4)}, {("a", TOTAL): CellFigures(10, 3, 4)})
    with pytest.raises(SecrecyError, match="not in the table"):
        SecrecyTable(cells=cells, relations=(Relation(total=("c",), parts=(("a",), ("b",))),))


def test_cell_figures_reads_a_local_aggregate_cell() -> None:
    document = {
        "key": {"discipline": "theatre"},
        "values": {"attendance": 420, "receipts": Decimal("5120.50")},
        "contributors": 4,
        "largest": {"attendance": 200, "receipts": Decimal("2500.00")},
    }
    assert cell_figures(document, "receipts") == CellFigures(Decimal("5120.50"), 4, Decimal("2500.00"))


# ---------------------------------------------------------------------------- secondary suppression, 1-D


def one_way() -> SecrecyTable:
    """Attendance per discipline: dance has two structures; circus is the smallest other cell."""
    return build(
        {
            ("danse",): {"s1": 70, "s2": 50},
            ("théâtre",): spread(500),
            ("cirque",): spread(80),
            ("musique",): spread(900),
        }
    )


def test_one_confidential_cell_gets_the_smallest_neighbour_hidden() -> None:
    table = one_way()
    published = protect(table)
    assert statuses(published) == {
        ("danse",): PRIMARY,
        ("cirque",): SECONDARY,
        ("théâtre",): PUBLISHED,
        ("musique",): PUBLISHED,
        (TOTAL,): PUBLISHED,
    }
    assert published.cells[("danse",)].as_dict() == {"value": None, "status": "primary", "reason": FEW}
    assert published.cells[("cirque",)].as_dict() == {"value": None, "status": "secondary", "reason": SECRET}
    assert published.cells[(TOTAL,)].as_dict() == {"value": 1600, "status": "published", "reason": None}
    assert published.as_list()[-1] == {"key": ["total"], "value": 1600, "status": "published", "reason": None}
    # Without the second cell, subtraction gives dance away; with it, nothing can be recomputed.
    assert peel(hide(table, {("danse",)})) == {("danse",): 120}
    assert attack(published) == {}
    assert peel(published) == {}


def test_a_confidential_total_is_protected_too() -> None:
    """Two cells, both confidential, so is their total: all hidden, no other choice."""
    table = build({("danse",): {"s1": 70}, ("cirque",): {"s1": 30, "s2": 10}})
    published = protect(table)
    assert statuses(published) == {("danse",): PRIMARY, ("cirque",): PRIMARY, (TOTAL,): PRIMARY}
    assert attack(published) == {}


def test_two_cells_one_confidential_hides_the_other_not_the_total() -> None:
    table = build({("danse",): {"s1": 70, "s2": 5}, ("cirque",): spread(900)})
    published = protect(table)
    assert statuses(published) == {("danse",): PRIMARY, ("cirque",): SECONDARY, (TOTAL,): PUBLISHED}


def test_ties_are_broken_by_key_and_inner_cells_before_totals() -> None:
    table = build({("a",): {"s1": 10}, ("b",): spread(40), ("c",): spread(40)})
    assert protect(table).hidden == {("a",), ("b",)}
    # a row whose only other member is its total: the total goes
    lone = build({("x", "a"): {"s1": 5, "s2": 4}, ("y", "a"): spread(40), ("y", "b"): spread(40)})
    hidden = protect(lone).hidden
    assert ("x", TOTAL) in hidden  # the x row has a single cell: its total equals it
    assert attack(protect(lone)) == {}


def test_an_empty_cell_is_published_and_zero_cells_shield_nothing() -> None:
    """A cell with no structure (0) is published; zero cells are the cheapest, yet not picked as a
    shield while another cell is left."""
    cells = {
        ("danse",): CellFigures(120, 2, 70),
        ("mime",): CellFigures(0, 0, 0),
        ("théâtre",): CellFigures(500, 4, 125),
        ("cirque",): CellFigures(80, 4, 20),
    }
    table = cross_table(cells, {(TOTAL,): CellFigures(700, 9, 200)})
    published = protect(table)
    assert published.cells[("mime",)].as_dict() == {"value": 0, "status": "published", "reason": None}
    assert published.hidden == {("danse",), ("cirque",)}
    # next to a zero cell, the total goes (hiding the 0 would give dance away: total - 0)
    free = build({("danse",): {"s1": 7, "s2": 5}, ("cirque",): spread(0, 3)})
    assert protect(free).hidden == {("danse",), (TOTAL,)}
    # a zero cell is used when nothing else is left
    nothing = build({("danse",): {"s1": 0, "s2": 0}, ("cirque",): spread(0, 3)})
    assert protect(nothing).hidden == {("danse",), ("cirque",)}


def test_without_margins_only_primary_secrecy_applies() -> None:
    cells = {("danse",): CellFigures(120, 2, 70), ("théâtre",): CellFigures(500, 4, 125)}
    assert statuses(protect(cross_table(cells))) == {("danse",): PRIMARY, ("théâtre",): PUBLISHED}


# ---------------------------------------------------------------------------- secondary suppression, 2-D


def two_way() -> SecrecyTable:
    """Attendance per region × discipline; (Bretagne, danse) has two structures."""
    values = {
        ("Bretagne", "danse"): {"b1": 60, "b2": 40},
        ("Bretagne", "théâtre"): spread(300),
        ("Bretagne", "cirque"): spread(90),
        ("Normandie", "danse"): spread(200),
        ("Normandie", "théâtre"): spread(800),
        ("Normandie", "cirque"): spread(120),
        ("Occitanie", "danse"): spread(150),
        ("Occitanie", "théâtre"): spread(700),
        ("Occitanie", "cirque"): spread(400),
    }
    return build(values)


def test_naive_suppression_of_a_two_way_table_leaks() -> None:
    table = two_way()
    target = ("Bretagne", "danse")
    # Hiding a second cell in the row, as in a one-way table, leaves the column: danse's total minus
    # Normandie and Occitanie gives Bretagne's dance figure, and then the row gives the other cell.
    naive = {target, ("Bretagne", "cirque")}
    assert peel(hide(table, naive)) == {target: 100, ("Bretagne", "cirque"): 90}
    assert attack(hide(table, naive))[target] == 100

    published = protect(table)
    assert published.cells[target].status == PRIMARY
    # The smallest cell of the Bretagne row, then of the circus column, then of the Normandie row:
    # a rectangle (every row and column with two hidden cells, none of them determined).
    assert published.cells[("Bretagne", "cirque")].status == SECONDARY
    assert published.cells[("Normandie", "cirque")].status == SECONDARY
    assert published.cells[("Normandie", "danse")].status == SECONDARY
    assert len(published.hidden) == 4
    for key in published.hidden:
        assert key not in attack(published)
    assert peel(published) == {}
    # every margin stays published
    assert all(published.cells[key].status == PUBLISHED for key in table.cells if TOTAL in key)


def test_a_bridge_between_two_blocks_is_found_by_combining_relations() -> None:
    """Every row and column has two hidden cells or more, yet rows 1+2 minus columns 1+2 give the
    cell that links the two blocks. Single-relation checks miss it; the audit does not."""
    rows, columns = ["r1", "r2", "r3", "r4"], ["c1", "c2", "c3", "c4"]
    confidential = {("r1", "c1"), ("r1", "c2"), ("r2", "c1"), ("r2", "c2"), ("r3", "c3"), ("r3", "c4")}
    confidential |= {("r4", "c3"), ("r4", "c4"), ("r1", "c3")}
    values: dict[Key, dict[str, int]] = {}
    for index, key in enumerate(product(rows, columns)):
        amount = 50 + 37 * index
        values[key] = {"x": amount // 2, "y": amount - amount // 2} if key in confidential else spread(amount)
    table = build(values)
    published = protect(table)
    assert {key for key, cell in published.cells.items() if cell.status == PRIMARY} == confidential

    only_primary = hide(table, confidential)
    assert peel(only_primary) == {}  # no single relation has a lone unknown
    assert attack(only_primary) == {("r1", "c3"): table.cells[("r1", "c3")].value}

    assert len(published.hidden) > len(confidential)
    assert attack(published) == {}


def test_every_secondary_cell_is_needed() -> None:
    published = protect(two_way())
    for key in published.hidden:
        if published.cells[key].status == SECONDARY:
            fewer = hide(two_way(), set(published.hidden) - {key})
            assert attack(fewer), key


def test_hand_written_relations_a_hierarchy() -> None:
    """Départements within regions within the country: each level is the sum of the one below."""
    figures = {
        ("35",): CellFigures(100, 2, 60),  # confidential
        ("29",): CellFigures(400, 5, 100),
        ("56",): CellFigures(250, 4, 80),
        ("14",): CellFigures(300, 4, 90),
        ("50",): CellFigures(90, 3, 40),
        ("Bretagne",): CellFigures(750, 11, 100),
        ("Normandie",): CellFigures(390, 7, 90),
        ("France",): CellFigures(1140, 18, 100),
    }
    relations = (
        Relation(total=("Bretagne",), parts=(("35",), ("29",), ("56",))),
        Relation(total=("Normandie",), parts=(("14",), ("50",))),
        Relation(total=("France",), parts=(("Bretagne",), ("Normandie",))),
    )
    published = protect(SecrecyTable(cells=figures, relations=relations))
    assert statuses(published) == {
        **{key: PUBLISHED for key in figures},
        ("35",): PRIMARY,
        ("56",): SECONDARY,  # the smaller other département of Bretagne
    }
    known = [(relation.total, list(relation.parts)) for relation in relations]
    assert attack(published, known) == {}
    assert attack(hide(SecrecyTable(cells=figures, relations=relations), {("35",)}), known) == {("35",): 100}


# ---------------------------------------------------------------------------- determinism


def test_same_input_same_output_whatever_the_insertion_order() -> None:
    table = two_way()
    shuffled_cells = list(table.cells.items())
    random.Random(3).shuffle(shuffled_cells)
    cells = {key: cell for key, cell in shuffled_cells if TOTAL not in key}
    margins = {key: cell for key, cell in shuffled_cells if TOTAL in key}
    assert protect(cross_table(cells, margins)).as_list() == protect(table).as_list() == protect(table).as_list()


SCRIPT = """
import json
from django.conf import settings
settings.configure(USE_I18N=False)
from tests.indicators.test_secrecy import random_contributions, build
from dataspace.indicators.secrecy import protect
import random
rng = random.Random(5)
print(json.dumps([protect(build(random_contributions(rng, 2))).as_list() for _ in range(20)], default=str))
"""


def test_same_output_under_another_hash_seed() -> None:
    """Set iteration order changes with PYTHONHASHSEED; the result must not."""
    root = Path(__file__).resolve().parents[2]
    outputs = []
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": str(root)}
        env.pop("DJANGO_SETTINGS_MODULE", None)
        command = [sys.executable, "-c", SCRIPT]
        done = subprocess.run(command, cwd=root, env=env, capture_output=True, text=True, check=True)  # noqa: S603
        outputs.append(json.loads(done.stdout))
    assert outputs[0] == outputs[1]
    assert any(cell["status"] == SECONDARY for table in outputs[0] for cell in table)


# ---------------------------------------------------------------------------- several measures, ratios


def measures() -> dict[str, SecrecyTable]:
    """Receipts and paying tickets per discipline; in dance one structure makes 90 % of receipts but
    not of tickets; circus is free (receipts 0)."""
    receipts = {
        ("danse",): {"s1": Decimal("900.00"), "s2": Decimal("50.00"), "s3": Decimal("50.00")},
        ("théâtre",): {f"t{i}": Decimal("2000.00") for i in range(4)},
        ("cirque",): {f"c{i}": Decimal("0.00") for i in range(3)},
        ("musique",): {f"m{i}": Decimal("1500.00") for i in range(3)},
    }
    tickets = {
        ("danse",): {"s1": 40, "s2": 30, "s3": 30},
        ("théâtre",): {f"t{i}": 100 for i in range(4)},
        ("cirque",): {f"c{i}": 0 for i in range(3)},
        ("musique",): {f"m{i}": 60 for i in range(3)},
    }
    return {"receipts": build(receipts), "paying_tickets": build(tickets)}


def test_ratios_are_hidden_with_their_components() -> None:
    tables = measures()
    receipts, tickets = protect(tables["receipts"]), protect(tables["paying_tickets"])
    # circus's receipts are 0: too easy to guess to shield anything; music is the smallest other
    assert receipts.hidden == {("danse",), ("musique",)}
    assert tickets.hidden == frozenset()
    price = protect_ratio(receipts, tickets)
    assert price.cells[("danse",)].as_dict() == {"value": None, "status": "primary", "reason": DOMINANT}
    assert price.cells[("musique",)].as_dict() == {"value": None, "status": "secondary", "reason": SECRET}
    assert price.cells[("théâtre",)].as_dict() == {"value": Decimal(20), "status": "published", "reason": None}
    assert price.cells[("cirque",)].value is None  # free: no paying ticket, no average price
    assert price.cells[("cirque",)].status == PUBLISHED
    assert price.cells[(TOTAL,)].value == Decimal("13500.00") / Decimal(680)


def test_a_ratio_over_zero_is_undefined_not_secret() -> None:
    table = build({("a",): spread(0, 3), ("b",): spread(90, 3)})
    zero = protect(table)
    ratio = protect_ratio(zero, zero)
    assert ratio.cells[("a",)].as_dict() == {"value": None, "status": "published", "reason": None}
    assert ratio.cells[("b",)].value == 1


def test_a_share_of_the_total_follows_the_total() -> None:
    table = one_way()
    published = protect(table)
    share = protect_ratio(published, published, denominator_key=lambda key: (TOTAL,))
    assert share.cells[("théâtre",)].value == Decimal(500) / Decimal(1600)
    assert share.cells[("danse",)].status == PRIMARY
    assert share.cells[("cirque",)].status == SECONDARY
    with pytest.raises(SecrecyError, match="no denominator"):
        protect_ratio(published, published, denominator_key=lambda key: ("opéra",))


def test_measures_protected_jointly_share_one_pattern() -> None:
    joint = protect_jointly(measures())
    assert joint["receipts"].hidden == joint["paying_tickets"].hidden == {("danse",), ("musique",)}
    # dance is confidential for its receipts only: in tickets it is hidden as secondary secrecy
    assert joint["receipts"].cells[("danse",)].reason == DOMINANT
    secondary = {"value": None, "status": "secondary", "reason": SECRET}
    assert joint["paying_tickets"].cells[("danse",)].as_dict() == secondary
    assert all(not attack(table) for table in joint.values())
    price = protect_ratio(joint["receipts"], joint["paying_tickets"])
    assert price.cells[("danse",)].status == PRIMARY
    with pytest.raises(SecrecyError, match="keys and relations"):
        protect_jointly({"receipts": measures()["receipts"], "other": two_way()})


# ---------------------------------------------------------------------------- property: random tables


def random_contributions(rng: random.Random, dimensions: int) -> dict[Key, dict[str, int]]:
    """A random sparse table: 3-25 structures, each in 1-4 cells, values from 0 to 2000."""
    axes = [[f"d{axis}v{index}" for index in range(rng.randint(2, 5))] for axis in range(dimensions)]
    values: dict[Key, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for structure in range(rng.randint(3, 25)):
        for _ in range(rng.randint(1, 4)):
            key = tuple(rng.choice(axis) for axis in axes)
            values[key][f"s{structure}"] += rng.choice([0, rng.randint(1, 50), rng.randint(1, 2000)])
    return values


def test_random_tables_never_leak() -> None:
    rng = random.Random(20261007)
    suppressed_somewhere = 0
    for round_ in range(300):
        dimensions = (1, 2, 2, 3)[round_ % 4]
        table = build(random_contributions(rng, dimensions))
        published = protect(table)
        hidden = set(published.hidden)
        for key, cell in published.cells.items():
            reason = primary_reason(table.cells[key])
            assert (cell.status == PRIMARY) == (reason is not None)
            assert cell.value == (None if cell.hidden else table.cells[key].value)
        for total, parts in equations(published):
            members = [total, *parts]
            assert sum(key in hidden for key in members) != 1, (round_, total)
        assert attack(published) == {}, round_
        suppressed_somewhere += any(cell.status == SECONDARY for cell in published.cells.values())
    assert suppressed_somewhere > 50  # the property is exercised, not vacuous
