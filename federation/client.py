"""Calling another node: signed requests, `private_key_jwt` tokens, verified responses.

`NodeClient(base_url)` is how this node talks to a peer (replication, live search, campaigns):

* every request is signed with the node key (RFC 9421, `federation.signing.sign_request_headers`),
  the exact URL (query included) and the exact body bytes sent;
* with ``scope=…`` it first gets an access token from the peer's ``/oauth/token`` by client
  credentials with a ``private_key_jwt`` assertion (RFC 7523: ``iss`` = ``sub`` = this node's
  base URL = its ``client_id`` there, ``aud`` = the peer's token endpoint, a ``jti``, one minute
  of life, signed Ed25519 with the node key) — that token request is signed too — and keeps the
  token in this process per (peer, scope) until 30 s before it expires. A 401 on a call made with
  a cached token drops it and retries once with a fresh one;
* the response must be signed by a key of that peer and bound to our request
  (`federation.signing.verify_response`), else `PeerFailed`;
* failures are typed: `PeerTimeout`, `PeerUnreachable`, `PeerDenied` (401/403, `.status`),
  `PeerFailed` (5xx, a bad or missing response signature, a token answer that is not JSON).
  Other 4xx answers are returned as they are: the caller reads their ``error``.

`post_signed(url, payload)` is a single signed POST of a JSON document without token (joining the
registry, outbox notices, webhooks); it does not check the answer's signature (a vendor's receiver
does not sign): callers that expect one call `verify_response` themselves.
"""

from __future__ import annotations

import json
import os
import secrets
import threading
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import httpx
from django.conf import settings

from federation.signing import SignatureRefused, sign_request_headers, verify_response

if TYPE_CHECKING:
    from dataspace.node.keys import NodeKey

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ASSERTION_ALGORITHM = "Ed25519"
#: Life of a client assertion (the token endpoint refuses more than 10 minutes).
ASSERTION_LIFETIME = 60
#: A cached token is used until this many seconds before it expires.
TOKEN_MARGIN = 30
TOKEN_PATH = "/oauth/token"  # noqa: S105 - a path, not a secret
USER_AGENT = "scene-commune-node"


class PeerError(Exception):
    """A call to another node failed; `node` is its base URL, `detail` says what happened."""

    def __init__(self, node: str, detail: str) -> None:
        self.node = node
        self.detail = detail
        super().__init__(f"{node}: {detail}")


class PeerTimeout(PeerError):
    """The node did not answer in time."""


class PeerUnreachable(PeerError):
    """No connection to the node (refused, DNS, TLS, reset)."""


class PeerDenied(PeerError):
    """The node refused us (401/403; a refused token request); `status` is its HTTP status."""

    def __init__(self, node: str, detail: str, *, status: int) -> None:
        self.status = status
        super().__init__(node, detail)


class PeerFailed(PeerError):
    """The node failed (5xx) or answered something we cannot trust (signature, JSON)."""


# ---------------------------------------------------------------------------- token cache

_tokens: dict[tuple[str, str], tuple[str, float]] = {}
_tokens_lock = threading.Lock()


def forget_tokens() -> None:
    """Drop every cached access token of this process."""
    with _tokens_lock:
        _tokens.clear()


def forget_connections() -> None:
    """Close this process's pooled HTTP connections (the next call opens new ones)."""
    global _transport  # the process's connection pool
    with _transport_lock:
        if _transport is not None:
            _transport.close()
            _transport = None


def _cached_token(base_url: str, scope: str) -> str | None:
    with _tokens_lock:
        entry = _tokens.get((base_url, scope))
    if entry is None or entry[1] - TOKEN_MARGIN <= time.time():
        return None
    return entry[0]


def _store_token(base_url: str, scope: str, token: str, expires_at: float) -> None:
    with _tokens_lock:
        _tokens[(base_url, scope)] = (token, expires_at)


def _drop_token(base_url: str, scope: str) -> None:
    with _tokens_lock:
        _tokens.pop((base_url, scope), None)


# ---------------------------------------------------------------------------- helpers


def _normalise(url: str) -> str:
    return str(url or "").strip().rstrip("/")


def json_body(payload: Any) -> bytes:
    """The bytes sent for a JSON document (compact, keys sorted, UTF-8)."""
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


_transport_lock = threading.Lock()
_transport: httpx.Client | None = None
_transport_pid = 0


def _http() -> httpx.Client:
    """One pooled HTTP client per process (thread-safe): connections are kept alive between calls and
    the TLS context is built once, not at every call (it was a quarter of a live search's CPU).
    A forked process (gunicorn workers, Celery) builds its own."""
    global _transport, _transport_pid  # the process's connection pool
    pid = os.getpid()
    if _transport is None or _transport_pid != pid:
        with _transport_lock:
            if _transport is None or _transport_pid != pid:
                _transport = httpx.Client(follow_redirects=False)
                _transport_pid = pid
    return _transport


def _send(
    node: str,
    method: str,
    url: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    timeout: float,
    key: NodeKey | None = None,
) -> tuple[httpx.Response, dict[str, str]]:
    """Sign and send one request; (response, headers sent). Transport failures become PeerErrors."""
    from dataspace.node.keys import KeyFileError

    base_headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "identity", **headers}
    try:
        signed = sign_request_headers(method, url, base_headers, body, key=key)
    except (KeyFileError, OSError, ValueError) as exc:
        raise PeerError(node, f"cannot sign the request: {exc.__class__.__name__}: {exc}") from None
    try:
        response = _http().request(method, url, content=body, headers=signed, timeout=timeout)
    except httpx.TimeoutException as exc:
        raise PeerTimeout(node, f"no answer within {timeout:g} s ({exc.__class__.__name__})") from None
    except httpx.HTTPError as exc:
        raise PeerUnreachable(node, f"{exc.__class__.__name__}: {exc}"[:300]) from None
    return response, signed


def _error_detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return f"HTTP {response.status_code}"
    if isinstance(body, dict):
        parts = [str(body.get(name)) for name in ("error", "detail", "error_description") if body.get(name)]
        if parts:
            return f"HTTP {response.status_code}: " + " — ".join(parts)
    return f"HTTP {response.status_code}"


def post_signed(
    url: str,
    payload: dict[str, Any],
    *,
    key: NodeKey | None = None,
    timeout: float = 5.0,
    headers: Mapping[str, str] | None = None,
) -> httpx.Response:
    """POST `payload` as JSON (`json_body`) to `url`, signed with `key` (default: the node's
    signing key), no token, no redirect. Returns the response whatever its status; transport
    failures raise `PeerTimeout` / `PeerUnreachable` (`.node` = `url`)."""
    sent_headers = {"Content-Type": "application/json", "Accept": "application/json", **(headers or {})}
    response, _signed = _send(url, "POST", url, sent_headers, json_body(payload), timeout=timeout, key=key)
    return response


# ---------------------------------------------------------------------------- NodeClient


class NodeClient:
    """Signed calls to one peer node (see the module docstring)."""

    def __init__(self, base_url: str, *, timeout: float = 5.0) -> None:
        self.base_url = _normalise(base_url)
        self.timeout = timeout

    # -- token

    @property
    def token_endpoint(self) -> str:
        return f"{self.base_url}{TOKEN_PATH}"

    def client_assertion(self, *, key: NodeKey | None = None) -> str:
        """A fresh RFC 7523 client assertion of this node for the peer's token endpoint."""
        from joserfc import jwt
        from joserfc.jwk import OKPKey

        from dataspace.node.keys import signing_key

        node_key = key or signing_key()
        me = _normalise(settings.NODE_BASE_URL)
        now = int(time.time())
        claims = {
            "iss": me,
            "sub": me,
            "aud": self.token_endpoint,
            "iat": now,
            "exp": now + ASSERTION_LIFETIME,
            "jti": secrets.token_urlsafe(18),
        }
        private = OKPKey.import_key(node_key.private_key, {"kid": node_key.kid})
        header = {"alg": ASSERTION_ALGORITHM, "kid": node_key.kid, "typ": "JWT"}
        return jwt.encode(header, claims, private, algorithms=[ASSERTION_ALGORITHM])

    def access_token(self, scope: str, *, fresh: bool = False) -> str:
        """An access token of the peer for `scope` (cached per process until 30 s before expiry)."""
        if not fresh:
            cached = _cached_token(self.base_url, scope)
            if cached is not None:
                return cached
        from urllib.parse import urlencode

        form = {
            "grant_type": "client_credentials",
            "scope": scope,
            "client_id": _normalise(settings.NODE_BASE_URL),
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": self.client_assertion(),
        }
        body = urlencode(form).encode("ascii")
        headers = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"}
        started = time.time()
        response, sent = _send(self.base_url, "POST", self.token_endpoint, headers, body, timeout=self.timeout)
        self._check(response, sent)
        if response.status_code != 200:
            raise PeerDenied(self.base_url, f"token refused: {_error_detail(response)}", status=response.status_code)
        try:
            answer = response.json()
            token = str(answer["access_token"])
            lifetime = float(answer.get("expires_in", 0))
        except (ValueError, KeyError, TypeError):
            raise PeerFailed(self.base_url, "the token endpoint did not answer a token (bad JSON)") from None
        _store_token(self.base_url, scope, token, started + lifetime)
        return token

    # -- calls

    def _check(self, response: httpx.Response, sent: Mapping[str, str]) -> None:
        """Raise for a denied or failed answer, or one whose signature does not hold."""
        status = response.status_code
        if status in (401, 403):
            raise PeerDenied(self.base_url, _error_detail(response), status=status)
        if status >= 500:
            raise PeerFailed(self.base_url, _error_detail(response))
        try:
            verify_response(response, peer_base_url=self.base_url, request_headers=sent)
        except SignatureRefused as refused:
            raise PeerFailed(self.base_url, f"response signature refused: {refused.code}") from None

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        scope: str | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> httpx.Response:
        """One signed call to `path` (absolute path on the peer, e.g. ``/api/v1/changes``);
        see the module docstring for tokens, response checks and errors."""
        url = str(httpx.URL(f"{self.base_url}{path}", params=dict(params) if params else None))
        body = b"" if json is None else json_body(json)
        wait = self.timeout if timeout is None else timeout
        attempts = 2 if scope else 1
        for attempt in range(attempts):
            sent_headers: dict[str, str] = {"Accept": "application/json", **(headers or {})}
            if json is not None:
                sent_headers["Content-Type"] = "application/json"
            cached = scope is not None and attempt == 0 and _cached_token(self.base_url, scope) is not None
            if scope:
                sent_headers["Authorization"] = f"Bearer {self.access_token(scope, fresh=attempt > 0)}"
            response, sent = _send(self.base_url, method.upper(), url, sent_headers, body, timeout=wait)
            if response.status_code == 401 and scope and cached and attempt + 1 < attempts:
                _drop_token(self.base_url, scope)  # revoked or expired early: one retry with a new token
                continue
            self._check(response, sent)
            return response
        raise PeerFailed(self.base_url, "no answer")  # pragma: no cover - the loop always returns or raises

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", path, **kwargs)
