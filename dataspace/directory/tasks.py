"""Periodic re-import of the licence list (settings.LICENCE_IMPORT_PATH, daily by Celery beat)."""

from __future__ import annotations

import logging
from typing import Any

from celery import shared_task
from django.conf import settings
from django.db import OperationalError

from dataspace.directory.services import LicenceFileError, NotARegistry, import_licences

logger = logging.getLogger("dataspace.directory")


@shared_task(
    name="dataspace.directory.tasks.reimport_licences",
    time_limit=900,
    soft_time_limit=840,
    acks_late=True,
    autoretry_for=(OperationalError,),  # a locked or restarting database: try again later
    retry_backoff=60,
    max_retries=3,
)
def reimport_licences() -> dict[str, Any] | None:
    """Re-import the list from LICENCE_IMPORT_PATH; None when disabled or on a node that is no registry.

    Idempotent (`import_licences`); a file that cannot be used is logged, not retried (a retry in
    seconds would not fix it; tomorrow's run will try again).
    """
    path = str(getattr(settings, "LICENCE_IMPORT_PATH", "") or "")
    if not path:
        logger.info("licence re-import disabled: LICENCE_IMPORT_PATH is empty")
        return None
    try:
        run = import_licences(path)
    except NotARegistry:
        logger.warning("licence re-import skipped: this node has no 'registry' role (LICENCE_IMPORT_PATH=%s)", path)
        return None
    except LicenceFileError as exc:
        logger.error("licence re-import from %s failed: %s", path, exc)
        return {"source": path, "error": str(exc)}
    return {
        "source": path,
        "import_id": run.pk,
        "created": run.created,
        "updated": run.updated,
        "unchanged": run.unchanged,
        "invalid": run.invalid,
    }
