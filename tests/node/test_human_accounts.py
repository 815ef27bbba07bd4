"""People's accounts: strong passwords and login throttling (admin login and any login form).

Each test uses its own usernames and its own client addresses (REMOTE_ADDR), random per run, so
that counters in the cache never leak into another test or another run (the cache is not cleared:
with Redis it is shared with the broker and outlives the run).
"""

from __future__ import annotations

import secrets
from typing import Any

import pytest
from django.contrib.auth import authenticate
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.test import Client

from dataspace.node import throttling
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

LOGIN = "/admin/login/"
PASSWORD = "une-phrase-de-passe-solide"


@pytest.fixture(autouse=True)
def _fast_hashing(settings: Any) -> None:
    """Dozens of logins per test: a fast hasher here (the node keeps Django's slow default)."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def fresh_address() -> str:
    """A client address of this test alone (IPv6 documentation range, RFC 3849)."""
    return f"2001:db8::{secrets.token_hex(2)}:{secrets.token_hex(2)}"


@pytest.fixture
def address() -> str:
    return fresh_address()


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Any:
    """The throttle's clock, moved by hand."""

    class Clock:
        now = 1_900_000_000.0

        def advance(self, seconds: float) -> None:
            self.now += seconds

    clock = Clock()
    monkeypatch.setattr(throttling, "_now", lambda: clock.now)
    return clock


def make_user(username: str) -> Any:
    """A staff account; its username is made unique for this run (returned as `.username`)."""
    user = UserFactory(username=f"{username}-{secrets.token_hex(4)}", is_staff=True)
    user.set_password(PASSWORD)
    user.save()
    return user


def attempt(client: Client, username: str, password: str, address: str) -> Any:
    return client.post(LOGIN, {"username": username, "password": password, "next": "/admin/"}, REMOTE_ADDR=address)


def logged_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


# ---------------------------------------------------------------------------- passwords


@pytest.mark.parametrize(
    "password",
    ["court-1234", "onze-carac1", "123456789012345", "password1234", "motdepasse"],
)
def test_weak_passwords_are_refused(password: str) -> None:
    with pytest.raises(ValidationError):
        validate_password(password)


def test_twelve_characters_is_the_minimum() -> None:
    with pytest.raises(ValidationError) as refused:
        validate_password("Xq7-vRt9-pL")
    assert any("12" in message for message in refused.value.messages)
    validate_password("Xq7-vRt9-pL2")


def test_password_like_the_username_is_refused() -> None:
    user = UserFactory(username="camille-imaginaire")
    with pytest.raises(ValidationError):
        validate_password("camille-imaginaire", user=user)
    validate_password(PASSWORD, user=user)


# ---------------------------------------------------------------------------- throttling


def test_sixth_attempt_is_refused_even_with_the_right_password_then_recovers(clock: Any, address: str) -> None:
    name = make_user("regisseur-a").username
    client = Client()
    for _ in range(5):
        response = attempt(client, name, "mauvais-mot-de-passe", address)
        assert response.status_code == 200
        assert "Trop de tentatives" not in response.content.decode()
        assert not logged_in(client)
    response = attempt(client, name, PASSWORD, address)
    assert response.status_code == 200
    assert "Trop de tentatives de connexion échouées" in response.content.decode()
    assert "15 minutes" in response.content.decode()
    assert not logged_in(client)

    clock.advance(14 * 60)
    assert "Trop de tentatives" in attempt(client, name, PASSWORD, address).content.decode()
    assert not logged_in(client)
    clock.advance(61)
    response = attempt(client, name, PASSWORD, address)
    assert response.status_code == 302
    assert logged_in(client)


def test_username_is_throttled_from_any_address(clock: Any, address: str) -> None:
    name = make_user("regisseur-b").username
    for _ in range(5):
        attempt(Client(), name.upper(), "faux", address)  # case does not split the counter
    response = attempt(Client(), name, PASSWORD, fresh_address())
    assert "Trop de tentatives" in response.content.decode()


def test_address_is_throttled_for_every_username(clock: Any, address: str) -> None:
    name = make_user("regisseur-c").username
    for index in range(5):
        attempt(Client(), f"inconnu-{index}-{name}", "faux", address)
    assert "Trop de tentatives" in attempt(Client(), name, PASSWORD, address).content.decode()
    other = Client()
    assert attempt(other, name, PASSWORD, fresh_address()).status_code == 302


def test_failures_outside_the_window_are_forgotten(clock: Any, address: str) -> None:
    name = make_user("regisseur-d").username
    for _ in range(4):
        attempt(Client(), name, "faux", address)
    clock.advance(15 * 60 + 1)
    attempt(Client(), name, "faux", address)
    client = Client()
    assert attempt(client, name, PASSWORD, address).status_code == 302


def test_success_clears_the_username_failures(clock: Any, address: str) -> None:
    name = make_user("regisseur-e").username
    for _ in range(4):
        attempt(Client(), name, "faux", address)
    assert attempt(Client(), name, PASSWORD, address).status_code == 302
    for _ in range(4):
        attempt(Client(), name, "faux", fresh_address())
    assert attempt(Client(), name, PASSWORD, fresh_address()).status_code == 302


def test_refused_attempts_do_not_extend_the_lock(clock: Any, address: str) -> None:
    name = make_user("regisseur-f").username
    for _ in range(5):
        attempt(Client(), name, "faux", address)
    clock.advance(10 * 60)
    for _ in range(3):
        attempt(Client(), name, "faux", address)
    clock.advance(5 * 60 + 1)
    assert attempt(Client(), name, PASSWORD, address).status_code == 302


def test_authenticate_outside_a_form_raises_login_throttled(clock: Any, rf: Any, address: str) -> None:
    name = make_user("regisseur-g").username
    request = rf.post("/", REMOTE_ADDR=address)
    for _ in range(5):
        assert authenticate(request, username=name, password="faux") is None
    with pytest.raises(throttling.LoginThrottled) as refused:
        authenticate(request, username=name, password=PASSWORD)
    assert refused.value.retry_after == 15 * 60


def test_oauth_login_screen_is_throttled_too(clock: Any, address: str) -> None:
    """The person-facing login before an OAuth consent goes through the same backend."""
    name = make_user("regisseur-h").username
    client = Client()
    for _ in range(5):
        client.post("/oauth/login/", {"username": name, "password": "faux"}, secure=True, REMOTE_ADDR=address)
    response = client.post("/oauth/login/", {"username": name, "password": PASSWORD}, secure=True, REMOTE_ADDR=address)
    assert response.status_code == 200
    # The refusal is the form's error, and the person reads why on the page.
    assert response.context["form"].has_error("__all__", code="login_throttled")
    assert "Trop de tentatives de connexion" in response.content.decode()
    assert not logged_in(client)


def test_throttling_message_is_french_first_and_translated() -> None:
    from django.utils import translation

    from dataspace.node.throttling import LoginThrottled

    assert "réessayez dans 10 minutes" in LoginThrottled(600).messages[0]
    with translation.override("en"):
        assert "try again in 1 minute." in LoginThrottled(60).messages[0]
