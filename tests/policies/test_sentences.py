"""Every policy of the profile, templated or imported, reads as one French sentence."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.utils import translation

from policies.language import Constraint, Duty, PolicyDoc, Rule
from policies.sentences import sentence
from policies.templates import compose, validate_templates
from tests.factories import OrganisationFactory

TODAY = dt.date(2026, 11, 30)


def said(*templates: Any, owner_name: str = "") -> str:
    chosen = validate_templates(list(templates), today=TODAY)
    doc = PolicyDoc(uid="urn:p", rules=compose(chosen, today=TODAY), templates=tuple(chosen))
    with translation.override("fr"):
        return sentence(doc, owner_name=owner_name)


def test_the_example_of_the_issue() -> None:
    assert said(
        {"name": "licensed_only", "categories": [2, 3]},
        {"name": "purpose_limited", "purposes": ["programming", "touring"]},
        {"name": "expires_on", "date": "2027-12-31"},
        {"name": "no_redistribution"},
    ) == (
        "Lecture et recherche réservées aux professionnels titulaires d'une licence d'entrepreneur de spectacles "
        "en cours de validité (catégorie 2 ou 3), pour la programmation ou la diffusion, jusqu'au 31 décembre 2027 ; "
        "toute redistribution est interdite ; chaque accès est journalisé."
    )


@pytest.mark.parametrize(
    ("templates", "words"),
    [
        (
            [{"name": "public"}],
            ["Lecture, recherche, export", "ouverts à tous", "la source doit être citée (Théâtre X)"],
        ),
        ([{"name": "licensed_only"}], ["réservées aux professionnels titulaires d'une licence", "journalisé"]),
        (
            [{"name": "ministry_aggregates_only", "nodes": ["https://ministere.example"]}],
            ["Calcul d'agrégats réservé au ministère de la Culture"],
        ),
        (
            [{"name": "no_redistribution"}],
            ["réservées à leur propriétaire (Théâtre X)", "toute redistribution est interdite"],
        ),
        (
            [{"name": "public"}, {"name": "purpose_limited", "purposes": ["research"]}],
            ["pour la recherche et les études"],
        ),
        ([{"name": "public"}, {"name": "expires_on", "date": "2027-03-01"}], ["jusqu'au 1er mars 2027"]),
        ([], ["réservées à leur propriétaire"]),
    ],
)
def test_every_template_renders_its_key_words(templates: list[dict[str, Any]], words: list[str]) -> None:
    text = said(*templates, owner_name="Théâtre X")
    for word in words:
        assert word in text, text
    assert text.endswith(".")
    assert text[0].isupper()
    assert text.count(".") == 1


def test_named_partners_are_named(db: Any) -> None:
    partner = OrganisationFactory(name="Scène du Port")
    text = said({"name": "named_partners", "organisations": [str(partner.pk)]})
    assert text.startswith("Lecture, recherche et export réservés à la structure Scène du Port")


def test_different_duties_stay_with_their_permission() -> None:
    text = said({"name": "public"}, {"name": "licensed_only"}, owner_name="Théâtre X")
    assert text == (
        "Lecture, recherche, export, calcul d'agrégats et redistribution ouverts à tous, en citant la source "
        "(Théâtre X) ; lecture et recherche réservées aux professionnels titulaires d'une licence d'entrepreneur de "
        "spectacles en cours de validité, avec journalisation de chaque accès."
    )


def test_an_imported_policy_with_every_operand() -> None:
    doc = PolicyDoc(
        uid="urn:x",
        rules=(
            Rule(
                "permission",
                ("export",),
                (
                    Constraint("licenceCategory", "isNoneOf", (1,)),
                    Constraint("staffRole", "isAnyOf", ("editor", "reader")),
                    Constraint("region", "eq", ("Bretagne",)),
                    Constraint("node", "isAnyOf", ("https://pair.example",)),
                    Constraint("purpose", "isNoneOf", ("communication",)),
                    Constraint("dateTime", "gteq", dt.datetime(2027, 1, 1, 9, 30, tzinfo=dt.UTC)),
                    Constraint("elapsedTime", "lteq", dt.timedelta(days=30)),
                    Constraint("count", "lt", 11),
                ),
                (Duty("deleteAfter", dt.timedelta(days=7)), Duty("attribute", "Source : Opéra")),
            ),
            Rule("prohibition", ("read", "export"), (Constraint("recipient", "isAnyOf", ("x",)),)),
        ),
    )
    with translation.override("fr"):
        text = sentence(doc)
    for word in (
        "Export réservé aux titulaires d'une licence (hors catégorie 1)",
        "ayant le rôle éditeur ou lecteur",
        "de la région Bretagne",
        "du nœud https://pair.example",
        "sauf pour la communication",
        "à partir du 1er janvier 2027 à 10:30",
        "pendant 30 jours",
        "dans la limite de 10 utilisations par jour et par personne",
        "toute lecture et tout export sont interdits",
        "supprimées au bout de 7 jours",
        "« Source : Opéra »",
    ):
        assert word in text, text


def test_english_comes_out_through_i18n() -> None:
    """The English wording comes from the catalogue; the structure (clauses, full stop) is the same."""
    doc = PolicyDoc(uid="urn:p", rules=compose([{"name": "licensed_only"}, {"name": "no_redistribution"}], today=TODAY))
    with translation.override("fr"):
        french = sentence(doc)
    with translation.override("en"):
        english = sentence(doc)
    assert english.endswith(".")
    assert english[0].isupper()
    assert english.count(" ; ") == french.count(" ; ") == 2
