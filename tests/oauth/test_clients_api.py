"""/api/v1/clients/: registration (secret shown once), ownership isolation, rotation, disabling."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from dataspace.node.models import NodeIdentity, StaffMembership
from dataspace.oauth import clients
from dataspace.oauth.api.views import ClientViewSet
from dataspace.oauth.models import Client, ClientSecret
from tests.factories import OrganisationFactory, UserFactory

pytestmark = pytest.mark.django_db

LIST = "/api/v1/clients/"


def detail(client_id: str, suffix: str = "") -> str:
    return f"/api/v1/clients/{client_id}/{suffix}"


@pytest.fixture
def node(structure: Any) -> Any:
    return NodeIdentity.objects.create(pk=1, name="essais", base_url="http://testserver", organisation=structure)


@pytest.fixture
def admin_api(node: Any) -> APIClient:
    """A session of an administrator of the node's organisation."""
    person = UserFactory(username="directrice", is_staff=True)
    StaffMembership.objects.create(user=person, organisation=node.organisation, role="administrator")
    api = APIClient()
    api.force_login(person)
    api.person = person  # type: ignore[attr-defined]
    return api


def _register(owner: Any, **kwargs: Any) -> clients.IssuedSecret:
    options: dict[str, Any] = {
        "name": "Billetterie",
        "scopes": "referentials:read",
        "grant_types": ["client_credentials"],
    }
    options.update(kwargs)
    return clients.create_client(owner=owner, **options)


PAYLOAD = {
    "name": "Logiciel de billetterie",
    "kind": "depositor",
    "allowed_scopes": ["referentials:read", "ticketing:write"],
    "grant_types": ["client_credentials"],
}


def test_viewset_declares_its_scopes() -> None:
    assert ClientViewSet.required_scopes == {"read": "clients:manage", "write": "clients:manage"}


def test_session_administrator_creates_and_sees_the_secret_once(admin_api: APIClient, structure: Any) -> None:
    created = admin_api.post(LIST, PAYLOAD, format="json")
    assert created.status_code == 201, created.json()
    body = created.json()
    assert created["Cache-Control"] == "no-store"
    assert len(body["client_secret"]) >= 43
    assert body["owner"] == str(structure.pk)
    assert body["secrets"][0]["status"] == "current"
    assert "digest" not in str(body)
    client = Client.objects.get(client_id=body["client_id"])
    assert clients.authenticate_secret(client, body["client_secret"])
    again = admin_api.get(detail(body["client_id"]))
    assert again.status_code == 200
    assert "client_secret" not in again.json()
    listing = admin_api.get(LIST).json()
    assert [row["client_id"] for row in listing["results"]] == [body["client_id"]]
    assert "client_secret" not in listing["results"][0]


def test_create_errors_name_the_fields(admin_api: APIClient) -> None:
    cases = [
        ({**PAYLOAD, "kind": "reader"}, "allowed_scopes"),  # reader with a write scope
        ({**PAYLOAD, "allowed_scopes": ["nope:nope"]}, "allowed_scopes"),
        ({**PAYLOAD, "grant_types": ["password"]}, "grant_types"),
        ({**PAYLOAD, "grant_types": ["authorization_code"]}, "redirect_uris"),
        ({**PAYLOAD, "expires_at": "2000-01-01T00:00:00Z"}, "expires_at"),
        ({**PAYLOAD, "acts_for": "someone-else"}, "acts_for"),
        ({"kind": "reader"}, "name"),
    ]
    for payload, field in cases:
        response = admin_api.post(LIST, payload, format="json")
        assert response.status_code == 400, (payload, response.content)
        body = response.json()
        assert body["error"] == "invalid"
        assert field in body["fields"], (payload, body)
    assert not Client.objects.exists()


def test_scopes_as_a_string_and_personal_client_for_oneself(admin_api: APIClient) -> None:
    payload = {**PAYLOAD, "allowed_scopes": "referentials:read referentials:write", "acts_for": "directrice"}
    response = admin_api.post(LIST, payload, format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["allowed_scopes"] == ["referentials:read", "referentials:write"]
    assert response.json()["acts_for"] == "directrice"


def test_ownership_isolation_for_sessions(admin_api: APIClient, structure: Any) -> None:
    mine = _register(structure).client
    theirs = _register(OrganisationFactory(), name="Autre structure").client
    rows = admin_api.get(LIST).json()["results"]
    assert [row["client_id"] for row in rows] == [mine.client_id]
    for method, url in [
        ("get", detail(theirs.client_id)),
        ("patch", detail(theirs.client_id)),
        ("delete", detail(theirs.client_id)),
        ("post", detail(theirs.client_id, "rotate")),
        ("post", detail(theirs.client_id, "disable")),
    ]:
        response = getattr(admin_api, method)(url, {}, format="json")
        assert response.status_code == 404, (method, url, response.content)
    theirs.refresh_from_db()
    assert theirs.is_active
    assert theirs.secrets.count() == 1


def test_who_may_manage_by_session(node: Any, structure: Any) -> None:
    anonymous = APIClient().get(LIST)
    assert anonymous.status_code == 401
    editor = UserFactory(is_staff=True)
    StaffMembership.objects.create(user=editor, organisation=structure, role="editor")
    plain_staff = UserFactory(is_staff=True)
    admin_elsewhere = UserFactory(is_staff=True)
    StaffMembership.objects.create(user=admin_elsewhere, organisation=OrganisationFactory(), role="administrator")
    for person in (editor, plain_staff, admin_elsewhere):
        api = APIClient()
        api.force_login(person)
        assert api.get(LIST).status_code == 403, person
        assert api.post(LIST, PAYLOAD, format="json").status_code == 403, person
    superuser = APIClient()
    superuser.force_login(UserFactory(is_staff=True, is_superuser=True))
    assert superuser.get(LIST).status_code == 200


def test_token_caller_manages_its_owners_clients_only(bearer_client: Any) -> None:
    org_a, org_b = OrganisationFactory(), OrganisationFactory()
    api_a = bearer_client("clients:manage referentials:read", owner=org_a)
    api_b = bearer_client("clients:manage referentials:read", owner=org_b)
    a_client = _register(org_a, name="A").client
    b_client = _register(org_b, name="B").client
    seen_by_a = {row["client_id"] for row in api_a.get(LIST).json()["results"]}
    assert seen_by_a == {a_client.client_id, api_a.oauth_client.client_id}
    assert api_a.get(detail(b_client.client_id)).status_code == 404
    assert api_a.post(detail(b_client.client_id, "rotate"), {}, format="json").status_code == 404
    assert api_a.post(detail(b_client.client_id, "disable"), {}, format="json").status_code == 404
    assert api_b.post(detail(b_client.client_id, "rotate"), {}, format="json").status_code == 200
    created = api_a.post(LIST, {**PAYLOAD, "allowed_scopes": ["referentials:read"]}, format="json")
    assert created.status_code == 201, created.json()
    assert created.json()["owner"] == str(org_a.pk)


def test_token_caller_limits(bearer_client: Any) -> None:
    no_scope = bearer_client("referentials:read")
    assert no_scope.get(LIST).status_code == 403
    manager = bearer_client("clients:manage referentials:read")
    beyond = manager.post(LIST, {**PAYLOAD, "allowed_scopes": ["journal:read"]}, format="json")
    assert beyond.status_code == 400
    assert "allowed_scopes" in beyond.json()["fields"]
    personal = manager.post(
        LIST, {**PAYLOAD, "allowed_scopes": ["referentials:read"], "acts_for": "someone"}, format="json"
    )
    assert personal.status_code == 400
    assert "acts_for" in personal.json()["fields"]


def test_rotate_gives_a_new_secret_once_and_keeps_the_old_one_in_grace(admin_api: APIClient, structure: Any) -> None:
    issued = _register(structure)
    response = admin_api.post(detail(issued.client.client_id, "rotate"), {"grace_seconds": 3600}, format="json")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["version"] == 2
    assert len(body["client_secret"]) >= 43
    assert body["previous_secrets_retire_at"] is not None
    assert clients.authenticate_secret(issued.client, body["client_secret"])
    assert clients.authenticate_secret(issued.client, issued.secret or "")
    statuses = [row["status"] for row in admin_api.get(detail(issued.client.client_id)).json()["secrets"]]
    assert statuses == ["current", "grace"]
    assert (
        admin_api.post(detail(issued.client.client_id, "rotate"), {"grace_seconds": -1}, format="json").status_code
        == 400
    )


def test_rotate_refused_for_key_clients(admin_api: APIClient, structure: Any) -> None:
    peer = _register(structure, auth_method="private_key_jwt", jwks_uri="https://pair.example/.well-known/jwks.json")
    response = admin_api.post(detail(peer.client.client_id, "rotate"), {}, format="json")
    assert response.status_code == 400
    assert "token_endpoint_auth_method" in response.json()["fields"]


def test_disable_and_update(admin_api: APIClient, structure: Any) -> None:
    issued = _register(structure, kind="reader")
    url = detail(issued.client.client_id)
    refused = admin_api.patch(url, {"allowed_scopes": ["referentials:write"]}, format="json")
    assert refused.status_code == 400
    assert "allowed_scopes" in refused.json()["fields"]
    renamed = admin_api.patch(url, {"name": "Nouveau nom"}, format="json")
    assert renamed.status_code == 200
    assert renamed.json()["name"] == "Nouveau nom"
    disabled = admin_api.post(detail(issued.client.client_id, "disable"), {}, format="json")
    assert disabled.status_code == 200
    assert disabled.json()["is_active"] is False
    issued.client.refresh_from_db()
    assert not clients.authenticate_secret(issued.client, issued.secret or "")
    other = _register(structure, name="Autre").client
    assert admin_api.delete(detail(other.client_id)).status_code == 204
    other.refresh_from_db()
    assert not other.is_active


def test_no_secret_in_clear_in_the_database_after_api_creation(admin_api: APIClient) -> None:
    body = admin_api.post(LIST, PAYLOAD, format="json", HTTP_IDEMPOTENCY_KEY="k1").json()
    stored = ClientSecret.objects.get(client__client_id=body["client_id"])
    assert stored.digest != body["client_secret"]
    from dataspace.api.models import IdempotencyKey

    assert not IdempotencyKey.objects.exists()  # an idempotent replay would keep the secret in clear
