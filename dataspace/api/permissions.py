"""What a caller may do on /api/v1/: scopes, public reads, staff roles, depositors and mandates.

Every API view declares `required_scopes = {"read": <scope>, "write": <scope>}` (`write` absent on
a read-only view). `ScopePermission` (the default permission class) then decides:

* **Fail closed** — a view without `required_scopes` refuses everyone (403 `no_scope_declared`);
  a test walks the URL conf so that this never reaches production.
* **Bearer token** — safe methods need the `read` scope, unsafe ones the `write` scope; a token
  lacking it is a 403 `insufficient_scope` with `WWW-Authenticate: Bearer error="insufficient_scope",
  scope="…"` (RFC 6750 §3.1). A `reader` client never writes, whatever its token says. A token
  acting for a person (personal API key, authorization code) has that person's rights intersected
  with its scopes. A machine `depositor` client writes only the records of its owner organisation
  or of a structure that gave it an active mandate (`dataspace.oauth.mandates.may_write_for`),
  checked per record on every write, so a revoked mandate refuses the very next write.
* **No token** — `public_read = True` on a view lets anyone read it (the public programme); any
  other read needs a node staff session, and without credentials it is a 401 with
  `WWW-Authenticate: Bearer realm="…"`. Contacts and anything personal never set `public_read`.
* **Staff sessions (and personal API keys)** — a superuser writes everything; otherwise writing
  needs a `StaffMembership` with role `administrator` or `editor` on the organisation that owns
  the record (role `reader` only reads). An `is_staff` account without any membership is a
  reader: it logs in to the admin and sees options, but writes nothing through the API.

Record-level checks go through `ensure_may_write_owner(request, organisation, scope)`; the
referential views call it for the owner of the record before a change and for the owner it will
have after it. A view may also offer `object_grant(request, obj, scope) -> bool`: an object-level
grant (a co-producer hosting a performance, `dataspace.referentials.permissions`) then lets a
caller who may not write the owner's data change (PUT/PATCH, never DELETE) that one record; the
view is told by its `write_through_grant` attribute and limits the fields that may change.
"""

from __future__ import annotations

import contextlib
import uuid
from typing import Any

from django.utils.translation import gettext as _
from rest_framework import exceptions, permissions
from rest_framework.request import Request

from dataspace.api.auth import (
    bearer_token,
    insufficient_scope_header,
    is_node_staff,
    machine_client,
    person,
    token_client,
)

#: Roles of `dataspace.node.models.StaffMembership` that may write the structure's data.
WRITE_ROLES = frozenset({"administrator", "editor"})
_ROLES_CACHE = "_dataspace_staff_roles"


class InsufficientScope(exceptions.PermissionDenied):
    """403: the access token does not carry the scope the request needs (RFC 6750 §3.1)."""

    default_code = "insufficient_scope"

    def __init__(self, scope: str) -> None:
        detail = _("Cette requête demande la portée « %(scope)s », que le jeton d'accès ne porte pas.") % {
            "scope": scope
        }
        super().__init__(detail, code="insufficient_scope")
        self.auth_header = insufficient_scope_header(scope, f"the token lacks the scope {scope}")
        self.extra = {"scope": scope}


class OwnerForbidden(exceptions.PermissionDenied):
    """403 naming `owner`: the caller may not write data of that organisation."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail, code="permission_denied")
        self.extra = {"fields": {"owner": [detail]}}


# ---------------------------------------------------------------------------- staff roles


def staff_roles(user: Any) -> dict[uuid.UUID, str]:
    """The person's role per organisation (`StaffMembership`), read once per request."""
    cached = getattr(user, _ROLES_CACHE, None)
    if cached is not None:
        return dict(cached)
    from dataspace.node.models import StaffMembership

    roles = dict(StaffMembership.objects.filter(user_id=user.pk).values_list("organisation_id", "role"))
    with contextlib.suppress(AttributeError):  # a user object that refuses attributes: no cache
        setattr(user, _ROLES_CACHE, roles)
    return dict(roles)


def person_may_write(user: Any) -> bool:
    """May the person write anything at all? A superuser, or an administrator/editor somewhere."""
    if user is None or not user.is_active:
        return False
    return bool(user.is_superuser) or any(role in WRITE_ROLES for role in staff_roles(user).values())


def person_may_write_for(user: Any, organisation_id: Any) -> bool:
    """May the person write the data owned by this organisation?"""
    if user is None or not user.is_active:
        return False
    if user.is_superuser:
        return True
    return organisation_id is not None and staff_roles(user).get(organisation_id) in WRITE_ROLES


def ensure_may_write_owner(request: Request, organisation: Any, scope: str) -> None:
    """403 naming `owner` unless the caller may write data owned by `organisation` (None: nobody's)."""
    client = machine_client(request)
    if client is not None:
        from dataspace.oauth.mandates import may_write_for

        if organisation is not None and may_write_for(client, organisation, scope):
            return
        name = str(organisation) if organisation is not None else "no organisation"
        raise OwnerForbidden(
            f"The client {client.client_id} may not write data owned by {name}: a depositor writes only for "
            "its own organisation or for a structure that gave it an active mandate."
        )
    user = person(request)
    if person_may_write_for(user, getattr(organisation, "pk", None)):
        return
    name = str(organisation) if organisation is not None else "no organisation"
    raise OwnerForbidden(
        f"You may not write data owned by {name}: it needs the administrator or editor role on that structure."
    )


# ---------------------------------------------------------------------------- the permission class


def declared_scopes(view: Any) -> dict[str, str]:
    """The view's `required_scopes` ({"read": …, "write": …}); a view without a read scope is
    refused (403 `no_scope_declared`) rather than left open."""
    declared = getattr(view, "required_scopes", None)
    if not isinstance(declared, dict) or not declared.get("read"):
        raise exceptions.PermissionDenied(
            "This endpoint declares no required scopes: refused until it does.", code="no_scope_declared"
        )
    return declared


def _has_handler(view: Any, request: Request) -> bool:
    return bool(request.method) and hasattr(view, str(request.method).lower())


class ScopePermission(permissions.BasePermission):
    """The default permission of the API (see the module docstring)."""

    def has_permission(self, request: Request, view: Any) -> bool:
        declared = declared_scopes(view)
        safe = request.method in permissions.SAFE_METHODS
        if not safe and not _has_handler(view, request):
            return True  # the view answers 405 Method Not Allowed
        needed = declared.get("read" if safe else "write")
        if not needed:
            raise exceptions.PermissionDenied("This endpoint is read-only.", code="read_only")
        token = bearer_token(request)
        if token is not None:
            return self._token_may(request, token.scopes, needed, safe)
        if safe:
            if getattr(view, "public_read", False):
                return True
            if not request.user or not request.user.is_authenticated:
                raise exceptions.NotAuthenticated(
                    f"This endpoint needs an access token with the scope '{needed}' (or a staff session)."
                )
            if is_node_staff(request):
                return True
            raise exceptions.PermissionDenied("Reserved to the node's staff and to tokens with the scope.")
        if not request.user or not request.user.is_authenticated:
            raise exceptions.NotAuthenticated(f"Writing needs an access token with the scope '{needed}'.")
        if person_may_write(person(request)):
            return True
        raise exceptions.PermissionDenied(
            "Writing needs the administrator or editor role on a structure (a reader role only reads)."
        )

    @staticmethod
    def _token_may(request: Request, scopes: frozenset[str], needed: str, safe: bool) -> bool:
        if needed not in scopes:
            raise InsufficientScope(needed)
        if safe:
            return True
        client = token_client(request)
        if client is None or client.kind != "depositor":
            raise exceptions.PermissionDenied(
                "This client is registered as a reader: it never writes, whatever its token says.",
                code="reader_client",
            )
        user = person(request)
        if user is not None and not person_may_write(user):
            raise exceptions.PermissionDenied(
                "The person this token acts for may not write (no administrator or editor role)."
            )
        return True  # the owner of each record is checked by ensure_may_write_owner

    def has_object_permission(self, request: Request, view: Any, obj: Any) -> bool:
        if request.method in permissions.SAFE_METHODS:
            return True
        owning = getattr(view, "owning_organisation", None)
        if owning is None:
            return True
        scope = view.required_scopes["write"]
        try:
            ensure_may_write_owner(request, owning(obj), scope)
        except OwnerForbidden:
            if not _granted_on_object(request, view, obj, scope):
                raise
        return True


#: Set to True on the view when the write goes through an object-level grant (`object_grant`).
WRITE_THROUGH_GRANT = "write_through_grant"


def _granted_on_object(request: Request, view: Any, obj: Any, scope: str) -> bool:
    """An object-level grant (django-guardian) lets a caller who does not write the owner's data
    change this one record, never delete it: the view's `object_grant(request, obj, scope)` decides
    and the view, told by `write_through_grant`, then limits which fields may change."""
    check = getattr(view, "object_grant", None)
    if check is None or request.method not in ("PUT", "PATCH") or not check(request, obj, scope):
        return False
    setattr(view, WRITE_THROUGH_GRANT, True)
    return True
