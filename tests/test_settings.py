"""Settings come from the environment and fail fast, naming the variable, on bad values.

Settings are module-level, so each case imports them in a fresh interpreter with its own
environment and asserts on what that process prints and its exit code.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]

_PRINT_SETTINGS = """
import json
from django.conf import settings
db = settings.DATABASES["default"]
print(json.dumps({
    "roles": settings.NODE_ROLES,
    "debug": settings.DEBUG,
    "engine": db["ENGINE"], "name": db["NAME"], "host": db.get("HOST"), "port": db.get("PORT"),
    "user": db.get("USER"), "password": db.get("PASSWORD"),
    "eager": settings.CELERY_TASK_ALWAYS_EAGER, "broker": settings.CELERY_BROKER_URL,
    "cache": settings.CACHES["default"]["BACKEND"],
    "ttl": settings.IDEMPOTENCY_KEY_TTL_HOURS,
}))
"""

#: Variables that would leak the caller's configuration into the child process.
_NODE_VARS = (
    "DATABASE_URL", "REDIS_URL", "NODE_ROLES", "DJANGO_DEBUG", "IDEMPOTENCY_KEY_TTL_HOURS",
    "NODE_KEY_DIR", "DJANGO_SECRET_KEY",
)  # fmt: skip


def _load_settings(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    child_env = {key: value for key, value in os.environ.items() if key not in _NODE_VARS}
    child_env.update(DJANGO_SETTINGS_MODULE="dataspace.settings", NODE_DATA_DIR=str(tmp_path / "node"), **env)
    return subprocess.run(  # noqa: S603 - fixed argv, our own interpreter
        [sys.executable, "-c", _PRINT_SETTINGS],
        cwd=REPO_ROOT, env=child_env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def _settings(tmp_path: Path, **env: str) -> dict[str, object]:
    result = _load_settings(tmp_path, **env)
    assert result.returncode == 0, result.stderr
    loaded: dict[str, object] = json.loads(result.stdout.strip().splitlines()[-1])
    return loaded


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("NODE_ROLES", "structure,foo", "NODE_ROLES contains unknown value(s) foo"),
        ("NODE_ROLES", " , ", "NODE_ROLES must name at least one of"),
        ("DJANGO_DEBUG", "maybe", "DJANGO_DEBUG must be a boolean"),
        ("IDEMPOTENCY_KEY_TTL_HOURS", "twelve", "IDEMPOTENCY_KEY_TTL_HOURS must be an integer, got 'twelve'"),
        ("IDEMPOTENCY_KEY_TTL_HOURS", "0", "IDEMPOTENCY_KEY_TTL_HOURS must be >= 1, got 0"),
    ],
)
def test_bad_value_fails_fast_naming_the_variable(tmp_path: Path, variable: str, value: str, message: str) -> None:
    result = _load_settings(tmp_path, **{variable: value})

    assert result.returncode != 0
    assert "ImproperlyConfiguredEnv" in result.stderr
    assert message in result.stderr


def test_defaults_give_a_single_structure_node_on_sqlite_with_eager_tasks(tmp_path: Path) -> None:
    loaded = _settings(tmp_path)

    assert loaded["roles"] == ["structure"]
    assert loaded["debug"] is False
    assert loaded["engine"] == "django.db.backends.sqlite3"
    assert loaded["name"] == str(tmp_path / "node" / "db.sqlite3")
    # No REDIS_URL: tasks run in-process, nothing needs a broker.
    assert loaded["eager"] is True
    assert loaded["broker"] == "memory://"
    assert loaded["cache"] == "django.core.cache.backends.locmem.LocMemCache"


def test_roles_and_booleans_are_parsed(tmp_path: Path) -> None:
    loaded = _settings(tmp_path, NODE_ROLES="registry, ministry", DJANGO_DEBUG="on", IDEMPOTENCY_KEY_TTL_HOURS="48")

    assert loaded["roles"] == ["registry", "ministry"]
    assert loaded["debug"] is True
    assert loaded["ttl"] == 48


def test_postgres_database_url_is_parsed(tmp_path: Path) -> None:
    loaded = _settings(tmp_path, DATABASE_URL="postgres://scene:s%40cret@db.example:6543/scene_a")

    assert loaded["engine"] == "django.db.backends.postgresql"
    assert (loaded["name"], loaded["host"], loaded["port"]) == ("scene_a", "db.example", 6543)
    assert (loaded["user"], loaded["password"]) == ("scene", "s@cret")


def test_redis_url_switches_celery_to_a_real_broker(tmp_path: Path) -> None:
    loaded = _settings(tmp_path, REDIS_URL="redis://127.0.0.1:6379/3")

    assert loaded["eager"] is False
    assert loaded["broker"] == "redis://127.0.0.1:6379/3"
    assert loaded["cache"] == "django.core.cache.backends.redis.RedisCache"
