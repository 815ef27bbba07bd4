"""Registering clients and checking their secrets: the operations every entry point calls
(the admin, the `oauth_client` command, the clients API, the token endpoint)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from dataspace.oauth import secrets
from dataspace.oauth.models import Client, ClientSecret
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
