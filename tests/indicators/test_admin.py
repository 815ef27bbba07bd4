"""Admin of figures and declarations: scoped to the person's structures; approval by administrators."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from dataspace.audit.models import JournalEntry
from dataspace.indicators import declarations
from dataspace.indicators.models import Declaration
from dataspace.node.models import StaffMembership
from tests.factories import OrganisationFactory, UserFactory
from tests.indicators.factories import figures, run

pytestmark = pytest.mark.django_db


def admin_login(organisation: Any, role: str, username: str) -> Client:
    user = UserFactory(username=username, is_staff=True)
    StaffMembership.objects.create(user=user, organisation=organisation, role=role)
    client = Client()
    client.force_login(user)
    return client


def test_staff_see_their_structures_figures_only(theatre: Any, shows: list[Any]) -> None:
    mine = figures(shows[0], "MIEN-1")
    other = OrganisationFactory(name="Scène voisine")
    theirs = figures(run(other, 1)[0], "VOISIN-1")
    client = admin_login(theatre, "reader", "lectrice")
    listing = client.get("/admin/indicators/ticketingfigures/")
    assert listing.status_code == 200
    page = listing.content.decode()
    assert "MIEN-1" in page
    assert "VOISIN-1" not in page
    assert client.get(f"/admin/indicators/ticketingfigures/{mine.pk}/change/").status_code == 200
    assert client.get(f"/admin/indicators/ticketingfigures/{theirs.pk}/change/").status_code in (302, 403, 404)
    assert client.post(f"/admin/indicators/ticketingfigures/{mine.pk}/delete/", {"post": "yes"}).status_code == 403


def test_prepare_from_figures_then_approve_in_the_admin(theatre: Any, shows: list[Any]) -> None:
    row = figures(shows[0], "MIEN-1")
    editor = admin_login(theatre, "editor", "editrice")
    prepared = editor.post(
        "/admin/indicators/ticketingfigures/",
        {"action": "prepare_declarations", "_selected_action": [str(row.pk)]},
        follow=True,
    )
    assert prepared.status_code == 200
    declaration = Declaration.objects.get()
    assert declaration.line_count == 1
    page = editor.get(f"/admin/indicators/declaration/{declaration.pk}/change/").content.decode()
    assert "MIEN-1" in page  # the preview shows exactly what will leave
    assert "après approbation seulement" in page
    refused = editor.post(
        "/admin/indicators/declaration/",
        {"action": "approve", "_selected_action": [str(declaration.pk)]},
        follow=True,
    )
    assert "administrateur" in refused.content.decode()
    assert Declaration.objects.get().status == "draft"
    administrator = admin_login(theatre, "administrator", "administratrice")
    administrator.post(
        "/admin/indicators/declaration/",
        {"action": "approve", "_selected_action": [str(declaration.pk)]},
        follow=True,
    )
    assert Declaration.objects.get().status == "approved"
    assert JournalEntry.objects.get(action="approve").username == "administratrice"
    page = administrator.get(f"/admin/indicators/declaration/{declaration.pk}/change/").content.decode()
    assert declaration.filename in page


def test_an_approved_declaration_cannot_be_deleted(theatre: Any, shows: list[Any]) -> None:
    figures(shows[0], "MIEN-1")
    declaration = declarations.prepare_declaration(theatre, "2026-T4")
    administrator = admin_login(theatre, "administrator", "administratrice")
    declarations.approve_declaration(declaration, by=StaffMembership.objects.get().user)
    assert (
        administrator.post(f"/admin/indicators/declaration/{declaration.pk}/delete/", {"post": "yes"}).status_code
        == 403
    )
    assert Declaration.objects.filter(pk=declaration.pk).exists()
