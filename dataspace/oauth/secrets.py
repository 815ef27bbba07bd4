"""Client secrets: 256 random bits, stored as HMAC-SHA256 under a server-side key.

A client secret is random, so a slow password hash (PBKDF2, Argon2) adds nothing against a stolen
database and would cap the token endpoint at a few requests per second; a keyed digest means a
stolen database alone does not let anyone check guesses either. Human passwords keep Django's
slow hashers.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets as _random

from django.conf import settings

#: 32 bytes = 256 bits of randomness.
SECRET_BYTES = 32


def generate_secret() -> str:
    return _random.token_urlsafe(SECRET_BYTES)


def generate_client_id() -> str:
    """144 random bits, URL-safe, never starting with "-": a client id is typed on command lines
    (`oauth_client rotate CLIENT_ID`, `curl -u CLIENT_ID:…`), where a leading dash reads as an
    option (one id in 64 did, and the command refused it)."""
    while True:
        client_id = _random.token_urlsafe(18)
        if not client_id.startswith("-"):
            return client_id


def digest(secret: str) -> str:
    key = str(settings.OAUTH_SECRET_DIGEST_KEY).encode("utf-8")
    return hmac.new(key, secret.encode("utf-8"), hashlib.sha256).hexdigest()


def matches(secret: str, stored_digest: str) -> bool:
    """Constant-time comparison of a presented secret with a stored digest."""
    return hmac.compare_digest(digest(secret), stored_digest)
