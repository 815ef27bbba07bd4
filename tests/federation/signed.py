"""Test helpers for signed node-to-node calls: peer keys, trusted peers, a signing API client.

* `new_key()` — a fresh Ed25519 node key held in memory (a peer node's key);
* `register_peer(base_url, key=…)` — a trusted member as the member list would make it (a
  `federation.models.Peer` row: what `federation.membership.trusted_key` reads);
* `SignedAPIClient(key)` — an `APIClient` whose every request is signed (RFC 9421) with `key`,
  for ``settings.NODE_BASE_URL`` + path, like a peer node calling this one;
* `sign_with(...)` — a signature over arbitrary components (to build malformed ones).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.conf import settings
from django.utils.encoding import force_bytes
from http_message_signatures import HTTPMessageSigner, MappingKeyResolver, algorithms
from rest_framework.test import APIClient

from dataspace.node.keys import NodeKey, thumbprint
from federation import signing
from federation.models import Peer


def new_key() -> NodeKey:
    private = Ed25519PrivateKey.generate()
    return NodeKey(kid=thumbprint(private.public_key()), private_key=private, path=Path("/nonexistent"))


def register_peer(
    base_url: str, *, key: NodeKey | None = None, roles: tuple[str, ...] = ("structure",), name: str = ""
) -> tuple[Peer, NodeKey]:
    """A trusted member holding `key` (a new one by default)."""
    node_key = key or new_key()
    peer, _created = Peer.objects.update_or_create(
        base_url=base_url.rstrip("/"),
        defaults={
            "name": name or f"Nœud {base_url}",
            "roles": list(roles),
            "jwks": {"keys": [node_key.public_jwk()]},
            "kids": [node_key.kid],
            "list_serial": 1,
        },
    )
    return peer, node_key


def node_url(path: str) -> str:
    return f"{settings.NODE_BASE_URL}{path}"


def meta(headers: dict[str, str]) -> dict[str, str]:
    """Header names as the Django test client takes them (HTTP_…, CONTENT_TYPE)."""
    out: dict[str, str] = {}
    for name, value in headers.items():
        upper = name.upper().replace("-", "_")
        out[upper if upper in ("CONTENT_TYPE", "CONTENT_LENGTH") else f"HTTP_{upper}"] = value
    return out


class SignedAPIClient(APIClient):
    """An APIClient signing every request with `key` (its Authorization header covered too)."""

    def __init__(self, key: NodeKey, **defaults: Any) -> None:
        super().__init__(**defaults)
        self.node_key = key
        self.last_sent: dict[str, str] = {}

    def generic(  # type: ignore[override]
        self,
        method: str,
        path: str,
        data: Any = "",
        content_type: str | None = "application/octet-stream",
        secure: bool = False,
        **extra: Any,
    ) -> Any:
        body = force_bytes(data or b"")
        parts = urlsplit(str(path))
        query = extra.get("QUERY_STRING") or parts.query
        url = node_url(parts.path + (f"?{query}" if query else ""))
        headers: dict[str, str] = {}
        if body and content_type:
            headers["Content-Type"] = str(content_type)
        authorization = extra.get("HTTP_AUTHORIZATION") or self._credentials.get("HTTP_AUTHORIZATION")
        if authorization:
            headers["Authorization"] = authorization
        if extra.get("HTTP_ON_BEHALF_OF"):
            headers["On-Behalf-Of"] = extra["HTTP_ON_BEHALF_OF"]
        signed = signing.sign_request_headers(method, url, headers, body, key=self.node_key)
        self.last_sent = signed
        for name in ("Content-Digest", "Signature-Input", "Signature"):
            extra[f"HTTP_{name.upper().replace('-', '_')}"] = signed[name]
        return super().generic(method, path, data, content_type, secure, **extra)


def sign_with(
    key: NodeKey,
    method: str,
    url: str,
    headers: dict[str, str],
    body: bytes,
    *,
    covered: tuple[str, ...],
    params: dict[str, Any] | None = None,
) -> dict[str, str]:
    """Headers signed over exactly `covered` (bypassing the profile), for negative tests. The
    Content-Digest of `body` is always sent, covered or not."""
    from http_message_signatures import ContentDigest

    digest = "content-digest" in covered
    if not digest:
        headers = {**headers, "Content-Digest": ContentDigest.create(body)}

    class Message:
        def __init__(self) -> None:
            self.method = method
            self.url = url
            self.headers = dict(headers)

    message = Message()
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    options: dict[str, Any] = {
        "created": now,
        "expires": now + dt.timedelta(seconds=60),
        "nonce": signing.new_nonce(),
        "label": signing.LABEL,
        "tag": signing.TAG,
    }
    options.update(params or {})
    resolver = MappingKeyResolver(public_keys={}, private_keys={key.kid: key.private_key})
    HTTPMessageSigner(signature_algorithm=algorithms.ED25519, key_resolver=resolver).sign(
        message,
        key_id=key.kid,
        covered_component_ids=covered,
        body=body if digest else None,
        use_existing_digest=not digest,
        **options,
    )
    return message.headers
