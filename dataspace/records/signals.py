"""Leave a tombstone in the change feed for every deleted record, cascades included.

Django runs deletions (and their cascades) in one transaction and sends `post_delete` inside it,
so the tombstone commits or rolls back with the deletion. Saves are logged by `Record.save`.
"""

from __future__ import annotations

from typing import Any

from django.db.models.signals import post_delete
from django.dispatch import receiver

from dataspace.records.models import Change, Record
from dataspace.records.services import last_public_op, record_change


@receiver(post_delete)
def _log_delete(sender: Any, instance: Any, **kwargs: Any) -> None:
    if not (isinstance(sender, type) and issubclass(sender, Record)):
        return
    # Only records that were ever published need a tombstone (an option never left the node).
    if last_public_op(instance.record_type, instance.pk) == Change.Op.UPSERT:
        instance.version = (instance.version or 0) + 1
        record_change(instance, Change.Op.DELETE)
