"""Client credentials grant: client authentication, scopes, lifetime, the JWT it returns (RFC 9068)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from django.utils import timezone
from joserfc import jwt
from joserfc.jwk import KeySet

from dataspace.oauth import clients, tokens
from dataspace.oauth.models import IssuedToken
from dataspace.oauth.scopes import SCOPES
from tests.factories import UserFactory
from tests.oauth.conftest import basic, post_token

pytestmark = pytest.mark.django_db

CC = {"grant_type": "client_credentials"}


def test_basic_auth_gets_a_jwt_access_token_verifiable_with_the_published_jwks(
    client: Any, client_factory: Any
) -> None:
    issued = client_factory("referentials:read directory:search")
    response = post_token(client, {**CC, "scope": "referentials:read"}, basic(issued.client.client_id, issued.secret))
    assert response.status_code == 200, response.content
    assert response["Cache-Control"] == "no-store"
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 600
    assert body["scope"] == "referentials:read"
    assert "refresh_token" not in body

    jwks = client.get("/.well-known/jwks.json").json()
    decoded = jwt.decode(body["access_token"], KeySet.import_key_set(jwks), algorithms=["Ed25519"])
    assert decoded.header["typ"] == "at+jwt"
    assert decoded.header["alg"] == "Ed25519"
    assert decoded.header["kid"] in {key["kid"] for key in jwks["keys"]}
    claims = decoded.claims
    assert claims["iss"] == "http://127.0.0.1:8000"
    assert claims["aud"] == "http://127.0.0.1:8000"
    assert claims["sub"] == claims["client_id"] == issued.client.client_id
    assert claims["scope"] == "referentials:read"
    assert claims["exp"] - claims["iat"] == 600
    record = IssuedToken.objects.get(jti=claims["jti"])
    assert record.client == issued.client
    assert record.user is None
    assert record.family is None
    assert record.scope == "referentials:read"
    assert int(record.expires_at.timestamp()) == claims["exp"]
    assert tokens.verify_access_token(body["access_token"]).scopes == {"referentials:read"}


def test_ed25519_without_explicit_algorithms_is_refused_by_joserfc(client: Any, client_factory: Any) -> None:
    """The trap the explicit `algorithms=` avoids: joserfc's default list excludes Ed25519."""
    issued = client_factory()
    body = post_token(client, CC, basic(issued.client.client_id, issued.secret)).json()
    with pytest.raises(Exception, match=r"not recommended|not allowed"):
        jwt.decode(body["access_token"], tokens.public_key_set())


def test_client_secret_post_is_accepted(client: Any, client_factory: Any) -> None:
    issued = client_factory(auth_method="client_secret_post")
    data = {**CC, "client_id": issued.client.client_id, "client_secret": issued.secret}
    assert post_token(client, data).status_code == 200


def test_no_scope_requested_gives_the_whole_allowed_set(client: Any, client_factory: Any) -> None:
    issued = client_factory("directory:search referentials:read")
    body = post_token(client, CC, basic(issued.client.client_id, issued.secret)).json()
    assert body["scope"] == "referentials:read directory:search"


@pytest.mark.parametrize("scope", ["referentials:write", "referentials:read contacts:read", "nope:nope"])
def test_scope_outside_the_allowed_set_is_invalid_scope(client: Any, client_factory: Any, scope: str) -> None:
    issued = client_factory("referentials:read")
    response = post_token(client, {**CC, "scope": scope}, basic(issued.client.client_id, issued.secret))
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_scope"
    assert not IssuedToken.objects.exists()


def test_lifetime_comes_from_settings(client: Any, client_factory: Any, settings: Any) -> None:
    settings.OAUTH_ACCESS_TOKEN_LIFETIME = 120
    issued = client_factory()
    body = post_token(client, CC, basic(issued.client.client_id, issued.secret)).json()
    assert body["expires_in"] == 120
    claims = tokens.decode_access_token(body["access_token"]).claims
    assert claims["exp"] - claims["iat"] == 120


def test_wrong_secret_is_invalid_client(client: Any, client_factory: Any) -> None:
    issued = client_factory()
    response = post_token(client, CC, basic(issued.client.client_id, "not-the-secret"))
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    response = post_token(client, {**CC, "client_id": issued.client.client_id, "client_secret": "x"})
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


def test_unknown_client_and_missing_credentials(client: Any, client_factory: Any) -> None:
    assert post_token(client, CC, basic("nobody", "secret")).json()["error"] == "invalid_client"
    assert post_token(client, CC).json()["error"] == "invalid_client"


def test_rotated_secret_works_during_grace_and_not_after(client: Any, client_factory: Any) -> None:
    issued = client_factory()
    client_id, old = issued.client.client_id, issued.secret
    new = clients.rotate_secret(issued.client, grace_seconds=3600).secret
    assert post_token(client, CC, basic(client_id, old)).status_code == 200
    assert post_token(client, CC, basic(client_id, new)).status_code == 200
    clients.rotate_secret(issued.client, grace_seconds=0)
    assert post_token(client, CC, basic(client_id, old)).json()["error"] == "invalid_client"
    assert post_token(client, CC, basic(client_id, new)).json()["error"] == "invalid_client"


def test_inactive_or_expired_client_is_invalid_client(client: Any, client_factory: Any) -> None:
    inactive = client_factory()
    inactive.client.is_active = False
    inactive.client.save()
    response = post_token(client, CC, basic(inactive.client.client_id, inactive.secret))
    assert response.json()["error"] == "invalid_client"
    expired = client_factory(expires_at=timezone.now() + dt.timedelta(minutes=1))
    assert post_token(client, CC, basic(expired.client.client_id, expired.secret)).status_code == 200
    expired.client.expires_at = timezone.now() - dt.timedelta(seconds=1)
    expired.client.save()
    response = post_token(client, CC, basic(expired.client.client_id, expired.secret))
    assert response.json()["error"] == "invalid_client"


def test_personal_api_key_acts_as_its_user(client: Any, client_factory: Any) -> None:
    person = UserFactory(username="camille")
    issued = client_factory("journal:read", user=person)
    body = post_token(client, CC, basic(issued.client.client_id, issued.secret)).json()
    access = tokens.verify_access_token(body["access_token"])
    assert access.subject == str(person.pk)
    assert access.user_id == person.pk
    assert access.client_id == issued.client.client_id
    assert IssuedToken.objects.get(jti=access.jti).user == person
    person.is_active = False
    person.save()
    assert post_token(client, CC, basic(issued.client.client_id, issued.secret)).json()["error"] == "invalid_client"


def test_client_without_the_grant_is_unauthorized(client: Any, client_factory: Any) -> None:
    issued = client_factory(grant_types=["authorization_code"], redirect_uris=["https://app.example/cb"])
    response = post_token(client, CC, basic(issued.client.client_id, issued.secret))
    assert response.json()["error"] == "unauthorized_client"


@pytest.mark.parametrize("grant_type", ["password", "implicit", "urn:ietf:params:oauth:grant-type:jwt-bearer"])
def test_other_grants_are_unsupported(client: Any, client_factory: Any, grant_type: str) -> None:
    issued = client_factory()
    data = {"grant_type": grant_type, "username": "a", "password": "b"}
    response = post_token(client, data, basic(issued.client.client_id, issued.secret))
    assert response.status_code == 400
    assert response.json()["error"] == "unsupported_grant_type"


def test_token_endpoint_only_accepts_post(client: Any) -> None:
    assert client.get("/oauth/token", secure=True).status_code == 405


def test_errors_are_rfc6749_json(client: Any, client_factory: Any) -> None:
    issued = client_factory()
    response = post_token(client, {**CC, "scope": "nope:nope"}, basic(issued.client.client_id, issued.secret))
    assert response["Content-Type"] == "application/json"
    assert set(json.loads(response.content)) <= {"error", "error_description", "error_uri"}


def test_every_scope_can_be_granted(client: Any, client_factory: Any) -> None:
    issued = client_factory(list(SCOPES), kind="depositor")
    body = post_token(client, CC, basic(issued.client.client_id, issued.secret)).json()
    assert body["scope"].split() == list(SCOPES)
