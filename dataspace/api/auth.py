"""Who is calling the API and what they may do: the one seam where OAuth2 plugs in.

Today a write needs a logged-in staff session (Django admin login). The OAuth issue replaces
`DEFAULT_AUTHENTICATION_CLASSES` with a bearer-token class and the permission below with a
scope check; views never look at authentication themselves.
"""

from __future__ import annotations

from typing import Any

from rest_framework import authentication, permissions
from rest_framework.request import Request


class SessionAuthentication(authentication.SessionAuthentication):
    """Django session login, with DRF's CSRF enforcement for unsafe methods."""


def is_node_staff(request: Request) -> bool:
    """True for the node's own staff: they see local-only data (options) and may write."""
    user = request.user
    return bool(user and user.is_authenticated and user.is_staff and user.is_active)


class StaffWriteOrReadOnly(permissions.BasePermission):
    """Anyone reads public data; only the node's staff write."""

    message = "Écriture réservée au personnel de la structure connecté (session) — authentication required."

    def has_permission(self, request: Request, view: Any) -> bool:
        if request.method in permissions.SAFE_METHODS:
            return True
        return is_node_staff(request)
