"""Periodic work on the journal: sealing its head with the node key."""

from __future__ import annotations

from celery import shared_task

from dataspace.audit.services import seal_head


@shared_task(name="dataspace.audit.tasks.seal_journal", time_limit=60, soft_time_limit=50, acks_late=True)
def seal_journal() -> int | None:
    """Sign the journal's head if it is not sealed yet; returns the sealed seq, or None (nothing to do).

    Idempotent: a head already sealed (by an earlier run or a concurrent worker) is left alone.
    """
    seal = seal_head()
    return seal.seq if seal is not None else None
