"""private_key_jwt (RFC 7523): a peer node authenticates with its key, published at its jwks_uri and
fetched over real HTTP; wrong key, unknown kid, replayed jti, wrong audience, expiry are refused."""

from __future__ import annotations

import socket
from typing import Any

import pytest
from joserfc import jwt

from dataspace.oauth import peers, tokens
from dataspace.oauth.models import UsedClientAssertion
from tests.oauth.conftest import Peer, new_peer_key, post_token

pytestmark = pytest.mark.django_db

TOKEN_ENDPOINT = "http://127.0.0.1:8000/oauth/token"
ISSUER = "http://127.0.0.1:8000"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


@pytest.fixture
def node_client(client_factory: Any, peer: Peer) -> Any:
    issued = client_factory(
        "federation:sync directory:search",
        auth_method="private_key_jwt",
        jwks_uri=peer.url,
        name="Nœud pair",
    )
    assert issued.secret is None
    return issued.client


def with_assertion(assertion: str, **extra: Any) -> dict[str, Any]:
    return {
        "grant_type": "client_credentials",
        "client_assertion_type": ASSERTION_TYPE,
        "client_assertion": assertion,
        **extra,
    }


def refused(response: Any) -> None:
    assert response.status_code == 400, response.content
    assert response.json()["error"] == "invalid_client"


def test_peer_gets_a_token_with_its_key(client: Any, node_client: Any, peer: Peer) -> None:
    response = post_token(client, with_assertion(peer.assertion(node_client.client_id, TOKEN_ENDPOINT)))
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["scope"] == "directory:search federation:sync"
    access = tokens.verify_access_token(body["access_token"])
    assert access.subject == node_client.client_id
    assert peer.hits == 1
    # the issuer identifier is an accepted audience too; the key set is cached
    assertion = peer.assertion(node_client.client_id, ISSUER)
    response = post_token(client, with_assertion(assertion, scope="federation:sync"))
    assert response.status_code == 200
    assert response.json()["scope"] == "federation:sync"
    assert peer.hits == 1


def test_deprecated_eddsa_name_is_refused(client: Any, node_client: Any, peer: Peer) -> None:
    """RFC 9864 deprecates "EdDSA"; only the fully-specified "Ed25519" (and ES256) are accepted."""
    with pytest.warns(Warning, match="EdDSA is deprecated"):
        assertion = peer.assertion(node_client.client_id, TOKEN_ENDPOINT, alg="EdDSA")
    refused(post_token(client, with_assertion(assertion)))


def test_assertion_signed_with_another_key_is_refused(client: Any, node_client: Any, peer: Peer) -> None:
    impostor = new_peer_key()
    # claims the peer's key id, but signs with its own key
    assertion = jwt.encode(
        {"alg": "Ed25519", "kid": peer.key.kid},
        {"iss": node_client.client_id, "sub": node_client.client_id, "aud": TOKEN_ENDPOINT, "exp": 4102444800,
         "jti": "impostor-1"},
        impostor,
        algorithms=["Ed25519"],
    )  # fmt: skip
    refused(post_token(client, with_assertion(assertion)))


def test_unknown_kid_is_refused_after_one_refetch(client: Any, node_client: Any, peer: Peer, monkeypatch: Any) -> None:
    monkeypatch.setattr(peers, "REFETCH_INTERVAL", 0.0)
    assert post_token(client, with_assertion(peer.assertion(node_client.client_id, TOKEN_ENDPOINT))).status_code == 200
    assert peer.hits == 1
    stranger = new_peer_key()
    refused(post_token(client, with_assertion(peer.assertion(node_client.client_id, TOKEN_ENDPOINT, key=stranger))))
    assert peer.hits == 2  # the cached set lacked the kid: refetched once, still unknown, refused


def test_key_rotation_is_picked_up_by_refetching(client: Any, node_client: Any, peer: Peer, monkeypatch: Any) -> None:
    monkeypatch.setattr(peers, "REFETCH_INTERVAL", 0.0)
    assert post_token(client, with_assertion(peer.assertion(node_client.client_id, TOKEN_ENDPOINT))).status_code == 200
    new_key = new_peer_key()
    peer.keys.insert(0, new_key)
    response = post_token(client, with_assertion(peer.assertion(node_client.client_id, TOKEN_ENDPOINT, key=new_key)))
    assert response.status_code == 200
    assert peer.hits == 2


def test_refetch_is_rate_limited(client: Any, node_client: Any, peer: Peer) -> None:
    stranger = new_peer_key()
    for _ in range(3):
        assertion = peer.assertion(node_client.client_id, TOKEN_ENDPOINT, key=stranger)
        refused(post_token(client, with_assertion(assertion)))
    assert peer.hits == 1


def test_replayed_jti_is_refused(client: Any, node_client: Any, peer: Peer) -> None:
    assertion = peer.assertion(node_client.client_id, TOKEN_ENDPOINT, jti="once-only")
    assert post_token(client, with_assertion(assertion)).status_code == 200
    refused(post_token(client, with_assertion(assertion)))
    # a new assertion with the same jti is a replay too
    refused(post_token(client, with_assertion(peer.assertion(node_client.client_id, TOKEN_ENDPOINT, jti="once-only"))))
    assert UsedClientAssertion.objects.filter(jti="once-only").count() == 1


@pytest.mark.parametrize("audience", ["https://other-node.example/oauth/token", "http://127.0.0.1:8000/oauth/revoke"])
def test_wrong_audience_is_refused(client: Any, node_client: Any, peer: Peer, audience: str) -> None:
    refused(post_token(client, with_assertion(peer.assertion(node_client.client_id, audience))))


def test_expired_assertion_is_refused(client: Any, node_client: Any, peer: Peer) -> None:
    assertion = peer.assertion(node_client.client_id, TOKEN_ENDPOINT, lifetime=-120, iat=0)
    refused(post_token(client, with_assertion(assertion)))


def test_long_lived_assertion_is_refused(client: Any, node_client: Any, peer: Peer) -> None:
    refused(post_token(client, with_assertion(peer.assertion(node_client.client_id, TOKEN_ENDPOINT, lifetime=86400))))


def test_issuer_must_be_the_subject(client: Any, node_client: Any, peer: Peer) -> None:
    assertion = peer.assertion(node_client.client_id, TOKEN_ENDPOINT, iss="someone-else")
    refused(post_token(client, with_assertion(assertion)))


def test_missing_jti_is_refused(client: Any, node_client: Any, peer: Peer) -> None:
    now = 2000000000
    assertion = jwt.encode(
        {"alg": "Ed25519", "kid": peer.key.kid},
        {"iss": node_client.client_id, "sub": node_client.client_id, "aud": TOKEN_ENDPOINT, "exp": now},
        peer.key,
        algorithms=["Ed25519"],
    )
    refused(post_token(client, with_assertion(assertion)))


def test_secret_client_cannot_use_an_assertion(client: Any, client_factory: Any, peer: Peer) -> None:
    secret_client = client_factory("federation:sync", jwks_uri=peer.url).client
    refused(post_token(client, with_assertion(peer.assertion(secret_client.client_id, TOKEN_ENDPOINT))))


def test_key_client_cannot_use_a_secret(client: Any, node_client: Any) -> None:
    data = {"grant_type": "client_credentials", "client_id": node_client.client_id, "client_secret": "guess"}
    assert post_token(client, data).json()["error"] == "invalid_client"


def test_unreachable_peer_fails_closed(client: Any, node_client: Any, peer: Peer) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    node_client.jwks_uri = f"http://127.0.0.1:{port}/jwks.json"  # nothing listens there
    node_client.save()
    refused(post_token(client, with_assertion(peer.assertion(node_client.client_id, TOKEN_ENDPOINT))))


def test_plain_http_jwks_uri_off_loopback_is_refused(settings: Any) -> None:
    with pytest.raises(peers.PeerKeysError):
        peers.key_set("http://peer.example/.well-known/jwks.json")
    settings.OAUTH_ALLOW_INSECURE_LOOPBACK = False
    with pytest.raises(peers.PeerKeysError):
        peers.key_set("http://127.0.0.1:9/.well-known/jwks.json")
