"""RFC 9421 signed calls: the request profile, every refusal (401, journaled), signed responses bound
to their request, and a peer node's bearer token that is useless without its node's signature."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import httpx
import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from dataspace.audit.models import JournalEntry
from dataspace.oauth.models import Client
from federation import signing
from federation.models import SeenNonce
from tests.conftest import mint_token, node_signing_key
from tests.factories import OrganisationFactory
from tests.federation.signed import SignedAPIClient, meta, new_key, node_url, register_peer, sign_with

pytestmark = pytest.mark.django_db

PEER = "https://pair.example"
METADATA = "/.well-known/dataspace-node"
CHANGES = "/api/v1/changes"


@pytest.fixture(autouse=True)
def _node_key() -> None:
    node_signing_key()


@pytest.fixture
def peer_key() -> Any:
    return register_peer(PEER)[1]


def send(method: str, path: str, headers: dict[str, str], body: bytes = b"", content_type: str = "") -> Any:
    """Send exactly these headers and body through the test client (no signing of its own)."""
    extra = meta(headers)
    if content_type:
        extra["CONTENT_TYPE"] = content_type
    return APIClient().generic(method, path, body, content_type or "application/octet-stream", **extra)


def signed(
    key: Any, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None, **kwargs: Any
) -> dict[str, str]:
    return signing.sign_request_headers(method, node_url(path), headers or {}, body, key=key, **kwargs)


def refusals(code: str) -> list[JournalEntry]:
    return list(JournalEntry.objects.filter(action="federation.signature_refused", reason_code=code))


def assert_refused(response: Any, code: str, *, path: str, keyid: str = "") -> None:
    assert response.status_code == 401, response.content
    body = response.json()
    assert body["error"] == "invalid_signature"
    assert body["fields"] == {"signature": [code]}
    assert body["detail"] == str(signing.DETAILS[code]) or code == "malformed"
    assert "Signature" not in response.headers  # nothing to bind a response to
    [entry] = refusals(code)
    assert entry.stream == "access"
    assert entry.decision == "deny"
    assert entry.details["path"] == path
    assert entry.details["method"] in ("GET", "POST")
    if keyid:
        assert entry.details["keyid"] == keyid


def as_httpx(response: Any, method: str, path: str, sent: dict[str, str]) -> httpx.Response:
    """A Django test response seen as the httpx response a client would have received."""
    return httpx.Response(
        response.status_code,
        headers=list(response.items()),
        content=response.content,
        request=httpx.Request(method, node_url(path), headers=sent),
    )


# ---------------------------------------------------------------------------- accepted


def test_unsigned_requests_pass_untouched() -> None:
    response = APIClient().get(METADATA)
    assert response.status_code == 200
    assert "Signature" not in response.headers
    assert "Content-Digest" not in response.headers
    assert SeenNonce.objects.count() == 0
    assert JournalEntry.objects.filter(action__startswith="federation.").count() == 0


def test_the_signature_profile() -> None:
    key = new_key()
    headers = signing.sign_request_headers(
        "post",
        "https://n.example/api/v1/x?a=1",
        {"Content-Type": "application/json", "Authorization": "Bearer t", "On-Behalf-Of": "jws", "Accept": "*/*"},
        b'{"a":1}',
        key=key,
    )
    assert headers["Content-Digest"].startswith("sha-256=:")
    assert headers["Signature"].startswith("sig1=:")
    signature_input = headers["Signature-Input"]
    assert signature_input.startswith(
        'sig1=("@method" "@target-uri" "content-digest" "content-type" "authorization" "on-behalf-of");'
    )
    for part in (f'keyid="{key.kid}"', 'alg="ed25519"', 'tag="scene-commune"', "created=", "expires=", "nonce="):
        assert part in signature_input
    params = dict(p.split("=", 1) for p in signature_input.split(";")[1:])
    assert int(params["expires"]) - int(params["created"]) == 60  # FEDERATION_SIGNATURE_TTL
    assert len(params["nonce"].strip('"')) >= 22  # ≥ 128 bits
    # only what is present is covered; a second signing has another nonce
    again = signing.sign_request_headers("GET", "https://n.example/", {}, b"", key=key)
    assert again["Signature-Input"].startswith('sig1=("@method" "@target-uri" "content-digest");')
    assert again["Signature-Input"].split("nonce=")[1] != signature_input.split("nonce=")[1]


def test_a_signed_request_is_accepted_and_its_response_signed_and_bound(peer_key: Any) -> None:
    api = SignedAPIClient(peer_key)
    response = api.get(METADATA)
    assert response.status_code == 200
    assert response.headers["Signature-Input"].startswith(
        'sig1=("@status" "content-digest" "content-type" "signature";req;key="sig1");'
    )
    mine = node_signing_key()
    assert f'keyid="{mine.kid}"' in response.headers["Signature-Input"]
    assert SeenNonce.objects.filter(key_id=peer_key.kid).count() == 1

    # the caller verifies the answer with this node's keys (own keys: the node is the peer here)
    own = signing.own_keys()
    answer = as_httpx(response, "GET", METADATA, api.last_sent)
    base = signing.own_keys()[mine.kid][0].base_url
    signing.verify_response(answer, peer_base_url=base, request_headers=api.last_sent, keys=own)

    # a tampered answer, an answer from another node, an answer to another request: refused
    forged = httpx.Response(
        response.status_code,
        headers=list(response.items()),
        content=response.content.replace(b"scene-commune", b"scene-pirate"),
        request=answer.request,
    )
    with pytest.raises(signing.SignatureRefused) as refused:
        signing.verify_response(forged, peer_base_url=base, request_headers=api.last_sent, keys=own)
    assert refused.value.code == "bad_digest"
    with pytest.raises(signing.SignatureRefused) as refused:
        signing.verify_response(answer, peer_base_url="https://autre.example", request_headers=api.last_sent, keys=own)
    assert refused.value.code == "unknown_key"
    other_request = signed(peer_key, "GET", METADATA)
    with pytest.raises(signing.SignatureRefused) as refused:
        signing.verify_response(answer, peer_base_url=base, request_headers=other_request, keys=own)
    assert refused.value.code in ("malformed", "bad_signature")
    unsigned = httpx.Response(200, json={"ok": True}, request=answer.request)
    with pytest.raises(signing.SignatureRefused) as refused:
        signing.verify_response(unsigned, peer_base_url=base, request_headers=api.last_sent, keys=own)
    assert refused.value.code == "missing_signature"


def test_a_signed_post_with_a_json_body(peer_key: Any) -> None:
    body = json.dumps({"purpose": "touring"}).encode()
    headers = signed(peer_key, "POST", METADATA, body, {"Content-Type": "application/json"})
    response = send("POST", METADATA, headers, body, "application/json")
    assert response.status_code == 405  # the signature held; the view does not take POST
    assert "Signature" in response.headers


# ---------------------------------------------------------------------------- refused, and journaled


def test_a_replayed_request_is_refused(peer_key: Any) -> None:
    headers = signed(peer_key, "GET", METADATA)
    assert send("GET", METADATA, headers).status_code == 200
    assert_refused(send("GET", METADATA, headers), "replayed", path=METADATA, keyid=peer_key.kid)
    [entry] = refusals("replayed")
    assert entry.details["claimed_node"] == PEER
    assert entry.node == PEER


def test_an_expired_signature_is_refused(peer_key: Any) -> None:
    headers = signed(peer_key, "GET", METADATA, now=timezone.now() - dt.timedelta(minutes=5))
    assert_refused(send("GET", METADATA, headers), "expired", path=METADATA, keyid=peer_key.kid)


def test_a_signature_from_the_future_is_refused(peer_key: Any) -> None:
    headers = signed(peer_key, "GET", METADATA, now=timezone.now() + dt.timedelta(minutes=5))
    assert_refused(send("GET", METADATA, headers), "not_yet_valid", path=METADATA)


def test_within_the_clock_skew_is_accepted(peer_key: Any) -> None:
    late = signed(peer_key, "GET", METADATA, now=timezone.now() - dt.timedelta(seconds=80))  # expired 20 s ago
    assert send("GET", METADATA, late).status_code == 200
    early = signed(peer_key, "GET", METADATA, now=timezone.now() + dt.timedelta(seconds=20))
    assert send("GET", METADATA, early).status_code == 200


def test_a_tampered_body_is_refused(peer_key: Any) -> None:
    body = b'{"withdrawn": true}'
    headers = signed(peer_key, "POST", METADATA, body, {"Content-Type": "application/json"})
    response = send("POST", METADATA, headers, b'{"withdrawn": false}', "application/json")
    assert_refused(response, "bad_digest", path=METADATA, keyid=peer_key.kid)


def test_a_digest_recomputed_for_the_tampered_body_breaks_the_signature(peer_key: Any) -> None:
    from http_message_signatures import ContentDigest

    body, tampered = b'{"withdrawn": true}', b'{"withdrawn": false}'
    headers = signed(peer_key, "POST", METADATA, body, {"Content-Type": "application/json"})
    headers["Content-Digest"] = ContentDigest.create(tampered)
    response = send("POST", METADATA, headers, tampered, "application/json")
    assert_refused(response, "bad_signature", path=METADATA, keyid=peer_key.kid)


def test_a_wrong_digest_is_refused(peer_key: Any) -> None:
    headers = signed(peer_key, "GET", METADATA)
    headers["Content-Digest"] = "sha-256=:" + "A" * 43 + "=:"
    assert_refused(send("GET", METADATA, headers), "bad_digest", path=METADATA)


@pytest.mark.parametrize(
    ("header", "value"),
    [("Authorization", "Bearer another-token"), ("On-Behalf-Of", "another.attestation.jws")],
)
def test_a_tampered_header_is_refused(peer_key: Any, header: str, value: str) -> None:
    headers = signed(peer_key, "GET", METADATA, headers={header: "original"})
    headers[header] = value
    assert_refused(send("GET", METADATA, headers), "bad_signature", path=METADATA)


def test_a_tampered_target_is_refused(peer_key: Any) -> None:
    headers = signed(peer_key, "GET", METADATA + "?a=1")
    assert_refused(send("GET", METADATA + "?a=2", headers), "bad_signature", path=METADATA)


def test_a_request_signed_for_another_node_is_refused(peer_key: Any) -> None:
    headers = signing.sign_request_headers("GET", f"https://autre-noeud.example{METADATA}", {}, b"", key=peer_key)
    assert_refused(send("GET", METADATA, headers), "bad_signature", path=METADATA)


def test_an_unknown_key_is_refused(peer_key: Any) -> None:
    stranger = new_key()
    headers = signed(stranger, "GET", METADATA)
    assert_refused(send("GET", METADATA, headers), "unknown_key", path=METADATA, keyid=stranger.kid)
    [entry] = refusals("unknown_key")
    assert entry.details["claimed_node"] == ""
    # claiming a member's key id does not help: the signature is checked with the member's key
    headers = signed(stranger, "GET", METADATA)
    headers["Signature-Input"] = headers["Signature-Input"].replace(stranger.kid, peer_key.kid)
    assert send("GET", METADATA, headers).json()["fields"] == {"signature": ["bad_signature"]}


@pytest.mark.parametrize(
    ("covered", "headers"),
    [
        (("@method", "@target-uri"), {}),  # no content-digest
        (("@method", "content-digest"), {}),  # no target
        (("@target-uri", "content-digest"), {}),  # no method
        (("@method", "@target-uri", "content-digest"), {"Authorization": "Bearer t"}),  # token not covered
        (("@method", "@target-uri", "content-digest"), {"On-Behalf-Of": "jws"}),  # attestation not covered
    ],
)
def test_a_missing_component_is_refused(peer_key: Any, covered: tuple[str, ...], headers: dict[str, str]) -> None:
    signed_headers = sign_with(peer_key, "GET", node_url(METADATA), headers, b"", covered=covered)
    response = send("GET", METADATA, signed_headers)
    assert_refused(response, "malformed", path=METADATA, keyid=peer_key.kid)
    assert "ne couvre pas" in response.json()["detail"]


def test_a_body_whose_content_type_is_not_covered_is_refused(peer_key: Any) -> None:
    body = b'{"a": 1}'
    covered = ("@method", "@target-uri", "content-digest")
    headers = sign_with(
        peer_key, "POST", node_url(METADATA), {"Content-Type": "application/json"}, body, covered=covered
    )
    assert_refused(send("POST", METADATA, headers, body, "application/json"), "malformed", path=METADATA)


@pytest.mark.parametrize(
    ("params", "why"),
    [
        ({"nonce": None}, "nonce"),
        ({"nonce": "short"}, "nonce"),
        ({"expires": None}, "created et expires"),
        ({"tag": "autre-profil"}, ""),
    ],
)
def test_malformed_parameters_are_refused(peer_key: Any, params: dict[str, Any], why: str) -> None:
    headers = sign_with(
        peer_key,
        "GET",
        node_url(METADATA),
        {},
        b"",
        covered=("@method", "@target-uri", "content-digest"),
        params=params,
    )
    response = send("GET", METADATA, headers)
    if params.get("tag"):
        assert_refused(response, "missing_signature", path=METADATA)  # not a signature of our profile
    else:
        assert_refused(response, "malformed", path=METADATA)
        assert why in response.json()["detail"]


def test_a_long_lived_signature_is_refused(peer_key: Any) -> None:
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    headers = sign_with(
        peer_key,
        "GET",
        node_url(METADATA),
        {},
        b"",
        covered=("@method", "@target-uri", "content-digest"),
        params={"created": now, "expires": now + dt.timedelta(days=1)},
    )
    assert_refused(send("GET", METADATA, headers), "malformed", path=METADATA)


def test_unreadable_or_incomplete_signature_fields_are_refused(peer_key: Any) -> None:
    headers = signed(peer_key, "GET", METADATA)
    del headers["Signature"]
    assert_refused(send("GET", METADATA, headers), "missing_signature", path=METADATA)
    garbled = signed(peer_key, "GET", METADATA)
    garbled["Signature-Input"] = "sig1=(((«"
    response = send("GET", METADATA, garbled)
    assert response.status_code == 401
    assert response.json()["fields"] == {"signature": ["malformed"]}


def test_two_signatures_of_the_profile_are_refused(peer_key: Any) -> None:
    first = signed(peer_key, "GET", METADATA)
    second = signed(peer_key, "GET", METADATA)
    both = dict(first)
    both["Signature-Input"] = first["Signature-Input"] + ", " + second["Signature-Input"].replace("sig1=", "sig2=", 1)
    both["Signature"] = first["Signature"] + ", " + second["Signature"].replace("sig1=", "sig2=", 1)
    assert_refused(send("GET", METADATA, both), "malformed", path=METADATA)


# ---------------------------------------------------------------------------- nonces


def test_the_nonce_store_forgets_expired_nonces(peer_key: Any) -> None:
    assert send("GET", METADATA, signed(peer_key, "GET", METADATA)).status_code == 200
    [seen] = SeenNonce.objects.all()
    assert seen.expires_at > timezone.now()
    assert signing.purge_nonces() == 0
    assert signing.purge_nonces(now=seen.expires_at + dt.timedelta(seconds=1)) == 1
    assert SeenNonce.objects.count() == 0


def test_verify_message_with_explicit_keys_proof_of_possession() -> None:
    """A joining node's key is trusted by nobody yet: the registry checks it with the keys sent."""
    key = new_key()
    url = "https://registre.example/api/v1/federation/members"
    body = b'{"jwks": {}}'
    headers = signing.sign_request_headers("POST", url, {"Content-Type": "application/json"}, body, key=key)
    newcomer = signing.SignedPeer(base_url="https://nouveau.example", name="Nouveau", roles=("structure",), kid="")
    with pytest.raises(signing.SignatureRefused) as refused:
        signing.verify_message("POST", url, headers, body)  # not a member
    assert refused.value.code == "unknown_key"
    verified = signing.verify_message("POST", url, headers, body, keys={key.kid: (newcomer, key.public_key)})
    assert verified.peer.base_url == "https://nouveau.example"
    assert verified.peer.kid == key.kid


# ---------------------------------------------------------------------------- a peer node's token


def peer_client(node: str = PEER) -> tuple[Client, str]:
    client = Client.objects.create(
        client_id=node,
        name="Nœud pair",
        owner=OrganisationFactory(),
        kind="reader",
        allowed_scopes=["federation:sync"],
        grant_types=["client_credentials"],
        token_endpoint_auth_method="private_key_jwt",
        jwks_uri=f"{node}/.well-known/jwks.json",
    )
    token, _issued = mint_token(client, "federation:sync")
    return client, token


def test_a_stolen_peer_token_without_its_nodes_signature_is_refused(peer_key: Any) -> None:
    _client, token = peer_client()
    # stolen: used alone
    stolen = APIClient()
    stolen.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    refused = stolen.get(CHANGES)
    assert refused.status_code == 401
    assert refused.json()["error"] == "signature_required"
    assert "signée" in refused.json()["detail"]
    [entry] = JournalEntry.objects.filter(action="federation.signature_required")
    assert (entry.decision, entry.client_id, entry.node) == ("deny", PEER, PEER)
    # stolen by another member, used with that member's own signature
    _other, thief_key = register_peer("https://voleur.example")
    thief = SignedAPIClient(thief_key)
    thief.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert thief.get(CHANGES).json()["error"] == "signature_required"
    # the node it belongs to, signing its request
    owner = SignedAPIClient(peer_key)
    owner.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    answer = owner.get(CHANGES)
    assert answer.status_code == 200, answer.content
    assert "Signature" in answer.headers


def test_a_vendors_token_needs_no_signature(bearer_client: Any) -> None:
    assert bearer_client("federation:sync", kind="reader").get(CHANGES).status_code == 200
