#!/usr/bin/env python3
"""`make demo`: a federation of four Scène Commune nodes on 127.0.0.1, in the foreground.

structure-a, structure-b (two fictitious structures, Lyon and Nantes), registry and ministry, on
ports DEMO_PORT_BASE … DEMO_PORT_BASE+3 (default 8001–8004). Each node has its own directory under
DEMO_DIR (default var/demo): SQLite database, key pair, secret key, logs. The script migrates,
initialises and seeds every node (in parallel; a second run reuses what is there), creates the demo
accounts with passwords generated once and kept in DEMO_DIR/credentials.json (0600), registers each
node's demo OAuth clients (their secrets, shown only at creation, kept in the same file under
"clients" and reused on later runs), starts each node with gunicorn, waits until every /healthz
answers, writes DEMO_DIR/nodes.json (DESIGN.md §7) and stays in the foreground. Ctrl-C or SIGTERM
stops every node and exits 0.

Standard library only; run it with the project's virtualenv Python.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import errno
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
HEALTH_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class NodeSpec:
    name: str
    roles: tuple[str, ...]
    accounts: tuple[tuple[str, str], ...]  # (username, kind)


#: The registry's demo professionals (FICTITIOUS): their structure, its licence in the sample list
#: (dataspace/directory/fixtures/licences_sample.csv) and the licence state each one shows.
PROFESSIONALS: dict[str, dict[str, str]] = {
    "pro-valide": {
        "organisation": "Compagnie des Horizons fictifs",
        "licence_number": "2-PLATESV-D-2026-000211",
        "licence_status": "valide",
    },
    "pro-expiree": {
        "organisation": "Le Chapiteau imaginaire",
        "licence_number": "PLATESV-D-2020-001234",
        "licence_status": "expiree",
    },
    "pro-instruction": {
        "organisation": "Tournées de la Lune rousse",
        "licence_number": "2-PLATESV-D-2026-008877",
        "licence_status": "en_instruction",
    },
    "pro-invalidee": {
        "organisation": "Association Tréteaux inventés",
        "licence_number": "PLATESV-D-2023-003456",
        "licence_status": "invalidee",
    },
}

#: Staff of a structure hosted at the registry (its data deposited there, see policies/demo.py): an
#: administrator of that structure only — not a superuser — who reads its journal at /journal/.
STRUCTURE_STAFF: dict[str, dict[str, str]] = {
    "songes-admin": {"structure": "Compagnie des Songes partagés (hébergée, démo)"},
}

#: The registry's demo persons (FICTITIOUS; their directory entries and consents: dataspace/consent/demo.py).
#: They sign in to their portal /moi/ with a one-time link (printed in the registry's server.log by the
#: console email backend) or with their password at /oauth/login/?next=/moi/.
PERSONS: dict[str, dict[str, str]] = {
    "camille-artiste": {"email": "camille-artiste@personnes.example", "consent": "published"},
    "nour-technicienne": {"email": "nour-technicienne@personnes.example", "consent": "published"},
    "sacha-sans-consentement": {"email": "sacha-sans-consentement@personnes.example", "consent": "none"},
    "lou-retrait": {"email": "lou-retrait@personnes.example", "consent": "withdrawn"},
}

NODES = (
    NodeSpec("structure-a", ("structure",), (("admin", "staff"),)),
    NodeSpec("structure-b", ("structure",), (("admin", "staff"),)),
    NodeSpec(
        "registry",
        ("registry",),
        (
            ("admin", "staff"),
            *((username, "staff") for username in STRUCTURE_STAFF),
            *((username, "professional") for username in PROFESSIONALS),
            *((username, "person") for username in PERSONS),
        ),
    ),
    NodeSpec("ministry", ("ministry",), (("admin", "staff"), ("analyste", "analyst"))),
)

#: Inherited variables that would make the nodes share a database, a key or an identity.
SCRUBBED_ENV = (
    "DATABASE_URL",
    "REDIS_URL",
    "DJANGO_SECRET_KEY",
    "NODE_KEY_DIR",
    "NODE_NAME",
    "NODE_BASE_URL",
    "NODE_ROLES",
    "NODE_DATA_DIR",
    "ALLOWED_HOSTS",
    "CSRF_TRUSTED_ORIGINS",
    "DJANGO_DEBUG",
    "FEDERATION_REGISTRY_URL",
    "POLICY_MINISTRY_NODES",
)

SETUP_SNIPPET = """
import sys, django
django.setup()
from django.conf import settings
from django.core.management import call_command
profile, credentials, clients_out, peers = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
call_command("migrate", interactive=False, verbosity=0)
call_command("node_init")
call_command("seed_demo", profile=profile)
call_command("seed_demo_policies", profile=profile)
call_command("demo_account", credentials=credentials, node=profile)
if profile == "registry":
    call_command("demo_professionals", credentials=credentials, node=profile)
call_command("seed_demo_consents", profile=profile)
if profile.startswith("structure"):
    # its figures and those of the three small structures it hosts; their agreements with the ministry
    # and the standing approvals of its aggregation requests (structure-b's own: approved in the admin)
    ministry = (settings.POLICY_MINISTRY_NODES or [""])[0]
    call_command("seed_demo_ticketing", profile=profile, until="season-end", ministry=ministry)
if profile == "ministry":
    call_command("seed_indicator_catalogue")
    call_command("seed_demo_campaign")
call_command("demo_clients", credentials=credentials, node=profile, output=clients_out, peer=peers)
"""


class DemoError(Exception):
    """The demo cannot start; the message says why, in French and English."""


# ---------------------------------------------------------------------------- processes


class Supervisor:
    """Every child process, each in its own process group, so that all of it can be stopped."""

    def __init__(self) -> None:
        self.children: list[subprocess.Popen[bytes]] = []
        self.lock = threading.RLock()  # re-entrant: the signal handler may run while spawn holds it
        self.stopping = threading.Event()

    def spawn(self, args: list[str], *, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
        with self.lock:
            if self.stopping.is_set():
                raise DemoError("arrêt demandé / stop requested")
            with log.open("ab") as out:
                process = subprocess.Popen(  # noqa: S603 - fixed argument lists built by this script
                    args,
                    cwd=ROOT,
                    env=env,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    start_new_session=True,
                )
            self.children.append(process)
            return process

    def interrupt(self) -> None:
        """Ask every child to stop now (from the signal handler); `stop_all` finishes the job."""
        self.stopping.set()
        with self.lock:
            for process in self.children:
                _signal_group(process, signal.SIGTERM)

    def stop_all(self) -> None:
        """TERM every process group, wait, then KILL whatever is left."""
        self.stopping.set()
        with self.lock:
            children = list(self.children)
        for process in children:
            _signal_group(process, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT_S
        for process in children:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
        for process in children:
            _signal_group(process, signal.SIGKILL)  # the group: workers left behind by a dead master too
            if process.poll() is None:
                process.wait()


def _signal_group(process: subprocess.Popen[bytes], signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signum)


# ---------------------------------------------------------------------------- setup


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as gunicorn does
        try:
            sock.bind(("127.0.0.1", port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return False
            raise
    return True


def load_credentials(path: Path) -> dict[str, Any]:
    """The demo accounts, with passwords generated on the first run and reused afterwards (0600).

    `{"<node>": [{"username", "password", "kind"}], "clients": {"<node>": [client, …]}}`: the clients
    part is filled by `merge_clients` once every node has registered its clients. A professional's
    entry also carries its `organisation`, `licence_number` and `licence_status` (PROFESSIONALS); a
    structure's own staff account carries its `structure` (STRUCTURE_STAFF).
    """
    existing: dict[str, Any] = {}
    if path.exists():
        existing = json.loads(path.read_text())
    changed = False
    for node in NODES:
        known = {account["username"]: account for account in existing.get(node.name, [])}
        accounts = []
        for username, kind in node.accounts:
            account = known.get(username)
            if account is None or account.get("kind") != kind:
                account = {"username": username, "password": secrets.token_urlsafe(12), "kind": kind}
                changed = True
            by_kind = {"professional": PROFESSIONALS, "staff": STRUCTURE_STAFF, "person": PERSONS}.get(kind, {})
            extra = by_kind.get(username, {})
            if any(account.get(key) != value for key, value in extra.items()):
                account.update(extra)
                changed = True
            accounts.append(account)
        existing[node.name] = accounts
    if changed or not path.exists():
        _write_private(path, existing)
    path.chmod(0o600)
    return existing


def merge_clients(path: Path, demo_dir: Path) -> dict[str, list[dict[str, Any]]]:
    """Move each node's freshly written client list (DEMO_DIR/<node>/clients.json) into credentials.json."""
    credentials = json.loads(path.read_text())
    clients: dict[str, list[dict[str, Any]]] = credentials.setdefault("clients", {})
    for node in NODES:
        written = demo_dir / node.name / "clients.json"
        clients[node.name] = json.loads(written.read_text())
    _write_private(path, credentials)
    for node in NODES:
        (demo_dir / node.name / "clients.json").unlink(missing_ok=True)  # secrets: one copy only
    return clients


def _write_private(path: Path, data: Any) -> None:
    """Write JSON atomically, readable by the owner only."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(data, out, indent=2, ensure_ascii=False)
        out.write("\n")
    os.replace(tmp, path)


def node_redis_url(index: int) -> str | None:
    """With REDIS_URL set for the demo, each node gets its own Redis database (1, 2, 3, 4)."""
    base = os.environ.get("REDIS_URL", "").strip()
    if not base:
        return None
    parts = urllib.parse.urlsplit(base)
    return urllib.parse.urlunsplit(parts._replace(path=f"/{index + 1}"))


def node_env(node: NodeSpec, port: int, demo_dir: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key not in SCRUBBED_ENV}
    redis_url = node_redis_url(NODES.index(node))
    if redis_url:
        env["REDIS_URL"] = redis_url
    env.update(
        DJANGO_SETTINGS_MODULE="dataspace.settings",
        PYTHONUNBUFFERED="1",
        NODE_NAME=node.name,
        NODE_BASE_URL=f"http://127.0.0.1:{port}",
        NODE_ROLES=",".join(node.roles),
        NODE_DATA_DIR=str(demo_dir / node.name),
        DJANGO_DEBUG="0",
    )
    return env


def set_up_node(
    supervisor: Supervisor, node: NodeSpec, env: dict[str, str], demo_dir: Path, ports: dict[str, int]
) -> float:
    """Migrate, initialise, seed, create the accounts and OAuth clients of one node. Returns the seconds taken."""
    started = time.monotonic()
    node_dir = demo_dir / node.name
    node_dir.mkdir(parents=True, exist_ok=True)
    log = node_dir / "setup.log"
    log.write_text("")
    # No peer is registered by hand: the peers' clients come from the registry's signed member list
    # (`federate` below, then every FEDERATION_MEMBERS_REFRESH seconds).
    args = [sys.executable, "-c", SETUP_SNIPPET, node.name, str(demo_dir / "credentials.json")]
    args += [str(node_dir / "clients.json")]
    returncode = supervisor.spawn(args, env=env, log=log).wait()
    if returncode != 0:
        if supervisor.stopping.is_set():
            raise DemoError("arrêt demandé / stop requested")
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-25:])
        raise DemoError(
            f"la préparation du nœud {node.name} a échoué / setting up node {node.name} failed "
            f"(code {returncode}; journal / log: {log}):\n{tail}"
        )
    return time.monotonic() - started


def start_node(
    supervisor: Supervisor, node: NodeSpec, port: int, env: dict[str, str], demo_dir: Path
) -> subprocess.Popen[bytes]:
    gunicorn = Path(sys.executable).parent / "gunicorn"
    command = [str(gunicorn)] if gunicorn.exists() else [sys.executable, "-m", "gunicorn"]
    command += [
        "dataspace.wsgi",
        "-b",
        f"127.0.0.1:{port}",
        "-w",
        "2",
        "--threads",
        "4",
        "--graceful-timeout",
        "5",
        "--access-logfile",
        "-",
        "--name",
        f"scene-commune-{node.name}",
    ]
    return supervisor.spawn(command, env=env, log=demo_dir / node.name / "server.log")


def start_worker(
    supervisor: Supervisor, node: NodeSpec, env: dict[str, str], demo_dir: Path
) -> subprocess.Popen[bytes]:
    """A real Celery worker (with its beat scheduler) for a node whose tasks go through Redis."""
    celery = Path(sys.executable).parent / "celery"
    command = [str(celery)] if celery.exists() else [sys.executable, "-m", "celery"]
    command += ["-A", "dataspace", "worker", "--beat", "-l", "warning", "-c", "1", "-n", f"{node.name}@%h"]
    command += ["--schedule", str(demo_dir / node.name / "celerybeat-schedule")]
    return supervisor.spawn(command, env=env, log=demo_dir / node.name / "worker.log")


def manage(supervisor: Supervisor, node: NodeSpec, env: dict[str, str], demo_dir: Path, *args: str) -> str:
    """Run one management command of a node (its own environment), output appended to its setup.log."""
    log = demo_dir / node.name / "setup.log"
    out = demo_dir / node.name / "command.out"
    out.write_text("")
    process = supervisor.spawn([sys.executable, "manage.py", *args], env=env, log=out)
    returncode = process.wait()
    text = out.read_text(errors="replace")
    with log.open("a") as handle:
        handle.write(f"$ manage.py {' '.join(args)}\n{text}")
    if returncode != 0:
        if supervisor.stopping.is_set():
            raise DemoError("arrêt demandé / stop requested")
        tail = "\n".join(text.splitlines()[-25:])
        raise DemoError(f"{node.name}: manage.py {' '.join(args)} a échoué / failed (code {returncode}):\n{tail}")
    return text


PEER_CLIENTS_SNIPPET = """
import json, sys, django
django.setup()
from dataspace.oauth.models import Client
clients = [
    {"name": c.name, "client_id": c.client_id, "client_secret": None, "scopes": " ".join(c.allowed_scopes),
     "acts_for": None, "kind": c.kind, "token_endpoint_auth_method": c.token_endpoint_auth_method,
     "jwks_uri": c.jwks_uri}
    for c in Client.objects.exclude(jwks_uri="").filter(is_active=True).order_by("client_id")
]
json.dump(clients, sys.stdout)
"""


def federate(
    supervisor: Supervisor, envs: dict[str, dict[str, str]], ports: dict[str, int], demo_dir: Path
) -> dict[str, list[dict[str, Any]]]:
    """Join every node to the registry, approve them, refresh the member lists, replicate once.

    Returns, per node, the OAuth clients of its peers (registered from the signed member list).
    """
    registry = next(node for node in NODES if "registry" in node.roles)
    registry_url = f"http://127.0.0.1:{ports[registry.name]}"
    for node in NODES:
        if node is registry:
            continue
        manage(supervisor, node, envs[node.name], demo_dir, "federation_join", registry_url, "--contact",
               f"technique@{node.name}.example")  # fmt: skip
    manage(supervisor, registry, envs[registry.name], demo_dir, "federation_approve", "--all")
    for node in NODES:
        manage(supervisor, node, envs[node.name], demo_dir, "federation_refresh")
        if node is not registry:  # each node's own index, which live search reads
            manage(supervisor, node, envs[node.name], demo_dir, "federation_sync", "--local")
    manage(supervisor, registry, envs[registry.name], demo_dir, "federation_sync")
    clients: dict[str, list[dict[str, Any]]] = {}
    for node in NODES:
        out = demo_dir / node.name / "peers.json"
        out.write_text("")
        process = supervisor.spawn([sys.executable, "-c", PEER_CLIENTS_SNIPPET], env=envs[node.name], log=out)
        if process.wait() != 0:
            raise DemoError(f"{node.name}: lecture des clients pairs impossible / cannot list peer clients ({out})")
        clients[node.name] = json.loads(out.read_text())
        out.unlink()
    return clients


def start_periodic(
    supervisor: Supervisor, node: NodeSpec, env: dict[str, str], demo_dir: Path
) -> subprocess.Popen[bytes]:
    """Without Redis, the node's periodic tasks (member list, replication, outbox, seals) run here."""
    command = [sys.executable, "manage.py", "run_periodic_tasks", "--first-delay", "10"]
    return supervisor.spawn(command, env=env, log=demo_dir / node.name / "periodic.log")


def wait_healthy(supervisor: Supervisor, base_url: str, name: str, log: Path) -> None:
    deadline = time.monotonic() + HEALTH_TIMEOUT_S
    while time.monotonic() < deadline and not supervisor.stopping.is_set():
        try:
            with urllib.request.urlopen(f"{base_url}/healthz", timeout=2) as response:  # noqa: S310 - our own node
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.2)
    if supervisor.stopping.is_set():
        raise DemoError("arrêt demandé / stop requested")
    raise DemoError(f"le nœud {name} ne répond pas sur {base_url}/healthz / node {name} does not answer (log: {log})")


# ---------------------------------------------------------------------------- summary


def nodes_document(
    ports: dict[str, int], credentials: dict[str, Any], clients: dict[str, list[dict[str, Any]]]
) -> dict[str, Any]:
    """The machine-readable list of the demo federation (DESIGN.md §7)."""
    return {
        "nodes": [
            {
                "name": node.name,
                "base_url": f"http://127.0.0.1:{ports[node.name]}",
                "roles": list(node.roles),
                "clients": [dict(client) for client in clients.get(node.name, [])],
                "users": [dict(account) for account in credentials[node.name]],
            }
            for node in NODES
        ]
    }


def indicator_lines(document: dict[str, Any]) -> list[str]:
    """Where to try an aggregation campaign (the ministry's dashboard, structure-b's approval)."""
    urls = {node["name"]: node["base_url"] for node in document["nodes"]}
    if "ministry" not in urls or "structure-b" not in urls:
        return []
    return [
        f"  Indicateurs / indicators : {urls['ministry']}/indicateurs/ (analyste) — campagne de démonstration prête "
        "à lancer / demo campaign ready to launch; chaque nœud structure héberge 3 petites structures fictives",
        f"  {'':<12} approbation / approval : {urls['structure-b']}/admin/ (admin, administrateur de la scène "
        "nationale : la structure-b attend son accord à chaque campagne / structure-b waits for its approval)",
    ]


def print_summary(document: dict[str, Any], nodes_json: Path, elapsed: float) -> None:
    lines = [
        "",
        f"Fédération de démonstration Scène Commune prête en {elapsed:.1f} s — demo federation ready.",
        "",
    ]
    for node in document["nodes"]:
        lines.append(f"  {node['name']:<12} {node['base_url']:<30} rôles / roles : {', '.join(node['roles'])}")
        for user in node["users"]:
            # Staff sign in to the node's admin; other kinds will sign in through OAuth once it exists.
            pages = {
                "staff": "/journal/" if user.get("structure") else "/admin/",
                "professional": "/conditions/",
                "person": "/moi/",
            }
            where = node["base_url"] + pages.get(user["kind"], "/")
            licence = f"  licence {user['licence_status']}" if user.get("licence_status") else ""
            lines.append(f"  {'':<12} {where:<30} {user['kind']:<8} {user['username']} / {user['password']}{licence}")
        for client in node["clients"]:
            if client.get("jwks_uri"):
                continue  # peer nodes' clients: summarised below, they authenticate with their keys
            secret = client["client_secret"] or "(public, PKCE)"
            who = f" → {client['acts_for']}" if client["acts_for"] else ""
            lines.append(f"  {'':<12} client {client['client_id']} / {secret}  {client['scopes']}{who}")
        peers = [c["name"] for c in node["clients"] if c.get("jwks_uri")]
        if peers:
            lines.append(
                f"  {'':<12} + {len(peers)} client(s) des nœuds pairs, d'après la liste signée des membres "
                "(private_key_jwt) / peer nodes' clients, from the signed member list"
            )
    lines += [
        "",
        f"  Liste machine des nœuds / machine-readable node list (clients : nom, portées) : {nodes_json}",
        "  Jeton / token : curl -u CLIENT_ID:SECRET -d grant_type=client_credentials <base_url>/oauth/token"
        "  (docs/oauth.md)",
        f"  Journaux / logs : {nodes_json.parent}/<nœud>/server.log",
        *indicator_lines(document),
        "  Pages utiles / useful pages : /  /api/docs/  /.well-known/dataspace-node  /feeds/performances.ics",
        "  Tâches / tasks : "
        + (
            "un worker Celery par nœud via Redis (bases 1 à 4) / one Celery worker per node through Redis"
            if node_redis_url(0)
            else "dans le processus, sans Redis / in-process, no Redis (REDIS_URL=… make demo: real workers)"
        ),
        "",
        "Ctrl-C pour arrêter / Ctrl-C to stop.",
        "",
    ]
    print("\n".join(lines), flush=True)


# ---------------------------------------------------------------------------- main


def main() -> int:
    started = time.monotonic()
    port_base = int(os.environ.get("DEMO_PORT_BASE", "8001"))
    demo_dir = Path(os.environ.get("DEMO_DIR", "") or ROOT / "var" / "demo")
    demo_dir = (demo_dir if demo_dir.is_absolute() else ROOT / demo_dir).resolve()
    ports = {node.name: port_base + index for index, node in enumerate(NODES)}

    for name, port in ports.items():
        if not port_is_free(port):
            print(
                f"Le port {port} (nœud {name}) est déjà utilisé : une démo tourne peut-être déjà. "
                f"Arrêtez-la ou choisissez d'autres ports avec DEMO_PORT_BASE.\n"
                f"Port {port} (node {name}) is already in use; stop what uses it or set DEMO_PORT_BASE.",
                file=sys.stderr,
            )
            return 2

    supervisor = Supervisor()

    def on_signal(signum: int, frame: Any) -> None:
        if not supervisor.stopping.is_set():
            print("\nArrêt des nœuds… / stopping the nodes…", flush=True)
        supervisor.interrupt()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    demo_dir.mkdir(parents=True, exist_ok=True)
    credentials = load_credentials(demo_dir / "credentials.json")
    envs = {node.name: node_env(node, ports[node.name], demo_dir) for node in NODES}
    for name, env in envs.items():
        # Every node knows the registry (outbox notices) and the ministry (policy templates).
        if name != "registry":
            env["FEDERATION_REGISTRY_URL"] = f"http://127.0.0.1:{ports['registry']}"
        env["POLICY_MINISTRY_NODES"] = f"http://127.0.0.1:{ports['ministry']}"
        # Trust only members of the registry's signed list; refresh it and replicate often (demo pace).
        env["FEDERATION_TRUST_MEMBERS_ONLY"] = "1"
        env["FEDERATION_MEMBERS_REFRESH"] = "60"
        env["FEDERATION_SYNC_INTERVAL"] = "30"
    nodes_json = demo_dir / "nodes.json"
    nodes_json.unlink(missing_ok=True)  # present only while this run's nodes answer (removed on exit)
    print(f"Préparation de {len(NODES)} nœuds dans {demo_dir} / setting up {len(NODES)} nodes…", flush=True)
    try:
        with concurrent.futures.ThreadPoolExecutor(max_workers=len(NODES)) as pool:
            futures = {
                pool.submit(set_up_node, supervisor, node, envs[node.name], demo_dir, ports): node for node in NODES
            }
            for future in concurrent.futures.as_completed(futures):
                print(f"  {futures[future].name} prêt / ready ({future.result():.1f} s)", flush=True)
        clients = merge_clients(demo_dir / "credentials.json", demo_dir)
        servers = {node: start_node(supervisor, node, ports[node.name], envs[node.name], demo_dir) for node in NODES}
        workers = {
            node: start_worker(supervisor, node, envs[node.name], demo_dir)
            for node in NODES
            if "REDIS_URL" in envs[node.name]
        }
        for node in NODES:
            wait_healthy(
                supervisor, f"http://127.0.0.1:{ports[node.name]}", node.name, demo_dir / node.name / "server.log"
            )
        print("Adhésion des nœuds au registre et première réplication… / joining and replicating…", flush=True)
        for name, peer_clients in federate(supervisor, envs, ports, demo_dir).items():
            own = [client for client in clients.get(name, []) if not client.get("jwks_uri")]
            clients[name] = own + peer_clients
        periodic = {
            node: start_periodic(supervisor, node, envs[node.name], demo_dir)
            for node in NODES
            if "REDIS_URL" not in envs[node.name]
        }
        workers.update(periodic)
        document = nodes_document(ports, credentials, clients)
        _write_private(nodes_json, document)
        print_summary(document, nodes_json, time.monotonic() - started)
        while not supervisor.stopping.wait(0.5):
            for node, process in [*servers.items(), *workers.items()]:
                if process.poll() is not None:
                    raise DemoError(
                        f"le nœud {node.name} s'est arrêté / node {node.name} stopped "
                        f"(code {process.returncode}; log: {demo_dir / node.name / 'server.log'})"
                    )
    except DemoError as exc:
        interrupted = supervisor.stopping.is_set()
        supervisor.stop_all()
        nodes_json.unlink(missing_ok=True)
        if interrupted:
            return 0
        print(f"\nÉchec de la démo / demo failed: {exc}", file=sys.stderr)
        return 1
    supervisor.stop_all()
    nodes_json.unlink(missing_ok=True)  # the nodes it lists are gone
    print("Tous les nœuds sont arrêtés. / All nodes stopped.", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
