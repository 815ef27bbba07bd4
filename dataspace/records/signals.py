"""Leave a tombstone in the change feed for every deleted record, cascades included.

Django runs deletions (and their cascades) in one transaction and sends `pre_delete` for every
collected instance before its first write, then `post_delete` inside the same transaction, so the
tombstone commits or rolls back with the deletion. Saves are logged by `Record.save`.
"""

from __future__ import annotations

from typing import Any

from django.db.models.signals import post_delete, pre_delete
from django.dispatch import receiver

from dataspace.records import services
from dataspace.records.models import Record


def _is_record(sender: Any) -> bool:
    return isinstance(sender, type) and issubclass(sender, Record)


@receiver(pre_delete)
def _lock_before_delete(sender: Any, instance: Any, **kwargs: Any) -> None:
    # Take the change-log lock before Django writes any row: the lock order of services.py.
    if _is_record(sender):
        services.lock_change_log()


@receiver(post_delete)
def _log_delete(sender: Any, instance: Any, **kwargs: Any) -> None:
    # Only records that were published and not withdrawn get a tombstone (an option never left).
    if _is_record(sender):
        services.record_tombstone(instance)
