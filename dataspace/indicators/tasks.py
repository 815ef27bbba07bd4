"""Celery tasks of the indicator campaigns (ministry node): thin, idempotent, taking ids (the rules
live in `dataspace.indicators.campaigns`)."""

from __future__ import annotations

from typing import Any

from celery import shared_task


@shared_task(name="dataspace.indicators.tasks.run_campaign", time_limit=1800, soft_time_limit=1700, acks_late=True)
def run_campaign(campaign_id: str) -> dict[str, Any]:
    """Ask every node of the campaign that has not answered, then publish (scheduled on commit by
    `campaigns.launch`; a run already holding the campaign's lease makes this one a no-op)."""
    from dataspace.indicators import campaigns

    return campaigns.run_campaign(campaign_id)


@shared_task(name="dataspace.indicators.tasks.ask_campaign_node", time_limit=120, soft_time_limit=100, acks_late=True)
def ask_campaign_node(campaign_id: str, node: str) -> dict[str, Any]:
    """Ask one node of the campaign again (its `aggregate.approved` notice), then publish again."""
    from dataspace.indicators import campaigns

    return campaigns.ask_campaign_node(campaign_id, node)
