"""Periodic work on consents: marking those whose expiry has passed (hourly, Celery beat)."""

from __future__ import annotations

from celery import shared_task

from dataspace.consent.services import expire_consents as expire_consents_now


@shared_task(name="dataspace.consent.tasks.expire_consents", time_limit=300, soft_time_limit=280, acks_late=True)
def expire_consents() -> int:
    """Mark "expired" every consent past its expiry, with the effects of its end; returns how many.

    Idempotent: a consent already marked (or renewed meanwhile) is left alone. Until it runs, an
    expired-by-date consent already counts as not in force (`active_consent`).
    """
    return expire_consents_now()
