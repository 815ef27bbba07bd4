"""`make demo` for real: four gunicorn nodes on loopback, nodes.json, a login, a clean Ctrl-C."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.server

ROOT = Path(__file__).resolve().parent.parent
EXPECTED_ROLES = {
    "structure-a": ["structure"],
    "structure-b": ["structure"],
    "registry": ["registry"],
    "ministry": ["ministry"],
}


def free_port_block(size: int = 4) -> int:
    """The first of `size` consecutive free loopback ports."""
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            base = probe.getsockname()[1]
        if base + size > 65000:
            continue
        sockets = []
        try:
            for port in range(base, base + size):
                sock = socket.socket()
                sockets.append(sock)
                sock.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for sock in sockets:
                sock.close()
    raise RuntimeError("no block of free ports found")


def descendants(pid: int) -> set[int]:
    """Every live process below `pid` (Linux /proc)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.fixture
def demo(tmp_path: Path) -> Any:
    port_base = free_port_block()
    env = {**os.environ, "DEMO_PORT_BASE": str(port_base), "DEMO_DIR": str(tmp_path / "demo")}
    env.pop("NODE_DATA_DIR", None)
    log = (tmp_path / "demo.out").open("wb")
    process = subprocess.Popen(  # noqa: S603 - our own script
        [sys.executable, str(ROOT / "scripts" / "demo.py")],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    nodes_json = tmp_path / "demo" / "nodes.json"
    deadline = time.monotonic() + 180
    while not nodes_json.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"demo did not start:\n{(tmp_path / 'demo.out').read_text()}")
        time.sleep(0.25)
    try:
        yield process, json.loads(nodes_json.read_text()), tmp_path
    finally:
        if process.poll() is None:
            process.kill()
            for pid in descendants(process.pid):
                os.kill(pid, signal.SIGKILL)
        log.close()


def test_demo_federation_runs_and_stops_cleanly(demo: Any) -> None:
    process, document, tmp_path = demo
    demo_dir = tmp_path / "demo"

    # nodes.json: the contract of DESIGN.md §7, readable by the owner only
    assert (demo_dir / "nodes.json").stat().st_mode & 0o077 == 0
    assert (demo_dir / "credentials.json").stat().st_mode & 0o777 == 0o600
    nodes = {node["name"]: node for node in document["nodes"]}
    assert set(nodes) == set(EXPECTED_ROLES)
    for name, node in nodes.items():
        assert set(node) >= {"name", "base_url", "roles", "clients", "users"}
        assert node["roles"] == EXPECTED_ROLES[name]
        assert node["clients"] == []
        for user in node["users"]:
            assert set(user) >= {"username", "password", "kind"}
            assert user["kind"] in {"staff", "professional", "person", "analyst"}
    assert {u["kind"] for u in nodes["ministry"]["users"]} == {"staff", "analyst"}

    # every node answers over real HTTP with its own identity
    with httpx.Client(timeout=10) as client:
        for name, node in nodes.items():
            metadata = client.get(f"{node['base_url']}/.well-known/dataspace-node").json()
            assert metadata["name"] == name
            assert metadata["roles"] == EXPECTED_ROLES[name]
            assert metadata["base_url"] == node["base_url"]
        home = client.get(nodes["structure-b"]["base_url"] + "/")
        assert "Scène nationale des Estuaires imaginaires" in home.text
        css = client.get(nodes["structure-a"]["base_url"] + "/static/admin/css/base.css")
        assert css.status_code == 200  # static files served without DEBUG

    # the printed admin password logs in (CSRF and all)
    admin = next(u for u in nodes["structure-a"]["users"] if u["kind"] == "staff")
    base = nodes["structure-a"]["base_url"]
    with httpx.Client(base_url=base, timeout=20) as browser:
        login_page = browser.get("/admin/login/?next=/admin/")
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', login_page.text)
        assert token is not None
        response = browser.post(
            "/admin/login/?next=/admin/",
            data={
                "csrfmiddlewaretoken": token.group(1),
                "username": admin["username"],
                "password": admin["password"],
                "next": "/admin/",
            },
        )
        assert response.status_code == 302
        assert response.headers["location"] == "/admin/"
        assert "sessionid" in browser.cookies
        assert "Scène Commune — administration du nœud" in browser.get("/admin/").text

    # Ctrl-C stops every child process and exits 0
    children = descendants(process.pid)
    assert len(children) >= 4 * 3  # four gunicorn masters, two workers each
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=30) == 0
    deadline = time.monotonic() + 5
    while any(alive(pid) for pid in children) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [pid for pid in children if alive(pid)]


def test_port_taken_is_reported(tmp_path: Path) -> None:
    port_base = free_port_block()
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", port_base + 2))
        squatter.listen()
        env = {**os.environ, "DEMO_PORT_BASE": str(port_base), "DEMO_DIR": str(tmp_path / "demo")}
        result = subprocess.run(  # noqa: S603 - our own script
            [sys.executable, str(ROOT / "scripts" / "demo.py")],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert result.returncode != 0
    assert f"port {port_base + 2}" in result.stderr.lower()
    assert "registry" in result.stderr
