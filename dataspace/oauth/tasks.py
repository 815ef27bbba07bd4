"""Periodic checks of the OAuth clients."""

from __future__ import annotations

import logging

from celery import shared_task

from dataspace.oauth.clients import secrets_past_max_age

logger = logging.getLogger("dataspace.oauth")


@shared_task(name="dataspace.oauth.tasks.report_old_secrets", time_limit=120, soft_time_limit=100, acks_late=True)
def report_old_secrets(max_age_days: int | None = None) -> list[str]:
    """Log every current client secret older than OAUTH_SECRET_MAX_AGE_DAYS; returns `client_id vN` lines."""
    lines = [
        f"{stored.client.client_id} v{stored.version} ({stored.client.name}, created {stored.created_at:%Y-%m-%d})"
        for stored in secrets_past_max_age(max_age_days)
    ]
    for line in lines:
        logger.warning("client secret past its maximum age, rotate it: %s", line)
    if not lines:
        logger.info("no client secret past its maximum age")
    return lines
