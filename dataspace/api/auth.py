"""Who is calling the API: the one seam where authentication plugs in (DESIGN.md §5).

Two ways in, tried in this order (the first class also writes the `WWW-Authenticate` header of
every 401, so an API client is told to bring a bearer token):

* `BearerTokenAuthentication` — `Authorization: Bearer <jwt>`, an RFC 9068 access token of this
  node (`dataspace.oauth.tokens.verify_access_token`: signature by a published key, issuer,
  audience, expiry, revocation of its `jti`, client still usable). `request.auth` is the verified
  `AccessToken`. `request.user` is the person the token acts for when it carries one (a personal
  API key, an authorization-code grant), otherwise a `ClientPrincipal` standing for the machine
  client. A token that fails verification is a 401 with
  `WWW-Authenticate: Bearer error="invalid_token", error_description="…"` (RFC 6750 §3).
  The token of a peer node (a client with a `jwks_uri`) is accepted only on a request signed
  (RFC 9421) by that node (`request.signed_peer`, `federation.middleware`): otherwise 401
  ``signature_required``, journaled.
* `SessionAuthentication` — the node's staff logged in with the Django admin (and the browsable
  API), with DRF's CSRF enforcement on unsafe methods.

What a caller may then do is decided in `dataspace.api.permissions`; views never look at
authentication themselves.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NoReturn

from django.conf import settings
from django.contrib.auth import get_user_model
from django.utils.translation import gettext
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions
from rest_framework.request import Request

from dataspace.oauth.tokens import AccessToken, InvalidToken, verify_access_token

if TYPE_CHECKING:
    from dataspace.oauth.models import Client

#: Attribute of the Django request carrying the client of a bearer token (`token_client`).
_CLIENT_ATTR = "oauth_client"
#: Attribute of the Django request carrying why a presented token was refused (for the header).
_ERROR_ATTR = "oauth_bearer_error"


class SessionAuthentication(authentication.SessionAuthentication):
    """Django session login, with DRF's CSRF enforcement for unsafe methods."""


@dataclass(eq=False)
class ClientPrincipal:
    """`request.user` for a machine client (client credentials): no person, no staff rights.

    It quacks like a Django user where DRF and Django look (`is_authenticated`, `is_active`,
    `is_staff`, `pk`), so code that asks "is someone logged in?" gets a sensible answer; what the
    client may do comes from its token's scopes, its kind and its mandates only.
    """

    client: Client
    scopes: frozenset[str] = field(default_factory=frozenset)

    is_authenticated = True
    is_anonymous = False
    is_active = True
    is_staff = False
    is_superuser = False
    pk = None
    id = None

    @property
    def client_id(self) -> str:
        return str(self.client.client_id)

    @property
    def username(self) -> str:
        return f"client:{self.client.client_id}"

    def get_username(self) -> str:
        return self.username

    def has_perm(self, perm: str, obj: Any = None) -> bool:
        return False

    def has_perms(self, perms: Any, obj: Any = None) -> bool:
        return False

    def has_module_perms(self, app_label: str) -> bool:
        return False

    def __str__(self) -> str:
        return f"{self.client.name} ({self.client.client_id})"


def _realm() -> str:
    return str(settings.NODE_BASE_URL)


def _quoted(text: str) -> str:
    """An RFC 6750 auth-param value: printable ASCII without `"` and `\\`."""
    cleaned = "".join(ch for ch in text if 0x20 <= ord(ch) <= 0x7E and ch not in '"\\')
    return f'"{cleaned}"'


class BearerTokenAuthentication(authentication.BaseAuthentication):
    """`Authorization: Bearer <access token>` (RFC 6750 §2.1), verified on every request."""

    keyword = "Bearer"

    def authenticate(self, request: Request) -> tuple[Any, AccessToken] | None:
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None  # no bearer credentials: let the next class (session) try
        if len(header) != 2:
            self._refuse(request, "malformed Authorization header: expected 'Bearer <token>'")
        try:
            token = header[1].decode("ascii")
        except UnicodeDecodeError:
            self._refuse(request, "the token holds non-ASCII characters")
        try:
            access = verify_access_token(token)
        except InvalidToken as exc:
            self._refuse(request, exc.reason)
        return self._principal(request, access), access

    def _principal(self, request: Request, access: AccessToken) -> Any:
        client = access.client  # loaded and checked by verify_access_token
        if client is None:
            self._refuse(request, "client disabled or expired")
        if client.jwks_uri:  # a peer node's client: its token is only good with its node's signature
            self._require_node_signature(request, client)
        setattr(request._request, _CLIENT_ATTR, client)
        # A machine token's `sub` is its client_id (RFC 9068 §2.2): never read it as a person's id,
        # even if a client_id happened to be all digits.
        if access.user_id is None or access.subject == access.client_id:
            return ClientPrincipal(client=client, scopes=access.scopes)
        user = get_user_model()._default_manager.filter(pk=access.user_id).first()
        if user is None or not user.is_active:
            self._refuse(request, "the person this token acts for is no longer active")
        if client.user_id is not None and client.user_id != user.pk:
            self._refuse(request, "token does not match the person its client acts for")
        return user

    @staticmethod
    def _require_node_signature(request: Request, client: Client) -> None:
        """A token held by a peer node (a client with a `jwks_uri`) is accepted only on a request
        signed (RFC 9421, `federation.middleware`) by that same node: a stolen token alone is
        useless. Refused: 401 ``signature_required``, journaled."""
        from federation.outbox import node_from_jwks_uri

        node = node_from_jwks_uri(str(client.jwks_uri))
        signed = getattr(request._request, "signed_peer", None)
        if signed is not None and node and str(signed.base_url).rstrip("/") == node:
            return
        from dataspace.audit.services import Actor, journal

        journal(
            actor=Actor(client_id=str(client.client_id), node=node or "unknown"),
            action="federation.signature_required",
            decision="deny",
            reason_code="signature_required",
            details={
                "path": request._request.path,
                "method": request.method,
                "signed_by": str(signed.base_url) if signed is not None else "",
            },
        )
        setattr(request._request, _ERROR_ATTR, "a peer node's token needs that node's HTTP message signature")
        raise exceptions.AuthenticationFailed(
            gettext("Le jeton d'un nœud pair n'est accepté que sur une requête signée (RFC 9421) par ce même nœud."),
            code="signature_required",
        )

    @staticmethod
    def _refuse(request: Request, reason: str) -> NoReturn:
        setattr(request._request, _ERROR_ATTR, reason)
        raise exceptions.AuthenticationFailed(f"Invalid access token: {reason}.", code="invalid_token")

    def authenticate_header(self, request: Request) -> str:
        reason = getattr(request._request, _ERROR_ATTR, None)
        if reason:
            return f'Bearer realm={_quoted(_realm())}, error="invalid_token", error_description={_quoted(reason)}'
        return f"Bearer realm={_quoted(_realm())}"


def insufficient_scope_header(scope: str, description: str) -> str:
    """RFC 6750 §3.1: the header of a 403 for a token that lacks the scope the request needs."""
    return (
        f'Bearer realm={_quoted(_realm())}, error="insufficient_scope", '
        f"error_description={_quoted(description)}, scope={_quoted(scope)}"
    )


# ---------------------------------------------------------------------------- who is calling


def bearer_token(request: Request) -> AccessToken | None:
    """The verified access token of the request, or None for a session or an anonymous caller."""
    auth = getattr(request, "auth", None)
    return auth if isinstance(auth, AccessToken) else None


def token_client(request: Request) -> Client | None:
    """The OAuth client whose token authenticated the request (None without a token)."""
    if bearer_token(request) is None:
        return None
    return getattr(request._request, _CLIENT_ATTR, None)


def machine_client(request: Request) -> Client | None:
    """The client when it acts for no person (client credentials): its kind and mandates rule."""
    user = getattr(request, "user", None)
    return user.client if isinstance(user, ClientPrincipal) else None


def person(request: Request) -> Any | None:
    """The active person behind the request (session, personal API key, authorization code)."""
    user = getattr(request, "user", None)
    if user is None or isinstance(user, ClientPrincipal) or not user.is_authenticated or not user.is_active:
        return None
    return user


def is_node_staff(request: Request) -> bool:
    """True for the node's own staff: they see local-only data (options).

    Staff are active accounts flagged `is_staff` (they log in to the admin) or holding a role on a
    structure (`StaffMembership`). A machine client is never staff. Writing is a separate question:
    `dataspace.api.permissions`.
    """
    user = person(request)
    if user is None:
        return False
    if user.is_staff or user.is_superuser:
        return True
    from dataspace.api.permissions import staff_roles

    return bool(staff_roles(user))


def caller_id(request: Request) -> str:
    """A stable name for whoever sends the request (idempotency keys are scoped by it).

    A person gives `user:<pk>` (the same through a session or a personal API key: it acts as that
    person); a machine client gives `client:<client_id>`.
    """
    user = getattr(request, "user", None)
    if isinstance(user, ClientPrincipal):
        return f"client:{user.client_id}"
    if user is not None and user.is_authenticated:
        return f"user:{user.pk}"
    return "anonymous"


# ---------------------------------------------------------------------------- OpenAPI


class SessionAuthenticationScheme(OpenApiAuthenticationExtension):
    """How the OpenAPI schema describes the session login (a cookie set by the admin login)."""

    target_class = "dataspace.api.auth.SessionAuthentication"
    name = "sessionAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {"type": "apiKey", "in": "cookie", "name": settings.SESSION_COOKIE_NAME}


class BearerTokenScheme(OpenApiAuthenticationExtension):
    """How the OpenAPI schema describes the bearer access tokens of the node's OAuth server."""

    target_class = "dataspace.api.auth.BearerTokenAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": "An access token from this node's /oauth/token (RFC 9068 JWT); "
            "each operation needs the scope named in its description.",
        }
