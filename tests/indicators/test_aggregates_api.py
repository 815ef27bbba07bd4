"""POST /api/v1/indicators/aggregates: only the ministry's node, signed (RFC 9421) with its own
token, gets this node's aggregates; the answers 200 / 202 / 400 / 401 / 403 / 404 / 409."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
import yaml
from rest_framework.test import APIClient

from dataspace.indicators import partials
from dataspace.indicators.models import AggregationRequest
from federation.models import OutboxMessage
from tests.conftest import mint_token
from tests.factories import OrganisationFactory
from tests.federation.signed import SignedAPIClient, register_peer
from tests.indicators.test_partials import (
    MINISTRY,
    administrator,
    agree,
    ask_body,
    ministry_client_row,
    ministry_peer,
    stand,
    three_structures,
)

pytestmark = pytest.mark.django_db

AGGREGATES = "/api/v1/indicators/aggregates"


@pytest.fixture
def structure_node(settings: Any) -> Any:
    settings.NODE_ROLES = ["structure"]
    return settings


@pytest.fixture
def node(structure_node: Any, theatre: Any) -> dict[str, Any]:
    data = three_structures(theatre)
    for name in ("theatre", "opera", "cirque"):
        agree(data[name])
    return data


def signed_client(key: Any, client_row: Any = None, scopes: str = "indicators:aggregate") -> SignedAPIClient:
    """A client signing with `key`, with a token of `client_row` (none when it is None)."""
    api = SignedAPIClient(key)
    if client_row is not None:
        token, _issued = mint_token(client_row, scopes)
        api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return api


@pytest.fixture
def ministry() -> SignedAPIClient:
    """The ministry's node: a member with role ministry, signing with its key, with its token."""
    _peer, key = ministry_peer()
    return signed_client(key, ministry_client_row())


def post(api: APIClient, body: Any) -> Any:
    return api.post(AGGREGATES, body, format="json")


# ---------------------------------------------------------------------------- the ministry is answered


def test_the_ministry_gets_the_signed_partial(node: dict[str, Any], ministry: SignedAPIClient) -> None:
    for name in ("theatre", "opera", "cirque"):
        stand(node[name])
    body = ask_body(measures=["attendance", "receipts"])
    response = post(ministry, body)
    assert response.status_code == 200, response.content
    assert "Signature" in response.headers
    assert "Signature-Input" in response.headers
    assert response["Cache-Control"] == "no-store"
    partial = response.json()
    assert partial["campaign"] == body["campaign"]
    assert [g["dimensions"] for g in partial["groupings"]] == [["discipline", "region"], ["discipline"], ["region"], []]
    [total] = partial["groupings"][-1]["cells"]
    assert total == {
        "key": {},
        "values": {"attendance": 1850, "receipts": "57800.75"},
        "contributors": 3,
        "largest": {"attendance": 900, "receipts": "45000.00"},
    }
    again = post(ministry, body)
    assert again.status_code == 200
    assert again.json() == partial
    stored = AggregationRequest.objects.get()
    assert stored.ministry == MINISTRY
    assert stored.state == AggregationRequest.State.SENT
    assert stored.asks == 2


def test_the_endpoint_never_returns_a_row(node: dict[str, Any], ministry: SignedAPIClient) -> None:
    for name in ("theatre", "opera", "cirque"):
        stand(node[name])
    response = post(ministry, ask_body(dimensions=["month", "venue_type"], measures=list(partials.MEASURES)))
    assert response.status_code == 200
    text = response.content.decode()
    for external_id, row in node["rows"].items():
        assert external_id not in text
        assert str(row.pk) not in text
    assert "ticketing_system" not in text
    assert "external_id" not in text
    for group in response.json()["groupings"]:
        assert all(set(cell) == {"key", "values", "contributors", "largest"} for cell in group["cells"])
    # and the ministry's token reads no row of figures
    assert ministry.get("/api/v1/ticketing/figures/").status_code == 403


def test_awaiting_approval_then_the_notice_then_the_partial(node: dict[str, Any], ministry: SignedAPIClient) -> None:
    stand(node["theatre"])
    body = ask_body(dimensions=["region"], measures=["attendance"])
    waiting = post(ministry, body)
    assert waiting.status_code == 202
    stored = AggregationRequest.objects.get()
    assert waiting.json() == {
        "status": "awaiting_approval",
        "request": str(stored.pk),
        "detail": waiting.json()["detail"],
        "pending": 2,
    }
    assert post(ministry, body).status_code == 202
    partials.approve(stored, node["opera"], by=administrator(node["opera"], "dir-opera"))
    assert not OutboxMessage.objects.filter(kind=partials.NOTICE_KIND).exists()
    partials.refuse(stored, node["cirque"], by=administrator(node["cirque"], "dir-cirque"))
    [notice] = OutboxMessage.objects.filter(kind=partials.NOTICE_KIND)
    assert notice.destination == MINISTRY
    answered = post(ministry, body)
    assert answered.status_code == 200
    assert answered.json()["structures"] == [node["opera"].uri, node["theatre"].uri]
    assert [c["key"]["region"] for c in answered.json()["groupings"][0]["cells"]] == [
        "Auvergne-Rhône-Alpes",
        "Bretagne",
    ]


def test_refused_when_no_structure_may_be_counted(structure_node: Any, theatre: Any, ministry: SignedAPIClient) -> None:
    three_structures(theatre)  # no agreement at all
    refused = post(ministry, ask_body())
    assert refused.status_code == 403
    assert refused.json()["error"] == "refused"
    assert "accord de partage" in refused.json()["detail"]


def test_a_changed_request_is_a_409(node: dict[str, Any], ministry: SignedAPIClient) -> None:
    campaign = str(uuid.uuid4())
    assert post(ministry, ask_body(campaign=campaign)).status_code == 202
    changed = post(ministry, ask_body(campaign=campaign, measures=["attendance"]))
    assert changed.status_code == 409
    assert changed.json()["error"] == "changed_request"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"campaign": "x"}, "campaign"),
        ({"period": {"start": "2026-10-01", "end": "2026-09-01"}}, "period.end"),
        ({"period": {"start": "hier", "end": "2026-12-31"}}, "period.start"),
        ({"period": {"start": "2025-01-01", "end": "2026-12-31"}}, "period.end"),
        ({"dimensions": ["discipline", "region", "quarter"]}, "dimensions"),
        ({"dimensions": ["genre"]}, "dimensions"),
        ({"measures": ["recettes"]}, "measures"),
        ({"measures": []}, "measures"),
    ],
)
def test_a_bad_body_is_a_400_naming_the_field(
    structure_node: Any, ministry: SignedAPIClient, change: dict[str, Any], field: str
) -> None:
    body = ask_body()
    body.update(change)
    response = post(ministry, body)
    assert response.status_code == 400, response.content
    assert response.json()["error"] == "invalid"
    assert list(response.json()["fields"]) == [field]
    assert not AggregationRequest.objects.exists()


def test_a_body_that_is_not_an_object_is_a_400(structure_node: Any, ministry: SignedAPIClient) -> None:
    response = ministry.post(AGGREGATES, json.dumps(["campaign"]), content_type="application/json")
    assert response.status_code == 400
    assert "campaign" in response.json()["fields"]


# ---------------------------------------------------------------------------- everyone else is refused


def test_unsigned_requests_are_401(node: dict[str, Any], ministry: SignedAPIClient) -> None:
    plain = APIClient()
    assert post(plain, ask_body()).status_code == 401
    plain.credentials(HTTP_AUTHORIZATION=ministry._credentials["HTTP_AUTHORIZATION"])
    stolen = post(plain, ask_body())  # the ministry's token without its signature
    assert stolen.status_code == 401
    assert stolen.json()["error"] == "signature_required"
    assert not AggregationRequest.objects.exists()


def test_signed_without_a_token_is_401(node: dict[str, Any]) -> None:
    _peer, key = ministry_peer()
    response = post(signed_client(key), ask_body())
    assert response.status_code == 401
    assert response.json()["error"] == "token_required"


def test_a_member_that_is_not_the_ministry_is_403(node: dict[str, Any]) -> None:
    ministry_peer()
    _peer, key = register_peer("https://autre-scene.example", roles=("structure",), name="Autre scène")
    alone = post(signed_client(key), ask_body())
    assert alone.status_code == 403
    assert alone.json()["error"] == "ministry_only"
    own_client = ministry_client_row("https://autre-scene.example")
    with_token = post(signed_client(key, own_client), ask_body())
    assert with_token.status_code == 403
    assert with_token.json()["error"] == "ministry_only"
    registry, registry_key = register_peer("https://registre.example", roles=("registry",), name="Registre")
    assert post(signed_client(registry_key), ask_body()).json()["error"] == "ministry_only"
    assert registry is not None
    assert not AggregationRequest.objects.exists()


def test_the_token_must_be_the_signing_nodes(node: dict[str, Any], bearer_client: Any) -> None:
    _peer, key = ministry_peer()
    # the token of another node's client, signed by the ministry: refused at authentication
    other_node = ministry_client_row("https://autre-noeud.example")
    register_peer("https://autre-noeud.example", roles=("structure",))
    foreign = post(signed_client(key, other_node), ask_body())
    assert foreign.status_code == 401
    assert foreign.json()["error"] == "signature_required"
    # a local client's token carrying the scope, signed by the ministry: not the ministry's token
    local = bearer_client("indicators:aggregate", kind="reader", owner=OrganisationFactory(name="Cabinet d'études"))
    api = SignedAPIClient(key)
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {local.token}")
    mismatch = post(api, ask_body())
    assert mismatch.status_code == 403
    assert mismatch.json()["error"] == "signature_required"
    assert not AggregationRequest.objects.exists()


def test_the_token_needs_the_scope(node: dict[str, Any]) -> None:
    _peer, key = ministry_peer()
    narrow = signed_client(key, ministry_client_row(), scopes="federation:sync")
    response = post(narrow, ask_body())
    assert response.status_code == 403
    assert response.json()["error"] == "insufficient_scope"


def test_a_node_without_the_structure_role_answers_404(settings: Any, ministry: SignedAPIClient) -> None:
    settings.NODE_ROLES = ["registry"]
    response = post(ministry, ask_body())
    assert response.status_code == 404
    assert response.json()["error"] == "not_a_structure_node"


def test_the_schema_documents_the_endpoint(client: Any) -> None:
    schema = yaml.safe_load(client.get("/api/schema/").content)
    operation = schema["paths"]["/api/v1/indicators/aggregates"]["post"]
    assert {"200", "202", "400", "401", "403", "409"} <= set(operation["responses"])


# ---------------------------------------------------------------------------- over real HTTP


@pytest.mark.django_db(transaction=True)
def test_over_real_http_the_partial_is_signed_for_the_ministry(live_server: Any, settings: Any) -> None:
    """The ministry's signed POST over loopback to this node's live server: the answer carries a
    signature of this node bound to the request, over the exact bytes received."""
    import httpx

    from federation import signing
    from federation.client import json_body
    from tests.conftest import node_signing_key

    settings.NODE_BASE_URL = live_server.url
    settings.NODE_ROLES = ["structure"]
    node_signing_key()
    data = three_structures(OrganisationFactory(name="Théâtre des Chiffres", region="Bretagne", departement="35"))
    for name in ("theatre", "opera", "cirque"):
        agree(data[name])
        stand(data[name])
    _peer, key = ministry_peer()
    token, _issued = mint_token(ministry_client_row(), "indicators:aggregate")
    url = f"{live_server.url}{AGGREGATES}"
    body = json_body(ask_body(dimensions=["region"], measures=["attendance", "receipts"]))
    headers = {"Content-Type": "application/json", "Accept": "application/json", "Authorization": f"Bearer {token}"}
    sent = signing.sign_request_headers("POST", url, headers, body, key=key)
    response = httpx.post(url, content=body, headers=sent, timeout=10)
    assert response.status_code == 200, response.text
    signing.verify_response(response, peer_base_url=live_server.url, request_headers=sent, keys=signing.own_keys())
    partial = response.json()
    assert partial["node"] == live_server.url
    assert [c["key"]["region"] for c in partial["groupings"][0]["cells"]] == ["Auvergne-Rhône-Alpes", "Bretagne"]
    [total] = partial["groupings"][1]["cells"]
    assert total["values"] == {"attendance": 1850, "receipts": "57800.75"}
    replayed = httpx.post(url, content=body, headers=sent, timeout=10)  # the same signature again: a replay
    assert replayed.status_code == 401
