"""Registering clients and checking their secrets: the operations every entry point calls
(the admin, the `oauth_client` command, the clients API, the token endpoint).

Contracts for other modules:

* `create_client(...) -> IssuedSecret`, `update_client(client, **changes) -> Client`,
  `disable_client(client, *, by=None) -> Client` (also revokes its live tokens);
* `rotate_secret(client, *, grace_seconds=None) -> IssuedSecret`, `revoke_secret(secret) -> ClientSecret`,
  `authenticate_secret(client, secret) -> bool`, `secrets_past_max_age(max_age_days=None)`;
* `node_organisation()`, `resolve_owner(value)`, `resolve_user(username)`;
* `clients_owned_by(organisation)` (the ownership filter of every client-management entry point)
  and `managing_organisation(*, client_id=None, user=None)` (whose clients a caller manages).

Rules: a reader client never holds a write scope (on creation and on every update); a client whose
`expires_at` is past or that was disabled is refused everywhere (`Client.is_usable`).
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max, QuerySet
from django.utils import timezone

from dataspace.oauth import secrets
from dataspace.oauth.models import Client, ClientSecret, IssuedToken, RefreshToken
from dataspace.oauth.scopes import READ_SCOPES, UnknownScope, parse_scopes

GRANT_TYPES = ("client_credentials", "authorization_code", "refresh_token")


@dataclass(frozen=True)
class IssuedSecret:
    """A secret in clear, shown once to whoever registered or rotated the client."""

    client: Client
    secret: str | None
    version: int | None


def _validate(
    *, kind: str, scopes: list[str], grant_types: list[str], redirect_uris: list[str], auth_method: str, jwks_uri: str
) -> None:
    errors: dict[str, list[str]] = {}
    unknown_grants = sorted(set(grant_types) - set(GRANT_TYPES))
    if unknown_grants or not grant_types:
        errors["grant_types"] = [f"Choose among {', '.join(GRANT_TYPES)} (got {', '.join(unknown_grants) or 'none'})."]
    if kind == Client.Kind.READER and not set(scopes) <= READ_SCOPES:
        errors["allowed_scopes"] = [
            f"A reader client may only hold read scopes; refused: {', '.join(sorted(set(scopes) - READ_SCOPES))}."
        ]
    if "authorization_code" in grant_types and not redirect_uris:
        errors["redirect_uris"] = ["The authorization code grant needs at least one exact redirect URI."]
    if auth_method == Client.AuthMethod.PRIVATE_KEY_JWT and not jwks_uri:
        errors["jwks_uri"] = ["private_key_jwt needs the URL where the peer publishes its keys."]
    if auth_method == Client.AuthMethod.NONE and set(grant_types) & {"client_credentials"}:
        errors["token_endpoint_auth_method"] = ["A public client (no secret) cannot use client credentials."]
    if errors:
        raise ValidationError(errors)


def _validate_expiry(expires_at: dt.datetime | None) -> None:
    if expires_at is not None and expires_at <= timezone.now():
        raise ValidationError({"expires_at": [f"The expiry must be in the future (got {expires_at.isoformat()})."]})


def validate_registration(
    *,
    kind: str,
    scopes: str | list[str],
    grant_types: list[str],
    redirect_uris: list[str] | None = None,
    auth_method: str = Client.AuthMethod.SECRET_BASIC,
    jwks_uri: str = "",
    expires_at: dt.datetime | None = None,
    check_expiry: bool = True,
) -> list[str]:
    """The rules of `create_client`/`update_client` without saving (forms call it); returns the scopes."""
    try:
        scope_list = parse_scopes(scopes)
    except UnknownScope as exc:
        raise ValidationError({"allowed_scopes": [str(exc)]}) from None
    if check_expiry:
        _validate_expiry(expires_at)
    _validate(
        kind=kind, scopes=scope_list, grant_types=list(grant_types), redirect_uris=list(redirect_uris or []),
        auth_method=auth_method, jwks_uri=jwks_uri,
    )  # fmt: skip
    return scope_list


@transaction.atomic
def create_client(
    *,
    name: str,
    owner: Any,
    scopes: str | list[str],
    grant_types: list[str],
    kind: str = Client.Kind.READER,
    redirect_uris: list[str] | None = None,
    auth_method: str = Client.AuthMethod.SECRET_BASIC,
    jwks_uri: str = "",
    user: Any = None,
    expires_at: dt.datetime | None = None,
    created_by: Any = None,
    description: str = "",
) -> IssuedSecret:
    """Register a client; returns it with its first secret in clear (None for key- or PKCE-only clients)."""
    try:
        scope_list = parse_scopes(scopes)
    except UnknownScope as exc:
        raise ValidationError({"allowed_scopes": [str(exc)]}) from None
    uris = list(redirect_uris or [])
    _validate_expiry(expires_at)
    _validate(
        kind=kind, scopes=scope_list, grant_types=grant_types, redirect_uris=uris, auth_method=auth_method,
        jwks_uri=jwks_uri,
    )  # fmt: skip
    client = Client.objects.create(
        client_id=secrets.generate_client_id(),
        name=name,
        description=description,
        owner=owner,
        kind=kind,
        allowed_scopes=scope_list,
        grant_types=list(grant_types),
        redirect_uris=uris,
        token_endpoint_auth_method=auth_method,
        jwks_uri=jwks_uri,
        user=user,
        expires_at=expires_at,
        created_by=created_by,
    )
    if auth_method in (Client.AuthMethod.PRIVATE_KEY_JWT, Client.AuthMethod.NONE):
        return IssuedSecret(client=client, secret=None, version=None)
    return _add_secret(client)


def _add_secret(client: Client) -> IssuedSecret:
    current = client.secrets.aggregate(Max("version"))["version__max"] or 0
    secret = secrets.generate_secret()
    ClientSecret.objects.create(client=client, version=current + 1, digest=secrets.digest(secret))
    return IssuedSecret(client=client, secret=secret, version=current + 1)


@transaction.atomic
def rotate_secret(client: Client, *, grace_seconds: int | None = None) -> IssuedSecret:
    """Issue a new secret; older current ones keep working until the grace period ends."""
    grace = settings.OAUTH_SECRET_GRACE_PERIOD if grace_seconds is None else grace_seconds
    retire_at = timezone.now() + dt.timedelta(seconds=grace)
    locked = Client.objects.select_for_update().get(pk=client.pk)
    for old in locked.secrets.filter(revoked_at__isnull=True):
        if old.retires_at is None or old.retires_at > retire_at:
            old.retires_at = retire_at
            old.save(update_fields=["retires_at"])
    return _add_secret(locked)


def authenticate_secret(client: Client, secret: str) -> bool:
    """True when `secret` is one of the client's current secrets (constant-time per comparison)."""
    if not secret or not client.is_usable():
        return False
    now = timezone.now()
    matched = False
    for stored in client.secrets.all():
        # Compare against every version, so that timing does not reveal which one matched.
        if secrets.matches(secret, stored.digest) and stored.is_current(now):
            matched = True
    return matched


def secrets_past_max_age(max_age_days: int | None = None) -> list[ClientSecret]:
    """Current secrets older than the maximum age: the rotation report."""
    days = settings.OAUTH_SECRET_MAX_AGE_DAYS if max_age_days is None else max_age_days
    cutoff = timezone.now() - dt.timedelta(days=days)
    return [
        stored
        for stored in ClientSecret.objects.select_related("client").filter(
            created_at__lt=cutoff, revoked_at__isnull=True
        )
        if stored.is_current()
    ]


#: Fields `update_client` may change (the client id, owner and authentication method are fixed).
UPDATABLE_FIELDS = frozenset(
    {"name", "description", "kind", "allowed_scopes", "grant_types", "redirect_uris", "jwks_uri", "expires_at"}
)


@transaction.atomic
def update_client(client: Client, **changes: Any) -> Client:
    """Change a client's registration; the same rules as on creation (a reader never gets a write scope)."""
    unknown = sorted(set(changes) - UPDATABLE_FIELDS)
    if unknown:
        raise ValidationError({name: ["This field cannot be changed."] for name in unknown})
    locked = Client.objects.select_for_update().get(pk=client.pk)
    if "allowed_scopes" in changes:
        try:
            changes["allowed_scopes"] = parse_scopes(changes["allowed_scopes"])
        except UnknownScope as exc:
            raise ValidationError({"allowed_scopes": [str(exc)]}) from None
    if "grant_types" in changes:
        changes["grant_types"] = list(changes["grant_types"])
    if "redirect_uris" in changes:
        changes["redirect_uris"] = list(changes["redirect_uris"] or [])
    if "expires_at" in changes:
        _validate_expiry(changes["expires_at"])
    for name, value in changes.items():
        setattr(locked, name, value)
    _validate(
        kind=locked.kind,
        scopes=list(locked.allowed_scopes),
        grant_types=list(locked.grant_types),
        redirect_uris=list(locked.redirect_uris),
        auth_method=locked.token_endpoint_auth_method,
        jwks_uri=locked.jwks_uri,
    )
    if changes:
        locked.save(update_fields=sorted(changes))
    return locked


def revoke_tokens_of(client: Client, *, at: dt.datetime | None = None) -> int:
    """Revoke the client's unexpired access tokens and refresh tokens; returns how many were revoked."""
    now = at or timezone.now()
    access = IssuedToken.objects.filter(client=client, revoked_at__isnull=True, expires_at__gt=now).update(
        revoked_at=now
    )
    refresh = RefreshToken.objects.filter(client=client, revoked_at__isnull=True, expires_at__gt=now).update(
        revoked_at=now
    )
    return access + refresh


@transaction.atomic
def disable_client(client: Client, *, by: Any = None) -> Client:
    """Disable a client at once: it can no longer authenticate, and the tokens it holds are revoked.

    `by` (the person or client disabling it) is accepted for the callers' journals; nothing else
    records it yet.
    """
    locked = Client.objects.select_for_update().get(pk=client.pk)
    if locked.is_active:
        locked.is_active = False
        locked.save(update_fields=["is_active"])
    revoke_tokens_of(locked)
    return locked


def revoke_secret(secret: ClientSecret, *, at: dt.datetime | None = None) -> ClientSecret:
    """Revoke one secret version at once (no grace period); revoking twice keeps the first date."""
    if secret.revoked_at is None:
        secret.revoked_at = at or timezone.now()
        secret.save(update_fields=["revoked_at"])
    return secret


def secret_status(secret: ClientSecret, at: dt.datetime | None = None) -> str:
    """`current`, `grace` (retiring after a rotation), `retired` or `revoked`: for listings."""
    now = at or timezone.now()
    if secret.revoked_at is not None:
        return "revoked"
    if secret.retires_at is None:
        return "current"
    return "grace" if secret.retires_at > now else "retired"


# ---------------------------------------------------------------------------- owners and callers


def node_organisation() -> Any:
    """The structure that runs this node (NodeIdentity.organisation), or None before it is set."""
    from dataspace.node.services import current_identity

    identity = current_identity()
    return identity.organisation if identity is not None else None


def resolve_owner(value: str | None) -> Any:
    """An organisation from its SIRET or its UUID; empty means the node's own organisation."""
    from dataspace.referentials.models import Organisation

    text = (value or "").strip()
    if not text:
        owner = node_organisation()
        if owner is None:
            raise ValidationError(
                {"owner": ["No owner given and this node has no organisation configured (NodeIdentity.organisation)."]}
            )
        return owner
    if text.isdigit() and len(text) == 14:
        found = Organisation.objects.filter(siret=text).first()
    else:
        try:
            found = Organisation.objects.filter(pk=uuid.UUID(text)).first()
        except ValueError:
            raise ValidationError(
                {"owner": [f"{text!r} is neither a SIRET (14 digits) nor an organisation UUID."]}
            ) from None
    if found is None:
        raise ValidationError({"owner": [f"No organisation with SIRET or id {text!r} on this node."]})
    return found


def resolve_user(username: str | None) -> Any:
    """The active account a personal client acts for; None when no username is given."""
    if not username:
        return None
    user = get_user_model().objects.filter(username=username, is_active=True).first()
    if user is None:
        raise ValidationError({"user": [f"No active user named {username!r} on this node."]})
    return user


def clients_owned_by(organisation: Any) -> QuerySet[Client]:
    """The clients an organisation manages: its own, never another's (None: none at all)."""
    queryset = Client.objects.select_related("owner", "user")
    if organisation is None:
        return queryset.none()
    return queryset.filter(owner=organisation)


def is_structure_administrator(user: Any, organisation: Any) -> bool:
    """A superuser, or a person with the `administrator` role (StaffMembership) on that structure."""
    if user is None or organisation is None or not getattr(user, "is_authenticated", False):
        return False
    if not user.is_active or getattr(user, "pk", None) is None:
        return False
    if user.is_superuser:
        return True
    from dataspace.node.models import StaffMembership

    return StaffMembership.objects.filter(
        user_id=user.pk, organisation=organisation, role=StaffMembership.Role.ADMINISTRATOR
    ).exists()


def managing_organisation(*, client_id: str | None = None, user: Any = None) -> Any:
    """Whose clients a caller manages, or None when it manages none.

    * A token's calling client (`client_id`) manages its owner's clients; when the token also acts
      for a person (`user`), that person must administer the owner too (rights ∩ scopes).
    * A session manages the node's organisation's clients, for a superuser or an administrator of
      that organisation (`StaffMembership` role `administrator`); other staff only read the admin.
    """
    if client_id:
        caller = Client.objects.select_related("owner").filter(client_id=client_id).first()
        if caller is None or not caller.is_usable():
            return None
        if user is not None and not is_structure_administrator(user, caller.owner):
            return None
        return caller.owner
    organisation = node_organisation()
    return organisation if is_structure_administrator(user, organisation) else None
