"""The French page /journal/: staff read their journal, break-glass apart, filters, CSV link."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from dataspace.audit.services import Actor
from dataspace.node.models import StaffMembership
from tests.audit.factories import write
from tests.factories import OrganisationFactory, UserFactory

pytestmark = pytest.mark.django_db

URL = "/journal/"


@pytest.fixture
def theatre(db: Any) -> Any:
    return OrganisationFactory(name="Théâtre du Journal")


def logged_in(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def member(organisation: Any, role: str = "reader") -> Client:
    person = UserFactory()
    StaffMembership.objects.create(user=person, organisation=organisation, role=role)
    return logged_in(person)


def test_staff_see_their_journal_with_break_glass_apart_at_the_top(theatre: Any) -> None:
    write(theatre, actor=Actor(username="lecture.ordinaire"))
    write(
        theatre,
        minutes=5,
        stream="break_glass",
        actor=Actor(username="urgence.regie"),
        reason="Accès d'urgence justifié.",
        details={"emergency": "safety", "justification": "Panne de la régie, fiche technique requise"},
    )
    write(OrganisationFactory(), actor=Actor(username="ailleurs"))
    response = member(theatre).get(URL)
    assert response.status_code == 200
    page = response.content.decode()
    assert "Journal des accès" in page
    urgent_section = page.index('class="break-glass"')
    assert urgent_section < page.index("urgence.regie") < page.index('id="titre-entrees"')
    assert page.index('id="titre-entrees"') < page.index("lecture.ordinaire")
    assert page.count("urgence.regie") == 1  # shown apart, not twice
    assert "Justification : « Panne de la régie, fiche technique requise »" in page
    assert "ailleurs" not in page  # another structure's journal


def test_filters_and_the_csv_link_keep_the_same_query(theatre: Any) -> None:
    write(theatre, decision="deny", actor=Actor(username="refusee"), reason_code="licence_expired")
    write(theatre, actor=Actor(username="autorisee"))
    response = member(theatre).get(URL, {"decision": "deny"})
    page = response.content.decode()
    assert "refusee" in page
    assert "autorisee" not in page
    assert 'href="/api/v1/journal/?decision=deny&amp;format=csv"' in page
    # The link works with the same session.
    client = member(theatre)
    export = client.get("/api/v1/journal/", {"decision": "deny", "format": "csv"})
    assert export.status_code == 200
    assert b"refusee" in b"".join(export.streaming_content)


def test_a_malformed_filter_is_explained_on_the_page(theatre: Any) -> None:
    response = member(theatre).get(URL, {"since": "hier"})
    assert response.status_code == 200
    page = response.content.decode()
    assert 'role="alert"' in page
    assert "since" in page
    assert 'aria-invalid="true"' in page


def test_older_entries_are_behind_a_link(theatre: Any, monkeypatch: Any) -> None:
    from dataspace.audit import views

    monkeypatch.setattr(views, "PAGE_SIZE", 2)
    written = [write(theatre, minutes=index, actor=Actor(username=f"personne{index}")) for index in range(3)]
    client = member(theatre)
    page = client.get(URL).content.decode()
    assert "personne2" in page
    assert "personne0" not in page
    older = client.get(URL, {"before": written[1].seq}).content.decode()
    assert "personne0" in older
    assert "personne2" not in older


def test_a_superuser_sees_every_structure(staff_user: Any, theatre: Any) -> None:
    write(theatre, actor=Actor(username="ici"))
    write(OrganisationFactory(), actor=Actor(username="la-bas"))
    page = logged_in(staff_user).get(URL).content.decode()
    assert "ici" in page
    assert "la-bas" in page


def test_an_outsider_is_refused(outsider_user: Any, theatre: Any) -> None:
    write(theatre, actor=Actor(username="secret"))
    response = logged_in(outsider_user).get(URL)
    assert response.status_code == 403
    assert "secret" not in response.content.decode()
    assert "Accès réservé" in response.content.decode()


def test_anonymous_visitors_are_sent_to_the_login(db: Any) -> None:
    response = Client().get(URL)
    assert response.status_code == 302
    assert response["Location"] == "/admin/login/?next=/journal/"


def test_codes_are_shown_as_french_labels(theatre: Any) -> None:
    write(theatre, action="aggregate", purpose="touring", record_type="technical-sheet", actor=Actor(username="pro"))
    write(
        theatre,
        minutes=1,
        stream="break_glass",
        action="break_glass",
        details={"emergency": "rigging_safety", "justification": "Accroche à vérifier avant le montage"},
    )
    page = member(theatre).get(URL).content.decode()
    table = page[page.index('id="titre-entrees"') :]
    assert "<td>statistiques (agrégats)" in table
    assert "diffusion, tournées" in table
    assert "fiche technique" in table
    assert ">aggregate<" not in table
    assert ">touring<" not in table
    assert ">technical-sheet<" not in table
    urgent = page[page.index('class="break-glass"') : page.index('id="titre-entrees"')]
    assert "<td>accès d&#x27;urgence" in urgent
    assert "sécurité des accroches et charges" in urgent
    assert "rigging_safety" not in urgent


def test_an_unknown_code_is_shown_as_it_is(theatre: Any) -> None:
    write(theatre, action="teleport", purpose="", actor=Actor(username="pro"))
    table = member(theatre).get(URL).content.decode()
    assert "<td>teleport" in table


def test_filters_are_lists_of_french_labels_whose_values_are_the_codes(theatre: Any) -> None:
    write(theatre, action="read", purpose="programming", actor=Actor(username="personne.lit"))
    write(theatre, minutes=1, action="search", purpose="research", actor=Actor(username="personne.cherche"))
    client = member(theatre)
    response = client.get(URL, {"action": "search", "purpose": "research", "record_type": "performance"})
    page = response.content.decode()
    assert "personne.cherche" in page
    assert "personne.lit" not in page
    for name in ("action", "purpose", "record_type", "decision", "stream"):
        assert f'<select name="{name}">' in page
        assert f'<input type="text" name="{name}"' not in page
    assert '<option value="search" selected>recherche</option>' in page
    assert '<option value="research" selected>recherche et études</option>' in page
    assert '<option value="performance" selected>' in page
    assert '<option value="read">consultation</option>' in page
    assert '<option value="deny">refusé</option>' in page
    assert 'placeholder="read"' not in page
    assert 'placeholder="programming"' not in page
    # A code the lists do not know (an API user's link) stays selected rather than being dropped.
    kept = client.get(URL, {"action": "teleport"}).content.decode()
    assert '<option value="teleport" selected>teleport</option>' in kept
