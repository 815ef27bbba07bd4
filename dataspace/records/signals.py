"""Leave a tombstone in the change feed for every deleted record, cascades included.

Django runs deletions (and their cascades) in one transaction and sends `pre_delete` for every
collected instance before its first write, then `post_delete` inside the same transaction, so the
tombstone commits or rolls back with the deletion. Saves are logged by `Record.save`.

Many-to-many links are part of a record's representation (a production's works, its
co-producers): adding or removing one saves the record that holds the field again, so its version
moves and the change feed carries it, even when the link is changed on its own.
"""

from __future__ import annotations

from typing import Any

from django.db.models.signals import m2m_changed, post_delete, pre_delete
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


@receiver(m2m_changed)
def _log_link_change(
    sender: Any, instance: Any, action: str, reverse: bool, model: Any, pk_set: Any, **kwargs: Any
) -> None:
    # The record holding the field changed: `instance` when the forward side was used, the
    # records in `pk_set` (or all linked ones, for a clear) when the link was changed from the other side.
    holder_model = model if reverse else type(instance)
    if not _is_record(holder_model):
        return
    if action in ("pre_add", "pre_remove", "pre_clear"):
        services.lock_change_log()  # lock order of services.py: before the link rows are written
        if action == "pre_clear" and reverse:
            accessor = _accessor(instance, model, sender)
            instance._cleared_link_holders = list(getattr(instance, accessor).values_list("pk", flat=True))
        return
    if action in ("post_add", "post_remove") and not pk_set:
        return
    if not reverse:
        instance.save(update_fields=["updated_at"])
        return
    pks = pk_set if action != "post_clear" else getattr(instance, "_cleared_link_holders", [])
    for holder in model._default_manager.filter(pk__in=pks):
        holder.save(update_fields=["updated_at"])


def _accessor(instance: Any, holder_model: Any, through: Any) -> str:
    """The reverse accessor on `instance` for the many-to-many field of `holder_model` using `through`."""
    for field in holder_model._meta.many_to_many:
        if field.remote_field.through is through:
            return str(field.remote_field.get_accessor_name())
    raise LookupError(f"no many-to-many field of {holder_model.__name__} uses {through.__name__}")
