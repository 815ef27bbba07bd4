"""GET /api/v1/indicators/catalogue (public, ministry node) and the catalogue's admin (French)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client
from rest_framework.test import APIClient

from dataspace.indicators import catalogue
from dataspace.indicators.models import IndicatorDefinition
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

CATALOGUE = "/api/v1/indicators/catalogue"
ADMIN = "/admin/indicators/indicatordefinition/"


@pytest.fixture
def ministry_node(settings: Any) -> None:
    settings.NODE_ROLES = ["ministry"]
    catalogue.seed_catalogue()


def builtin(code: str, **overrides: Any) -> dict[str, Any]:
    entry = next(entry for entry in catalogue.BUILTIN if entry["code"] == code)
    return {key: value for key, value in entry.items() if key != "code"} | overrides


def by_code(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {indicator["code"]: indicator for indicator in document["indicators"]}


# ---------------------------------------------------------------------------- the API


def test_anyone_reads_the_catalogue(ministry_node: None, anon_client: APIClient) -> None:
    response = anon_client.get(CATALOGUE)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("application/json")
    assert response["Cache-Control"] == "public, max-age=60"
    document = response.json()
    assert set(document) == {"as_of", "dimensions", "measures", "indicators"}
    assert document["as_of"].endswith("Z")
    assert [d["code"] for d in document["dimensions"]] == [
        "discipline",
        "region",
        "departement",
        "month",
        "quarter",
        "venue_type",
    ]
    assert {"code": "departement", "label": "département"} in document["dimensions"]
    assert {"code": "capacity", "label": "jauge (places offertes)"} in document["measures"]
    indicators = by_code(document)
    assert set(indicators) == {
        "accessible_share",
        "attendance",
        "average_price",
        "fill_rate",
        "performances",
        "receipts",
        "young_audience_share",
    }
    price = indicators["average_price"]
    assert price["label"] == "Prix moyen du billet"
    assert price["version"] == 1
    assert price["unit"] == "euros_per_ticket"
    assert price["unit_label"] == "euros par billet payant"
    assert price["period_rule"] == "quarter"
    assert price["period_rule_label"] == "trimestre civil de la première représentation"
    assert price["dimensions"] == ["discipline", "region", "departement", "quarter", "venue_type"]
    assert price["computation"] == {"op": "ratio", "num": "receipts", "den": "paying_tickets", "decimals": 2}
    assert price["measures"] == ["receipts", "paying_tickets"]
    assert price["published_at"].endswith("Z")
    assert [(v["version"], v["active"], v["current"]) for v in price["versions"]] == [(1, True, True)]
    assert indicators["fill_rate"]["dimensions"][-3:] == ["month", "quarter", "venue_type"]


def test_versions_and_withdrawals_show_in_the_history(ministry_node: None, anon_client: APIClient) -> None:
    catalogue.publish_definition(
        "fill_rate",
        **builtin("fill_rate", computation={"op": "share", "num": "attendance", "den": "capacity", "decimals": 2}),
        change_note="Deux décimales.",
    )
    third, _ = catalogue.publish_definition(
        "fill_rate", **builtin("fill_rate", label="Taux d'occupation"), change_note="Nouveau libellé."
    )
    third.active = False
    third.save(update_fields=["active"])
    IndicatorDefinition.objects.filter(code="receipts").update(active=False)  # withdrawn altogether
    indicators = by_code(anon_client.get(CATALOGUE).json())
    assert "receipts" not in indicators
    fill = indicators["fill_rate"]
    assert fill["version"] == 2  # the highest *active* version
    assert fill["computation"]["decimals"] == 2
    assert fill["change_note"] == "Deux décimales."
    history = [(v["version"], v["active"], v["current"], v["label"]) for v in fill["versions"]]
    assert history == [
        (3, False, False, "Taux d'occupation"),
        (2, True, True, "Taux de remplissage"),
        (1, True, False, "Taux de remplissage"),
    ]
    assert fill["versions"][2]["computation"]["decimals"] == 1  # version 1 as it was published


def test_credentials_are_ignored(ministry_node: None, bearer_client: Any) -> None:
    vendor = bearer_client("ticketing:write")
    assert vendor.get(CATALOGUE).status_code == 200  # no insufficient_scope: the catalogue is public
    forged = APIClient()
    forged.credentials(HTTP_AUTHORIZATION="Bearer not-a-token")
    assert forged.get(CATALOGUE).status_code == 200


def test_etag_and_if_none_match(ministry_node: None, anon_client: APIClient) -> None:
    first = anon_client.get(CATALOGUE)
    etag = first["ETag"]
    assert etag.startswith('"')
    assert etag.endswith('"')
    cached = anon_client.get(CATALOGUE, HTTP_IF_NONE_MATCH=etag)
    assert cached.status_code == 304
    assert cached["ETag"] == etag
    assert not cached.content
    catalogue.publish_definition("attendance", **builtin("attendance", label="Entrées"))
    changed = anon_client.get(CATALOGUE, HTTP_IF_NONE_MATCH=etag)
    assert changed.status_code == 200
    assert changed["ETag"] != etag
    assert by_code(changed.json())["attendance"]["version"] == 2


def test_the_catalogue_is_read_only(ministry_node: None, anon_client: APIClient, staff_client: APIClient) -> None:
    for client in (anon_client, staff_client):
        response = client.post(CATALOGUE, {"code": "x"}, format="json")
        assert response.status_code == 405
        assert response.json()["error"] == "method_not_allowed"
    assert IndicatorDefinition.objects.count() == 7


def test_a_node_without_the_ministry_role_has_no_catalogue(settings: Any, anon_client: APIClient) -> None:
    settings.NODE_ROLES = ["structure"]
    response = anon_client.get(CATALOGUE)
    assert response.status_code == 404
    body = response.json()
    assert body["error"] == "not_a_ministry_node"
    assert "ministry" in body["detail"]
    assert "catalogue" in body["detail"]


def test_an_empty_catalogue(settings: Any, anon_client: APIClient) -> None:
    settings.NODE_ROLES = ["ministry"]
    document = anon_client.get(CATALOGUE).json()
    assert document["indicators"] == []
    assert document["as_of"] is None


# ---------------------------------------------------------------------------- the admin


@pytest.fixture
def operator(db: Any) -> Client:
    client = Client()
    client.force_login(UserFactory(username="admin-ministere", is_staff=True, is_superuser=True))
    return client


def new_version_form(source: IndicatorDefinition, **overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "code": source.code,
        "label": source.label,
        "definition": source.definition,
        "unit": source.unit,
        "period_rule": source.period_rule,
        "dimensions": list(source.dimensions),
        "computation": json.dumps(source.computation),
        "change_note": "",
    }
    return data | overrides


def test_the_admin_lists_versions_in_french(ministry_node: None, operator: Client) -> None:
    page = operator.get(ADMIN)
    assert page.status_code == 200
    text = page.content.decode()
    assert "catalogue des indicateurs" in text.lower()
    assert "Taux de remplissage" in text
    fill = IndicatorDefinition.objects.get(code="fill_rate")
    detail = operator.get(f"{ADMIN}{fill.pk}/change/").content.decode()
    assert "Publier une nouvelle version à partir de celle-ci" in detail
    assert "règle de période" in detail.lower()


def test_a_new_version_from_the_admin(ministry_node: None, operator: Client) -> None:
    fill = IndicatorDefinition.objects.get(code="fill_rate")
    form = operator.get(f"{ADMIN}add/?from={fill.pk}").content.decode()
    assert "Taux de remplissage" in form  # prefilled from version 1
    response = operator.post(
        f"{ADMIN}add/",
        new_version_form(fill, label="Taux de remplissage des salles", change_note="Libellé précisé."),
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    second = IndicatorDefinition.objects.get(code="fill_rate", version=2)
    assert second.label == "Taux de remplissage des salles"
    assert second.created_by == "admin-ministere"
    assert catalogue.current_definition("fill_rate") == second
    fill.refresh_from_db()
    assert fill.label == "Taux de remplissage"


def test_the_admin_names_the_faulty_field(ministry_node: None, operator: Client) -> None:
    fill = IndicatorDefinition.objects.get(code="fill_rate")
    response = operator.post(
        f"{ADMIN}add/",
        new_version_form(fill, computation=json.dumps({"op": "share", "num": "entrees", "den": "capacity"})),
    )
    assert response.status_code == 200  # the form again, with the error
    errors = response.context["adminform"].form.errors
    assert list(errors) == ["computation"]
    assert "computation.num" in errors["computation"][0]
    assert "entrees" in errors["computation"][0]
    assert IndicatorDefinition.objects.filter(code="fill_rate").count() == 1


def test_a_published_version_is_not_edited_in_the_admin(ministry_node: None, operator: Client) -> None:
    fill = IndicatorDefinition.objects.get(code="fill_rate")
    response = operator.post(f"{ADMIN}{fill.pk}/change/", {"label": "Réécrit", "computation": "{}", "active": ""})
    assert response.status_code == 302
    fill.refresh_from_db()
    assert fill.label == "Taux de remplissage"  # read-only: only `active` changed
    assert fill.computation["op"] == "share"
    assert not fill.active
    assert operator.post(f"{ADMIN}{fill.pk}/delete/", {"post": "yes"}).status_code == 403
    reactivated = operator.post(ADMIN, {"action": "activate", "_selected_action": [str(fill.pk)]}, follow=True)
    assert reactivated.status_code == 200
    fill.refresh_from_db()
    assert fill.active


def test_no_catalogue_admin_on_a_structure_node(settings: Any, operator: Client) -> None:
    settings.NODE_ROLES = ["structure"]
    assert operator.get(ADMIN).status_code == 403
    assert "indicatordefinition" not in operator.get("/admin/").content.decode()
