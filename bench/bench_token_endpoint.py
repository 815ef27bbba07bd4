"""Client-credentials tokens per second at /oauth/token, against two baselines (DESIGN §8 "token endpoint").

Figure: `POST /oauth/token` (`grant_type=client_credentials`, `scope=referentials:read`, HTTP Basic
client authentication) through Django's test Client, in-process (no network, no server), over
https (`secure=True`). Each request authenticates the client (keyed HMAC-SHA256 digest of its
secret), mints an RFC 9068 JWT signed with the node's Ed25519 key and records its `jti`.

Baselines, each measured in the same run on the same database engine:

* **django-oauth-toolkit in its default configuration** (goal ≥ 20×): its `/o/token/`, same
  grant, same Basic authentication, in a separate process with a minimal project
  (`bench/dot_settings.py`, `bench/dot_urls.py`) where nothing of DOT is tuned: client secrets
  hashed with Django's default PBKDF2 (1,000,000 iterations), opaque tokens stored in its tables.
* **a plain authenticated DRF POST that inserts one row** (goal ≥ 0.5×): a bench-only `APIView`
  in the node's own process and middleware stack, authenticated cheaply and fairly — HTTP Basic
  with the same client's id and secret, checked by the same keyed digest (`authenticate_secret`:
  one client lookup, one secrets query, one HMAC) — validating the form body with a DRF serializer
  and inserting one row (an `IssuedToken`, the very row the token endpoint writes), answering 201
  with JSON. The ratio is then what the OAuth protocol handling and the JWT signature cost.

Runs on SQLite (files in a temporary directory) and, when reachable, on PostgreSQL (database
`bench_scene` on 127.0.0.1, created and dropped here, recreated between the node and DOT).

Usage: python bench/bench_token_endpoint.py          (all databases; JSON result lines)
       python bench/bench_token_endpoint.py --child  (internal: the node, from DATABASE_URL)
       python bench/bench_token_endpoint.py --dot    (internal: django-oauth-toolkit, from DATABASE_URL)
"""

from __future__ import annotations

import base64
import json
import os
import statistics
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))  # run as a script from anywhere: `dataspace` and `bench` must import

import harness  # noqa: E402 - bench/ is the script's own directory

ROUNDS = 3  # alternate the two figures measured in one process; report the median round
REQUESTS = 400  # per round, node side
WARMUP = 30
DOT_REQUESTS = 12  # per round: ~0.25 s each with PBKDF2 at 1,000,000 iterations
DOT_WARMUP = 2
SCOPE = "referentials:read"
GOAL_DOT = ">= 20"
GOAL_INSERT = ">= 0.5"
TOKEN_URL = "/oauth/token"  # noqa: S105 - a path, not a secret
INSERT_URL = "/bench/insert-one-row/"
DOT_TOKEN_URL = "/o/token/"  # noqa: S105 - a path, not a secret


# ---------------------------------------------------------------------------- parent: child processes


def _run_child(mode: str, database: str, database_url: str, data_dir: Path) -> dict[str, Any]:
    settings_module = "bench.dot_settings" if mode == "--dot" else "dataspace.settings"
    return harness.run_child(__file__, mode, database, database_url, data_dir, settings_module=settings_module)


def _lines(database: str, node: dict[str, Any], dot: dict[str, Any]) -> list[dict[str, Any]]:
    token_rate, insert_rate, dot_rate = node["token_rate"], node["insert_rate"], dot["token_rate"]
    common = {"database": database, "unit": "req/s", "measured": round(token_rate, 1)}
    return [
        {
            "name": "token-endpoint-vs-dot",
            "capability": "token endpoint",
            "figure": "client-credentials tokens/s at /oauth/token vs django-oauth-toolkit (default config) /o/token/",
            "goal": GOAL_DOT,
            **common,
            "baseline": round(dot_rate, 1),
            "ratio": round(token_rate / dot_rate, 2),
            "details": {**node["details"], **dot["details"]},
        },
        {
            "name": "token-endpoint-vs-insert",
            "capability": "token endpoint",
            "figure": "client-credentials tokens/s at /oauth/token vs a Basic-authenticated DRF POST inserting one row",
            "goal": GOAL_INSERT,
            **common,
            "baseline": round(insert_rate, 1),
            "ratio": round(token_rate / insert_rate, 3),
            "details": node["details"],
        },
    ]


def main() -> int:
    lines: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench-token-") as tmp:
        base = Path(tmp)
        node = _run_child("--child", "sqlite", f"sqlite:///{base / 'node' / 'bench.sqlite3'}", base / "node")
        (base / "dot").mkdir()
        dot = _run_child("--dot", "sqlite", f"sqlite:///{base / 'dot' / 'bench.sqlite3'}", base / "dot")
        lines += _lines("sqlite", node, dot)
        unreachable = harness.postgres_available()
        if unreachable:
            for name, goal in (("token-endpoint-vs-dot", GOAL_DOT), ("token-endpoint-vs-insert", GOAL_INSERT)):
                skipped = {"database": "postgresql", "goal": goal, "skipped": unreachable}
                lines.append({"name": name, "capability": "token endpoint", **skipped})
        else:
            try:
                node = _run_child("--child", "postgresql", harness.fresh_pg_database(), base / "pg-node")
                (base / "pg-dot").mkdir()
                dot = _run_child("--dot", "postgresql", harness.fresh_pg_database(), base / "pg-dot")
                lines += _lines("postgresql", node, dot)
            finally:
                harness.drop_pg_database()
    for line in lines:
        print(json.dumps(line, ensure_ascii=False))
    return 0


# ---------------------------------------------------------------------------- measuring


def _basic(client_id: str, secret: str) -> str:
    pair = f"{urllib.parse.quote(client_id, safe='')}:{urllib.parse.quote(secret, safe='')}"
    return "Basic " + base64.b64encode(pair.encode()).decode()


def _poster(http: Any, url: str, body: dict[str, str], authorization: str, expected: int) -> Callable[[], None]:
    encoded = urllib.parse.urlencode(body)

    def post() -> None:
        response = http.post(
            url, encoded, content_type="application/x-www-form-urlencoded", HTTP_AUTHORIZATION=authorization,
            secure=True,
        )  # fmt: skip
        if response.status_code != expected:  # a broken endpoint is an error, not a slow one
            raise RuntimeError(f"POST {url} answered {response.status_code}: {response.content[:300]!r}")

    return post


def _rounds(functions: dict[str, Callable[[], None]], count: int, warmup: int) -> dict[str, list[float]]:
    for function in functions.values():
        for _ in range(warmup):
            function()
    rates: dict[str, list[float]] = {name: [] for name in functions}
    for _ in range(ROUNDS):
        for name, function in functions.items():
            rates[name].append(harness.rate(function, count))
    return rates


# ---------------------------------------------------------------------------- child: the node


def _insert_urlconf() -> Any:
    """The node's URLs plus the baseline: a plain DRF POST, authenticated by client id and secret, one insert."""
    import datetime as dt
    import types

    from django.contrib.auth.models import AnonymousUser
    from django.urls import include, path
    from django.utils import timezone
    from rest_framework import authentication, exceptions, permissions, serializers, status
    from rest_framework.parsers import FormParser
    from rest_framework.renderers import JSONRenderer
    from rest_framework.request import Request
    from rest_framework.response import Response
    from rest_framework.views import APIView

    from dataspace.oauth.clients import authenticate_secret
    from dataspace.oauth.models import Client, IssuedToken
    from dataspace.oauth.tokens import new_jti

    class ClientBasicAuthentication(authentication.BaseAuthentication):
        def authenticate(self, request: Request) -> tuple[Any, Any] | None:
            header = request.META.get("HTTP_AUTHORIZATION", "")
            if not header.startswith("Basic "):
                return None
            pair = base64.b64decode(header[6:]).decode()
            client_id, _, secret = (urllib.parse.unquote(part) for part in pair.partition(":"))
            client = Client.objects.filter(client_id=client_id).first()
            if client is None or not authenticate_secret(client, secret):
                raise exceptions.AuthenticationFailed("bad client credentials")
            return AnonymousUser(), client

    class HasClient(permissions.BasePermission):
        def has_permission(self, request: Request, view: Any) -> bool:
            return request.auth is not None

    class RowSerializer(serializers.Serializer[Any]):
        scope = serializers.CharField(max_length=200)

    class InsertOneRow(APIView):
        authentication_classes = [ClientBasicAuthentication]
        permission_classes = [HasClient]
        renderer_classes = [JSONRenderer]
        parser_classes = [FormParser]  # the same form body as the token request

        def post(self, request: Request) -> Response:
            serializer = RowSerializer(data=request.data)
            serializer.is_valid(raise_exception=True)
            now = timezone.now()
            client: Client = request.auth  # type: ignore[assignment]  # set by ClientBasicAuthentication
            row = IssuedToken.objects.create(
                jti=new_jti(), client=client, scope=serializer.validated_data["scope"], issued_at=now,
                expires_at=now + dt.timedelta(minutes=10),
            )  # fmt: skip
            return Response({"jti": row.jti, "scope": row.scope}, status=status.HTTP_201_CREATED)

    module = types.ModuleType("bench_token_endpoint_urls")
    module.urlpatterns = [  # type: ignore[attr-defined]
        path(INSERT_URL.strip("/") + "/", InsertOneRow.as_view()),
        path("", include("dataspace.urls")),
    ]
    return module


def child() -> int:
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client as HttpClient

    from dataspace.oauth.clients import create_client
    from dataspace.oauth.models import IssuedToken
    from dataspace.oauth.tokens import decode_access_token
    from dataspace.referentials.models import Organisation

    started = time.perf_counter()
    call_command("migrate", verbosity=0, interactive=False)
    call_command("node_init", verbosity=0)
    owner = Organisation.objects.create(name="Théâtre du Banc d'Essai", kind=Organisation.Kind.THEATRE)
    issued = create_client(name="Bench vendor", owner=owner, scopes=SCOPE, grant_types=["client_credentials"])
    assert issued.secret is not None
    setup_s = time.perf_counter() - started
    settings.ROOT_URLCONF = _insert_urlconf()

    http = HttpClient()
    authorization = _basic(issued.client.client_id, issued.secret)
    token = _poster(http, TOKEN_URL, {"grant_type": "client_credentials", "scope": SCOPE}, authorization, 200)
    insert = _poster(http, INSERT_URL, {"scope": SCOPE}, authorization, 201)

    sample = http.post(
        TOKEN_URL, urllib.parse.urlencode({"grant_type": "client_credentials", "scope": SCOPE}),
        content_type="application/x-www-form-urlencoded", HTTP_AUTHORIZATION=authorization, secure=True,
    )  # fmt: skip
    if sample.status_code != 200:
        raise RuntimeError(f"POST {TOKEN_URL} answered {sample.status_code}: {sample.content[:300]!r}")
    claims = decode_access_token(sample.json()["access_token"]).claims
    token_queries, insert_queries = harness.count_queries(token), harness.count_queries(insert)
    rates = _rounds({"token": token, "insert": insert}, REQUESTS, WARMUP)
    token_rate, insert_rate = statistics.median(rates["token"]), statistics.median(rates["insert"])
    print(
        json.dumps(
            {
                "token_rate": token_rate,
                "insert_rate": insert_rate,
                "details": {
                    "database": os.environ.get("BENCH_DATABASE", connection.vendor),
                    "node tokens/s (median of rounds)": round(token_rate, 1),
                    "node tokens/s per round": " / ".join(f"{rate:,.0f}" for rate in rates["token"]),
                    "DRF insert req/s (median of rounds)": round(insert_rate, 1),
                    "DRF insert req/s per round": " / ".join(f"{rate:,.0f}" for rate in rates["insert"]),
                    "queries per request (token / insert)": f"{token_queries} / {insert_queries}",
                    "token": f"JWT {sample.json()['token_type']}, alg Ed25519, expires_in {sample.json()['expires_in']}"
                    f" s, claims {', '.join(sorted(claims))}",
                    "insert baseline": "DRF APIView, HTTP Basic client id+secret via authenticate_secret, "
                    "serializer, one IssuedToken row, 201 JSON",
                    "requests per round (node)": f"{REQUESTS} x {ROUNDS} rounds (+{WARMUP} warm-up)",
                    "issued tokens recorded": IssuedToken.objects.count(),
                    "setup (migrate + client) s": round(setup_s, 1),
                },
            }
        )
    )
    return 0


# ---------------------------------------------------------------------------- child: django-oauth-toolkit


def dot_child() -> int:
    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth.hashers import identify_hasher
    from django.core.management import call_command
    from django.test import Client as HttpClient
    from oauth2_provider import __version__ as dot_version
    from oauth2_provider.models import AccessToken, Application
    from oauth2_provider.settings import oauth2_settings

    call_command("migrate", verbosity=0, interactive=False)
    secret = "bench-" + base64.urlsafe_b64encode(os.urandom(32)).decode().rstrip("=")
    application = Application.objects.create(
        name="Bench vendor",
        client_type=Application.CLIENT_CONFIDENTIAL,
        authorization_grant_type=Application.GRANT_CLIENT_CREDENTIALS,
        client_secret=secret,
    )
    application.refresh_from_db()
    hasher = identify_hasher(application.client_secret)
    http = HttpClient()
    authorization = _basic(application.client_id, secret)
    token = _poster(http, DOT_TOKEN_URL, {"grant_type": "client_credentials"}, authorization, 200)
    rates = _rounds({"token": token}, DOT_REQUESTS, DOT_WARMUP)
    rate = statistics.median(rates["token"])
    print(
        json.dumps(
            {
                "token_rate": rate,
                "details": {
                    "DOT version": dot_version,
                    "DOT tokens/s (median of rounds)": round(rate, 2),
                    "DOT tokens/s per round": " / ".join(f"{r:,.2f}" for r in rates["token"]),
                    "DOT secret hasher": f"{hasher.algorithm}, {getattr(hasher, 'iterations', '?'):,} iterations",
                    "DOT hash_client_secret (default)": str(application.hash_client_secret),
                    "DOT access token lifetime s": oauth2_settings.ACCESS_TOKEN_EXPIRE_SECONDS,
                    "DOT requests per round": f"{DOT_REQUESTS} x {ROUNDS} rounds (+{DOT_WARMUP} warm-up)",
                    "DOT tokens stored": AccessToken.objects.count(),
                    "DOT settings module": settings.SETTINGS_MODULE,
                },
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(child() if "--child" in sys.argv else dot_child() if "--dot" in sys.argv else main())
