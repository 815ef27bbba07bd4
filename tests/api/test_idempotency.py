"""Idempotency-Key on POST: the first answer is replayed, a reused key with another body is a 422."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from django.utils import timezone

from dataspace.api.models import IdempotencyKey
from dataspace.referentials import models as m
from tests.factories import UserFactory
from tests.referentials.factories_extra import set_node_organisation

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _node_org(structure: Any) -> None:
    set_node_organisation(structure)


def post(client: Any, data: Any, key: str | None = None) -> Any:
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key is not None else {}
    return client.post("/api/v1/works/", data=json.dumps(data), content_type="application/json", **headers)


def test_retry_with_same_key_and_body_replays_without_creating(staff_client: Any) -> None:
    first = post(staff_client, {"title": "Le Misanthrope"}, key="k-1")
    assert first.status_code == 201
    assert "Idempotent-Replayed" not in first
    again = post(staff_client, {"title": "Le Misanthrope"}, key="k-1")
    assert again.status_code == 201
    assert again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert again["ETag"] == first["ETag"]
    assert again["Location"] == first["Location"]
    assert m.Work.objects.count() == 1
    assert IdempotencyKey.objects.get(key="k-1").caller.startswith("user:")


def test_same_key_with_another_body_is_422(staff_client: Any) -> None:
    post(staff_client, {"title": "Tartuffe"}, key="k-2")
    response = post(staff_client, {"title": "Dom Juan"}, key="k-2")
    assert response.status_code == 422
    body = response.json()
    assert body["error"] == "idempotency_key_reused"
    assert set(body) == {"error", "detail", "fields"}
    assert m.Work.objects.count() == 1


def test_key_order_in_body_does_not_matter(staff_client: Any) -> None:
    post(staff_client, {"title": "Cinna", "genre": "play"}, key="k-3")
    again = post(staff_client, {"genre": "play", "title": "Cinna"}, key="k-3")
    assert again.status_code == 201
    assert again["Idempotent-Replayed"] == "true"


def test_keys_are_scoped_by_caller(staff_client: Any) -> None:
    from rest_framework.test import APIClient

    post(staff_client, {"title": "Horace"}, key="shared")
    other = APIClient()
    other.force_login(UserFactory(username="second-admin", is_staff=True, is_superuser=True))
    response = post(other, {"title": "Horace"}, key="shared")
    assert response.status_code == 201
    assert "Idempotent-Replayed" not in response
    assert m.Work.objects.count() == 2


def test_failed_attempt_is_not_stored_and_key_can_be_reused(staff_client: Any) -> None:
    assert post(staff_client, {"title": ""}, key="k-4").status_code == 400
    assert not IdempotencyKey.objects.exists()
    assert post(staff_client, {"title": "Corrigé"}, key="k-4").status_code == 201


def test_expired_key_is_free_again(staff_client: Any) -> None:
    post(staff_client, {"title": "Britannicus"}, key="k-5")
    IdempotencyKey.objects.update(created_at=timezone.now() - dt.timedelta(hours=IdempotencyKey.ttl_hours() + 1))
    response = post(staff_client, {"title": "Autre"}, key="k-5")
    assert response.status_code == 201
    assert "Idempotent-Replayed" not in response
    assert m.Work.objects.count() == 2


@pytest.mark.parametrize("key", ["", "   ", "x" * 201])
def test_malformed_key_is_400(staff_client: Any, key: str) -> None:
    response = post(staff_client, {"title": "Bajazet"}, key=key)
    assert response.status_code == 400
    assert "Idempotency-Key" in response.json()["fields"]
    assert not m.Work.objects.exists()


def test_without_key_each_post_creates(staff_client: Any) -> None:
    post(staff_client, {"title": "Esther"})
    post(staff_client, {"title": "Esther"})
    assert m.Work.objects.count() == 2


def test_replay_in_json_ld(staff_client: Any) -> None:
    first = post(staff_client, {"title": "Athalie"}, key="k-6")
    again = staff_client.post(
        "/api/v1/works/",
        data=json.dumps({"title": "Athalie"}),
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY="k-6",
        HTTP_ACCEPT="application/ld+json",
    )
    assert again.status_code == 201
    document = json.loads(again.content)
    assert document["@id"] == first.json()["uri"]
    assert document["name"] == "Athalie"
