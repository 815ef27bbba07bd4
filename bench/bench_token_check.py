"""A bearer-protected endpoint against the same endpoint without authentication (DESIGN §8 "token check").

Figure: `GET /api/v1/performances/<id>/` with `Authorization: Bearer <JWT>` (a token with
`referentials:read`, obtained at `/oauth/token` by client credentials) through Django's test
Client, in-process, over https (`secure=True`); baseline: the same request with no
`Authorization` header — a confirmed performance is public programme data, readable anonymously.
Same view, same row, same serializer: the ratio is what checking the token costs on every request
(Ed25519 signature, claims, the revoked-`jti` and client-state lookups). Goal ≥ 0.85×.

A detail endpoint is used rather than a list page so that the check is not hidden behind
serialisation work. The two figures are measured in alternating rounds in one process; the
median round is reported.

Runs on SQLite (a file in a temporary directory) and, when reachable, on PostgreSQL (database
`bench_scene` on 127.0.0.1, created and dropped here).

Usage: python bench/bench_token_check.py            (all databases; JSON result lines)
       python bench/bench_token_check.py --child    (internal: one database, from DATABASE_URL)
"""

from __future__ import annotations

import base64
import json
import os
import statistics
import sys
import time
import urllib.parse
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
GOAL = ">= 0.85"


# ---------------------------------------------------------------------------- parent: one child per database


def _run_child(database: str, database_url: str, data_dir: Path) -> dict[str, Any]:
    return harness.run_child(__file__, "--child", database, database_url, data_dir, extra_env=harness.LONG_TOKENS)


def main() -> int:
    results = harness.on_each_database("bench-token-check-", _run_child)
    harness.print_results(
        results,
        name="token-check",
        capability="token check",
        figure="GET /api/v1/performances/<id>/ req/s with a bearer token vs the same request anonymous",
        goal=GOAL,
        unit="req/s",
    )
    return 0


# ---------------------------------------------------------------------------- child: one database


def child() -> int:
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client as HttpClient

    from dataspace.oauth.clients import create_client

    started = time.perf_counter()
    call_command("migrate", verbosity=0, interactive=False)
    call_command("node_init", verbosity=0)
    owner, performance = harness.create_public_performance()
    issued = create_client(name="Site web (bench)", owner=owner, scopes=SCOPE, grant_types=["client_credentials"])
    assert issued.secret is not None
    setup_s = time.perf_counter() - started

    http = HttpClient()
    pair = f"{urllib.parse.quote(issued.client.client_id, safe='')}:{urllib.parse.quote(issued.secret, safe='')}"
    answer = http.post(
        "/oauth/token", urllib.parse.urlencode({"grant_type": "client_credentials", "scope": SCOPE}),
        content_type="application/x-www-form-urlencoded",
        HTTP_AUTHORIZATION="Basic " + base64.b64encode(pair.encode()).decode(), secure=True,
    )  # fmt: skip
    if answer.status_code != 200:
        raise RuntimeError(f"POST /oauth/token answered {answer.status_code}: {answer.content[:300]!r}")
    bearer = f"Bearer {answer.json()['access_token']}"
    url = f"/api/v1/performances/{performance.pk}/"

    def get(headers: dict[str, str]) -> Callable[[], None]:
        def request() -> None:
            response = http.get(url, secure=True, headers=headers)
            if response.status_code != 200:  # a broken endpoint is an error, not a slow one
                raise RuntimeError(f"GET {url} answered {response.status_code}: {response.content[:300]!r}")

        return request

    with_token, anonymous = get({"Authorization": bearer}), get({})
    # The same representation both ways (a token must not change what a public read returns here).
    sizes = {len(http.get(url, secure=True, headers=h).content) for h in ({"Authorization": bearer}, {})}
    # And the token is really checked: a tampered one is refused.
    tampered = http.get(url, secure=True, headers={"Authorization": bearer[:-4] + "AAAA"})
    if tampered.status_code != 401:
        raise RuntimeError(f"a tampered token answered {tampered.status_code}, expected 401")
    token_queries, anonymous_queries = harness.count_queries(with_token), harness.count_queries(anonymous)
    for function in (with_token, anonymous):
        for _ in range(WARMUP):
            function()
    rates: dict[str, list[float]] = {"token": [], "anonymous": []}
    for _ in range(ROUNDS):
        rates["token"].append(harness.rate(with_token, REQUESTS))
        rates["anonymous"].append(harness.rate(anonymous, REQUESTS))
    token_rate, anonymous_rate = statistics.median(rates["token"]), statistics.median(rates["anonymous"])
    print(
        json.dumps(
            {
                "database": os.environ.get("BENCH_DATABASE", connection.vendor),
                "measured": round(token_rate, 1),
                "baseline": round(anonymous_rate, 1),
                "ratio": round(token_rate / anonymous_rate, 3),
                "details": {
                    "endpoint": "GET /api/v1/performances/<id>/ (public programme data, scope referentials:read)",
                    "with token req/s (median of rounds)": round(token_rate, 1),
                    "with token req/s per round": " / ".join(f"{rate:,.0f}" for rate in rates["token"]),
                    "anonymous req/s (median of rounds)": round(anonymous_rate, 1),
                    "anonymous req/s per round": " / ".join(f"{rate:,.0f}" for rate in rates["anonymous"]),
                    "queries per request (token / anonymous)": f"{token_queries} / {anonymous_queries}",
                    "same body size both ways": str(len(sizes) == 1),
                    "tampered token": "401 (checked once before measuring)",
                    "requests per round": f"{REQUESTS} each side x {ROUNDS} rounds, alternating (+{WARMUP} warm-up)",
                    "setup (migrate + fixture + token) s": round(setup_s, 1),
                },
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(child() if "--child" in sys.argv else main())
