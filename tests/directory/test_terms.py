"""Terms of use: current version, acceptance rules, GET /api/v1/terms, POST /api/v1/terms/accept."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from dataspace.directory.models import TermsAcceptance
from dataspace.directory.services import accept_terms, current_terms_version, publish_terms
from tests.directory.factories import TermsOfUseFactory
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db
NOW = timezone.now()


def test_current_version_is_the_latest_published() -> None:
    assert current_terms_version() == ""
    TermsOfUseFactory(version="2025-1", published_at=NOW - dt.timedelta(days=300))
    TermsOfUseFactory(version="2026-1", published_at=NOW - dt.timedelta(days=3))
    TermsOfUseFactory(version="2027-1", published_at=NOW + dt.timedelta(days=30))  # not yet
    assert current_terms_version() == "2026-1"
    assert current_terms_version(now=NOW + dt.timedelta(days=31)) == "2027-1"


def test_publish_is_idempotent() -> None:
    first = publish_terms("2026-1", "Texte.")
    assert publish_terms("2026-1", "Autre texte.") == first
    assert current_terms_version() == "2026-1"


def test_accept_only_the_current_version() -> None:
    person = UserFactory()
    with pytest.raises(ValueError, match="Aucune version"):
        accept_terms(person, "2026-1")
    TermsOfUseFactory(version="2025-1", published_at=NOW - dt.timedelta(days=300))
    TermsOfUseFactory(version="2026-1", published_at=NOW - dt.timedelta(days=3))
    with pytest.raises(ValueError, match="« 2025-1 » n'est pas la version en vigueur"):
        accept_terms(person, "2025-1")
    first = accept_terms(person, "2026-1", now=NOW)
    again = accept_terms(person, "2026-1", now=NOW + dt.timedelta(hours=1))
    assert again == first
    assert TermsAcceptance.objects.filter(user=person).count() == 1


# ---------------------------------------------------------------------------- GET /api/v1/terms


def test_get_terms_is_public(anon_client: APIClient) -> None:
    TermsOfUseFactory(version="2026-1", text="Le texte des conditions.")
    response = anon_client.get("/api/v1/terms")
    assert response.status_code == 200
    assert response.json()["version"] == "2026-1"
    assert response.json()["text"] == "Le texte des conditions."


def test_get_terms_with_a_token(bearer_client: Any) -> None:
    TermsOfUseFactory(version="2026-1")
    assert bearer_client("referentials:read", kind="reader").get("/api/v1/terms").json()["version"] == "2026-1"


def test_get_terms_404_when_none_is_published(anon_client: APIClient) -> None:
    response = anon_client.get("/api/v1/terms")
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"


# ---------------------------------------------------------------------------- POST /api/v1/terms/accept


@pytest.fixture
def terms(db: Any) -> Any:
    return TermsOfUseFactory(version="2026-1")


def test_accept_with_a_personal_reader_key(bearer_client: Any, licensed_professional: Any, terms: Any) -> None:
    api = bearer_client("referentials:read directory:search", kind="reader", user=licensed_professional)
    response = api.post("/api/v1/terms/accept", {"version": "2026-1"}, format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["version"] == "2026-1"
    assert TermsAcceptance.objects.get().user == licensed_professional


def test_accept_with_a_session(licensed_professional: Any, terms: Any) -> None:
    api = APIClient(enforce_csrf_checks=True)
    api.force_login(licensed_professional)
    refused = api.post("/api/v1/terms/accept", {"version": "2026-1"}, format="json")
    assert refused.status_code == 403  # a session needs its CSRF token
    api = APIClient()
    api.force_login(licensed_professional)
    assert api.post("/api/v1/terms/accept", {"version": "2026-1"}, format="json").status_code == 200


def test_accept_refuses_another_version_naming_it(bearer_client: Any, licensed_professional: Any, terms: Any) -> None:
    api = bearer_client("directory:search", kind="reader", user=licensed_professional)
    response = api.post("/api/v1/terms/accept", {"version": "2025-9"}, format="json")
    assert response.status_code == 400
    assert "version" in response.json()["fields"]
    missing = api.post("/api/v1/terms/accept", {}, format="json")
    assert missing.status_code == 400
    assert "version" in missing.json()["fields"]
    assert TermsAcceptance.objects.count() == 0


def test_accept_refuses_a_machine_client(bearer_client: Any, terms: Any) -> None:
    response = bearer_client("directory:search", kind="depositor").post(
        "/api/v1/terms/accept", {"version": "2026-1"}, format="json"
    )
    assert response.status_code == 403
    assert response.json()["error"] == "person_required"


def test_accept_refuses_a_token_without_the_scope(bearer_client: Any, licensed_professional: Any, terms: Any) -> None:
    api = bearer_client("referentials:read", kind="reader", user=licensed_professional)
    response = api.post("/api/v1/terms/accept", {"version": "2026-1"}, format="json")
    assert response.status_code == 403
    assert response.json()["error"] == "insufficient_scope"


def test_accept_refuses_anonymous(anon_client: APIClient, terms: Any) -> None:
    assert anon_client.post("/api/v1/terms/accept", {"version": "2026-1"}, format="json").status_code == 401


def test_accept_does_not_answer_get(bearer_client: Any, licensed_professional: Any, terms: Any) -> None:
    api = bearer_client("directory:search", kind="reader", user=licensed_professional)
    assert api.get("/api/v1/terms/accept").status_code == 405
