"""GET /api/v1/professionals/me: the calling person's account, licences, licensed today, terms."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from rest_framework.test import APIClient

from dataspace.directory.services import accept_terms
from tests.directory.factories import TermsOfUseFactory
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _today(monkeypatch: Any) -> None:
    """The day of the request is 2026-11-30 (the view reads timezone.localdate())."""
    from dataspace.directory.api import views

    monkeypatch.setattr(views.timezone, "localdate", lambda: dt.date(2026, 11, 30))


def test_licensed_professional(bearer_client: Any, licensed_professional: Any) -> None:
    TermsOfUseFactory(version="2026-1")
    api = bearer_client("referentials:read directory:search", kind="reader", user=licensed_professional)
    response = api.get("/api/v1/professionals/me")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["username"] == "pro-licencie"
    assert body["verified"] is True
    assert body["organisation"]["name"] == "Compagnie des Essais licenciée"
    assert body["licences"] == [
        {
            "number": "2-PLATESV-D-2026-000211",
            "category": 2,
            "status": "valide",
            "deposited_on": "2026-01-15",
            "valid_until": "2031-01-15",
            "in_force": True,
        }
    ]
    assert body["licensed_today"] is True
    assert body["licence_status"] == "valide"
    assert body["standing"]["reason"] == ""
    assert body["terms"] == {"current": "2026-1", "accepted": "", "up_to_date": False}
    accept_terms(licensed_professional, "2026-1")
    assert api.get("/api/v1/professionals/me").json()["terms"]["up_to_date"] is True


def test_expired_professional(bearer_client: Any, unlicensed_professional: Any) -> None:
    api = bearer_client("directory:search", kind="reader", user=unlicensed_professional)
    body = api.get("/api/v1/professionals/me").json()
    assert body["licensed_today"] is False
    assert body["licence_status"] == "expiree"
    assert body["standing"] == {
        "reason": "licence_expired",
        "detail": "Votre licence PLATESV-D-2020-001234 a expiré le 12/02/2025.",
    }
    assert body["licences"][0]["in_force"] is False
    assert body["terms"] == {"current": "", "accepted": "", "up_to_date": False}


def test_with_a_session(licensed_professional: Any) -> None:
    api = APIClient()
    api.force_login(licensed_professional)
    assert api.get("/api/v1/professionals/me").json()["username"] == "pro-licencie"


def test_someone_without_a_professional_account_gets_404(bearer_client: Any) -> None:
    api = bearer_client("directory:search", kind="reader", user=UserFactory(username="pas-pro"))
    response = api.get("/api/v1/professionals/me")
    assert response.status_code == 404
    assert response.json()["error"] == "not_professional"


def test_machine_client_is_refused(bearer_client: Any) -> None:
    response = bearer_client("directory:search", kind="reader").get("/api/v1/professionals/me")
    assert response.status_code == 403
    assert response.json()["error"] == "person_required"


def test_token_without_the_scope_is_refused(bearer_client: Any, licensed_professional: Any) -> None:
    api = bearer_client("referentials:read", kind="reader", user=licensed_professional)
    response = api.get("/api/v1/professionals/me")
    assert response.status_code == 403
    assert response.json()["error"] == "insufficient_scope"
    assert 'scope="directory:search"' in response["WWW-Authenticate"]


def test_anonymous_is_refused(anon_client: APIClient) -> None:
    assert anon_client.get("/api/v1/professionals/me").status_code == 401


def test_query_count(bearer_client: Any, licensed_professional: Any, django_assert_max_num_queries: Any) -> None:
    api = bearer_client("directory:search", kind="reader", user=licensed_professional)
    api.get("/api/v1/professionals/me")  # warm the node's key cache
    # token check, person, profile (2), current terms
    with django_assert_max_num_queries(6):
        assert api.get("/api/v1/professionals/me").status_code == 200
