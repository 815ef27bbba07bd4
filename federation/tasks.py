"""Celery tasks of the federation: thin, idempotent, taking ids or URLs (the rules live in the modules)."""

from __future__ import annotations

from typing import Any

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


@shared_task(name="federation.tasks.refresh_members", time_limit=120, soft_time_limit=100)
def refresh_members() -> dict[str, Any]:
    """Fetch and verify the registry's signed member list (beat, every FEDERATION_MEMBERS_REFRESH)."""
    from federation import membership

    return membership.refresh_members()


@shared_task(name="federation.tasks.sync_node", time_limit=600, soft_time_limit=540, acks_late=True)
def sync_node(base_url: str) -> dict[str, Any]:
    """Pull one member's change feed into the index, from its cursor (a push notice or the sweep)."""
    from federation import replication

    return replication.sync_node(base_url)


@shared_task(name="federation.tasks.sync_all_nodes", time_limit=1800, soft_time_limit=1700)
def sync_all_nodes() -> dict[str, Any]:
    """Pull every member's change feed (beat, every FEDERATION_SYNC_INTERVAL; registry only)."""
    from federation import replication

    return replication.sync_all()


@shared_task(name="federation.tasks.purge_nonces", time_limit=120, soft_time_limit=100)
def purge_nonces() -> int:
    """Forget the nonces of signatures that have expired (they can no longer be replayed anyway)."""
    from federation import signing

    return signing.purge_nonces()
