"""Bearer access tokens on /api/v1/ (RFC 6750, RFC 9068): who is let in, and the 401s.

Every refused case sits beside an accepted one. The protected endpoint used is the change feed
(`federation:sync`, never public); public reads are in test_scopes_enforced.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from django.utils import timezone
from joserfc import jwt
from joserfc.jwk import OKPKey
from rest_framework.test import APIClient

from dataspace.api.auth import ClientPrincipal, caller_id
from dataspace.oauth.models import Client, IssuedToken
from dataspace.oauth.tokens import build_claims
from tests.conftest import mint_token
from tests.factories import OrganisationFactory, PerformanceFactory, UserFactory

pytestmark = pytest.mark.django_db

FEED = "/api/v1/changes"


def with_token(token: str) -> APIClient:
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return api


def assert_invalid_token(response: Any, description: str) -> None:
    assert response.status_code == 401, response.content
    header = response["WWW-Authenticate"]
    assert header.startswith('Bearer realm="http'), header
    assert 'error="invalid_token"' in header
    assert description in header
    body = response.json()
    assert body["error"] == "invalid_token"
    assert description in body["detail"]
    assert body["fields"] == {}


@pytest.fixture
def sync_reader(db: Any) -> Client:
    return Client.objects.create(
        client_id="partner-node",
        name="Nœud partenaire",
        owner=OrganisationFactory(),
        kind=Client.Kind.READER,
        allowed_scopes=["federation:sync"],
        grant_types=["client_credentials"],
    )


# ---------------------------------------------------------------------------- no credentials


def test_no_credentials_on_a_protected_endpoint_is_401_with_a_bearer_challenge(
    anon_client: APIClient, settings: Any
) -> None:
    response = anon_client.get(FEED)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == f'Bearer realm="{settings.NODE_BASE_URL}"'
    assert "error=" not in response["WWW-Authenticate"]  # RFC 6750 §3.1: no error code without credentials
    assert response.json()["error"] == "not_authenticated"


def test_valid_token_is_accepted(sync_reader: Client) -> None:
    token, _issued = mint_token(sync_reader, "federation:sync")
    response = with_token(token).get(FEED)
    assert response.status_code == 200, response.content


def test_another_authorization_scheme_is_not_a_token(anon_client: APIClient) -> None:
    anon_client.credentials(HTTP_AUTHORIZATION="Basic dXNlcjpwYXNz")
    assert anon_client.get(FEED).status_code == 401
    assert anon_client.get("/api/v1/works/").status_code == 200  # public read: the header is not ours


# ---------------------------------------------------------------------------- refused tokens


def test_garbage_token_is_401() -> None:
    assert_invalid_token(with_token("not-a-jwt").get(FEED), "invalid token")


@pytest.mark.parametrize("header", ["Bearer", "Bearer a b"])
def test_malformed_authorization_header_is_401(header: str) -> None:
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=header)
    assert_invalid_token(api.get(FEED), "malformed Authorization header")


def test_garbage_token_is_refused_even_on_public_data() -> None:
    """A caller that presents a token is judged by it: no silent fallback to anonymous."""
    assert_invalid_token(with_token("not-a-jwt").get("/api/v1/works/"), "invalid token")


def test_expired_token_is_401(sync_reader: Client) -> None:
    now = int(time.time())
    token, _ = mint_token(sync_reader, "federation:sync", iat=now - 700, exp=now - 1)
    assert_invalid_token(with_token(token).get(FEED), "token expired")


def test_revoked_token_is_refused_at_once(sync_reader: Client) -> None:
    token, issued = mint_token(sync_reader, "federation:sync")
    api = with_token(token)
    assert api.get(FEED).status_code == 200
    IssuedToken.objects.filter(pk=issued.pk).update(revoked_at=timezone.now())
    assert_invalid_token(api.get(FEED), "token revoked")


def test_token_of_another_issuer_is_401(sync_reader: Client) -> None:
    token, _ = mint_token(sync_reader, "federation:sync", iss="https://autre-noeud.example")
    assert_invalid_token(with_token(token).get(FEED), "issued by another server")


def test_token_for_another_audience_is_401(sync_reader: Client) -> None:
    token, _ = mint_token(sync_reader, "federation:sync", aud="https://autre-noeud.example")
    assert_invalid_token(with_token(token).get(FEED), "not meant for this node")


def test_token_signed_by_an_unknown_key_is_401(sync_reader: Client) -> None:
    mint_token(sync_reader, "federation:sync")  # the node's own key exists (and is published)
    claims = build_claims(client_id=sync_reader.client_id, scopes=["federation:sync"], user_id=None)
    IssuedToken.objects.create(
        jti=claims["jti"],
        client=sync_reader,
        scope="federation:sync",
        issued_at=timezone.now(),
        expires_at=timezone.now() + timezone.timedelta(minutes=10),
    )
    stranger = OKPKey.generate_key("Ed25519", {"kid": "cle-inconnue"})
    header = {"alg": "Ed25519", "typ": "at+jwt", "kid": "cle-inconnue"}
    token = jwt.encode(header, claims, stranger, algorithms=["Ed25519"])
    assert_invalid_token(with_token(token).get(FEED), "invalid token")


def test_token_never_issued_here_is_401(sync_reader: Client) -> None:
    token, issued = mint_token(sync_reader, "federation:sync")
    issued.delete()
    assert_invalid_token(with_token(token).get(FEED), "unknown token")


def test_token_of_a_disabled_client_is_401(sync_reader: Client) -> None:
    token, _ = mint_token(sync_reader, "federation:sync")
    assert with_token(token).get(FEED).status_code == 200
    Client.objects.filter(pk=sync_reader.pk).update(is_active=False)
    assert_invalid_token(with_token(token).get(FEED), "client disabled or expired")


def test_token_of_an_expired_client_is_401_and_a_future_expiry_is_not(sync_reader: Client) -> None:
    token, _ = mint_token(sync_reader, "federation:sync")
    Client.objects.filter(pk=sync_reader.pk).update(expires_at=timezone.now() + timezone.timedelta(days=1))
    assert with_token(token).get(FEED).status_code == 200
    Client.objects.filter(pk=sync_reader.pk).update(expires_at=timezone.now() - timezone.timedelta(seconds=1))
    assert_invalid_token(with_token(token).get(FEED), "client disabled or expired")


def test_token_of_a_deactivated_person_is_401(bearer_client: Any) -> None:
    person = UserFactory(username="ex-salariee", is_staff=True, is_superuser=True)
    api = bearer_client("federation:sync", kind="reader", user=person)
    assert api.get(FEED).status_code == 200
    person.is_active = False
    person.save()
    assert_invalid_token(api.get(FEED), "no longer active")


def test_header_description_is_safe_to_quote() -> None:
    response = with_token('"><script>').get(FEED)
    assert response.status_code == 401
    header = response["WWW-Authenticate"]
    assert header.count('"') % 2 == 0


# ---------------------------------------------------------------------------- who the caller is


def test_machine_client_is_a_client_principal(bearer_client: Any) -> None:
    """No person behind a client-credentials token: no staff rights, options stay hidden."""
    PerformanceFactory(status="option")
    visible = PerformanceFactory()
    api = bearer_client("referentials:read", kind="reader")
    body = api.get("/api/v1/performances/").json()
    assert [item["id"] for item in body["results"]] == [str(visible.pk)]


def test_personal_api_key_acts_as_its_person(bearer_client: Any) -> None:
    """A token bound to a staff member sees what that person sees in a session (options)."""
    option = PerformanceFactory(status="option")
    staff = UserFactory(username="regisseuse", is_staff=True)
    api = bearer_client("referentials:read", kind="reader", user=staff)
    body = api.get("/api/v1/performances/").json()
    assert [item["id"] for item in body["results"]] == [str(option.pk)]


def test_caller_id_names_the_client_or_the_person(bearer_client: Any) -> None:
    from rest_framework.request import Request
    from rest_framework.test import APIRequestFactory

    machine = bearer_client("referentials:read", kind="reader")
    request = Request(APIRequestFactory().get("/"))
    request.user = ClientPrincipal(client=machine.oauth_client)
    assert caller_id(request) == f"client:{machine.oauth_client.client_id}"
    person = UserFactory(username="porteur-de-cle")
    request.user = person
    assert caller_id(request) == f"user:{person.pk}"


def test_schema_documents_the_bearer_scheme(anon_client: APIClient) -> None:
    import yaml

    schema = yaml.safe_load(anon_client.get("/api/schema/").content)
    schemes = schema["components"]["securitySchemes"]
    assert schemes["bearerAuth"]["scheme"] == "bearer"
    assert schemes["bearerAuth"]["bearerFormat"] == "JWT"


def test_machine_token_of_a_numeric_client_id_is_no_person(db: Any) -> None:
    """`sub` equal to the client_id is a machine token, even when it looks like a user id."""
    admin = UserFactory(username="numerique", is_staff=True, is_superuser=True)
    client = Client.objects.create(
        client_id=str(admin.pk),
        name="Identifiant numérique",
        owner=OrganisationFactory(),
        kind=Client.Kind.DEPOSITOR,
        allowed_scopes=["referentials:read", "referentials:write"],
        grant_types=["client_credentials"],
    )
    token, _ = mint_token(client, "referentials:read referentials:write")
    # Judged as the client (a depositor: its own organisation only), not as the superuser.
    foreign = OrganisationFactory()
    refused = with_token(token).post("/api/v1/works/", {"title": "X", "owner": str(foreign.pk)}, format="json")
    assert refused.status_code == 403
    assert list(refused.json()["fields"]) == ["owner"]
