"""Writing the referentials over /api/v1/: who may, owner default, validation, If-Match, deletion."""

from __future__ import annotations

import datetime as dt
import json
import zoneinfo
from typing import Any

import pytest

from dataspace.records.models import Change
from dataspace.referentials import models as m
from tests.factories import (
    HallFactory,
    OrganisationFactory,
    PerformanceFactory,
    PersonFactory,
    ProductionFactory,
    SeasonFactory,
    TechnicalSheetFactory,
    VenueFactory,
    WorkFactory,
)
from tests.referentials.factories_extra import set_node_organisation

pytestmark = pytest.mark.django_db
PARIS = zoneinfo.ZoneInfo("Europe/Paris")


@pytest.fixture
def node_org(structure: Any) -> Any:
    set_node_organisation(structure)
    return structure


def post(client: Any, path: str, data: Any, **headers: str) -> Any:
    return client.post(path, data=json.dumps(data), content_type="application/json", **headers)


def patch(client: Any, path: str, data: Any, **headers: str) -> Any:
    return client.patch(path, data=json.dumps(data), content_type="application/json", **headers)


def performance_payload(**overrides: Any) -> dict[str, Any]:
    production = ProductionFactory()
    hall = HallFactory()
    data = {"production": str(production.pk), "hall": str(hall.pk), "start": "2026-10-10T20:00:00+02:00"}
    data.update(overrides)
    return data


# ---------------------------------------------------------------------------- who may write


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
def test_anonymous_and_outsiders_may_not_write(anon_client: Any, outsider_client: Any, method: str) -> None:
    person = PersonFactory()
    path = "/api/v1/persons/" if method == "post" else f"/api/v1/persons/{person.pk}/"
    anonymous = getattr(anon_client, method)(
        path, data=json.dumps({"family_name": "X"}), content_type="application/json"
    )
    assert anonymous.status_code == 401
    assert anonymous.json()["error"] == "not_authenticated"
    assert anonymous["WWW-Authenticate"].startswith("Bearer realm=")
    outsider = getattr(outsider_client, method)(
        path, data=json.dumps({"family_name": "X"}), content_type="application/json"
    )
    assert outsider.status_code == 403
    assert outsider.json()["error"] == "permission_denied"
    person.refresh_from_db()
    assert person.version == 1
    assert m.Person.objects.count() == 1


# ---------------------------------------------------------------------------- creation and owner


def test_create_defaults_owner_to_node_organisation(staff_client: Any, node_org: Any) -> None:
    response = post(staff_client, "/api/v1/persons/", {"given_name": "Ada", "family_name": "Fictive"})
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["owner"] == str(node_org.pk)
    assert body["version"] == 1
    assert response["ETag"] == f'"{body["id"]}-1"'
    assert response["Location"].endswith(f"/api/v1/persons/{body['id']}/")
    person = m.Person.objects.get(pk=body["id"])
    assert person.owner_id == node_org.pk
    assert Change.objects.filter(record_id=person.pk, op="upsert").count() == 1


def test_create_with_explicit_owner(staff_client: Any) -> None:
    owner = OrganisationFactory()
    response = post(staff_client, "/api/v1/works/", {"title": "Le Songe", "owner": str(owner.pk)})
    assert response.status_code == 201
    assert response.json()["owner"] == str(owner.pk)


def test_create_without_owner_and_without_node_organisation_is_400(staff_client: Any) -> None:
    response = post(staff_client, "/api/v1/works/", {"title": "Orpheline"})
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "invalid"
    assert "owner" in body["fields"]
    assert not m.Work.objects.exists()


def test_organisation_without_owner_describes_itself(staff_client: Any) -> None:
    response = post(
        staff_client,
        "/api/v1/organisations/",
        {"name": "Compagnie du Test", "kind": "company", "siret": "73282932000074"},
    )
    assert response.status_code == 201, response.content
    assert response.json()["owner"] is None
    assert response.json()["siren"] == "732829320"


def test_create_production_with_related_records_by_uuid(staff_client: Any, node_org: Any) -> None:
    works = [WorkFactory(), WorkFactory()]
    original = ProductionFactory()
    response = post(
        staff_client,
        "/api/v1/productions/",
        {
            "title": "Reprise",
            "works": [str(w.pk) for w in works],
            "original_production": str(original.pk),
            "producer": str(node_org.pk),
            "discipline": "opera",
        },
    )
    assert response.status_code == 201, response.content
    production = m.Production.objects.get(pk=response.json()["id"])
    assert set(production.works.all()) == set(works)
    assert production.original_production == original
    assert sorted(response.json()["works"]) == sorted(str(w.pk) for w in works)


def test_unknown_related_uuid_is_400(staff_client: Any, node_org: Any) -> None:
    response = post(
        staff_client, "/api/v1/performances/", performance_payload(hall="00000000-0000-0000-0000-000000000000")
    )
    assert response.status_code == 400
    assert "hall" in response.json()["fields"]


# ---------------------------------------------------------------------------- validation: 400 naming the field


@pytest.mark.parametrize(
    ("path", "payload", "field"),
    [
        ("/api/v1/organisations/", {"name": "X", "siret": "73282932000075"}, "siret"),
        ("/api/v1/organisations/", {"name": "X", "siret": "123"}, "siret"),
        ("/api/v1/organisations/", {"name": "X", "siret": "44332211000018", "siren": "552100554"}, "siren"),
        ("/api/v1/venues/", {"name": "X", "city": "Lyon", "siret": "11111111111112"}, "siret"),
        ("/api/v1/organisations/", {"name": "X", "same_as": ["pas un identifiant"]}, "same_as"),
        ("/api/v1/organisations/", {"name": "X", "same_as": "https://www.wikidata.org/wiki/Q1"}, "same_as"),
        ("/api/v1/persons/", {"family_name": "X", "same_as": [42]}, "same_as"),
        ("/api/v1/organisations/", {"name": "X", "disciplines": ["juggling"]}, "disciplines"),
        ("/api/v1/seasons/", {"name": "S", "start_date": "2026-09-01", "end_date": "2026-06-30"}, "end_date"),
        ("/api/v1/seasons/", {"name": "S", "start_date": "2026-09-01", "end_date": "not a date"}, "end_date"),
        ("/api/v1/works/", {"title": ""}, "title"),
        ("/api/v1/works/", {"title": "T", "year": 3000}, "year"),
    ],
)
def test_invalid_values_are_400_naming_the_field(
    staff_client: Any, node_org: Any, path: str, payload: dict[str, Any], field: str
) -> None:
    response = post(staff_client, path, payload)
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["error"] == "invalid"
    assert field in body["fields"], body
    assert field in body["detail"]


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"time_zone": "Europe/Lutece"}, "time_zone"),
        ({"status": "postponed"}, "previous_start"),
        ({"accessibility": ["teleportation"]}, "accessibility"),
        ({"accessibility": "wheelchair"}, "accessibility"),
        ({"status": "maybe"}, "status"),
        ({"start": "tomorrow evening"}, "start"),
        ({"capacity": -5}, "capacity"),
        ({"ticketing_url": "not a url"}, "ticketing_url"),
    ],
)
def test_invalid_performance_is_400_naming_the_field(
    staff_client: Any, node_org: Any, overrides: dict[str, Any], field: str
) -> None:
    response = post(staff_client, "/api/v1/performances/", performance_payload(**overrides))
    assert response.status_code == 400, response.content
    assert field in response.json()["fields"]
    assert not m.Performance.objects.exists()


def test_postponed_with_previous_start_is_accepted(staff_client: Any, node_org: Any) -> None:
    response = post(
        staff_client,
        "/api/v1/performances/",
        performance_payload(
            status="postponed",
            previous_start="2026-09-10T20:00:00+02:00",
            accessibility=["wheelchair", "surtitles"],
        ),
    )
    assert response.status_code == 201, response.content
    assert response.json()["previous_start"] == "2026-09-10T20:00:00+02:00"


def test_duplicate_performance_is_400_not_500(staff_client: Any, node_org: Any) -> None:
    existing = PerformanceFactory(start=dt.datetime(2026, 10, 10, 20, tzinfo=PARIS))
    response = post(
        staff_client,
        "/api/v1/performances/",
        {
            "production": str(existing.production_id),
            "hall": str(existing.hall_id),
            "start": "2026-10-10T18:00:00Z",
        },
    )
    assert response.status_code == 400, response.content
    assert "start" in response.json()["fields"]
    assert m.Performance.objects.count() == 1


def test_contribution_on_both_production_and_work_is_400(staff_client: Any, node_org: Any) -> None:
    payload = {
        "production": str(ProductionFactory().pk),
        "work": str(WorkFactory().pk),
        "person": str(PersonFactory().pk),
        "role": "director",
    }
    response = post(staff_client, "/api/v1/contributions/", payload)
    assert response.status_code == 400
    fields = response.json()["fields"]
    assert "production" in fields
    assert "work" in fields
    payload.pop("work")
    assert post(staff_client, "/api/v1/contributions/", payload).status_code == 201


def test_character_only_for_performers(staff_client: Any, node_org: Any) -> None:
    payload = {
        "production": str(ProductionFactory().pk),
        "person": str(PersonFactory().pk),
        "role": "director",
        "character": "Hamlet",
    }
    response = post(staff_client, "/api/v1/contributions/", payload)
    assert response.status_code == 400
    assert "character" in response.json()["fields"]


def test_duplicate_siret_is_400(staff_client: Any, structure: Any) -> None:
    response = post(staff_client, "/api/v1/organisations/", {"name": "Doublon", "siret": structure.siret})
    assert response.status_code == 400
    assert "siret" in response.json()["fields"]


def test_second_technical_sheet_for_a_hall_is_400(staff_client: Any, node_org: Any) -> None:
    sheet = TechnicalSheetFactory()
    response = post(staff_client, "/api/v1/technical-sheets/", {"hall": str(sheet.hall_id)})
    assert response.status_code == 400
    assert "hall" in response.json()["fields"]


def test_production_cannot_revive_itself(staff_client: Any) -> None:
    production = ProductionFactory()
    response = patch(staff_client, f"/api/v1/productions/{production.pk}/", {"original_production": str(production.pk)})
    assert response.status_code == 400
    assert "original_production" in response.json()["fields"]


@pytest.mark.parametrize("body", ['{"family_name": "X"', "not json at all", '{"family_name": }'])
def test_malformed_json_is_400(staff_client: Any, node_org: Any, body: str) -> None:
    response = staff_client.post("/api/v1/persons/", data=body, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"] == "parse_error"


def test_form_encoded_body_is_415(staff_client: Any, node_org: Any) -> None:
    response = staff_client.post("/api/v1/persons/", data={"family_name": "X"})
    assert response.status_code == 415
    assert response.json()["error"] == "unsupported_media_type"


# ---------------------------------------------------------------------------- updates, If-Match


def test_patch_bumps_version_and_returns_new_etag(staff_client: Any) -> None:
    work = WorkFactory()
    etag = staff_client.get(f"/api/v1/works/{work.pk}/")["ETag"]
    response = patch(staff_client, f"/api/v1/works/{work.pk}/", {"title": "Titre revu"}, HTTP_IF_MATCH=etag)
    assert response.status_code == 200, response.content
    assert response.json()["version"] == 2
    assert response["ETag"] == f'"{work.pk}-2"'
    work.refresh_from_db()
    assert work.title == "Titre revu"
    assert work.version == 2


def test_stale_if_match_is_412_and_changes_nothing(staff_client: Any) -> None:
    work = WorkFactory(title="Avant")
    stale = f'"{work.pk}-1"'
    work.title = "Modifié ailleurs"
    work.save()
    for method in ("patch", "put", "delete"):
        response = getattr(staff_client, method)(
            f"/api/v1/works/{work.pk}/",
            data=json.dumps({"title": "Écrasé"}),
            content_type="application/json",
            HTTP_IF_MATCH=stale,
        )
        assert response.status_code == 412, method
        body = response.json()
        assert body["error"] == "precondition_failed"
        assert set(body) >= {"error", "detail", "fields"}
    work.refresh_from_db()
    assert work.title == "Modifié ailleurs"
    assert work.version == 2


def test_if_match_star_and_weak_tags(staff_client: Any) -> None:
    work = WorkFactory()
    assert patch(staff_client, f"/api/v1/works/{work.pk}/", {"title": "A"}, HTTP_IF_MATCH="*").status_code == 200
    weak = f'W/"{work.pk}-2"'
    assert patch(staff_client, f"/api/v1/works/{work.pk}/", {"title": "B"}, HTTP_IF_MATCH=weak).status_code == 412
    listed = f'"other", "{work.pk}-2"'
    assert patch(staff_client, f"/api/v1/works/{work.pk}/", {"title": "C"}, HTTP_IF_MATCH=listed).status_code == 200


def test_put_replaces_and_updates_many_to_many(staff_client: Any) -> None:
    production = ProductionFactory()
    production.works.add(WorkFactory())
    new_work = WorkFactory()
    body = staff_client.get(f"/api/v1/productions/{production.pk}/").json()
    body.update({"title": "Nouvelle version", "works": [str(new_work.pk)]})
    response = staff_client.put(
        f"/api/v1/productions/{production.pk}/", data=json.dumps(body), content_type="application/json"
    )
    assert response.status_code == 200, response.content
    assert response.json()["works"] == [str(new_work.pk)]
    assert list(production.works.all()) == [new_work]


def test_update_validation_runs_model_rules(staff_client: Any) -> None:
    season = SeasonFactory()
    response = patch(staff_client, f"/api/v1/seasons/{season.pk}/", {"end_date": "2020-01-01"})
    assert response.status_code == 400
    assert "end_date" in response.json()["fields"]
    performance = PerformanceFactory()
    response = patch(staff_client, f"/api/v1/performances/{performance.pk}/", {"status": "postponed"})
    assert response.status_code == 400
    assert "previous_start" in response.json()["fields"]


def test_technical_sheet_update_keeps_a_revision(staff_client: Any) -> None:
    sheet = TechnicalSheetFactory()
    response = patch(staff_client, f"/api/v1/technical-sheets/{sheet.pk}/", {"stage_depth_m": "11.50"})
    assert response.status_code == 200
    revisions = staff_client.get(f"/api/v1/technical-sheets/{sheet.pk}/revisions/").json()
    assert revisions[0]["version"] == 2
    assert revisions[0]["diff"] == {"stage_depth_m": {"from": "10.00", "to": "11.50"}}


def test_replica_records_are_read_only_here(staff_client: Any) -> None:
    work = WorkFactory()
    m.Work.objects.filter(pk=work.pk).update(origin="https://other-node.example")
    response = patch(staff_client, f"/api/v1/works/{work.pk}/", {"title": "Pirate"})
    assert response.status_code == 409
    assert response.json()["error"] == "read_only_replica"
    assert staff_client.delete(f"/api/v1/works/{work.pk}/").status_code == 409
    assert m.Work.objects.filter(pk=work.pk).exists()


def test_writes_to_hidden_or_unknown_records_are_404(outsider_client: Any, staff_client: Any) -> None:
    option = PerformanceFactory(status="option")
    assert patch(staff_client, f"/api/v1/performances/{option.pk}/", {"capacity": 10}).status_code == 200
    assert (
        patch(staff_client, "/api/v1/performances/00000000-0000-0000-0000-000000000000/", {"capacity": 10}).status_code
        == 404
    )


# ---------------------------------------------------------------------------- deletion


def test_delete_then_410_with_tombstone(staff_client: Any, anon_client: Any) -> None:
    venue = VenueFactory()
    hall = HallFactory(venue=venue)
    etag = staff_client.get(f"/api/v1/venues/{venue.pk}/")["ETag"]
    response = staff_client.delete(f"/api/v1/venues/{venue.pk}/", HTTP_IF_MATCH=etag)
    assert response.status_code == 204
    gone = anon_client.get(f"/api/v1/venues/{venue.pk}/")
    assert gone.status_code == 410
    assert gone.json()["tombstone"]["uuid"] == str(venue.pk)
    assert anon_client.get(f"/api/v1/halls/{hall.pk}/").status_code == 410  # the cascade left tombstones too
    assert staff_client.delete(f"/api/v1/venues/{venue.pk}/").status_code == 410


def test_delete_of_a_referenced_record_is_409(staff_client: Any) -> None:
    performance = PerformanceFactory()
    response = staff_client.delete(f"/api/v1/halls/{performance.hall_id}/")
    assert response.status_code == 409
    assert response.json()["error"] == "protected"
    assert m.Hall.objects.filter(pk=performance.hall_id).exists()
