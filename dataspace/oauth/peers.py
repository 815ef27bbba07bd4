"""A peer node's public keys (JWKS), fetched over HTTP for `private_key_jwt` client assertions.

Fetched with httpx (3 s timeout, no redirects, size-capped), kept a few minutes in this process,
refetched once when an assertion names a key id the cached set does not hold (the peer rotated its
key) — at most once per `REFETCH_INTERVAL` per URL, so random key ids cannot make us hammer a
peer. Any failure raises `PeerKeysError`: the caller refuses the client (fail closed).

With `FEDERATION_TRUST_MEMBERS_ONLY` on, nothing is fetched: the keys are those the registry's
signed member list gives the member publishing at that address (`federation.membership.peer_key_set`),
and a `jwks_uri` that is no trusted member's is refused.
"""

from __future__ import annotations

import ipaddress
import threading
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx
from django.conf import settings
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

TIMEOUT = 3.0  # seconds, connect and read
CACHE_TTL = 300.0  # seconds a fetched key set is trusted without refetching
REFETCH_INTERVAL = 10.0  # minimum seconds between two fetches of the same URL
MAX_BYTES = 64 * 1024


class PeerKeysError(Exception):
    """The peer's keys could not be fetched, parsed, or do not contain the wanted key."""


@dataclass
class _Entry:
    keys: KeySet
    kids: frozenset[str]
    fetched_at: float


_cache: dict[str, _Entry] = {}
_lock = threading.Lock()


def clear_cache() -> None:
    with _lock:
        _cache.clear()


def allowed_url(url: str) -> bool:
    """https anywhere; plain http only to a loopback address when the node itself runs on one
    (OAUTH_ALLOW_INSECURE_LOOPBACK). Also what the federation outbox may deliver to."""
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return True
    if parts.scheme != "http" or not parts.hostname or not settings.OAUTH_ALLOW_INSECURE_LOOPBACK:
        return False
    if parts.hostname == "localhost":
        return True
    try:
        return ipaddress.ip_address(parts.hostname).is_loopback
    except ValueError:
        return False


def _fetch(url: str) -> _Entry:
    if not allowed_url(url):
        raise PeerKeysError(f"refusing to fetch keys over {urlsplit(url).scheme or 'no scheme'}: {url}")
    try:
        response = httpx.get(url, timeout=TIMEOUT, follow_redirects=False, headers={"Accept": "application/json"})
        response.raise_for_status()
        if len(response.content) > MAX_BYTES:
            raise PeerKeysError(f"key set at {url} is too large")
        data = response.json()
        keys = KeySet.import_key_set(data)
    except (httpx.HTTPError, ValueError, JoseError, TypeError, KeyError) as exc:
        raise PeerKeysError(f"cannot fetch keys from {url}: {exc.__class__.__name__}") from None
    kids = frozenset(str(key.kid) for key in keys.keys if key.kid)
    return _Entry(keys=keys, kids=kids, fetched_at=time.monotonic())


def _member_key_set(url: str, kid: str | None) -> KeySet:
    """The keys of the trusted member publishing at `url`, from the member list (no HTTP)."""
    from federation.membership import peer_key_set

    found = peer_key_set(url)
    if found is None:
        raise PeerKeysError(f"{url} is not where a trusted member of the federation publishes its keys")
    if kid is not None and kid not in {str(key.kid) for key in found.keys}:
        raise PeerKeysError(f"no key {kid!r} for the member at {url} in the member list")
    return found


def key_set(url: str, *, kid: str | None = None) -> KeySet:
    """The peer's key set, holding `kid` when one is given (refetched once if it does not)."""
    if settings.FEDERATION_TRUST_MEMBERS_ONLY:
        return _member_key_set(url, kid)
    now = time.monotonic()
    with _lock:
        entry = _cache.get(url)
    if entry is None or now - entry.fetched_at > CACHE_TTL:
        entry = _fetch(url)
        with _lock:
            _cache[url] = entry
    if kid is not None and kid not in entry.kids:
        if now - entry.fetched_at >= REFETCH_INTERVAL:
            entry = _fetch(url)
            with _lock:
                _cache[url] = entry
        if kid not in entry.kids:
            raise PeerKeysError(f"no key {kid!r} at {url}")
    return entry.keys
