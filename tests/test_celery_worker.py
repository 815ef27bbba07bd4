"""Celery tasks run eagerly without Redis and through a real worker on the same database with it."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from dataspace.api.models import IdempotencyKey
from dataspace.api.tasks import purge_idempotency_keys


def _store_keys(settings: Any) -> tuple[IdempotencyKey, IdempotencyKey]:
    """One stored answer older than the TTL and one fresh; returns (old, new)."""
    old, new = (
        IdempotencyKey.objects.create(
            key=key, caller="user:1", method="POST", path="/api/v1/productions/",
            request_hash="0" * 64, status_code=201, response_body={"ok": True},
        )
        for key in ("old", "new")
    )  # fmt: skip
    past = timezone.now() - dt.timedelta(hours=settings.IDEMPOTENCY_KEY_TTL_HOURS + 1)
    # created_at is auto_now_add: backdate it with an UPDATE, which bypasses it.
    IdempotencyKey.objects.filter(pk=old.pk).update(created_at=past)
    return old, new


@pytest.mark.django_db
def test_purge_idempotency_keys_eagerly_deletes_old_keys_and_keeps_new(settings: Any) -> None:
    _old, new = _store_keys(settings)

    deleted = purge_idempotency_keys.delay().get(timeout=30)

    assert deleted == 1
    assert list(IdempotencyKey.objects.values_list("pk", flat=True)) == [new.pk]


@pytest.mark.worker
def test_real_worker_purges_rows_the_test_committed(transactional_db: None, settings: Any) -> None:
    old, new = _store_keys(settings)  # transactional_db: these rows are committed

    deleted = purge_idempotency_keys.delay().get(timeout=30)

    # The worker is another process: it saw (and deleted) our committed row, so same database.
    assert deleted == 1
    assert not IdempotencyKey.objects.filter(pk=old.pk).exists()
    assert IdempotencyKey.objects.filter(pk=new.pk).exists()


@pytest.mark.worker
def test_readyz_reports_the_running_worker(transactional_db: None) -> None:
    response = Client().get("/readyz")

    body = response.json()
    assert response.status_code == 200, body
    assert body["checks"]["redis"] == "ok"
    assert body["checks"]["celery"].startswith("ok (")
    workers = int(body["checks"]["celery"].removeprefix("ok (").split()[0])
    assert workers >= 1
