"""Federated search over real node processes: fan-out cost, a hung member, withdrawal propagation.

A federation of real processes on loopback (tests/federation/cluster.py): one registry and
STRUCTURES (10) structure nodes, each a gunicorn process (one worker, four threads) with its own
SQLite database, key pair and port, seeded with the demo's structure data (`seed_demo`, distinct
seeds: every node holds distinct records — about 370 each), joined with `federation_join`,
approved with `federation_approve`, member lists refreshed with `federation_refresh`, replicated
with `federation_sync`; plus one *hung* member: a socket server that accepts connections and never
answers, joined with a real key pair, approved only for the second figure.

Figures (each printed as one JSON line, bench/run.py):

* **federation-search-live** (goal ≤ 1.5×): p95 of `GET /api/v1/referentials/search?mode=live`
  (type production, purpose programming) by a licensed professional with its personal key, over
  the 10 structure nodes (measured), against the p95 of the same request when only one structure
  is a member (baseline: the slowest node's p95, each node searched alone in turn — the others
  suspended on the registry and the member list rebuilt). The ratio is what fanning out to ten
  nodes in parallel costs over asking the slowest one.
* **federation-search-hung** (goal ≤ 1.1×): the same live search with the hung member approved
  as an eleventh: p95 answer time against FEDERATION_SEARCH_TIMEOUT (the hung node must be cut
  off at its timeout, the answer must not wait longer).
* **federation-withdrawal** (goal ≤ 0.1×): seconds from a consent withdrawal sent to the origin
  (a structure's administration tool, `POST /api/v1/consents/{id}/withdraw`) to the first registry
  index search (polled every 50 ms) that no longer finds the person, against
  FEDERATION_SYNC_INTERVAL (60 s by default, the bound a pull-only replication would give): the
  push notice must beat the next pull by far.

SQLite only: each node process has its own database file (a PostgreSQL run would need eleven
databases; the search path does not depend on the engine beyond the index query, measured by the
replication benchmark).

Usage: python bench/bench_federation_search.py   (JSON result lines; BENCH_FEDERATION_NODES=N to
       change the number of structure nodes, BENCH_FEDERATION_KEEP=1 to keep the nodes' directory)
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))  # run as a script from anywhere: `tests` must import

from tests.federation.cluster import (  # noqa: E402 - after the path fix above
    Cluster,
    ClusterError,
    NodeSpec,
    Professional,
    SearchCall,
    percentile,
    withdraw_consent,
)

STRUCTURES = int(os.environ.get("BENCH_FEDERATION_NODES", "10"))
SEARCH_TIMEOUT = 3.0  # FEDERATION_SEARCH_TIMEOUT of the registry (the settings' default)
SYNC_INTERVAL = 60.0  # FEDERATION_SYNC_INTERVAL (the settings' default): no pull happens during the run
WARMUP = 5  # searches before measuring (tokens fetched and cached, connections, imports)
SAMPLES = 40  # federated searches over every node
SINGLE_SAMPLES = 20  # searches with one member, per node
HUNG_SAMPLES = 8  # searches with the hung member (each lasts about the timeout)
WITHDRAWAL_LIMIT_S = 60.0
SEARCH = {"type": "production", "purpose": "programming", "mode": "live", "page_size": "20"}

#: Keep only these members approved on the registry, the others suspended (the operator's
#: services: each decision rebuilds the registry's peers and re-signs the member list at once).
ONLY_MEMBERS_SNIPPET = """
import sys, django
django.setup()
from federation import membership
from federation.models import Member
keep = set(sys.argv[1:])
for member in Member.objects.order_by("base_url"):
    if member.base_url in keep and member.status != "approved":
        membership.approve(member)
    elif member.base_url not in keep and member.status == "approved":
        membership.suspend(member)
print(sorted(Member.objects.filter(status="approved").values_list("base_url", flat=True)))
"""


def specs() -> list[NodeSpec]:
    nodes = [NodeSpec("registry", ("registry",), "registry")]
    for index in range(STRUCTURES):
        profile = ("structure-a", "structure-b")[index % 2]
        # distinct seeds: distinct records on every node; the administration tool only where needed
        nodes.append(NodeSpec(f"structure-{index + 1:02d}", profile=profile, seed=42 + index, clients=index == 0))
    nodes.append(NodeSpec("hung", hung=True))
    return nodes


def only_members(cluster: Cluster, *names: str) -> None:
    """Make `names` (plus the registry) the only approved members, at once."""
    keep = [cluster.registry.base_url, *(cluster[name].base_url for name in names)]
    cluster.registry.python(ONLY_MEMBERS_SNIPPET, *keep)


def live_searches(professional: Professional, count: int) -> list[SearchCall]:
    calls = []
    for _ in range(count):
        call = professional.search("referentials", **SEARCH)
        if call.status != 200:
            raise ClusterError(f"live search answered {call.status}: {json.dumps(call.body)[:500]}")
        calls.append(call)
    return calls


def statuses(calls: list[SearchCall]) -> dict[str, int]:
    """How many times each per-node status was reported over `calls`."""
    counted: dict[str, int] = {}
    for call in calls:
        for node in call.body.get("nodes", []):
            counted[node.get("status", "?")] = counted.get(node.get("status", "?"), 0) + 1
    return counted


@dataclass
class Round:
    """Searches of one configuration, with the CPU the registry and the searched nodes spent on them."""

    calls: list[SearchCall]
    registry_cpu_s: float
    nodes_cpu_s: float

    @property
    def times(self) -> list[float]:
        return [call.seconds for call in self.calls]

    def per_search_ms(self, cpu_s: float) -> float:
        return cpu_s / len(self.calls) * 1000

    def reported_node_ms(self, base_urls: set[str]) -> float:
        """Mean time the registry reported for the structure nodes (its own clock, per node)."""
        values = [n["ms"] for c in self.calls for n in c.body.get("nodes", []) if n.get("node") in base_urls]
        return statistics.fmean(values) if values else 0.0


def searched(cluster: Cluster, professional: Professional, names: list[str], count: int) -> Round:
    nodes = [cluster[name] for name in names]
    registry_before, nodes_before = cluster.registry.cpu_seconds(), sum(node.cpu_seconds() for node in nodes)
    calls = live_searches(professional, count)
    return Round(
        calls,
        cluster.registry.cpu_seconds() - registry_before,
        sum(node.cpu_seconds() for node in nodes) - nodes_before,
    )


def measure_fan_out(cluster: Cluster, professional: Professional, structures: list[str]) -> dict[str, Any]:
    """Federated searches in two halves around the single-node ones (background load hits both)."""
    urls = {cluster[name].base_url for name in structures}
    only_members(cluster, *structures)
    live_searches(professional, WARMUP)
    halves = [searched(cluster, professional, structures, SAMPLES // 2)]
    alone: dict[str, Round] = {}
    for name in structures:
        only_members(cluster, name)
        live_searches(professional, 2)
        alone[name] = searched(cluster, professional, [name], SINGLE_SAMPLES)
        print(f"  {name} alone: p95 {percentile(alone[name].times, 0.95) * 1000:.0f} ms", flush=True)
    only_members(cluster, *structures)
    live_searches(professional, 2)
    halves.append(searched(cluster, professional, structures, SAMPLES - SAMPLES // 2))
    federated = Round(
        [call for half in halves for call in half.calls],
        sum(half.registry_cpu_s for half in halves),
        sum(half.nodes_cpu_s for half in halves),
    )
    federated_p95 = percentile(federated.times, 0.95)
    p95_alone = {name: percentile(one.times, 0.95) for name, one in alone.items()}
    slowest = max(p95_alone, key=lambda name: p95_alone[name])
    print(f"live search over {len(structures)} nodes: p95 {federated_p95 * 1000:.0f} ms", flush=True)
    cpu_per_search = federated.per_search_ms(federated.registry_cpu_s + federated.nodes_cpu_s)
    cores = os.cpu_count() or 1
    return {
        "name": "federation-search-live",
        "capability": "federated search (live)",
        "figure": f"live search p95 over {len(structures)} nodes vs the slowest node alone",
        "database": "sqlite",
        "unit": "ms",
        "measured": federated_p95 * 1000,
        "baseline": p95_alone[slowest] * 1000,
        "ratio": federated_p95 / p95_alone[slowest],
        "goal": "<= 1.5",
        "details": {
            "nodes": len(structures),
            "samples": len(federated.calls),
            "federated p50 (ms)": percentile(federated.times, 0.5) * 1000,
            "slowest node alone": slowest,
            "single-node p95 range (ms)": f"{min(p95_alone.values()) * 1000:.0f}–{max(p95_alone.values()) * 1000:.0f}",
            "per-node time the registry reported, federated (mean ms)": federated.reported_node_ms(urls),
            "per-node time the registry reported, alone (mean ms)": statistics.fmean(
                one.reported_node_ms({cluster[name].base_url}) for name, one in alone.items()
            ),
            "CPU per federated search, registry (ms)": federated.per_search_ms(federated.registry_cpu_s),
            "CPU per federated search, all structure nodes (ms)": federated.per_search_ms(federated.nodes_cpu_s),
            "CPU per search of one node alone (mean ms)": statistics.fmean(
                one.per_search_ms(one.nodes_cpu_s) for one in alone.values()
            ),
            "CPU per search with one node, registry (mean ms)": statistics.fmean(
                one.per_search_ms(one.registry_cpu_s) for one in alone.values()
            ),
            f"wall-time floor of a federated search on {cores} cores (CPU / cores, ms)": cpu_per_search / cores,
            "node statuses reported": json.dumps(statuses(federated.calls)),
            "results per answer": federated.calls[-1].body.get("count"),
        },
    }


def measure_hung(cluster: Cluster, professional: Professional, structures: list[str]) -> dict[str, Any]:
    hung = cluster["hung"]
    cluster.registry.manage("federation_approve", hung.base_url)
    only_members(cluster, *structures, "hung")
    calls = live_searches(professional, HUNG_SAMPLES)
    times = [call.seconds for call in calls]
    hung_statuses = [call.node(hung.base_url).get("status") for call in calls]
    p95 = percentile(times, 0.95)
    print(f"live search with a hung member: p95 {p95 * 1000:.0f} ms (timeout {SEARCH_TIMEOUT * 1000:.0f} ms)")
    return {
        "name": "federation-search-hung",
        "capability": "federated search (live), one member hung",
        "figure": f"answer p95 with 1 hung node of {len(structures) + 1} vs FEDERATION_SEARCH_TIMEOUT",
        "database": "sqlite",
        "unit": "ms",
        "measured": p95 * 1000,
        "baseline": SEARCH_TIMEOUT * 1000,
        "ratio": p95 / SEARCH_TIMEOUT,
        "goal": "<= 1.1",
        "details": {
            "samples": HUNG_SAMPLES,
            "max (ms)": max(times) * 1000,
            "min (ms)": min(times) * 1000,
            "hung node status": json.dumps(sorted(set(hung_statuses))),
            "connections the hung node accepted": hung.hung_server.accepted if hung.hung_server else 0,
            "node statuses reported": json.dumps(statuses(calls)),
        },
    }


def measure_withdrawal(cluster: Cluster, professional: Professional, origin_name: str) -> dict[str, Any]:
    origin = cluster[origin_name]
    found = professional.search("directory", q="Jules", mode="index")
    targets = [r["id"] for r in found.body.get("results", []) if r.get("origin") == origin.base_url]
    if found.status != 200 or not targets:
        raise ClusterError(f"the person of {origin_name} is not in the registry's index: {found.body}")
    sent, answered = withdraw_consent(origin, targets[0])
    deadline = sent + WITHDRAWAL_LIMIT_S
    polls = 0
    while time.monotonic() < deadline:
        polls += 1
        call = professional.search("directory", q="Jules", mode="index")
        if call.status == 200 and targets[0] not in {r["id"] for r in call.body.get("results", [])}:
            break
        time.sleep(0.05)
    seconds = time.monotonic() - sent
    print(f"withdrawal at {origin_name} -> absent from registry search: {seconds:.2f} s")
    return {
        "name": "federation-withdrawal",
        "capability": "consent withdrawal propagation",
        "figure": "withdrawal at the origin → absent from the registry's search, vs the sync interval",
        "database": "sqlite",
        "unit": "s",
        "measured": seconds,
        "baseline": SYNC_INTERVAL,
        "ratio": seconds / SYNC_INTERVAL,
        "goal": "<= 0.1",
        "details": {
            "searches until absent": polls,
            "withdrawal request answered by the origin in (s)": answered - sent,
            "gave up after (s)": WITHDRAWAL_LIMIT_S,
        },
    }


def main() -> int:
    root = Path(tempfile.mkdtemp(prefix="bench-federation-"))
    keep = os.environ.get("BENCH_FEDERATION_KEEP") == "1"
    structures = [f"structure-{index + 1:02d}" for index in range(STRUCTURES)]
    cluster = Cluster(
        root,
        specs(),
        env={
            "FEDERATION_SEARCH_TIMEOUT": str(SEARCH_TIMEOUT),
            "FEDERATION_SYNC_INTERVAL": str(int(SYNC_INTERVAL)),
        },
        threads=4,
    )
    results: list[dict[str, Any]] = []
    try:
        with cluster:
            print(f"{len(cluster.nodes)} nodes started in {sum(cluster.timings.values()):.1f} s under {root}")
            cluster.federate(approve=structures)
            print(f"federated and replicated: {json.dumps({k: round(v, 1) for k, v in cluster.timings.items()})}")
            professional = Professional(cluster)
            try:
                results.append(measure_fan_out(cluster, professional, structures))
                results.append(measure_withdrawal(cluster, professional, structures[0]))
                results.append(measure_hung(cluster, professional, structures))
            finally:
                professional.close()
    finally:
        if keep:
            print(f"nodes' directories kept in {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    for result in results:
        result["details"]["cluster set-up (s)"] = round(sum(cluster.timings.values()), 1)
        print(json.dumps(result, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
