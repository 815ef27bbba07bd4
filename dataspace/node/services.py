"""Initialising the node and describing it to others."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from dataspace.node import keys
from dataspace.node.models import NodeIdentity

PROTOCOL_VERSION = "1.0"


def initialise_node(*, rotate: bool = False) -> tuple[NodeIdentity, keys.NodeKey, bool]:
    """Ensure the node has its metadata row and a key pair. Idempotent unless `rotate`.

    Returns the identity, the signing key and whether a new key was created.
    """
    identity, _created = NodeIdentity.objects.update_or_create(
        pk=1,
        defaults={"name": settings.NODE_NAME, "base_url": settings.NODE_BASE_URL, "roles": list(settings.NODE_ROLES)},
    )
    existing = keys.load_keys()
    if existing and not rotate:
        return identity, existing[0], False
    new_key = keys.generate_key(timezone.now().strftime("%Y%m%dT%H%M%S%fZ"))
    return identity, new_key, True


def current_identity() -> NodeIdentity | None:
    return NodeIdentity.objects.select_related("organisation").filter(pk=1).first()


def node_metadata() -> dict[str, Any]:
    """The document served at /.well-known/dataspace-node (DESIGN.md §4)."""
    base = settings.NODE_BASE_URL
    identity = current_identity()
    document: dict[str, Any] = {
        "id": f"{base}/.well-known/dataspace-node",
        "name": settings.NODE_NAME,
        "roles": list(settings.NODE_ROLES),
        "base_url": base,
        "api": f"{base}/api/v1/",
        "jwks_uri": f"{base}{reverse('node:jwks')}",
        "catalog": f"{base}/api/v1/catalog",
        "changes": f"{base}/api/v1/changes",
        "openapi": f"{base}/api/schema/",
        "calendar": f"{base}/feeds/performances.ics",
        "version": PROTOCOL_VERSION,
        "initialised": identity is not None,
    }
    if identity is not None and identity.organisation is not None:
        document["organisation"] = {"id": identity.organisation.uri, "name": identity.organisation.name}
    return document


def jwks() -> dict[str, Any]:
    return {"keys": [key.public_jwk() for key in keys.load_keys()]}
