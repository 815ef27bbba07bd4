"""A real Celery worker process for the tests marked `worker`.

With `REDIS_URL` set, the session fixture `celery_worker_process` starts
`celery -A dataspace worker --pool=solo` against the very database the tests use (the test
database pytest-django created) and waits until it answers a ping. Tests marked `worker` get it
automatically; they must use `transactional_db`, because the worker only sees committed rows.

Without `REDIS_URL` there is no broker, so tests marked `worker` are deselected with a printed
notice instead of pretending: they run in CI's PostgreSQL + Redis pass. Every other test runs its
tasks eagerly (in-process) in both passes, so the two passes exercise the same code paths.

Under pytest-xdist each xdist worker has its own test database, so each starts its own Celery
worker, listening on its own queue (`test-gw0`, …) with its own node name: a task is always
executed against the database of the test that sent it. Cache keys are prefixed per xdist worker
too, since all of them share one Redis database.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

#: How long the worker may take to answer its first ping (import, connect, register).
STARTUP_TIMEOUT_S = 60.0
#: How long a warm shutdown may take before the worker is killed.
SHUTDOWN_TIMEOUT_S = 15.0
REPO_ROOT = Path(__file__).resolve().parents[2]


def _redis_url() -> str:
    return os.environ.get("REDIS_URL", "").strip()


def _xdist_id(config: pytest.Config) -> str:
    workerinput: dict[str, Any] = getattr(config, "workerinput", {})
    return str(workerinput.get("workerid", "main"))


@dataclass(frozen=True)
class CeleryWorker:
    """A running worker: its process, its node name and the queue it consumes."""

    process: subprocess.Popen[bytes]
    hostname: str
    queue: str
    log_path: Path

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no worker log)"


# ---------------------------------------------------------------------------- collection


def pytest_configure(config: pytest.Config) -> None:
    if not _redis_url():
        return
    # All xdist workers share one Redis database: keep their cache keys apart.
    from django.conf import settings

    if settings.configured or os.environ.get("DJANGO_SETTINGS_MODULE"):
        settings.CACHES["default"]["KEY_PREFIX"] = f"test-{_xdist_id(config)}"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if _redis_url():
        return
    needs_worker = [item for item in items if item.get_closest_marker("worker")]
    if not needs_worker:
        return
    config.hook.pytest_deselected(items=needs_worker)
    items[:] = [item for item in items if not item.get_closest_marker("worker")]
    config.stash[_deselected_key] = len(needs_worker)
    workeroutput = getattr(config, "workeroutput", None)
    if workeroutput is not None:  # an xdist worker: tell the controller, which prints the summary
        workeroutput["celery_worker_deselected"] = len(needs_worker)


_deselected_key = pytest.StashKey[int]()


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    """xdist controller: every xdist worker collects the whole suite; remember how many it deselected."""
    count = getattr(node, "workeroutput", {}).get("celery_worker_deselected", 0)
    config = node.config
    config.stash[_deselected_key] = max(count, config.stash.get(_deselected_key, 0))


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    count = config.stash.get(_deselected_key, 0)
    if count:
        terminalreporter.write_sep(
            "!",
            f"{count} test(s) marked `worker` NOT RUN: REDIS_URL is not set (no broker, no real Celery "
            "worker). They run in CI's PostgreSQL + Redis pass; locally: REDIS_URL=redis://127.0.0.1:6379/15 make test",
            yellow=True,
            bold=True,
        )


# ---------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix: None, tmp_path_factory: Any) -> None:
    """With a worker process, a SQLite test database must be a file it can open, not memory."""
    if not _redis_url():
        return
    from django.conf import settings

    db = settings.DATABASES["default"]
    if db["ENGINE"] == "django.db.backends.sqlite3" and not db.get("TEST", {}).get("NAME"):
        db.setdefault("TEST", {})["NAME"] = str(tmp_path_factory.mktemp("celery-db") / "test.sqlite3")


def database_url(db: Mapping[str, Any]) -> str:
    """A DATABASE_URL naming the same database as Django's settings dict `db`."""
    engine = db["ENGINE"]
    if engine == "django.db.backends.sqlite3":
        return f"sqlite:///{Path(db['NAME']).resolve()}"
    if engine == "django.db.backends.postgresql":
        user = quote(str(db.get("USER") or ""), safe="")
        password = quote(str(db.get("PASSWORD") or ""), safe="")
        auth = f"{user}:{password}@" if password else (f"{user}@" if user else "")
        host = str(db.get("HOST") or "")
        port = f":{db['PORT']}" if db.get("PORT") else ""
        return f"postgres://{auth}{host}{port}/{quote(str(db['NAME']), safe='')}"
    raise RuntimeError(f"no DATABASE_URL form known for {engine}")


@pytest.fixture(scope="session")
def celery_worker_process(
    request: pytest.FixtureRequest,
    django_db_setup: None,
    tmp_path_factory: Any,
) -> Iterator[CeleryWorker]:
    """One real Celery worker per test session (per xdist worker), on the tests' database."""
    if not _redis_url():
        pytest.skip("REDIS_URL is not set: no broker for a real Celery worker")
    from django.conf import settings

    from dataspace.celery import app

    xdist_id = _xdist_id(request.config)
    queue = f"test-{xdist_id}"
    hostname = f"sc-test-{xdist_id}-{os.getpid()}@localhost"
    node_dir = tmp_path_factory.mktemp("celery-node")
    log_path = node_dir / "worker.log"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "dataspace.settings",
        "DATABASE_URL": database_url(settings.DATABASES["default"]),
        "REDIS_URL": _redis_url(),
        "NODE_DATA_DIR": str(node_dir),
        "NODE_KEY_DIR": str(Path(settings.NODE_KEY_DIR)),
        "DJANGO_SECRET_KEY": str(settings.SECRET_KEY),
        "PYTHONUNBUFFERED": "1",
    }
    celery_bin = Path(sys.executable).with_name("celery")
    command = [
        str(celery_bin), "-A", "dataspace", "worker", "--pool=solo", "-l", "warning",
        "-Q", queue, "-n", hostname, "--without-gossip", "--without-mingle", "--without-heartbeat",
    ]  # fmt: skip
    app.conf.task_default_queue = queue
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)  # noqa: S603 - fixed argv
    worker = CeleryWorker(process=process, hostname=hostname, queue=queue, log_path=log_path)
    try:
        _wait_until_ready(app, worker)
        yield worker
    finally:
        _stop(worker)


def _wait_until_ready(app: Any, worker: CeleryWorker) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if worker.process.poll() is not None:
            raise RuntimeError(f"Celery worker exited with {worker.process.returncode}:\n{worker.log_tail()}")
        if app.control.ping(destination=[worker.hostname], timeout=0.5):
            return
    _stop(worker)
    raise RuntimeError(f"Celery worker did not answer a ping in {STARTUP_TIMEOUT_S:.0f}s:\n{worker.log_tail()}")


def _stop(worker: CeleryWorker) -> None:
    if worker.process.poll() is not None:
        return
    worker.process.send_signal(signal.SIGTERM)  # warm shutdown: finish the current task
    try:
        worker.process.wait(timeout=SHUTDOWN_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        worker.process.kill()
        worker.process.wait(timeout=5)


@pytest.fixture(autouse=True)
def _celery_mode(request: pytest.FixtureRequest) -> Iterator[None]:
    """Tests marked `worker` go through Redis to the real worker; all others run tasks eagerly."""
    if not _redis_url():
        yield
        return
    from dataspace.celery import app

    if request.node.get_closest_marker("worker"):
        request.getfixturevalue("celery_worker_process")
        yield
        return
    # The Django setting too: code that asks it (readiness) must agree with how tasks run.
    request.getfixturevalue("settings").CELERY_TASK_ALWAYS_EAGER = True
    previous = app.conf.task_always_eager
    app.conf.task_always_eager = True
    try:
        yield
    finally:
        app.conf.task_always_eager = previous
