"""The professionals' search page (/recherche/) in a real browser: Debian's chromium through Playwright.

A licensed professional opens the registry's home page, follows its link to the search, signs
in, finds a person and a touring show (once, with all its performances and both sources), reads
each node's status in words, then searches live while one member node hangs and another is
down: the page answers within the search timeout and says « délai dépassé » and « erreur ».
The search is the real `federation.search.search` over index rows the test writes
(tests/web/search_index.py). Screenshots go to var/screenshots/ (gitignored), or $SCREENSHOT_DIR.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.auth import get_user_model

from dataspace.node.services import initialise_node
from tests.directory.factories import LicenceFactory, ProfessionalAccountFactory
from tests.factories import OrganisationFactory
from tests.web.search_index import member, two_members
from tests.web.test_policy_pages_browser import PASSWORD, screenshot

pytestmark = pytest.mark.browser

#: Seconds the registry waits for member nodes in live mode (FEDERATION_SEARCH_TIMEOUT).
TIMEOUT = 1.5


@pytest.fixture
def registry_node(transactional_db: Any, settings: Any) -> None:
    settings.NODE_ROLES = ["registry"]
    settings.NODE_NAME = "registre"
    settings.FEDERATION_SEARCH_TIMEOUT = TIMEOUT
    initialise_node()


def licensed_professional(username: str) -> Any:
    company = OrganisationFactory(name="Compagnie du Sablier")
    LicenceFactory(organisation=company)
    user = get_user_model().objects.create_user(username, password=PASSWORD)
    ProfessionalAccountFactory(user=user, organisation=company)
    return user


def sign_in(page: Any, username: str) -> None:
    assert "/oauth/login/" in page.url
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.get_by_role("button", name="Se connecter").click()
    page.wait_for_load_state()


def node_row(page: Any, name: str) -> str:
    text: str = page.locator(".search-table tbody tr").filter(has_text=name).inner_text()
    return text


def test_professional_finds_people_and_a_touring_show_with_node_statuses(
    page: Any, live_server: Any, registry_node: None
) -> None:
    two_members()
    member("https://scene-a.example", "Scène A")
    member("https://scene-b.example", "Scène B", error="HTTP 503 : service indisponible")
    licensed_professional("lea.programmation")

    # 1. From the home page, through the login, to the search.
    page.goto(live_server.url + "/")
    page.get_by_role("link", name="Rechercher dans l'espace de données").click()
    page.wait_for_load_state()
    sign_in(page, "lea.programmation")
    assert page.url == live_server.url + "/recherche/"
    assert page.get_by_role("heading", name="Rechercher dans l'espace de données").is_visible()
    assert page.locator("nav.search-types a[aria-current=page]").inner_text() == "Personnes"
    screenshot(page, "recherche-formulaire")

    # 2. A person, accents and case ignored; the form is filled by its labels.
    page.get_by_label("Texte libre").fill("ELOISE")
    page.get_by_label("Finalité").select_option("contracting")
    page.get_by_label("Métier").select_option("regisseur_lumiere")
    page.get_by_role("button", name="Rechercher").click()
    page.wait_for_load_state()
    assert "mode=index" in page.url
    assert "purpose=contracting" in page.url
    assert page.get_by_role("status").inner_text().startswith("1 résultat")
    result = page.locator("li.search-result")
    assert result.count() == 1
    assert result.get_by_role("heading", name="Éloïse Lumière").is_visible()
    assert "régisseur·se lumière" in result.inner_text()
    source = result.locator(".result-source").inner_text()
    assert source.startswith(
        "Source : Théâtre du Fictif (nœud Scène A) — Politique : Fiche publiée avec le consentement"
    )
    # Statuses in words, one row per node (the table has its headers).
    assert page.get_by_role("columnheader", name="État").is_visible()
    assert "index à jour" in node_row(page, "Scène A")
    scene_b = node_row(page, "Scène B")
    assert "erreur" in scene_b
    assert "HTTP 503 : service indisponible" in scene_b
    assert page.get_by_label("Texte libre").input_value() == "ELOISE"  # the form keeps the search
    screenshot(page, "recherche-personnes")

    # 3. Shows: the touring show appears once with its three performances and both sources.
    page.get_by_role("link", name="Spectacles").click()
    page.wait_for_load_state()
    assert page.locator("nav.search-types a[aria-current=page]").inner_text() == "Spectacles"
    assert page.get_by_label("Finalité").input_value() == "contracting"  # kept across types
    page.get_by_label("Finalité").select_option("touring")
    page.get_by_label("Texte libre").fill("songe")
    page.get_by_label("En tournée").check()
    page.get_by_role("button", name="Rechercher").click()
    page.wait_for_load_state()
    shows = page.locator("li.search-result")
    assert shows.count() == 1
    show = shows.first
    assert show.get_by_role("heading", name="Le Songe d'une nuit d'été").is_visible()
    assert show.get_by_role("heading", name="3 représentations").is_visible()
    lines = show.locator(".result-performances li")
    assert lines.count() == 3
    assert "Salle des Fêtes — Petite salle — Lyon" in lines.nth(2).inner_text()
    show.get_by_text("Vu sur 2 fiches, regroupées").click()
    assert show.locator(".result-sources li").count() == 2
    assert show.locator(".result-sources li").nth(1).is_visible()
    screenshot(page, "recherche-spectacles")


@pytest.fixture
def hung_node() -> Iterator[str]:
    """A member that accepts connections and never answers (the live search must not wait)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                connection, _address = server.accept()
            except OSError:
                continue
            held.append(connection)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}"
    stop.set()
    thread.join(timeout=2)
    for connection in held:
        connection.close()
    server.close()


def closed_port() -> str:
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    return f"http://127.0.0.1:{port}"


def test_live_search_answers_within_the_timeout_when_a_node_hangs(
    page: Any, live_server: Any, registry_node: None, hung_node: str
) -> None:
    member(hung_node, "Scène qui ne répond pas", replicated=False)
    member(closed_port(), "Scène arrêtée", replicated=False)
    licensed_professional("lea.direct")
    page.goto(live_server.url + "/recherche/?type=venue")
    sign_in(page, "lea.direct")
    assert page.locator("nav.search-types a[aria-current=page]").inner_text() == "Lieux"
    page.get_by_label("Finalité").select_option("programming")
    page.get_by_label("Auprès de chaque nœud, en direct").check()
    started = time.monotonic()
    page.get_by_role("button", name="Rechercher").click()
    page.wait_for_load_state()
    elapsed = time.monotonic() - started
    assert "mode=live" in page.url
    assert elapsed < TIMEOUT + 3.0, elapsed  # the hung node was not waited for
    assert "interrogation de chaque nœud en direct" in page.get_by_role("status").inner_text()
    hung = node_row(page, "Scène qui ne répond pas")
    assert "délai dépassé" in hung
    assert "erreur" in node_row(page, "Scène arrêtée")
    assert "répondu en" in node_row(page, "registre")
    screenshot(page, "recherche-direct-noeud-lent")
