"""RFC 8414 metadata, and an off-the-shelf OAuth client (authlib's httpx client) against a real server."""

from __future__ import annotations

import re
import secrets
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from authlib.oauth2.rfc8414 import AuthorizationServerMetadata
from joserfc import jwt
from joserfc.jwk import KeySet

from dataspace.oauth import tokens
from dataspace.oauth.scopes import SCOPES
from tests.factories import UserFactory

REDIRECT = "https://app.example/callback"


@pytest.mark.django_db
def test_metadata_document(client: Any) -> None:
    response = client.get("/.well-known/oauth-authorization-server")
    assert response.status_code == 200
    meta = response.json()
    base = "http://127.0.0.1:8000"
    assert meta["issuer"] == base
    assert meta["authorization_endpoint"] == f"{base}/oauth/authorize"
    assert meta["token_endpoint"] == f"{base}/oauth/token"
    assert meta["introspection_endpoint"] == f"{base}/oauth/introspect"
    assert meta["revocation_endpoint"] == f"{base}/oauth/revoke"
    assert meta["jwks_uri"] == f"{base}/.well-known/jwks.json"
    assert meta["scopes_supported"] == list(SCOPES)
    assert meta["grant_types_supported"] == ["client_credentials", "authorization_code", "refresh_token"]
    assert meta["response_types_supported"] == ["code"]
    assert meta["code_challenge_methods_supported"] == ["S256"]
    assert meta["token_endpoint_auth_methods_supported"] == [
        "client_secret_basic",
        "client_secret_post",
        "private_key_jwt",
        "none",
    ]
    assert meta["token_endpoint_auth_signing_alg_values_supported"] == ["Ed25519", "ES256"]
    assert meta["authorization_response_iss_parameter_supported"] is True
    assert "password" not in meta["grant_types_supported"]
    assert "implicit" not in meta["grant_types_supported"]


@pytest.mark.django_db
def test_metadata_is_valid_rfc8414_for_an_https_node(client: Any, settings: Any) -> None:
    settings.NODE_BASE_URL = "https://scene.example"
    meta = AuthorizationServerMetadata(client.get("/.well-known/oauth-authorization-server").json())
    meta.validate()
    assert meta["issuer"] == "https://scene.example"


@pytest.mark.django_db
def test_every_advertised_endpoint_answers(client: Any) -> None:
    meta = client.get("/.well-known/oauth-authorization-server").json()
    for name in ("token_endpoint", "introspection_endpoint", "revocation_endpoint"):
        path = urlsplit(meta[name]).path
        assert client.post(path, {}, secure=True).status_code in (400, 401), name
    assert client.get(urlsplit(meta["jwks_uri"]).path).status_code == 200
    assert client.get(urlsplit(meta["authorization_endpoint"]).path).status_code == 302  # to the login page


def _csrf(html: str) -> str:
    match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html)
    assert match, html
    return match.group(1)


@pytest.mark.filterwarnings("ignore::DeprecationWarning:authlib")
@pytest.mark.django_db(transaction=True)
def test_off_the_shelf_client_against_a_live_node(live_server: Any, settings: Any, client_factory: Any) -> None:
    """authlib's httpx OAuth2Client: discovery, client credentials, then code + PKCE S256 and refresh."""
    from authlib.integrations.httpx_client import OAuth2Client

    settings.NODE_BASE_URL = live_server.url
    meta = httpx.get(f"{live_server.url}/.well-known/oauth-authorization-server").json()
    keyset = KeySet.import_key_set(httpx.get(meta["jwks_uri"]).json())

    # 1. a vendor's software: client credentials
    vendor = client_factory("referentials:read ticketing:write", kind="depositor")
    with OAuth2Client(vendor.client.client_id, vendor.secret, scope="referentials:read") as oauth:
        token = oauth.fetch_token(meta["token_endpoint"], grant_type="client_credentials")
    assert token["token_type"] == "Bearer"
    assert token["scope"] == "referentials:read"
    claims = jwt.decode(token["access_token"], keyset, algorithms=["Ed25519"]).claims
    assert claims["iss"] == meta["issuer"]
    assert tokens.verify_access_token(token["access_token"]).client_id == vendor.client.client_id

    # 2. an application acting for a person: authorization code + PKCE S256, then refresh
    UserFactory(username="morgane")
    app = client_factory(
        "referentials:read contacts:read",
        grant_types=["authorization_code", "refresh_token"],
        redirect_uris=[REDIRECT],
        kind="reader",
    )
    verifier = secrets.token_urlsafe(48)
    with OAuth2Client(
        app.client.client_id,
        app.secret,
        scope="contacts:read",
        redirect_uri=REDIRECT,
        code_challenge_method="S256",
    ) as oauth:
        url, state = oauth.create_authorization_url(meta["authorization_endpoint"], code_verifier=verifier)
        with httpx.Client() as browser:  # the person's browser
            login = browser.get(url, follow_redirects=True)
            assert "Connexion" in login.text
            consent = browser.post(
                str(login.url),
                data={
                    "username": "morgane",
                    "password": "correct horse battery staple",
                    "next": parse_qs(urlsplit(str(login.url)).query)["next"][0],
                    "csrfmiddlewaretoken": _csrf(login.text),
                },
                follow_redirects=True,
            )
            assert "lire les contacts privés" in consent.text
            decision = browser.post(
                str(consent.url), data={"decision": "allow", "csrfmiddlewaretoken": _csrf(consent.text)}
            )
        assert decision.status_code == 302
        callback = decision.headers["Location"]
        returned = parse_qs(urlsplit(callback).query)
        assert returned["iss"] == [meta["issuer"]]
        assert returned["state"] == [state]
        token = oauth.fetch_token(
            meta["token_endpoint"], authorization_response=callback, state=state, code_verifier=verifier
        )
        assert token["scope"] == "contacts:read"
        assert token["refresh_token"]
        person_token = tokens.verify_access_token(token["access_token"])
        assert person_token.user_id is not None

        refreshed = oauth.refresh_token(meta["token_endpoint"], refresh_token=token["refresh_token"])
        assert refreshed["refresh_token"] != token["refresh_token"]
        tokens.verify_access_token(refreshed["access_token"])

        # the rotated-away refresh token is now a reuse: the family dies
        reuse = httpx.post(
            meta["token_endpoint"],
            data={"grant_type": "refresh_token", "refresh_token": token["refresh_token"]},
            auth=(app.client.client_id, str(app.secret)),
        )
        assert reuse.status_code == 400
        assert reuse.json()["error"] == "invalid_grant"
        with pytest.raises(tokens.InvalidToken):
            tokens.verify_access_token(refreshed["access_token"])
