"""An endpoint writing its hash-chained journal entry vs the same endpoint with the journal off
(DESIGN §8 "journal").

Figure: `GET /bench/journaled/performances/<id>/?purpose=programming` (bench/journal_urls.py: the
performance detail of the API, then one `journal()` entry for the read, as the policy decision
point writes it) with a bearer token, through Django's test Client, in-process, over https;
baseline: the very same request with `JOURNAL_ENABLED` off, so `journal()` returns at once. Same
view, row, serializer and token check: the ratio is what journaling costs on every guarded read
(a transaction, the advisory lock on PostgreSQL, one SELECT of the chain head, the SHA-256 of the
canonical JSON, one INSERT, the commit; on PostgreSQL all of it is one statement, and by default
the commit waits for the WAL flush so that no answered access can be lost). Goal ≥ 0.9×. The
details also give the figure with the `JOURNAL_SYNCHRONOUS_COMMIT=0` option (entries commit
without waiting for the flush), measured in the same rounds.

The three figures are measured in alternating rounds in one process; the median round is reported.
The chain is verified (`verify_chain`) after the run: every entry written is linked and intact.

Runs on SQLite (a file in a temporary directory) and, when reachable, on PostgreSQL (database
`bench_scene` on 127.0.0.1, created and dropped here).

Usage: python bench/bench_journal.py            (all databases; JSON result lines)
       python bench/bench_journal.py --child    (internal: one database, from DATABASE_URL)
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))  # run as a script from anywhere: `dataspace` must import

import harness  # noqa: E402 - bench/ is the script's own directory

ROUNDS = 5
REQUESTS = 400  # per round and per side
WARMUP = 50
SCOPE = "referentials:read"
GOAL = ">= 0.9"


# ---------------------------------------------------------------------------- parent: one child per database


def _run_child(database: str, database_url: str, data_dir: Path) -> dict[str, Any]:
    return harness.run_child(__file__, "--child", database, database_url, data_dir, extra_env=harness.LONG_TOKENS)


def main() -> int:
    results = harness.on_each_database("bench-journal-", _run_child)
    harness.print_results(
        results,
        name="journal",
        capability="journal",
        figure="GET a performance with its journal entry written, req/s vs the same with JOURNAL_ENABLED off",
        goal=GOAL,
        unit="req/s",
    )
    return 0


# ---------------------------------------------------------------------------- child: one database


def child() -> int:
    import datetime as dt

    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client as HttpClient

    from dataspace.audit.models import JournalEntry
    from dataspace.audit.services import verify_chain
    from dataspace.oauth.models import Client, IssuedToken
    from dataspace.oauth.tokens import build_claims, encode_access_token

    settings.ROOT_URLCONF = "bench.journal_urls"
    started = time.perf_counter()
    call_command("migrate", verbosity=0, interactive=False)
    call_command("node_init", verbosity=0)
    owner, performance = harness.create_public_performance()
    client = Client.objects.create(
        client_id="bench-journal", name="Logiciel de billetterie (bench)", owner=owner, kind="reader",
        allowed_scopes=[SCOPE], grant_types=["client_credentials"],
    )  # fmt: skip
    claims = build_claims(client_id=client.client_id, scopes=[SCOPE], user_id=None, lifetime=3600)
    IssuedToken.objects.create(
        jti=claims["jti"], client=client, scope=SCOPE,
        issued_at=dt.datetime.fromtimestamp(claims["iat"], tz=dt.UTC),
        expires_at=dt.datetime.fromtimestamp(claims["exp"], tz=dt.UTC),
    )  # fmt: skip
    bearer = f"Bearer {encode_access_token(claims)}"
    setup_s = time.perf_counter() - started

    http = HttpClient()
    url = f"/bench/journaled/performances/{performance.pk}/?purpose=programming"

    def request() -> None:
        response = http.get(url, secure=True, headers={"Authorization": bearer})
        if response.status_code != 200:  # a broken endpoint is an error, not a slow one
            raise RuntimeError(f"GET {url} answered {response.status_code}: {response.content[:300]!r}")

    def side(enabled: bool, synchronous: bool = False) -> Callable[[], None]:
        def run() -> None:
            settings.JOURNAL_ENABLED = enabled
            settings.JOURNAL_SYNCHRONOUS_COMMIT = synchronous
            request()

        return run

    # The default configuration is durable (JOURNAL_SYNCHRONOUS_COMMIT on); the asynchronous
    # option is measured beside it.
    journaled, unjournaled, fast = side(True, synchronous=True), side(False), side(True, synchronous=False)
    # The switch really switches: one entry per journaled request, none otherwise.
    before = JournalEntry.objects.count()
    journaled()
    unjournaled()
    if JournalEntry.objects.count() != before + 1:
        raise RuntimeError("expected exactly one journal entry for one journaled request and none when off")
    on_queries, off_queries = harness.count_queries(journaled), harness.count_queries(unjournaled)
    for function in (journaled, unjournaled, fast):
        for _ in range(WARMUP):
            function()
    rates: dict[str, list[float]] = {"on": [], "off": [], "fast": []}
    for _ in range(ROUNDS):
        rates["on"].append(harness.rate(journaled, REQUESTS))
        rates["off"].append(harness.rate(unjournaled, REQUESTS))
        rates["fast"].append(harness.rate(fast, REQUESTS))
    on_rate, off_rate = statistics.median(rates["on"]), statistics.median(rates["off"])
    fast_rate = statistics.median(rates["fast"])
    verify_started = time.perf_counter()
    report = verify_chain()
    verify_s = time.perf_counter() - verify_started
    if not report.ok:
        raise RuntimeError(f"the chain written by the benchmark does not verify: {report.problems[:3]}")
    print(
        json.dumps(
            {
                "database": os.environ.get("BENCH_DATABASE", connection.vendor),
                "measured": round(on_rate, 1),
                "baseline": round(off_rate, 1),
                "ratio": round(on_rate / off_rate, 3),
                "details": {
                    "endpoint": "GET /api/v1/performances/<id>/ + journal() of the read (bench/journal_urls.py)",
                    "journal on req/s (median of rounds)": round(on_rate, 1),
                    "journal on req/s per round": " / ".join(f"{rate:,.0f}" for rate in rates["on"]),
                    "journal off req/s (median of rounds)": round(off_rate, 1),
                    "journal off req/s per round": " / ".join(f"{rate:,.0f}" for rate in rates["off"]),
                    "JOURNAL_SYNCHRONOUS_COMMIT off (option) req/s (median of rounds)": round(fast_rate, 1),
                    "JOURNAL_SYNCHRONOUS_COMMIT off (option) ratio to journal off": round(fast_rate / off_rate, 3),
                    "queries per request (on / off)": f"{on_queries} / {off_queries}",
                    "entries written": report.entries,
                    "verify_chain over them s": round(verify_s, 2),
                    "requests per round": f"{REQUESTS} x 3 sides x {ROUNDS} rounds, alternating (+{WARMUP} warm-up)",
                    "setup (migrate + fixture + token) s": round(setup_s, 1),
                },
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(child() if "--child" in sys.argv else main())
