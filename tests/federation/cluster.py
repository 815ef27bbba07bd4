"""A federation of real Scène Commune node processes on loopback, for tests and benchmarks.

`Cluster` starts N nodes the way `make demo` does (scripts/demo.py): each node is a gunicorn
process in its own process group, with its own NODE_DATA_DIR (SQLite database, key pair, secret
key, logs), its own free port and identity, FEDERATION_TRUST_MEMBERS_ONLY=1 and the OAuth loopback
exception the settings grant to http://127.0.0.1 base URLs. Inherited variables that would make
nodes share a database, a key or an identity are scrubbed (scripts/demo.SCRUBBED_ENV), and so is
REDIS_URL: tasks run in-process (Celery eager), as in the demo without Redis.

Setting up is fast because the schema is migrated once: the template database is migrated in a
throw-away directory, kept under var/cluster-template/<hash of every migration file>/ for later
runs, and copied (SQLite backup API) into each node's directory; each node is then initialised and
seeded by ONE Python process (`node_init`, `seed_demo`, `seed_demo_policies`, `demo_account`,
`demo_professionals` on the registry, `seed_demo_consents`, `demo_clients`), two nodes at a time
(the machine has two cores).

A cluster may hold one node with the role `ministry` (profile "ministry"), as the demo does: then
every node knows it (POLICY_MINISTRY_NODES, what the decision point and the agreements call the
ministry), the ministry node gets the demo's analyst account (`analyste`, the indicators dashboard's
permissions), its indicator catalogue (`seed_indicator_catalogue`) and the demo's draft campaign
(`seed_demo_campaign`), and each structure node a season of ticketing figures with its hosted
structures, their agreements with the ministry and the standing approvals (`seed_demo_ticketing
--until season-end --ministry <the ministry's URL>`; structure-b's own structure waits for its
administrator `admin` at every campaign). `Analyst` drives the ministry's dashboard over HTTP
(login, CSRF, « Nouvelle campagne », « Lancer », the progress JSON, the exports) and
`StructureAdministrator` a structure node's admin (the review of an aggregation request, «
Approuver »).

`Cluster.federate()` then runs the operator's commands over real HTTP: `federation_join` on each
member, `federation_approve` on the registry, `federation_refresh` and `federation_sync --local`
on each approved member (one interpreter for both: `Node.manage_many`), `federation_sync` on the
registry. A `hung` node is a node directory that joined the federation (a real key pair; once
approved, listed) whose port is served by `HungServer`: it accepts connections and never answers.

Everything is stopped by `Cluster.stop()` (also registered with atexit, and called by `with
Cluster(...)`): SIGCONT (a suspended node cannot handle SIGTERM), SIGTERM to every process group,
then SIGKILL to whatever group is left — gunicorn workers included.

Standard library and httpx only (no pytest), so that bench/ uses it too.
"""

from __future__ import annotations

import atexit
import concurrent.futures
import contextlib
import hashlib
import importlib.util
import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
TEMPLATE_CACHE = ROOT / "var" / "cluster-template"
HEALTH_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 8.0
COMMAND_TIMEOUT_S = 300.0


MANAGE_MANY_SNIPPET = """
import json, sys, django
django.setup()
from django.core.management import call_command
for argv in json.loads(sys.argv[1]):
    print("$ manage.py " + " ".join(argv), flush=True)
    call_command(*argv)
"""


class ClusterError(RuntimeError):
    """A node could not be set up, started or commanded; the message carries its log's tail."""


def _load_demo_script() -> ModuleType:
    """scripts/demo.py as a module (its account lists and scrubbed variables are the demo's truth)."""
    spec = importlib.util.spec_from_file_location("scene_commune_demo_script", ROOT / "scripts" / "demo.py")
    if spec is None or spec.loader is None:
        raise ClusterError(f"cannot load {ROOT / 'scripts' / 'demo.py'}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


demo_script = _load_demo_script()

#: Variables never inherited by a node (the demo's list, plus Redis: tasks run in-process here).
SCRUBBED_ENV = (*demo_script.SCRUBBED_ENV, "REDIS_URL", "DJANGO_SETTINGS_MODULE", "PYTEST_XDIST_WORKER")

SETUP_SNIPPET = """
import json, sys, django
django.setup()
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.core.management import call_command
# Setup speed: hashes made with few iterations still verify with the node's default hasher (the
# count is stored in the hash) and are upgraded at the first login.
PBKDF2PasswordHasher.iterations = 1000
name, profile, seed, credentials, clients_out, with_clients, ticketing, ministry = sys.argv[1:9]
call_command("node_init", verbosity=0)
if profile:
    call_command("seed_demo", profile=profile, seed=int(seed), verbosity=0)
    call_command("seed_demo_policies", profile=profile, verbosity=0)
    call_command("demo_account", credentials=credentials, node=name, verbosity=0)
    if profile == "registry":
        call_command("demo_professionals", credentials=credentials, node=name, verbosity=0)
    call_command("seed_demo_consents", profile=profile, verbosity=0)
    if ticketing == "1":
        # a season of figures, the hosted structures, their agreements and standing approvals (as the demo)
        call_command(
            "seed_demo_ticketing", profile=profile, seed=int(seed), until="season-end", ministry=ministry, verbosity=0
        )
    if profile == "ministry":
        call_command("seed_indicator_catalogue", verbosity=0)
        call_command("seed_demo_campaign", verbosity=0)
    if with_clients == "1":
        call_command("demo_clients", credentials=credentials, node=name, output=clients_out, verbosity=0)
"""


# ---------------------------------------------------------------------------- ports, hung server


def free_port() -> int:
    """A loopback port nobody listens on right now (bind port 0, as the rules ask)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class HungServer:
    """A 'hung node': accepts TCP connections on 127.0.0.1 and never reads nor answers.

    The kernel completes the handshake and buffers the request, so a client sees a connected
    socket that stays silent until its own timeout — the worst kind of slow peer. `close()` drops
    every connection and the listening socket.
    """

    def __init__(self, port: int = 0) -> None:
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", port))
        self._listener.listen(128)
        self._listener.settimeout(0.2)
        self.port = int(self._listener.getsockname()[1])
        self.accepted = 0
        self._connections: list[socket.socket] = []
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._serve, name=f"hung-node-{self.port}", daemon=True)
        self._thread.start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _serve(self) -> None:
        while not self._closed.is_set():
            try:
                connection, _address = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.accepted += 1
            self._connections.append(connection)  # kept open, never read, never answered

    def close(self) -> None:
        self._closed.set()
        self._thread.join(timeout=2)
        for connection in self._connections:
            with contextlib.suppress(OSError):
                connection.close()
        with contextlib.suppress(OSError):
            self._listener.close()

    def __enter__(self) -> HungServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# ---------------------------------------------------------------------------- template database


def migrations_fingerprint() -> str:
    """A hash of every migration file: the cached template is reused while it is unchanged."""
    digest = hashlib.sha256()
    for path in sorted(ROOT.glob("*/**/migrations/*.py")):
        if ".venv" in path.parts or "var" in path.parts:
            continue
        digest.update(str(path.relative_to(ROOT)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def scrubbed_environ() -> dict[str, str]:
    return {key: value for key, value in os.environ.items() if key not in SCRUBBED_ENV}


def template_database(work_dir: Path) -> Path:
    """A migrated, empty SQLite database (cached in var/cluster-template/ by migrations' hash)."""
    cached = TEMPLATE_CACHE / migrations_fingerprint() / "db.sqlite3"
    if cached.exists():
        return cached
    build = work_dir / "_template"
    shutil.rmtree(build, ignore_errors=True)
    build.mkdir(parents=True)
    env = {
        **scrubbed_environ(),
        "DJANGO_SETTINGS_MODULE": "dataspace.settings",
        "NODE_DATA_DIR": str(build),
        "NODE_NAME": "template",
        "DJANGO_DEBUG": "0",
    }
    result = subprocess.run(  # noqa: S603 - our own interpreter and manage.py
        [PYTHON, "manage.py", "migrate", "--no-input", "-v", "0"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT_S,
        check=False,
    )
    if result.returncode != 0:
        raise ClusterError(f"migrating the template database failed:\n{result.stderr[-3000:]}")
    cached.parent.mkdir(parents=True, exist_ok=True)
    partial = cached.with_suffix(f".{os.getpid()}.tmp")
    copy_database(build / "db.sqlite3", partial)
    os.replace(partial, cached)  # atomic: a concurrent run sees a whole file or none
    shutil.rmtree(build, ignore_errors=True)
    return cached


def copy_database(source: Path, target: Path) -> None:
    """Copy a SQLite database consistently (WAL included), with the backup API."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.closing(sqlite3.connect(source)) as src, contextlib.closing(sqlite3.connect(target)) as dst:
        src.backup(dst)


# ---------------------------------------------------------------------------- nodes


@dataclass(frozen=True)
class NodeSpec:
    """One node of a test federation.

    profile: the `seed_demo` profile (structure-a, structure-b, registry, ministry) or None for a
    bare node (keys only). seed: `seed_demo --seed` (distinct seeds give distinct records). hung:
    the node joins the federation but its port is a `HungServer`. clients: run `demo_clients` (the
    structure's tools and the professionals' personal keys, secrets in `Node.clients`). ticketing
    (structure profiles): run `seed_demo_ticketing` (with `--ministry` when the cluster has a
    ministry node); None: only when the cluster has a ministry node.
    """

    name: str
    roles: tuple[str, ...] = ("structure",)
    profile: str | None = None
    seed: int = 42
    hung: bool = False
    clients: bool = True
    ticketing: bool | None = None


@dataclass
class Node:
    spec: NodeSpec
    port: int
    directory: Path
    env: dict[str, str]
    process: subprocess.Popen[bytes] | None = None
    hung_server: HungServer | None = None
    clients: list[dict[str, Any]] = field(default_factory=list)
    accounts: list[dict[str, Any]] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def database(self) -> Path:
        return self.directory / "db.sqlite3"

    @property
    def log(self) -> Path:
        return self.directory / "server.log"

    # -- commands in the node's own environment (no server needed)

    def manage(self, *args: str, timeout: float = COMMAND_TIMEOUT_S) -> str:
        """Run `manage.py ARGS` as this node; returns its stdout, raises ClusterError on failure."""
        return self._run([PYTHON, "manage.py", *args], f"manage.py {' '.join(args)}", timeout)

    def manage_many(self, *commands: Sequence[str], timeout: float = COMMAND_TIMEOUT_S) -> str:
        """Run several management commands as this node in ONE interpreter (`call_command` with the
        command line's arguments): Django starts once. Returns their output."""
        what = " && ".join(f"manage.py {' '.join(command)}" for command in commands)
        argv = json.dumps([list(command) for command in commands])
        return self._run([PYTHON, "-c", MANAGE_MANY_SNIPPET, argv], what, timeout)

    def python(self, snippet: str, *args: str, timeout: float = COMMAND_TIMEOUT_S) -> str:
        """Run a Python snippet as this node (call `django.setup()` in it); returns its stdout."""
        return self._run([PYTHON, "-c", snippet, *args], "python snippet", timeout)

    def _run(self, command: list[str], what: str, timeout: float) -> str:
        started = time.monotonic()
        try:
            result = subprocess.run(  # noqa: S603 - our own interpreter and repository
                command, cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=timeout, check=False
            )
        except subprocess.TimeoutExpired as exc:
            raise ClusterError(f"{self.name}: {what} did not finish in {timeout:.0f} s") from exc
        with (self.directory / "commands.log").open("a") as log:
            log.write(f"$ {what}  ({time.monotonic() - started:.1f} s)\n{result.stdout}{result.stderr}\n")
        if result.returncode != 0:
            output = f"{result.stdout[-1500:]}{result.stderr[-3000:]}"
            raise ClusterError(f"{self.name}: {what} failed (code {result.returncode}):\n{output}")
        return result.stdout

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Read this node's SQLite database directly (what no API shows, e.g. the journal's rows)."""
        with contextlib.closing(sqlite3.connect(f"file:{self.database}?mode=ro", uri=True, timeout=20)) as db:
            return list(db.execute(sql, params))

    # -- the server process

    def start(self, *, workers: int = 1, threads: int = 8) -> None:
        if self.spec.hung:
            if self.hung_server is None:
                self.hung_server = HungServer(self.port)
            return
        gunicorn = Path(PYTHON).parent / "gunicorn"
        command = [str(gunicorn)] if gunicorn.exists() else [PYTHON, "-m", "gunicorn"]
        command += [
            "dataspace.wsgi",
            "-b", f"127.0.0.1:{self.port}",
            "-w", str(workers),
            "--threads", str(threads),
            "--graceful-timeout", "3",
            "--timeout", "120",
            "--access-logfile", "-",
            "--name", f"scene-commune-test-{self.name}",
        ]  # fmt: skip
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(  # noqa: S603 - fixed argument list
                command,
                cwd=ROOT,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # its own process group: stopped as a whole
            )

    def wait_healthy(self, timeout: float = HEALTH_TIMEOUT_S) -> None:
        if self.spec.hung:
            return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise ClusterError(f"{self.name} exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(f"{self.base_url}/healthz", timeout=2) as response:  # noqa: S310 - loopback
                    if response.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.1)
        raise ClusterError(f"{self.name} does not answer on {self.base_url}/healthz:\n{self.log_tail()}")

    def signal(self, signum: int) -> None:
        """Send a signal to the node's whole process group (master and workers)."""
        if self.process is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.process.pid, signum)

    def suspend(self) -> None:
        """Freeze the node (SIGSTOP): connections are accepted by the kernel, never answered."""
        self.signal(signal.SIGSTOP)

    def resume(self) -> None:
        self.signal(signal.SIGCONT)

    def kill(self) -> None:
        """Kill the node at once (SIGKILL to its group), as a crash would."""
        self.signal(signal.SIGCONT)
        self.signal(signal.SIGKILL)
        if self.process is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=5)

    def stop(self) -> None:
        """SIGTERM to the group, wait, then SIGKILL whatever is left (workers of a dead master too)."""
        if self.hung_server is not None:
            self.hung_server.close()
            self.hung_server = None
        if self.process is None:
            return
        self.signal(signal.SIGCONT)
        self.signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=STOP_TIMEOUT_S)
        self.signal(signal.SIGKILL)
        if self.process.poll() is None:
            self.process.wait()

    def restart(self) -> None:
        self.stop()
        self.start()
        self.wait_healthy()

    def cpu_seconds(self) -> float:
        """CPU time (user + system) used so far by the live processes of the node's process group
        (gunicorn's master and workers), from /proc; 0.0 for a hung node or off Linux."""
        if self.process is None:
            return 0.0
        ticks = 0
        with contextlib.suppress(OSError):
            for entry in Path("/proc").iterdir():
                if not entry.name.isdigit():
                    continue
                try:
                    fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                except OSError:
                    continue
                if int(fields[2]) == self.process.pid:  # field 5 of stat: the process group
                    ticks += int(fields[11]) + int(fields[12])  # utime, stime
        return ticks / os.sysconf("SC_CLK_TCK")

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def client(self, name_contains: str) -> dict[str, Any]:
        """One of the clients `demo_clients` registered on this node (with its secret)."""
        for client in self.clients:
            if name_contains in client["name"]:
                return client
        raise KeyError(f"{self.name} has no client named like {name_contains!r}")


# ---------------------------------------------------------------------------- the cluster


def _accounts_for(spec: NodeSpec) -> list[dict[str, Any]]:
    """The demo accounts of a node, with passwords made for this run (the demo's lists)."""
    import secrets

    def account(username: str, kind: str, **extra: str) -> dict[str, Any]:
        return {"username": username, "password": secrets.token_urlsafe(12), "kind": kind, **extra}

    accounts = [account("admin", "staff")]
    if spec.profile == "registry":
        accounts += [account(u, "staff", **extra) for u, extra in demo_script.STRUCTURE_STAFF.items()]
        accounts += [account(u, "professional", **extra) for u, extra in demo_script.PROFESSIONALS.items()]
        accounts += [account(u, "person") for u in demo_script.PERSONS]
    elif spec.profile == "ministry":  # the demo's analyst (the indicators dashboard)
        demo_ministry = next(node for node in demo_script.NODES if node.name == "ministry")
        accounts += [account(u, kind) for u, kind in demo_ministry.accounts if u != "admin"]
    return accounts


class Cluster:
    """N real nodes under `root`; use as a context manager (or call `stop()`)."""

    def __init__(
        self,
        root: Path,
        specs: Iterable[NodeSpec],
        *,
        env: Mapping[str, str] | None = None,
        workers: int = 1,
        threads: int = 8,
        parallel: int = 2,
    ) -> None:
        self.root = Path(root).resolve()
        self.specs = list(specs)
        registries = [spec for spec in self.specs if "registry" in spec.roles]
        if len(registries) != 1:
            raise ClusterError("a cluster needs exactly one node with role registry")
        if sum(1 for spec in self.specs if "ministry" in spec.roles) > 1:
            raise ClusterError("a cluster holds one ministry node at most")
        self.extra_env = dict(env or {})
        self.workers, self.threads, self.parallel = workers, threads, parallel
        self.nodes: dict[str, Node] = {}
        self.timings: dict[str, float] = {}
        self.ministry_url = ""
        self._stopped = False
        atexit.register(self.stop)

    # -- access

    @property
    def registry(self) -> Node:
        return next(node for node in self.nodes.values() if "registry" in node.spec.roles)

    @property
    def ministry(self) -> Node:
        """The node with the role ministry (ClusterError when the cluster has none)."""
        for node in self.nodes.values():
            if "ministry" in node.spec.roles:
                return node
        raise ClusterError("this cluster has no ministry node")

    def structures(self) -> list[Node]:
        """The (non-hung) nodes with the role structure."""
        return [node for node in self.nodes.values() if "structure" in node.spec.roles and not node.spec.hung]

    def __getitem__(self, name: str) -> Node:
        return self.nodes[name]

    def members(self) -> list[Node]:
        """Every node but the registry."""
        return [node for node in self.nodes.values() if "registry" not in node.spec.roles]

    # -- life cycle

    def __enter__(self) -> Cluster:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        """Set up every node (template copy + one setup process per node), start and wait for them."""
        started = time.monotonic()
        self.root.mkdir(parents=True, exist_ok=True)
        template = template_database(self.root)
        self.timings["template_s"] = time.monotonic() - started
        registry_spec = next(spec for spec in self.specs if "registry" in spec.roles)
        ports: dict[str, int] = {}
        hung: dict[str, HungServer] = {}
        for spec in self.specs:
            if spec.hung:  # bound now and kept: the port is ours for the whole run
                hung[spec.name] = HungServer()
                ports[spec.name] = hung[spec.name].port
            else:
                ports[spec.name] = free_port()
        registry_url = f"http://127.0.0.1:{ports[registry_spec.name]}"
        ministry_spec = next((spec for spec in self.specs if "ministry" in spec.roles), None)
        # Every node knows the ministry's node, as in the demo (policy templates, agreements' grantee).
        self.ministry_url = "" if ministry_spec is None else f"http://127.0.0.1:{ports[ministry_spec.name]}"
        known_ministry = {"POLICY_MINISTRY_NODES": self.ministry_url} if self.ministry_url else {}
        credentials = {spec.name: _accounts_for(spec) for spec in self.specs}
        credentials_path = self.root / "credentials.json"
        fd = os.open(credentials_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            json.dump(credentials, out)
        for spec in self.specs:
            directory = self.root / spec.name
            directory.mkdir(parents=True, exist_ok=True)
            env = {
                **scrubbed_environ(),
                "DJANGO_SETTINGS_MODULE": "dataspace.settings",
                "PYTHONUNBUFFERED": "1",
                "NODE_NAME": spec.name,
                "NODE_BASE_URL": f"http://127.0.0.1:{ports[spec.name]}",
                "NODE_ROLES": ",".join(spec.roles),
                "NODE_DATA_DIR": str(directory),
                "DJANGO_DEBUG": "0",
                "LOG_LEVEL": "WARNING",
                "FEDERATION_TRUST_MEMBERS_ONLY": "1",
                "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
                **({} if spec is registry_spec else {"FEDERATION_REGISTRY_URL": registry_url}),
                **known_ministry,
                **self.extra_env,
            }
            node = Node(spec, ports[spec.name], directory, env, accounts=credentials[spec.name])
            node.hung_server = hung.get(spec.name)
            self.nodes[spec.name] = node
        step = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(max_workers=self.parallel) as pool:
            futures = [pool.submit(self._set_up, node, template, credentials_path) for node in self.nodes.values()]
            for future in futures:
                future.result()
        self.timings["setup_s"] = time.monotonic() - step
        step = time.monotonic()
        for node in self.nodes.values():
            node.start(workers=self.workers, threads=self.threads)
        for node in self.nodes.values():
            node.wait_healthy()
        self.timings["start_s"] = time.monotonic() - step

    def _set_up(self, node: Node, template: Path, credentials: Path) -> None:
        copy_database(template, node.database)
        clients_out = node.directory / "clients.json"
        spec = node.spec
        ticketing = bool(self.ministry_url) if spec.ticketing is None else spec.ticketing
        ticketing = ticketing and (spec.profile or "").startswith("structure")
        node.python(
            SETUP_SNIPPET,
            node.name,
            spec.profile or "",
            str(spec.seed),
            str(credentials),
            str(clients_out),
            "1" if spec.clients and spec.profile else "0",
            "1" if ticketing else "0",
            self.ministry_url,
        )
        if clients_out.exists():
            node.clients = json.loads(clients_out.read_text())

    def federate(self, *, approve: Sequence[str] | None = None, sync: bool = True) -> None:
        """Join every member to the registry, approve them, refresh every member list, replicate.

        approve: the names of the members to approve (default: all of them, `--all`); the others
        stay pending. sync: `federation_sync --local` on each approved member (its own records in
        its own index) and `federation_sync` on the registry at the end.
        """
        step = time.monotonic()
        registry = self.registry
        members = self.members()
        self._each(members, lambda node: node.manage(
            "federation_join", registry.base_url, "--contact", f"technique@{node.name}.example",
            "--organisation", f"Exploitant de {node.name}",
        ))  # fmt: skip
        if approve is None:
            registry.manage("federation_approve", "--all")
            approved = members
        else:
            approved = [self.nodes[name] for name in approve]
            if approved:
                registry.manage("federation_approve", *(node.base_url for node in approved))
        # (the registry's own peers were rebuilt by the approval.) Each member's own records go to
        # its own index too, as its periodic sync task keeps them: a live search would otherwise
        # pay for indexing the whole change log on its first call.
        refresh = [("federation_refresh",), *([("federation_sync", "--local")] if sync else [])]
        self._each(approved, lambda node: node.manage_many(*refresh))
        self.timings["federate_s"] = time.monotonic() - step
        if sync:
            self.sync()

    def sync(self, *args: str) -> str:
        """`federation_sync ARGS` on the registry (pull the members' change feeds)."""
        step = time.monotonic()
        out = self.registry.manage("federation_sync", *args)
        self.timings["sync_s"] = time.monotonic() - step
        return out

    def _each(self, nodes: Sequence[Node], action: Any) -> None:
        with concurrent.futures.ThreadPoolExecutor(max_workers=self.parallel) as pool:
            for future in [pool.submit(action, node) for node in nodes]:
                future.result()

    def stop(self) -> None:
        """Stop every node (idempotent; also runs at interpreter exit)."""
        if self._stopped:
            return
        self._stopped = True
        nodes = list(self.nodes.values())
        for node in nodes:
            if node.hung_server is not None:
                node.hung_server.close()
                node.hung_server = None
            node.signal(signal.SIGCONT)
            node.signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT_S
        for node in nodes:
            if node.process is not None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    node.process.wait(timeout=max(0.1, deadline - time.monotonic()))
        for node in nodes:
            node.signal(signal.SIGKILL)
            if node.process is not None and node.process.poll() is None:
                node.process.wait()
        with contextlib.suppress(Exception):
            atexit.unregister(self.stop)

    # -- helpers for tests and benchmarks

    def account(self, node: Node, username: str) -> dict[str, Any]:
        return next(account for account in node.accounts if account["username"] == username)

    def describe(self) -> Iterator[str]:
        for node in self.nodes.values():
            kind = "hung" if node.spec.hung else ",".join(node.spec.roles)
            yield f"{node.name:<14} {node.base_url:<26} {kind:<10} {node.directory}"


def token(base_url: str, client: Mapping[str, Any], scope: str, *, timeout: float = 20.0) -> str:
    """An access token by client credentials at `base_url`/oauth/token (a demo client with a secret)."""
    import httpx

    response = httpx.post(
        f"{base_url}/oauth/token",
        data={"grant_type": "client_credentials", "scope": scope},
        auth=(str(client["client_id"]), str(client["client_secret"])),
        timeout=timeout,
    )
    if response.status_code != 200:
        raise ClusterError(f"token refused by {base_url}: {response.status_code} {response.text[:300]}")
    return str(response.json()["access_token"])


@dataclass
class SearchCall:
    """One federated search over HTTP: status, body and wall time (seconds) as the caller saw them."""

    status: int
    body: dict[str, Any]
    seconds: float

    def node(self, base_url: str) -> dict[str, Any]:
        """The per-node status entry of `base_url` in the answer."""
        for entry in self.body.get("nodes", []):
            if entry.get("node") == base_url:
                return dict(entry)
        raise KeyError(f"{base_url} not in the answer's nodes: {self.body.get('nodes')}")

    def origins(self) -> set[str]:
        return {result.get("origin", "") for result in self.body.get("results", [])}


class Professional:
    """A licensed professional of the registry (a demo account) searching through its personal key."""

    def __init__(self, cluster: Cluster, username: str = "pro-valide", *, timeout: float = 30.0) -> None:
        import httpx

        registry = cluster.registry
        key = registry.client(f"Clé API personnelle — {username}")
        self.bearer = token(registry.base_url, key, "referentials:read directory:search")
        self.http = httpx.Client(
            base_url=registry.base_url, headers={"Authorization": f"Bearer {self.bearer}"}, timeout=timeout
        )
        accepted = self.http.post("/api/v1/terms/accept", json={"version": "2026-1"})
        if accepted.status_code != 200:
            raise ClusterError(f"{username} could not accept the terms: {accepted.status_code} {accepted.text[:300]}")

    def search(self, endpoint: str, **params: str) -> SearchCall:
        """GET /api/v1/{endpoint}/search with `params` (purpose defaults to programming)."""
        params.setdefault("purpose", "programming")
        started = time.perf_counter()
        response = self.http.get(f"/api/v1/{endpoint}/search", params=params)
        seconds = time.perf_counter() - started
        try:
            body = response.json()
        except ValueError:
            body = {"text": response.text[:500]}
        return SearchCall(response.status_code, body, seconds)

    def close(self) -> None:
        self.http.close()


#: The CSRF token of a Django form in a page.
CSRF_FIELD = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
#: A campaign's page in the ministry's dashboard (where « Nouvelle campagne » leads).
CAMPAIGN_PAGE = re.compile(r"/indicateurs/campagnes/([0-9a-f-]{36})/$")
#: The states a campaign ends a run in.
FINISHED = ("done", "partial")


def csrf_token(page: Any) -> str:
    """The CSRF token of the first form of an httpx response's page (ClusterError if none)."""
    found = CSRF_FIELD.search(page.text)
    if found is None:
        raise ClusterError(f"no form with a CSRF token at {page.request.url} ({page.status_code}): {page.text[:300]}")
    return found.group(1)


class WebSession:
    """A person signed in to a node's pages with their password (login form, CSRF, session cookie).

    login: the login page (`/admin/login/` for staff, `/oauth/login/` for anyone else).
    """

    def __init__(self, node: Node, username: str, *, login: str, next_page: str, timeout: float = 30.0) -> None:
        import httpx

        self.node = node
        self.username = username
        password = next(account["password"] for account in node.accounts if account["username"] == username)
        self.http = httpx.Client(base_url=node.base_url, timeout=timeout, follow_redirects=False)
        target = f"{login}?{urllib.parse.urlencode({'next': next_page})}"
        form = self.http.get(target)
        answer = self.http.post(
            target,
            data={
                "csrfmiddlewaretoken": csrf_token(form),
                "username": username,
                "password": password,
                "next": next_page,
            },
        )
        if answer.status_code != 302 or "sessionid" not in self.http.cookies:
            raise ClusterError(f"{username} cannot sign in to {node.name}: {answer.status_code} {answer.text[:300]}")

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.http.get(path, **kwargs)

    def post_form(self, page: Any, path: str, data: Mapping[str, Any]) -> Any:
        """POST `data` to `path` with the CSRF token of `page` (a response holding the form)."""
        return self.http.post(path, data={"csrfmiddlewaretoken": csrf_token(page), **data})

    def close(self) -> None:
        self.http.close()


class Analyst(WebSession):
    """The ministry's analyst (demo account `analyste`) on the indicators dashboard, over HTTP."""

    def __init__(self, cluster: Cluster, username: str = "analyste", *, timeout: float = 30.0) -> None:
        super().__init__(cluster.ministry, username, login="/oauth/login/", next_page="/indicateurs/", timeout=timeout)

    def create_campaign(
        self,
        *,
        title: str,
        indicators: Sequence[str],
        period_start: str,
        period_end: str,
        dimensions: Sequence[str] = (),
    ) -> str:
        """« Nouvelle campagne »: the form filled and sent; returns the new campaign's id."""
        form = self.get("/indicateurs/campagnes/nouvelle/")
        answer = self.post_form(
            form,
            "/indicateurs/campagnes/nouvelle/",
            {
                "title": title,
                "indicators": list(indicators),
                "period_start": period_start,
                "period_end": period_end,
                "dimensions": list(dimensions),
            },
        )
        found = CAMPAIGN_PAGE.search(answer.headers.get("location", "")) if answer.status_code == 302 else None
        if found is None:
            raise ClusterError(f"the campaign form was refused: {answer.status_code} {answer.text[:1500]}")
        return found.group(1)

    def page(self, campaign_id: str) -> Any:
        return self.get(f"/indicateurs/campagnes/{campaign_id}/")

    def launch(self, campaign_id: str) -> Any:
        """« Lancer » (a draft) or « Relancer les nœuds manquants » (a partial campaign): the
        campaign page's form, posted with its CSRF token. ClusterError when the page has no such
        button; returns the answer (a redirection to the campaign's page)."""
        action = f"/indicateurs/campagnes/{campaign_id}/lancer/"
        page = self.page(campaign_id)
        if page.status_code != 200 or f'action="{action}"' not in page.text:
            raise ClusterError(f"no launch button on the campaign's page ({page.status_code}): {page.text[:800]}")
        answer = self.post_form(page, action, {})
        if answer.status_code != 302:
            raise ClusterError(f"launching {campaign_id} failed: {answer.status_code} {answer.text[:500]}")
        return answer

    def campaign(self, campaign_id: str) -> dict[str, Any]:
        """GET /api/v1/indicators/campaigns/<id>: {id, title, state, progress, results}."""
        answer = self.get(f"/api/v1/indicators/campaigns/{campaign_id}")
        if answer.status_code != 200:
            raise ClusterError(f"campaign {campaign_id}: {answer.status_code} {answer.text[:500]}")
        document: dict[str, Any] = answer.json()
        return document

    def wait(
        self, campaign_id: str, until: Any, *, timeout: float = 60.0, what: str = "", every: float = 0.2
    ) -> dict[str, Any]:
        """Poll the campaign's JSON until `until(document)` is true; ClusterError after `timeout`."""
        deadline = time.monotonic() + timeout
        while True:
            document = self.campaign(campaign_id)
            if until(document):
                return document
            if time.monotonic() > deadline:
                raise ClusterError(
                    f"campaign {campaign_id}: not {what or 'there'} after {timeout:.0f} s: "
                    f"{json.dumps(document['progress'], ensure_ascii=False)[:1500]}"
                )
            time.sleep(every)

    def wait_finished(self, campaign_id: str, *, timeout: float = 60.0) -> dict[str, Any]:
        """Until the run has ended (done or partial) and published."""
        return self.wait(
            campaign_id,
            lambda doc: doc["state"] in FINISHED and doc["results"] is not None,
            timeout=timeout,
            what="finished",
        )

    def export(self, campaign_id: str, extension: str) -> Any:
        """GET …/export.csv or …/export.xlsx (ClusterError unless 200)."""
        answer = self.get(f"/indicateurs/campagnes/{campaign_id}/export.{extension}")
        if answer.status_code != 200:
            raise ClusterError(f"export.{extension} of {campaign_id}: {answer.status_code} {answer.text[:300]}")
        return answer


class StructureAdministrator(WebSession):
    """A structure's administrator (demo account `admin`) in its node's admin: the review page of
    the ministry's aggregation request, « Approuver » / « Refuser » per pending structure."""

    ADMIN = "/admin/indicators/aggregationrequest/"

    def __init__(self, node: Node, username: str = "admin", *, timeout: float = 30.0) -> None:
        super().__init__(node, username, login="/admin/login/", next_page="/admin/", timeout=timeout)

    def request_id(self, campaign_id: str) -> str:
        """The id of this node's aggregation request for the campaign (its database: the admin's list
        shows titles only); ClusterError if the node was never asked."""
        rows = self.node.query(
            "SELECT id FROM indicators_aggregationrequest WHERE campaign = ?", [campaign_id.replace("-", "")]
        )
        if not rows:
            raise ClusterError(f"{self.node.name} holds no aggregation request for campaign {campaign_id}")
        return str(uuid_text(rows[0][0]))

    def review(self, campaign_id: str) -> Any:
        """The request's review page (what would leave, per structure)."""
        answer = self.get(f"{self.ADMIN}{self.request_id(campaign_id)}/change/")
        if answer.status_code != 200:
            raise ClusterError(f"review of {campaign_id} on {self.node.name}: {answer.status_code}")
        return answer

    def decide(self, campaign_id: str, decision: str = "approve", *, reason: str = "") -> list[str]:
        """Approve (or refuse) every structure the page offers a decision for; returns their ids."""
        request_id = self.request_id(campaign_id)
        decided: list[str] = []
        while True:
            page = self.review(campaign_id)
            forms = re.findall(r'name="structure" value="([0-9a-f-]{36})"', page.text)
            offered = [structure for structure in forms if structure not in decided]
            if not offered:
                return decided
            answer = self.post_form(
                page,
                f"{self.ADMIN}{request_id}/decide/",
                {"structure": offered[0], "decision": decision, "reason": reason},
            )
            if answer.status_code != 302:
                raise ClusterError(f"{decision} on {self.node.name}: {answer.status_code} {answer.text[:300]}")
            decided.append(offered[0])


def uuid_text(value: Any) -> str:
    """A UUID as Django stores it in SQLite (32 hex digits) in its usual form."""
    import uuid

    return str(uuid.UUID(str(value)))


def withdraw_consent(node: Node, target_uri: str, *, note: str = "retrait (test de fédération)") -> tuple[float, float]:
    """Withdraw, at its origin `node`, the consent in force for the directory entry `target_uri`,
    through the structure's administration tool (a demo client with consent:manage), over HTTP.

    Returns `time.monotonic()` just before the withdrawal was sent and when the origin answered it
    (the withdrawal is committed then; its notices may already have been delivered).
    """
    import httpx

    tool = node.client("Outil d'administration")
    bearer = token(node.base_url, tool, "consent:manage")
    with httpx.Client(base_url=node.base_url, headers={"Authorization": f"Bearer {bearer}"}, timeout=30) as http:
        listed = http.get("/api/v1/consents", params={"target_type": "directory-entry"})
        if listed.status_code != 200:
            raise ClusterError(f"consents of {node.name}: {listed.status_code} {listed.text[:300]}")
        consents = [c for c in listed.json()["results"] if c["target"] == target_uri and c["in_force"]]
        if not consents:
            raise ClusterError(f"no consent in force for {target_uri} on {node.name}")
        sent = time.monotonic()
        done = http.post(f"/api/v1/consents/{consents[0]['id']}/withdraw", json={"note": note})
        answered = time.monotonic()
        if done.status_code != 200:
            raise ClusterError(f"withdrawal refused by {node.name}: {done.status_code} {done.text[:300]}")
    return sent, answered


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile (p95: fraction 0.95) of a non-empty sample."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(-(-fraction * len(ordered) // 1))))
    return ordered[rank - 1]
