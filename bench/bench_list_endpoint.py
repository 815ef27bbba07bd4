"""Throughput of the performances list endpoint vs the bare ORM query serving the same page.

Figure: `GET /api/v1/performances/?page_size=50` through Django's test Client, in-process (no
network, no server), against 10,000 performances; baseline: the same page fetched by the ORM
(same queryset, same select_related, same ordering as the view) and serialised with
`json.dumps(list(qs.values()))`. Ratio = endpoint req/s ÷ ORM pages/s: what the API layer
(routing, middleware, DRF, serializers, pagination, rendering) costs over the data access itself.

Runs on SQLite (a file in a temporary directory) and, when reachable, on PostgreSQL (database
`bench_scene` on 127.0.0.1, created and dropped here). Each database runs in its own process,
since settings are read from the environment at import.

Usage: python bench/bench_list_endpoint.py            (all databases; JSON result lines)
       python bench/bench_list_endpoint.py --child     (internal: one database, from DATABASE_URL)
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))  # run as a script from anywhere: `dataspace` must import

import harness  # noqa: E402 - bench/ is the script's own directory

PERFORMANCES = 10_000
PRODUCTIONS = 200
VENUES = 10
HALLS_PER_VENUE = 2
PAGE_SIZE = 50
WARMUP = 30
REQUESTS = 400
URL = f"/api/v1/performances/?page_size={PAGE_SIZE}"
GOAL = ">= 0.3"  # set by us before measuring (DESIGN §8 has no goal for a plain list endpoint)


# ---------------------------------------------------------------------------- parent: one child per database


def _run_child(database: str, database_url: str, data_dir: Path) -> dict[str, Any]:
    return harness.run_child(__file__, "--child", database, database_url, data_dir)


def main() -> int:
    results = harness.on_each_database("bench-list-", _run_child)
    for result in results:
        line = {
            "name": "list-endpoint",
            "capability": "API list endpoint",
            "figure": f"GET /api/v1/performances/?page_size={PAGE_SIZE} req/s vs ORM page + json.dumps pages/s",
            "goal": GOAL,
            "unit": "/s",
            **result,
        }
        print(json.dumps(line, ensure_ascii=False))
    return 0


# ---------------------------------------------------------------------------- child: one database


def _create_fixture() -> None:
    """10,000 performances with their productions, halls, venues and owner (bulk, no change log)."""
    import datetime as dt
    import zoneinfo

    from dataspace.referentials import models as m

    paris = zoneinfo.ZoneInfo("Europe/Paris")
    owner = m.Organisation.objects.create(name="Théâtre du Banc d'Essai", kind=m.Organisation.Kind.THEATRE)
    venues = m.Venue.objects.bulk_create(
        m.Venue(owner=owner, name=f"Lieu d'essai {i}", city="Lyon", departement="69") for i in range(VENUES)
    )
    halls = m.Hall.objects.bulk_create(
        m.Hall(owner=owner, venue=venue, name=f"Salle {j}", seated_capacity=300 + 50 * j)
        for venue in venues
        for j in range(HALLS_PER_VENUE)
    )
    productions = m.Production.objects.bulk_create(
        m.Production(owner=owner, title=f"Spectacle d'essai {i}", duration_minutes=90) for i in range(PRODUCTIONS)
    )
    first = dt.datetime(2026, 9, 1, 20, 0, tzinfo=paris)
    m.Performance.objects.bulk_create(
        (
            m.Performance(
                owner=owner,
                production=productions[i % PRODUCTIONS],
                hall=halls[i % len(halls)],
                start=first + dt.timedelta(hours=i),
                status=m.Performance.Status.SCHEDULED,
                capacity=400,
            )
            for i in range(PERFORMANCES)
        ),
        batch_size=1000,
    )


def _stand_in_urlconf() -> Any:
    """Used only while the real endpoint is missing: a plain DRF list view over performances."""
    import types

    from django.urls import include, path
    from rest_framework import generics, serializers

    from dataspace.referentials.models import Performance

    class PerformanceSerializer(serializers.ModelSerializer):
        class Meta:
            model = Performance
            fields = "__all__"

    class PerformanceList(generics.ListAPIView):
        serializer_class = PerformanceSerializer

        def get_queryset(self) -> Any:
            return Performance.objects.select_related("production", "hall", "hall__venue", "owner")

    module = types.ModuleType("bench_stand_in_urls")
    module.urlpatterns = [  # type: ignore[attr-defined]
        path("api/v1/performances/", PerformanceList.as_view()),
        path("", include("dataspace.urls")),
    ]
    return module


def _orm_page_function(urlconf: Any) -> tuple[Any, dict[str, Any]]:
    """The bare ORM equivalent of the endpoint's first page: the view's own queryset and ordering."""
    from django.contrib.auth.models import AnonymousUser
    from django.test import RequestFactory
    from django.urls import resolve
    from rest_framework.request import Request

    match = resolve(URL.split("?")[0], urlconf=urlconf)
    view_class = match.func.cls  # type: ignore[attr-defined]
    actions = getattr(match.func, "actions", None)
    view = view_class(**({"action": "list"} if actions else {}))
    django_request = RequestFactory().get(URL)
    django_request.user = AnonymousUser()
    request = Request(django_request)
    view.request, view.args, view.kwargs, view.format_kwarg = request, (), match.kwargs, None
    queryset = view.filter_queryset(view.get_queryset())
    paginator = view.paginator
    ordering = paginator.get_ordering(request, queryset, view) if paginator is not None else ("pk",)
    page = queryset.order_by(*ordering)
    # values() drops select_related: name the related columns so the baseline joins and reads the same data.
    columns = [field.attname for field in page.model._meta.concrete_fields]
    columns += _related_columns(page.model, page.query.select_related)

    def fetch() -> str:
        return json.dumps(list(page[:PAGE_SIZE].values(*columns)), default=str)

    info = {
        "view": f"{view_class.__module__}.{view_class.__qualname__}",
        "ordering": ",".join(ordering),
        "select_related": json.dumps(page.query.select_related) if page.query.select_related else "none",
    }
    return fetch, info


def _related_columns(model: Any, tree: Any, prefix: str = "") -> list[str]:
    """`path__column` for every concrete column of every model reached by a select_related tree."""
    if not isinstance(tree, dict):
        return []
    columns: list[str] = []
    for name, subtree in tree.items():
        related = model._meta.get_field(name).related_model
        path = f"{prefix}{name}__"
        columns += [f"{path}{field.attname}" for field in related._meta.concrete_fields]
        columns += _related_columns(related, subtree, path)
    return columns


def _rate(function: Any, count: int) -> float:
    for _ in range(WARMUP):
        function()
    return harness.rate(function, count)


def child() -> int:
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.urls import Resolver404, resolve

    started = time.perf_counter()
    call_command("migrate", verbosity=0, interactive=False)
    _create_fixture()
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")  # planner statistics, as a production database would have them
    setup_s = time.perf_counter() - started

    try:
        resolve(URL.split("?")[0])
        urlconf: Any = None
        stand_in = False
    except Resolver404:
        urlconf = _stand_in_urlconf()
        stand_in = True
    client = Client()
    if urlconf is not None:
        settings.ROOT_URLCONF = urlconf

    response = client.get(URL)
    if response.status_code != 200:  # a broken endpoint is an error, not a slow one
        raise RuntimeError(f"GET {URL} answered {response.status_code}: {response.content[:300]!r}")
    body = response.json()
    rows = len(body.get("results", body)) if isinstance(body, dict) else len(body)

    def endpoint() -> None:
        client.get(URL)

    fetch, info = _orm_page_function(urlconf)
    endpoint_queries, orm_queries = harness.count_queries(endpoint), harness.count_queries(fetch)
    endpoint_rate = _rate(endpoint, REQUESTS)
    orm_rate = _rate(fetch, REQUESTS)
    print(
        json.dumps(
            {
                "database": os.environ.get("BENCH_DATABASE", connection.vendor),
                "measured": round(endpoint_rate, 1),
                "baseline": round(orm_rate, 1),
                "ratio": round(endpoint_rate / orm_rate, 3),
                "details": {
                    "endpoint": "stand-in DRF view (real endpoint not in the tree yet)" if stand_in else URL,
                    **info,
                    "rows per page": rows,
                    "queries per request (endpoint / ORM)": f"{endpoint_queries} / {orm_queries}",
                    "performances": PERFORMANCES,
                    "requests measured (after warm-up)": f"{REQUESTS} (+{WARMUP})",
                    "endpoint req/s": round(endpoint_rate, 1),
                    "ORM pages/s": round(orm_rate, 1),
                    "fixture setup (migrate + bulk_create) s": round(setup_s, 1),
                },
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(child() if "--child" in sys.argv else main())
