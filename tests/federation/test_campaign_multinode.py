"""Aggregation campaigns for real: the ministry's node asks structure nodes over signed HTTP.

One cluster for the whole module (tests/federation/cluster.py): a registry, the ministry's node
(its catalogue, its analyst `analyste`) and three structure nodes, each a separate gunicorn process
with its own SQLite database and keys — structure-a and structure-b as in the demo, structure-c
another structure-a (seed 43: other records, other structures). Each holds a season of demo
ticketing figures for its own structure and the three small structures it hosts, with standing
approvals for the ministry, except structure-b's own structure: its administrator `admin` approves
each campaign in structure-b's admin.

What is proven, over real HTTP between real processes, nothing mocked:

* the analyst creates and launches a campaign from the dashboard (login, CSRF, the form, « Lancer »)
  and follows it through its JSON; every published cell of every indicator, margins and grand
  total included, equals what the structure nodes' own `local_aggregate` gives, summed over the
  nodes (ratios computed from the summed components, rounded half up); each node counted exactly
  the structures holding figures on it; cells under the rules (fewer than 3 structures, one above
  85 %) are hidden as primary secrets, secondary secrets exist, no "total = sum of parts"
  relation has a single hidden cell, one suppression pattern for every indicator, and no hidden
  figure (nor any contributor count) is in the results;
* a node whose structure has no standing approval answers 202: the ministry shows it awaiting;
  its administrator approves in its admin; the node's `aggregate.approved` notice reaches the
  ministry, which asks that node again by itself (no relaunch) and completes the campaign;
* a node frozen (SIGSTOP) during a campaign is reported TIMEOUT, then killed (SIGKILL) ERROR, while
  the answered partials are kept (never asked again); once it is restarted, « Relancer les nœuds
  manquants » completes the campaign and every total is counted once;
* the ministry's token reads no row of figures and nothing about a person on a structure node
  (403), the aggregates endpoint refuses an unsigned call (401) and a call signed by the registry
  (403 ``ministry_only``).

The tests run in file order; each also holds when run alone.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import httpx
import pytest

from tests.federation.cluster import (
    Analyst,
    Cluster,
    Node,
    NodeSpec,
    StructureAdministrator,
    uuid_text,
)

pytestmark = [pytest.mark.server, pytest.mark.xdist_group("federation-cluster")]

#: INDICATORS_CAMPAIGN_TIMEOUT of the ministry (seconds per node).
CAMPAIGN_TIMEOUT = 4.0
#: How long a campaign may take on top of the per-node timeout on a loaded two-core machine.
MARGIN = 15.0
SEASON = ("2026-07-01", "2027-06-30")  # whole quarters: every indicator's period rule allows it
T4 = ("2026-10-01", "2026-12-31")
EVERY_INDICATOR = (
    "attendance",
    "receipts",
    "average_price",
    "fill_rate",
    "performances",
    "young_audience_share",
    "accessible_share",
)
AMOUNTS = frozenset({"receipts", "receipts_full_price"})
MIN_CONTRIBUTORS = 3
DOMINANCE = Decimal("0.85")
TOTAL = "total"
HIDDEN = ("primary", "secondary")
#: What a results document may never hold, at any depth: rows, partials, contributor counts.
FORBIDDEN_KEYS = frozenset({"contributors", "largest", "values", "groupings", "partial"})

#: This node's own figures for a period, per subset of the dimensions (`local_aggregate`, every
#: structure it holds), and the URIs of the structures holding figures in that period.
LOCAL_SNIPPET = """
import datetime as dt, itertools, json, sys, django
django.setup()
from dataspace.indicators.aggregate import local_aggregate
from dataspace.indicators.models import TicketingFigures
from dataspace.referentials.models import Organisation
start, end = dt.date.fromisoformat(sys.argv[1]), dt.date.fromisoformat(sys.argv[2])
dimensions = json.loads(sys.argv[3])
def cell(document, key):
    return {"key": key, "values": {m: str(v) for m, v in document["values"].items()},
            "contributors": document["contributors"], "largest": {m: str(v) for m, v in document["largest"].items()}}
groupings = []
for size in range(len(dimensions), -1, -1):
    for subset in itertools.combinations(dimensions, size):
        aggregate = local_aggregate(start, end, list(subset))
        if subset:
            cells = [cell(c, [c["key"][name] for name in subset]) for c in aggregate["cells"]]
        else:
            cells = [cell(aggregate["total"], [])]
        groupings.append({"dimensions": list(subset), "cells": cells})
owners = TicketingFigures.objects.filter(first_date__gte=start, first_date__lte=end).values_list("owner_id", flat=True)
structures = sorted(o.uri for o in Organisation.objects.filter(pk__in=owners))
print(json.dumps({"groupings": groupings, "structures": structures}))
"""

#: Signed calls made by this node (its key, its token on the peer for `scope`): [{status, body|detail}].
SIGNED_CALLS_SNIPPET = """
import json, sys, django
django.setup()
from federation.client import NodeClient, PeerError
out = []
for call in json.loads(sys.argv[1]):
    client = NodeClient(call["node"], timeout=20)
    try:
        response = client.request(
            call["method"], call["path"], params=call.get("params"), json=call.get("json"), scope=call["scope"]
        )
        out.append({"status": response.status_code, "body": response.json()})
    except PeerError as exc:
        out.append({"status": getattr(exc, "status", None), "error": type(exc).__name__, "detail": exc.detail})
print(json.dumps(out))
"""


# ---------------------------------------------------------------------------- the cluster


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    specs = [
        NodeSpec("registry", ("registry",), "registry", clients=False),
        NodeSpec("ministry", ("ministry",), "ministry", clients=False),
        NodeSpec("structure-a", profile="structure-a", clients=False),
        NodeSpec("structure-b", profile="structure-b", clients=False),
        NodeSpec("structure-c", profile="structure-a", seed=43, clients=False),
    ]
    cluster = Cluster(
        tmp_path_factory.mktemp("campaigns"), specs, env={"INDICATORS_CAMPAIGN_TIMEOUT": str(CAMPAIGN_TIMEOUT)}
    )
    with cluster:
        cluster.federate(sync=False)  # campaigns need the member list and the peers' clients, no replication
        print("\n" + "\n".join(cluster.describe()))
        print("cluster timings (s):", {key: round(value, 1) for key, value in cluster.timings.items()})
        yield cluster


@pytest.fixture(scope="module")
def analyst(cluster: Cluster) -> Iterator[Analyst]:
    session = Analyst(cluster)
    yield session
    session.close()


# ---------------------------------------------------------------------------- local figures, the oracle

Key = tuple[Any, ...]


@dataclass
class Figures:
    """One cell of figures: values and largest contribution per measure, contributing structures."""

    values: dict[str, Decimal]
    contributors: int
    largest: dict[str, Decimal]


#: (grouping dimensions, key) -> figures.
Table = dict[tuple[tuple[str, ...], Key], Figures]


@dataclass
class Local:
    """What each structure node holds for a period: its cells and the structures with figures."""

    per_node: dict[str, Table]
    structures: dict[str, list[str]]

    def combined(self, names: Sequence[str] | None = None) -> Table:
        """The nodes' cells added up (values and contributors summed, the largest kept)."""
        table: Table = {}
        for name in names if names is not None else list(self.per_node):
            for where, cell in self.per_node[name].items():
                known = table.get(where)
                if known is None:
                    table[where] = Figures(dict(cell.values), cell.contributors, dict(cell.largest))
                    continue
                known.values = {m: known.values[m] + cell.values[m] for m in known.values}
                known.contributors += cell.contributors
                known.largest = {m: max(known.largest[m], cell.largest[m]) for m in known.largest}
        return table


def local_figures(nodes: Sequence[Node], period: tuple[str, str], dimensions: Sequence[str]) -> Local:
    """Each node's own `local_aggregate` for every subset of the dimensions, computed by its process."""
    per_node: dict[str, Table] = {}
    structures: dict[str, list[str]] = {}
    for node in nodes:
        document = json.loads(node.python(LOCAL_SNIPPET, period[0], period[1], json.dumps(list(dimensions))))
        table: Table = {}
        for grouping in document["groupings"]:
            for cell in grouping["cells"]:
                table[(tuple(grouping["dimensions"]), tuple(cell["key"]))] = Figures(
                    {m: Decimal(v) for m, v in cell["values"].items()},
                    int(cell["contributors"]),
                    {m: Decimal(v) for m, v in cell["largest"].items()},
                )
        per_node[node.name] = table
        structures[node.name] = document["structures"]
    return Local(per_node, structures)


def where_of(dimensions: Sequence[str], key: Sequence[Any]) -> tuple[tuple[str, ...], Key]:
    """A published key (one value per dimension, "total" for a margin) as (grouping, local key)."""
    grouping = tuple(name for name, value in zip(dimensions, key, strict=True) if value != TOTAL)
    return grouping, tuple(value for value in key if value != TOTAL)


def catalogue(ministry: Node) -> dict[str, dict[str, Any]]:
    """The ministry's public catalogue: current definitions by code."""
    answer = httpx.get(f"{ministry.base_url}/api/v1/indicators/catalogue", timeout=20)
    assert answer.status_code == 200, answer.text
    return {item["code"]: item for item in answer.json()["indicators"]}


def primary(cell: Figures, measure: str) -> bool:
    """Primary secrecy by the rules: fewer than 3 structures, or one above 85 % of a non-zero value."""
    value = cell.values[measure]
    return cell.contributors < MIN_CONTRIBUTORS or (value > 0 and cell.largest[measure] > DOMINANCE * value)


def expected_value(computation: Mapping[str, Any], cell: Figures) -> Decimal | None:
    """An indicator's value from summed figures (None: a ratio over zero)."""
    if computation["op"] == "sum":
        return cell.values[computation["measure"]]
    numerator, denominator = cell.values[computation["num"]], cell.values[computation["den"]]
    if denominator == 0:
        return None
    quotient = numerator / denominator * (100 if computation["op"] == "share" else 1)
    return quotient.quantize(Decimal(1).scaleb(-int(computation["decimals"])), rounding=ROUND_HALF_UP)


def leaves(document: Any) -> Iterator[tuple[str, Any]]:
    """Every (key, value) pair of a JSON document, at any depth (list items under their list's key)."""
    if isinstance(document, Mapping):
        for key, value in document.items():
            if isinstance(value, Mapping | list):
                yield key, None
                yield from leaves(value)
            else:
                yield key, value
    elif isinstance(document, list):
        for item in document:
            if isinstance(item, Mapping | list):
                yield from leaves(item)
            else:
                yield "", item


def check_results(
    results: Mapping[str, Any], expected: Table, definitions: Mapping[str, Mapping[str, Any]]
) -> dict[str, int]:
    """Every published cell equals the figures `expected` give; the rules' cells are hidden; one
    pattern for every indicator; no relation with one hidden cell; no hidden figure in the results.
    Returns the number of cells per status (over every indicator)."""
    dimensions = list(results["dimensions"])
    counts = {"published": 0, "primary": 0, "secondary": 0}
    measures = sorted({measure for item in results["indicators"] for measure in definitions[item["code"]]["measures"]})
    # the tables cover exactly the cells some structure has figures in, margins included
    keys = {where for where in expected}
    patterns: dict[str, set[Key]] = {}
    for indicator in results["indicators"]:
        code = indicator["code"]
        computation = definitions[code]["computation"]
        assert indicator["version"] == definitions[code]["version"], code
        seen = {where_of(dimensions, cell["key"]) for cell in indicator["cells"]}
        assert seen == keys, (code, sorted(map(str, seen ^ keys))[:10])
        patterns[code] = set()
        for cell in indicator["cells"]:
            where = where_of(dimensions, cell["key"])
            figures = expected[where]
            counts[cell["status"]] += 1
            rules_primary = {m for m in measures if primary(figures, m)}
            own = {computation["measure"]} if computation["op"] == "sum" else {computation["num"], computation["den"]}
            if cell["status"] in HIDDEN:
                patterns[code].add(tuple(cell["key"]))
                assert cell["value"] is None, (code, cell)
                assert cell["reason"], (code, cell)
                # primary when one of its own measures breaks the rules, else secondary
                assert (cell["status"] == "primary") == bool(rules_primary & own), (code, cell, rules_primary)
                continue
            assert cell["status"] == "published", (code, cell)
            assert not rules_primary, (code, cell, rules_primary, figures)
            value = expected_value(computation, figures)
            if value is None:
                assert cell["value"] is None, (code, cell)  # a ratio over zero: empty, not a secret
                continue
            assert cell["value"] is not None, (code, cell)
            assert Decimal(cell["value"]) == value, (code, cell["key"], cell["value"], value)
            if computation["op"] == "sum" and computation["measure"] in AMOUNTS:
                assert cell["value"] == f"{value:.2f}", (code, cell)
    # one suppression pattern for every indicator of the campaign
    first = next(iter(patterns.values()))
    assert all(pattern == first for pattern in patterns.values()), {c: len(p) for c, p in patterns.items()}
    # no "total = sum of parts" relation with exactly one hidden cell
    for position in range(len(dimensions)):
        lines: dict[Key, list[bool]] = {}
        for cell in results["indicators"][0]["cells"]:
            key = tuple(cell["key"])
            line = key[:position] + key[position + 1 :]
            lines.setdefault(line, []).append(cell["status"] in HIDDEN)
        for line, hidden in lines.items():
            assert sum(hidden) != 1, (position, line, hidden)
    # nothing hidden leaks: no figures of any kind, and no hidden amount or large count anywhere
    pairs = list(leaves(results))
    assert not {key for key, _value in pairs} & FORBIDDEN_KEYS
    shown = {str(value) for _key, value in pairs if value is not None}
    for indicator in results["indicators"]:
        computation = definitions[indicator["code"]]["computation"]
        if computation["op"] != "sum":
            continue
        for cell in indicator["cells"]:
            if cell["status"] not in HIDDEN:
                continue
            truth = expected[where_of(dimensions, cell["key"])].values[computation["measure"]]
            if computation["measure"] in AMOUNTS and truth:
                assert f"{truth:.2f}" not in shown, (indicator["code"], cell["key"])
            elif truth >= 1000:
                assert str(truth) not in shown, (indicator["code"], cell["key"])
    return counts


def node_rows(ministry: Node, campaign_id: str) -> dict[str, dict[str, Any]]:
    """The ministry's record of each node of a campaign (its database), by node name."""
    rows = ministry.query(
        "SELECT name, state, attempts, as_of, partial, signature FROM indicators_campaignnode WHERE campaign_id = ?",
        [campaign_id.replace("-", "")],
    )
    return {
        name: {
            "state": state,
            "attempts": attempts,
            "as_of": as_of,
            "partial": json.loads(partial) if partial else None,
            "signature": json.loads(signature) if signature else {},
        }
        for name, state, attempts, as_of, partial, signature in rows
    }


def campaign_row(ministry: Node, campaign_id: str) -> dict[str, Any]:
    [(state, runs)] = ministry.query(
        "SELECT state, runs FROM indicators_campaign WHERE id = ?", [campaign_id.replace("-", "")]
    )
    return {"state": state, "runs": runs}


def aggregation_request(node: Node, campaign_id: str) -> dict[str, Any] | None:
    """A structure node's stored request for a campaign (its database), or None."""
    rows = node.query(
        "SELECT id, state, asks, structures, partial FROM indicators_aggregationrequest WHERE campaign = ?",
        [campaign_id.replace("-", "")],
    )
    if not rows:
        return None
    [(pk, state, asks, structures, partial)] = rows
    return {
        "id": uuid_text(pk),
        "state": state,
        "asks": asks,
        "structures": json.loads(structures),
        "partial": json.loads(partial) if partial else None,
    }


def eventually(probe: Any, *, timeout: float = 10.0) -> Any:
    """`probe()` once it is truthy (AssertionError with its last value after `timeout`)."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value or time.monotonic() > deadline:
            assert value, value
            return value
        time.sleep(0.1)


def states(document: Mapping[str, Any]) -> dict[str, str]:
    return {node["name"]: node["state"] for node in document["progress"]["nodes"]}


def progress_node(document: Mapping[str, Any], name: str) -> dict[str, Any]:
    return dict(next(node for node in document["progress"]["nodes"] if node["name"] == name))


# ---------------------------------------------------------------------------- the approval flow


@dataclass
class ApprovedCampaign:
    """The season campaign of every indicator by discipline × region, through its approval."""

    id: str
    before: dict[str, Any]  # the campaign's JSON once its first run ended
    pending: dict[str, Any]  # structure-b's request then
    review: str  # structure-b's review page, as its administrator saw it
    approved: list[str]  # the structures `admin` approved
    after: dict[str, Any]  # the campaign's JSON once complete
    seconds_to_complete: float


@pytest.fixture(scope="module")
def season_campaign(cluster: Cluster, analyst: Analyst) -> ApprovedCampaign:
    campaign_id = analyst.create_campaign(
        title="Saison 2026-2027 — tous les indicateurs (test multi-nœuds)",
        indicators=EVERY_INDICATOR,
        period_start=SEASON[0],
        period_end=SEASON[1],
        dimensions=["discipline", "region"],
    )
    assert analyst.campaign(campaign_id)["state"] == "draft"
    analyst.launch(campaign_id)
    before = analyst.wait_finished(campaign_id, timeout=CAMPAIGN_TIMEOUT + MARGIN)
    structure_b = cluster["structure-b"]
    pending = aggregation_request(structure_b, campaign_id)
    assert pending is not None
    administrator = StructureAdministrator(structure_b)
    try:
        review = administrator.review(campaign_id).text
        started = time.monotonic()
        approved = administrator.decide(campaign_id, "approve")
    finally:
        administrator.close()
    after = analyst.wait(campaign_id, lambda doc: doc["state"] == "done", timeout=MARGIN, what="done")
    return ApprovedCampaign(
        campaign_id, before, pending, review, approved, after, seconds_to_complete=time.monotonic() - started
    )


def test_a_node_awaiting_its_administrator_is_asked_again_by_the_ministry_once_approved(
    cluster: Cluster, season_campaign: ApprovedCampaign
) -> None:
    ministry, structure_b = cluster.ministry, cluster["structure-b"]
    campaign_id = season_campaign.id
    # the first run: structure-a and structure-c answered, structure-b answered 202
    before = season_campaign.before
    assert before["state"] == "partial", before["progress"]
    assert states(before) == {"structure-a": "answered", "structure-b": "awaiting", "structure-c": "answered"}
    waiting = progress_node(before, "structure-b")
    assert waiting["state_label"] == "en attente d'approbation par la structure"
    assert "approbation de 1 structure" in waiting["detail"], waiting  # its own structure only
    assert before["results"]["nodes"] == {"answered": 2, "total": 3}
    assert [(m["name"], m["state"]) for m in before["results"]["missing"]] == [("structure-b", "awaiting")]

    # on structure-b: the request waits for its own structure, its hosted ones are counted at once
    pending = season_campaign.pending
    assert pending["state"] == "pending"
    approvals = sorted(entry["approval"] for entry in pending["structures"])
    assert approvals == ["pending", "standing", "standing", "standing"], pending["structures"]
    own = next(entry for entry in pending["structures"] if entry["approval"] == "pending")
    assert pending["partial"] is None  # nothing leaves before the decision
    # its administrator saw exactly what would leave, and a decision form for that structure only
    assert "Saison 2026-2027 — tous les indicateurs" in season_campaign.review
    assert season_campaign.review.count('name="structure"') == 1
    assert f'value="{own["id"]}"' in season_campaign.review
    assert season_campaign.approved == [own["id"]]

    # the decision is journaled on structure-b, with the contribution's digest
    [(username, decision, owner, details)] = structure_b.query(
        "SELECT username, decision, owner_id, details FROM audit_journalentry "
        "WHERE action = 'indicators.aggregate_approved' AND details LIKE ?",
        [f"%{campaign_id}%"],
    )
    assert (username, decision, uuid_text(owner)) == ("admin", "permit", own["id"])
    digest = json.loads(details)["sha256"]
    assert len(digest) == 64
    assert digest in season_campaign.review  # the part approved is the part shown
    # its notice went to the ministry, which handled it by asking structure-b again by itself
    notices = eventually(
        lambda: structure_b.query(
            "SELECT destination, state FROM federation_outboxmessage "
            "WHERE kind = 'aggregate.approved' AND payload LIKE ? AND state = 'delivered'",
            [f"%{campaign_id}%"],
        )
    )
    assert [destination.rstrip("/") for destination, _state in notices] == [ministry.base_url]
    outcomes = ministry.query("SELECT origin, outcome FROM federation_receivednotice WHERE kind = 'aggregate.approved'")
    assert (structure_b.base_url, "ask scheduled") in [(o.rstrip("/"), outcome) for o, outcome in outcomes]

    after = season_campaign.after
    assert states(after) == {"structure-a": "answered", "structure-b": "answered", "structure-c": "answered"}
    assert after["results"]["nodes"] == {"answered": 3, "total": 3}
    assert after["results"]["missing"] == []
    print(
        f"\napproval at structure-b -> campaign complete on the ministry: {season_campaign.seconds_to_complete:.2f} s"
    )
    assert season_campaign.seconds_to_complete < MARGIN
    rows = node_rows(ministry, campaign_id)
    assert {name: row["attempts"] for name, row in rows.items()} == {
        "structure-a": 1,
        "structure-b": 2,  # asked once by the run, once after its notice
        "structure-c": 1,
    }
    assert campaign_row(ministry, campaign_id) == {"state": "done", "runs": 1}  # nobody relaunched it
    answered = aggregation_request(structure_b, campaign_id)
    assert answered is not None
    assert (answered["state"], answered["asks"]) == ("sent", 2)
    # what left is what the administrator approved, signed by structure-b (RFC 9421)
    assert rows["structure-b"]["partial"] == answered["partial"]
    assert own["uri"] in answered["partial"]["structures"]
    assert {"Signature-Input", "Signature", "Content-Digest"} <= set(rows["structure-b"]["signature"])


def test_campaign_totals_are_the_sum_of_every_nodes_local_figures(
    cluster: Cluster, analyst: Analyst, season_campaign: ApprovedCampaign
) -> None:
    structures = cluster.structures()
    local = local_figures(structures, SEASON, ["discipline", "region"])
    results = season_campaign.after["results"]
    assert results["period"] == {"start": SEASON[0], "end": SEASON[1]}
    assert results["dimensions"] == ["discipline", "region"]
    assert [item["code"] for item in results["indicators"]] == list(EVERY_INDICATOR)
    # each node counted every structure holding figures on it, and only those
    rows = node_rows(cluster.ministry, season_campaign.id)
    for node in structures:
        assert sorted(rows[node.name]["partial"]["structures"]) == local.structures[node.name], node.name
        assert len(local.structures[node.name]) == 4  # its own structure and the three it hosts
    assert {p["name"]: p["structures"] for p in results["provenance"]} == {n.name: 4 for n in structures}
    # on each node, what left is journaled per structure, the structure as owner
    for node in structures:
        entries = node.query(
            "SELECT owner_id, decision FROM audit_journalentry "
            "WHERE action = 'indicators.aggregate_answered' AND details LIKE ? AND decision = 'permit'",
            [f"%{season_campaign.id}%"],
        )
        owners = sorted(uuid_text(owner) for owner, _decision in entries)
        assert owners == sorted(uri.rsplit("/", 1)[-1] for uri in local.structures[node.name]), node.name
    assert all(p["as_of"] for p in results["provenance"])
    assert results["as_of"] == min(p["as_of"] for p in results["provenance"])

    counts = check_results(results, local.combined(), catalogue(cluster.ministry))
    print(f"\nseason campaign, {len(results['indicators'])} indicators: {counts}")
    assert counts["published"] > 0
    assert counts["primary"] > 0
    assert counts["secondary"] > 0
    # the grand totals, spelled out: attendance and receipts of the three nodes together
    cells = {item["code"]: {tuple(c["key"]): c for c in item["cells"]} for item in results["indicators"]}
    grand = local.combined()[((), ())]
    assert cells["attendance"][(TOTAL, TOTAL)]["value"] == str(grand.values["attendance"])
    assert cells["receipts"][(TOTAL, TOTAL)]["value"] == f"{grand.values['receipts']:.2f}"
    # the dashboard says it in words
    page = analyst.page(season_campaign.id)
    assert page.status_code == 200
    assert "3 nœuds sur 3 ont répondu" in page.text


# ---------------------------------------------------------------------------- a node fails mid-campaign


def test_a_node_frozen_then_killed_mid_campaign_is_reported_and_a_rerun_counts_every_node_once(
    cluster: Cluster, analyst: Analyst
) -> None:
    ministry = cluster.ministry
    a, b, c = cluster["structure-a"], cluster["structure-b"], cluster["structure-c"]
    definitions = catalogue(ministry)
    campaign_id = analyst.create_campaign(
        title="Quatrième trimestre 2026 par discipline (test de panne)",
        indicators=["attendance", "receipts", "fill_rate"],
        period_start=T4[0],
        period_end=T4[1],
        dimensions=["discipline"],
    )
    local = local_figures([a, b, c], T4, ["discipline"])

    c.suspend()  # frozen: the kernel accepts its connections, nobody answers
    try:
        analyst.launch(campaign_id)
        first = analyst.wait_finished(campaign_id, timeout=CAMPAIGN_TIMEOUT + MARGIN)
    finally:
        c.kill()  # and then it dies
    assert first["state"] == "partial"
    assert states(first) == {"structure-a": "answered", "structure-b": "awaiting", "structure-c": "timeout"}
    frozen = progress_node(first, "structure-c")
    assert frozen["state_label"] == "délai dépassé"
    assert "Délai dépassé" in frozen["detail"], frozen
    assert CAMPAIGN_TIMEOUT * 1000 * 0.9 <= frozen["elapsed_ms"] < (CAMPAIGN_TIMEOUT + MARGIN) * 1000
    missing = {m["name"]: m["state"] for m in first["results"]["missing"]}
    assert missing == {"structure-b": "awaiting", "structure-c": "timeout"}
    assert first["results"]["nodes"] == {"answered": 1, "total": 3}
    # what is published meanwhile is structure-a's alone, under the same rules
    check_results(first["results"], local.combined(["structure-a"]), definitions)
    kept = node_rows(ministry, campaign_id)["structure-a"]

    # the dead node refuses connections: « Relancer les nœuds manquants » reports it at once
    analyst.launch(campaign_id)
    second = analyst.wait(
        campaign_id,
        lambda doc: doc["state"] == "partial" and progress_node(doc, "structure-c")["state"] == "error",
        timeout=CAMPAIGN_TIMEOUT + MARGIN,
        what="partial with structure-c in error",
    )
    dead = progress_node(second, "structure-c")
    assert "injoignable" in dead["detail"], dead
    assert dead["elapsed_ms"] < CAMPAIGN_TIMEOUT * 1000

    # structure-b's administrator approves: the ministry fetches it by itself, the campaign stays partial
    administrator = StructureAdministrator(b)
    try:
        assert len(administrator.decide(campaign_id, "approve")) == 1
    finally:
        administrator.close()
    analyst.wait(
        campaign_id,
        lambda doc: progress_node(doc, "structure-b")["state"] == "answered" and doc["state"] == "partial",
        timeout=MARGIN,
        what="with structure-b answered",
    )

    # structure-c comes back; the analyst reruns; only it is asked
    c.restart()
    analyst.launch(campaign_id)
    done = analyst.wait(campaign_id, lambda doc: doc["state"] == "done", timeout=CAMPAIGN_TIMEOUT + MARGIN)
    assert done["results"]["nodes"] == {"answered": 3, "total": 3}
    rows = node_rows(ministry, campaign_id)
    assert {name: row["state"] for name, row in rows.items()} == dict.fromkeys(
        ("structure-a", "structure-b", "structure-c"), "answered"
    )
    assert {name: row["attempts"] for name, row in rows.items()} == {
        "structure-a": 1,  # answered at the first run: never asked again, its partial kept as it was
        "structure-b": 3,  # the first run and the first rerun (202 both), then its notice
        "structure-c": 3,  # timeout, unreachable, answered
    }
    assert rows["structure-a"]["partial"] == kept["partial"]
    assert rows["structure-a"]["as_of"] == kept["as_of"]
    assert rows["structure-a"]["signature"] == kept["signature"]
    assert campaign_row(ministry, campaign_id) == {"state": "done", "runs": 3}
    on_a = aggregation_request(a, campaign_id)
    assert on_a is not None
    assert on_a["asks"] == 1
    # the totals: every node's local figures, once
    counts = check_results(done["results"], local.combined(), definitions)
    print(f"\nrerun after a node failure: {counts}")
    # (the oracle tells them apart: a node missing, or a node counted twice, does not pass)
    for wrong in (["structure-a", "structure-b"], ["structure-a", "structure-a", "structure-b", "structure-c"]):
        with pytest.raises(AssertionError):
            check_results(done["results"], local.combined(wrong), definitions)
    assert counts["published"] > 0
    assert sorted(p["name"] for p in done["results"]["provenance"]) == ["structure-a", "structure-b", "structure-c"]
    cells = {
        item["code"]: {tuple(cell["key"]): cell for cell in item["cells"]} for item in done["results"]["indicators"]
    }
    grand = local.combined()[((), ())]
    assert grand.contributors == 12
    assert cells["attendance"][(TOTAL,)]["value"] == str(grand.values["attendance"])
    assert cells["receipts"][(TOTAL,)]["value"] == f"{grand.values['receipts']:.2f}"
    # the restarted node was asked once more: its stored request answers the ministry
    on_c = aggregation_request(c, campaign_id)
    assert on_c is not None
    assert on_c["state"] == "sent"


# ---------------------------------------------------------------------------- aggregate-only


def signed_calls(caller: Node, calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
    answers: list[dict[str, Any]] = json.loads(caller.python(SIGNED_CALLS_SNIPPET, json.dumps(calls)))
    return answers


def test_the_ministrys_token_reads_no_row_and_only_the_ministry_may_ask_for_aggregates(cluster: Cluster) -> None:
    ministry, registry, a = cluster.ministry, cluster.registry, cluster["structure-a"]
    scope = "indicators:aggregate"
    # the ministry's own node, signing with its key and presenting its token on structure-a
    refused = signed_calls(
        ministry,
        [
            {"node": a.base_url, "method": "GET", "path": "/api/v1/ticketing/figures/", "scope": scope},
            {"node": a.base_url, "method": "GET", "path": "/api/v1/ticketing/declarations/", "scope": scope},
            {
                "node": a.base_url,
                "method": "GET",
                "path": "/api/v1/directory/entries/",
                "params": {"purpose": "reporting"},
                "scope": scope,
            },
            {"node": a.base_url, "method": "GET", "path": "/api/v1/contacts/", "scope": scope},
            # nor can it get a token for rows: its client on structure-a holds indicators:aggregate only
            {"node": a.base_url, "method": "GET", "path": "/api/v1/ticketing/figures/", "scope": "ticketing:write"},
        ],
    )
    for answer in refused[:4]:
        assert answer["status"] == 403, answer
        assert "insufficient_scope" in answer["detail"], answer
    assert refused[4]["status"] == 400, refused[4]
    assert "invalid_scope" in refused[4]["detail"], refused[4]

    body = {
        "campaign": "6f1c0d2e-8a4b-4c1e-9f7d-2b3a4c5d6e7f",
        "title": "Demande illégitime",
        "period": {"start": T4[0], "end": T4[1]},
        "dimensions": ["discipline"],
        "measures": ["attendance"],
    }
    unsigned = httpx.post(f"{a.base_url}/api/v1/indicators/aggregates", json=body, timeout=20)
    assert unsigned.status_code == 401, unsigned.text
    assert unsigned.json()["error"] == "signature_required"
    # signed by the registry, a member, with its own token on structure-a: not the ministry
    [by_registry] = signed_calls(
        registry,
        [
            {
                "node": a.base_url,
                "method": "POST",
                "path": "/api/v1/indicators/aggregates",
                "json": body,
                "scope": "federation:sync",
            }
        ],
    )
    assert by_registry["status"] == 403, by_registry
    assert "ministry_only" in by_registry["detail"], by_registry
    assert aggregation_request(a, body["campaign"]) is None  # nothing asked, nothing computed
    # the same request signed by the ministry is answered (a partial: structure-a's approvals stand)
    [by_ministry] = signed_calls(
        ministry,
        [{"node": a.base_url, "method": "POST", "path": "/api/v1/indicators/aggregates", "json": body, "scope": scope}],
    )
    assert by_ministry["status"] == 200, by_ministry
    partial = by_ministry["body"]
    assert partial["node"] == a.base_url
    assert [grouping["dimensions"] for grouping in partial["groupings"]] == [["discipline"], []]
    assert partial["groupings"][0]["cells"]
    # aggregates only: no row, no figures' identifiers
    assert not {key for key, _value in leaves(partial)} & {"external_id", "performance", "tickets_total", "id"}
