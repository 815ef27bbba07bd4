"""The French page /conditions/: the current terms and the « J'accepte » button (login required)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from dataspace.directory.models import TermsAcceptance
from tests.directory.factories import TermsOfUseFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def browser(licensed_professional: Any) -> Client:
    client = Client()
    client.force_login(licensed_professional)
    return client


def test_login_required(client: Client) -> None:
    response = client.get("/conditions/")
    assert response.status_code == 302
    assert response["Location"].startswith("/oauth/login/?next=/conditions/")


def test_shows_the_current_terms_and_the_button(browser: Client) -> None:
    TermsOfUseFactory(version="2026-1", text="Article premier : les données appartiennent aux structures.")
    page = browser.get("/conditions/").content.decode()
    assert "Conditions d&#x27;utilisation du registre" in page or "Conditions d'utilisation du registre" in page
    assert "Version 2026-1" in page
    assert "Article premier" in page
    assert "J&#x27;accepte" in page or "J'accepte" in page
    assert 'name="version" value="2026-1"' in page


def test_accepting_records_it_and_redirects_to_next(browser: Client, licensed_professional: Any) -> None:
    TermsOfUseFactory(version="2026-1")
    response = browser.post("/conditions/", {"version": "2026-1", "next": "/api/v1/professionals/me"})
    assert response.status_code == 302
    assert response["Location"] == "/api/v1/professionals/me"
    assert TermsAcceptance.objects.get().user == licensed_professional
    page = browser.get("/conditions/").content.decode()
    assert "Vous avez accepté la version 2026-1" in page
    assert 'name="version"' not in page


def test_next_to_another_site_is_ignored(browser: Client) -> None:
    TermsOfUseFactory(version="2026-1")
    response = browser.post("/conditions/", {"version": "2026-1", "next": "https://ailleurs.example/"})
    assert response["Location"] == "/conditions/"


def test_an_outdated_version_is_refused(browser: Client) -> None:
    TermsOfUseFactory(version="2026-1", published_at=timezone.now() - dt.timedelta(days=10))
    TermsOfUseFactory(version="2026-2", published_at=timezone.now() - dt.timedelta(days=1))
    response = browser.post("/conditions/", {"version": "2026-1"})
    assert response.status_code == 400
    assert "n&#x27;est pas la version en vigueur" in response.content.decode()
    assert TermsAcceptance.objects.count() == 0


def test_no_terms_published(browser: Client) -> None:
    assert "Aucune version" in browser.get("/conditions/").content.decode()


def test_after_accepting_the_page_offers_a_way_onward(browser: Client) -> None:
    TermsOfUseFactory(version="2026-1")
    before = browser.get("/conditions/").content.decode()
    assert 'href="/api/docs/"' not in before  # first the button
    response = browser.post("/conditions/", {"version": "2026-1"})
    assert response["Location"] == "/conditions/"
    page = browser.get("/conditions/").content.decode()
    assert "Vous avez accepté la version 2026-1" in page
    assert 'href="/api/docs/"' in page
    assert 'href="/">' in page
    assert "Retour à l'accueil" in page
