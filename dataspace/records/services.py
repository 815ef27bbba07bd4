"""Writing the change log and finding tombstones.

Ordering guarantee: on PostgreSQL, `record_change` takes a transaction-scoped advisory lock before
allocating the row's sequence number, so a transaction that allocated number n commits (or rolls
back) before any other transaction can allocate n+1. A reader therefore never sees n+1 without n
already visible: resuming "after n" can never skip a change. SQLite serialises writers already.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db import connection, transaction

from dataspace.records.models import Change

if TYPE_CHECKING:
    from dataspace.records.models import Record

#: Arbitrary constant key of the advisory lock that serialises change-log writers.
CHANGE_LOG_LOCK_KEY = 0x5C3E_C0DE


def _serialise_change_log_writers() -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [CHANGE_LOG_LOCK_KEY])


def last_public_op(record_type: str, record_id: object) -> str | None:
    """The op of the latest change published for this record, or None if none was."""
    return (
        Change.objects.filter(record_type=record_type, record_id=record_id)
        .order_by("-seq")
        .values_list("op", flat=True)
        .first()
    )


def record_change(record: Record, op: str) -> Change | None:
    """Append the change of `record` to the feed, inside the caller's transaction.

    A record that may not leave the node (an option) is published as a tombstone if it had been
    published before, and not at all otherwise.
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("record_change must run inside a transaction")
    _serialise_change_log_writers()
    if op == Change.Op.UPSERT and not record.is_public:
        if last_public_op(record.record_type, record.pk) != Change.Op.UPSERT:
            return None
        op = Change.Op.DELETE
    owner_id = getattr(record, "owner_id", None)
    return Change.objects.create(
        record_type=record.record_type,
        record_id=record.pk,
        uri=record.uri,
        op=op,
        version=record.version,
        owner_id=owner_id,
    )


def tombstone_for(record_type: str, record_id: object) -> Change | None:
    """The tombstone of a deleted record, if the record's last change is a delete."""
    last = (
        Change.objects.filter(record_type=record_type, record_id=record_id).order_by("-seq").first()
    )
    return last if last is not None and last.op == Change.Op.DELETE else None
