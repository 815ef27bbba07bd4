"""`run_periodic_tasks`: the beat of a node without Redis runs every scheduled task at its interval."""

from __future__ import annotations

import datetime as dt
from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from dataspace.api.models import IdempotencyKey
from dataspace.node.management.commands.run_periodic_tasks import run_due, schedule


@pytest.mark.django_db
def test_once_runs_the_named_task(settings: Any) -> None:
    old, fresh = (
        IdempotencyKey.objects.create(
            key=key, caller="client:x", method="POST", path="/api/v1/works/", request_hash="h", status_code=201
        )
        for key in ("old", "fresh")
    )
    IdempotencyKey.objects.filter(pk=old.pk).update(created_at=timezone.now() - dt.timedelta(days=30))
    call_command("run_periodic_tasks", "--once", "--only", "purge-idempotency-keys")
    assert not IdempotencyKey.objects.filter(pk=old.pk).exists()
    assert IdempotencyKey.objects.filter(pk=fresh.pk).exists()


def test_unknown_entry_is_refused_with_the_known_ones() -> None:
    with pytest.raises(CommandError, match="purge-idempotency-keys"):
        call_command("run_periodic_tasks", "--once", "--only", "no-such-task")


@pytest.mark.django_db
def test_entries_run_at_their_interval_and_a_failure_does_not_stop_the_others(settings: Any) -> None:
    settings.CELERY_BEAT_SCHEDULE = {
        "broken": {"task": "no.such.task", "schedule": 10.0},
        "purge": {"task": "dataspace.api.tasks.purge_idempotency_keys", "schedule": 60.0},
    }
    entries = schedule(1000.0)
    errors = StringIO()
    assert run_due(entries, 1000.0, out=errors) == 2  # both ran; the broken one reported
    assert "broken" in errors.getvalue()
    assert run_due(entries, 1005.0) == 0  # nothing due yet
    assert run_due(entries, 1010.0, out=errors) == 1  # the 10 s one only
    assert run_due(entries, 1060.0, out=errors) == 2
