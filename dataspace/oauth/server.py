"""The node's OAuth 2 authorization server: every piece of authlib glue lives here, and only here.

authlib brings the protocol (grants, client authentication, PKCE, introspection, revocation);
this module adapts our Django models to it and states the node's rules:

* **Grants**: client credentials, authorization code with PKCE (required, `S256` only, exact
  redirect URI, single-use code), refresh token (rotated on every use). Nothing else: the implicit
  and password grants are not registered, so they answer `unsupported_response_type` /
  `unsupported_grant_type`.
* **Client authentication** at the token endpoint: `client_secret_basic`, `client_secret_post`
  (a secret client may use either), `private_key_jwt` (RFC 7523, the peer's key fetched from its
  `jwks_uri`), and `none` for public clients of the authorization code grant only.
* **Scopes**: a request may name only scopes of the client's allowed set (else `invalid_scope`);
  a request naming no scope gets the client's **whole allowed set** (RFC 6749 §3.3 lets the server
  pick a documented default) — for client credentials and for the authorization code alike.
* **Tokens**: one minting path, `dataspace.oauth.tokens` (JWT RFC 9068, Ed25519, node key), each
  access token recorded in `IssuedToken` with its family in the request's transaction (the views
  wrap each endpoint in `transaction.atomic`). Lifetimes come from settings, never authlib's
  defaults (authlib would give client-credentials tokens 10 days).
* **Replays**: a reused authorization code revokes every token issued from it; a reused refresh
  token revokes its whole family; a reused client assertion `jti` is refused.
* **Issuer identification** (RFC 9207): every redirect back to a client carries `iss`.
* **Algorithms**: joserfc accepts only its "recommended" algorithms unless told; we do not change
  its global registry, we name the allowed algorithms on every decode (here for client assertions,
  `ASSERTION_ALGORITHMS`; in `tokens.py` for access tokens).
* **Introspection policy** (RFC 7662): only clients of this node may introspect, authenticated
  like at the token endpoint (public clients may not). A client may introspect the tokens issued
  to itself; a client holding `clients:manage` may introspect any token of this node. Anything
  else — unknown, expired, revoked, foreign-issuer, or not yours — answers `{"active": false}`.
* **Revocation** (RFC 7009): a client revokes its own tokens (public clients too, with their
  `client_id`); an access token is revoked by its `jti`, a refresh token with its whole family
  (refresh and access tokens). Unknown tokens, and tokens of another client, answer 200 and change
  nothing (so the endpoint reveals nothing).
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

from authlib.common.urls import add_params_to_uri
from authlib.integrations.django_oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import (
    AuthorizationCodeMixin,
    ClientMixin,
    InvalidClientError,
    InvalidRequestError,
    InvalidScopeError,
    OAuth2Error,
    TokenMixin,
    grants,
)
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7523 import JWTBearerClientAssertion
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc7636.challenge import compare_s256_code_challenge
from authlib.oauth2.rfc7662 import IntrospectionEndpoint
from django.conf import settings
from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils import timezone
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from dataspace.oauth import peers, secrets, tokens
from dataspace.oauth.clients import authenticate_secret
from dataspace.oauth.models import AuthorizationCode, Client, IssuedToken, RefreshToken, UsedClientAssertion
from dataspace.oauth.scopes import SCOPES, UnknownScope, parse_scopes

SECRET_METHODS = ("client_secret_basic", "client_secret_post")
PRIVATE_KEY_JWT = "private_key_jwt"
#: Methods a confidential client may use at the token, introspection and revocation endpoints.
CONFIDENTIAL_METHODS = [*SECRET_METHODS, PRIVATE_KEY_JWT]
#: Plus public clients (no secret) where RFC 6749/7009 allow them: code exchange, refresh, revocation.
ALL_METHODS = [*CONFIDENTIAL_METHODS, "none"]
GRANT_TYPES = ["client_credentials", "authorization_code", "refresh_token"]
#: Signature algorithms accepted on client assertions (passed explicitly to joserfc on decode).
ASSERTION_ALGORITHMS = ("Ed25519", "ES256")  # not "EdDSA": deprecated by RFC 9864
#: A client assertion may not live longer than this (bounds the jti store).
ASSERTION_MAX_LIFETIME = 600
ASSERTION_LEEWAY = 30
_STASH = "_dataspace_minted"  # private key of the token dict between minting and saving, never sent


# ---------------------------------------------------------------------------- URLs of this server
def issuer() -> str:
    return tokens.issuer()


def endpoint_url(name: str) -> str:
    return f"{settings.NODE_BASE_URL}{reverse(name)}"


def metadata() -> dict[str, Any]:
    """RFC 8414 authorization server metadata of this node."""
    algorithms = list(ASSERTION_ALGORITHMS)
    return {
        "issuer": issuer(),
        "authorization_endpoint": endpoint_url("oauth:authorize"),
        "token_endpoint": endpoint_url("oauth:token"),
        "introspection_endpoint": endpoint_url("oauth:introspect"),
        "revocation_endpoint": endpoint_url("oauth:revoke"),
        "jwks_uri": endpoint_url("node:jwks"),
        "scopes_supported": list(SCOPES),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": list(GRANT_TYPES),
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": list(ALL_METHODS),
        "token_endpoint_auth_signing_alg_values_supported": algorithms,
        "introspection_endpoint_auth_methods_supported": list(CONFIDENTIAL_METHODS),
        "introspection_endpoint_auth_signing_alg_values_supported": algorithms,
        "revocation_endpoint_auth_methods_supported": list(ALL_METHODS),
        "revocation_endpoint_auth_signing_alg_values_supported": algorithms,
        "authorization_response_iss_parameter_supported": True,
    }


# ---------------------------------------------------------------------------- rules (typed, no authlib)
def resolve_scope(client: Client, requested: str | None) -> str | None:
    """The scope a token gets: the requested names if all are in the client's allowed set, the whole
    allowed set if none is requested; None (→ `invalid_scope`) otherwise."""
    allowed = [name for name in client.allowed_scopes if name in SCOPES]
    if not requested or not requested.strip():
        return " ".join(allowed)
    try:
        names = parse_scopes(requested)
    except UnknownScope:
        return None
    if not set(names) <= set(allowed):
        return None
    return " ".join(names)


def auth_method_allowed(client: Client, method: str) -> bool:
    """A secret client may send its secret either way; other clients only their registered method."""
    registered = str(client.token_endpoint_auth_method)
    if registered in SECRET_METHODS:
        return method in SECRET_METHODS
    return method == registered


def usable_client(client_id: str) -> Client | None:
    """The client if it exists, is active, unexpired, and (if bound to a person) that person is active."""
    client = Client.objects.select_related("owner", "user").filter(client_id=client_id).first()
    if client is None or not client.is_usable():
        return None
    if client.user is not None and not client.user.is_active:
        return None
    return client


def claim_code(value: str, client: Client) -> AuthorizationCode | None:
    """Use an authorization code once. A replayed code revokes every token issued from it."""
    record = AuthorizationCode.objects.select_related("user").filter(code_digest=secrets.digest(value)).first()
    if record is None or record.client_id != client.pk:
        return None
    now = timezone.now()
    if record.used_at is not None:
        tokens.revoke_family(record.family)
        return None
    if record.expires_at <= now:
        return None
    if not AuthorizationCode.objects.filter(pk=record.pk, used_at__isnull=True).update(used_at=now):
        tokens.revoke_family(AuthorizationCode.objects.get(pk=record.pk).family)
        return None
    record.used_at = now
    return record


def claim_refresh_token(value: str, client: Client) -> RefreshToken | None:
    """Use a refresh token once (it is rotated). A reused one revokes its whole family."""
    record = RefreshToken.objects.select_related("user").filter(token_digest=secrets.digest(value)).first()
    if record is None or record.client_id != client.pk or record.revoked_at is not None:
        return None
    now = timezone.now()
    if record.used_at is not None:
        tokens.revoke_family(record.family)
        return None
    if record.expires_at <= now:
        return None
    claimed = RefreshToken.objects.filter(pk=record.pk, used_at__isnull=True, revoked_at__isnull=True)
    if not claimed.update(used_at=now):
        tokens.revoke_family(record.family)
        return None
    record.used_at = now
    return record


def remember_assertion(client_id: str, jti: str, expires: int) -> bool:
    """Record a client assertion's jti; False if it was already used (replay). Fails closed."""
    if not jti or len(jti) > 200:
        return False
    now = timezone.now()
    UsedClientAssertion.objects.filter(expires_at__lt=now).delete()
    until = dt.datetime.fromtimestamp(expires + ASSERTION_LEEWAY, tz=dt.UTC)
    try:
        with transaction.atomic():
            UsedClientAssertion.objects.create(client_id=client_id, jti=jti, expires_at=until)
    except IntegrityError:
        return False
    return True


@dataclass(frozen=True)
class TokenInfo:
    """What this node knows of a token presented for introspection or revocation."""

    kind: str  # "access_token" | "refresh_token"
    client_id: str
    scope: str
    subject: str | None
    issued_at: int
    expires_at: int
    inactive: bool  # revoked, used (refresh), or its client disabled
    jti: str | None = None
    family: uuid.UUID | None = None

    # authlib's TokenMixin, as far as the endpoints use it
    def check_client(self, client: Any) -> bool:
        return bool(self.client_id == client.get_client_id())

    def is_expired(self) -> bool:
        return self.expires_at <= int(time.time())

    def is_revoked(self) -> bool:
        return self.inactive

    def introspection(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "active": True,
            "scope": self.scope,
            "client_id": self.client_id,
            "token_type": "Bearer" if self.kind == "access_token" else "refresh_token",
            "exp": self.expires_at,
            "iat": self.issued_at,
            "iss": issuer(),
        }
        if self.subject:
            body["sub"] = self.subject
        if self.jti:
            body["jti"] = self.jti
            body["aud"] = tokens.audience()
        return body


def _timestamp(value: dt.datetime) -> int:
    return int(value.timestamp())


def find_token(value: str, hint: str | None = None) -> TokenInfo | None:
    """The token of this node with this value: an access token (by its verified JWT's jti) or a
    refresh token (by digest). Foreign, malformed, expired or unknown tokens give None."""
    finders: list[Callable[[str], TokenInfo | None]] = [_find_access_token, _find_refresh_token]
    if hint == "refresh_token":
        finders.reverse()
    for finder in finders:
        found = finder(value)
        if found is not None:
            return found
    return None


def _find_access_token(value: str) -> TokenInfo | None:
    try:
        access = tokens.decode_access_token(value)
    except tokens.InvalidToken:
        return None
    record = IssuedToken.objects.select_related("client").filter(jti=access.jti).first()
    if record is None or record.client.client_id != access.client_id:
        return None
    return TokenInfo(
        kind="access_token",
        client_id=access.client_id,
        scope=str(access.claims.get("scope", record.scope)),
        subject=access.subject,
        issued_at=access.issued_at,
        expires_at=access.expires_at,
        inactive=record.revoked_at is not None or not record.client.is_usable(),
        jti=access.jti,
        family=record.family,
    )


def _find_refresh_token(value: str) -> TokenInfo | None:
    record = RefreshToken.objects.select_related("client").filter(token_digest=secrets.digest(value)).first()
    if record is None:
        return None
    return TokenInfo(
        kind="refresh_token",
        client_id=record.client.client_id,
        scope=record.scope,
        subject=str(record.user_id) if record.user_id is not None else None,
        issued_at=_timestamp(record.issued_at),
        expires_at=_timestamp(record.expires_at),
        inactive=record.revoked_at is not None or record.used_at is not None or not record.client.is_usable(),
        family=record.family,
    )


def may_introspect(client: Client, token: TokenInfo) -> bool:
    return token.client_id == client.client_id or "clients:manage" in client.allowed_scopes


def revoke(token: TokenInfo) -> None:
    if token.kind == "access_token" and token.jti:
        tokens.revoke_jti(token.jti)
    else:
        tokens.revoke_family(token.family)


# ---------------------------------------------------------------------------- adapters for authlib
class OAuthClient(ClientMixin):
    """authlib's view of one of our `Client` rows."""

    def __init__(self, model: Client) -> None:
        self.model = model
        self.client_id = model.client_id

    def __repr__(self) -> str:
        return f"<OAuthClient {self.client_id}>"

    def get_client_id(self) -> str:
        return self.model.client_id

    def get_default_redirect_uri(self) -> None:
        return None  # the authorization request must name its redirect URI, matched exactly

    def get_allowed_scope(self, scope: str | None) -> str | None:
        return resolve_scope(self.model, scope)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in list(self.model.redirect_uris)

    def check_client_secret(self, client_secret: str) -> bool:
        return authenticate_secret(self.model, client_secret)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return auth_method_allowed(self.model, method)

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code" and "authorization_code" in self.model.grant_types

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in self.model.grant_types


class _Code(AuthorizationCodeMixin):
    def __init__(self, model: AuthorizationCode) -> None:
        self.model = model
        self.code_challenge = model.code_challenge
        self.code_challenge_method = model.code_challenge_method

    def get_redirect_uri(self) -> str:
        return self.model.redirect_uri

    def get_scope(self) -> str:
        return self.model.scope


class _Refresh(TokenMixin):
    def __init__(self, model: RefreshToken) -> None:
        self.model = model

    def check_client(self, client: OAuthClient) -> bool:
        return bool(self.model.client_id == client.model.pk)

    def get_scope(self) -> str:
        return self.model.scope

    def is_expired(self) -> bool:
        return bool(self.model.expires_at <= timezone.now())

    def is_revoked(self) -> bool:
        return self.model.revoked_at is not None or self.model.used_at is not None


def generate_bearer_token(
    grant_type: str,
    client: OAuthClient,
    user: Any = None,
    scope: str | None = None,
    expires_in: int | None = None,
    include_refresh_token: bool = True,
) -> dict[str, Any]:
    """authlib's token generator, delegating the access token to `tokens` (the one minting path)."""
    lifetime = int(settings.OAUTH_ACCESS_TOKEN_LIFETIME)
    claims = tokens.build_claims(
        client_id=client.get_client_id(),
        scopes=(scope or "").split(),
        user_id=user.pk if user is not None else None,
        lifetime=lifetime,
    )
    token: dict[str, Any] = {
        "access_token": tokens.encode_access_token(claims),
        "token_type": "Bearer",
        "expires_in": lifetime,
        "scope": claims["scope"],
    }
    if include_refresh_token:
        token["refresh_token"] = secrets.generate_secret()
    token[_STASH] = (claims, user)
    return token


def save_token(token: dict[str, Any], request: Any) -> None:
    """Record what `generate_bearer_token` minted: the access token's jti, the refresh token's digest."""
    claims, user = token.pop(_STASH)
    client: Client = request.client.model
    family: uuid.UUID | None = None
    if request.authorization_code is not None:
        family = uuid.uuid4()
        AuthorizationCode.objects.filter(pk=request.authorization_code.model.pk).update(family=family)
    elif request.refresh_token is not None:
        family = request.refresh_token.model.family
    IssuedToken.objects.create(
        jti=claims["jti"],
        client=client,
        user=user,
        scope=claims["scope"],
        family=family,
        issued_at=dt.datetime.fromtimestamp(claims["iat"], tz=dt.UTC),
        expires_at=dt.datetime.fromtimestamp(claims["exp"], tz=dt.UTC),
    )
    if "refresh_token" in token:
        RefreshToken.objects.create(
            token_digest=secrets.digest(token["refresh_token"]),
            family=family or uuid.uuid4(),
            client=client,
            user=user,
            scope=claims["scope"],
            expires_at=timezone.now() + dt.timedelta(seconds=int(settings.OAUTH_REFRESH_TOKEN_LIFETIME)),
        )


# ---------------------------------------------------------------------------- grants
class ClientCredentialsGrant(grants.ClientCredentialsGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = list(CONFIDENTIAL_METHODS)

    def validate_token_request(self) -> None:
        super().validate_token_request()
        scope = self.client.get_allowed_scope(self.request.payload.scope)
        if scope is None:
            raise InvalidScopeError()
        self.request.scope = scope

    def create_token_response(self) -> tuple[int, dict[str, Any], list[tuple[str, str]]]:
        # A client bound to a person (personal API key) acts as that person: `sub` is their id.
        user = self.client.model.user
        self.request.user = user
        token = self.generate_token(user=user, scope=self.request.scope, include_refresh_token=False)
        self.save_token(token)
        return 200, token, self.TOKEN_RESPONSE_HEADER


class AuthorizationCodeGrant(grants.AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = list(ALL_METHODS)

    def save_authorization_code(self, code: str, request: Any) -> None:
        data = request.payload.data
        now = timezone.now()
        AuthorizationCode.objects.create(
            code_digest=secrets.digest(code),
            client=request.client.model,
            user=request.user,
            redirect_uri=request.payload.redirect_uri,
            scope=request.scope,
            code_challenge=data["code_challenge"],
            code_challenge_method=data["code_challenge_method"],
            auth_time=now,
            expires_at=now + dt.timedelta(seconds=int(settings.OAUTH_CODE_LIFETIME)),
        )

    def query_authorization_code(self, code: str, client: OAuthClient) -> _Code | None:
        record = claim_code(code, client.model)
        return _Code(record) if record is not None else None

    def delete_authorization_code(self, authorization_code: _Code) -> None:
        """Nothing to do: the code was marked used when claimed (kept to detect replays)."""

    def authenticate_user(self, authorization_code: _Code) -> Any:
        user = authorization_code.model.user
        return user if user.is_active else None


class RefreshTokenGrant(grants.RefreshTokenGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = list(ALL_METHODS)
    INCLUDE_NEW_REFRESH_TOKEN = True  # rotation on every use

    def authenticate_refresh_token(self, refresh_token: str) -> _Refresh | None:
        record = claim_refresh_token(refresh_token, self.request.client.model)
        return _Refresh(record) if record is not None else None

    def authenticate_user(self, refresh_token: _Refresh) -> Any:
        user = refresh_token.model.user
        return user if user is not None and user.is_active else None

    def issue_token(self, user: Any, refresh_token: _Refresh) -> dict[str, Any]:
        requested = self.request.payload.scope or refresh_token.get_scope()
        allowed = set(self.client.model.allowed_scopes)  # the client's set may have shrunk since
        scope = " ".join(name for name in requested.split() if name in allowed)
        return dict(self.generate_token(user=user, scope=scope, include_refresh_token=True))

    def revoke_old_credential(self, refresh_token: _Refresh) -> None:
        """Nothing to do: the old refresh token was marked used when claimed."""


class S256CodeChallenge(CodeChallenge):
    """PKCE required on every authorization request, `S256` only (`plain` is refused)."""

    DEFAULT_CODE_CHALLENGE_METHOD = "S256"
    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]
    CODE_CHALLENGE_METHODS = {"S256": compare_s256_code_challenge}

    def validate_code_challenge(self, grant: Any, redirect_uri: str) -> None:
        data = grant.request.payload.data
        if not data.get("code_challenge"):
            raise InvalidRequestError("PKCE is required: missing 'code_challenge'.")
        if data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("Only code_challenge_method=S256 is accepted.")
        super().validate_code_challenge(grant, redirect_uri)


# ---------------------------------------------------------------------------- private_key_jwt
class PrivateKeyJWT(JWTBearerClientAssertion):
    """RFC 7523 client authentication, verified against the key the peer publishes at its jwks_uri."""

    CLIENT_AUTH_METHOD = PRIVATE_KEY_JWT

    def __init__(self) -> None:
        super().__init__(validate_jti=True, leeway=ASSERTION_LEEWAY)

    def get_audiences(self) -> list[str]:
        return [endpoint_url("oauth:token"), issuer()]

    def resolve_client_public_key(self, client: OAuthClient) -> Callable[[Any], KeySet]:
        uri = client.model.jwks_uri
        if not uri or client.model.token_endpoint_auth_method != PRIVATE_KEY_JWT:
            raise InvalidClientError(description="The client does not authenticate with private_key_jwt.")

        def resolve(obj: Any) -> KeySet:
            kid = obj.headers().get("kid")
            try:
                return peers.key_set(uri, kid=str(kid) if kid is not None else None)
            except peers.PeerKeysError:
                raise InvalidClientError(description="No usable key of the client for this assertion.") from None

        return resolve

    def process_assertion_claims(self, assertion: str, resolve_key: Any) -> dict[str, Any]:
        try:
            token = jwt.decode(assertion, resolve_key, algorithms=list(ASSERTION_ALGORITHMS))
        except (JoseError, ValueError):
            raise InvalidClientError(description="Invalid client assertion (signature, key or algorithm).") from None
        self.verify_claims(token.claims)
        return dict(token.claims)

    def verify_claims(self, claims: Any) -> None:
        exp = claims.get("exp")
        if isinstance(exp, int | float) and exp - time.time() > ASSERTION_MAX_LIFETIME:
            raise InvalidClientError(description="Client assertion lives too long.")
        super().verify_claims(claims)

    def validate_jti(self, claims: Any, jti: Any) -> bool:
        return remember_assertion(str(claims["sub"]), str(jti), int(claims["exp"]))


# ---------------------------------------------------------------------------- introspection, revocation
def _require_token_param(request: Any) -> None:
    """`token` is required; an unknown `token_type_hint` is only a hint (RFC 7009 §2.1): ignored."""
    if "token" not in request.form:
        raise InvalidRequestError("Missing 'token'.")


class Introspection(IntrospectionEndpoint):
    CLIENT_AUTH_METHODS = list(CONFIDENTIAL_METHODS)

    def check_params(self, request: Any, client: Any) -> None:
        _require_token_param(request)

    def query_token(self, token_string: str, token_type_hint: str | None) -> TokenInfo | None:
        return find_token(token_string, token_type_hint)

    def check_permission(self, token: TokenInfo, client: OAuthClient, request: Any) -> bool:
        return may_introspect(client.model, token)

    def introspect_token(self, token: TokenInfo) -> dict[str, Any]:
        return token.introspection()


class Revocation(RevocationEndpoint):
    CLIENT_AUTH_METHODS = list(ALL_METHODS)

    def check_params(self, request: Any, client: Any) -> None:
        _require_token_param(request)

    def authenticate_token(self, request: Any, client: OAuthClient) -> TokenInfo | None:
        self.check_params(request, client)
        token = find_token(request.form["token"], request.form.get("token_type_hint"))
        if token is None or not token.check_client(client):
            return None  # unknown, or another client's: 200 and nothing changes
        return token

    def query_token(self, token_string: str, token_type_hint: str | None) -> TokenInfo | None:
        return find_token(token_string, token_type_hint)

    def revoke_token(self, token: TokenInfo, request: Any) -> None:
        revoke(token)


# ---------------------------------------------------------------------------- the server
class NodeAuthorizationServer(AuthorizationServer):
    def __init__(self) -> None:
        super().__init__(Client, IssuedToken)
        self.scopes_supported = list(SCOPES)
        self.register_token_generator("default", generate_bearer_token)

    def query_client(self, client_id: str) -> OAuthClient | None:
        client = usable_client(str(client_id))
        return OAuthClient(client) if client is not None else None

    def save_token(self, token: dict[str, Any], request: Any) -> None:
        save_token(token, request)

    def handle_response(self, status_code: int, payload: Any, headers: Any) -> HttpResponse:
        headers = list(headers)
        if status_code == 302:
            # RFC 9207: the authorization response, success or error, names its issuer.
            headers = [
                (name, add_params_to_uri(value, [("iss", issuer())]) if name == "Location" else value)
                for name, value in headers
            ]
        response: HttpResponse = super().handle_response(status_code, payload, headers)
        return response


@cache
def get_server() -> NodeAuthorizationServer:
    server = NodeAuthorizationServer()
    server.register_client_auth_method(PrivateKeyJWT.CLIENT_AUTH_METHOD, PrivateKeyJWT())
    server.register_grant(ClientCredentialsGrant)
    server.register_grant(AuthorizationCodeGrant, [S256CodeChallenge(required=True)])
    server.register_grant(RefreshTokenGrant)
    server.register_endpoint(Introspection)
    server.register_endpoint(Revocation)
    return server


# ---------------------------------------------------------------------------- entry points for views
@dataclass(frozen=True)
class ConsentRequest:
    """What the consent screen shows, and the authlib grant to complete once the person decides."""

    client: Client
    scopes: list[str]
    redirect_uri: str
    grant: Any


def token_response(request: HttpRequest) -> HttpResponse:
    with transaction.atomic():
        response: HttpResponse = get_server().create_token_response(request)
    return response


def introspection_response(request: HttpRequest) -> HttpResponse:
    response: HttpResponse = get_server().create_endpoint_response(Introspection.ENDPOINT_NAME, request)
    return response


def revocation_response(request: HttpRequest) -> HttpResponse:
    with transaction.atomic():
        response: HttpResponse = get_server().create_endpoint_response(Revocation.ENDPOINT_NAME, request)
    return response


def consent_request(request: HttpRequest) -> ConsentRequest:
    """Validate an authorization request for the logged-in person; raises OAuth2Error."""
    grant = get_server().get_consent_grant(request, end_user=request.user)
    client: Client = grant.request.client.model
    return ConsentRequest(
        client=client, scopes=str(grant.request.scope or "").split(), redirect_uri=grant.redirect_uri, grant=grant
    )


def authorization_response(request: HttpRequest, consent: ConsentRequest, *, allowed: bool) -> HttpResponse:
    """Redirect back to the client with a code (allowed) or `access_denied`, always with `iss`."""
    with transaction.atomic():
        response: HttpResponse = get_server().create_authorization_response(
            request, grant_user=request.user if allowed else None, grant=consent.grant
        )
    return response


def error_redirect(request: HttpRequest, error: OAuth2Error) -> HttpResponse | None:
    """The redirect carrying an authorization error back to the client, when the redirect URI is
    trustworthy (the client exists and the URI is registered); None when it must not redirect."""
    if not error.redirect_uri:
        return None
    response: HttpResponse = get_server().handle_error_response(request, error)
    return response
