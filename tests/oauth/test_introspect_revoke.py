"""Introspection (RFC 7662) and revocation (RFC 7009); the verification rules of access tokens
(expired, revoked, wrong audience, wrong issuer, unknown kid)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.test import Client as DjangoClient
from joserfc import jwt
from joserfc.jwk import OKPKey

from dataspace.oauth import tokens
from dataspace.oauth.models import Client, IssuedToken, RefreshToken
from tests.factories import UserFactory
from tests.oauth.conftest import basic, pkce_pair, post_token
from tests.oauth.test_authorization_code import REDIRECT, exchange, get_code

pytestmark = pytest.mark.django_db


@pytest.fixture
def vendor(client_factory: Any) -> Any:
    return client_factory("referentials:read ticketing:write", kind="depositor", name="Billetterie")


@pytest.fixture
def other(client_factory: Any) -> Any:
    return client_factory("referentials:read", name="Autre logiciel")


def cc_token(client: Any, issued: Any) -> str:
    body = post_token(client, {"grant_type": "client_credentials"}, basic(issued.client.client_id, issued.secret))
    return str(body.json()["access_token"])


def introspect(client: Any, issued: Any, token: str, **extra: Any) -> Any:
    data = {"token": token, **extra}
    return client.post(
        "/oauth/introspect", data, secure=True, HTTP_AUTHORIZATION=basic(issued.client.client_id, issued.secret)
    )


def revoke(client: Any, issued: Any, token: str, **extra: Any) -> Any:
    data = {"token": token, **extra}
    return client.post(
        "/oauth/revoke", data, secure=True, HTTP_AUTHORIZATION=basic(issued.client.client_id, issued.secret)
    )


def recorded(client_model: Client, claims: dict[str, Any]) -> None:
    IssuedToken.objects.create(
        jti=claims["jti"],
        client=client_model,
        scope=claims["scope"],
        issued_at=dt.datetime.fromtimestamp(claims["iat"], tz=dt.UTC),
        expires_at=dt.datetime.fromtimestamp(claims["exp"], tz=dt.UTC),
    )


def crafted(client_model: Client, *, lifetime: int = 600, **overrides: Any) -> str:
    """A token of this node's format, recorded as issued, with some claims overridden."""
    claims = tokens.build_claims(
        client_id=client_model.client_id, scopes=["referentials:read"], user_id=None, lifetime=lifetime
    )
    claims.update(overrides)
    recorded(client_model, claims)
    return tokens.encode_access_token(claims)


def test_client_introspects_its_own_token(client: Any, vendor: Any) -> None:
    token = cc_token(client, vendor)
    response = introspect(client, vendor, token)
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    body = response.json()
    claims = tokens.decode_access_token(token).claims
    assert body == {
        "active": True,
        "scope": "referentials:read ticketing:write",
        "client_id": vendor.client.client_id,
        "token_type": "Bearer",
        "exp": claims["exp"],
        "iat": claims["iat"],
        "iss": "http://127.0.0.1:8000",
        "sub": vendor.client.client_id,
        "jti": claims["jti"],
        "aud": "http://127.0.0.1:8000",
    }


def test_another_clients_token_is_inactive_unless_caller_manages_clients(
    client: Any, vendor: Any, other: Any, client_factory: Any
) -> None:
    token = cc_token(client, vendor)
    assert introspect(client, other, token).json() == {"active": False}
    manager = client_factory("clients:manage", kind="depositor", name="Console d'administration")
    assert introspect(client, manager, token).json()["active"] is True


def test_revoked_token_is_inactive_at_once(client: Any, vendor: Any) -> None:
    token = cc_token(client, vendor)
    assert introspect(client, vendor, token).json()["active"] is True
    response = revoke(client, vendor, token, token_type_hint="access_token")
    assert response.status_code == 200
    assert introspect(client, vendor, token).json() == {"active": False}
    with pytest.raises(tokens.InvalidToken, match="revoked"):
        tokens.verify_access_token(token)


def test_expired_token_is_inactive_and_refused(client: Any, vendor: Any) -> None:
    token = crafted(vendor.client, lifetime=-1)
    assert introspect(client, vendor, token).json() == {"active": False}
    with pytest.raises(tokens.InvalidToken, match="expired"):
        tokens.verify_access_token(token)


def test_expiry_follows_the_clock(client: Any, vendor: Any, monkeypatch: Any) -> None:
    token = cc_token(client, vendor)
    exp = tokens.decode_access_token(token).expires_at
    assert tokens.decode_access_token(token, at=exp - 1).jti
    with pytest.raises(tokens.InvalidToken, match="expired"):
        tokens.decode_access_token(token, at=exp)
    monkeypatch.setattr(tokens.time, "time", lambda: float(exp + 1))
    assert introspect(client, vendor, token).json() == {"active": False}


def test_wrong_audience_is_inactive_and_refused(client: Any, vendor: Any) -> None:
    token = crafted(vendor.client, aud="https://other-node.example")
    assert introspect(client, vendor, token).json() == {"active": False}
    with pytest.raises(tokens.InvalidToken, match="aud"):
        tokens.verify_access_token(token)


def test_wrong_issuer_is_inactive_and_refused(client: Any, vendor: Any) -> None:
    token = crafted(vendor.client, iss="https://other-node.example")
    assert introspect(client, vendor, token).json() == {"active": False}
    with pytest.raises(tokens.InvalidToken, match="another server"):
        tokens.verify_access_token(token)


def test_unknown_kid_is_inactive_and_refused(client: Any, vendor: Any) -> None:
    stranger = OKPKey.generate_key("Ed25519")
    stranger.ensure_kid()
    claims = tokens.build_claims(client_id=vendor.client.client_id, scopes=["referentials:read"], user_id=None)
    recorded(vendor.client, claims)
    token = jwt.encode(
        {"alg": "Ed25519", "typ": "at+jwt", "kid": stranger.kid}, claims, stranger, algorithms=["Ed25519"]
    )
    assert introspect(client, vendor, token).json() == {"active": False}
    with pytest.raises(tokens.InvalidToken):
        tokens.verify_access_token(token)


def test_garbage_and_disabled_clients_tokens_are_inactive(client: Any, vendor: Any, other: Any) -> None:
    assert introspect(client, vendor, "not-a-token").json() == {"active": False}
    token = cc_token(client, other)
    other.client.is_active = False
    other.client.save()
    manager_view = introspect(client, vendor, token)
    assert manager_view.json() == {"active": False}


def test_introspection_needs_an_authenticated_confidential_client(
    client: Any, vendor: Any, client_factory: Any
) -> None:
    token = cc_token(client, vendor)
    response = client.post("/oauth/introspect", {"token": token}, secure=True)
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    public = client_factory("referentials:read", grant_types=["authorization_code"], redirect_uris=[REDIRECT],
                            auth_method="none")  # fmt: skip
    response = client.post("/oauth/introspect", {"token": token, "client_id": public.client.client_id}, secure=True)
    assert response.json()["error"] == "invalid_client"
    response = client.post("/oauth/introspect", {"token": token}, secure=True,
                           HTTP_AUTHORIZATION=basic(vendor.client.client_id, "wrong"))  # fmt: skip
    assert response.status_code == 401


def test_unknown_token_revocation_answers_200(client: Any, vendor: Any) -> None:
    assert revoke(client, vendor, "no-such-token").status_code == 200
    assert revoke(client, vendor, "x", token_type_hint="refresh_token").status_code == 200


def test_revoking_another_clients_token_changes_nothing(client: Any, vendor: Any, other: Any) -> None:
    token = cc_token(client, vendor)
    assert revoke(client, other, token).status_code == 200
    tokens.verify_access_token(token)


def test_unknown_hint_is_ignored_and_token_is_required(client: Any, vendor: Any) -> None:
    token = cc_token(client, vendor)
    assert introspect(client, vendor, token, token_type_hint="id_token").json()["active"] is True
    assert revoke(client, vendor, token, token_type_hint="id_token").status_code == 200
    assert introspect(client, vendor, token).json() == {"active": False}
    response = client.post(
        "/oauth/revoke", {}, secure=True, HTTP_AUTHORIZATION=basic(vendor.client.client_id, vendor.secret)
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


@pytest.fixture
def app(client_factory: Any) -> Any:
    return client_factory(
        "referentials:read",
        grant_types=["authorization_code", "refresh_token"],
        redirect_uris=[REDIRECT],
        kind="reader",
    )


def code_tokens(client: Any, app: Any) -> dict[str, Any]:
    browser = DjangoClient()
    browser.force_login(UserFactory(username="sacha"))
    verifier, challenge = pkce_pair()
    body: dict[str, Any] = exchange(client, app, get_code(browser, app.client.client_id, challenge), verifier).json()
    return body


def test_refresh_token_introspection_and_revocation_of_its_family(client: Any, app: Any) -> None:
    first = code_tokens(client, app)
    body = introspect(client, app, first["refresh_token"], token_type_hint="refresh_token").json()
    assert body["active"] is True
    assert body["token_type"] == "refresh_token"
    assert body["client_id"] == app.client.client_id
    second = post_token(
        client,
        {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]},
        basic(app.client.client_id, app.secret),
    ).json()
    assert introspect(client, app, first["refresh_token"]).json() == {"active": False}  # used: rotated away

    assert revoke(client, app, second["refresh_token"], token_type_hint="refresh_token").status_code == 200
    assert not RefreshToken.objects.filter(revoked_at__isnull=True).exists()
    assert not IssuedToken.objects.filter(revoked_at__isnull=True).exists()
    for access in (first["access_token"], second["access_token"]):
        assert introspect(client, app, access).json() == {"active": False}


def test_public_client_revokes_its_own_refresh_token(client: Any, client_factory: Any) -> None:
    public = client_factory(
        "referentials:read",
        grant_types=["authorization_code", "refresh_token"],
        redirect_uris=[REDIRECT],
        auth_method="none",
        kind="reader",
    )
    browser = DjangoClient()
    browser.force_login(UserFactory(username="alex"))
    verifier, challenge = pkce_pair()
    code = get_code(browser, public.client.client_id, challenge)
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT, "code_verifier": verifier,
            "client_id": public.client.client_id}  # fmt: skip
    body = post_token(client, data).json()
    response = client.post(
        "/oauth/revoke", {"token": body["refresh_token"], "client_id": public.client.client_id}, secure=True
    )
    assert response.status_code == 200
    with pytest.raises(tokens.InvalidToken, match="revoked"):
        tokens.verify_access_token(body["access_token"])
