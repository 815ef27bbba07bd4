"""Refresh tokens: rotated on every use; reusing a rotated one revokes the whole family."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.test import Client as DjangoClient
from django.utils import timezone

from dataspace.oauth import tokens
from dataspace.oauth.models import IssuedToken, RefreshToken
from tests.factories import UserFactory
from tests.oauth.conftest import basic, pkce_pair, post_token
from tests.oauth.test_authorization_code import REDIRECT, exchange, get_code

pytestmark = pytest.mark.django_db


@pytest.fixture
def app(client_factory: Any) -> Any:
    return client_factory(
        "referentials:read directory:search",
        grant_types=["authorization_code", "refresh_token"],
        redirect_uris=[REDIRECT],
        kind="reader",
    )


@pytest.fixture
def first(client: Any, app: Any) -> dict[str, Any]:
    """The token response of a code exchange, with scope referentials:read directory:search."""
    browser = DjangoClient()
    browser.force_login(UserFactory(username="dominique"))
    verifier, challenge = pkce_pair()
    code = get_code(browser, app.client.client_id, challenge, scope="referentials:read directory:search")
    body: dict[str, Any] = exchange(client, app, code, verifier).json()
    return body


def refresh(client: Any, app: Any, token: str, **extra: Any) -> Any:
    data = {"grant_type": "refresh_token", "refresh_token": token, **extra}
    return post_token(client, data, basic(app.client.client_id, app.secret))


def test_refresh_rotates_the_refresh_token(client: Any, app: Any, first: dict[str, Any]) -> None:
    response = refresh(client, app, first["refresh_token"])
    assert response.status_code == 200, response.content
    second = response.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert second["scope"] == "referentials:read directory:search"
    assert second["expires_in"] == 600
    new_access = tokens.verify_access_token(second["access_token"])
    old_access = tokens.verify_access_token(first["access_token"])  # rotation does not revoke it
    assert new_access.subject == old_access.subject
    families = set(RefreshToken.objects.values_list("family", flat=True))
    assert len(families) == 1
    assert IssuedToken.objects.get(jti=new_access.jti).family in families
    # and the new one works in turn
    assert refresh(client, app, second["refresh_token"]).status_code == 200


def test_reusing_a_rotated_refresh_token_revokes_the_family(client: Any, app: Any, first: dict[str, Any]) -> None:
    second = refresh(client, app, first["refresh_token"]).json()
    reuse = refresh(client, app, first["refresh_token"])
    assert reuse.status_code == 400
    assert reuse.json()["error"] == "invalid_grant"
    # every token of the family is now dead: the legitimate holder must authorize again
    assert refresh(client, app, second["refresh_token"]).json()["error"] == "invalid_grant"
    for body in (first, second):
        with pytest.raises(tokens.InvalidToken, match="revoked"):
            tokens.verify_access_token(body["access_token"])
    assert not RefreshToken.objects.filter(revoked_at__isnull=True).exists()
    assert not IssuedToken.objects.filter(revoked_at__isnull=True).exists()


def test_scope_may_narrow_but_not_widen(client: Any, app: Any, first: dict[str, Any]) -> None:
    narrowed = refresh(client, app, first["refresh_token"], scope="directory:search").json()
    assert narrowed["scope"] == "directory:search"
    widened = refresh(client, app, narrowed["refresh_token"], scope="directory:search contacts:read")
    assert widened.json()["error"] == "invalid_scope"


def test_refresh_token_of_another_client_is_invalid_grant(
    client: Any, first: dict[str, Any], client_factory: Any
) -> None:
    other = client_factory("referentials:read", grant_types=["refresh_token", "client_credentials"])
    response = refresh(client, other, first["refresh_token"])
    assert response.json()["error"] == "invalid_grant"
    # not burnt by the foreign attempt
    assert RefreshToken.objects.filter(used_at__isnull=True).count() == 1


def test_expired_or_unknown_refresh_token_is_invalid_grant(client: Any, app: Any, first: dict[str, Any]) -> None:
    assert refresh(client, app, "not-a-token").json()["error"] == "invalid_grant"
    RefreshToken.objects.update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    assert refresh(client, app, first["refresh_token"]).json()["error"] == "invalid_grant"


def test_refresh_needs_client_authentication(client: Any, app: Any, first: dict[str, Any]) -> None:
    response = post_token(client, {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]})
    assert response.json()["error"] == "invalid_client"
    response = post_token(
        client,
        {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]},
        basic(app.client.client_id, "wrong"),
    )
    assert response.json()["error"] == "invalid_client"


def test_disabled_client_cannot_refresh(client: Any, app: Any, first: dict[str, Any]) -> None:
    app.client.is_active = False
    app.client.save()
    assert refresh(client, app, first["refresh_token"]).json()["error"] == "invalid_client"
