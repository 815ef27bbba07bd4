"""The home page: who this node is, its links, its next public performances; French first."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.utils import timezone

from dataspace.node.services import initialise_node
from dataspace.referentials.models import Performance
from tests.factories import PARIS, PerformanceFactory, ProductionFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def node(structure: Any, settings: Any) -> Any:
    settings.NODE_ROLES = ["structure"]
    settings.NODE_NAME = "lilas-test"
    identity, _key, _created = initialise_node()
    identity.organisation = structure
    identity.save()
    return identity


def in_days(days: int, hour: int = 20) -> dt.datetime:
    day = timezone.localdate() + dt.timedelta(days=days)
    return dt.datetime(day.year, day.month, day.day, hour, 0, tzinfo=PARIS)


def test_home_is_french_by_default(client: Any, node: Any) -> None:
    response = client.get("/")
    assert response.status_code == 200
    html = response.content.decode()
    assert '<html lang="fr">' in html
    assert "Prochaines représentations" in html
    assert "Théâtre des Essais" in html
    assert "lilas-test" in html
    assert "Un théâtre, un opéra, un festival ou une compagnie" in html  # the role, in plain words
    assert f"<code>{node.base_url}</code>" in html


def test_home_in_english_when_the_person_chooses_it(client: Any, node: Any, settings: Any) -> None:
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    response = client.get("/")
    html = response.content.decode()
    assert '<html lang="en">' in html
    assert "Upcoming performances" in html
    assert "Prochaines représentations" not in html
    assert "API documentation" in html


def test_home_stays_french_for_an_english_browser(client: Any, node: Any) -> None:
    """French first: a browser's Accept-Language alone does not switch the page."""
    html = client.get("/", headers={"accept-language": "en-US,en;q=0.9"}).content.decode()
    assert '<html lang="fr">' in html
    assert "Prochaines représentations" in html


def test_language_form_switches_to_english(client: Any, node: Any, settings: Any) -> None:
    html = client.get("/").content.decode()
    assert 'action="/i18n/setlang/"' in html
    assert 'name="language"' in html
    response = client.post("/i18n/setlang/", {"language": "en", "next": "/"})
    assert response.status_code == 302
    assert response.cookies[settings.LANGUAGE_COOKIE_NAME].value == "en"
    assert "Upcoming performances" in client.get("/").content.decode()


def test_links_to_every_public_entry_point(client: Any, node: Any) -> None:
    html = client.get("/").content.decode()
    for href in (
        "/api/docs/",
        "/api/schema/",
        "/.well-known/dataspace-node",
        "/.well-known/jwks.json",
        "/api/v1/changes",
        "/feeds/performances.ics",
        "/admin/",
    ):
        assert f'href="{href}"' in html, href
    assert "abonnez votre agenda" in html


def test_upcoming_public_performances_without_options(client: Any, node: Any, structure: Any) -> None:
    production = ProductionFactory(owner=structure, title="La Mouette")
    shown: Any = PerformanceFactory(production=production, start=in_days(3))
    cancelled: Any = PerformanceFactory(production=production, start=in_days(4), status=Performance.Status.CANCELLED)
    PerformanceFactory(
        production=ProductionFactory(owner=structure, title="Projet secret"),
        start=in_days(5),
        status=Performance.Status.OPTION,
    )
    PerformanceFactory(production=ProductionFactory(owner=structure, title="Déjà joué"), start=in_days(-3))
    html = client.get("/").content.decode()
    assert "La Mouette" in html
    assert shown.hall.name in html
    assert shown.hall.venue.name in html
    assert cancelled.get_status_display() in html  # a cancelled performance stays visible, with its status
    assert "Projet secret" not in html  # an option never leaves the structure
    assert "Déjà joué" not in html
    assert f"{in_days(3).day} " in html
    assert "à 20h00" in html


def test_at_most_ten_upcoming_performances(client: Any, node: Any, structure: Any) -> None:
    production = ProductionFactory(owner=structure)
    for day in range(1, 15):
        PerformanceFactory(production=production, start=in_days(day))
    response = client.get("/")
    assert len(response.context["performances"]) == 10
    assert response.context["performances"][0].start == in_days(1)


def test_registry_node_explains_its_role_and_lists_no_programme(client: Any, settings: Any) -> None:
    settings.NODE_ROLES = ["registry", "ministry"]
    html = client.get("/").content.decode()
    assert "Registre" in html
    assert "Ministère" in html
    assert "Ses rôles" in html
    assert "Prochaines représentations" not in html
    assert "/feeds/performances.ics" not in html
    assert "pas encore renseignée" in html  # no NodeIdentity organisation yet
