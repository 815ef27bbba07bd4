"""The journal, the registry's terms of use and the usage-policy admin, in a real browser.

Debian's chromium through Playwright against a live server (fixtures in conftest.py): a
structure's administrator reads their access journal (/journal/), a professional accepts the
registry's terms (/conditions/), an administrator writes a usage policy with the templates.
Screenshots go to var/screenshots/ (gitignored), or to $SCREENSHOT_DIR.
"""

from __future__ import annotations

import csv
import io
import os
import uuid
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model

from dataspace.node.services import initialise_node

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = Path(os.environ.get("SCREENSHOT_DIR", ROOT / "var" / "screenshots"))
PASSWORD = "correct horse battery staple"


def screenshot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"scene-commune-{name}.png"), full_page=True)


@pytest.fixture
def structure_node(transactional_db: Any, settings: Any) -> None:
    settings.NODE_ROLES = ["structure"]
    initialise_node()


def structure_administrator(username: str, organisation: Any) -> Any:
    """A structure's administrator: staff (admin login) but not superuser, with a membership."""
    from dataspace.node.models import StaffMembership

    user = get_user_model().objects.create_user(username, password=PASSWORD, is_staff=True)
    StaffMembership.objects.create(user=user, organisation=organisation, role=StaffMembership.Role.ADMINISTRATOR)
    return user


def admin_login(page: Any, live_server: Any, username: str, next_path: str) -> None:
    page.goto(f"{live_server.url}/admin/login/?next={next_path}")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_load_state()


# ---------------------------------------------------------------------------- the journal


def test_structure_administrator_reads_filters_and_exports_their_journal(
    page: Any, live_server: Any, structure_node: None
) -> None:
    from dataspace.audit.services import Actor, journal
    from tests.factories import OrganisationFactory

    lilas = OrganisationFactory(name="Théâtre des Lilas imaginaires")
    other = OrganisationFactory(name="Opéra des Autres")
    structure_administrator("claire.admin", lilas)
    reader = Actor(
        username="paul.diffuseur", organisation_name="Scène nationale de Brume", licence_number="PLATESV-R-2024-000123"
    )
    record = [uuid.uuid4()]
    journal(
        actor=reader,
        action="read",
        decision="permit",
        purpose="programming",
        record_type="performance",
        record_ids=record,
        owner_id=lilas.pk,
    )
    journal(
        actor=reader,
        action="export",
        decision="deny",
        reason_code="licence.category",
        reason="Licence de catégorie 1 : la politique demande les catégories 2 ou 3.",
        purpose="touring",
        record_type="technical-sheet",
        owner_id=lilas.pk,
    )
    journal(
        actor=Actor(username="urgences.samu", organisation_name="Préfecture de la Drôme"),
        action="read",
        decision="permit",
        purpose="safety",
        record_type="hall",
        record_ids=[uuid.uuid4()],
        owner_id=lilas.pk,
        stream="break_glass",
        details={"emergency": "sécurité du public", "justification": "Évacuation de la salle : jauge et issues"},
    )
    journal(
        actor=Actor(username="intrus.autre", organisation_name="Compagnie d'ailleurs"),
        action="read",
        decision="deny",
        record_type="performance",
        owner_id=other.pk,
    )

    admin_login(page, live_server, "claire.admin", "/journal/")
    assert page.url.endswith("/journal/")
    assert page.get_by_role("heading", name="Journal des accès").is_visible()
    main_table = page.locator("section[aria-labelledby=titre-entrees] tbody tr")
    assert main_table.count() == 2
    assert "paul.diffuseur" in page.locator("section[aria-labelledby=titre-entrees]").inner_text()
    assert "intrus.autre" not in page.content()
    assert "Opéra des Autres" not in page.content()

    # The break-glass entry is shown apart, in its own section, with its justification.
    urgent = page.locator("section.break-glass")
    assert urgent.get_by_role("heading", name="Accès d'urgence (bris de glace)").is_visible()
    assert urgent.locator("tbody tr").count() == 1
    assert "urgences.samu" in urgent.inner_text()
    assert "Évacuation de la salle" in urgent.inner_text()
    assert "urgences.samu" not in page.locator("section[aria-labelledby=titre-entrees]").inner_text()
    screenshot(page, "journal")

    # A filter through the form narrows the list.
    page.select_option("select[name=decision]", "deny")
    page.get_by_role("button", name="Filtrer").click()
    page.wait_for_load_state()
    assert "decision=deny" in page.url
    assert main_table.count() == 1
    assert "refusé" in main_table.first.inner_text()
    assert "Licence de catégorie 1" in main_table.first.inner_text()
    assert page.locator("select[name=decision]").input_value() == "deny"
    screenshot(page, "journal-filtered")

    # The CSV export keeps the filter and holds only this structure's entries.
    page.goto(live_server.url + "/journal/")
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Exporter en CSV").click()
    download = download_info.value
    assert download.suggested_filename.startswith("journal-")
    assert download.suggested_filename.endswith(".csv")
    rows = list(csv.DictReader(io.StringIO(Path(download.path()).read_text(encoding="utf-8"))))
    assert {row["username"] for row in rows} == {"paul.diffuseur", "urgences.samu"}
    assert {row["owner_id"] for row in rows} == {str(lilas.pk)}


# ---------------------------------------------------------------------------- the registry's terms


def test_professional_reads_and_accepts_the_terms_of_use(
    page: Any, live_server: Any, transactional_db: Any, settings: Any
) -> None:
    from dataspace.directory.models import ProfessionalAccount, TermsAcceptance
    from dataspace.directory.services import publish_terms
    from tests.factories import OrganisationFactory

    settings.NODE_ROLES = ["registry"]
    initialise_node()
    terms = publish_terms(
        "2026-11",
        "Le registre ne sert qu'à vérifier les licences d'entrepreneur de spectacles.\n\n"
        "Chaque recherche est journalisée ; les données ne sont pas revendues.",
    )
    company = OrganisationFactory(name="Compagnie du Sablier")
    user = get_user_model().objects.create_user("lea.production", password=PASSWORD)
    ProfessionalAccount.objects.create(user=user, organisation=company)

    page.goto(live_server.url + "/conditions/")
    assert "/oauth/login/" in page.url  # login first
    screenshot(page, "conditions-login")
    page.fill("#id_username", "lea.production")
    page.fill("#id_password", PASSWORD)
    page.get_by_role("button", name="Se connecter").click()
    page.wait_for_load_state()
    assert page.url.endswith("/conditions/")
    assert page.get_by_role("heading", name="Conditions d'utilisation du registre").is_visible()
    assert "Version 2026-11" in page.locator("main").inner_text()
    assert page.get_by_text("les données ne sont pas revendues").is_visible()
    screenshot(page, "conditions")

    page.get_by_role("button", name="J'accepte").click()
    page.wait_for_load_state()
    assert TermsAcceptance.objects.filter(user=user, terms=terms).count() == 1
    assert page.get_by_text("vous avez accepté les conditions d'utilisation").is_visible()
    assert page.get_by_text("Vous avez accepté la version 2026-11").is_visible()
    assert page.get_by_role("button", name="J'accepte").count() == 0
    screenshot(page, "conditions-accepted")


# ---------------------------------------------------------------------------- usage-policy admin


def test_administrator_writes_a_policy_with_templates(page: Any, live_server: Any, structure_node: None) -> None:
    from policies.models import Policy
    from tests.factories import OrganisationFactory

    lilas = OrganisationFactory(name="Théâtre des Lilas imaginaires")
    structure_administrator("claire.admin", lilas)  # membership alone: no model permission granted

    admin_login(page, live_server, "claire.admin", "/admin/policies/policy/add/")
    assert page.get_by_role("heading", name="Ajout de politique d'usage").is_visible()
    assert page.locator("#id_owner").input_value() == str(lilas.pk)  # their only structure, chosen already
    page.select_option("#id_target_type", "technical-sheet")
    page.fill("#id_title", "Fiches techniques : professionnels")
    page.check("#id_use_licensed_only")
    page.check("input[name=categories][value='2']")
    page.check("input[name=categories][value='3']")
    page.check("#id_use_no_redistribution")
    screenshot(page, "admin-policy-add")

    # A past end date: the error shows on the date field, the form keeps the choices.
    page.check("#id_use_expires_on")
    page.fill("#id_expires_on", "2001-01-01")
    page.click("input[name=_save]")
    page.wait_for_load_state()
    error = page.locator(".form-row.field-expires_on .errorlist")
    assert error.count() == 1
    assert error.inner_text() == "La date du 01/01/2001 est passée."
    assert page.locator(".errorlist").count() == 1  # on that field only
    assert page.locator(".errornote").is_visible()
    assert page.locator("#id_use_no_redistribution").is_checked()
    assert not Policy.objects.exists()
    screenshot(page, "admin-policy-error")

    page.uncheck("#id_use_expires_on")
    page.fill("#id_expires_on", "")
    page.click("input[name=_continue]")
    page.wait_for_load_state()
    policy = Policy.objects.get(owner=lilas)
    assert policy.target_type == "technical-sheet"
    assert policy.active
    assert [t["name"] for t in policy.templates] == ["licensed_only", "no_redistribution"]
    assert "/change/" in page.url
    phrase = page.locator(".field-policy_sentence .readonly").inner_text()
    assert phrase.startswith("Lecture et recherche réservées aux professionnels titulaires d'une licence")
    assert "(catégorie 2 ou 3)" in phrase
    assert "toute redistribution est interdite" in phrase
    assert page.locator("#id_use_licensed_only").is_checked()
    assert page.locator("input[name=categories][value='2']").is_checked()
    screenshot(page, "admin-policy-change")
