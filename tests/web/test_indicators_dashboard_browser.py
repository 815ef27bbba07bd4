"""The ministry's indicator dashboard (/indicateurs/) in a real browser: Debian's chromium through Playwright.

A ministry analyst signs in, opens a running campaign and reads « 1 nœud sur 2 a répondu » with
each node's state in words. While the page stays open, the test moves the campaign on in the
database, as the run would: the page swaps its progress in place, then — once the campaign is
finished and its tables published — reloads itself and shows them, hidden cells marked « s » and
« (s) » with their reason and a legend. Both export links download their file. Without JavaScript
the page refreshes itself too (meta refresh). Screenshots go to var/screenshots/ (gitignored), or
$SCREENSHOT_DIR.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.utils import timezone

from dataspace.indicators import catalogue
from dataspace.indicators.models import Campaign, CampaignNode
from dataspace.node.services import initialise_node
from tests.indicators.test_dashboard import ONE_D_FIGURES, assert_absent, protected, results_document, same_pattern
from tests.web.test_policy_pages_browser import PASSWORD, screenshot
from tests.web.test_search_browser import sign_in

pytestmark = pytest.mark.browser

NBSP = "\xa0"
PRICES_CAPTION = "Prix moyen du billet par discipline, du 1 octobre 2026 au 31 décembre 2026"
#: How long the page may take to notice a change (it looks every 2 s).
NOTICE_MS = 12_000


@pytest.fixture
def ministry_node(transactional_db: Any, settings: Any) -> None:
    settings.NODE_ROLES = ["ministry"]
    settings.NODE_NAME = "ministère"
    initialise_node()
    catalogue.seed_catalogue()


def analyst(username: str) -> Any:
    user = get_user_model().objects.create_user(username, password=PASSWORD)
    user.user_permissions.add(Permission.objects.get(content_type__app_label="indicators", codename="view_campaign"))
    return user


def running_campaign() -> Campaign:
    now = timezone.now()
    campaign = Campaign.objects.create(
        title="Fréquentation T4 2026",
        indicators=[{"code": "attendance", "version": 1}, {"code": "average_price", "version": 1}],
        period_start=dt.date(2026, 10, 1),
        period_end=dt.date(2026, 12, 31),
        dimensions=["discipline"],
        state=Campaign.State.RUNNING,
        runs=1,
        launched_at=now,
        running_since=now,
    )
    CampaignNode.objects.create(
        campaign=campaign,
        node="https://scene-a.example",
        name="Scène A",
        state=CampaignNode.State.ANSWERED,
        asked_at=now,
        answered_at=now,
        elapsed_ms=840,
    )
    CampaignNode.objects.create(
        campaign=campaign, node="https://scene-b.example", name="Scène B", state=CampaignNode.State.ASKED, asked_at=now
    )
    return campaign


def finish(campaign: Campaign) -> list[int]:
    """What the run does at its end: the last node answered, the tables published; returns the
    hidden figures."""
    attendance, truth = protected(ONE_D_FIGURES)
    prices = same_pattern(attendance, {"theatre": "12.50", "music": None, "total": "14.75"})
    results = results_document(
        campaign.pk,
        ["discipline"],
        [
            {
                "code": "attendance",
                "version": 1,
                "label": "Fréquentation",
                "unit": "count",
                "unit_label": "entrées (billets)",
                "decimals": 0,
                "cells": attendance,
            },
            {
                "code": "average_price",
                "version": 1,
                "label": "Prix moyen du billet",
                "unit": "euros",
                "unit_label": "euros par billet payant",
                "decimals": 2,
                "cells": prices,
            },
        ],
    )
    results["nodes"] = {"answered": 2, "total": 2}
    results["missing"] = []
    now = timezone.now()
    CampaignNode.objects.filter(campaign=campaign, name="Scène B").update(
        state=CampaignNode.State.ANSWERED, answered_at=now, elapsed_ms=1730
    )
    Campaign.objects.filter(pk=campaign.pk).update(
        state=Campaign.State.DONE, results=results, published_at=now, finished_at=now, running_since=None
    )
    return [truth[tuple(cell["key"])] for cell in attendance if cell["status"] != "published"]


def test_a_running_campaign_updates_itself_then_shows_its_tables_and_exports(
    page: Any, live_server: Any, ministry_node: None
) -> None:
    analyst("analyste.dep")
    campaign = running_campaign()

    # 1. Through the login to the list, then the campaign.
    page.goto(live_server.url + "/indicateurs/")
    sign_in(page, "analyste.dep")
    assert page.url == live_server.url + "/indicateurs/"
    assert page.get_by_role("heading", name="Campagnes d'indicateurs").is_visible()
    listing = page.get_by_role("table", name="Les campagnes, de la plus récente à la plus ancienne")
    assert "1 nœud sur 2 a répondu" in listing.inner_text()
    page.get_by_role("link", name="Fréquentation T4 2026").click()
    page.wait_for_load_state()
    assert page.url == f"{live_server.url}/indicateurs/campagnes/{campaign.pk}/"

    # 2. Running: the progress in words, each node's state.
    status = page.get_by_role("status").filter(has_text="a répondu")
    assert status.inner_text().startswith("1 nœud sur 2 a répondu")
    nodes = page.locator("table.nodes-table")
    assert "✓ a répondu" in nodes.locator("tr", has_text="Scène A").inner_text()
    assert "interrogé" in nodes.locator("tr", has_text="Scène B").inner_text()
    assert page.locator("table.indicator-table").count() == 0
    screenshot(page, "indicateurs-campagne-en-cours")

    # 3. A node now waits for its structures' approval: the progress changes in place (no reload).
    page.evaluate("window.__same_document = true")
    CampaignNode.objects.filter(campaign=campaign, name="Scène B").update(
        state=CampaignNode.State.AWAITING, detail="1 structure attend l'approbation de son administrateur·rice."
    )
    page.locator("table.nodes-table tr", has_text="en attente d'approbation par la structure").wait_for(
        timeout=NOTICE_MS
    )
    assert page.evaluate("window.__same_document === true")
    assert "1 structure attend l'approbation" in nodes.locator("tr", has_text="Scène B").inner_text()

    # 4. The run ends and publishes: the page reloads itself and shows the tables.
    secrets = finish(campaign)
    tables = page.locator("table.indicator-table")
    tables.first.wait_for(timeout=NOTICE_MS)
    assert page.evaluate("window.__same_document === undefined")  # a fresh page
    assert page.locator("[data-campaign-state]").get_attribute("data-campaign-state") == "done"
    assert page.locator("[data-refresh]").count() == 0  # finished: no more refreshing
    assert page.get_by_text("2 nœuds sur 2 ont répondu").first.is_visible()
    attendance = page.get_by_role("table", name="Fréquentation par discipline, du 1 octobre 2026 au 31 décembre 2026")
    assert attendance.is_visible()
    theatre = attendance.locator("tr", has=page.locator("th", has_text="théâtre"))
    assert theatre.locator("td").inner_text() == f"12{NBSP}345"
    dance = attendance.locator("tr", has=page.locator("th", has_text="danse")).locator("td")
    assert dance.locator("abbr").inner_text() == "s"
    assert dance.locator("abbr").get_attribute("title") == "secret primaire : moins de 3 structures"
    circus = attendance.locator("tr", has=page.locator("th", has_text="cirque")).locator("td")
    assert circus.locator("abbr").inner_text() == "(s)"
    assert circus.locator("abbr").get_attribute("title") == "secret secondaire"
    total = attendance.locator("tfoot td")
    assert total.inner_text() == f"33{NBSP}555"
    section = page.locator("#indicateur-attendance")
    legend = section.locator(".legend")
    assert legend.is_visible()
    assert "« s » secret primaire" in legend.inner_text()
    assert "« (s) » secret secondaire" in legend.inner_text()
    chart = section.get_by_role("img")
    assert chart.is_visible()
    assert section.locator("rect.bar-placeholder").count() == 2
    prices = page.get_by_role("table", name=PRICES_CAPTION)
    assert prices.locator("tr", has=page.locator("th", has_text="musique")).locator("abbr").inner_text() == "—"
    assert_absent(secrets, page.content())
    screenshot(page, "indicateurs-campagne-resultats")

    # 5. The exports download.
    with page.expect_download() as csv_download:
        page.get_by_role("link", name="Exporter en CSV").click()
    download = csv_download.value
    assert download.suggested_filename == "frequentation-t4-2026-2026-10-01-2026-12-31.csv"
    text = Path(download.path()).read_bytes().decode("utf-8")
    assert text.startswith("\ufeff")
    lines = list(csv.DictReader(io.StringIO(text[1:], newline=""), delimiter=";"))
    assert len(lines) == 10
    dance_line = next(line for line in lines if line["indicateur"] == "Fréquentation" and line["discipline"] == "danse")
    assert (dance_line["valeur"], dance_line["statut"]) == ("", "secret primaire")
    assert_absent(secrets, text)

    with page.expect_download() as xlsx_download:
        page.get_by_role("link", name="Exporter en XLSX").click()
    download = xlsx_download.value
    assert download.suggested_filename == "frequentation-t4-2026-2026-10-01-2026-12-31.xlsx"
    workbook = openpyxl.load_workbook(io.BytesIO(Path(download.path()).read_bytes()))
    assert workbook.sheetnames == ["Fréquentation", "Prix moyen du billet", "Sources et règles"]
    values = [cell.value for row in workbook["Fréquentation"].iter_rows() for cell in row if cell.value is not None]
    assert 12345 in values
    assert "s" in values
    assert "(s)" in values
    assert_absent(secrets, "\n".join(str(value) for value in values))


def test_without_javascript_the_page_refreshes_itself_too(browser: Any, live_server: Any, ministry_node: None) -> None:
    analyst("analyste.sans-js")
    campaign = running_campaign()
    context = browser.new_context(locale="fr-FR", java_script_enabled=False, viewport={"width": 1280, "height": 900})
    try:
        page = context.new_page()
        page.set_default_timeout(15_000)
        page.goto(f"{live_server.url}/indicateurs/campagnes/{campaign.pk}/")
        sign_in(page, "analyste.sans-js")
        assert page.get_by_text("1 nœud sur 2 a répondu").is_visible()
        finish(campaign)
        page.locator("table.indicator-table").first.wait_for(timeout=NOTICE_MS)
        assert page.get_by_text("2 nœuds sur 2 ont répondu").first.is_visible()
        dance = page.locator("table.indicator-table").first.locator("tr", has=page.locator("th", has_text="danse"))
        assert dance.locator("abbr").inner_text() == "s"
    finally:
        context.close()


def test_a_manager_creates_a_campaign_with_the_form(page: Any, live_server: Any, ministry_node: None) -> None:
    manager = analyst("cheffe.campagne")
    manager.user_permissions.add(Permission.objects.get(content_type__app_label="indicators", codename="add_campaign"))
    page.goto(live_server.url + "/indicateurs/")
    sign_in(page, "cheffe.campagne")
    page.get_by_role("link", name="Nouvelle campagne").click()
    page.wait_for_load_state()
    assert page.get_by_role("heading", name="Nouvelle campagne").is_visible()

    # A period that does not fit the quarterly receipts and three dimensions: named, field by field.
    page.get_by_label("Intitulé").fill("Recettes T4 2026")
    page.get_by_label("Recettes de billetterie").check()
    page.get_by_label("Début de la période").fill("2026-11-01")
    page.get_by_label("Fin de la période").fill("2026-12-31")
    for dimension in ("Discipline", "Région", "Département"):
        page.get_by_label(dimension, exact=True).check()
    page.get_by_role("button", name="Créer la campagne").click()
    page.wait_for_load_state()
    assert page.get_by_role("alert").filter(has_text="La campagne n'a pas été créée").is_visible()
    assert "trimestres civils entiers" in page.locator("#erreur-period_start").inner_text()
    assert "Deux dimensions au plus." in page.locator("#erreur-dimensions").inner_text()
    assert page.get_by_label("Début de la période").get_attribute("aria-invalid") == "true"
    assert page.get_by_label("Intitulé").input_value() == "Recettes T4 2026"  # kept
    screenshot(page, "indicateurs-nouvelle-campagne-erreurs")

    page.get_by_label("Début de la période").fill("2026-10-01")
    page.get_by_label("Département", exact=True).uncheck()
    page.get_by_role("button", name="Créer la campagne").click()
    page.wait_for_load_state()
    campaign = Campaign.objects.get()
    assert page.url == f"{live_server.url}/indicateurs/campagnes/{campaign.pk}/"
    assert page.get_by_role("status").filter(has_text="Campagne créée").is_visible()
    assert page.get_by_role("button", name="Lancer la campagne").is_visible()
    assert campaign.dimensions == ["discipline", "region"]
    assert campaign.indicators == [{"code": "receipts", "version": 1}]
    screenshot(page, "indicateurs-campagne-brouillon")
