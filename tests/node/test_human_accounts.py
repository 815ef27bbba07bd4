"""People's accounts: strong passwords and login throttling (admin login and any login form).

Each test uses its own usernames and its own client address (REMOTE_ADDR), so that counters in
the shared cache never leak into another test (the cache is not cleared: with Redis it is shared).
"""

from __future__ import annotations

import itertools
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
_addresses = itertools.count(1)


@pytest.fixture(autouse=True)
def _fast_hashing(settings: Any) -> None:
    """Dozens of logins per test: a fast hasher here (the node keeps Django's slow default)."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def address() -> str:
    """A client address of this test alone (documentation range, RFC 5737)."""
    return f"198.51.100.{next(_addresses) % 250 + 1}"


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
    user = UserFactory(username=username, is_staff=True)
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
    make_user("regisseur-a")
    client = Client()
    for _ in range(5):
        response = attempt(client, "regisseur-a", "mauvais-mot-de-passe", address)
        assert response.status_code == 200
        assert "Trop de tentatives" not in response.content.decode()
        assert not logged_in(client)
    response = attempt(client, "regisseur-a", PASSWORD, address)
    assert response.status_code == 200
    assert "Trop de tentatives de connexion échouées" in response.content.decode()
    assert "15 minutes" in response.content.decode()
    assert not logged_in(client)

    clock.advance(14 * 60)
    assert "Trop de tentatives" in attempt(client, "regisseur-a", PASSWORD, address).content.decode()
    assert not logged_in(client)
    clock.advance(61)
    response = attempt(client, "regisseur-a", PASSWORD, address)
    assert response.status_code == 302
    assert logged_in(client)


def test_username_is_throttled_from_any_address(clock: Any, address: str) -> None:
    make_user("regisseur-b")
    for _ in range(5):
        attempt(Client(), "Regisseur-B", "faux", address)  # case does not split the counter
    response = attempt(Client(), "regisseur-b", PASSWORD, "203.0.113.77")
    assert "Trop de tentatives" in response.content.decode()


def test_address_is_throttled_for_every_username(clock: Any, address: str) -> None:
    make_user("regisseur-c")
    for index in range(5):
        attempt(Client(), f"inconnu-{index}", "faux", address)
    assert "Trop de tentatives" in attempt(Client(), "regisseur-c", PASSWORD, address).content.decode()
    other = Client()
    assert attempt(other, "regisseur-c", PASSWORD, "203.0.113.78").status_code == 302


def test_failures_outside_the_window_are_forgotten(clock: Any, address: str) -> None:
    make_user("regisseur-d")
    for _ in range(4):
        attempt(Client(), "regisseur-d", "faux", address)
    clock.advance(15 * 60 + 1)
    attempt(Client(), "regisseur-d", "faux", address)
    client = Client()
    assert attempt(client, "regisseur-d", PASSWORD, address).status_code == 302


def test_success_clears_the_username_failures(clock: Any, address: str) -> None:
    make_user("regisseur-e")
    for _ in range(4):
        attempt(Client(), "regisseur-e", "faux", address)
    assert attempt(Client(), "regisseur-e", PASSWORD, address).status_code == 302
    for _ in range(4):
        attempt(Client(), "regisseur-e", "faux", "203.0.113.79")
    assert attempt(Client(), "regisseur-e", PASSWORD, "203.0.113.80").status_code == 302


def test_refused_attempts_do_not_extend_the_lock(clock: Any, address: str) -> None:
    make_user("regisseur-f")
    for _ in range(5):
        attempt(Client(), "regisseur-f", "faux", address)
    clock.advance(10 * 60)
    for _ in range(3):
        attempt(Client(), "regisseur-f", "faux", address)
    clock.advance(5 * 60 + 1)
    assert attempt(Client(), "regisseur-f", PASSWORD, address).status_code == 302


def test_authenticate_outside_a_form_raises_login_throttled(clock: Any, rf: Any, address: str) -> None:
    make_user("regisseur-g")
    request = rf.post("/", REMOTE_ADDR=address)
    for _ in range(5):
        assert authenticate(request, username="regisseur-g", password="faux") is None
    with pytest.raises(throttling.LoginThrottled) as refused:
        authenticate(request, username="regisseur-g", password=PASSWORD)
    assert refused.value.retry_after == 15 * 60
