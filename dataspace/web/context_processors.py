"""What every human page knows about the node."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest


def node(request: HttpRequest) -> dict[str, Any]:
    return {"node_name": settings.NODE_NAME, "node_roles": settings.NODE_ROLES, "node_base_url": settings.NODE_BASE_URL}
