"""The pages in a real browser (Debian's chromium through Playwright) against a live server."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model

from dataspace.node.services import initialise_node

pytestmark = pytest.mark.browser

SCREENSHOTS = Path(os.environ.get("SCREENSHOT_DIR", tempfile.gettempdir()))


@pytest.fixture
def seeded(transactional_db: Any, settings: Any) -> None:
    from django.core.management import call_command

    settings.NODE_ROLES = ["structure"]
    initialise_node()
    call_command("seed_demo", "--profile", "structure-a", stdout=None)


def test_home_page_in_french_then_english(page: Any, live_server: Any, seeded: None) -> None:
    page.goto(live_server.url + "/")
    assert page.locator("html").get_attribute("lang") == "fr"
    assert page.get_by_role("heading", name="Prochaines représentations").is_visible()
    assert page.get_by_text("Théâtre des Lilas imaginaires").first.is_visible()
    assert page.locator(".agenda li").count() >= 1
    page.screenshot(path=str(SCREENSHOTS / "scene-commune-home-fr.png"), full_page=True)

    page.select_option("#language", "en")
    page.get_by_role("button", name="Changer").click()
    page.wait_for_load_state()
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.get_by_role("heading", name="Upcoming performances").is_visible()
    page.screenshot(path=str(SCREENSHOTS / "scene-commune-home-en.png"), full_page=True)


def test_api_docs_render_with_local_assets(page: Any, live_server: Any, transactional_db: Any) -> None:
    external: list[str] = []
    failed: list[str] = []
    page.on(
        "request",
        lambda request: (
            external.append(request.url) if not request.url.startswith((live_server.url, "data:")) else None
        ),
    )
    page.on("requestfailed", lambda request: failed.append(request.url))
    page.goto(live_server.url + "/api/docs/")
    page.wait_for_selector(".swagger-ui .info .title")
    assert "Scène Commune" in page.locator(".swagger-ui .info .title").inner_text()
    assert not external, external  # no CDN, no outside font
    assert not failed, failed
    page.screenshot(path=str(SCREENSHOTS / "scene-commune-api-docs.png"))


def test_admin_login_and_performance_add_page(page: Any, live_server: Any, seeded: None) -> None:
    get_user_model().objects.create_superuser("regie", password="correct horse battery staple")
    page.goto(live_server.url + "/admin/")
    page.fill("#id_username", "regie")
    page.fill("#id_password", "correct horse battery staple")
    page.click("input[type=submit]")
    page.wait_for_selector("#site-name")
    assert "Scène Commune — administration du nœud" in page.locator("#site-name").inner_text()
    page.goto(live_server.url + "/admin/referentials/performance/add/")
    assert page.get_by_role("heading", name="Ajout de représentation").is_visible()
    assert page.locator("#id_production").count() == 1
    # The admin's own stylesheet is served (whitenoise): the header has its coloured background.
    assert page.locator("#header").evaluate("e => getComputedStyle(e).backgroundColor") != "rgba(0, 0, 0, 0)"
    page.screenshot(path=str(SCREENSHOTS / "scene-commune-admin-performance-add.png"), full_page=True)
    page.goto(live_server.url + "/admin/referentials/production/")
    assert page.locator("#result_list tbody tr").count() >= 12
    page.screenshot(path=str(SCREENSHOTS / "scene-commune-admin-productions.png"))
