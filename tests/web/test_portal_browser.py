"""The person's portal (/moi/) in a real browser: Debian's chromium through Playwright.

A person asks for a sign-in link, opens it from the email (read from the locmem outbox: the live
server runs in this process), sees their consents, withdraws one through the confirmation page,
downloads a receipt that verifies, and reads who looked at their directory entry. Screenshots go
to var/screenshots/ (gitignored), or to $SCREENSHOT_DIR.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from typing import Any

import pytest
from django.core import mail
from django.utils import timezone

from dataspace.node.services import initialise_node
from tests.conftest import fresh_throttles
from tests.web.test_policy_pages_browser import screenshot

pytestmark = pytest.mark.browser

LINK = re.compile(r"https?://[^\s]+(/moi/lien/[A-Za-z0-9_-]+)")


@pytest.fixture
def portal_node(transactional_db: Any, settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    settings.NODE_ROLES = ["structure"]
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.PORTAL_LINK_MINUTES = 15
    initialise_node()
    fresh_throttles(monkeypatch)  # not cache.clear(): it would flush the other xdist worker's counters
    mail.outbox = []


def test_person_signs_in_by_link_withdraws_a_consent_and_reads_who_looked(
    page: Any, live_server: Any, portal_node: None
) -> None:
    from dataspace.audit.services import Actor, journal
    from dataspace.consent import services
    from dataspace.consent.models import ConsentRecord
    from tests.consent.test_portal import make_person
    from tests.factories import OrganisationFactory

    lilas = OrganisationFactory(name="Théâtre des Lilas imaginaires")
    brume = OrganisationFactory(name="Compagnie de la Brume")
    user, entry, directory_consent = make_person(
        "alice.lumiere", "alice@example.org", lilas, display_name="Alice Lumière"
    )
    # A second consent of hers, to the directory of another structure, stays in force.
    _other_user, _other_entry, _unused = make_person("bruno.son", "bruno@example.org", lilas)
    from dataspace.directory.models import DirectoryEntry

    second_entry = DirectoryEntry.objects.create(owner=brume, display_name="Alice Lumière", person_user=user)
    notice = services.publish_notice(controller=brume, kind="directory", version="2026-1", text="Notice (fictive).")
    kept = services.grant_consent(
        controller=brume,
        target_type="directory-entry",
        target_id=second_entry.pk,
        purposes=["professional_directory"],
        data_categories=["dpv-pd:Name"],
        fields=["display_name"],
        recipients=["licensed_professionals"],
        notice=notice,
        method="paper",
        subject_user=user,
        expires_at=timezone.now() + dt.timedelta(days=200),
    )
    # A licensed professional looked her up; someone else's entry was looked up too.
    journal(
        actor=Actor(
            username="paul.diffuseur",
            organisation_name="Scène nationale de Brume",
            licence_number="PLATESV-R-2024-000123",
        ),
        action="read",
        decision="permit",
        purpose="programming",
        record_type="directory-entry",
        record_ids=[entry.pk],
        owner_id=lilas.pk,
        subject_person_id=entry.pk,
    )
    journal(
        actor=Actor(username="intrus.curieux", licence_number="PLATESV-R-2024-000999"),
        action="read",
        decision="permit",
        record_type="directory-entry",
        record_ids=[_other_entry.pk],
        owner_id=lilas.pk,
        subject_person_id=_other_entry.pk,
    )

    # 1. Ask for a link.
    page.goto(live_server.url + "/moi/")
    assert page.url.endswith("/moi/connexion")
    assert page.get_by_role("heading", name="Mon espace personnel").is_visible()
    screenshot(page, "portal-login")
    page.get_by_label("Votre adresse électronique").fill("alice@example.org")
    page.get_by_role("button", name="Recevoir le lien").click()
    page.wait_for_load_state()
    assert page.get_by_role("heading", name="Vérifiez votre messagerie").is_visible()
    screenshot(page, "portal-link-sent")
    assert len(mail.outbox) == 1
    found = LINK.search(mail.outbox[0].body)
    assert found, mail.outbox[0].body

    # 2. Open it: one click signs in.
    page.goto(live_server.url + found.group(1))
    screenshot(page, "portal-link-open")
    page.get_by_role("button", name="Me connecter").click()
    page.wait_for_load_state()
    assert page.url == live_server.url + "/moi/"
    assert page.get_by_role("heading", name="Mes consentements").is_visible()
    cards = page.locator("li.consent")
    assert cards.count() == 2
    card = page.locator(f"#consentement-{directory_consent.pk}")
    assert "Théâtre des Lilas imaginaires" in card.inner_text()
    assert "en vigueur" in card.inner_text()
    assert "bruno" not in page.locator("main").inner_text()
    screenshot(page, "portal-consents")

    # 3. Withdraw one, through the confirmation.
    card.get_by_role("link", name="Retirer mon consentement").click()
    page.wait_for_load_state()
    assert page.get_by_role("heading", name="Retirer mon consentement").is_visible()
    screenshot(page, "portal-withdraw-confirm")
    page.get_by_role("button", name="Confirmer le retrait").click()
    page.wait_for_load_state()
    assert page.url == live_server.url + "/moi/"
    assert page.get_by_text("Votre consentement est retiré").is_visible()
    card = page.locator(f"#consentement-{directory_consent.pk}")
    assert "retiré" in card.locator(".status").inner_text()
    assert card.get_by_role("link", name="Retirer mon consentement").count() == 0
    kept_card = page.locator(f"#consentement-{kept.pk}")
    assert "en vigueur" in kept_card.locator(".status").inner_text()
    directory_consent.refresh_from_db()
    assert directory_consent.status == ConsentRecord.Status.WITHDRAWN
    screenshot(page, "portal-withdrawn")

    # 4. Download the receipt of the withdrawn consent: signed by the node, it says so.
    with page.expect_download() as download_info:
        card.get_by_role("link", name="Télécharger le reçu").click()
    download = download_info.value
    assert download.suggested_filename == f"recu-consentement-{directory_consent.pk}.jwt"
    checked = services.verify_receipt(Path(download.path()).read_text(encoding="ascii"))
    assert checked["payload"]["consent_id"] == str(directory_consent.pk)
    assert checked["current_status"] == "withdrawn"

    # 5. Who looked at her entry: the licensed professional, with licence and structure.
    page.get_by_role("link", name="Qui a consulté mes données").click()
    page.wait_for_load_state()
    assert page.get_by_role("heading", name="Qui a consulté mes données").is_visible()
    table = page.locator("table.portal-table tbody")
    text = table.inner_text()
    assert "paul.diffuseur" in text
    assert "PLATESV-R-2024-000123" in text
    assert "Scène nationale de Brume" in text
    assert "Programmation" in text
    assert "intrus.curieux" not in page.content()
    screenshot(page, "portal-access")

    # 6. Export everything the node holds about her (JSON), with the portal's session.
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Exporter mes données (JSON)").click()
    exported = json.loads(Path(download_info.value.path()).read_text(encoding="utf-8"))
    assert "Alice Lumière" in json.dumps(exported, ensure_ascii=False)
    assert "bruno" not in json.dumps(exported)

    # 7. Sign out: the portal asks for a link again.
    page.get_by_role("button", name="Se déconnecter").click()
    page.wait_for_load_state()
    assert page.url.endswith("/moi/connexion")
    page.goto(live_server.url + found.group(1))
    assert page.get_by_role("heading", name="Ce lien ne fonctionne plus").is_visible()
    screenshot(page, "portal-link-used")
