"""Endpoints a person calls for themself (their professional account, accepting the terms of use).

`PersonPermission` replaces `dataspace.api.permissions.ScopePermission` on these views only: the
caller must be a **person** — a session, or a token acting for a person (a personal API key, an
authorization-code grant) that carries the view's scope — and never a machine client. Unlike
`ScopePermission`, it lets a *reader* client acting for a person POST: accepting the terms of use
writes nothing but that person's own acceptance, so it needs no depositor client and no write
scope (docs/licences.md).
"""

from __future__ import annotations

from typing import Any

from rest_framework import exceptions, permissions
from rest_framework.request import Request

from dataspace.api.auth import bearer_token, person
from dataspace.api.permissions import InsufficientScope, declared_scopes


class PersonRequired(exceptions.PermissionDenied):
    default_code = "person_required"
    default_detail = "This endpoint answers for a person: use a session or a token acting for a person."


class PersonPermission(permissions.BasePermission):
    """A person (session, or a token acting for them with the view's scope); never a machine client."""

    def has_permission(self, request: Request, view: Any) -> bool:
        declared = declared_scopes(view)
        safe = request.method in permissions.SAFE_METHODS
        needed = declared.get("read" if safe else "write") or declared["read"]
        token = bearer_token(request)
        if token is not None and needed not in token.scopes:
            raise InsufficientScope(needed)
        if token is None and (not request.user or not request.user.is_authenticated):
            raise exceptions.NotAuthenticated(
                f"This endpoint needs a session or an access token acting for a person, with the scope '{needed}'."
            )
        if person(request) is None:
            raise PersonRequired()
        return True
