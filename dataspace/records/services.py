"""The change log of shared records: writing it, reading it as a feed, resolving global URIs.

Ordering guarantee (what makes the feed's cursor safe to resume)
-----------------------------------------------------------------
On PostgreSQL every writer of a shared record first takes one transaction-scoped advisory lock
(`lock_change_log`), *before* it writes the record's row, and keeps it until it commits or rolls
back. Change numbers (`Change.seq`, a database sequence) are therefore allocated in commit order:
a transaction that allocated n has committed (and is visible) before any other transaction can
allocate n+1. A reader that sees n+1 thus already sees every change numbered below it that will
ever exist, and resuming "after n+1" can never skip one. Numbers of rolled-back transactions
leave harmless gaps. SQLite serialises writers by itself (`transaction_mode=IMMEDIATE`).

Without the lock, sequence numbers are handed out at INSERT time but become visible at COMMIT
time, in any order: T1 takes 10 and is still busy, T2 takes 11 and commits, a reader pages up to
11 and stores cursor 11, T1 commits 10 — and the reader never sees 10. The PostgreSQL tests in
`tests/records/test_change_feed_concurrency.py` reproduce that skip with the lock switched off.

Lock order convention: the advisory lock is always taken before any row lock of a shared record
(`Record.save` takes it before writing, the `pre_delete` receiver before Django deletes), so two
writers can never hold one each while waiting for the other.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from django.apps import apps
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Max, QuerySet

from dataspace.records.models import Change

if TYPE_CHECKING:
    from dataspace.records.models import Record

#: Arbitrary constant key of the advisory lock that serialises change-log writers.
CHANGE_LOG_LOCK_KEY = 0x5C3E_C0DE

# ---------------------------------------------------------------------------- writing the log


def lock_change_log() -> None:
    """Serialise change-log writers until the current transaction ends (no-op off PostgreSQL).

    Must run inside a transaction; call it before writing any shared record's row.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [CHANGE_LOG_LOCK_KEY])


def _owner_of(record: Record) -> Any:
    """The owner organisation's id; an organisation describing itself owns its own record."""
    owner = getattr(record, "owner_organisation_id", None)
    return owner if owner is not None else getattr(record, "owner_id", None)


def last_public_op(record_type: str, record_id: uuid.UUID | str) -> str | None:
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
    lock_change_log()
    if op == Change.Op.UPSERT and not record.is_public:
        if last_public_op(record.record_type, record.pk) != Change.Op.UPSERT:
            return None
        op = Change.Op.DELETE
    change = Change.objects.create(
        record_type=record.record_type,
        record_id=record.pk,
        uri=record.uri,
        op=op,
        version=record.version,
        owner_id=_owner_of(record),
    )
    from federation import replication, webhooks  # federation builds on the change log: imported late

    webhooks.on_change(change)  # vendors' webhook events, enqueued in this transaction (issue 6)
    replication.announce_change(change)  # one coalesced "changes.available" notice for the registry
    return change


def record_tombstone(record: Record) -> Change | None:
    """Leave the tombstone of a record being deleted, if it was ever published and not withdrawn.

    The tombstone's version is one above both the instance's and the last published one, so it
    always supersedes what replicas hold even if the instance Django deletes was loaded stale.
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("record_tombstone must run inside a transaction")
    lock_change_log()
    last = (
        Change.objects.filter(record_type=record.record_type, record_id=record.pk)
        .order_by("-seq")
        .values_list("op", "version")
        .first()
    )
    if last is None or last[0] != Change.Op.UPSERT:
        return None
    record.version = max(record.version or 0, last[1]) + 1
    return record_change(record, Change.Op.DELETE)


def tombstone_for(record_type: str, record_id: uuid.UUID | str) -> Change | None:
    """The tombstone of a deleted record, if the record's last change is a delete."""
    last = Change.objects.filter(record_type=record_type, record_id=record_id).order_by("-seq").first()
    return last if last is not None and last.op == Change.Op.DELETE else None


# ---------------------------------------------------------------------------- record types


def record_models() -> dict[str, type[Record]]:
    """Every concrete shared-record model, by its `record_type` (URI path segment, feed type)."""
    from dataspace.records.models import Record

    return {model.record_type: model for model in apps.get_models() if issubclass(model, Record) and model.record_type}


# ---------------------------------------------------------------------------- feed cursors

CURSOR_VERSION = 1
_CURSOR_MAX_LENGTH = 1024


class InvalidCursor(ValueError):
    """A `since` cursor this node did not issue, or issued for a wider type filter."""


@dataclass(frozen=True)
class FeedCursor:
    """A position in this node's change log: every change up to `seq` was delivered.

    `types` is the type filter the position was reached with (None: all types). A cursor reached
    with a filter knows nothing of the other types' changes, so it may only be resumed with the
    same or a narrower filter.
    """

    seq: int = 0
    types: frozenset[str] | None = None


def _node_tag() -> str:
    return hashlib.sha256(str(settings.NODE_BASE_URL).encode()).hexdigest()[:8]


def _cursor_check(payload: dict[str, Any]) -> str:
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(f"scene-commune/changes:{canonical}".encode()).hexdigest()[:12]


def encode_cursor(cursor: FeedCursor) -> str:
    """The opaque token of a position: urlsafe base64 (unpadded) of a small versioned JSON.

    The JSON holds the version, the last seq, this node's tag, the type filter and a check
    digest. The digest detects corrupted or hand-edited cursors; it is not a secret-keyed
    signature, on purpose: a position grants nothing (any reader may start from 0), and an
    unkeyed cursor survives a rotation of the node's secret key.
    """
    payload: dict[str, Any] = {"v": CURSOR_VERSION, "n": _node_tag(), "s": cursor.seq}
    if cursor.types is not None:
        payload["t"] = sorted(cursor.types)
    payload["c"] = _cursor_check(payload)
    raw = json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def decode_cursor(token: str) -> FeedCursor:
    """The position a token stands for; `InvalidCursor` when it was not issued by this node."""
    if len(token) > _CURSOR_MAX_LENGTH:
        raise InvalidCursor("Cursor too long.")
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        payload = json.loads(raw)
    except (binascii.Error, ValueError) as exc:
        raise InvalidCursor("Malformed cursor: not one this node issued.") from exc
    if not isinstance(payload, dict) or payload.get("v") != CURSOR_VERSION:
        raise InvalidCursor("Unknown cursor format or version.")
    check = payload.pop("c", None)
    if not isinstance(check, str) or check != _cursor_check(payload):
        raise InvalidCursor("Cursor integrity check failed (altered or truncated).")
    if payload.get("n") != _node_tag():
        raise InvalidCursor("Cursor issued by another node.")
    seq = payload.get("s")
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 0:
        raise InvalidCursor("Cursor position is not a non-negative integer.")
    types = payload.get("t")
    if types is None:
        return FeedCursor(seq=seq)
    if not isinstance(types, list) or not all(isinstance(t, str) for t in types) or not types:
        raise InvalidCursor("Cursor type filter is malformed.")
    return FeedCursor(seq=seq, types=frozenset(types))


# ---------------------------------------------------------------------------- reading the feed

DEFAULT_FEED_LIMIT = 100
MAX_FEED_LIMIT = 1000


@dataclass(frozen=True)
class ChangePage:
    changes: list[Change]
    next: FeedCursor
    has_more: bool


def read_changes(since: FeedCursor | None, *, limit: int, types: Iterable[str] | None = None) -> ChangePage:
    """The next changes after `since`, in commit order, at most `limit` of them.

    `types` narrows the feed to some record types (None: every type). Raises `InvalidCursor` when
    the cursor was reached with a narrower filter than asked now (resuming it would skip the
    other types' earlier changes) or points past the end of this node's log (a node restored
    from an older backup: the reader must start again from the beginning).
    """
    if not 1 <= limit <= MAX_FEED_LIMIT:
        raise ValueError(f"limit must be between 1 and {MAX_FEED_LIMIT}")
    since = since or FeedCursor()
    wanted = frozenset(types) if types is not None else None
    if since.types is not None and (wanted is None or not wanted <= since.types):
        raise InvalidCursor(
            "This cursor was reached with types="
            f"{','.join(sorted(since.types))}; resume it with the same filter (or a narrower one), "
            "or start again without `since`."
        )
    queryset = Change.objects.filter(seq__gt=since.seq).order_by("seq")
    if wanted is not None:
        queryset = queryset.filter(record_type__in=sorted(wanted))
    rows = list(queryset[: limit + 1])
    has_more = len(rows) > limit
    rows = rows[:limit]
    if not rows:
        if since.seq and since.seq > (Change.objects.aggregate(last=Max("seq"))["last"] or 0):
            raise InvalidCursor("Cursor points past the end of this node's change log; start again without `since`.")
        return ChangePage(changes=[], next=since, has_more=False)
    # The filter kept in the cursor: the narrowest one the position was reached with.
    kept = wanted if wanted is not None else since.types
    return ChangePage(changes=rows, next=FeedCursor(seq=rows[-1].seq, types=kept), has_more=has_more)


def load_current_records(
    changes: Sequence[Change], querysets: Mapping[str, QuerySet[Any]] | None = None
) -> dict[tuple[str, uuid.UUID], Record]:
    """The current public state of the records upserted in `changes`: one query per record type.

    `querysets` may give, per type, the queryset to load from (with the joins its representation
    needs). Records that are gone, or may no longer leave the node (options), are absent.
    """
    wanted: dict[str, set[uuid.UUID]] = defaultdict(set)
    for change in changes:
        if change.op == Change.Op.UPSERT:
            wanted[change.record_type].add(change.record_id)
    models = record_models()
    found: dict[tuple[str, uuid.UUID], Record] = {}
    for record_type, ids in wanted.items():
        model = models.get(record_type)
        if model is None:  # a type this code base no longer has: report the change, not the data
            continue
        source = (querysets or {}).get(record_type)
        queryset = source.all() if source is not None else model._default_manager.all()
        for record in queryset.filter(pk__in=ids):
            if record.is_public:
                found[(record_type, record.pk)] = record
    return found


def change_entry(change: Change, record: dict[str, Any] | None) -> dict[str, Any]:
    """The public form of one change (the feed's entry); `seq` stays internal."""
    return {
        "op": change.op,
        "type": change.record_type,
        "id": change.uri,
        "uuid": str(change.record_id),
        "version": change.version,
        "owner": str(change.owner_id) if change.owner_id else None,
        "changed_at": change.changed_at.isoformat().replace("+00:00", "Z"),
        "record": record,
    }


# ---------------------------------------------------------------------------- resolving URIs


@dataclass(frozen=True)
class Resolution:
    """What a global URI `/id/<type>/<uuid>` stands for on this node."""

    outcome: Literal["found", "gone", "not_found", "unknown_type"]
    record: Record | None = None
    tombstone: Change | None = None


def resolve_record(record_type: str, record_id: str, *, include_local: bool) -> Resolution:
    """Find the record a URI names. Local-only records (options) count only for `include_local`.

    A record that exists but may not leave the node is `not_found` for others, exactly like a
    record that never existed: its existence itself is not disclosed.
    """
    model = record_models().get(record_type)
    if model is None:
        return Resolution("unknown_type")
    try:
        pk = uuid.UUID(record_id)
    except ValueError:
        return Resolution("not_found")
    record = model._default_manager.filter(pk=pk).first()
    if record is not None:
        return Resolution("found", record=record) if include_local or record.is_public else Resolution("not_found")
    tombstone = tombstone_for(record_type, pk)
    return Resolution("gone", tombstone=tombstone) if tombstone is not None else Resolution("not_found")
