"""Replication through a real change feed against a bare `bulk_create` of the same rows (DESIGN §8 "replication").

Two nodes, each with its own database, on loopback:

* the **origin** (role structure) serves its change feed from a real gunicorn process (1 worker,
  4 threads): `RECORDS` shared records of one structure — organisations, venues, halls, technical
  sheets, productions, performances and consented directory entries — with federation
  data-sharing agreements in force, the registry registered as a `private_key_jwt` client and
  trusted as a member (`FEDERATION_TRUST_MEMBERS_ONLY=1`);
* the **registry** (this script's measuring process) pulls it with `federation.replication.sync_node`
  — `NodeClient`: RFC 9421 signed requests, a `federation:sync` token, verified signed answers —
  500 changes per page, applied into its `IndexedRecord` / `IndexedAvailability` index.

Figure: changes applied per second by a full pull from an empty index (the cursor and the rows
dropped before each round), end to end: the origin serialising its feed, HTTP, signatures,
facets, the bulk upsert. Baseline: the registry's `bulk_create` of exactly the rows the pull
wrote (the same `IndexedRecord` objects, facets included, and their availability windows; batches
of 500) into the emptied tables. Ratio = replicated rows/s ÷ bulk_create rows/s; goal ≥ 0.3.
Rounds alternate (pull, bulk) and the median of each is reported.

Runs on SQLite (two files in a temporary directory) and, when reachable, on PostgreSQL (two
databases `bench_repl_origin` and `bench_repl_registry` on 127.0.0.1, created and dropped here).

Usage: python bench/bench_replication.py                 (all databases; JSON result lines)
       python bench/bench_replication.py --child         (internal: one database pair, orchestrates)
       python bench/bench_replication.py --setup ROLE    (internal: migrate + keys of one node)
       python bench/bench_replication.py --trust ROLE    (internal: peers, clients, seed data)
       python bench/bench_replication.py --measure       (internal: the registry's measurement)
"""

from __future__ import annotations

import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))  # run as a script from anywhere: `dataspace` must import

import harness  # noqa: E402 - bench/ is the script's own directory

RECORDS = int(os.environ.get("BENCH_REPLICATION_RECORDS", "10000"))
ROUNDS = int(os.environ.get("BENCH_REPLICATION_ROUNDS", "3"))
GOAL = ">= 0.3"
DESCRIPTION = "Une création imaginaire pour mesurer la réplication. " * 3
PG_DATABASES = {"origin": "bench_repl_origin", "registry": "bench_repl_registry"}


# ---------------------------------------------------------------------------- parent: one child per database


def main() -> int:
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-replication-") as tmp:
        base = Path(tmp)
        urls = {role: f"sqlite:///{base / 'sqlite' / role / 'db.sqlite3'}" for role in PG_DATABASES}
        results.append(_child("sqlite", urls, base / "sqlite"))
        unreachable = harness.postgres_available()
        if unreachable:
            results.append({"database": "postgresql", "skipped": unreachable})
        else:
            try:
                for name in PG_DATABASES.values():
                    harness._pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                    harness._pg_admin(f'CREATE DATABASE "{name}"')
                pg_urls = {role: f"postgres://postgres@127.0.0.1:5432/{name}" for role, name in PG_DATABASES.items()}
                results.append(_child("postgresql", pg_urls, base / "pg"))
            finally:
                for name in PG_DATABASES.values():
                    harness._pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    harness.print_results(
        results,
        name="replication",
        capability="replication",
        figure="changes/s applied by a full pull of a member's change feed over HTTP (NodeClient, signed, 500/page) "
        "vs bulk_create of the same index rows",
        goal=GOAL,
        unit="rows/s",
    )
    return 0


def _child(database: str, urls: dict[str, str], data_dir: Path) -> dict[str, Any]:
    env = {**os.environ, "BENCH_DATABASE": database, "BENCH_URLS": json.dumps(urls), "BENCH_DIR": str(data_dir)}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))
    result = subprocess.run(  # noqa: S603 - our own interpreter on our own script
        [sys.executable, __file__, "--child"], cwd=REPO_ROOT, env=env, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        sys.stderr.write(result.stderr[-6000:])
        raise RuntimeError(f"{database} run of bench_replication failed with exit {result.returncode}")
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


# ---------------------------------------------------------------------------- child: orchestrates two nodes


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _node_env(role: str, urls: dict[str, str], data_dir: Path, ports: dict[str, int]) -> dict[str, str]:
    base = {"origin": f"http://127.0.0.1:{ports['origin']}", "registry": f"http://127.0.0.1:{ports['registry']}"}
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "dataspace.settings",
        "DATABASE_URL": urls[role],
        "NODE_DATA_DIR": str(data_dir / role),
        "NODE_KEY_DIR": str(data_dir / role / "keys"),
        "NODE_BASE_URL": base[role],
        "NODE_NAME": f"bench-{role}",
        "NODE_ROLES": "structure" if role == "origin" else "registry",
        "FEDERATION_TRUST_MEMBERS_ONLY": "1",
        "DJANGO_DEBUG": "0",
        "LOG_LEVEL": "WARNING",
        "BENCH_ORIGIN_URL": base["origin"],
        "BENCH_REGISTRY_URL": base["registry"],
    }
    env.pop("REDIS_URL", None)
    env.pop("FEDERATION_REGISTRY_URL", None)
    (data_dir / role).mkdir(parents=True, exist_ok=True)
    return env


def _run(mode: str, role: str, env: dict[str, str], extra: dict[str, str] | None = None) -> dict[str, Any]:
    result = subprocess.run(  # noqa: S603 - our own interpreter on our own script
        [sys.executable, __file__, mode, role],
        cwd=REPO_ROOT,
        env={**env, **(extra or {})},
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        sys.stderr.write(result.stderr[-6000:])
        raise RuntimeError(f"{mode} {role} failed with exit {result.returncode}")
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


def _wait_healthy(url: str, process: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the origin node exited with {process.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=2) as response:  # noqa: S310 - our own node
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.2)
    raise RuntimeError(f"the origin node does not answer on {url}/healthz")


def child() -> int:
    urls: dict[str, str] = json.loads(os.environ["BENCH_URLS"])
    data_dir = Path(os.environ["BENCH_DIR"])
    ports = {"origin": _free_port(), "registry": _free_port()}
    envs = {role: _node_env(role, urls, data_dir, ports) for role in ("origin", "registry")}
    started = time.perf_counter()
    keys = {role: _run("--setup", role, envs[role]) for role in ("origin", "registry")}
    seeded = _run("--trust", "origin", envs["origin"], {"BENCH_PEER_JWK": json.dumps(keys["registry"]["jwk"])})
    _run("--trust", "registry", envs["registry"], {"BENCH_PEER_JWK": json.dumps(keys["origin"]["jwk"])})
    setup_s = time.perf_counter() - started
    gunicorn = Path(sys.executable).parent / "gunicorn"
    command = [str(gunicorn)] if gunicorn.exists() else [sys.executable, "-m", "gunicorn"]
    command += [
        "dataspace.wsgi",
        "-b",
        f"127.0.0.1:{ports['origin']}",
        "-w",
        "1",
        "--threads",
        "4",
        "--log-level",
        "warning",
    ]
    log = open(data_dir / "origin.log", "wb")  # noqa: SIM115 - closed below, after the server stops
    server = subprocess.Popen(  # noqa: S603 - gunicorn from our own virtualenv on our own project
        command, cwd=REPO_ROOT, env=envs["origin"], stdout=log, stderr=log, start_new_session=True
    )
    try:
        _wait_healthy(envs["origin"]["BENCH_ORIGIN_URL"], server)
        measured = _run("--measure", "registry", envs["registry"])
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
        log.close()
    measured["details"]["origin records (feed changes)"] = seeded["changes"]
    measured["details"]["origin records by type"] = seeded["by_type"]
    measured["details"]["setup (2 migrations, keys, seed) s"] = round(setup_s, 1)
    print(json.dumps({"database": os.environ.get("BENCH_DATABASE", ""), **measured}))
    return 0


# ---------------------------------------------------------------------------- node processes


def setup(role: str) -> int:
    import django

    django.setup()
    from django.core.management import call_command

    from dataspace.node import keys

    call_command("migrate", verbosity=0, interactive=False)
    call_command("node_init", verbosity=0)
    key = keys.load_keys()[0]
    print(json.dumps({"role": role, "jwk": key.public_jwk()}))
    return 0


def _seed_origin(owner: Any) -> dict[str, int]:
    """`RECORDS` shared records of `owner`, written in bulk with their change-log rows (the feed reads
    the log and the records' current state, whatever wrote them)."""
    import datetime as dt
    import zoneinfo

    from django.conf import settings
    from django.utils import timezone

    from dataspace.consent import services as consent
    from dataspace.consent.models import ConsentRecord
    from dataspace.directory.models import DirectoryEntry
    from dataspace.records.models import Change
    from dataspace.referentials import models as m

    paris = zoneinfo.ZoneInfo("Europe/Paris")
    regions = ["Bretagne", "Occitanie", "Île-de-France", "Grand Est", "Normandie"]
    share = {"venue": 0.04, "hall": 0.08, "technical-sheet": 0.08, "production": 0.15, "directory-entry": 0.10}
    counts = {name: max(1, int(RECORDS * fraction)) for name, fraction in share.items()}
    counts["organisation"] = 20
    counts["performance"] = max(1, RECORDS - sum(counts.values()) - 1)  # the owner itself is the last one
    organisations = [
        m.Organisation(owner=owner, name=f"Compagnie fictive {n}", kind="company", region=regions[n % 5])
        for n in range(counts["organisation"])
    ]
    venues = [
        m.Venue(owner=owner, name=f"Théâtre imaginaire {n}", city=f"Ville {n}", region=regions[n % 5],
                departement=f"{10 + n % 80}", venue_type="theatre")
        for n in range(counts["venue"])
    ]  # fmt: skip
    halls = [
        m.Hall(owner=owner, venue=venues[n % len(venues)], name=f"Salle {n}", seated_capacity=200 + n % 800)
        for n in range(counts["hall"])
    ]
    sheets = [
        m.TechnicalSheet(owner=owner, hall=halls[n], stage_width_m="12.00", stage_depth_m="10.50",
                         proscenium_opening_m=f"{8 + n % 6}.50", height_under_grid_m="14.00")
        for n in range(min(counts["technical-sheet"], len(halls)))
    ]  # fmt: skip
    productions = [
        m.Production(owner=owner, title=f"Spectacle fictif n° {n}", discipline="theatre",
                     producer=organisations[n % 20], description=DESCRIPTION)
        for n in range(counts["production"])
    ]  # fmt: skip
    start = dt.datetime(2027, 1, 1, 20, 0, tzinfo=paris)
    performances = [
        m.Performance(owner=owner, production=productions[n % len(productions)], hall=halls[n % len(halls)],
                      start=start + dt.timedelta(hours=n), capacity=300, status="scheduled")
        for n in range(counts["performance"])
    ]  # fmt: skip
    entries = [
        DirectoryEntry(owner=owner, display_name=f"Personne Fictive {n}", trades=["regisseur_lumiere", "machiniste"],
                       skills=["Console", "Accroche"], languages=["fr", "en"], region=regions[n % 5],
                       availability=[{"start": "2027-03-01", "end": "2027-03-31"}], contact_email=f"p{n}@exemple.test")
        for n in range(counts["directory-entry"])
    ]  # fmt: skip
    created: list[Any] = []
    batches: list[list[Any]] = [organisations, venues, halls, sheets, productions, performances, entries]
    for rows in batches:
        created += type(rows[0]).objects.bulk_create(rows, batch_size=500)
    notice = consent.publish_notice(controller=owner, kind="directory", version="1", text="Notice fictive.")
    now = timezone.now()
    ConsentRecord.objects.bulk_create(
        [
            ConsentRecord(controller=owner, target_type="directory-entry", target_id=entry.pk,
                          purposes=["professional_directory"], data_categories=["dpv-pd:Name"],
                          fields=["display_name", "trades", "skills", "languages", "region", "availability"],
                          recipients=["licensed_professionals"], notice=notice, notice_sha256=notice.sha256,
                          method="paper", given_at=now, status_changed_at=now)
            for entry in entries
        ],
        batch_size=500,
    )  # fmt: skip
    Change.objects.bulk_create(
        [
            Change(record_type=record.record_type, record_id=record.pk, uri=record.uri, op="upsert",
                   version=record.version, owner_id=owner.pk)
            for record in created
        ],
        batch_size=1000,
    )  # fmt: skip
    assert settings.NODE_BASE_URL
    by_type: dict[str, int] = {}
    for record in created:
        by_type[record.record_type] = by_type.get(record.record_type, 0) + 1
    return by_type


def trust(role: str) -> int:
    import django

    django.setup()
    import datetime as dt

    from django.contrib.auth import get_user_model

    from dataspace.consent.agreements import sign_agreement
    from dataspace.oauth.models import Client
    from dataspace.referentials.models import Organisation
    from federation.models import Peer

    other = "registry" if role == "origin" else "origin"
    peer_url = os.environ[f"BENCH_{other.upper()}_URL"]
    jwk = json.loads(os.environ["BENCH_PEER_JWK"])
    Peer.objects.update_or_create(
        base_url=peer_url,
        defaults={"name": f"bench-{other}", "roles": ["registry" if other == "registry" else "structure"],
                  "jwks": {"keys": [jwk]}, "kids": [jwk["kid"]], "list_serial": 1},
    )  # fmt: skip
    if role != "origin":
        print(json.dumps({"role": role}))
        return 0
    registry_org = Organisation.objects.create(name="Registre (bench)", kind="public_body")
    Client.objects.create(
        client_id=peer_url,
        name="Registre",
        owner=registry_org,
        kind="reader",
        allowed_scopes=["federation:sync"],
        grant_types=["client_credentials"],
        token_endpoint_auth_method="private_key_jwt",  # noqa: S106 - a method name, not a secret
        jwks_uri=f"{peer_url}/.well-known/jwks.json",
    )
    owner = Organisation.objects.create(name="Scène nationale fictive", kind="theatre", siret="73282932000074")
    by_type = _seed_origin(owner)
    operator = get_user_model().objects.create_superuser("bench-operateur", "op@example.org", None)
    for dataset in sorted(by_type):
        sign_agreement(owner=owner, target_type=dataset, grantee="federation", purposes=["programming"],
                       valid_from=dt.date(2020, 1, 1), signed_by=operator)  # fmt: skip
    print(json.dumps({"role": role, "changes": sum(by_type.values()), "by_type": by_type}))
    return 0


def measure(_role: str) -> int:
    import django

    django.setup()
    from django.db import connection, transaction

    from federation import replication
    from federation.models import IndexedAvailability, IndexedRecord

    origin = os.environ["BENCH_ORIGIN_URL"]
    pulls: list[float] = []
    bulks: list[float] = []
    answers: list[dict[str, Any]] = []
    rows_written = 0
    for _round in range(ROUNDS):
        replication.forget_node(origin)
        started = time.perf_counter()
        answer = replication.sync_node(origin)
        elapsed = time.perf_counter() - started
        if answer.get("status") != "ok" or not answer.get("upserted"):
            raise RuntimeError(f"the pull failed: {answer}")
        answers.append(answer)
        rows = list(IndexedRecord.objects.order_by("pk"))
        windows = list(IndexedAvailability.objects.select_related("record").order_by("pk"))
        rows_written = len(rows) + len(windows)
        pulls.append(rows_written / elapsed)
        # the baseline: the very same rows, into emptied tables, in one transaction like a page
        replication.forget_node(origin)
        for record in rows:
            record.pk = None
        started = time.perf_counter()
        with transaction.atomic():
            IndexedRecord.objects.bulk_create(rows, batch_size=500)
            by_uri = {record.uri: record.pk for record in rows}
            IndexedAvailability.objects.bulk_create(
                [IndexedAvailability(record_id=by_uri[w.record.uri], start=w.start, end=w.end) for w in windows],
                batch_size=500,
            )
        bulks.append(rows_written / (time.perf_counter() - started))
    pull, bulk = statistics.median(pulls), statistics.median(bulks)
    last = answers[-1]
    print(
        json.dumps(
            {
                "measured": round(pull, 1),
                "baseline": round(bulk, 1),
                "ratio": round(pull / bulk, 3),
                "details": {
                    "database vendor": connection.vendor,
                    "rows written per pull (index rows + availability windows)": rows_written,
                    "changes applied per pull": last["upserted"],
                    "pages per pull (500 changes each)": last["pages"],
                    "pull rows/s per round": " / ".join(f"{rate:,.0f}" for rate in pulls),
                    "pull seconds per round": " / ".join(f"{a['seconds']:.2f}" for a in answers),
                    "bulk_create rows/s per round": " / ".join(f"{rate:,.0f}" for rate in bulks),
                    "transport": "NodeClient: RFC 9421 signed requests and answers, private_key_jwt federation:sync "
                    "token, gunicorn origin (1 worker, 4 threads), next page fetched while one is written",
                    "rounds": ROUNDS,
                },
            }
        )
    )
    return 0


if __name__ == "__main__":
    if "--child" in sys.argv:
        sys.exit(child())
    for mode, function in (("--setup", setup), ("--trust", trust), ("--measure", measure)):
        if mode in sys.argv:
            sys.exit(function(sys.argv[sys.argv.index(mode) + 1]))
    sys.exit(main())
