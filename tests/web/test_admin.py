"""The admin where a structure's staff enter their programme: every screen opens, saves are versioned."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib import admin
from django.core.management import call_command
from django.urls import reverse

from dataspace.node.models import NodeIdentity
from dataspace.node.services import initialise_node
from dataspace.records.models import Change
from dataspace.referentials import models as m
from tests.factories import PerformanceFactory, TechnicalSheetFactory

pytestmark = pytest.mark.django_db

REFERENTIAL_MODELS = [
    m.Organisation,
    m.Venue,
    m.Hall,
    m.TechnicalSheet,
    m.TechnicalSheetRevision,
    m.Person,
    m.Work,
    m.Production,
    m.Contribution,
    m.Season,
    m.Performance,
]


@pytest.fixture
def seeded() -> m.Organisation:
    call_command("seed_demo", "--profile", "structure-a", stdout=None)
    return m.Organisation.objects.get(owner=None)


def url(model: Any, view: str, *args: Any) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


def test_every_referential_model_is_registered_with_search() -> None:
    for model in REFERENTIAL_MODELS:
        model_admin = admin.site._registry.get(model)
        assert model_admin is not None, model
        assert model_admin.search_fields, model


def test_site_header_is_french(admin_client: Any) -> None:
    html = admin_client.get("/admin/").content.decode()
    assert "Scène Commune — administration du nœud" in html


@pytest.mark.parametrize("model", REFERENTIAL_MODELS, ids=lambda model: model.__name__)
def test_changelist_search_and_change_pages_open(admin_client: Any, seeded: Any, model: Any) -> None:
    assert admin_client.get(url(model, "changelist")).status_code == 200
    assert admin_client.get(url(model, "changelist"), {"q": "Lilas"}).status_code == 200
    obj = model.objects.first()
    assert admin_client.get(url(model, "change", obj.pk)).status_code == 200
    if model is not m.TechnicalSheetRevision:
        assert admin_client.get(url(model, "add")).status_code == 200


def test_production_page_shows_credits_and_performances_inlines(admin_client: Any, seeded: Any) -> None:
    production = m.Production.objects.get(title="La Mouette")
    html = admin_client.get(url(m.Production, "change", production.pk)).content.decode()
    assert "Distribution et équipe artistique" in html
    assert 'id="performances-group"' in html
    assert production.uri in html  # read-only record metadata
    assert "Nina" in html  # a character in the credits


def test_technical_sheet_revisions_are_shown_with_their_diff(admin_client: Any, seeded: Any) -> None:
    sheet = m.TechnicalSheet.objects.first()
    assert sheet is not None
    html = admin_client.get(url(m.TechnicalSheet, "change", sheet.pk)).content.decode()
    assert "Révisions (lecture seule)" in html
    assert "puissance plateau (kVA)" in html
    assert "→" in html
    hall_html = admin_client.get(url(m.Hall, "change", sheet.hall_id)).content.decode()
    assert "puissance plateau (kVA)" in hall_html
    assert "v2" in hall_html


def test_add_venue_with_a_hall_inline_inherits_owner_and_logs_changes(admin_client: Any, structure: Any) -> None:
    identity, _key, _created = initialise_node()
    identity.organisation = structure
    identity.save()
    add_page = admin_client.get(url(m.Venue, "add"))
    assert add_page.context["adminform"].form.initial["owner"] == structure.pk  # the node's structure by default
    response = admin_client.post(
        url(m.Venue, "add"),
        {
            "name": "Salle des Possibles",
            "venue_type": "theatre",
            "owner": structure.pk,
            "city": "Lyon",
            "country": "FR",
            "same_as": "[]",
            "halls-TOTAL_FORMS": "1",
            "halls-INITIAL_FORMS": "0",
            "halls-MIN_NUM_FORMS": "0",
            "halls-MAX_NUM_FORMS": "1000",
            "halls-0-name": "Petite salle",
            "halls-0-seated_capacity": "90",
            "halls-0-wheelchair_places": "2",
        },
    )
    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else response
    venue = m.Venue.objects.get(name="Salle des Possibles")
    hall = venue.halls.get()
    assert hall.owner == structure  # inherited from the venue
    assert Change.objects.filter(record_id=hall.pk, op="upsert").exists()


def test_changing_a_record_bumps_its_version(admin_client: Any, structure: Any) -> None:
    response = admin_client.post(
        url(m.Organisation, "change", structure.pk),
        {
            "name": "Théâtre des Essais renommé",
            "kind": "theatre",
            "disciplines": "[]",
            "same_as": "[]",
            "siret": structure.siret,
            "siren": structure.siren,
            "region": structure.region,
        },
    )
    assert response.status_code == 302
    structure.refresh_from_db()
    assert structure.version == 2
    assert structure.name == "Théâtre des Essais renommé"
    assert Change.objects.filter(record_id=structure.pk).count() == 2


def test_performance_actions_save_one_by_one(admin_client: Any) -> None:
    option: Any = PerformanceFactory(status=m.Performance.Status.OPTION)
    scheduled: Any = PerformanceFactory(production=option.production, hall=option.hall)
    response = admin_client.post(
        url(m.Performance, "changelist"),
        {
            "action": "confirm_options",
            "_selected_action": [option.pk, scheduled.pk],
        },
    )
    assert response.status_code == 302
    option.refresh_from_db()
    scheduled.refresh_from_db()
    assert option.status == "scheduled"
    assert option.version == 2
    assert scheduled.version == 1
    assert Change.objects.filter(record_id=option.pk, op="upsert").count() == 1  # published once confirmed
    admin_client.post(
        url(m.Performance, "changelist"), {"action": "cancel_performances", "_selected_action": [option.pk]}
    )
    option.refresh_from_db()
    assert option.status == "cancelled"
    assert option.version == 3


def test_node_identity_single_row_with_editable_organisation(admin_client: Any, structure: Any) -> None:
    initialise_node()
    assert admin_client.get(url(NodeIdentity, "add")).status_code == 403
    page = admin_client.get(url(NodeIdentity, "change", 1))
    assert page.status_code == 200
    form = page.context["adminform"].form
    assert list(form.fields) == ["organisation", "description"]
    admin_client.post(url(NodeIdentity, "change", 1), {"organisation": structure.pk, "description": "Nœud de test"})
    assert NodeIdentity.objects.get(pk=1).organisation == structure
    assert admin_client.post(url(NodeIdentity, "delete", 1), {"post": "yes"}).status_code == 403


def test_change_feed_is_read_only(admin_client: Any) -> None:
    TechnicalSheetFactory()
    change = Change.objects.first()
    assert change is not None
    assert admin_client.get(url(Change, "changelist")).status_code == 200
    assert admin_client.get(url(Change, "add")).status_code == 403
    page = admin_client.get(url(Change, "change", change.pk))
    assert page.status_code == 200
    assert not page.context["has_change_permission"]
    assert admin_client.post(url(Change, "delete", change.pk), {"post": "yes"}).status_code == 403
    assert Change.objects.filter(pk=change.pk).exists()
