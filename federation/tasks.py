"""Celery tasks of the outbox: thin, idempotent, taking ids (the rules live in `federation.outbox`)."""

from __future__ import annotations

from celery import shared_task

from federation import outbox


@shared_task(name="federation.tasks.deliver_outbox", time_limit=120, soft_time_limit=100, acks_late=True)
def deliver_outbox(ids: list[str]) -> dict[str, int]:
    """Send these outbox messages if they are still due (scheduled on commit by `outbox.enqueue`)."""
    return outbox.deliver_many(ids)


@shared_task(name="federation.tasks.deliver_due_outbox", time_limit=600, soft_time_limit=540, acks_late=True)
def deliver_due_outbox() -> dict[str, int]:
    """Send every pending or failed message whose next attempt is due (beat, every OUTBOX_POLL_INTERVAL)."""
    return outbox.deliver_due()
