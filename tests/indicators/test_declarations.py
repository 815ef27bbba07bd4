"""The quarterly declaration: prepared by the node, approved by a structure administrator
(journaled), downloadable only after approval."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied
from rest_framework.test import APIClient

from dataspace.audit.models import JournalEntry
from dataspace.audit.services import Actor, verify_chain
from dataspace.indicators import declarations
from dataspace.indicators.models import Declaration
from tests.factories import PARIS, OrganisationFactory, UserFactory
from tests.indicators.conftest import DECLARATIONS
from tests.indicators.factories import figures, run

pytestmark = pytest.mark.django_db


@pytest.fixture
def quarter(theatre: Any, shows: list[Any]) -> Any:
    """Figures of 2026-T4: a series of two performances, a free show, and one row in 2027-T1."""
    figures(shows[:2], "SERIE-1", tickets_total=500, tickets_full_price=200, receipts_total="9000.00",
            receipts_full_price="5200.00")  # fmt: skip
    figures(shows[2], "GRATUIT", tickets_total=120, tickets_exempt=120, receipts_total="0.00")
    figures(run(theatre, 1, start=dt.datetime(2027, 1, 12, 20, 0, tzinfo=PARIS))[0], "JANVIER")
    return theatre


def prepare(api: APIClient, quarter: str = "2026-T4", **extra: Any) -> Any:
    return api.post(DECLARATIONS, {"quarter": quarter, **extra}, format="json")


def test_the_declaration_is_sibil_shaped(quarter: Any, shows: list[Any]) -> None:
    declaration = declarations.prepare_declaration(quarter, "2026-t4")
    assert declaration.quarter == "2026-T4"
    assert declaration.status == "draft"
    lines = declaration.content.splitlines()
    assert lines[0].split(";") == list(declarations.COLUMN_NAMES)
    rows = declarations.read_declaration(declaration.content)
    assert [row["identifiant_billetterie"] for row in rows] == ["SERIE-1", "GRATUIT"]  # not the 2027-T1 row
    series, free = rows
    assert series["nombre_representations"] == "2"
    assert series["date_premiere"] == "2026-10-06"
    assert series["date_derniere"] == "2026-10-07"
    assert series["jauge"] == "600"
    assert series["siret_declarant"] == "73282932000074"
    assert series["spectacle"] == "Les Comptes justes"
    assert series["domaine"] == "theatre"
    assert series["type_lieu"] == "theatre"
    assert series["jeune_public"] == "non"
    assert series["recette_totale"] == "9000.00"
    assert series["prix_moyen"] == "18.00"
    assert series["prix_moyen_plein_tarif"] == "26.00"
    assert free["prix_moyen"] == ""
    assert free["billets_exoneres"] == "120"
    assert declaration.sha256 == hashlib.sha256(declaration.content.encode("utf-8")).hexdigest()
    assert declaration.totals["lines"] == 2
    assert declaration.totals["tickets_total"] == 620
    assert declaration.totals["receipts_total"] == "9000.00"
    assert declaration.totals["performance_count"] == 3


def test_formula_like_text_is_neutralised(theatre: Any) -> None:
    performance = run(theatre, 1, title='=HYPERLINK("http://x")')[0]
    figures(performance, "+EVIL")
    rows = declarations.read_declaration(declarations.prepare_declaration(theatre, "2026-T4").content)
    assert rows[0]["spectacle"].startswith("'=")
    assert rows[0]["identifiant_billetterie"] == "'+EVIL"


def test_preparing_again_refreshes_the_draft(member: Any, quarter: Any, shows: list[Any]) -> None:
    editor = member("editor")
    first = prepare(editor)
    assert first.status_code == 201, first.content
    assert first.json()["rows"] is not None  # the structure's own people see the draft
    figures(run(quarter, 1, start=dt.datetime(2026, 11, 3, 20, 0, tzinfo=PARIS))[0], "NOVEMBRE")
    again = prepare(editor)
    assert again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    assert again.json()["line_count"] == 3
    assert again.json()["prepared_by"] == editor.user.username
    assert Declaration.objects.count() == 1


def test_the_quarter_is_checked(member: Any, quarter: Any) -> None:
    response = prepare(member("editor"), "2026-Q4")
    assert response.status_code == 400
    assert "quarter" in response.json()["fields"]


def test_download_is_refused_until_an_administrator_approves(member: Any, vendor: APIClient, quarter: Any) -> None:
    draft = prepare(vendor)
    assert draft.status_code == 201, draft.content
    assert draft.json()["rows"] is None  # a client sees nothing of the content before approval
    ident = draft.json()["id"]
    for api in (vendor, member("administrator", username="admin-t")):
        refused = api.get(f"{DECLARATIONS}{ident}/download")
        assert refused.status_code == 403
        assert refused.json()["error"] == "declaration_not_approved"
    assert Declaration.objects.get().status == "draft"
    assert not JournalEntry.objects.filter(action="export").exists()


def test_only_an_administrator_of_the_structure_approves(
    member: Any, vendor: APIClient, staff_client: APIClient, quarter: Any, bearer_client: Any
) -> None:
    ident = prepare(vendor).json()["id"]
    url = f"{DECLARATIONS}{ident}/approve"
    editor = member("editor")
    assert editor.post(url, {}, format="json").json()["error"] == "not_structure_administrator"
    assert vendor.post(url, {}, format="json").json()["error"] == "not_structure_administrator"
    assert staff_client.post(url, {}, format="json").json()["error"] == "not_structure_administrator"  # operator
    other_admin = member(
        "administrator", organisation=OrganisationFactory(name="Autre scène"), username="admin-ailleurs"
    )
    assert other_admin.post(url, {}, format="json").status_code == 404
    assert Declaration.objects.get().status == "draft"
    assert not JournalEntry.objects.filter(action="approve").exists()


def test_approval_is_journaled_then_the_file_leaves_once_approved(member: Any, vendor: APIClient, quarter: Any) -> None:
    draft = prepare(vendor).json()
    administrator = member("administrator", username="admin-theatre")
    approved = administrator.post(f"{DECLARATIONS}{draft['id']}/approve", {"sha256": draft["sha256"]}, format="json")
    assert approved.status_code == 200, approved.content
    assert approved.json()["status"] == "approved"
    assert approved.json()["approved_by"] == "admin-theatre"
    entry = JournalEntry.objects.get(action="approve")
    assert entry.stream == "admin"
    assert entry.username == "admin-theatre"
    assert entry.owner_id == quarter.pk
    assert entry.record_type == "ticketing_declaration"
    assert entry.record_ids == [draft["id"]]
    assert entry.details["sha256"] == draft["sha256"]
    assert entry.details["quarter"] == "2026-T4"

    # The vendor now sees the rows and downloads exactly what was approved.
    assert len(vendor.get(f"{DECLARATIONS}{draft['id']}/").json()["rows"]) == 2
    download = vendor.get(f"{DECLARATIONS}{draft['id']}/download")
    assert download.status_code == 200
    assert download["Content-Type"].startswith("text/csv")
    assert "sibil-2026-T4" in download["Content-Disposition"]
    assert hashlib.sha256(download.content).hexdigest() == draft["sha256"]
    assert download["Content-Digest"] == f"sha-256=:{base64.b64encode(bytes.fromhex(draft['sha256'])).decode()}:"
    declaration = Declaration.objects.get()
    assert declaration.status == "exported"
    assert declaration.exported_by.startswith("client:")
    export = JournalEntry.objects.get(action="export")
    assert export.client_id == vendor.oauth_client.client_id
    assert export.details["sha256"] == draft["sha256"]
    assert administrator.get(f"{DECLARATIONS}{draft['id']}/download").status_code == 200  # again: journaled again
    assert JournalEntry.objects.filter(action="export").count() == 2
    assert verify_chain().ok

    # Approving twice is a conflict; preparing again starts a corrective draft.
    assert administrator.post(f"{DECLARATIONS}{draft['id']}/approve", {}, format="json").status_code == 409
    corrective = prepare(vendor)
    assert corrective.status_code == 201
    assert corrective.json()["id"] != draft["id"]
    assert Declaration.objects.filter(status="draft").count() == 1


def test_approving_what_was_not_read_is_a_conflict(member: Any, vendor: APIClient, quarter: Any) -> None:
    draft = prepare(vendor).json()
    figures(run(quarter, 1, start=dt.datetime(2026, 11, 3, 20, 0, tzinfo=PARIS))[0], "NOVEMBRE")
    prepare(vendor)  # refreshed since the administrator read it
    administrator = member("administrator", username="admin-theatre")
    stale = administrator.post(f"{DECLARATIONS}{draft['id']}/approve", {"sha256": draft["sha256"]}, format="json")
    assert stale.status_code == 409
    assert Declaration.objects.get().status == "draft"


def test_the_service_refuses_a_superuser_who_is_not_the_structures_administrator(quarter: Any) -> None:
    declaration = declarations.prepare_declaration(quarter, "2026-T4")
    operator = UserFactory(username="operateur", is_staff=True, is_superuser=True)
    with pytest.raises(PermissionDenied):
        declarations.approve_declaration(declaration, by=operator)
    with pytest.raises(declarations.NotApproved):
        declarations.export_declaration(declaration, actor=Actor(username="x"))


def test_an_empty_quarter_gives_a_header_only_file(member: Any, theatre: Any) -> None:
    response = prepare(member("editor"), "2025-T1")
    assert response.status_code == 201
    assert response.json()["line_count"] == 0
    assert response.json()["rows"] == []
