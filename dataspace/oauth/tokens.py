"""Access tokens: JWTs per RFC 9068, signed with the node's Ed25519 key, checked on every request.

This module is the one place where access tokens are minted and verified, so the API's bearer
authentication and the token endpoint agree on the format:

* header `typ: at+jwt`, `alg: Ed25519` (RFC 9864), `kid` = the signing key's thumbprint;
* claims `iss` (NODE_BASE_URL), `sub` (the user's id, or the client id for a machine client),
  `aud` (NODE_BASE_URL, this node's API), `client_id`, `scope`, `iat`, `exp`, `jti`.

Verification accepts any key the node still publishes in its JWKS (key rotation keeps old keys
there until their tokens expire) and refuses a revoked `jti` at once.
"""

from __future__ import annotations

import dataclasses
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet, OKPKey

from dataspace.node import keys

#: Ed25519 signatures. Named explicitly on every encode/decode: joserfc does not accept it by default.
ALGORITHM = "Ed25519"  # RFC 9864 fully-specified name (the older "EdDSA" is deprecated)
TOKEN_TYPE = "at+jwt"  # noqa: S105 - the JWT "typ" of access tokens, not a secret


class InvalidToken(Exception):
    """The token cannot be used: malformed, badly signed, expired, revoked or not for this node."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class AccessToken:
    """The verified claims of an access token."""

    jti: str
    subject: str
    client_id: str
    scopes: frozenset[str]
    issued_at: int
    expires_at: int
    user_id: int | None = None
    claims: dict[str, Any] = field(default_factory=dict)
    #: The `dataspace.oauth.models.Client` the token was issued to, loaded by `verify_access_token`.
    client: Any = field(default=None, compare=False, repr=False)


def issuer() -> str:
    return str(settings.NODE_BASE_URL)


def audience() -> str:
    return str(settings.NODE_BASE_URL)


def _private_jwk(node_key: keys.NodeKey) -> OKPKey:
    return OKPKey.import_key(node_key.private_key, {"kid": node_key.kid})


_key_set_cache: tuple[tuple[str, ...], KeySet] | None = None


def public_key_set() -> KeySet:
    """The node's published keys as a joserfc KeySet (all of them: rotation overlap)."""
    global _key_set_cache
    node_keys = keys.load_keys()
    kids = tuple(key.kid for key in node_keys)
    if _key_set_cache is None or _key_set_cache[0] != kids:
        _key_set_cache = (kids, KeySet([OKPKey.import_key(dict(key.public_jwk())) for key in node_keys]))
    return _key_set_cache[1]


def new_jti() -> str:
    return secrets.token_urlsafe(16)


def encode_access_token(claims: dict[str, Any]) -> str:
    """Sign claims as an RFC 9068 access token with the node's current signing key."""
    node_key = keys.signing_key()
    header = {"alg": ALGORITHM, "typ": TOKEN_TYPE, "kid": node_key.kid}
    return jwt.encode(header, claims, _private_jwk(node_key), algorithms=[ALGORITHM])


def build_claims(
    *, client_id: str, scopes: list[str] | tuple[str, ...], user_id: int | None, lifetime: int | None = None
) -> dict[str, Any]:
    now = int(time.time())
    return {
        "iss": issuer(),
        "sub": str(user_id) if user_id is not None else client_id,
        "aud": audience(),
        "client_id": client_id,
        "scope": " ".join(scopes),
        "iat": now,
        "exp": now + int(lifetime if lifetime is not None else settings.OAUTH_ACCESS_TOKEN_LIFETIME),
        "jti": new_jti(),
    }


def decode_access_token(token: str, *, at: int | None = None) -> AccessToken:
    """Verify signature, type, issuer, audience and time; NOT revocation (see `verify_access_token`)."""
    try:
        decoded = jwt.decode(token, public_key_set(), algorithms=[ALGORITHM])
    except (JoseError, ValueError) as exc:
        raise InvalidToken(f"invalid token: {exc.__class__.__name__}") from None
    header, claims = decoded.header, decoded.claims
    if header.get("typ", "").lower() not in (TOKEN_TYPE, f"application/{TOKEN_TYPE}"):
        raise InvalidToken("not an access token (typ)")
    now = int(at if at is not None else time.time())
    required = ("iss", "sub", "aud", "client_id", "scope", "exp", "iat", "jti")
    missing = [name for name in required if name not in claims]
    if missing:
        raise InvalidToken(f"missing claim(s): {', '.join(missing)}")
    if claims["iss"] != issuer():
        raise InvalidToken("token issued by another server")
    audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
    if audience() not in audiences:
        raise InvalidToken("token not meant for this node (aud)")
    if not isinstance(claims["exp"], int) or claims["exp"] <= now:
        raise InvalidToken("token expired")
    if not isinstance(claims["iat"], int) or claims["iat"] > now + 60:
        raise InvalidToken("token issued in the future")
    subject = str(claims["sub"])
    user_id = int(subject) if subject.isdigit() else None
    return AccessToken(
        jti=str(claims["jti"]),
        subject=subject,
        client_id=str(claims["client_id"]),
        scopes=frozenset(str(claims["scope"]).split()),
        issued_at=claims["iat"],
        expires_at=claims["exp"],
        user_id=user_id,
        claims=dict(claims),
    )


#: What a request needs of the token record and its client; other client fields load on demand.
TOKEN_CHECK_FIELDS = (
    "revoked_at",
    "client__client_id",
    "client__name",
    "client__is_active",
    "client__expires_at",
    "client__kind",
    "client__owner_id",
    "client__user_id",
)


def verify_access_token(token: str) -> AccessToken:
    """A usable access token of this node: valid, unexpired, its client active, its jti not revoked."""
    from dataspace.oauth.models import IssuedToken

    access = decode_access_token(token)
    # One query: the token's record and its client (revocation and client state checked together).
    record = IssuedToken.objects.select_related("client").only(*TOKEN_CHECK_FIELDS).filter(jti=access.jti).first()
    if record is None:
        raise InvalidToken("unknown token")
    if record.revoked_at is not None:
        raise InvalidToken("token revoked")
    if record.client.client_id != access.client_id:
        raise InvalidToken("token does not match its client")
    if not record.client.is_usable():
        raise InvalidToken("client disabled or expired")
    return dataclasses.replace(access, client=record.client)


def revoke_jti(jti: str) -> bool:
    """Revoke one access token of this node by its `jti`; True if it was active until now."""
    from django.utils import timezone

    from dataspace.oauth.models import IssuedToken

    return IssuedToken.objects.filter(jti=jti, revoked_at__isnull=True).update(revoked_at=timezone.now()) > 0


def revoke_family(family: Any) -> int:
    """Revoke every refresh token and access token of a family (one authorization's descendants).

    Used when a refresh token is reused after rotation, when an authorization code is replayed,
    and when a refresh token is revoked (RFC 7009). Returns how many tokens were revoked.
    """
    from django.utils import timezone

    from dataspace.oauth.models import IssuedToken, RefreshToken

    if family is None:
        return 0
    now = timezone.now()
    count = RefreshToken.objects.filter(family=family, revoked_at__isnull=True).update(revoked_at=now)
    return count + IssuedToken.objects.filter(family=family, revoked_at__isnull=True).update(revoked_at=now)
