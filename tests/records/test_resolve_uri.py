"""/id/<type>/<uuid>: a record's global URI resolves to its API detail, or says why not."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from rest_framework.test import APIClient

from dataspace.referentials.models import Performance
from tests.factories import PerformanceFactory, ProductionFactory, VenueFactory

pytestmark = pytest.mark.django_db

Status = Performance.Status


@pytest.fixture(autouse=True)
def _api_detail_routes(settings: Any) -> None:
    settings.ROOT_URLCONF = "tests.records.urls_with_details"


def path_of(record: Any) -> str:
    return f"/id/{record.record_type}/{record.pk}"


def assert_error(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["error"] == code
    assert body["detail"]
    return body


def test_uri_is_the_path_resolved() -> None:
    venue = VenueFactory()
    assert venue.uri.endswith(path_of(venue))


@pytest.mark.parametrize("factory", [VenueFactory, ProductionFactory, PerformanceFactory])
def test_record_redirects_303_to_its_api_detail(anon_client: APIClient, factory: Any) -> None:
    record = factory()
    response = anon_client.get(path_of(record))
    assert response.status_code == 303
    assert response["Location"] == f"http://testserver/api/v1/{record.record_type}s/{record.pk}"


def test_redirect_whatever_the_accept_header(anon_client: APIClient) -> None:
    venue = VenueFactory()
    for accept in ("application/ld+json", "text/html", "text/turtle"):
        response = anon_client.get(path_of(venue), HTTP_ACCEPT=accept)
        assert response.status_code == 303, accept  # the client re-requests the target with its Accept


def test_head_is_answered_like_get(anon_client: APIClient) -> None:
    venue = VenueFactory()
    assert anon_client.head(path_of(venue)).status_code == 303


def test_unknown_type_is_404_json(anon_client: APIClient) -> None:
    body = assert_error(anon_client.get(f"/id/spectacle/{uuid.uuid4()}"), 404, "not_found")
    assert "performance" in body["detail"]  # names the known types


def test_unknown_record_is_404_json(anon_client: APIClient) -> None:
    assert_error(anon_client.get(f"/id/venue/{uuid.uuid4()}"), 404, "not_found")


def test_malformed_uuid_is_404_json(anon_client: APIClient) -> None:
    assert_error(anon_client.get("/id/venue/not-a-uuid"), 404, "not_found")


def test_deleted_record_is_410_with_its_tombstone(anon_client: APIClient) -> None:
    production = ProductionFactory()
    uri, pk = production.uri, str(production.pk)
    production.delete()
    body = assert_error(anon_client.get(f"/id/production/{pk}"), 410, "gone")
    tombstone = body["tombstone"]
    assert (tombstone["op"], tombstone["id"], tombstone["uuid"], tombstone["version"]) == ("delete", uri, pk, 2)
    assert tombstone["record"] is None


def test_option_is_404_for_the_public_and_outsiders(anon_client: APIClient, outsider_client: APIClient) -> None:
    option = PerformanceFactory(status=Status.OPTION)
    assert_error(anon_client.get(path_of(option)), 404, "not_found")
    assert_error(outsider_client.get(path_of(option)), 404, "not_found")


def test_withdrawn_performance_now_an_option_is_404_not_410(anon_client: APIClient) -> None:
    performance = PerformanceFactory()
    performance.status = Status.OPTION
    performance.save()
    assert_error(anon_client.get(path_of(performance)), 404, "not_found")  # existence not disclosed


def test_option_resolves_for_the_node_staff(staff_client: APIClient) -> None:
    option = PerformanceFactory(status=Status.OPTION)
    response = staff_client.get(path_of(option))
    assert response.status_code == 303
    assert response["Location"].endswith(f"/performances/{option.pk}")


def test_never_published_option_deleted_is_404(anon_client: APIClient) -> None:
    option = PerformanceFactory(status=Status.OPTION)
    path = path_of(option)
    option.delete()
    assert_error(anon_client.get(path), 404, "not_found")


def test_type_without_api_route_yet_is_404_json(anon_client: APIClient, settings: Any) -> None:
    settings.ROOT_URLCONF = "tests.records.urls_without_details"
    venue = VenueFactory()
    body = assert_error(anon_client.get(path_of(venue)), 404, "not_found")
    assert "venue" in body["detail"]


def test_resolution_is_read_only(staff_client: APIClient) -> None:
    venue = VenueFactory()
    assert staff_client.post(path_of(venue)).status_code == 405
    assert staff_client.delete(path_of(venue)).status_code == 405


def test_following_the_redirect_with_the_real_api(anon_client: APIClient, settings: Any) -> None:
    settings.ROOT_URLCONF = "dataspace.urls"
    venue = VenueFactory(name="Lieu réel")
    response = anon_client.get(path_of(venue), HTTP_ACCEPT="application/json")
    assert response.status_code == 303
    followed = anon_client.get(response["Location"], HTTP_ACCEPT="application/json")
    assert followed.status_code == 200
    assert followed.json()["id"] == str(venue.pk)
