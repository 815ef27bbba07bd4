"""What every benchmark script shares: running one child process per database, reaching the
throwaway PostgreSQL database, counting queries and measuring rates, printing the result lines;
and the public performance that the single-record benchmarks read.

Each `bench_*.py` measures in a child process per database (settings are read from the
environment at import), on SQLite in a temporary directory and, when reachable, on PostgreSQL in
the database `bench_scene` on 127.0.0.1, created and dropped around the run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
PG_DB = "bench_scene"
PG_URL = f"postgres://postgres@127.0.0.1:5432/{PG_DB}"
#: Extra environment of a child that mints one access token and uses it for the whole run.
LONG_TOKENS = {"OAUTH_ACCESS_TOKEN_LIFETIME": "3600"}  # the token outlives the run


def run_child(
    script: str,
    mode: str,
    database: str,
    database_url: str,
    data_dir: Path,
    *,
    settings_module: str = "dataspace.settings",
    extra_env: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Run `script mode` on one database; returns the JSON object of its last output line."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": settings_module,
        "DATABASE_URL": database_url,
        "NODE_DATA_DIR": str(data_dir),
        "NODE_KEY_DIR": str(data_dir / "keys"),
        "DJANGO_DEBUG": "0",
        "LOG_LEVEL": "WARNING",
        "BENCH_DATABASE": database,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])),
        **(extra_env or {}),
    }
    env.pop("REDIS_URL", None)
    result = subprocess.run(  # noqa: S603 - our own interpreter on our own script
        [sys.executable, script, mode], cwd=REPO_ROOT, env=env, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        sys.stderr.write(result.stderr[-4000:])
        raise RuntimeError(f"{database} {mode} run of {Path(script).name} failed with exit {result.returncode}")
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


def postgres_available() -> str | None:
    """None if PostgreSQL on 127.0.0.1 accepts us, else why not."""
    try:
        import psycopg

        with psycopg.connect(PG_ADMIN_URL, connect_timeout=3):
            return None
    except Exception as exc:  # noqa: BLE001 - any failure means "not reachable", reported as such
        return f"PostgreSQL not reachable ({exc.__class__.__name__})"


def _pg_admin(statement: str) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(statement)


def fresh_pg_database() -> str:
    """(Re)create the empty benchmark database; returns its URL."""
    drop_pg_database()
    _pg_admin(f'CREATE DATABASE "{PG_DB}"')
    return PG_URL


def drop_pg_database() -> None:
    _pg_admin(f'DROP DATABASE IF EXISTS "{PG_DB}" WITH (FORCE)')


def on_each_database(prefix: str, measure: Callable[[str, str, Path], dict[str, Any]]) -> list[dict[str, Any]]:
    """`measure(database, database_url, data_dir)` on SQLite, then on PostgreSQL when reachable
    (in a fresh `bench_scene` database, dropped afterwards); a skipped database says why."""
    import tempfile

    results = []
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        sqlite_dir = Path(tmp) / "sqlite"
        results.append(measure("sqlite", f"sqlite:///{sqlite_dir / 'bench.sqlite3'}", sqlite_dir))
        unreachable = postgres_available()
        if unreachable:
            results.append({"database": "postgresql", "skipped": unreachable})
        else:
            try:
                results.append(measure("postgresql", fresh_pg_database(), Path(tmp) / "pg"))
            finally:
                drop_pg_database()
    return results


def count_queries(function: Callable[[], Any]) -> int:
    """How many SQL queries one call of `function` runs."""
    from django.db import connection

    count = 0

    def counter(execute: Any, sql: Any, params: Any, many: Any, context: Any) -> Any:
        nonlocal count
        count += 1
        return execute(sql, params, many, context)

    with connection.execute_wrapper(counter):
        function()
    return count


def rate(function: Callable[[], Any], count: int) -> float:
    """Calls per second over `count` calls (no warm-up: callers warm up first)."""
    started = time.perf_counter()
    for _ in range(count):
        function()
    return count / (time.perf_counter() - started)


def print_results(results: list[dict[str, Any]], **labels: str) -> None:
    """One JSON line per database: the benchmark's labels (name, capability, figure, goal, unit)
    followed by what the child measured."""
    for result in results:
        print(json.dumps({**labels, **result}, ensure_ascii=False))


def create_public_performance() -> Any:
    """One public (scheduled) performance with its production, hall, venue and owner."""
    import datetime as dt
    import zoneinfo

    from dataspace.referentials import models as m

    owner = m.Organisation.objects.create(name="Théâtre du Banc d'Essai", kind=m.Organisation.Kind.THEATRE)
    venue = m.Venue.objects.create(owner=owner, name="Lieu d'essai", city="Lyon", departement="69")
    hall = m.Hall.objects.create(owner=owner, venue=venue, name="Grande salle", seated_capacity=400)
    production = m.Production.objects.create(owner=owner, title="Spectacle d'essai", duration_minutes=90)
    performance = m.Performance.objects.create(
        owner=owner,
        production=production,
        hall=hall,
        start=dt.datetime(2026, 10, 1, 20, 0, tzinfo=zoneinfo.ZoneInfo("Europe/Paris")),
        status=m.Performance.Status.SCHEDULED,
        capacity=400,
    )
    return owner, performance
