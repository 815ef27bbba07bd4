"""Authorization code grant: login, French consent, PKCE S256 only, exact redirect URI, single-use
code, RFC 9207 `iss` on every redirect."""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from django.test import Client as DjangoClient
from django.utils import timezone

from dataspace.oauth import tokens
from dataspace.oauth.models import AuthorizationCode, IssuedToken, RefreshToken
from tests.factories import UserFactory
from tests.oauth.conftest import basic, pkce_pair, post_token

pytestmark = pytest.mark.django_db

REDIRECT = "https://app.example/callback"
ISSUER = "http://127.0.0.1:8000"


@pytest.fixture
def app(client_factory: Any) -> Any:
    """A confidential application acting for people (code + refresh), with a secret."""
    return client_factory(
        "referentials:read contacts:read",
        grant_types=["authorization_code", "refresh_token"],
        redirect_uris=[REDIRECT],
        name="Agenda Partagé",
        kind="reader",
    )


@pytest.fixture
def person(db: Any) -> Any:
    return UserFactory(username="camille")


@pytest.fixture
def browser(person: Any) -> DjangoClient:
    browser = DjangoClient()
    browser.force_login(person)
    return browser


def authorize_url(client_id: str, challenge: str | None = None, **overrides: Any) -> str:
    params: dict[str, Any] = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": REDIRECT,
        "scope": "referentials:read",
        "state": "xyz-123",
    }
    if challenge is not None:
        params.update(code_challenge=challenge, code_challenge_method="S256")
    params.update(overrides)
    return "/oauth/authorize?" + urlencode({k: v for k, v in params.items() if v is not None})


def query(response: Any) -> dict[str, str]:
    assert response.status_code == 302, response.content
    location = urlsplit(response["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == REDIRECT
    return {key: values[0] for key, values in parse_qs(location.query).items()}


def get_code(browser: DjangoClient, client_id: str, challenge: str, **overrides: Any) -> str:
    url = authorize_url(client_id, challenge, **overrides)
    assert browser.get(url, secure=True).status_code == 200
    params = query(browser.post(url, {"decision": "allow"}, secure=True))
    return params["code"]


def exchange(client: Any, app: Any, code: str, verifier: str | None, redirect_uri: str = REDIRECT) -> Any:
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri}
    if verifier is not None:
        data["code_verifier"] = verifier
    return post_token(client, data, basic(app.client.client_id, app.secret))


def test_anonymous_person_is_sent_to_the_french_login_page_then_back(client: Any, app: Any, person: Any) -> None:
    _, challenge = pkce_pair()
    url = authorize_url(app.client.client_id, challenge)
    response = client.get(url, secure=True)
    assert response.status_code == 302
    assert response["Location"].startswith("/oauth/login/?next=")
    page = client.get(response["Location"], secure=True)
    assert page.status_code == 200
    assert "Connexion" in page.content.decode()
    assert "Mot de passe" in page.content.decode()
    logged = client.post(
        "/oauth/login/", {"username": "camille", "password": "correct horse battery staple", "next": url}, secure=True
    )
    assert logged.status_code == 302
    assert logged["Location"] == url


def test_consent_screen_names_client_owner_and_each_scope_in_plain_words(browser: Any, app: Any) -> None:
    _, challenge = pkce_pair()
    url = authorize_url(app.client.client_id, challenge, scope="referentials:read contacts:read")
    page = browser.get(url, secure=True).content.decode()
    assert "Agenda Partagé" in page
    assert "Éditeur Imaginaire" in page
    assert "lire les référentiels" in page
    assert "lire les contacts privés de la structure" in page
    assert "Autoriser" in page
    assert "Refuser" in page
    assert 'name="csrfmiddlewaretoken"' in page


def test_consent_is_csrf_protected(person: Any, app: Any) -> None:
    browser = DjangoClient(enforce_csrf_checks=True)
    browser.force_login(person)
    _, challenge = pkce_pair()
    response = browser.post(authorize_url(app.client.client_id, challenge), {"decision": "allow"}, secure=True)
    assert response.status_code == 403
    assert not AuthorizationCode.objects.exists()


def test_full_flow_code_then_tokens_for_the_person(client: Any, browser: Any, app: Any, person: Any) -> None:
    verifier, challenge = pkce_pair()
    url = authorize_url(app.client.client_id, challenge)
    browser.get(url, secure=True)
    params = query(browser.post(url, {"decision": "allow"}, secure=True))
    assert params["state"] == "xyz-123"
    assert params["iss"] == ISSUER
    code = params["code"]
    record = AuthorizationCode.objects.get()
    assert record.code_digest != code  # stored as a digest only
    assert (record.expires_at - record.auth_time).total_seconds() == 60

    response = exchange(client, app, code, verifier)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["scope"] == "referentials:read"
    assert body["expires_in"] == 600
    assert body["refresh_token"]
    access = tokens.verify_access_token(body["access_token"])
    assert access.subject == str(person.pk)
    assert access.client_id == app.client.client_id
    issued = IssuedToken.objects.get(jti=access.jti)
    record.refresh_from_db()
    assert record.used_at is not None
    assert issued.family == record.family
    assert RefreshToken.objects.get().family == record.family


def test_refusal_redirects_with_access_denied_state_and_iss(browser: Any, app: Any) -> None:
    _, challenge = pkce_pair()
    url = authorize_url(app.client.client_id, challenge)
    params = query(browser.post(url, {"decision": "deny"}, secure=True))
    assert params["error"] == "access_denied"
    assert params["state"] == "xyz-123"
    assert params["iss"] == ISSUER
    assert not AuthorizationCode.objects.exists()


def test_missing_pkce_is_refused_with_iss(browser: Any, app: Any) -> None:
    params = query(browser.get(authorize_url(app.client.client_id), secure=True))
    assert params["error"] == "invalid_request"
    assert params["iss"] == ISSUER
    assert params["state"] == "xyz-123"
    assert "code" not in params


def test_plain_method_is_refused(browser: Any, app: Any) -> None:
    verifier, _ = pkce_pair()
    url = authorize_url(app.client.client_id, code_challenge=verifier, code_challenge_method="plain")
    params = query(browser.get(url, secure=True))
    assert params["error"] == "invalid_request"
    assert params["iss"] == ISSUER
    # a challenge without its method would default to plain: refused too
    params = query(browser.get(authorize_url(app.client.client_id, code_challenge=verifier), secure=True))
    assert params["error"] == "invalid_request"
    assert not AuthorizationCode.objects.exists()


def test_unregistered_redirect_uri_is_never_redirected_to(browser: Any, app: Any) -> None:
    _, challenge = pkce_pair()
    for uri in ("https://evil.example/callback", REDIRECT + "/", REDIRECT + "?x=1", "https://APP.example/callback"):
        response = browser.get(authorize_url(app.client.client_id, challenge, redirect_uri=uri), secure=True)
        assert response.status_code == 400
        assert "Demande d'autorisation invalide" in response.content.decode()


def test_missing_redirect_uri_or_unknown_client_shows_an_error_page(browser: Any, app: Any) -> None:
    _, challenge = pkce_pair()
    response = browser.get(authorize_url(app.client.client_id, challenge, redirect_uri=None), secure=True)
    assert response.status_code == 400
    response = browser.get(authorize_url("nobody", challenge), secure=True)
    assert response.status_code in (400, 401)
    assert "invalid_client" in response.content.decode()


def test_scope_outside_the_clients_set_is_invalid_scope(browser: Any, app: Any) -> None:
    _, challenge = pkce_pair()
    params = query(browser.get(authorize_url(app.client.client_id, challenge, scope="journal:read"), secure=True))
    assert params["error"] == "invalid_scope"
    assert params["iss"] == ISSUER


def test_implicit_response_type_is_unsupported(browser: Any, app: Any) -> None:
    _, challenge = pkce_pair()
    params = query(browser.get(authorize_url(app.client.client_id, challenge, response_type="token"), secure=True))
    assert params["error"] == "unsupported_response_type"
    assert params["iss"] == ISSUER


def test_wrong_redirect_uri_at_the_token_endpoint_is_invalid_grant(client: Any, browser: Any, app: Any) -> None:
    verifier, challenge = pkce_pair()
    code = get_code(browser, app.client.client_id, challenge)
    response = exchange(client, app, code, verifier, redirect_uri="https://app.example/other")
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


def test_wrong_or_missing_verifier_is_refused(client: Any, browser: Any, app: Any) -> None:
    _, challenge = pkce_pair()
    code = get_code(browser, app.client.client_id, challenge)
    other_verifier, _ = pkce_pair()
    assert exchange(client, app, code, other_verifier).json()["error"] == "invalid_grant"
    code = get_code(browser, app.client.client_id, challenge)
    assert exchange(client, app, code, None).json()["error"] == "invalid_request"
    assert not IssuedToken.objects.exists()


def test_reused_code_is_refused_and_its_tokens_revoked(client: Any, browser: Any, app: Any) -> None:
    verifier, challenge = pkce_pair()
    code = get_code(browser, app.client.client_id, challenge)
    first = exchange(client, app, code, verifier).json()
    tokens.verify_access_token(first["access_token"])

    replay = exchange(client, app, code, verifier)
    assert replay.status_code == 400
    assert replay.json()["error"] == "invalid_grant"
    with pytest.raises(tokens.InvalidToken, match="revoked"):
        tokens.verify_access_token(first["access_token"])
    refresh = post_token(
        client,
        {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]},
        basic(app.client.client_id, app.secret),
    )
    assert refresh.json()["error"] == "invalid_grant"


def test_expired_code_is_invalid_grant(client: Any, browser: Any, app: Any) -> None:
    verifier, challenge = pkce_pair()
    code = get_code(browser, app.client.client_id, challenge)
    AuthorizationCode.objects.update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    assert exchange(client, app, code, verifier).json()["error"] == "invalid_grant"


def test_code_of_another_client_is_invalid_grant(client: Any, browser: Any, app: Any, client_factory: Any) -> None:
    other = client_factory(
        "referentials:read", grant_types=["authorization_code"], redirect_uris=[REDIRECT], kind="reader"
    )
    verifier, challenge = pkce_pair()
    code = get_code(browser, app.client.client_id, challenge)
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT, "code_verifier": verifier}
    response = post_token(client, data, basic(other.client.client_id, other.secret))
    assert response.json()["error"] == "invalid_grant"
    # the rightful client can still use it: a foreign attempt does not burn it
    assert exchange(client, app, code, verifier).status_code == 200


def test_public_client_exchanges_with_pkce_only(client: Any, browser: Any, client_factory: Any) -> None:
    public = client_factory(
        "referentials:read",
        grant_types=["authorization_code", "refresh_token"],
        redirect_uris=[REDIRECT],
        auth_method="none",
        kind="reader",
    )
    assert public.secret is None
    verifier, challenge = pkce_pair()
    code = get_code(browser, public.client.client_id, challenge)
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT,
        "code_verifier": verifier,
        "client_id": public.client.client_id,
    }
    response = post_token(client, data)
    assert response.status_code == 200, response.content
    assert "refresh_token" in response.json()


def test_confidential_client_must_authenticate_at_the_token_endpoint(client: Any, browser: Any, app: Any) -> None:
    verifier, challenge = pkce_pair()
    code = get_code(browser, app.client.client_id, challenge)
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT,
        "code_verifier": verifier,
        "client_id": app.client.client_id,
    }
    assert post_token(client, data).json()["error"] == "invalid_client"


def test_consent_screen_in_english(browser: Any, app: Any, settings: Any) -> None:
    _, challenge = pkce_pair()
    url = authorize_url(app.client.client_id, challenge, scope="referentials:read contacts:read")
    browser.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    page = browser.get(url, secure=True).content.decode()
    assert "Allow “Agenda Partagé”?" in page
    assert "read the structure&#x27;s private contacts" in page
    assert ">Deny<" in page
    anonymous = DjangoClient()
    anonymous.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    login = anonymous.get("/oauth/login/", secure=True).content.decode()
    assert "Sign in" in login
    assert "Password" in login


def test_the_login_page_names_an_application_only_when_it_continues_an_authorization(
    client: Any, app: Any, person: Any
) -> None:
    application = "Une application demande à accéder à des données en votre nom"
    _, challenge = pkce_pair()
    sent = client.get(authorize_url(app.client.client_id, challenge), secure=True)
    for_an_application = client.get(sent["Location"], secure=True).content.decode()
    assert application in for_an_application
    assert "Connectez-vous pour continuer." not in for_an_application
    for_the_terms = client.get("/oauth/login/?next=/conditions/", secure=True).content.decode()
    assert application not in for_the_terms
    assert "Connectez-vous pour continuer." in for_the_terms
    assert 'name="next" value="/conditions/"' in for_the_terms
    alone = client.get("/oauth/login/", secure=True).content.decode()
    assert application not in alone
    assert "Connectez-vous pour continuer." in alone
    # A look-alike path or another site's authorization endpoint is not this node's authorization.
    lookalike = client.get("/oauth/login/?next=/oauth/authorized-apps", secure=True).content.decode()
    assert application not in lookalike
    elsewhere = client.get("/oauth/login/?next=https://ailleurs.example/oauth/authorize", secure=True).content.decode()
    assert application not in elsewhere
