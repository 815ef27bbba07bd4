"""Ministry campaigns without the network: creation, the partials' checks, combining several nodes'
partials, statistical secrecy of the published tables, provenance, re-publication, progress.

Partials are built here from per-structure contributions (`partial`), exactly as a structure node
builds them (every grouping, contributors, largest contribution), and recorded through
`campaigns.record_answer`, the function a run uses for each node's answer. The expected figures
are recomputed from those contributions, independently of the module.
"""

from __future__ import annotations

import datetime as dt
import json
import random
from collections.abc import Mapping
from decimal import ROUND_HALF_UP, Decimal
from itertools import combinations
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from dataspace.audit.models import JournalEntry
from dataspace.indicators import campaigns, catalogue
from dataspace.indicators.aggregate import AMOUNTS
from dataspace.indicators.models import Campaign, CampaignNode
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

State = CampaignNode.State
FEW = "moins de 3 structures"
DOMINANT = "une structure représente plus de 85 %"
SECRET = "secret secondaire"
NODE_A, NODE_B, NODE_C = "https://scene-a.example", "https://scene-b.example", "https://scene-c.example"

#: structure URI -> cell key (one value per campaign dimension) -> {measure: value}
Contributions = Mapping[str, Mapping[tuple[Any, ...], Mapping[str, Any]]]


@pytest.fixture
def ministry(settings: Any) -> None:
    settings.NODE_ROLES = ["ministry"]
    catalogue.seed_catalogue()


def new_campaign(
    dimensions: list[str],
    indicators: tuple[str, ...] = ("attendance", "receipts", "fill_rate", "average_price"),
    start: dt.date = dt.date(2026, 10, 1),
    end: dt.date = dt.date(2026, 12, 31),
) -> Campaign:
    campaign = campaigns.create_campaign(
        title="Fréquentation T4 2026",
        indicators=list(indicators),
        period_start=start,
        period_end=end,
        dimensions=dimensions,
        by=None,
    )
    Campaign.objects.filter(pk=campaign.pk).update(state=Campaign.State.RUNNING)
    campaign.refresh_from_db()
    return campaign


def uri(name: str) -> str:
    return f"https://{name}.example/id/organisation/{name}"


# ---------------------------------------------------------------------------- building partials


def _zero(measure: str) -> Any:
    return Decimal("0.00") if measure in AMOUNTS else 0


def _wire(measure: str, value: Any) -> Any:
    return f"{Decimal(value):.2f}" if measure in AMOUNTS else int(value)


def partial(
    campaign: Campaign, node: str, contributions: Contributions, *, as_of: str = "2026-11-30T16:20:00Z"
) -> dict[str, Any]:
    """The partial a structure node answers for these structures' contributions
    (docs/indicators.md, "The campaign protocol")."""
    dimensions = list(campaign.dimensions)
    measures = campaigns.measures_needed(campaigns.definitions_of(campaign))
    groupings = []
    for size in range(len(dimensions), -1, -1):
        for subset in combinations(dimensions, size):
            positions = [dimensions.index(name) for name in subset]
            cells: dict[tuple[Any, ...], dict[str, dict[str, Any]]] = {}
            for structure, per_cell in contributions.items():
                for key, values in per_cell.items():
                    sub = tuple(key[position] for position in positions)
                    mine = cells.setdefault(sub, {}).setdefault(structure, {m: _zero(m) for m in measures})
                    for measure in measures:
                        mine[measure] += (
                            Decimal(str(values.get(measure, 0))) if measure in AMOUNTS else int(values.get(measure, 0))
                        )
            documents = [
                {
                    "key": dict(zip(subset, sub, strict=True)),
                    "values": {m: _wire(m, sum((c[m] for c in per.values()), _zero(m))) for m in measures},
                    "contributors": len(per),
                    "largest": {m: _wire(m, max(c[m] for c in per.values())) for m in measures},
                }
                for sub, per in sorted(cells.items(), key=lambda item: [(v is None, v or "") for v in item[0]])
            ]
            if not subset and not documents:
                documents = [
                    {"key": {}, "values": {m: _wire(m, 0) for m in measures}, "contributors": 0, "largest": {}}
                ]
                documents[0]["largest"] = dict(documents[0]["values"])
            groupings.append({"dimensions": list(subset), "cells": documents})
    return {
        "campaign": str(campaign.pk),
        "node": node,
        "as_of": as_of,
        "period": {"start": campaign.period_start.isoformat(), "end": campaign.period_end.isoformat()},
        "dimensions": dimensions,
        "measures": measures,
        "structures": sorted(contributions),
        "groupings": groupings,
    }


def answer(campaign: Campaign, node: str, document: Any, *, name: str = "") -> CampaignNode:
    """Record a node's 200 answer the way a run does; the node's row afterwards."""
    CampaignNode.objects.get_or_create(campaign=campaign, node=node, defaults={"name": name or node})
    signature = {"Signature-Input": 'sig1=("@status")', "Signature": "sig1=:AAAA:", "Content-Digest": "sha-256=:x:"}
    campaigns.record_answer(
        campaign.pk, campaigns.NodeAnswer(node, State.ANSWERED, 42, partial=document, signature=signature)
    )
    return CampaignNode.objects.get(campaign=campaign, node=node)


def expected(contributions: list[Contributions], dimensions: list[str], key: list[Any], measure: str) -> Any:
    """The true sum of `measure` in the published cell `key` ("total" = every value)."""
    total: Any = _zero(measure)
    for node in contributions:
        for per_cell in node.values():
            for cell_key, values in per_cell.items():
                if all(want == "total" or want == got for want, got in zip(key, cell_key, strict=True)):
                    total += Decimal(str(values.get(measure, 0))) if measure in AMOUNTS else values.get(measure, 0)
    return total


def truth(contributions: list[Contributions], key: list[Any], measure: str) -> tuple[int, Any, Any]:
    """(contributors, value, largest) of `measure` in the cell `key`, from the contributions."""
    per_structure: dict[str, Any] = {}
    for node in contributions:
        for structure, per_cell in node.items():
            for cell_key, values in per_cell.items():
                if all(want == "total" or want == got for want, got in zip(key, cell_key, strict=True)):
                    value = Decimal(str(values.get(measure, 0))) if measure in AMOUNTS else values.get(measure, 0)
                    per_structure[structure] = per_structure.get(structure, _zero(measure)) + value
    value = sum(per_structure.values(), _zero(measure))
    return len(per_structure), value, max(per_structure.values(), default=_zero(measure))


def is_primary(contributors: int, value: Any, largest: Any) -> bool:
    return (0 < contributors < 3) or (value > 0 and Decimal(largest) > Decimal("0.85") * Decimal(value))


def indicator(results: dict[str, Any], code: str) -> dict[tuple[Any, ...], dict[str, Any]]:
    found = next(item for item in results["indicators"] if item["code"] == code)
    return {tuple(cell["key"]): cell for cell in found["cells"]}


def lone_hidden_relations(cells: Mapping[tuple[Any, ...], Mapping[str, Any]]) -> list[tuple[Any, ...]]:
    """Margins whose relation (the margin and the keys one TOTAL below it, along one position)
    has exactly one hidden member: that member would be recomputable."""
    lonely = []
    for margin in cells:
        for position, value in enumerate(margin):
            if value != "total":
                continue
            parts = [
                key
                for key in cells
                if key[position] != "total" and all(key[i] == margin[i] for i in range(len(key)) if i != position)
            ]
            members = [margin, *parts]
            if sum(cells[member]["status"] != "published" for member in members) == 1:
                lonely.append(margin)
    return lonely


# ---------------------------------------------------------------------------- creation


def test_create_keeps_the_current_versions(ministry: None) -> None:
    user = UserFactory(username="analyste-creation")
    campaign = campaigns.create_campaign(
        title="  Fréquentation T4 2026 ",
        indicators=["attendance", "average_price", "attendance"],
        period_start="2026-10-01",
        period_end=dt.date(2026, 12, 31),
        dimensions=["region", "discipline"],
        by=user,
    )
    assert campaign.state == Campaign.State.DRAFT
    assert campaign.title == "Fréquentation T4 2026"
    assert campaign.indicators == [{"code": "attendance", "version": 1}, {"code": "average_price", "version": 1}]
    assert campaign.dimensions == ["region", "discipline"]  # the order asked: rows, then columns
    assert campaign.created_by == user
    body = campaigns.request_body(campaign)
    assert body == {
        "campaign": str(campaign.pk),
        "title": "Fréquentation T4 2026",
        "period": {"start": "2026-10-01", "end": "2026-12-31"},
        "dimensions": ["region", "discipline"],
        "measures": ["attendance", "paying_tickets", "receipts"],
        "indicators": [
            {"code": "attendance", "version": 1, "label": "Fréquentation"},
            {"code": "average_price", "version": 1, "label": "Prix moyen du billet"},
        ],
    }


@pytest.mark.parametrize(
    ("fields", "errors"),
    [
        ({"title": "  "}, {"title"}),
        ({"title": "x" * 201}, {"title"}),
        ({"indicators": []}, {"indicators"}),
        ({"indicators": ["attendance", "no_such_indicator"]}, {"indicators"}),
        ({"period_start": "hier"}, {"period_start"}),
        ({"period_end": None}, {"period_end"}),
        ({"period_end": dt.date(2026, 9, 30)}, {"period_end"}),
        ({"period_end": dt.date(2027, 12, 31)}, {"period_end"}),
        # receipts follow whole quarters: mid-October start, end of November
        ({"indicators": ["receipts"], "period_start": dt.date(2026, 10, 15)}, {"period_start"}),
        ({"indicators": ["receipts"], "period_end": dt.date(2026, 11, 30)}, {"period_end"}),
        ({"indicators": ["attendance"], "period_start": dt.date(2026, 10, 2)}, {"period_start"}),
        ({"dimensions": ["discipline", "region", "month"]}, {"dimensions"}),
        ({"dimensions": ["planet"]}, {"dimensions"}),
        ({"dimensions": "discipline"}, {"dimensions"}),
        # receipts are a quarterly indicator: no month dimension
        ({"indicators": ["attendance", "receipts"], "dimensions": ["month"]}, {"dimensions"}),
        ({"title": "", "indicators": [], "dimensions": ["planet"]}, {"title", "indicators", "dimensions"}),
    ],
)
def test_create_names_every_faulty_field(ministry: None, fields: dict[str, Any], errors: set[str]) -> None:
    arguments = {
        "title": "Campagne",
        "indicators": ["attendance", "fill_rate"],
        "period_start": dt.date(2026, 10, 1),
        "period_end": dt.date(2026, 12, 31),
        "dimensions": ["discipline"],
        "by": None,
    } | fields
    with pytest.raises(ValidationError) as raised:
        campaigns.create_campaign(**arguments)
    assert set(raised.value.message_dict) == errors
    assert not Campaign.objects.exists()


def test_create_speaks_french(ministry: None) -> None:
    with pytest.raises(ValidationError) as raised:
        campaigns.create_campaign(
            title="T4",
            indicators=["receipts"],
            period_start=dt.date(2026, 10, 1),
            period_end=dt.date(2026, 12, 31),
            dimensions=["month"],
        )
    assert raised.value.message_dict == {
        "dimensions": ["La dimension « mois » n'est pas proposée par l'indicateur « Recettes de billetterie »."]
    }


def test_only_the_ministry_node_runs_campaigns(settings: Any) -> None:
    settings.NODE_ROLES = ["structure"]
    with pytest.raises(campaigns.NotAMinistryNode):
        campaigns.create_campaign(
            title="T4",
            indicators=["attendance"],
            period_start=dt.date(2026, 10, 1),
            period_end=dt.date(2026, 12, 31),
            dimensions=[],
        )


# ---------------------------------------------------------------------------- one dimension

# Three nodes, six structures; discipline × figures. Danse has two structures (primary « moins de
# 3 »); musique's 1357 entries would be its total minus the others: a secondary cell hides it.
ONE_D: list[Contributions] = [
    {
        uri("a1"): {("theatre",): {"attendance": 400, "paying_tickets": 380, "receipts": "6000.00", "capacity": 500}},
        uri("a2"): {
            ("theatre",): {"attendance": 300, "paying_tickets": 300, "receipts": "4500.50", "capacity": 400},
            ("musique",): {"attendance": 457, "paying_tickets": 400, "receipts": "4000.00", "capacity": 600},
        },
        uri("a3"): {("danse",): {"attendance": 211, "paying_tickets": 200, "receipts": "2222.00", "capacity": 300}},
    },
    {
        uri("b1"): {
            ("theatre",): {"attendance": 350, "paying_tickets": 300, "receipts": "5250.00", "capacity": 400},
            ("musique",): {"attendance": 450, "paying_tickets": 450, "receipts": "4500.00", "capacity": 500},
        },
        uri("b2"): {("danse",): {"attendance": 123, "paying_tickets": 100, "receipts": "1100.00", "capacity": 200}},
    },
    {
        uri("c1"): {
            ("theatre",): {"attendance": 250, "paying_tickets": 200, "receipts": "3000.00", "capacity": 300},
            ("musique",): {"attendance": 450, "paying_tickets": 400, "receipts": "4400.00", "capacity": 500},
        },
    },
]


def publish_one_d(ministry: None) -> tuple[Campaign, dict[str, Any]]:
    campaign = new_campaign(["discipline"])
    for node, contributions, name in zip(
        (NODE_A, NODE_B, NODE_C), ONE_D, ("Scène A", "Scène B", "Scène C"), strict=True
    ):
        assert answer(campaign, node, partial(campaign, node, contributions), name=name).state == State.ANSWERED
    return campaign, campaigns.publish(campaign)


def test_one_dimension_totals_primary_and_secondary(ministry: None) -> None:
    campaign, results = publish_one_d(ministry)
    attendance, receipts = indicator(results, "attendance"), indicator(results, "receipts")
    assert list(attendance) == [("danse",), ("musique",), ("theatre",), ("total",)]
    assert attendance[("danse",)] == {"key": ["danse"], "value": None, "status": "primary", "reason": FEW}
    # one hidden cell in "total = sum of parts" would be given away: the smallest other is hidden too
    assert attendance[("theatre",)]["value"] is None
    assert attendance[("theatre",)]["status"] == "secondary"
    assert attendance[("theatre",)]["reason"] == SECRET
    for table, measure in ((attendance, "attendance"), (receipts, "receipts")):
        for key, cell in table.items():
            if cell["status"] == "published":
                assert Decimal(cell["value"]) == expected(ONE_D, ["discipline"], list(key), measure), key
    assert attendance[("total",)]["value"] == "2991"
    assert attendance[("musique",)]["value"] == "1357"
    assert receipts[("total",)]["value"] == "34972.50"
    assert receipts[("musique",)]["value"] == "12900.00"
    assert not lone_hidden_relations(attendance)
    assert campaign.results == results
    assert Campaign.objects.get(pk=campaign.pk).published_at is not None


def test_ratios_are_hidden_with_their_components(ministry: None) -> None:
    _campaign, results = publish_one_d(ministry)
    fill, price = indicator(results, "fill_rate"), indicator(results, "average_price")
    assert fill[("danse",)] == {"key": ["danse"], "value": None, "status": "primary", "reason": FEW}
    assert fill[("theatre",)] == {"key": ["theatre"], "value": None, "status": "secondary", "reason": SECRET}
    assert price[("danse",)]["status"] == "primary"
    assert price[("theatre",)]["status"] == "secondary"
    # published ratios come from the combined sums, rounded half up as the catalogue says
    assert fill[("musique",)] == {"key": ["musique"], "value": "84.8", "status": "published", "reason": None}
    assert fill[("total",)]["value"] == str(
        (Decimal(100) * 2991 / Decimal(3700)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
    )
    assert price[("musique",)]["value"] == str(
        (Decimal("12900.00") / 1250).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    )
    units = {item["code"]: (item["unit"], item["decimals"]) for item in results["indicators"]}
    assert units == {
        "attendance": ("count", 0),
        "receipts": ("euros", 2),
        "fill_rate": ("percent", 1),
        "average_price": ("euros", 2),
    }


def test_no_hidden_figure_leaves_in_the_results(ministry: None) -> None:
    _campaign, results = publish_one_d(ministry)
    text = json.dumps(results)
    # danse: 334 entries, 3322.00 €, 300 paying, 500 seats; theatre: 1300 entries, 18750.50 €
    for secret in ("334", "3322.00", "1300", "18750.50", "1180", "1600"):
        assert f'"{secret}"' not in text, secret
    assert '"contributors"' not in text  # nor any count of contributors per cell
    assert '"largest"' not in text
    for item in results["indicators"]:
        for cell in item["cells"]:
            if cell["status"] != "published":
                assert cell["value"] is None


def test_dominance_and_few_contributors(ministry: None) -> None:
    campaign = new_campaign(["region"], indicators=("attendance",))
    node_a = {
        uri("a1"): {("Bretagne",): {"attendance": 5000}, ("Normandie",): {"attendance": 100}},
        uri("a2"): {("Bretagne",): {"attendance": 300}, ("Normandie",): {"attendance": 120}},
    }
    node_b = {
        uri("b1"): {("Bretagne",): {"attendance": 200}, (None,): {"attendance": 90}},
        uri("b2"): {(None,): {"attendance": 80}, ("Normandie",): {"attendance": 110}},
        uri("b3"): {(None,): {"attendance": 70}},
    }
    answer(campaign, NODE_A, partial(campaign, NODE_A, node_a))
    answer(campaign, NODE_B, partial(campaign, NODE_B, node_b))
    cells = indicator(campaigns.publish(campaign), "attendance")
    # Bretagne: 3 structures, one of them 5000 of 5500 (90.9 %)
    assert cells[("Bretagne",)] == {"key": ["Bretagne"], "value": None, "status": "primary", "reason": DOMINANT}
    assert cells[("Normandie",)] == {"key": ["Normandie"], "value": "330", "status": "published", "reason": None}
    # one primary cell would be the total minus the others: the smallest other (the unknown region,
    # 3 structures, 240 entries) is hidden with it
    assert cells[(None,)] == {"key": [None], "value": None, "status": "secondary", "reason": SECRET}
    assert cells[("total",)] == {"key": ["total"], "value": "6070", "status": "published", "reason": None}
    assert not lone_hidden_relations(cells)


# ---------------------------------------------------------------------------- two dimensions


def two_d_contributions(seed: int = 7) -> list[Contributions]:
    """Three nodes, ten structures spread over discipline × region (one venue without a region)."""
    generator = random.Random(seed)
    disciplines = ["cirque", "danse", "musique", "theatre"]
    regions = ["Bretagne", "Normandie", "Occitanie", None]
    nodes: list[dict[str, dict[tuple[Any, ...], dict[str, Any]]]] = [{}, {}, {}]
    for index in range(10):
        structure = uri(f"s{index}")
        cells = {}
        for key in generator.sample([(d, r) for d in disciplines for r in regions], generator.randint(1, 5)):
            seats = generator.randint(100, 900)
            entries = generator.randint(20, seats)
            paying = generator.randint(0, entries)
            receipts = Decimal(paying * generator.randint(5, 30)) + Decimal(generator.randint(0, 99)) / 100
            cells[key] = {"attendance": entries, "paying_tickets": paying, "receipts": str(receipts), "capacity": seats}
        nodes[index % 3][structure] = cells
    return nodes


def test_two_dimensions_cross_table_with_margins(ministry: None) -> None:
    campaign = new_campaign(["discipline", "region"])
    contributions = two_d_contributions()
    for node, part in zip((NODE_A, NODE_B, NODE_C), contributions, strict=True):
        assert answer(campaign, node, partial(campaign, node, part)).state == State.ANSWERED
    results = campaigns.publish(campaign)
    attendance = indicator(results, "attendance")
    keys = set(attendance)
    assert ("total", "total") in keys
    assert ("theatre", "total") in keys
    assert ("total", "Bretagne") in keys
    assert ("total", None) in keys  # the unknown region has its column
    measures = ("attendance", "paying_tickets", "receipts", "capacity")
    statuses = {"published": 0, "primary": 0, "secondary": 0}
    for key, cell in attendance.items():
        statuses[cell["status"]] += 1
        facts = {measure: truth(contributions, list(key), measure) for measure in measures}
        primary_in = {measure for measure, fact in facts.items() if is_primary(*fact)}
        if cell["status"] == "published":
            assert not primary_in, key
            assert int(cell["value"]) == facts["attendance"][1], key
            assert Decimal(indicator(results, "receipts")[key]["value"]) == facts["receipts"][1], key
        else:
            assert cell["value"] is None
            # the pattern is one for all the measures: a cell primary in any is hidden in all
            assert (cell["status"] == "primary") == ("attendance" in primary_in), key
        for code in ("receipts", "fill_rate", "average_price"):
            other = indicator(results, code)[key]
            assert (other["status"] == "published") == (cell["status"] == "published"), (code, key)
    assert statuses["primary"] > 0, statuses
    assert statuses["secondary"] > 0, statuses
    assert statuses["published"] > 0, statuses
    assert not lone_hidden_relations(attendance)


# ---------------------------------------------------------------------------- zero dimensions, zeros


def test_no_dimension_one_cell_and_an_undefined_ratio(ministry: None) -> None:
    campaign = new_campaign([], indicators=("attendance", "average_price"))
    free = {"attendance": 150, "paying_tickets": 0, "receipts": "0.00"}
    node_a = {uri("a1"): {(): free}, uri("a2"): {(): free}}
    node_b = {uri("b1"): {(): free}}
    answer(campaign, NODE_A, partial(campaign, NODE_A, node_a))
    answer(campaign, NODE_B, partial(campaign, NODE_B, node_b))
    results = campaigns.publish(campaign)
    assert indicator(results, "attendance") == {(): {"key": [], "value": "450", "status": "published", "reason": None}}
    # free shows: no paying ticket, no average price — undefined, not secret
    assert indicator(results, "average_price") == {
        (): {"key": [], "value": None, "status": "published", "reason": None}
    }


def test_a_node_without_figures_counts_for_nothing(ministry: None) -> None:
    campaign = new_campaign(["discipline"], indicators=("attendance",))
    empty = answer(campaign, NODE_C, partial(campaign, NODE_C, {}))
    assert empty.state == State.ANSWERED
    results = campaigns.publish(campaign)
    assert indicator(results, "attendance") == {
        ("total",): {"key": ["total"], "value": "0", "status": "published", "reason": None}
    }
    assert results["provenance"] == [{"node": NODE_C, "name": NODE_C, "as_of": "2026-11-30T16:20:00Z", "structures": 0}]


def test_nothing_answered_publishes_no_figure(ministry: None) -> None:
    campaign = new_campaign(["discipline"])
    CampaignNode.objects.create(campaign=campaign, node=NODE_A, name="Scène A", state=State.TIMEOUT, detail="Délai")
    results = campaigns.publish(campaign)
    assert results["nodes"] == {"answered": 0, "total": 1}
    assert results["as_of"] is None
    assert all(item["cells"] == [] for item in results["indicators"])
    assert results["missing"] == [{"node": NODE_A, "name": "Scène A", "state": "timeout", "detail": "Délai"}]


# ---------------------------------------------------------------------------- checks of a partial


def _mutations() -> list[tuple[str, Any, str]]:
    def set_path(*path: Any, value: Any) -> Any:
        def apply(document: dict[str, Any]) -> None:
            target: Any = document
            for step in path[:-1]:
                target = target[step]
            target[path[-1]] = value

        return apply

    def drop_grouping(document: dict[str, Any]) -> None:
        document["groupings"] = document["groupings"][:-1]

    def inflate_total(document: dict[str, Any]) -> None:
        document["groupings"][-1]["cells"][0]["values"]["attendance"] += 1
        document["groupings"][-1]["cells"][0]["largest"]["attendance"] += 0

    def unknown_measure(document: dict[str, Any]) -> None:
        document["measures"] = [*document["measures"][:-1], "spectators"]

    def unknown_dimension(document: dict[str, Any]) -> None:
        document["dimensions"] = ["planet"]

    def amount_as_number(document: dict[str, Any]) -> None:
        document["groupings"][0]["cells"][0]["values"]["receipts"] = 6000.0

    def amount_with_comma(document: dict[str, Any]) -> None:
        document["groupings"][0]["cells"][0]["values"]["receipts"] = "6000,00"

    def negative_count(document: dict[str, Any]) -> None:
        document["groupings"][0]["cells"][0]["values"]["attendance"] = -5

    def too_many_contributors(document: dict[str, Any]) -> None:
        document["groupings"][0]["cells"][0]["contributors"] = 12

    return [
        ("wrong campaign", set_path("campaign", value="0b9a3a1e-0000-4000-8000-000000000000"), "autre campagne"),
        ("another node", set_path("node", value="https://intrus.example"), "se présente comme"),
        ("period", set_path("period", "end", value="2026-11-30"), "période"),
        ("unknown dimension", unknown_dimension, "Dimension inconnue « planet »"),
        ("dimension not a name", set_path("dimensions", value=[["discipline"]]), "Dimension inconnue"),
        ("cell key not a text", set_path("groupings", 0, "cells", 0, "key", "discipline", value=[1]), "ni un texte"),
        ("unknown measure", unknown_measure, "Mesure inconnue « spectators »"),
        ("amount as a number", amount_as_number, "chaîne décimale"),
        ("amount with a comma", amount_with_comma, "chaîne décimale"),
        ("negative count", negative_count, "entier positif"),
        ("contributors", too_many_contributors, "structures contributrices"),
        ("a grouping missing", drop_grouping, "regroupements"),
        ("margin not the sum", inflate_total, "n'est pas la somme"),
        ("as_of without zone", set_path("as_of", value="2026-11-30T16:20:00"), "as_of"),
        ("not an object", None, "objet JSON"),
    ]


@pytest.mark.parametrize(("label", "mutate", "reason"), _mutations(), ids=[item[0] for item in _mutations()])
def test_an_invalid_partial_is_an_error_never_counted(ministry: None, label: str, mutate: Any, reason: str) -> None:
    campaign, _results = publish_one_d(ministry)
    late = "https://scene-d.example"
    document: Any = partial(campaign, late, {uri("d1"): {("theatre",): {"attendance": 999, "capacity": 1000}}})
    if mutate is None:
        document = ["not", "a", "partial"]
    else:
        mutate(document)
    row = answer(campaign, late, document, name="Scène D")
    assert row.state == State.ERROR
    assert row.detail.startswith("Agrégats refusés, non comptés : ")
    assert reason in row.detail, row.detail
    assert row.partial is None
    assert row.as_of is None
    results = campaigns.publish(campaign)
    assert indicator(results, "attendance")[("total",)]["value"] == "2991"
    assert results["nodes"] == {"answered": 3, "total": 4}
    assert results["missing"] == [{"node": late, "name": "Scène D", "state": "error", "detail": row.detail}]


def test_a_structure_counted_by_two_nodes_is_counted_once(ministry: None) -> None:
    campaign, _results = publish_one_d(ministry)
    twice = "https://scene-d.example"
    document = partial(
        campaign,
        twice,
        {
            uri("d1"): {("theatre",): {"attendance": 10, "capacity": 20}},
            uri("b2"): {("danse",): {"attendance": 123, "capacity": 200}},  # already counted by scene-b
        },
    )
    row = answer(campaign, twice, document, name="Scène D")
    assert row.state == State.ERROR
    assert row.detail == (
        "Agrégats refusés, non comptés : Structure déjà comptée par le nœud Scène B : "
        "https://b2.example/id/organisation/b2."
    )
    results = campaigns.publish(campaign)
    assert indicator(results, "attendance")[("total",)]["value"] == "2991"


def test_one_partial_per_node(ministry: None) -> None:
    campaign, first = publish_one_d(ministry)
    inflated = partial(campaign, NODE_A, {uri("a1"): {("theatre",): {"attendance": 100000, "capacity": 100000}}})
    row = answer(campaign, NODE_A, inflated)
    assert row.state == State.ANSWERED
    assert row.partial == partial(campaign, NODE_A, ONE_D[0])
    assert indicator(campaigns.publish(campaign), "attendance") == indicator(first, "attendance")


# ---------------------------------------------------------------------------- provenance, re-publication


def test_provenance_and_as_of(ministry: None) -> None:
    campaign = new_campaign(["discipline"])
    answer(campaign, NODE_A, partial(campaign, NODE_A, ONE_D[0], as_of="2026-11-30T16:20:00Z"), name="Scène A")
    answer(campaign, NODE_B, partial(campaign, NODE_B, ONE_D[1], as_of="2026-11-29T09:15:00+01:00"), name="Scène B")
    CampaignNode.objects.create(
        campaign=campaign, node=NODE_C, name="Scène C", state=State.AWAITING, detail="En attente d'approbation."
    )
    results = campaigns.publish(campaign)
    assert results["as_of"] == "2026-11-29T08:15:00Z"  # the oldest partial's, in UTC
    assert results["computed_at"].endswith("Z")
    assert results["campaign"] == str(campaign.pk)
    assert results["period"] == {"start": "2026-10-01", "end": "2026-12-31"}
    assert results["dimensions"] == ["discipline"]
    assert results["nodes"] == {"answered": 2, "total": 3}
    assert results["provenance"] == [
        {"node": NODE_A, "name": "Scène A", "as_of": "2026-11-30T16:20:00Z", "structures": 3},
        {"node": NODE_B, "name": "Scène B", "as_of": "2026-11-29T08:15:00Z", "structures": 2},
    ]
    assert results["missing"] == [
        {"node": NODE_C, "name": "Scène C", "state": "awaiting", "detail": "En attente d'approbation."}
    ]
    assert results["rules"] == {"min_contributors": 3, "dominance": "0.85"}
    assert [item["code"] for item in results["indicators"]] == ["attendance", "receipts", "fill_rate", "average_price"]
    first = results["indicators"][0]
    assert {key: first[key] for key in ("code", "version", "label")} == {
        "code": "attendance",
        "version": 1,
        "label": "Fréquentation",
    }
    node_a = CampaignNode.objects.get(campaign=campaign, node=NODE_A)
    assert node_a.as_of == dt.datetime(2026, 11, 30, 16, 20, tzinfo=dt.UTC)
    assert set(node_a.signature) == {"Signature-Input", "Signature", "Content-Digest"}
    assert node_a.answered_at is not None


def test_republishing_after_a_late_node_never_double_counts(ministry: None) -> None:
    campaign = new_campaign(["discipline"])
    answer(campaign, NODE_A, partial(campaign, NODE_A, ONE_D[0]))
    answer(campaign, NODE_B, partial(campaign, NODE_B, ONE_D[1]))
    CampaignNode.objects.create(campaign=campaign, node=NODE_C, name="Scène C", state=State.AWAITING)
    early = campaigns.publish(campaign)
    again = campaigns.publish(campaign)
    assert early["indicators"] == again["indicators"]
    assert indicator(early, "attendance")[("total",)]["value"] == str(2991 - 250 - 450)
    assert early["nodes"] == {"answered": 2, "total": 3}

    answer(campaign, NODE_C, partial(campaign, NODE_C, ONE_D[2]))
    late = campaigns.publish(campaign)
    assert late["nodes"] == {"answered": 3, "total": 3}
    assert late["missing"] == []
    assert indicator(late, "attendance")[("total",)]["value"] == "2991"
    # the late node asked again (a redelivered notice) changes nothing
    answer(campaign, NODE_C, partial(campaign, NODE_C, ONE_D[2]))
    final = campaigns.publish(campaign)
    assert final["indicators"] == late["indicators"]
    _campaign, reference = publish_one_d(ministry)
    assert final["indicators"] == reference["indicators"]


def test_each_publication_is_journaled(ministry: None) -> None:
    campaign = new_campaign(["discipline"])
    answer(campaign, NODE_A, partial(campaign, NODE_A, ONE_D[0]))
    campaigns.publish(campaign)
    entry = JournalEntry.objects.get(action="indicators.campaign_published")
    assert entry.stream == "admin"
    assert entry.record_ids == [str(campaign.pk)]
    assert entry.details["nodes"] == {"answered": 1, "total": 1}
    assert entry.details["indicators"] == ["attendance v1", "receipts v1", "fill_rate v1", "average_price v1"]


# ---------------------------------------------------------------------------- progress, lease


def test_progress(ministry: None) -> None:
    campaign = new_campaign(["discipline"])
    answer(campaign, NODE_A, partial(campaign, NODE_A, ONE_D[0]), name="Scène A")
    CampaignNode.objects.create(campaign=campaign, node=NODE_B, name="Scène B", state=State.TIMEOUT, detail="Délai")
    CampaignNode.objects.create(campaign=campaign, node=NODE_C, name="Scène C", state=State.ASKED)
    report = campaigns.progress(campaign)
    assert {key: report[key] for key in ("state", "answered", "total")} == {
        "state": "running",
        "answered": 1,
        "total": 3,
    }
    assert report["nodes"] == [
        {
            "node": NODE_A,
            "name": "Scène A",
            "state": "answered",
            "state_label": "a répondu",
            "detail": "",
            "elapsed_ms": 42,
            "as_of": "2026-11-30T16:20:00Z",
        },
        {
            "node": NODE_B,
            "name": "Scène B",
            "state": "timeout",
            "state_label": "délai dépassé",
            "detail": "Délai",
            "elapsed_ms": None,
            "as_of": None,
        },
        {
            "node": NODE_C,
            "name": "Scène C",
            "state": "asked",
            "state_label": "interrogé",
            "detail": "",
            "elapsed_ms": None,
            "as_of": None,
        },
    ]


def test_a_run_waits_for_a_recent_lease_and_takes_an_expired_one(ministry: None, settings: Any) -> None:
    settings.INDICATORS_CAMPAIGN_TIMEOUT = 10.0
    campaign = new_campaign(["discipline"])
    answer(campaign, NODE_A, partial(campaign, NODE_A, ONE_D[0]))
    recent = timezone.now() - dt.timedelta(seconds=5)
    Campaign.objects.filter(pk=campaign.pk).update(running_since=recent)
    assert campaigns.run_campaign(campaign.pk) == {"status": "busy", "campaign": str(campaign.pk)}
    campaign.refresh_from_db()
    assert campaign.running_since == recent
    assert campaign.results is None
    # a crashed run: its lease (timeout + margin) has expired
    crashed = timezone.now() - dt.timedelta(seconds=10 + campaigns.LEASE_MARGIN + 1)
    Campaign.objects.filter(pk=campaign.pk).update(running_since=crashed)
    outcome = campaigns.run_campaign(campaign.pk)
    assert outcome == {"campaign": str(campaign.pk), "state": "done", "asked": 0, "answered": 1}
    campaign.refresh_from_db()
    assert campaign.running_since is None
    assert campaign.state == Campaign.State.DONE
    assert campaign.finished_at is not None
    assert campaign.results is not None


def test_a_draft_is_not_run(ministry: None) -> None:
    draft = campaigns.create_campaign(
        title="Brouillon",
        indicators=["attendance"],
        period_start=dt.date(2026, 10, 1),
        period_end=dt.date(2026, 10, 31),
        dimensions=[],
    )
    assert campaigns.run_campaign(draft.pk)["status"] == "ignored"
    draft.refresh_from_db()
    assert draft.state == Campaign.State.DRAFT
    assert draft.results is None
