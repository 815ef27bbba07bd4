"""The ministry's dashboard /indicateurs/ and its CSV / XLSX exports (Django test client).

Personas: the ministry's analyst (permission `indicators.view_campaign`), its campaign manager
(`indicators.add_campaign` too), a signed-in person with neither, an anonymous visitor. Published
results are written by hand following docs/indicators.md, "Published results", their cells
computed by the real statistical
secrecy (`secrecy.protect`) from figures the test knows: the hidden ones are the "secret numbers"
that must appear nowhere — not in the page, not in the CSV, not in the XLSX.
"""

from __future__ import annotations

import copy
import csv
import datetime as dt
import io
import re
import uuid
from decimal import ROUND_UP, Decimal
from html import unescape
from html.parser import HTMLParser
from itertools import combinations
from typing import Any

import openpyxl
import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.utils import timezone

from dataspace.audit.models import JournalEntry
from dataspace.indicators import catalogue, exports, secrecy
from dataspace.indicators.models import Campaign, CampaignNode
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

LIST = "/indicateurs/"
NEW = "/indicateurs/campagnes/nouvelle/"
NBSP = "\xa0"
ONE_D = uuid.UUID(int=0x1D)
TWO_D = uuid.UUID(int=0x2D)
ZERO_D = uuid.UUID(int=0x0D)


def text_of(response: Any) -> str:
    """The page's HTML with its character references resolved (« d'une » rather than « d&#x27;une »)."""
    return unescape(response.content.decode())


def page(pk: Any, suffix: str = "") -> str:
    return f"/indicateurs/campagnes/{pk}/{suffix}"


# ---------------------------------------------------------------------------- personas


@pytest.fixture
def ministry_node(settings: Any) -> None:
    settings.NODE_ROLES = ["ministry"]
    catalogue.seed_catalogue()


def person(username: str, *codenames: str) -> Any:
    user = UserFactory(username=username)
    user.user_permissions.add(*Permission.objects.filter(content_type__app_label="indicators", codename__in=codenames))
    return user


def client_for(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def analyst(ministry_node: None) -> Client:
    """Reads the campaigns, creates none."""
    return client_for(person("analyste", "view_campaign"))


@pytest.fixture
def manager(ministry_node: None) -> Client:
    """Reads, creates and launches campaigns."""
    return client_for(person("cheffe-de-campagne", "view_campaign", "add_campaign"))


@pytest.fixture
def outsider(ministry_node: None) -> Client:
    return client_for(person("sans-droit"))


# ---------------------------------------------------------------------------- published results


def protected(cells: dict[tuple[str, ...], tuple[int, int, int]]) -> tuple[list[dict[str, Any]], dict[Any, int]]:
    """(the published cells of docs/indicators.md, "Published results" — values as strings,
    hidden ones null —, every cell's true
    value) for inner cells `key -> (value, contributors, largest)`; margins add up the cells."""
    figures = {key: secrecy.CellFigures(*numbers) for key, numbers in cells.items()}
    size = len(next(iter(cells)))
    margins: dict[Any, secrecy.CellFigures] = {}
    for key, cell in figures.items():
        for count in range(1, size + 1):
            for chosen in combinations(range(size), count):
                margin = tuple(secrecy.TOTAL if index in chosen else value for index, value in enumerate(key))
                known = margins.get(margin, secrecy.CellFigures(0, 0, 0))
                margins[margin] = secrecy.CellFigures(
                    known.value + cell.value, known.contributors + cell.contributors, max(known.largest, cell.largest)
                )
    published = secrecy.protect(secrecy.cross_table(figures, margins)).as_list()
    for document in published:
        document["value"] = None if document["value"] is None else str(document["value"])
    truth = {
        tuple(value.value if isinstance(value, secrecy.Margin) else value for value in key): cell.value
        for key, cell in {**figures, **margins}.items()
    }
    return published, truth


#: Attendance by discipline: dance has two structures (primary), circus is hidden to protect it.
ONE_D_FIGURES = {
    ("theatre",): (12345, 5, 3000),
    ("dance",): (4817, 2, 3000),
    ("circus",): (7369, 4, 2000),
    ("music",): (9024, 6, 2000),
}
#: Attendance by discipline × region: dance in Bretagne is one structure.
TWO_D_FIGURES = {
    ("theatre", "Bretagne"): (6000, 5, 1500),
    ("theatre", "Normandie"): (6345, 4, 2000),
    ("dance", "Bretagne"): (4817, 1, 4817),
    ("dance", "Normandie"): (2210, 3, 900),
    ("music", "Bretagne"): (3100, 3, 1200),
    ("music", "Normandie"): (5924, 3, 2000),
}


def secret_numbers(cells: list[dict[str, Any]], truth: dict[Any, int]) -> list[int]:
    return [truth[tuple(cell["key"])] for cell in cells if cell["status"] != "published"]


def same_pattern(attendance: list[dict[str, Any]], values: dict[str, str | None]) -> list[dict[str, Any]]:
    """Another indicator over the same keys, hidden where attendance is (one suppression pattern)."""
    return [{**cell, "value": None if cell["status"] != "published" else values[cell["key"][0]]} for cell in attendance]


def results_document(pk: uuid.UUID, dimensions: list[str], indicators: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "computed_at": "2026-11-30T16:30:00Z",
        "as_of": "2026-11-30T16:20:00Z",
        "campaign": str(pk),
        "period": {"start": "2026-10-01", "end": "2026-12-31"},
        "dimensions": dimensions,
        "nodes": {"answered": 2, "total": 3},
        "provenance": [
            {"node": "https://scene-a.example", "name": "Scène A", "as_of": "2026-11-30T16:20:00Z", "structures": 4},
            {"node": "https://scene-b.example", "name": "Scène B", "as_of": "2026-11-30T16:25:00Z", "structures": 13},
        ],
        "missing": [
            {
                "node": "https://scene-c.example",
                "name": "Scène C",
                "state": "timeout",
                "detail": "Pas de réponse dans le délai de 10 s.",
            }
        ],
        "rules": {"min_contributors": 3, "dominance": "0.85"},
        "indicators": indicators,
    }


def indicator(code: str, label: str, unit: str, unit_label: str, decimals: int, cells: Any) -> dict[str, Any]:
    return {
        "code": code,
        "version": 1,
        "label": label,
        "unit": unit,
        "unit_label": unit_label,
        "decimals": decimals,
        "cells": cells,
    }


def campaign_with_results(pk: uuid.UUID, dimensions: list[str], indicators: list[dict[str, Any]]) -> Campaign:
    campaign = Campaign.objects.create(
        id=pk,
        title="Fréquentation T4 2026",
        indicators=[{"code": item["code"], "version": 1} for item in indicators],
        period_start=dt.date(2026, 10, 1),
        period_end=dt.date(2026, 12, 31),
        dimensions=dimensions,
        state=Campaign.State.PARTIAL,
        runs=1,
        launched_at=timezone.now(),
        finished_at=timezone.now(),
        results=results_document(pk, dimensions, indicators),
        published_at=timezone.now(),
    )
    CampaignNode.objects.create(campaign=campaign, node="https://scene-a.example", name="Scène A", state="answered")
    CampaignNode.objects.create(campaign=campaign, node="https://scene-b.example", name="Scène B", state="answered")
    CampaignNode.objects.create(campaign=campaign, node="https://scene-c.example", name="Scène C", state="timeout")
    return campaign


def one_d_campaign() -> tuple[Campaign, list[int]]:
    """Attendance, average price (free music: undefined) and receipts by discipline."""
    attendance, truth = protected(ONE_D_FIGURES)
    prices = same_pattern(attendance, {"theatre": "12.50", "music": None, "total": "14.75"})
    receipts = same_pattern(attendance, {"theatre": "154320.50", "music": "0.00", "total": "201234.75"})
    campaign = campaign_with_results(
        ONE_D,
        ["discipline"],
        [
            indicator("attendance", "Fréquentation", "count", "entrées (billets)", 0, attendance),
            indicator("average_price", "Prix moyen du billet", "euros", "euros par billet payant", 2, prices),
            indicator("receipts", "Recettes de billetterie", "euros", "euros (€)", 2, receipts),
        ],
    )
    return campaign, secret_numbers(attendance, truth)


def two_d_campaign() -> tuple[Campaign, list[int]]:
    attendance, truth = protected(TWO_D_FIGURES)
    campaign = campaign_with_results(
        TWO_D,
        ["discipline", "region"],
        [indicator("attendance", "Fréquentation", "count", "entrées (billets)", 0, attendance)],
    )
    return campaign, secret_numbers(attendance, truth)


def spellings(number: int) -> list[str]:
    """Every way a number may be written: 4817, « 4 817 » (no-break or plain space), 4.817, 4,817."""
    text = str(number)
    if len(text) <= 3:
        return [text]
    head, tail = text[:-3], text[-3:]
    return [text, *(f"{head}{sep}{tail}" for sep in (NBSP, " ", "\u202f", ".", ","))]


def assert_absent(numbers: list[int], *texts: str) -> None:
    for number in numbers:
        for spelling in spellings(number):
            for text in texts:
                assert not re.search(rf"(?<![\d]){re.escape(spelling)}(?![\d])", text), (number, spelling)


# ---------------------------------------------------------------------------- reading HTML tables


def squeeze(text: str) -> str:
    """Runs of ASCII white space as one space (a no-break space is part of a French number)."""
    return re.sub(r"[ \t\r\n]+", " ", text).strip()


class Tables(HTMLParser):
    """The page's tables: caption and rows of cell texts (whitespace collapsed), with each cell's
    tag, class and abbr title."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.tables: list[dict[str, Any]] = []
        self._cell: dict[str, Any] | None = None
        self._caption: list[str] | None = None
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "table":
            self.tables.append({"caption": "", "rows": [], "class": attributes.get("class") or ""})
        elif tag == "caption":
            self._caption = []
        elif tag == "tr" and self.tables:
            self.tables[-1]["rows"].append([])
        elif tag in ("td", "th") and self.tables:
            self._cell = {"tag": tag, "class": attributes.get("class") or "", "text": [], "title": "", **attributes}
            self.tables[-1]["rows"][-1].append(self._cell)
        elif tag == "abbr" and self._cell is not None:
            self._cell["title"] = attributes.get("title") or ""
        elif tag == "br" and self._cell is not None:
            self._cell["text"].append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            self._cell["text"] = squeeze("".join(self._cell["text"]))
            self._cell = None
        elif tag == "caption" and self._caption is not None:
            self.tables[-1]["caption"] = squeeze("".join(self._caption))
            self._caption = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell["text"].append(data)
        elif self._caption is not None:
            self._caption.append(data)

    def find(self, caption_start: str) -> dict[str, Any]:
        found = [table for table in self.tables if table["caption"].startswith(caption_start)]
        assert len(found) == 1, [table["caption"] for table in self.tables]
        return found[0]


def texts(table: dict[str, Any]) -> list[list[str]]:
    return [[cell["text"] for cell in row] for row in table["rows"]]


def visible(cell: dict[str, Any]) -> str:
    """A cell's visible text (without the visually hidden explanation in brackets)."""
    return cell["text"].split(" (", 1)[0] if cell["title"] else cell["text"]


# ---------------------------------------------------------------------------- who may come in


def all_pages(pk: Any) -> list[str]:
    return [LIST, NEW, page(pk), page(pk, "export.csv"), page(pk, "export.xlsx")]


def test_off_the_ministry_node_every_page_is_404(settings: Any) -> None:
    settings.NODE_ROLES = ["structure"]
    superuser = UserFactory(username="racine", is_superuser=True, is_staff=True)
    for client in (Client(), client_for(superuser)):
        for url in all_pages(ONE_D):
            assert client.get(url).status_code == 404, url
        assert client.post(page(ONE_D, "lancer/")).status_code == 404


def test_anonymous_visitors_go_to_the_login_page(ministry_node: None) -> None:
    campaign, _secrets = one_d_campaign()
    client = Client()
    for url in all_pages(campaign.pk):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith("/oauth/login/?next="), response["Location"]
    response = client.post(page(campaign.pk, "lancer/"))
    assert response.status_code == 302
    assert response["Location"].startswith("/oauth/login/")
    Campaign.objects.get(pk=campaign.pk, state=Campaign.State.PARTIAL, runs=1)  # untouched


def test_a_person_without_the_permission_gets_a_403_page(outsider: Client) -> None:
    campaign, secrets = one_d_campaign()
    for url in all_pages(campaign.pk):
        response = outsider.get(url)
        assert response.status_code == 403, url
        html = text_of(response)
        assert "Accès réservé" in html
        assert "Le tableau de bord des indicateurs est réservé" in html
        assert_absent([*secrets, 12345, 33555], html)
    assert outsider.post(page(campaign.pk, "lancer/")).status_code == 403
    Campaign.objects.get(pk=campaign.pk, runs=1)


def test_the_analyst_reads_but_neither_creates_nor_launches(analyst: Client) -> None:
    campaign, _secrets = one_d_campaign()
    for url in (LIST, page(campaign.pk), page(campaign.pk, "export.csv"), page(campaign.pk, "export.xlsx")):
        assert analyst.get(url).status_code == 200, url
    listing = text_of(analyst.get(LIST))
    assert "Nouvelle campagne" not in listing
    detail = text_of(analyst.get(page(campaign.pk)))
    assert "Relancer les nœuds manquants" not in detail
    response = analyst.get(NEW)
    assert response.status_code == 403
    assert "Créer et lancer des campagnes d'indicateurs est réservé" in text_of(response)
    assert analyst.post(page(campaign.pk, "lancer/")).status_code == 403
    Campaign.objects.get(pk=campaign.pk, state=Campaign.State.PARTIAL, runs=1)


def test_a_superuser_needs_no_explicit_permission(ministry_node: None) -> None:
    root = client_for(UserFactory(username="racine", is_superuser=True, is_staff=True))
    assert root.get(LIST).status_code == 200
    assert root.get(NEW).status_code == 200


def test_the_launch_needs_the_csrf_token(ministry_node: None) -> None:
    campaign, _secrets = one_d_campaign()
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(person("cheffe-csrf", "view_campaign", "add_campaign"))
    assert browser.post(page(campaign.pk, "lancer/")).status_code == 403
    Campaign.objects.get(pk=campaign.pk, state=Campaign.State.PARTIAL, runs=1)
    html = text_of(browser.get(page(campaign.pk)))
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html)
    assert token is not None
    response = browser.post(page(campaign.pk, "lancer/"), {"csrfmiddlewaretoken": token.group(1)})
    assert response.status_code == 302
    Campaign.objects.get(pk=campaign.pk, state=Campaign.State.RUNNING, runs=2)


def test_the_launch_only_takes_a_post(manager: Client) -> None:
    campaign, _secrets = one_d_campaign()
    assert manager.get(page(campaign.pk, "lancer/")).status_code == 405
    assert manager.get(page(uuid.uuid4())).status_code == 404


# ---------------------------------------------------------------------------- the list


def test_the_list_says_each_campaign_state_and_progress_in_words(
    manager: Client, django_assert_max_num_queries: Any
) -> None:
    one_d_campaign()
    running = Campaign.objects.create(
        title="Représentations octobre 2026",
        indicators=[{"code": "performances", "version": 1}],
        period_start=dt.date(2026, 10, 1),
        period_end=dt.date(2026, 10, 31),
        state=Campaign.State.RUNNING,
        runs=1,
    )
    CampaignNode.objects.create(campaign=running, node="https://a.example", name="A", state="answered")
    CampaignNode.objects.create(campaign=running, node="https://b.example", name="B", state="asked")
    Campaign.objects.create(
        title="Brouillon",
        indicators=[{"code": "fill_rate", "version": 1}],
        period_start=dt.date(2026, 11, 1),
        period_end=dt.date(2026, 11, 30),
    )
    with django_assert_max_num_queries(8):
        response = manager.get(LIST)
    assert response.status_code == 200
    listing = Tables(text_of(response)).find("Les campagnes")
    rows = texts(listing)
    assert rows[0] == ["Campagne", "Période", "Indicateurs", "État", "Nœuds", "Résultats publiés le"]
    by_title = {row[0]: row for row in rows[1:]}
    assert by_title["Fréquentation T4 2026"][1] == "du 1 octobre 2026 au 31 décembre 2026"
    assert by_title["Fréquentation T4 2026"][2] == "Fréquentation, Prix moyen du billet, Recettes de billetterie"
    assert by_title["Fréquentation T4 2026"][3] == "terminée, nœuds manquants"
    assert by_title["Fréquentation T4 2026"][4] == "2 nœuds sur 3 ont répondu"
    assert by_title["Représentations octobre 2026"][3] == "en cours"
    assert by_title["Représentations octobre 2026"][4] == "1 nœud sur 2 a répondu"
    assert by_title["Brouillon"][3] == "prête à lancer"
    assert by_title["Brouillon"][4] == "pas encore lancée"
    assert by_title["Brouillon"][5] == "—"
    assert "Nouvelle campagne" in text_of(response)


def test_the_list_costs_the_same_queries_for_many_campaigns(manager: Client, django_assert_num_queries: Any) -> None:
    def add(count: int) -> None:
        for index in range(count):
            campaign = Campaign.objects.create(
                title=f"Campagne {index}",
                indicators=[{"code": "attendance", "version": 1}],
                period_start=dt.date(2026, 10, 1),
                period_end=dt.date(2026, 10, 31),
            )
            CampaignNode.objects.create(campaign=campaign, node="https://a.example", name="A", state="answered")

    add(1)
    manager.get(LIST)  # the session and the permissions are cached on the user afterwards
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as one:
        manager.get(LIST)
    add(6)
    with django_assert_num_queries(len(one.captured_queries)):
        manager.get(LIST)


def test_answered_text_counts_in_french() -> None:
    from dataspace.indicators.web.views import answered_text

    assert answered_text(0, 3) == "aucun nœud sur 3 n'a répondu"
    assert answered_text(1, 2) == "1 nœud sur 2 a répondu"
    assert answered_text(2, 3) == "2 nœuds sur 3 ont répondu"


# ---------------------------------------------------------------------------- the form


def test_the_form_offers_the_catalogue_and_the_dimensions(manager: Client) -> None:
    response = manager.get(NEW)
    assert response.status_code == 200
    html = text_of(response)
    assert 'name="csrfmiddlewaretoken"' in html
    for definition in catalogue.current_definitions():
        assert f'id="indicateur-{definition.code}" name="indicators" value="{definition.code}"' in html
        assert f'<label for="indicateur-{definition.code}">{definition.label}</label>' in html
    assert "Recette totale divisée par le nombre de billets payants" in html  # definitions are shown
    for name, label in catalogue.DIMENSION_LABELS.items():
        assert f'id="dimension-{name}" name="dimensions" value="{name}"' in html
        assert f'<label for="dimension-{name}">{str(label).capitalize()}</label>' in html
    assert 'type="date" id="champ-period_start"' in html
    assert 'type="date" id="champ-period_end"' in html


def field_error(html: str, name: str) -> str:
    match = re.search(rf'id="erreur-{name}">([^<]*)<', html)
    return match.group(1) if match else ""


def test_an_empty_form_names_each_missing_field(manager: Client) -> None:
    response = manager.post(NEW, {"title": "", "period_start": "", "period_end": "2026-13-45"})
    assert response.status_code == 400
    html = text_of(response)
    assert field_error(html, "title") == "Ce champ est obligatoire."
    assert field_error(html, "indicators") == "Choisissez au moins un indicateur."
    assert field_error(html, "period_start") == "Ce champ est obligatoire."
    assert field_error(html, "period_end") == "Saisissez une date valide."
    assert field_error(html, "dimensions") == ""
    assert 'aria-invalid="true"' in html
    assert '<a href="#champ-title">Intitulé</a>' in html  # the summary links to the field
    assert Campaign.objects.count() == 0


def test_the_campaign_rules_come_back_next_to_their_fields(manager: Client) -> None:
    response = manager.post(
        NEW,
        {
            "title": "Trop de dimensions",
            "indicators": ["attendance", "receipts"],
            "period_start": "2026-10-02",
            "period_end": "2026-12-31",
            "dimensions": ["discipline", "region", "month"],
        },
    )
    assert response.status_code == 400
    html = text_of(response)
    assert "se calcule par" in field_error(html, "period_start")
    dimensions = field_error(html, "dimensions")
    assert "Deux dimensions au plus." in dimensions
    assert "n'est pas proposée par l'indicateur « Recettes de billetterie »" in dimensions
    # What was typed and ticked is kept.
    assert 'value="Trop de dimensions"' in html
    assert 'value="2026-10-02"' in html
    assert 'id="indicateur-receipts" name="indicators" value="receipts" checked' in html
    assert 'id="dimension-month" name="dimensions" value="month" checked' in html
    assert Campaign.objects.count() == 0


def test_a_valid_form_creates_a_draft_and_the_manager_launches_it(manager: Client) -> None:
    response = manager.post(
        NEW,
        {
            "title": "Fréquentation T4 2026",
            "indicators": ["attendance", "fill_rate"],
            "period_start": "2026-10-01",
            "period_end": "2026-12-31",
            "dimensions": ["discipline"],
        },
    )
    campaign = Campaign.objects.get()
    assert response.status_code == 302
    assert response["Location"] == page(campaign.pk)
    assert campaign.state == Campaign.State.DRAFT
    assert campaign.indicators == [{"code": "attendance", "version": 1}, {"code": "fill_rate", "version": 1}]
    assert campaign.dimensions == ["discipline"]
    assert campaign.created_by is not None
    assert campaign.created_by.username == "cheffe-de-campagne"

    html = text_of(manager.get(page(campaign.pk)))
    assert "Campagne créée." in html
    assert "prête à lancer" in html
    assert "Lancer la campagne" in html
    assert 'http-equiv="refresh"' not in html

    # Launch: the real campaigns.launch (no structure node is a member here; the run starts on commit).
    response = manager.post(page(campaign.pk, "lancer/"))
    assert response.status_code == 302
    assert response["Location"] == page(campaign.pk)
    campaign.refresh_from_db()
    assert campaign.state == Campaign.State.RUNNING
    assert campaign.runs == 1
    assert JournalEntry.objects.filter(action="indicators.campaign_launched").count() == 1
    html = text_of(manager.get(page(campaign.pk)))
    assert "Campagne lancée" in html
    assert "Lancer la campagne" not in html
    assert '<meta http-equiv="refresh" content="2">' in html


def test_a_partial_campaign_reruns_its_missing_nodes(manager: Client) -> None:
    campaign, _secrets = one_d_campaign()
    html = text_of(manager.get(page(campaign.pk)))
    assert "Relancer les nœuds manquants" in html
    assert "Lancer la campagne" not in html
    response = manager.post(page(campaign.pk, "lancer/"))
    assert response.status_code == 302
    campaign.refresh_from_db()
    assert campaign.state == Campaign.State.RUNNING
    assert campaign.runs == 2
    assert JournalEntry.objects.filter(action="indicators.campaign_rerun").count() == 1
    assert "Les nœuds manquants sont interrogés à nouveau." in text_of(manager.get(page(campaign.pk)))


def test_a_finished_campaign_is_not_launched_again(manager: Client) -> None:
    campaign, _secrets = one_d_campaign()
    Campaign.objects.filter(pk=campaign.pk).update(state=Campaign.State.DONE)
    manager.post(page(campaign.pk, "lancer/"))
    campaign.refresh_from_db()
    assert (campaign.state, campaign.runs) == (Campaign.State.DONE, 1)
    html = text_of(manager.get(page(campaign.pk)))
    assert "il n'y a rien à relancer" in html


# ---------------------------------------------------------------------------- progress


def test_a_running_campaign_shows_each_node_in_words_and_refreshes_itself(analyst: Client) -> None:
    campaign = Campaign.objects.create(
        title="Fréquentation T4 2026",
        indicators=[{"code": "attendance", "version": 1}],
        period_start=dt.date(2026, 10, 1),
        period_end=dt.date(2026, 12, 31),
        state=Campaign.State.RUNNING,
        runs=1,
        launched_at=timezone.now(),
    )
    now = timezone.now()
    CampaignNode.objects.create(
        campaign=campaign,
        node="https://scene-a.example",
        name="Scène A",
        state="answered",
        asked_at=now,
        answered_at=now,
        elapsed_ms=1250,
        as_of=dt.datetime(2026, 11, 30, 16, 20, tzinfo=dt.UTC),
    )
    CampaignNode.objects.create(
        campaign=campaign,
        node="https://scene-b.example",
        name="Scène B",
        state="awaiting",
        asked_at=now,
        detail="2 structures attendent l'approbation de leur administrateur·rice.",
    )
    CampaignNode.objects.create(campaign=campaign, node="https://scene-c.example", name="Scène C", state="asked")
    response = analyst.get(page(campaign.pk))
    assert response.status_code == 200
    assert response["Cache-Control"].startswith("max-age=0")
    html = text_of(response)
    assert "1 nœud sur 3 a répondu" in html
    assert '<noscript><meta http-equiv="refresh" content="2"></noscript>' in html
    assert "/static/indicators/campaign.js" in html
    assert 'data-refresh="2"' in html
    nodes = texts(Tables(html).find("État de chaque nœud"))
    assert nodes[0] == ["Nœud", "État", "Durée", "Données au", "Détail"]
    rows = {row[0].split(" https://")[0]: row for row in nodes[1:]}
    assert rows["Scène A"][1:4] == ["✓ a répondu", "1,3 s", "30 novembre 2026 17:20"]
    assert rows["Scène B"][1] == "⚠ en attente d'approbation par la structure"
    assert rows["Scène B"][4] == "2 structures attendent l'approbation de leur administrateur·rice."
    assert rows["Scène C"][1:] == ["… interrogé", "—", "—", "—"]
    assert "Résultats publiés" not in html  # nothing published yet


# ---------------------------------------------------------------------------- results


def test_a_one_dimension_table_marks_its_hidden_cells_and_draws_bars(analyst: Client) -> None:
    campaign, secrets = one_d_campaign()
    html = text_of(analyst.get(page(campaign.pk)))
    assert "Données au 30 novembre 2026 17:20" in html  # Europe/Paris
    assert "2 nœuds sur 3 ont répondu" in html
    assert "<strong>Scène A</strong> — 4 structures, données au 30 novembre 2026 17:20" in html
    assert "<strong>Scène B</strong> — 13 structures" in html
    assert "<strong>Scène C</strong> — délai dépassé : Pas de réponse dans le délai de 10 s." in html
    assert "au moins 3 structures par case" in html
    assert "aucune structure au-dessus de 85 % d'une case" in html
    assert "Nombre d'entrées : tous les billets émis" in html  # the definition from the catalogue
    assert f'href="{page(campaign.pk, "export.csv")}"' in html
    assert f'href="{page(campaign.pk, "export.xlsx")}"' in html

    tables = Tables(html)
    attendance = tables.find("Fréquentation par discipline")
    assert attendance["caption"] == "Fréquentation par discipline, du 1 octobre 2026 au 31 décembre 2026"
    rows = attendance["rows"]
    assert [cell["text"] for cell in rows[0]] == ["Discipline", "Fréquentation, en entrées (billets)"]
    assert rows[0][0]["scope"] == "col"
    cells = {row[0]["text"]: row[1] for row in rows[1:]}
    assert all(row[0]["scope"] == "row" for row in rows[1:])
    assert list(cells) == ["cirque", "danse", "musique", "théâtre", "Total"]
    assert visible(cells["théâtre"]) == f"12{NBSP}345"
    assert visible(cells["musique"]) == f"9{NBSP}024"
    assert visible(cells["Total"]) == f"33{NBSP}555"
    assert visible(cells["danse"]) == "s"
    assert cells["danse"]["title"] == "secret primaire : moins de 3 structures"
    assert "secret-primary" in cells["danse"]["class"]
    assert visible(cells["cirque"]) == "(s)"
    assert cells["cirque"]["title"] == "secret secondaire"
    legend = html.split('id="indicateur-attendance"', 1)[1].split("</section>", 1)[0]
    assert "« s » secret primaire : la case compte moins de 3 structures" in legend
    assert "« (s) » secret secondaire" in legend
    assert "« — » sans objet" not in legend

    prices = {row[0]["text"]: row[1] for row in tables.find("Prix moyen du billet par discipline")["rows"][1:]}
    assert visible(prices["théâtre"]) == f"12,50{NBSP}€"
    assert visible(prices["musique"]) == "—"  # free concerts: no paying ticket
    assert prices["musique"]["title"] == "sans objet (dénominateur nul)"
    assert visible(prices["Total"]) == f"14,75{NBSP}€"
    receipts = {row[0]["text"]: row[1] for row in tables.find("Recettes de billetterie par")["rows"][1:]}
    assert visible(receipts["théâtre"]) == f"154{NBSP}320,50{NBSP}€"
    assert visible(receipts["musique"]) == f"0,00{NBSP}€"
    price_section = html.split('id="indicateur-average_price"', 1)[1].split("</section>", 1)[0]
    assert "« — » sans objet (n.d.)" in price_section

    # The bar chart: one bar per row (not the total), hidden rows a fixed-width hatched placeholder.
    chart = html.split('id="indicateur-attendance"', 1)[1].split("</svg>", 1)[0]
    assert 'role="img"' in chart
    bars = re.findall(r'<rect x="210" y="\d+" width="(\d+)" height="20" class="bar-fill">', chart)
    assert bars == ["241", "330"]  # musique 9 024 / 12 345 of the longest, théâtre
    placeholders = re.findall(r'width="(\d+)" height="20" fill="url\(#hachures-attendance\)"', chart)
    assert placeholders == ["36", "36"]
    assert "s — secret primaire" in chart
    assert "(s) — secret secondaire" in chart
    assert_absent(secrets, html)


def test_a_cross_table_has_row_and_column_totals(analyst: Client) -> None:
    campaign, secrets = two_d_campaign()
    html = text_of(analyst.get(page(campaign.pk)))
    table = Tables(html).find("Fréquentation par discipline (lignes) et région (colonnes)")
    rows = table["rows"]
    assert [visible(cell) for cell in rows[0]] == ["discipline \\ région", "Bretagne", "Normandie", "Total"]
    assert all(cell["scope"] == "col" for cell in rows[0])
    body = {row[0]["text"]: [visible(cell) for cell in row[1:]] for row in rows[1:]}
    assert body == {
        "danse": ["s", "(s)", f"7{NBSP}027"],
        "musique": ["(s)", "(s)", f"9{NBSP}024"],
        "théâtre": [f"6{NBSP}000", f"6{NBSP}345", f"12{NBSP}345"],
        "Total": [f"13{NBSP}917", f"14{NBSP}479", f"28{NBSP}396"],
    }
    assert all(row[0]["scope"] == "row" for row in rows[1:])
    assert "<tfoot>" in html
    assert "hachures" not in html  # no bar chart for a cross table
    assert secrets == [4817, 2210, 3100, 5924]
    assert_absent(secrets, html)


def test_no_dimension_gives_one_figure(analyst: Client) -> None:
    campaign = campaign_with_results(
        ZERO_D,
        [],
        [
            indicator(
                "attendance",
                "Fréquentation",
                "count",
                "entrées (billets)",
                0,
                [{"key": [], "value": "28396", "status": "published", "reason": None}],
            ),
            indicator(
                "fill_rate",
                "Taux de remplissage",
                "percent",
                "pour cent (%)",
                1,
                [{"key": [], "value": "45.3", "status": "published", "reason": None}],
            ),
        ],
    )
    html = text_of(analyst.get(page(campaign.pk)))
    tables = Tables(html)
    assert texts(tables.find("Fréquentation, du 1 octobre 2026")) == [["Ensemble", f"28{NBSP}396"]]
    assert texts(tables.find("Taux de remplissage, du 1 octobre 2026")) == [["Ensemble", f"45,3{NBSP}%"]]
    lines = read_csv(analyst.get(page(campaign.pk, "export.csv")))
    assert [(line["code indicateur"], line["valeur"]) for line in lines] == [
        ("attendance", "28396"),
        ("fill_rate", "45,3"),
    ]
    assert list(lines[0])[4] == "valeur"  # no dimension column
    workbook = openpyxl.load_workbook(io.BytesIO(analyst.get(page(campaign.pk, "export.xlsx")).content))
    assert find_row(sheet_rows(workbook["Fréquentation"]), "Ensemble")[1] == 28396
    rate = next(cell for cell in workbook["Taux de remplissage"]["B"] if isinstance(cell.value, int | float))
    assert (str(rate.value), rate.number_format) == ("45.3", '#,##0.0\\ "%"')
    assert find_row(sheet_rows(workbook["Sources et règles"]), "Dimensions")[1] == "aucune (un seul chiffre)"


def test_a_hidden_value_never_leaves_even_if_the_results_carried_one(analyst: Client) -> None:
    """Defence in depth: `publish` writes null for a hidden cell; were a value there by mistake, the
    page and the files would still show the marker only."""
    campaign, secrets = two_d_campaign()
    results = copy.deepcopy(campaign.results)
    truth = dict(protected(TWO_D_FIGURES)[1])
    for cell in results["indicators"][0]["cells"]:
        if cell["status"] != "published":
            cell["value"] = str(truth[tuple(cell["key"])])
    results["indicators"][0]["cells"][0]["status"] = "mystère"  # an unknown status is secret too
    dance_bretagne = results["indicators"][0]["cells"][0]
    assert dance_bretagne["key"] == ["dance", "Bretagne"]
    Campaign.objects.filter(pk=campaign.pk).update(results=results)
    html = text_of(analyst.get(page(campaign.pk)))
    csv_text = analyst.get(page(campaign.pk, "export.csv")).content.decode("utf-8")
    workbook = openpyxl.load_workbook(io.BytesIO(analyst.get(page(campaign.pk, "export.xlsx")).content))
    cells = [str(cell.value) for sheet in workbook for row in sheet.iter_rows() for cell in row if cell.value]
    assert_absent(secrets, html, csv_text, "\n".join(cells))
    assert "secret-primary" in html


# ---------------------------------------------------------------------------- exports


def read_csv(response: Any) -> list[dict[str, str]]:
    body = response.content.decode("utf-8")
    assert body.startswith("\ufeff")
    return list(csv.DictReader(io.StringIO(body[1:], newline=""), delimiter=";"))


def test_the_csv_has_one_line_per_indicator_and_cell(analyst: Client) -> None:
    campaign, secrets = one_d_campaign()
    response = analyst.get(page(campaign.pk, "export.csv"))
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == ('attachment; filename="frequentation-t4-2026-2026-10-01-2026-12-31.csv"')
    lines = read_csv(response)
    assert list(lines[0]) == [
        "campagne",
        "code indicateur",
        "indicateur",
        "unité",
        "discipline",
        "valeur",
        "statut",
        "motif",
        "données au",
        "sources",
    ]
    assert len(lines) == 15  # 3 indicators × (4 disciplines + total)
    by_key = {(line["code indicateur"], line["discipline"]): line for line in lines}
    theatre = by_key[("attendance", "théâtre")]
    assert theatre["campagne"] == "Fréquentation T4 2026"
    assert theatre["indicateur"] == "Fréquentation"
    assert theatre["unité"] == "entrées (billets)"
    assert (theatre["valeur"], theatre["statut"], theatre["motif"]) == ("12345", "publié", "")
    assert theatre["données au"] == "30/11/2026 17:20"
    assert theatre["sources"] == "Scène A (4 structures), Scène B (13 structures)"
    dance = by_key[("attendance", "danse")]
    assert (dance["valeur"], dance["statut"], dance["motif"]) == ("", "secret primaire", "moins de 3 structures")
    circus = by_key[("attendance", "cirque")]
    assert (circus["valeur"], circus["statut"]) == ("", "secret secondaire")
    assert by_key[("attendance", "Total")]["valeur"] == "33555"
    assert by_key[("average_price", "théâtre")]["valeur"] == "12,50"
    assert by_key[("average_price", "théâtre")]["unité"] == "euros par billet payant"
    free = by_key[("average_price", "musique")]
    assert (free["valeur"], free["statut"], free["motif"]) == ("", "publié", "sans objet (dénominateur nul)")
    assert by_key[("receipts", "théâtre")]["valeur"] == "154320,50"
    assert_absent(secrets, response.content.decode("utf-8"))


def test_the_csv_of_a_cross_table_has_a_column_per_dimension(analyst: Client) -> None:
    campaign, secrets = two_d_campaign()
    response = analyst.get(page(campaign.pk, "export.csv"))
    assert_absent(secrets, response.content.decode("utf-8"))
    lines = read_csv(response)
    assert list(lines[0])[4:6] == ["discipline", "région"]
    assert len(lines) == 12  # 6 cells, 3 row totals, 2 column totals, the grand total
    grand = [line for line in lines if line["discipline"] == "Total" and line["région"] == "Total"]
    assert [line["valeur"] for line in grand] == ["28396"]
    hidden = [line for line in lines if line["statut"] != "publié"]
    assert len(hidden) == 4
    assert all(line["valeur"] == "" for line in hidden)


def test_csv_text_that_looks_like_a_formula_is_quoted(analyst: Client) -> None:
    campaign, _secrets = one_d_campaign()
    Campaign.objects.filter(pk=campaign.pk).update(title='=HYPERLINK("http://evil.example")')
    lines = read_csv(analyst.get(page(campaign.pk, "export.csv")))
    assert lines[0]["campagne"].startswith("'=")


def sheet_rows(sheet: Any) -> list[list[Any]]:
    return [list(row) for row in sheet.iter_rows(values_only=True)]


def find_row(rows: list[list[Any]], first: Any) -> list[Any]:
    found = [row for row in rows if row and row[0] == first]
    assert found, first
    return found[0]


def test_the_xlsx_has_a_sheet_per_indicator_and_the_sources(analyst: Client) -> None:
    campaign, secrets = one_d_campaign()
    response = analyst.get(page(campaign.pk, "export.xlsx"))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert response["Content-Disposition"] == (
        'attachment; filename="frequentation-t4-2026-2026-10-01-2026-12-31.xlsx"'
    )
    workbook = openpyxl.load_workbook(io.BytesIO(response.content))
    assert workbook.sheetnames == [
        "Fréquentation",
        "Prix moyen du billet",
        "Recettes de billetterie",
        "Sources et règles",
    ]
    sheet = workbook["Fréquentation"]
    rows = sheet_rows(sheet)
    assert rows[0][0] == "Fréquentation"
    assert find_row(rows, "Unité")[1] == "entrées (billets)"
    assert find_row(rows, "Définition")[1].startswith("Nombre d'entrées")
    assert find_row(rows, "Discipline")[1] == "Fréquentation, en entrées (billets)"
    assert find_row(rows, "théâtre")[1] == 12345  # a number, not text
    assert find_row(rows, "musique")[1] == 9024
    assert find_row(rows, "Total")[1] == 33555
    assert find_row(rows, "danse")[1] == "s"
    assert find_row(rows, "cirque")[1] == "(s)"
    dance = next(cell for cell in sheet["B"] if cell.value == "s")
    assert dance.comment is not None
    assert dance.comment.text == "secret primaire : moins de 3 structures"
    theatre = next(cell for cell in sheet["B"] if cell.value == 12345)
    assert theatre.data_type == "n"
    assert theatre.number_format == "#,##0"
    assert any(str(row[0]).startswith("« s » secret primaire") for row in rows if row[0])

    prices = sheet_rows(workbook["Prix moyen du billet"])
    theatre_price = find_row(prices, "théâtre")[1]
    assert str(theatre_price) == "12.5"
    assert find_row(prices, "musique")[1] == "—"
    price_cell = next(cell for cell in workbook["Prix moyen du billet"]["B"] if cell.value == theatre_price)
    assert price_cell.number_format == '#,##0.00\\ "€"'

    sources = sheet_rows(workbook["Sources et règles"])
    assert find_row(sources, "Campagne")[1] == "Fréquentation T4 2026"
    assert find_row(sources, "Données au")[1] == dt.datetime(2026, 11, 30, 17, 20)
    assert find_row(sources, "Scène A")[1:4] == ["https://scene-a.example", dt.datetime(2026, 11, 30, 17, 20), 4]
    assert find_row(sources, "Scène B")[3] == 13
    assert find_row(sources, "Scène C")[1:4] == [
        "https://scene-c.example",
        "délai dépassé",
        "Pas de réponse dans le délai de 10 s.",
    ]
    assert find_row(sources, "Structures au moins par case")[1] == 3
    assert find_row(sources, "Part maximale d'une structure (%)")[1] == "85"
    assert find_row(sources, "Nœuds ayant répondu")[1:3] == [2, 3]
    every = "\n".join(str(value) for sheet in workbook for row in sheet_rows(sheet) for value in row if value)
    assert_absent(secrets, every)


def test_the_xlsx_cross_table_has_its_totals(analyst: Client) -> None:
    campaign, secrets = two_d_campaign()
    workbook = openpyxl.load_workbook(io.BytesIO(analyst.get(page(campaign.pk, "export.xlsx")).content))
    rows = sheet_rows(workbook["Fréquentation"])
    header = find_row(rows, "Discipline (lignes) × région (colonnes)")
    assert header[1:4] == ["Bretagne", "Normandie", "Total"]
    assert find_row(rows, "danse")[1:4] == ["s", "(s)", 7027]
    assert find_row(rows, "musique")[1:4] == ["(s)", "(s)", 9024]
    assert find_row(rows, "théâtre")[1:4] == [6000, 6345, 12345]
    assert find_row(rows, "Total")[1:4] == [13917, 14479, 28396]
    assert not any(
        isinstance(cell.value, str) and cell.value.startswith("=") for row in workbook["Fréquentation"] for cell in row
    )  # totals are the published margins, never formulas
    every = "\n".join(str(value) for sheet in workbook for row in sheet_rows(sheet) for value in row if value)
    assert_absent(secrets, every)


def test_xlsx_text_is_never_a_formula(analyst: Client) -> None:
    campaign, _secrets = one_d_campaign()
    Campaign.objects.filter(pk=campaign.pk).update(title="=1+1")
    workbook = openpyxl.load_workbook(io.BytesIO(analyst.get(page(campaign.pk, "export.xlsx")).content))
    cell = next(cell for row in workbook["Sources et règles"] for cell in row if cell.value == "=1+1")
    assert cell.data_type == "s"


def test_exports_before_any_result_say_so(analyst: Client) -> None:
    campaign = Campaign.objects.create(
        title="Brouillon",
        indicators=[{"code": "attendance", "version": 1}],
        period_start=dt.date(2026, 10, 1),
        period_end=dt.date(2026, 10, 31),
    )
    for suffix in ("export.csv", "export.xlsx"):
        response = analyst.get(page(campaign.pk, suffix))
        assert response.status_code == 404
        assert "Pas encore de résultats" in text_of(response)
        assert "Content-Disposition" not in response


def test_the_layout_reads_the_results_only(ministry_node: None) -> None:
    """`exports.published_tables` works from the results document alone (no partial, no figures)."""
    campaign, _secrets = two_d_campaign()
    [table] = exports.published_tables(campaign.results)
    assert table.rows == [("dance", "danse"), ("music", "musique"), ("theatre", "théâtre")]
    assert table.columns == [("Bretagne", "Bretagne"), ("Normandie", "Normandie")]
    assert table.cell("dance", "Bretagne").marker == "s"
    assert table.cell("dance", "Bretagne").value is None
    assert table.text(table.cell("total", "total")) == f"28{NBSP}396"


# ---------------------------------------------------------------------------- what publish writes


def partial(pk: uuid.UUID, node: str, structures: int, cells: dict[str, tuple[int, int, str, int]]) -> dict[str, Any]:
    """A node's partial by discipline: `discipline -> (attendance, paying tickets, receipts,
    contributors)`; each structure's share is even, so the largest is the value / contributors."""

    def cell(key: dict[str, str], attendance: int, paying: int, receipts: str, contributors: int) -> dict[str, Any]:
        values = {"attendance": attendance, "paying_tickets": paying, "receipts": receipts}
        largest = {
            "attendance": -(-attendance // contributors),
            "paying_tickets": -(-paying // contributors),
            "receipts": str((Decimal(receipts) / contributors).quantize(Decimal("0.01"), rounding=ROUND_UP)),
        }
        return {"key": key, "values": values, "contributors": contributors, "largest": largest}

    inner = [cell({"discipline": name}, *numbers) for name, numbers in cells.items()]
    total = cell(
        {},
        sum(numbers[0] for numbers in cells.values()),
        sum(numbers[1] for numbers in cells.values()),
        str(sum(Decimal(numbers[2]) for numbers in cells.values())),
        sum(numbers[3] for numbers in cells.values()),
    )
    total["largest"] = {
        measure: max((document["largest"][measure] for document in inner), key=Decimal) for measure in total["largest"]
    }
    return {
        "campaign": str(pk),
        "node": node,
        "as_of": "2026-11-30T16:20:00Z",
        "period": {"start": "2026-10-01", "end": "2026-12-31"},
        "dimensions": ["discipline"],
        "measures": ["attendance", "paying_tickets", "receipts"],
        "structures": [f"{node}/id/organisation/{index}" for index in range(structures)],
        "groupings": [
            {"dimensions": ["discipline"], "cells": inner},
            {"dimensions": [], "cells": [total]},
        ],
    }


def test_the_page_and_the_files_read_what_publish_writes(analyst: Client) -> None:
    """The real `campaigns.publish` over two nodes' partials, then the page and both files."""
    from dataspace.indicators import campaigns

    pk = uuid.UUID(int=0xAB)
    campaign = Campaign.objects.create(
        id=pk,
        title="Fréquentation et prix T4 2026",
        indicators=[{"code": "attendance", "version": 1}, {"code": "average_price", "version": 1}],
        period_start=dt.date(2026, 10, 1),
        period_end=dt.date(2026, 12, 31),
        dimensions=["discipline"],
        state=Campaign.State.DONE,
        runs=1,
    )
    nodes = {
        "https://scene-a.example": partial(
            pk,
            "https://scene-a.example",
            6,
            {
                "theatre": (3000, 2800, "42000.00", 3),
                "dance": (4817, 4000, "52000.00", 1),
                "music": (1500, 0, "0.00", 2),
            },
        ),
        "https://scene-b.example": partial(
            pk,
            "https://scene-b.example",
            7,
            {
                "theatre": (2000, 1800, "27000.00", 2),
                "music": (1100, 0, "0.00", 2),
                "circus": (6100, 5000, "61000.00", 3),
            },
        ),
    }
    for url, document in nodes.items():
        CampaignNode.objects.create(
            campaign=campaign,
            node=url,
            name=url.split("//")[1],
            state="answered",
            partial=document,
            as_of=dt.datetime(2026, 11, 30, 16, 20, tzinfo=dt.UTC),
        )
    results = campaigns.publish(campaign)
    statuses = {tuple(cell["key"]): cell["status"] for cell in results["indicators"][0]["cells"]}
    assert statuses[("dance",)] == "primary"  # one structure
    truth = {"theatre": 5000, "dance": 4817, "music": 2600, "circus": 6100}
    secrets = [truth[key[0]] for key, status in statuses.items() if status != "published"]
    assert 4817 in secrets

    html = text_of(analyst.get(page(pk)))
    attendance = Tables(html).find("Fréquentation par discipline")
    shown = {row[0]["text"]: visible(row[1]) for row in attendance["rows"][1:]}
    assert shown["danse"] == "s"
    assert shown["Total"] == f"18{NBSP}517"
    prices = Tables(html).find("Prix moyen du billet par discipline")
    shown_prices = {row[0]["text"]: visible(row[1]) for row in prices["rows"][1:]}
    assert shown_prices["danse"] == "s"  # hidden with its components
    for discipline, text in shown.items():  # one suppression pattern: a price is hidden with its attendance
        assert (text in ("s", "(s)")) == (shown_prices[discipline] in ("s", "(s)")), discipline
    assert shown_prices["Total"] == f"13,38{NBSP}€"  # 182 000 € / 13 600 paying tickets
    csv_text = analyst.get(page(pk, "export.csv")).content.decode("utf-8")
    workbook = openpyxl.load_workbook(io.BytesIO(analyst.get(page(pk, "export.xlsx")).content))
    every = "\n".join(str(value) for sheet in workbook for row in sheet_rows(sheet) for value in row if value)
    assert_absent(secrets, html, csv_text, every)
    assert find_row(sheet_rows(workbook["Fréquentation"]), "Total")[1] == 18517
