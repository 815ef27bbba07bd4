"""Periodic tasks of the contacts app (Celery beat, dataspace.settings.CELERY_BEAT_SCHEDULE)."""

from __future__ import annotations

import logging

from celery import shared_task

logger = logging.getLogger(__name__)


@shared_task(name="dataspace.contacts.tasks.flag_records_for_review")
def flag_records_for_review() -> dict[str, int]:
    """Count, per structure, the directory entries and contacts due for review; log each count.

    Returns {organisation id: number of records due}. Nothing is changed: the admin's
    « à revérifier » filter lists them for the structure's staff.
    """
    from dataspace.consent.rights import review_counts

    counts = review_counts()
    for owner_id, count in sorted(counts.items()):
        logger.info("records due for review: structure %s has %d", owner_id, count)
    return counts
