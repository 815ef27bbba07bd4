"""Shared fixtures of the OAuth tests: the node key, a client factory, PKCE, a peer node's JWKS."""

from __future__ import annotations

import base64
import hashlib
import http.server
import json
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import OKPKey

from dataspace.node import keys
from dataspace.oauth import peers
from dataspace.oauth.clients import IssuedSecret, create_client
from tests.factories import OrganisationFactory

TOKEN_URL = "/oauth/token"


@pytest.fixture
def node_key(db: Any) -> keys.NodeKey:
    """The node's signing key (in the test's own key directory)."""
    existing = keys.load_keys()
    return existing[0] if existing else keys.generate_key("20260101T000000Z")


@pytest.fixture
def client_factory(db: Any, node_key: keys.NodeKey) -> Any:
    """`client_factory(scopes=..., grant_types=[...], **create_client_kwargs)` → IssuedSecret."""

    def make(
        scopes: str | list[str] = "referentials:read",
        grant_types: list[str] | None = None,
        **kwargs: Any,
    ) -> IssuedSecret:
        kwargs.setdefault("name", "Logiciel de billetterie")
        kwargs.setdefault("owner", OrganisationFactory(name="Éditeur Imaginaire"))
        return create_client(scopes=scopes, grant_types=grant_types or ["client_credentials"], **kwargs)

    return make


def basic(client_id: str, secret: str | None) -> str:
    raw = f"{client_id}:{secret}".encode()
    return "Basic " + base64.b64encode(raw).decode()


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def post_token(client: Any, data: dict[str, Any], auth: str | None = None) -> Any:
    headers = {"HTTP_AUTHORIZATION": auth} if auth else {}
    return client.post(TOKEN_URL, data, secure=True, **headers)


@dataclass
class Peer:
    """A peer node: its Ed25519 keys and the URL where its JWKS is served over real HTTP."""

    url: str
    keys: list[OKPKey] = field(default_factory=list)
    hits: int = 0

    @property
    def key(self) -> OKPKey:
        return self.keys[0]

    def jwks(self) -> dict[str, Any]:
        return {"keys": [key.as_dict(private=False) for key in self.keys]}

    def assertion(
        self,
        client_id: str,
        audience: str,
        *,
        key: OKPKey | None = None,
        lifetime: int = 60,
        jti: str | None = None,
        alg: str = "Ed25519",
        **claims: Any,
    ) -> str:
        signer = key or self.key
        now = int(time.time())
        body: dict[str, Any] = {
            "iss": client_id,
            "sub": client_id,
            "aud": audience,
            "iat": now,
            "exp": now + lifetime,
            "jti": jti or secrets.token_urlsafe(12),
        }
        body.update(claims)
        return jwt.encode({"alg": alg, "kid": signer.kid}, body, signer, algorithms=[alg])


def new_peer_key() -> OKPKey:
    key = OKPKey.generate_key("Ed25519")
    key.ensure_kid()
    return key


@pytest.fixture
def peer() -> Iterator[Peer]:
    """A tiny http.server on 127.0.0.1 (ephemeral port) publishing a fresh Ed25519 JWKS."""
    state = Peer(url="", keys=[new_peer_key()])

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state.hits += 1
            body = json.dumps(state.jwks()).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}/.well-known/jwks.json"
    peers.clear_cache()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
        peers.clear_cache()
