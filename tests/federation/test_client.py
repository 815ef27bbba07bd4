"""NodeClient over real HTTP (pytest-django's live server): a private_key_jwt token got with a signed
token request and cached, signed calls, verified signed answers, typed failures."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from dataspace.oauth import peers
from dataspace.oauth.models import Client, IssuedToken
from dataspace.oauth.tokens import revoke_jti, verify_access_token
from federation import client as node_client
from federation.client import NodeClient, PeerDenied, PeerFailed, PeerTimeout, PeerUnreachable, post_signed
from federation.models import SeenNonce
from tests.conftest import node_signing_key
from tests.factories import OrganisationFactory
from tests.federation.receiver import Receiver, free_port
from tests.federation.signed import new_key

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _node_key() -> None:
    node_signing_key()


@pytest.fixture
def node(live_server: Any, settings: Any) -> Iterator[str]:
    """The live server is the peer node; it also calls itself (its own key is trusted)."""
    settings.NODE_BASE_URL = live_server.url
    node_signing_key()
    peers.clear_cache()
    node_client.forget_tokens()
    yield live_server.url
    node_client.forget_tokens()
    peers.clear_cache()


@pytest.fixture
def registered(node: str) -> Client:
    """This node registered as a private_key_jwt client of the peer (as membership does)."""
    return Client.objects.create(
        client_id=node,
        name="Nœud pair",
        owner=OrganisationFactory(),
        kind="reader",
        allowed_scopes=["federation:sync", "referentials:read"],
        grant_types=["client_credentials"],
        token_endpoint_auth_method="private_key_jwt",
        jwks_uri=f"{node}/.well-known/jwks.json",
    )


def test_a_scoped_call_gets_a_token_once_and_reads_the_feed(node: str, registered: Client) -> None:
    api = NodeClient(node)
    response = api.get("/api/v1/changes", params={"limit": 5}, scope="federation:sync")
    assert response.status_code == 200, response.text
    assert "changes" in response.json()
    [issued] = IssuedToken.objects.all()
    assert issued.client_id == registered.pk
    assert issued.scope == "federation:sync"
    # the cached token serves the next calls; every call is signed with a fresh nonce
    assert api.get("/api/v1/changes", scope="federation:sync").status_code == 200
    assert IssuedToken.objects.count() == 1
    assert SeenNonce.objects.count() == 3  # the token request and two calls
    # the assertion was private_key_jwt: iss = sub = this node's base URL
    token = node_client._cached_token(node, "federation:sync")
    assert token is not None
    assert verify_access_token(token).client_id == node


def test_a_revoked_cached_token_is_replaced_once(node: str, registered: Client) -> None:
    api = NodeClient(node)
    assert api.get("/api/v1/changes", scope="federation:sync").status_code == 200
    [first] = IssuedToken.objects.all()
    assert revoke_jti(first.jti)
    assert api.get("/api/v1/changes", scope="federation:sync").status_code == 200
    assert IssuedToken.objects.count() == 2


def test_other_client_errors_are_returned_as_they_are(node: str, registered: Client) -> None:
    response = NodeClient(node).get("/api/v1/changes", params={"since": "pas-un-curseur"}, scope="federation:sync")
    assert response.status_code == 400
    assert response.json()["error"]
    assert "Signature" in response.headers  # signed and verified like any answer


def test_a_scope_the_node_was_not_granted_is_denied(node: str, registered: Client) -> None:
    with pytest.raises(PeerDenied) as denied:
        NodeClient(node).get("/api/v1/changes", scope="indicators:aggregate")
    assert denied.value.status == 400
    assert denied.value.node == node
    assert "token refused" in denied.value.detail


def test_a_node_that_is_not_a_client_is_denied(node: str) -> None:
    with pytest.raises(PeerDenied) as denied:
        NodeClient(node).get("/api/v1/changes", scope="federation:sync")
    assert "invalid_client" in denied.value.detail


def test_a_call_without_token_to_a_protected_path_is_denied(node: str) -> None:
    with pytest.raises(PeerDenied) as denied:
        NodeClient(node).get("/api/v1/contacts/")
    assert denied.value.status in (401, 403)


def test_a_public_call_without_scope(node: str) -> None:
    response = NodeClient(node).get("/.well-known/dataspace-node")
    assert response.json()["base_url"] == node


def test_an_answer_signed_by_another_node_is_not_trusted(node: str, settings: Any) -> None:
    """The same server reached under another name (localhost / 127.0.0.1): the request was signed
    for a target that is not this node's, the answer by a key of another node — refused either way."""
    other = node.replace("localhost", "127.0.0.1") if "localhost" in node else node.replace("127.0.0.1", "localhost")
    assert other != node
    with pytest.raises((PeerFailed, PeerDenied)):
        NodeClient(other).get("/.well-known/dataspace-node")


def test_an_unsigned_answer_is_a_failure() -> None:
    receiver = Receiver(status=200).start()
    try:
        with pytest.raises(PeerFailed) as failed:
            NodeClient(receiver.url).post("/api/v1/federation/search", json={"endpoint": "directory"})
        assert "signature" in failed.value.detail
        [got] = receiver.received
        assert "sig1=" in got.headers["signature"]
    finally:
        receiver.stop()


def test_a_server_error_is_a_failure() -> None:
    receiver = Receiver(status=503).start()
    try:
        with pytest.raises(PeerFailed) as failed:
            NodeClient(receiver.url).post("/x", json={})
        assert "503" in failed.value.detail
    finally:
        receiver.stop()


def test_nobody_listening_is_unreachable() -> None:
    base = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(PeerUnreachable) as unreachable:
        NodeClient(base).get("/api/v1/changes")
    assert unreachable.value.node == base
    with pytest.raises(PeerUnreachable):
        post_signed(f"{base}/api/v1/federation/notices", {"id": "x"})


@pytest.fixture
def hung() -> Iterator[str]:
    """A server that accepts connections and never answers."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _addr = server.accept()
                accepted.append(conn)
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}"
    stop.set()
    thread.join(timeout=2)
    for conn in accepted:
        conn.close()
    server.close()


def test_a_hung_node_times_out(hung: str) -> None:
    import time

    started = time.monotonic()
    with pytest.raises(PeerTimeout):
        NodeClient(hung, timeout=0.5).get("/api/v1/changes")
    assert time.monotonic() - started < 2.0
    with pytest.raises(PeerTimeout):
        NodeClient(hung).get("/api/v1/changes", timeout=0.3)


def test_post_signed_with_another_key(node: str) -> None:
    """post_signed signs with the key given (a node announcing a rotation signs with its old key)."""
    stranger = new_key()
    response = post_signed(f"{node}/api/v1/federation/notices", {"id": "x"}, key=stranger)
    assert response.status_code == 401
    assert response.json()["fields"] == {"signature": ["unknown_key"]}
    # plain httpx reaches the same path unsigned: told to sign
    assert httpx.post(f"{node}/api/v1/federation/notices", json={}).json()["error"] == "signature_required"
