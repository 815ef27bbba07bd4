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
import functools
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


#: Client attributes a request needs; the others load on demand.
TOKEN_CHECK_CLIENT_FIELDS = frozenset({"id", "client_id", "name", "kind", "owner_id", "user_id", "jwks_uri"})
#: Attribute of the checked client: whether it holds an active mandate (the decision point then reads
#: which structures gave one; most clients hold none, and skip that query).
HAS_MANDATES_ATTR = "_has_active_mandates"


@functools.cache
def _token_check_query() -> tuple[str, list[Any]]:
    """The token-check SQL and the client fields it selects, in the model's field order (the
    order `Model.from_db` expects). Only model metadata is interpolated, never input."""
    from dataspace.oauth.models import Client, IssuedToken, Mandate

    fields = [field for field in Client._meta.concrete_fields if field.attname in TOKEN_CHECK_CLIENT_FIELDS]
    columns = ", ".join(f"c.{field.column}" for field in fields)
    mandates = (
        f"EXISTS (SELECT 1 FROM {Mandate._meta.db_table} m WHERE m.client_id = c.id AND m.revoked_at IS NULL "  # noqa: S608
        "AND (m.expires_at IS NULL OR m.expires_at > %s))"
    )
    sql = (
        f"SELECT t.revoked_at IS NULL, c.is_active AND (c.expires_at IS NULL OR c.expires_at > %s), {mandates}, "  # noqa: S608
        f"{columns} FROM {IssuedToken._meta.db_table} t JOIN {Client._meta.db_table} c ON c.id = t.client_id "
        "WHERE t.jti = %s"
    )
    return sql, fields


def verify_access_token(token: str) -> AccessToken:
    """A usable access token of this node: valid, unexpired, its client active, its jti not revoked.

    The token record and its client are read in one plain SQL query: this runs on every API
    request, and the ORM's query building cost as much as the signature check (see
    bench/bench_token_check.py). Revocation is therefore seen by the very next request.
    """
    from django.db import connection
    from django.utils import timezone

    from dataspace.oauth.models import Client

    access = decode_access_token(token)
    sql, fields = _token_check_query()
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    with connection.cursor() as cursor:
        cursor.execute(sql, [now, now, access.jti])
        row = cursor.fetchone()
    if row is None:
        raise InvalidToken("unknown token")
    not_revoked, client_usable, has_mandates, *client_values = row
    if not not_revoked:
        raise InvalidToken("token revoked")
    # Raw rows skip the backends' converters (SQLite stores UUIDs as hex text): convert per field.
    values = [field.to_python(value) for field, value in zip(fields, client_values, strict=True)]
    client = Client.from_db(connection.alias, [field.attname for field in fields], values)
    setattr(client, HAS_MANDATES_ATTR, bool(has_mandates))
    if client.client_id != access.client_id:
        raise InvalidToken("token does not match its client")
    if not client_usable:
        raise InvalidToken("client disabled or expired")
    return dataclasses.replace(access, client=client)


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
