"""Who is calling the API and what they may do: the one seam where OAuth2 plugs in.

Today a write needs a logged-in staff session (Django admin login). The OAuth issue replaces
`DEFAULT_AUTHENTICATION_CLASSES` with a bearer-token class and the permission below with a
scope check; views never look at authentication themselves.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, permissions
from rest_framework.request import Request


class SessionAuthentication(authentication.SessionAuthentication):
    """Django session login, with DRF's CSRF enforcement for unsafe methods."""


def is_node_staff(request: Request) -> bool:
    """True for the node's own staff: they see local-only data (options) and may write."""
    user = request.user
    return bool(user and user.is_authenticated and user.is_staff and user.is_active)


def caller_id(request: Request) -> str:
    """A stable name for whoever sends the request (idempotency keys are scoped by it).

    Sessions give `user:<pk>`; the OAuth issue adds `client:<client_id>` for machine clients here.
    """
    user = request.user
    if user is not None and user.is_authenticated:
        return f"user:{user.pk}"
    return "anonymous"


class StaffWriteOrReadOnly(permissions.BasePermission):
    """Anyone reads public data; only the node's staff write."""

    message = "Écriture réservée au personnel de la structure connecté (session) — authentication required."

    def has_permission(self, request: Request, view: Any) -> bool:
        if request.method in permissions.SAFE_METHODS:
            return True
        return is_node_staff(request)


class SessionAuthenticationScheme(OpenApiAuthenticationExtension):
    """How the OpenAPI schema describes the session login (a cookie set by the admin login)."""

    target_class = "dataspace.api.auth.SessionAuthentication"
    name = "sessionAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {"type": "apiKey", "in": "cookie", "name": settings.SESSION_COOKIE_NAME}
