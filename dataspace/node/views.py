"""/.well-known endpoints, liveness and readiness."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET

from dataspace.node import services


def _json(data: dict[str, Any], status: int = 200, max_age: int = 300) -> JsonResponse:
    response = JsonResponse(data, status=status, json_dumps_params={"ensure_ascii": False})
    response["Cache-Control"] = f"public, max-age={max_age}"
    response["Access-Control-Allow-Origin"] = "*"
    return response


@require_GET
def dataspace_node(request: HttpRequest) -> JsonResponse:
    return _json(services.node_metadata())


@require_GET
def jwks(request: HttpRequest) -> JsonResponse:
    return _json(services.jwks())


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    response = JsonResponse({"status": "ok"})
    response["Cache-Control"] = "no-store"
    return response


def _check_database() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return "ok"


def _check_redis() -> str:
    if not settings.REDIS_URL:
        return "not configured (tasks run in-process)"
    import redis

    redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2).ping()
    return "ok"


def _check_celery() -> str:
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return "eager (in-process)"
    from dataspace.celery import app

    replies = app.control.ping(timeout=1.0)
    if not replies:
        raise RuntimeError("no Celery worker answered")
    return f"ok ({len(replies)} worker(s))"


@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    checks: dict[str, str] = {}
    ready = True
    for name, check in (("database", _check_database), ("redis", _check_redis), ("celery", _check_celery)):
        try:
            checks[name] = check()
        except Exception as exc:  # noqa: BLE001 - any failure makes the node not ready; reported, not raised
            checks[name] = f"error: {exc.__class__.__name__}: {exc}"
            ready = False
    response = JsonResponse(
        {"status": "ready" if ready else "not ready", "checks": checks}, status=200 if ready else 503
    )
    response["Cache-Control"] = "no-store"
    return response
