"""Throughput and query counts of a policy-guarded list endpoint vs the same endpoint unguarded.

Endpoint: `GET /api/v1/venues/?page_size=50&purpose=programming` read by a licensed professional
(category 2) through a personal API key (a bearer token acting for the person), in-process through
Django's test Client. 3,000 venues of three owners: one licensed-only, one partners-only (the
reader is not a partner), one public (the default). Guarded: `VenueViewSet` as shipped (subject,
compiled policies, one filter, obligations). Unguarded: the same viewset with `policy_enforced`
off (the class attribute is flipped between alternating rounds; everything else is identical,
including authentication and the token check).

Two throughput figures (goal ≥ 0.8, DESIGN.md §8):
* `guarded-list` — policies whose duties write nothing (attribution headers only);
* `guarded-list-journal` — the licensed-only template as shipped, whose `journal` duty appends one
  hash-chained entry per request and owner (lock + head read + insert).
And one query-count figure: guarded − unguarded queries per request at page sizes 10 and 100
(goal ≤ 3, the worse of the two sizes; the journal's writes are obligations, not the guard, and are
left out by measuring the first set of policies).

Usage: python bench/bench_guarded_list.py            (all databases; JSON result lines)
       python bench/bench_guarded_list.py --child    (internal: one database, from DATABASE_URL)
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

VENUES_PER_OWNER = 1_000
PAGE_SIZE = 50
ROUNDS = 5
REQUESTS = 60  # per round and side
WARMUP = 20
GOAL = ">= 0.8"
QUERY_GOAL = "<= 3"


# ---------------------------------------------------------------------------- parent: one child per database


def _run_child(database: str, database_url: str, data_dir: Path) -> dict[str, Any]:
    return harness.run_child(__file__, "--child", database, database_url, data_dir)


def main() -> int:
    for result in harness.on_each_database("bench-guarded-", _run_child):
        if result.get("skipped"):
            for name in ("guarded-list", "guarded-list-journal", "guarded-list-queries"):
                print(json.dumps({"name": name, "capability": "guarded API", "goal": GOAL, **result}))
            continue
        database = result["database"]
        for line in result["lines"]:
            print(json.dumps({**line, "database": database}, ensure_ascii=False))
    return 0


# ---------------------------------------------------------------------------- child: one database


def _fixture() -> tuple[list[Any], Any]:
    """Three owners of 1,000 venues each and a licensed professional's personal API key."""
    import datetime as dt

    from dataspace.directory.models import Licence, ProfessionalAccount
    from dataspace.referentials.models import Organisation, Venue

    owners = [Organisation.objects.create(name=f"Structure d'essai {i}", region="Hauts-de-France") for i in range(3)]
    for index, owner in enumerate(owners):
        Venue.objects.bulk_create(
            (
                Venue(owner=owner, name=f"Lieu {index}-{n:04d}", city="Lille", departement="59")
                for n in range(VENUES_PER_OWNER)
            ),
            batch_size=500,
        )
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    company = Organisation.objects.create(name="Compagnie du Banc d'Essai")
    user = get_user_model().objects.create_user(username="pro-bench")  # no password: it reads with a token
    ProfessionalAccount.objects.create(user=user, organisation=company, verified_at=timezone.now())
    Licence.objects.create(
        number="2-PLATESV-D-2025-000999",
        category=2,
        status=Licence.Status.VALID,
        kind=Licence.Kind.FIRST,
        deposited_on=dt.date(2025, 1, 15),
        valid_until=dt.date(2030, 1, 15),
        organisation=company,
    )
    return owners, _personal_token(user, company)


def _personal_token(user: Any, company: Any) -> str:
    """A signed access token of this node acting for `user` (a personal API key, reader client)."""
    import datetime as dt

    from dataspace.oauth.models import Client, IssuedToken
    from dataspace.oauth.tokens import build_claims, encode_access_token

    client = Client.objects.create(
        client_id="bench-personal-key",
        name="Clé personnelle (bench)",
        owner=company,
        kind="reader",
        allowed_scopes=["referentials:read"],
        grant_types=["client_credentials"],
        user=user,
    )
    claims = build_claims(client_id=client.client_id, scopes=["referentials:read"], user_id=user.pk, lifetime=3600)
    IssuedToken.objects.create(
        jti=claims["jti"],
        client=client,
        user=user,
        scope="referentials:read",
        issued_at=dt.datetime.fromtimestamp(claims["iat"], tz=dt.UTC),
        expires_at=dt.datetime.fromtimestamp(claims["exp"], tz=dt.UTC),
    )
    return str(encode_access_token(claims))


def _save(owner: Any, templates: list[dict[str, Any]] | None = None, rules: Any = None) -> None:
    from policies.language import PolicyDoc
    from policies.odrl import to_odrl
    from policies.services import bump_policy_generation, save_policy

    if rules is not None:
        save_policy(owner=owner, target_type="venue", odrl=to_odrl(PolicyDoc("", rules), target="urn:b", assigner=""))
    else:
        save_policy(owner=owner, target_type="venue", templates=templates)
    bump_policy_generation()


def _measure(get: Callable[[], Any]) -> tuple[float, float, list[float], list[float]]:
    """Alternating rounds guarded / unguarded; medians and per-round rates."""
    from dataspace.referentials.api.views import VenueViewSet

    rates: dict[bool, list[float]] = {True: [], False: []}
    for enforced in (True, False):
        VenueViewSet.policy_enforced = enforced
        for _ in range(WARMUP):
            get()
    for _ in range(ROUNDS):
        for enforced in (True, False):
            VenueViewSet.policy_enforced = enforced
            rates[enforced].append(harness.rate(get, REQUESTS))
    VenueViewSet.policy_enforced = True
    return statistics.median(rates[True]), statistics.median(rates[False]), rates[True], rates[False]


def child() -> int:
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client as HttpClient

    from dataspace.referentials.api.views import VenueViewSet
    from policies.language import Constraint, Duty, Rule

    started = time.perf_counter()
    call_command("migrate", verbosity=0, interactive=False)
    call_command("node_init", verbosity=0)
    owners, token = _fixture()
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    setup_s = time.perf_counter() - started
    http = HttpClient()
    headers = {"Authorization": f"Bearer {token}"}

    def getter(size: int) -> Callable[[], Any]:
        url = f"/api/v1/venues/?page_size={size}&purpose=programming"

        def get() -> Any:
            response = http.get(url, secure=True, headers=headers)
            if response.status_code != 200:  # a broken endpoint is an error, not a slow one
                raise RuntimeError(f"GET {url} answered {response.status_code}: {response.content[:300]!r}")
            return response

        return get

    def visible(size: int) -> int:
        return len(getter(size)().json()["results"])

    # 1. Policies whose duties write nothing: licensed professionals only, partners only, public.
    licensed = Rule(
        "permission", ("read", "search"), (Constraint("licensed", "eq", True),), (Duty("attribute", "Source"),)
    )
    _save(owners[0], rules=(licensed,))
    outsider_partner = str(owners[2].pk)
    _save(owners[1], templates=[{"name": "named_partners", "organisations": [outsider_partner]}])
    guarded_rows = visible(PAGE_SIZE)
    queries: dict[int, tuple[int, int]] = {}
    for size in (10, 100):
        VenueViewSet.policy_enforced = True
        getter(size)()
        guarded_q = harness.count_queries(getter(size))
        VenueViewSet.policy_enforced = False
        unguarded_q = harness.count_queries(getter(size))
        queries[size] = (guarded_q, unguarded_q)
    VenueViewSet.policy_enforced = True
    guarded, unguarded, g_rounds, u_rounds = _measure(getter(PAGE_SIZE))

    # 2. The licensed-only template as shipped: its journal duty appends one entry per request.
    _save(owners[0], templates=[{"name": "licensed_only"}])
    from dataspace.audit.models import JournalEntry

    before = JournalEntry.objects.count()
    VenueViewSet.policy_enforced = True
    getter(PAGE_SIZE)()
    if JournalEntry.objects.count() != before + 1:
        raise RuntimeError("the journal duty did not append exactly one entry for one request")
    journal_queries = harness.count_queries(getter(PAGE_SIZE))
    j_guarded, j_unguarded, j_rounds, ju_rounds = _measure(getter(PAGE_SIZE))

    database = os.environ.get("BENCH_DATABASE", connection.vendor)
    common = {
        "endpoint": f"GET /api/v1/venues/?page_size={PAGE_SIZE}&purpose=programming (personal API key of a licensed "
        "professional, category 2)",
        "venues": f"{3 * VENUES_PER_OWNER} (3 owners: licensed-only, partners-only, public)",
        "rows per guarded page": guarded_rows,
        "requests": f"{ROUNDS} rounds x {REQUESTS} per side, alternating (+{WARMUP} warm-up each)",
        "setup (migrate + fixture) s": round(setup_s, 1),
    }
    extra = max(g - u for g, u in queries.values())
    lines = [
        {
            "name": "guarded-list",
            "capability": "guarded API",
            "figure": "policy-guarded list req/s vs the same endpoint unguarded",
            "goal": GOAL,
            "unit": "req/s",
            "measured": round(guarded, 1),
            "baseline": round(unguarded, 1),
            "ratio": round(guarded / unguarded, 3),
            "details": {
                **common,
                "guarded req/s per round": " / ".join(f"{r:,.0f}" for r in g_rounds),
                "unguarded req/s per round": " / ".join(f"{r:,.0f}" for r in u_rounds),
                "duties": "attribute (headers only)",
            },
        },
        {
            "name": "guarded-list-journal",
            "capability": "guarded API",
            "figure": "policy-guarded list req/s with the journal duty (one entry per request) vs unguarded",
            "goal": GOAL,
            "unit": "req/s",
            "measured": round(j_guarded, 1),
            "baseline": round(j_unguarded, 1),
            "ratio": round(j_guarded / j_unguarded, 3),
            "details": {
                **common,
                "guarded req/s per round": " / ".join(f"{r:,.0f}" for r in j_rounds),
                "unguarded req/s per round": " / ".join(f"{r:,.0f}" for r in ju_rounds),
                "queries per guarded request (journal included)": journal_queries,
                "duties": "journal (licensed_only template)",
            },
        },
        {
            "name": "guarded-list-queries",
            "capability": "guarded API",
            "figure": "extra queries of the guarded list over the unguarded one (worse of page sizes 10 and 100)",
            "goal": QUERY_GOAL,
            "unit": "queries",
            "measured": float(max(g for g, _u in queries.values())),
            "baseline": float(max(u for _g, u in queries.values())),
            "ratio": float(extra),
            "details": {
                **{f"page size {size} (guarded / unguarded)": f"{g} / {u}" for size, (g, u) in queries.items()},
                "flat in page size": str(queries[10] == queries[100]),
                "ratio": "here the difference guarded − unguarded, in queries",
            },
        },
    ]
    print(json.dumps({"database": database, "lines": lines}))
    return 0


if __name__ == "__main__":
    sys.exit(child() if "--child" in sys.argv else main())
