"""The professionals' search page /recherche/ (registry only), through Django's test client.

The page calls the real `federation.search.search` over index rows written by the test
(tests/web/search_index.py): French form, results with owner and policy attribution, node
statuses in words, named errors, the decision point's refusals, pages, the journal.
"""

from __future__ import annotations

import html as entities
import re
from typing import Any

import pytest
from django.test import Client

from dataspace.audit.models import JournalEntry
from tests.conftest import node_signing_key
from tests.directory.factories import LicenceFactory, ProfessionalAccountFactory, TermsOfUseFactory
from tests.factories import OrganisationFactory, UserFactory
from tests.web.search_index import member, two_members

pytestmark = pytest.mark.django_db

PAGE = "/recherche/"


@pytest.fixture
def registry(settings: Any) -> Any:
    settings.NODE_ROLES = ["registry"]
    settings.NODE_NAME = "registre-test"
    node_signing_key()
    return settings


def professional(username: str, *, expired: bool = False) -> Any:
    """A verified professional of a licensed company (its licence expired on 12/02/2025 if `expired`)."""
    company = OrganisationFactory(name=f"Compagnie de {username}")
    if expired:
        LicenceFactory(organisation=company, deposited_on="2020-02-12", valid_until="2025-02-12")
    else:
        LicenceFactory(organisation=company)
    return ProfessionalAccountFactory(user=UserFactory(username=username), organisation=company).user


def signed_in(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def pro(registry: Any) -> Client:
    return signed_in(professional("pro-licencie"))


@pytest.fixture
def members(registry: Any) -> dict[str, Any]:
    rows = two_members()
    member("https://scene-a.example", "Scène A")
    member("https://scene-b.example", "Scène B", error="HTTP 503 : service indisponible")
    return rows


def main(response: Any) -> str:
    html: str = response.content.decode()
    return html[html.index("<main") : html.index("</main>")]


def text_of(html: str) -> str:
    """The page's words, tags removed, spaces collapsed (what a screen reader would read)."""
    return " ".join(entities.unescape(re.sub(r"<[^>]+>", " ", html)).split())


# ---------------------------------------------------------------------------- who may see the page


def test_only_the_registry_has_the_page(client: Client, settings: Any) -> None:
    settings.NODE_ROLES = ["structure"]
    assert client.get(PAGE).status_code == 404
    client.force_login(professional("pro-ailleurs"))
    assert client.get(PAGE, {"purpose": "programming"}).status_code == 404


def test_login_first(client: Client, registry: Any) -> None:
    response = client.get(PAGE, {"type": "hall"})
    assert response.status_code == 302
    assert response["Location"].startswith("/oauth/login/?next=")
    assert "recherche" in response["Location"]


def test_a_person_without_licence_gets_the_decision_points_reason(registry: Any, members: dict[str, Any]) -> None:
    before = JournalEntry.objects.count()
    response = signed_in(UserFactory(username="curieux")).get(PAGE, {"purpose": "programming", "q": "songe"})
    assert response.status_code == 403
    page = text_of(main(response))
    assert "Recherche refusée" in page
    assert "aucune licence n'est rattachée à votre compte" in page
    assert "not_licensed" in page
    assert 'name="purpose"' not in main(response)  # no form: nothing to search with
    assert "Songe" not in page
    assert JournalEntry.objects.count() == before  # nothing searched


def test_an_expired_licence_is_named_with_its_date(registry: Any) -> None:
    response = signed_in(professional("pro-expire", expired=True)).get(PAGE)
    assert response.status_code == 403
    assert "a expiré le 12/02/2025" in text_of(main(response))
    assert "licence_expired" in main(response)


def test_terms_not_accepted_link_to_the_terms(registry: Any) -> None:
    TermsOfUseFactory(version="2026-9")
    response = signed_in(professional("pro-sans-conditions")).get(PAGE, {"type": "venue"})
    assert response.status_code == 403
    html = main(response)
    assert "terms_not_accepted" in html
    assert 'href="/conditions/?next=%2Frecherche%2F%3Ftype%3Dvenue"' in html


# ---------------------------------------------------------------------------- the form


def test_the_form_is_french_accessible_and_searches_nothing_yet(pro: Client, members: dict[str, Any]) -> None:
    before = JournalEntry.objects.count()
    response = pro.get(PAGE)
    assert response.status_code == 200
    assert response["Cache-Control"].startswith("max-age=0")
    assert "no-store" in response["Cache-Control"]
    html = main(response)
    assert 'method="get"' in html
    for label in ("Personnes", "Spectacles", "Représentations", "Lieux", "Salles", "Programmateurs"):
        assert f">{label}</a>" in html
    assert 'aria-current="page">Personnes</a>' in html
    assert "<legend>Votre recherche : Personnes</legend>" in html
    assert '<label for="champ-q">Texte libre</label>' in html
    assert '<label for="champ-purpose">Finalité' in html
    assert "required" in html
    assert '<label for="filtre-trade">Métier</label>' in html
    assert '<option value="regisseur_lumiere">Régisseur·se lumière</option>' in html
    assert '<label for="filtre-available_from">Disponible du</label>' in html
    assert 'type="date"' in html
    assert '<option value="en">Anglais</option>' in html  # languages by name
    assert "<legend>Où chercher</legend>" in html
    assert 'value="live"' in html
    assert "Résultats" not in html
    assert JournalEntry.objects.count() == before


def test_each_type_shows_its_own_filters(pro: Client, members: dict[str, Any]) -> None:
    html = main(pro.get(PAGE, {"type": "hall"}))
    assert 'aria-current="page">Salles</a>' in html
    assert '<input type="hidden" name="type" value="hall">' in html
    assert '<label for="filtre-min_height_under_grid">Hauteur sous gril minimale (m)</label>' in html
    assert 'name="trade"' not in html
    production = main(pro.get(PAGE, {"type": "production"}))
    assert 'type="checkbox" id="filtre-on_tour" name="on_tour" value="true"' in production
    assert 'name="min_capacity"' not in production


# ---------------------------------------------------------------------------- answers


def test_persons_found_with_their_source_policy_and_node_statuses(pro: Client, members: dict[str, Any]) -> None:
    before = JournalEntry.objects.count()
    response = pro.get(PAGE, {"type": "person", "q": "ELOISE lumiere", "purpose": "contracting"})
    assert response.status_code == 200
    html = main(response)
    page = text_of(html)
    assert "1 résultat" in page
    assert "depuis l'index du registre" in page
    assert '<h3 id="resultat-1-titre">Éloïse Lumière</h3>' in html
    assert "Jérôme" not in page
    assert "Métiers régisseur·se lumière" in page
    assert "Compétences Console GrandMA" in page
    assert "Disponibilités du 01/03/2027 au 31/03/2027" in page
    assert "Langues Français, Anglais" in page
    assert "Source : Théâtre du Fictif (nœud Scène A) — Politique : Fiche publiée avec le consentement" in page
    # Every node, in words (not only a colour): A replicated, B failing with its reason.
    assert '<th scope="col">État</th>' in html
    rows = {row.split("</th>")[0]: text_of(row) for row in html.split('<th scope="row">')[1:]}
    scene_a = next(row for name, row in rows.items() if name.startswith("Scène A"))
    scene_b = next(row for name, row in rows.items() if name.startswith("Scène B"))
    assert "index à jour" in scene_a
    assert " 1 " in scene_a
    assert "erreur" in scene_b
    assert "HTTP 503 : service indisponible" in scene_b
    assert any(name.startswith("registre-test") for name in rows)
    # The search and the person found are journaled, as through the API.
    entries = list(JournalEntry.objects.filter(seq__gt=before).order_by("seq"))
    assert entries[0].action == "federation.search"
    assert entries[0].username == "pro-licencie"
    assert entries[0].purpose == "contracting"
    assert [entry.subject_person_id for entry in entries[1:]] == [members["eloise"]]


def test_the_touring_show_appears_once_with_all_its_performances(pro: Client, members: dict[str, Any]) -> None:
    html = main(pro.get(PAGE, {"type": "production", "q": "songe", "purpose": "touring", "on_tour": "true"}))
    page = text_of(html)
    assert "1 résultat" in page
    assert html.count('class="search-result"') == 1
    assert "3 représentations" in page
    assert "mercredi 10 mars 2027 à 20h30 — Grand Théâtre — Grande salle — Rennes (nœud Scène A)" in page
    assert "dimanche 2 mai 2027 à 21h00 — Salle des Fêtes — Petite salle — Lyon (nœud Scène B)" in page
    assert "Vu sur 2 fiches, regroupées" in page
    assert f"https://scene-a.example/id/production/{members['show_a']}" in html
    assert f"https://scene-b.example/id/production/{members['show_b']}" in html


def test_attribution_asked_by_a_policy_is_shown(pro: Client, members: dict[str, Any]) -> None:
    html = main(pro.get(PAGE, {"type": "hall", "purpose": "programming", "region": "Auvergne-Rhône-Alpes"}))
    page = text_of(html)
    assert "Salle des Fêtes — Petite salle" in page
    assert "Jauge assise 200" in page
    assert "Source : Festival d'Été (nœud Scène B)" in page
    assert "Mention obligatoire : « Festival d'Été »" in page


def test_programmers_are_people_and_programming_structures(pro: Client, members: dict[str, Any]) -> None:
    html = main(pro.get(PAGE, {"type": "programmer", "purpose": "programming", "region": "Bretagne"}))
    page = text_of(html)
    assert "Théâtre du Fictif Structure Type théâtre" in page
    assert "Compagnie des Songes" not in page  # a company does not programme


def test_technical_criteria(pro: Client, members: dict[str, Any]) -> None:
    page = text_of(main(pro.get(PAGE, {"type": "hall", "purpose": "touring", "min_height_under_grid": "15"})))
    assert "Grand Théâtre — Grande salle" in page
    assert "Petite salle" not in page


def test_pages_follow_the_cursor(pro: Client, members: dict[str, Any], monkeypatch: Any) -> None:
    from federation.web import views

    monkeypatch.setattr(views, "PAGE_SIZE", 1)
    first = main(pro.get(PAGE, {"type": "venue", "purpose": "touring"}))
    assert "2 résultats" in text_of(first)
    link = re.search(r'<a href="([^"]+)" rel="next">Résultats suivants →</a>', first)
    assert link is not None
    assert "Premiers résultats" not in first
    second = main(pro.get(PAGE + link.group(1).replace("&amp;", "&")))
    titles = [re.findall(r'-titre">([^<]+)</h3>', page)[0] for page in (first, second)]
    assert sorted(titles) == ["Grand Théâtre", "Salle des Fêtes"]
    assert "Résultats suivants" not in second
    assert "← Premiers résultats" in second


# ---------------------------------------------------------------------------- errors


def test_a_missing_purpose_is_named_next_to_its_field(pro: Client, members: dict[str, Any]) -> None:
    response = pro.get(PAGE, {"type": "person", "purpose": "", "q": "eloise"})
    assert response.status_code == 400
    html = main(response)
    assert 'role="alert"' in html
    assert "La recherche n'a pas pu être lancée" in html
    assert '<a href="#champ-purpose">Finalité</a> — Indiquez la finalité de votre recherche' in html
    assert 'aria-describedby="aide-purpose erreur-purpose" aria-invalid="true"' in html
    assert 'value="eloise"' in html  # what was typed stays
    assert "Éloïse Lumière" not in html


def test_invalid_filters_are_named(pro: Client, members: dict[str, Any]) -> None:
    response = pro.get(PAGE, {"type": "hall", "purpose": "touring", "min_capacity": "beaucoup"})
    assert response.status_code == 400
    html = main(response)
    assert '<a href="#filtre-min_capacity">Jauge minimale (places)</a> — Nombre positif attendu' in html
    assert 'id="filtre-min_capacity" name="min_capacity" value="beaucoup" step="0.01" min="0"' in html
    assert 'aria-describedby="erreur-min_capacity" aria-invalid="true"' in html
    departement = main(pro.get(PAGE, {"type": "venue", "purpose": "touring", "departement": "Rhône"}))
    assert '<a href="#filtre-departement">Département</a> — Numéro de département attendu' in departement
    tampered = pro.get(PAGE, {"type": "hall", "purpose": "touring", "cursor": "pas-un-curseur"})
    assert tampered.status_code == 400
    assert "Page de résultats — Curseur inconnu" in text_of(main(tampered))


def test_an_unknown_type_falls_back_to_persons(pro: Client, members: dict[str, Any]) -> None:
    html = main(pro.get(PAGE, {"type": "licornes"}))
    assert 'aria-current="page">Personnes</a>' in html


# ---------------------------------------------------------------------------- links and languages


def test_the_registry_home_page_links_the_search(client: Client, registry: Any, settings: Any) -> None:
    html = client.get("/").content.decode()
    assert 'href="/recherche/"' in html
    assert "Pour les professionnels du spectacle" in html
    assert 'href="/conditions/"' in html
    settings.NODE_ROLES = ["structure"]
    assert 'href="/recherche/"' not in client.get("/").content.decode()


def test_the_page_in_english(pro: Client, members: dict[str, Any], settings: Any) -> None:
    pro.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    page = text_of(main(pro.get(PAGE, {"type": "person", "q": "eloise", "purpose": "contracting"})))
    assert "Search the data space" in page
    assert "1 result" in page
    assert "Source: Théâtre du Fictif (node Scène A) — Policy:" in page
    assert "index up to date" in page
