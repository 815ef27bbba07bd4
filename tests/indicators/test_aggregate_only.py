"""Aggregate-only: the ministry (and anyone without a standing on the structure) never reads a row."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from dataspace.indicators import declarations
from dataspace.indicators.models import TicketingFigures
from tests.directory.factories import LicenceFactory, ProfessionalAccountFactory
from tests.factories import OrganisationFactory, UserFactory
from tests.indicators.conftest import DECLARATIONS, FIGURES, IMPORT, body
from tests.indicators.factories import figures, run

pytestmark = pytest.mark.django_db

CSV = "external_id;performance;tickets_total;receipts_total\nX-1;{pk};10;100.00\n"


@pytest.fixture
def rows(theatre: Any, shows: list[Any]) -> dict[str, Any]:
    """A row of figures and a prepared declaration of the theatre."""
    row = figures(shows[0], "BIL-SECRET")
    declaration = declarations.prepare_declaration(theatre, "2026-T4")
    return {"row": row, "declaration": declaration, "performance": shows[1]}


def every_request(api: APIClient, rows: dict[str, Any]) -> list[tuple[str, Any]]:
    """One request to each ticketing endpoint, reads and writes."""
    row, declaration, performance = rows["row"], rows["declaration"], rows["performance"]
    return [
        ("list", api.get(FIGURES)),
        ("detail", api.get(f"{FIGURES}{row.pk}/")),
        ("filtered list", api.get(f"{FIGURES}?quarter=2026-T4")),
        ("create", api.post(FIGURES, body(performance, "INTRUS"), format="json")),
        ("put external", api.put(f"{FIGURES}external/BIL-SECRET", body(performance), format="json")),
        ("patch", api.patch(f"{FIGURES}{row.pk}/", {"tickets_total": 1}, format="json")),
        ("delete", api.delete(f"{FIGURES}{row.pk}/")),
        ("import", api.post(IMPORT, CSV.format(pk=performance.pk), content_type="text/csv")),
        ("declarations", api.get(DECLARATIONS)),
        ("declaration", api.get(f"{DECLARATIONS}{declaration.pk}/")),
        ("prepare", api.post(DECLARATIONS, {"quarter": "2026-T4"}, format="json")),
        ("approve", api.post(f"{DECLARATIONS}{declaration.pk}/approve", {}, format="json")),
        ("download", api.get(f"{DECLARATIONS}{declaration.pk}/download")),
    ]


def assert_untouched(rows: dict[str, Any]) -> None:
    row = TicketingFigures.objects.get(external_id="BIL-SECRET")
    assert not TicketingFigures.objects.filter(external_id__in=["INTRUS", "X-1"]).exists()
    assert (row.pk, row.tickets_total, row.version) == (rows["row"].pk, rows["row"].tickets_total, 1)
    rows["declaration"].refresh_from_db()
    assert rows["declaration"].status == "draft"


def test_the_ministrys_client_is_refused_on_every_row_endpoint(
    ministry_client: APIClient, rows: dict[str, Any]
) -> None:
    for name, response in every_request(ministry_client, rows):
        assert response.status_code == 403, (name, response.content)
        assert response.json()["error"] == "insufficient_scope", name
        assert b"BIL-SECRET" not in response.content, name
    assert_untouched(rows)


def test_the_analysts_personal_key_is_refused(
    bearer_client: Any, analyst: Any, ministry: Any, rows: dict[str, Any]
) -> None:
    key = bearer_client("indicators:aggregate", kind="reader", owner=ministry, user=analyst)
    for name, response in every_request(key, rows):
        assert response.status_code == 403, (name, response.content)
    assert_untouched(rows)


def test_a_person_without_a_role_on_any_structure_is_refused(analyst: Any, rows: dict[str, Any]) -> None:
    session = APIClient()
    session.force_login(analyst)
    for name, response in every_request(session, rows):
        assert response.status_code == 403, (name, response.content)
        assert response.json()["error"] in {"ticketing_private", "permission_denied"}, name
    assert session.get(FIGURES).json()["error"] == "ticketing_private"
    assert "agrégats" in session.get(FIGURES).json()["detail"]
    assert_untouched(rows)


def test_an_is_staff_account_without_a_role_is_refused(rows: dict[str, Any]) -> None:
    session = APIClient()
    session.force_login(UserFactory(username="staff-sans-role", is_staff=True))
    assert session.get(FIGURES).json()["error"] == "ticketing_private"
    assert session.get(DECLARATIONS).status_code == 403


def test_a_licensed_professional_is_refused(bearer_client: Any, rows: dict[str, Any]) -> None:
    company = OrganisationFactory(name="Compagnie licenciée")
    LicenceFactory(organisation=company)
    pro = ProfessionalAccountFactory(user=UserFactory(username="pro"), organisation=company).user
    session = APIClient()
    session.force_login(pro)
    assert session.get(FIGURES).json()["error"] == "ticketing_private"


def test_anonymous_callers_must_authenticate(anon_client: APIClient, rows: dict[str, Any]) -> None:
    for name, response in every_request(anon_client, rows):
        assert response.status_code == 401, (name, response.content)
    assert_untouched(rows)


def test_a_token_without_ticketing_write_is_refused_even_of_the_owner(
    bearer_client: Any, theatre: Any, rows: dict[str, Any]
) -> None:
    website = bearer_client("referentials:read", kind="reader", owner=theatre)
    response = website.get(FIGURES)
    assert response.status_code == 403
    assert response.json()["error"] == "insufficient_scope"
    assert 'scope="ticketing:write"' in response["WWW-Authenticate"]


def test_another_structures_staff_and_vendor_see_none_of_these_rows(
    member: Any, bearer_client: Any, rows: dict[str, Any]
) -> None:
    other = OrganisationFactory(name="Scène voisine")
    figures(run(other, 1)[0], "VOISIN-1")
    for api in (member("administrator", organisation=other), bearer_client("ticketing:write", owner=other)):
        listed = api.get(FIGURES).json()["results"]
        assert [row["external_id"] for row in listed] == ["VOISIN-1"]
        assert api.get(f"{FIGURES}{rows['row'].pk}/").status_code == 404
        assert api.patch(f"{FIGURES}{rows['row'].pk}/", {"tickets_total": 1}, format="json").status_code == 404
        assert api.delete(f"{FIGURES}{rows['row'].pk}/").status_code == 404
        writing = api.post(FIGURES, body(rows["performance"], "INTRUS"), format="json")
        assert writing.status_code == 403
        assert "owner" in writing.json()["fields"]
        assert api.get(DECLARATIONS).json() == []
        assert api.get(f"{DECLARATIONS}{rows['declaration'].pk}/download").status_code == 404
        refused = api.post(IMPORT, CSV.format(pk=rows["performance"].pk), content_type="text/csv")
        assert refused.status_code == 400
        assert refused.json()["lines"][0]["field"] == "performance"
    assert_untouched(rows)


def test_a_node_without_the_structure_role_holds_no_ticketing(settings: Any, vendor: APIClient, rows: Any) -> None:
    settings.NODE_ROLES = ["ministry"]
    response = vendor.get(FIGURES)
    assert response.status_code == 404
    assert response.json()["error"] == "not_a_structure_node"
