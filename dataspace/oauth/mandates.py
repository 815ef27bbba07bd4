"""Mandates: a structure lets a vendor's (depositor) client write its data, until it revokes it.

Contracts for other modules:

* `may_write_for(client, organisation, scope="referentials:write") -> bool` — the write rule the
  API checks on **every** write, for the organisation that owns the data being written;
* `active_mandate(client, structure) -> Mandate | None`;
* `can_manage_mandates(user, structure) -> bool` — only the structure's administrators (a
  `StaffMembership` with role `administrator`) or a superuser grant or revoke;
* `grant_mandate(structure, client, scopes, granted_by, expires_at=None) -> Mandate`,
  `revoke_mandate(mandate, by) -> Mandate` (both raise `PermissionDenied` for anyone else and
  `ValidationError` naming the field for a bad request).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from dataspace.oauth.clients import is_structure_administrator
from dataspace.oauth.models import Client, Mandate
from dataspace.oauth.scopes import UnknownScope, parse_scopes

#: The scope a mandate must cover for `may_write_for` to let a vendor write referentials.
WRITE_SCOPE = "referentials:write"


def can_manage_mandates(user: Any, structure: Any) -> bool:
    """True for a superuser and for the structure's administrators; False for everyone else."""
    return is_structure_administrator(user, structure)


def administered_structures(user: Any) -> QuerySet[Any]:
    """The structures whose mandates `user` may grant and revoke (all of them for a superuser)."""
    from dataspace.referentials.models import Organisation

    if user is None or not user.is_authenticated or not user.is_active:
        return Organisation.objects.none()
    if user.is_superuser:
        return Organisation.objects.all()
    return Organisation.objects.filter(staff_memberships__user=user, staff_memberships__role="administrator").distinct()


def _active(at: dt.datetime) -> Q:
    return Q(revoked_at__isnull=True) & (Q(expires_at__isnull=True) | Q(expires_at__gt=at))


def active_mandate(client: Client, structure: Any, *, at: dt.datetime | None = None) -> Mandate | None:
    """The client's mandate for the structure when it is neither revoked nor expired."""
    if client is None or structure is None:
        return None
    now = at or timezone.now()
    return Mandate.objects.filter(_active(now), client=client, structure=structure).first()


def may_write_for(client: Client, organisation: Any, scope: str = WRITE_SCOPE) -> bool:
    """May `client` write data owned by `organisation`? The API asks on every write.

    True only for a usable (active, unexpired) depositor client, and only when the organisation is
    the client's owner or has given it an active, unexpired mandate covering `scope`. A reader
    client never writes. Because the answer is computed at write time, revoking a mandate takes
    effect on the very next request: access tokens are per client, not per structure, so they are
    left alone (the client keeps writing its owner's data and whatever other mandates allow).
    """
    if client is None or organisation is None:
        return False
    if client.kind != Client.Kind.DEPOSITOR or not client.is_usable():
        return False
    if client.owner_id == organisation.pk:
        return True
    mandate = active_mandate(client, organisation)
    return mandate is not None and scope in (mandate.scopes or [])


def validate_grant(
    structure: Any, client: Client, scopes: Any, granted_by: Any, expires_at: dt.datetime | None = None
) -> list[str]:
    """Check a grant without saving it; returns the parsed scopes. Raises like `grant_mandate`."""
    if not can_manage_mandates(granted_by, structure):
        raise PermissionDenied("Only an administrator of the structure may grant or revoke its mandates.")
    errors: dict[str, list[str]] = {}
    try:
        scope_list = parse_scopes(scopes)
    except UnknownScope as exc:
        raise ValidationError({"scopes": [str(exc)]}) from None
    if not scope_list:
        errors["scopes"] = ["A mandate delegates at least one scope."]
    elif outside := [name for name in scope_list if name not in (client.allowed_scopes or [])]:
        errors["scopes"] = [f"The client is not registered for: {', '.join(outside)}."]
    if client.kind != Client.Kind.DEPOSITOR:
        errors["client"] = ["Only a depositor client can act under a mandate; this one is a reader."]
    elif not client.is_usable():
        errors["client"] = ["This client is disabled or expired."]
    elif client.owner_id == structure.pk:
        errors["client"] = ["This client already belongs to the structure: it needs no mandate."]
    if expires_at is not None and expires_at <= timezone.now():
        errors["expires_at"] = ["The expiry must be in the future."]
    if errors:
        raise ValidationError(errors)
    return scope_list


@transaction.atomic
def grant_mandate(
    structure: Any, client: Client, scopes: Any, granted_by: Any, expires_at: dt.datetime | None = None
) -> Mandate:
    """The structure's administrator lets `client` write for it; replaces any active mandate of the pair.

    The replaced mandate is revoked (stamped with `granted_by`), so the history stays readable.
    """
    scope_list = validate_grant(structure, client, scopes, granted_by, expires_at)
    now = timezone.now()
    Mandate.objects.select_for_update().filter(structure=structure, client=client, revoked_at__isnull=True).update(
        revoked_at=now, revoked_by=granted_by
    )
    return Mandate.objects.create(
        structure=structure, client=client, scopes=scope_list, granted_by=granted_by, expires_at=expires_at
    )


@transaction.atomic
def revoke_mandate(mandate: Mandate, by: Any) -> Mandate:
    """End a mandate at once. Revoking twice keeps the first stamp.

    No token is touched: tokens belong to the client, not to a structure, and `may_write_for` is
    checked on every write, so the next write for this structure is refused immediately.
    """
    if not can_manage_mandates(by, mandate.structure):
        raise PermissionDenied("Only an administrator of the structure may grant or revoke its mandates.")
    locked = Mandate.objects.select_for_update().get(pk=mandate.pk)
    if locked.revoked_at is None:
        locked.revoked_at = timezone.now()
        locked.revoked_by = by
        locked.save(update_fields=["revoked_at", "revoked_by"])
    return locked
