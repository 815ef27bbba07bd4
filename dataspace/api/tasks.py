"""Periodic housekeeping of the API layer."""

from __future__ import annotations

from datetime import timedelta

from celery import shared_task
from django.utils import timezone

from dataspace.api.models import IdempotencyKey


@shared_task(name="dataspace.api.tasks.purge_idempotency_keys", time_limit=120, soft_time_limit=100, acks_late=True)
def purge_idempotency_keys() -> int:
    """Delete stored answers older than IDEMPOTENCY_KEY_TTL_HOURS; returns how many went."""
    cutoff = timezone.now() - timedelta(hours=IdempotencyKey.ttl_hours())
    deleted, _ = IdempotencyKey.objects.filter(created_at__lt=cutoff).delete()
    return deleted
