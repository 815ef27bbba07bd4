"""node_init, /.well-known/dataspace-node and /.well-known/jwks.json."""

from __future__ import annotations

import base64
import stat
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from django.core.management import CommandError, call_command

from dataspace.node import keys


def _b64(value: str) -> bytes:
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))


@pytest.mark.django_db
def test_node_init_creates_private_key_readable_only_by_owner(settings: Any) -> None:
    call_command("node_init")
    files = list(settings.NODE_KEY_DIR.glob("*.pem"))
    assert len(files) == 1
    assert stat.S_IMODE(files[0].stat().st_mode) == 0o600
    assert stat.S_IMODE(settings.NODE_KEY_DIR.stat().st_mode) == 0o700


@pytest.mark.django_db
def test_node_init_is_idempotent_and_rotate_adds_a_key(settings: Any) -> None:
    call_command("node_init")
    first = keys.signing_key().kid
    call_command("node_init")
    assert keys.signing_key().kid == first
    call_command("node_init", "--rotate")
    kids = [key.kid for key in keys.load_keys()]
    assert len(kids) == 2
    assert kids[1] == first
    assert kids[0] != first


@pytest.mark.django_db
def test_private_key_too_widely_readable_is_refused(settings: Any) -> None:
    call_command("node_init")
    path = next(settings.NODE_KEY_DIR.glob("*.pem"))
    path.chmod(0o644)
    with pytest.raises(CommandError, match="readable by others"):
        call_command("node_init")


@pytest.mark.django_db
def test_private_key_never_stored_in_database(settings: Any) -> None:
    from django.db import connection

    call_command("node_init")
    pem = next(settings.NODE_KEY_DIR.glob("*.pem")).read_text()
    body = "".join(pem.strip().splitlines()[1:-1])
    with connection.cursor() as cursor:
        cursor.execute("SELECT name, base_url, roles FROM node_nodeidentity")
        rows = cursor.fetchall()
    assert rows
    assert body not in repr(rows)


@pytest.mark.django_db
def test_well_known_dataspace_node(client: Any, settings: Any) -> None:
    settings.NODE_ROLES = ["structure"]
    call_command("node_init")
    response = client.get("/.well-known/dataspace-node")
    assert response.status_code == 200
    body = response.json()
    for field in ("id", "name", "roles", "base_url", "api", "jwks_uri", "catalog", "version"):
        assert field in body, field
    assert body["roles"] == ["structure"]
    assert body["jwks_uri"] == f"{settings.NODE_BASE_URL}/.well-known/jwks.json"
    assert body["api"] == f"{settings.NODE_BASE_URL}/api/v1/"


@pytest.mark.django_db
def test_jwks_publishes_a_usable_ed25519_public_key(client: Any) -> None:
    call_command("node_init")
    jwks = client.get("/.well-known/jwks.json").json()
    (jwk,) = jwks["keys"]
    assert jwk["kty"] == "OKP"
    assert jwk["crv"] == "Ed25519"
    assert "d" not in jwk
    public = Ed25519PublicKey.from_public_bytes(_b64(jwk["x"]))
    signature = keys.signing_key().private_key.sign(b"scene commune")
    public.verify(signature, b"scene commune")  # raises if the published key is not ours
    assert jwk["kid"] == keys.signing_key().kid


@pytest.mark.django_db
def test_post_to_well_known_is_refused(client: Any) -> None:
    assert client.post("/.well-known/dataspace-node").status_code == 405


@pytest.mark.django_db
def test_healthz_and_readyz(client: Any) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"]["database"] == "ok"
