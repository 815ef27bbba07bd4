"""Replication: members' change feeds into the federation index (DESIGN.md §6, docs/federation.md).

Pull
----
`sync_node(base_url)` reads the member's `GET /api/v1/changes?since=…&limit=500` through
`federation.client.NodeClient(base_url).get(..., scope="federation:sync")` (signed request,
private_key_jwt token) page after page until `has_more` is false. Each page is applied
(`apply_changes`) and the cursor the origin gave with it (`next`) is stored **in the same
transaction**: a run that fails anywhere — network, origin down, a crash mid-page — leaves the
index and the cursor of the last applied page, and the next run resumes exactly there. While a
page is applied the next one is already being fetched (one page ahead, never more).

A run holds a lease on the node's `SyncState` (`leased_until`, renewed at each page, LEASE long):
two runs (the periodic sweep and a push notice, two workers) never pull one feed at once; the
second answers ``{"status": "busy"}``. A run that lost its lease (it stalled beyond it and another
run took over) stops before writing its page. Every run records `last_attempt_at`, and
`last_success_at` or `last_error` (what went wrong, for the operator and the search's node status).

An origin that refuses the cursor (400 naming `since`: a node restored from an older backup, or a
cursor it did not issue) is read again from the beginning: the rows of that origin are dropped
in the transaction of the first page read again, so the index mirrors the origin's log as it is
now (logged as a warning).

Apply
-----
`apply_changes(origin, entries)` is idempotent and order-proof:

* an entry whose URI is not under ``{origin}/id/`` is refused: a member writes its own records only;
* within a page, the highest version of each URI wins;
* an upsert is written when its version is above the stored one; an equal or lower version is a
  no-op (re-delivery, out-of-order page);
* a tombstone (op ``delete``) replaces the row by a **marker** (``data == {}``, facets empty,
  `expires_at` = the deletion's instant, the tombstone's version): an older upsert arriving later
  can never bring the record back, a newer one (the record published again) can;
* each row keeps the representation as served (`data`), the owner (`owner_id`, `owner_uri`, the
  owner organisation's name when its record is replicated too), the version, `changed_at`, and
  for a directory entry the consent scope the representation carries (`consent`: fields, purposes,
  expires_at) with `expires_at` from it — an entry without a readable consent block is stored
  already expired (never shown: the index cannot honour a consent it does not know);
* facets come from `federation.index.facets`; when a venue, a production or a technical sheet
  changes what others show of it (name, region, title, dimensions), the rows that show it are
  recomputed in the same transaction, and so are a re-sent producer's productions (its SIRET is
  in their dedupe key); an organisation's rows show its current name (`owner_name`).

Every write of a page is one bulk upsert (``INSERT … ON CONFLICT (uri) DO UPDATE``, SQLite and
PostgreSQL), after one query for the stored versions and at most two for related facts (what
earlier pages of the same run taught is kept for the next ones).

Push
----
On the origin, `announce_change(change)` (called by `dataspace.records.services.record_change`,
in the change's transaction) makes sure the registry hears, after the commit, that changes are
available, with as few ``changes.available`` notices as that takes: a notice not tried yet and not
being sent is reused (checked again once the change commits: if a sender took it meanwhile, a new
one is written); otherwise a new one is written in the change's transaction, and older failed ones
(waiting for their backoff) are superseded. A transaction asks once, whatever it changes. The
registry's notice handlers (`on_changes_available`, `on_consent_withdrawn`, `on_agreement_revoked`,
registered with `federation.notices.handler`) schedule `sync_node` for the sender (Celery, eager
in the demo) after dropping at once what a withdrawal or a revoked agreement takes away.

Local index
-----------
`index_local()` applies this node's own change log to its own index in-process (no HTTP, same
representation as the feed, records its owner hid left out), cursor in `SyncState(node=NODE_BASE_URL)`.
Cheap when nothing changed (three queries): the federated search calls it before reading.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import datetime as dt
import json
import logging
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from django.conf import settings
from django.db import IntegrityError, connections, transaction
from django.db.models import BooleanField, Case, ExpressionWrapper, F, Max, Q, Value, When
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from federation import index
from federation.models import IndexedAvailability, IndexedRecord, OutboxMessage, Peer, SyncState

if TYPE_CHECKING:
    import httpx

    from dataspace.records.models import Change

logger = logging.getLogger("federation.replication")

FEED_PATH = "/api/v1/changes"
SYNC_SCOPE = "federation:sync"
#: Changes asked per page of the origin's feed.
PAGE_LIMIT = 500
#: How long a run holds a node's lease without progress (renewed at every page).
LEASE = dt.timedelta(seconds=120)
#: Kind of the origin's push notice.
CHANGES_AVAILABLE = "changes.available"
CONSENT_WITHDRAWN = "consent.withdrawn"
AGREEMENT_REVOKED = "agreement.revoked"
_ERROR_LENGTH = 2000

#: The columns a write replaces (everything but the URI and the primary key).
_WRITTEN = (
    "origin",
    "record_type",
    "record_id",
    "owner_id",
    "owner_uri",
    "owner_name",
    "version",
    "data",
    "consent",
    "expires_at",
    "changed_at",
    "replicated_at",
    *index.FACET_COLUMNS,
)
#: Types whose facts other rows show (their change may recompute the rows that show them).
_SHOWN_BY_OTHERS = frozenset({"organisation", "venue", "production", "technical-sheet"})


def own_base_url() -> str:
    return str(settings.NODE_BASE_URL).strip().rstrip("/")


def normalise(url: str) -> str:
    return str(url or "").strip().rstrip("/")


# ---------------------------------------------------------------------------- results and errors


@dataclass
class ApplyResult:
    """What one `apply_changes` call did."""

    received: int = 0
    upserted: int = 0
    deleted: int = 0
    #: Older or equal versions (re-deliveries, out-of-order entries) and upserts without a representation.
    unchanged: int = 0
    #: Malformed entries, or entries naming a record of another node.
    refused: int = 0
    #: Rows recomputed because a record they show changed.
    recomputed: int = 0

    @property
    def written(self) -> int:
        return self.upserted + self.deleted

    def add(self, other: ApplyResult) -> None:
        for name, value in asdict(other).items():
            setattr(self, name, getattr(self, name) + value)

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


class FeedError(Exception):
    """The origin's change feed could not be read (what went wrong, for `last_error`)."""


class CursorRejected(FeedError):
    """The origin refused the cursor (400 naming `since`): read its feed again from the beginning."""


class LeaseLost(Exception):
    """Another run took this node's lease over (this one stalled beyond LEASE)."""


@dataclass(frozen=True)
class FeedPage:
    changes: list[dict[str, Any]]
    next: str
    has_more: bool


#: How a page is fetched: (base_url, query parameters) → the HTTP response.
Fetch = Callable[[str, dict[str, str]], "httpx.Response"]


class _Sender(Protocol):
    """Who sent a notice (`federation.signing.SignedPeer`): only its base URL matters here."""

    @property
    def base_url(self) -> str: ...


# ---------------------------------------------------------------------------- entries


@dataclass(frozen=True)
class _Entry:
    op: str
    record_type: str
    uri: str
    record_id: uuid.UUID
    version: int
    owner_id: uuid.UUID | None
    changed_at: dt.datetime | None
    record: dict[str, Any] | None


def _parse_entry(prefix: str, raw: Any) -> _Entry | None:
    """One feed entry, checked; None when malformed or not a record of the origin (`prefix`)."""
    if not isinstance(raw, Mapping):
        return None
    op, record_type, uri, version = raw.get("op"), raw.get("type"), raw.get("id"), raw.get("version")
    if op not in ("upsert", "delete") or not isinstance(record_type, str) or not record_type:
        return None
    if not isinstance(uri, str) or not uri.startswith(prefix) or len(uri) > 300:
        return None
    if not isinstance(version, int) or isinstance(version, bool) or not 0 <= version <= 2_147_483_647:
        return None
    try:
        record_id = uuid.UUID(str(raw.get("uuid")))
        owner = raw.get("owner")
        owner_id = uuid.UUID(str(owner)) if owner else None
    except (ValueError, TypeError):
        return None
    if uri != f"{prefix}{record_type}/{record_id}" or len(record_type) > 40:
        return None
    changed = raw.get("changed_at")
    try:
        changed_at = parse_datetime(changed) if isinstance(changed, str) else None
    except ValueError:
        changed_at = None
    record = raw.get("record")
    return _Entry(
        op=op,
        record_type=record_type,
        uri=uri,
        record_id=record_id,
        version=version,
        owner_id=owner_id,
        changed_at=changed_at,
        record=dict(record) if isinstance(record, Mapping) else None,
    )


def _consent_scope(record: Mapping[str, Any], now: dt.datetime) -> tuple[dict[str, Any], dt.datetime | None]:
    """A directory entry's consent block, normalised, and the instant the entry stops being shown.

    No readable block: ({}, now) — stored already expired (fail closed)."""
    block = record.get("consent")
    if not isinstance(block, Mapping):
        return {}, now
    fields = [str(name) for name in block.get("fields") or () if isinstance(name, str)]
    purposes = [str(code) for code in block.get("purposes") or () if isinstance(code, str)]
    raw_expiry = block.get("expires_at")
    expires_at: dt.datetime | None = None
    if raw_expiry is not None:
        try:
            expires_at = parse_datetime(str(raw_expiry))
        except ValueError:
            expires_at = None
        if expires_at is None:
            return {}, now  # an expiry it cannot read: never shown
    scope = {
        "fields": fields,
        "purposes": purposes,
        "expires_at": index_iso(expires_at) if expires_at is not None else None,
    }
    return scope, expires_at


def index_iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


# ---------------------------------------------------------------------------- related facts


def _wanted_related(entries: Iterable[_Entry]) -> dict[str, set[str]]:
    """UUIDs (strings) of the records whose facts these upserts show, by type."""
    wanted: dict[str, set[str]] = defaultdict(set)
    for entry in entries:
        data = entry.record or {}
        if entry.owner_id is not None:
            wanted["organisation"].add(str(entry.owner_id))
        if entry.record_type == "production" and data.get("producer"):
            wanted["organisation"].add(str(data["producer"]))
        if entry.record_type in ("hall", "technical-sheet", "performance") and data.get("venue"):
            wanted["venue"].add(str(data["venue"]))
        if entry.record_type == "performance" and data.get("production"):
            wanted["production"].add(str(data["production"]))
        if entry.record_type == "hall" and data.get("technical_sheet"):
            wanted["technical-sheet"].add(str(data["technical_sheet"]))
    return wanted


def _learn(related: index.Related, record_type: str, record_id: str, data: Mapping[str, Any]) -> None:
    """Remember what a record of the page shows of itself to others."""
    if record_type == "organisation":
        related.organisations[record_id] = index.OrganisationFacts(
            name=str(data.get("name") or ""), siret=str(data.get("siret") or "")
        )
    elif record_type == "venue":
        related.venues[record_id] = index.VenueFacts(
            name=str(data.get("name") or ""),
            city=str(data.get("city") or ""),
            region=str(data.get("region") or ""),
            departement=str(data.get("departement") or ""),
        )
    elif record_type == "production":
        related.productions[record_id] = index.ProductionFacts(
            title=str(data.get("title") or ""), discipline=str(data.get("discipline") or "")
        )
    elif record_type == "technical-sheet":
        related.sheets[record_id] = index.sheet_dimensions(data)


def _related_facts(origin: str, entries: Sequence[_Entry], cache: index.Related | None = None) -> index.Related:
    """Facts of the records these upserts show: from the page itself, else from `cache` (what earlier
    pages of the same run taught), else from the index (two small queries at most)."""
    related = cache if cache is not None and cache.origin == origin else index.Related(origin=origin)
    for entry in entries:
        if entry.op == "upsert" and entry.record is not None and entry.record_type in _SHOWN_BY_OTHERS:
            _learn(related, entry.record_type, str(entry.record_id), entry.record)
    known: dict[str, Mapping[str, Any]] = {
        "organisation": related.organisations,
        "venue": related.venues,
        "production": related.productions,
        "technical-sheet": related.sheets,
    }
    missing: dict[str, set[uuid.UUID]] = defaultdict(set)
    for record_type, ids in _wanted_related(entries).items():
        for key in ids:
            if key in known[record_type]:
                continue
            try:
                missing[record_type].add(uuid.UUID(key))
            except ValueError:
                continue
    stored = IndexedRecord.objects.filter(origin=origin, expires_at__isnull=True)  # not a tombstone marker
    if missing["organisation"] or missing["venue"]:
        # the JSON members these types need (a SIRET, a city) are read for them only
        wanted = missing["organisation"] | missing["venue"]
        for record_type, record_id, title, region, departement, siret, city in stored.filter(
            record_type__in=("organisation", "venue"), record_id__in=wanted
        ).values_list("record_type", "record_id", "title", "region", "departement", "data__siret", "data__city"):
            if record_type == "organisation":
                related.organisations[str(record_id)] = index.OrganisationFacts(name=title, siret=str(siret or ""))
            else:
                related.venues[str(record_id)] = index.VenueFacts(
                    name=title, city=str(city or ""), region=region, departement=departement
                )
    if missing["production"] or missing["technical-sheet"]:
        wanted = missing["production"] | missing["technical-sheet"]
        for record_type, record_id, title, discipline, *dimensions in stored.filter(
            record_type__in=("production", "technical-sheet"), record_id__in=wanted
        ).values_list("record_type", "record_id", "title", "discipline", *index.DIMENSIONS):
            if record_type == "production":
                related.productions[str(record_id)] = index.ProductionFacts(title=title, discipline=discipline)
            else:
                related.sheets[str(record_id)] = dict(zip(index.DIMENSIONS, dimensions, strict=True))
    return related


# ---------------------------------------------------------------------------- rows


def _upsert_row(
    origin: str, entry: _Entry, related: index.Related, now: dt.datetime
) -> tuple[IndexedRecord, list[Any]]:
    data = entry.record or {}
    columns = index.facets(entry.record_type, data, related)
    windows = columns.pop("availability")
    consent: dict[str, Any] = {}
    expires_at: dt.datetime | None = None
    if entry.record_type == "directory-entry":
        consent, expires_at = _consent_scope(data, now)
    owner = str(entry.owner_id) if entry.owner_id is not None else ""
    row = IndexedRecord(
        uri=entry.uri,
        origin=origin,
        record_type=entry.record_type,
        record_id=entry.record_id,
        owner_id=entry.owner_id,
        owner_uri=index.record_uri(origin, "organisation", owner) if owner else "",
        owner_name=related.organisations.get(owner, index.OrganisationFacts()).name[:200],
        version=entry.version,
        data=data,
        consent=consent,
        expires_at=expires_at,
        changed_at=entry.changed_at,
        replicated_at=now,
        **columns,
    )
    return row, windows


def _marker_row(origin: str, entry: _Entry, now: dt.datetime) -> IndexedRecord:
    """The tombstone marker of a deleted record (hidden from every search, blocks older upserts)."""
    columns = index.facets("", {})
    columns.pop("availability")
    columns["title"] = ""
    columns["text"] = ""
    owner = str(entry.owner_id) if entry.owner_id is not None else ""
    return IndexedRecord(
        uri=entry.uri,
        origin=origin,
        record_type=entry.record_type,
        record_id=entry.record_id,
        owner_id=entry.owner_id,
        owner_uri=index.record_uri(origin, "organisation", owner) if owner else "",
        owner_name="",
        version=entry.version,
        data={},
        consent={},
        expires_at=entry.changed_at or now,
        changed_at=entry.changed_at,
        replicated_at=now,
        **columns,
    )


@dataclass
class _Stored:
    pk: int
    version: int
    marker: bool
    shown: tuple[Any, ...] = field(default_factory=tuple)


def _shown(record_type: str, row: Mapping[str, Any] | IndexedRecord) -> tuple[Any, ...]:
    """What a row of a type others show says of itself (compared before/after a write)."""
    get = row.get if isinstance(row, Mapping) else (lambda name: getattr(row, name))
    if record_type == "technical-sheet":
        return tuple(get(name) for name in index.DIMENSIONS)
    return (get("title"), get("region"), get("departement"), get("discipline"))


def _stored_rows(uris: Sequence[str]) -> dict[str, _Stored]:
    """The stored version of each URI (one query)."""
    if not uris:
        return {}
    rows = (
        IndexedRecord.objects.filter(uri__in=uris)
        .annotate(is_marker=ExpressionWrapper(Q(data={}), output_field=BooleanField()))
        .values(
            "uri",
            "pk",
            "version",
            "record_type",
            "is_marker",
            "title",
            "region",
            "departement",
            "discipline",
            *index.DIMENSIONS,
        )
    )
    stored: dict[str, _Stored] = {}
    for row in rows:
        record_type = row["record_type"]
        stored[row["uri"]] = _Stored(
            pk=row["pk"],
            version=row["version"],
            marker=bool(row["is_marker"]),
            shown=_shown(record_type, row) if record_type in _SHOWN_BY_OTHERS else (),
        )
    return stored


def _write(rows: list[IndexedRecord]) -> None:
    if rows:
        IndexedRecord.objects.bulk_create(
            rows, update_conflicts=True, unique_fields=["uri"], update_fields=list(_WRITTEN), batch_size=500
        )


def _write_availability(
    rows: list[IndexedRecord], windows: Mapping[str, list[Any]], stored: Mapping[str, _Stored]
) -> None:
    """Replace the availability windows of the directory entries written (markers lose theirs)."""
    entries = [row for row in rows if row.record_type == "directory-entry"]
    if not entries:
        return
    previous = [stored[row.uri].pk for row in entries if row.uri in stored]
    if previous:
        IndexedAvailability.objects.filter(record_id__in=previous).delete()
    wanted = [row for row in entries if windows.get(row.uri)]
    if not wanted:
        return
    missing = [row.uri for row in wanted if row.pk is None and row.uri not in stored]
    known = dict(IndexedRecord.objects.filter(uri__in=missing).values_list("uri", "pk")) if missing else {}
    created = []
    for row in wanted:
        pk = row.pk or (stored[row.uri].pk if row.uri in stored else known.get(row.uri))
        if pk is None:
            continue
        created += [IndexedAvailability(record_id=pk, start=start, end=end) for start, end in windows[row.uri]]
    IndexedAvailability.objects.bulk_create(created, batch_size=1000)


def _recompute_dependents(origin: str, changed: Mapping[str, set[str]], written: set[str]) -> int:
    """Recompute the rows that show a venue, production, sheet or organisation whose facts changed."""
    conditions = Q()
    if changed.get("venue"):
        conditions |= Q(
            record_type__in=("hall", "technical-sheet", "performance"), data__venue__in=sorted(changed["venue"])
        )
    if changed.get("production"):
        uris = [index.record_uri(origin, "production", pk) for pk in changed["production"]]
        conditions |= Q(record_type="performance", parent_uri__in=uris)
    if changed.get("technical-sheet"):
        conditions |= Q(record_type="hall", data__technical_sheet__in=sorted(changed["technical-sheet"]))
    if changed.get("organisation"):  # a producer's SIRET is part of its productions' dedupe key
        conditions |= Q(record_type="production", data__producer__in=sorted(changed["organisation"]))
    if not conditions:
        return 0
    rows = list(
        IndexedRecord.objects.filter(conditions, origin=origin, expires_at__isnull=True).exclude(uri__in=written)
    )
    if not rows:
        return 0
    entries = [
        _Entry(
            op="upsert",
            record_type=row.record_type,
            uri=row.uri,
            record_id=row.record_id,
            version=row.version,
            owner_id=row.owner_id,
            changed_at=row.changed_at,
            record=row.data,
        )
        for row in rows
    ]
    related = _related_facts(origin, entries)
    for row in rows:
        columns = index.facets(row.record_type, row.data, related)
        columns.pop("availability")
        for name, value in columns.items():
            setattr(row, name, value)
    IndexedRecord.objects.bulk_update(rows, list(index.FACET_COLUMNS), batch_size=200)
    return len(rows)


def _refresh_owner_names(origin: str, names: Mapping[str, str]) -> int:
    """Rows of `origin` owned by these organisations show their current name (one UPDATE, rows
    already right left alone): an organisation renamed, or replicated after its records."""
    differs = Q()
    cases = []
    for key, name in names.items():
        owner = uuid.UUID(key)
        differs |= Q(owner_id=owner) & ~Q(owner_name=name[:200])
        cases.append(When(owner_id=owner, then=Value(name[:200])))
    if not cases:
        return 0
    return IndexedRecord.objects.filter(differs, origin=origin).update(owner_name=Case(*cases, default=F("owner_name")))


def apply_changes(
    origin: str,
    entries: Sequence[Mapping[str, Any]],
    *,
    now: dt.datetime | None = None,
    related: index.Related | None = None,
) -> ApplyResult:
    """Apply change-feed entries of `origin` to the index (see the module docstring); idempotent.

    `related` carries what earlier pages of the same run taught of the records others show (a
    pull passes one per run; it is updated here)."""
    base = normalise(origin)
    prefix = f"{base}/id/"
    moment = now or timezone.now()
    result = ApplyResult(received=len(entries))
    latest: dict[str, _Entry] = {}
    for raw in entries:
        entry = _parse_entry(prefix, raw)
        if entry is None:
            result.refused += 1
            logger.warning("replication: entry refused from %s: %.200s", base, json.dumps(raw, default=str))
            continue
        current = latest.get(entry.uri)
        if current is not None:
            result.unchanged += 1  # superseded within the page (or an equal re-delivery)
        if current is None or entry.version >= current.version:
            latest[entry.uri] = entry
    stored = _stored_rows(sorted(latest))
    upserts: list[_Entry] = []
    deletes: list[_Entry] = []
    for uri, entry in latest.items():
        previous = stored.get(uri)
        if entry.op == "upsert":
            if entry.record is None or (previous is not None and entry.version <= previous.version):
                result.unchanged += 1
            else:
                upserts.append(entry)
        elif previous is not None and (
            entry.version < previous.version or (entry.version == previous.version and previous.marker)
        ):
            result.unchanged += 1
        else:
            deletes.append(entry)
    if not upserts and not deletes:
        return result
    facts = _related_facts(base, upserts, related)
    rows: list[IndexedRecord] = []
    windows: dict[str, list[Any]] = {}
    changed: dict[str, set[str]] = defaultdict(set)
    names: dict[str, str] = {}
    for entry in upserts:
        row, periods = _upsert_row(base, entry, facts, moment)
        rows.append(row)
        if periods:
            windows[entry.uri] = periods
        previous = stored.get(entry.uri)
        if entry.record_type == "organisation":
            names[str(entry.record_id)] = row.title
            if previous is not None:
                changed["organisation"].add(str(entry.record_id))
        elif (
            entry.record_type in _SHOWN_BY_OTHERS
            and previous is not None
            and previous.shown != _shown(entry.record_type, row)
        ):
            changed[entry.record_type].add(str(entry.record_id))
    rows += [_marker_row(base, entry, moment) for entry in deletes]
    with transaction.atomic():
        _write(rows)
        _write_availability(rows, windows, stored)
        if changed:
            result.recomputed = _recompute_dependents(base, changed, set(latest))
        if names:
            _refresh_owner_names(base, names)
    result.upserted = len(upserts)
    result.deleted = len(deletes)
    return result


def remove_from_index(origin: str, uris: Iterable[str] | None = None, **filters: Any) -> int:
    """Turn rows of `origin` into tombstone markers at once, keeping their version (a withdrawal,
    a revoked agreement): hidden from every search, and no upsert of the same or an older version
    brings them back; the origin's next newer version (published again) does. Returns how many."""
    base = normalise(origin)
    queryset = IndexedRecord.objects.filter(origin=base, **filters)
    if uris is not None:
        queryset = queryset.filter(uri__in=list(uris))
    moment = timezone.now()
    pks = list(queryset.exclude(data={}).values_list("pk", flat=True))
    if not pks:
        return 0
    with transaction.atomic():
        IndexedAvailability.objects.filter(record_id__in=pks).delete()
        blank = index.facets("", {})
        blank.pop("availability")
        return IndexedRecord.objects.filter(pk__in=pks).update(
            data={}, consent={}, owner_name="", expires_at=moment, replicated_at=moment, **blank
        )


def forget_node(base_url: str) -> int | None:
    """Drop every row replicated from that member and its cursor, so that the next `sync_node` reads
    its feed again from the beginning; how many rows, or None while a run holds its lease."""
    node = normalise(base_url)
    lease = _take_lease(node)
    if lease is None:
        return None
    try:
        with transaction.atomic():
            _total, by_model = IndexedRecord.objects.filter(origin=node).delete()
            SyncState.objects.filter(node=node, leased_until=lease).update(cursor="", applied=0)
    finally:
        SyncState.objects.filter(node=node, leased_until=lease).update(leased_until=None)
    return int(by_model.get(IndexedRecord._meta.label, 0))


# ---------------------------------------------------------------------------- leases


def _take_lease(node: str) -> dt.datetime | None:
    """Hold the node's lease (None: another run holds it); records the attempt."""
    now = timezone.now()
    with contextlib.suppress(IntegrityError):  # created by a concurrent run meanwhile
        SyncState.objects.get_or_create(node=node)
    until = now + LEASE
    free = Q(leased_until__isnull=True) | Q(leased_until__lte=now)
    taken = SyncState.objects.filter(free, node=node).update(leased_until=until, last_attempt_at=now)
    return until if taken else None


def _advance(node: str, lease: dt.datetime, cursor: str, applied: int) -> dt.datetime:
    """Store the cursor of the page just applied (caller's transaction) and renew the lease."""
    renewed = timezone.now() + LEASE
    updated = SyncState.objects.filter(node=node, leased_until=lease).update(
        cursor=cursor, leased_until=renewed, applied=F("applied") + applied
    )
    if updated != 1:
        raise LeaseLost(f"lease on {node} taken over by another run")
    return renewed


def _release(node: str, lease: dt.datetime, *, error: str | None) -> None:
    values: dict[str, Any] = {"leased_until": None}
    if error is None:
        values.update(last_success_at=timezone.now(), last_error="")
    else:
        values["last_error"] = error[:_ERROR_LENGTH]
    SyncState.objects.filter(node=node, leased_until=lease).update(**values)


# ---------------------------------------------------------------------------- pulling a member's feed


def fetch_changes(base_url: str, params: dict[str, str]) -> httpx.Response:
    """One page of a member's change feed: a signed request with a `federation:sync` token."""
    from federation.client import NodeClient

    return NodeClient(base_url).get(FEED_PATH, params=params, scope=SYNC_SCOPE)


def parse_page(response: httpx.Response) -> FeedPage:
    """The page an origin answered, or `FeedError` / `CursorRejected` saying why not."""
    status = response.status_code
    try:
        body = response.json()
    except ValueError:
        body = None
    fields = body.get("fields") if isinstance(body, Mapping) else None
    if status == 400 and isinstance(fields, Mapping) and "since" in fields:
        raise CursorRejected(f"cursor refused by the origin: {fields['since']}")
    if status != 200:
        code = body.get("error", "") if isinstance(body, Mapping) else ""
        raise FeedError(f"HTTP {status} {code}".strip())
    if not isinstance(body, Mapping):
        raise FeedError("the change feed did not answer a JSON object")
    changes, cursor, has_more = body.get("changes"), body.get("next"), body.get("has_more")
    if not isinstance(changes, list) or not isinstance(cursor, str) or not isinstance(has_more, bool):
        raise FeedError("malformed change feed page (changes, next, has_more)")
    return FeedPage(changes=changes, next=cursor, has_more=has_more)


def _peer_errors() -> tuple[type[BaseException], ...]:
    errors: list[type[BaseException]] = [FeedError, LeaseLost]
    try:
        import httpx

        errors.append(httpx.HTTPError)
    except ImportError:  # pragma: no cover - httpx is a dependency
        pass
    try:
        from federation.client import PeerError

        errors.append(PeerError)
    except ImportError:
        pass
    return tuple(errors)


def _describe(exc: BaseException) -> str:
    detail = getattr(exc, "detail", None) or str(exc)
    return f"{exc.__class__.__name__}: {detail}"[:_ERROR_LENGTH]


def sync_node(base_url: str, *, fetch: Fetch | None = None, limit: int = PAGE_LIMIT) -> dict[str, Any]:
    """Pull one member's change feed into the index from its stored cursor (module docstring).

    Returns {"node", "status": "ok" | "busy" | "error", "pages", "seconds", "error"?, **ApplyResult}.
    Network and feed errors are recorded (`last_error`) and answered, not raised; an unexpected
    error is recorded and raised. `fetch` replaces the HTTP call (tests: another client, a fault).
    """
    node = normalise(base_url)
    if not node:
        raise ValueError("sync_node needs a node's base URL")
    get = fetch or fetch_changes
    lease = _take_lease(node)
    if lease is None:
        return {"node": node, "status": "busy"}
    started = time.monotonic()
    totals = ApplyResult()
    pages = 0
    cursor = SyncState.objects.filter(node=node).values_list("cursor", flat=True).first() or ""

    def one_page(since: str) -> FeedPage:
        try:
            params = {"limit": str(limit)}
            if since:
                params["since"] = since
            return parse_page(get(node, params))
        finally:
            connections.close_all()  # this fetch thread's own connections, if it opened any

    answer: dict[str, Any] = {"node": node}
    facts = index.Related(origin=node)  # what the pages of this run teach of the records others show
    try:
        restarted = purge = False
        with concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="feed") as pool:
            pending = pool.submit(one_page, cursor)
            while True:
                try:
                    page = pending.result()
                except CursorRejected as exc:
                    if restarted:
                        raise
                    logger.warning(
                        "replication: %s refused our cursor (%s); reading its feed again from the start", node, exc
                    )
                    restarted = purge = True
                    pending = pool.submit(one_page, "")
                    continue
                if page.has_more:
                    pending = pool.submit(one_page, page.next)  # the next page arrives while this one is written
                with transaction.atomic():
                    if purge:
                        IndexedRecord.objects.filter(origin=node).delete()
                        purge = False
                        facts = index.Related(origin=node)
                    result = apply_changes(node, page.changes, related=facts)
                    lease = _advance(node, lease, page.next, result.written)
                totals.add(result)
                pages += 1
                if not page.has_more:
                    break
    except _peer_errors() as exc:
        error = _describe(exc)
        _release(node, lease, error=error)
        logger.warning("replication: %s: %s", node, error)
        answer.update(status="error", error=error)
    except Exception as exc:
        _release(node, lease, error=_describe(exc))
        raise
    else:
        _release(node, lease, error=None)
        answer["status"] = "ok"
    answer.update(pages=pages, seconds=round(time.monotonic() - started, 3), **totals.as_dict())
    return answer


def structure_peers() -> list[str]:
    """Base URLs of the trusted members with role structure (this node left out)."""
    own = own_base_url()
    try:
        from federation.membership import trusted_peers

        peers = list(trusted_peers("structure"))
    except ImportError:
        peers = [peer for peer in Peer.objects.all() if "structure" in (peer.roles or [])]
    return [normalise(peer.base_url) for peer in peers if normalise(peer.base_url) != own]


def sync_all() -> dict[str, Any]:
    """On the registry, pull every trusted structure member's feed, one after the other (one failing
    member never stops the others: its error is in its answer); on every node, index its own records
    (what live search reads). Only the registry replicates other nodes: structures never copy each
    other's data."""
    from federation.membership import is_registry

    results: list[dict[str, Any]] = []
    for node in structure_peers() if is_registry() else []:
        try:
            results.append(sync_node(node))
        except Exception as exc:  # recorded by sync_node; the others still run
            logger.exception("replication: sync of %s failed", node)
            results.append({"node": node, "status": "error", "error": _describe(exc)})
    return {"local": index_local(), "nodes": results}


# ---------------------------------------------------------------------------- this node's own records


def local_entries(changes: Sequence[Change]) -> list[dict[str, Any]]:
    """The feed's entries of these changes, as `/api/v1/changes` serves them to the node's staff,
    without the records their owners hid (they never leave their owner's view)."""
    from rest_framework.utils.encoders import JSONEncoder

    from dataspace.records import services
    from dataspace.records.api.serializers import current_representations
    from policies.models import HiddenRecord

    hidden: set[tuple[str, uuid.UUID]] = set()
    ids = {change.record_id for change in changes}
    if ids:
        hidden = set(HiddenRecord.objects.filter(target_id__in=ids).values_list("target_type", "target_id"))
    visible = [change for change in changes if (change.record_type, change.record_id) not in hidden]
    # the feed's own representations (same querysets and serializers), as the JSON the feed sends
    representations = {
        key: json.loads(json.dumps(data, cls=JSONEncoder))
        for key, data in current_representations(visible, None).items()
    }
    return [
        services.change_entry(
            change, representations.get((change.record_type, change.record_id)) if change.op == "upsert" else None
        )
        for change in visible
    ]


def _drop_hidden(node: str) -> int:
    """Records their owner hid since they were indexed leave this node's own index (one query when none)."""
    from policies.models import HiddenRecord

    return remove_from_index(node, record_id__in=HiddenRecord.objects.values("target_id"))


def index_local(*, limit: int = PAGE_LIMIT) -> dict[str, Any]:
    """Apply this node's own change log to its own index (module docstring).

    Returns {"node", "status": "ok" | "busy", "pages", **ApplyResult}. Nothing new: three queries.
    """
    from dataspace.records import services
    from dataspace.records.models import Change

    node = own_base_url()
    answer: dict[str, Any] = {"node": node}
    raw = SyncState.objects.filter(node=node).values_list("cursor", flat=True).first() or ""
    reset = False
    try:
        since = services.decode_cursor(raw) if raw else services.FeedCursor()
    except services.InvalidCursor:  # another node's cursor (a copied database)
        reset, since = True, services.FeedCursor()
    last = Change.objects.aggregate(last=Max("seq"))["last"] or 0
    if since.seq > last or since.types is not None:  # a log restored from an older backup
        reset, since = True, services.FeedCursor()
    if reset:
        logger.warning("replication: the local index cursor is no longer valid; indexing again from the start")
    elif since.seq == last:
        _drop_hidden(node)
        answer.update(status="ok", pages=0, **ApplyResult().as_dict())
        return answer
    lease = _take_lease(node)
    if lease is None:
        answer["status"] = "busy"
        return answer
    started = time.monotonic()
    totals = ApplyResult()
    pages = 0
    facts = index.Related(origin=node)
    try:
        page = services.read_changes(since, limit=limit)
        while True:
            with transaction.atomic():
                if reset and pages == 0:
                    IndexedRecord.objects.filter(origin=node).delete()
                result = apply_changes(node, local_entries(page.changes), related=facts)
                lease = _advance(node, lease, services.encode_cursor(page.next), result.written)
            totals.add(result)
            pages += 1
            if not page.has_more:
                break
            page = services.read_changes(page.next, limit=limit)
        _drop_hidden(node)
    except Exception as exc:
        _release(node, lease, error=_describe(exc))
        raise
    _release(node, lease, error=None)
    answer.update(status="ok", pages=pages, seconds=round(time.monotonic() - started, 3), **totals.as_dict())
    return answer


# ---------------------------------------------------------------------------- push notices (origin side)


def registry_base_url() -> str:
    try:
        from federation.membership import registry_url

        return normalise(registry_url())
    except ImportError:
        return normalise(getattr(settings, "FEDERATION_REGISTRY_URL", ""))


def _announced_marker() -> None:
    """Registered with `on_commit` once a transaction's notice is settled (see `announce_change`)."""


_MARK = "_federation_changes_announced"


def _already_announced() -> bool:
    """Did this transaction already settle its notice? (O(1): the marker we left in its on-commit list.)"""
    conn = transaction.get_connection()
    mark = getattr(conn, _MARK, None)
    if mark is None:
        return False
    position, marker = mark
    try:
        return len(conn.run_on_commit) > position and conn.run_on_commit[position][1] is marker
    except (AttributeError, IndexError, TypeError):
        return False


def _mark_announced() -> None:
    conn = transaction.get_connection()

    def marker() -> None:
        _announced_marker()

    transaction.on_commit(marker)
    with contextlib.suppress(AttributeError, TypeError):
        setattr(conn, _MARK, (len(conn.run_on_commit) - 1, marker))


def _notices_to(registry: str) -> Any:
    return OutboxMessage.objects.filter(kind=CHANGES_AVAILABLE, destination=registry, subscription__isnull=True)


def _enqueue_notice(registry: str) -> None:
    """A new ``changes.available`` notice (caller's transaction); older failed ones, still waiting
    for their backoff, are superseded by it (they stop retrying: this one says all they said)."""
    from federation import outbox

    messages = outbox.enqueue(
        kind=CHANGES_AVAILABLE,
        payload={"node": own_base_url(), "at": index_iso(timezone.now())},
        destinations=[registry],
    )
    _notices_to(registry).filter(state=OutboxMessage.State.FAILED).exclude(pk__in=[m.pk for m in messages]).update(
        state=OutboxMessage.State.DEAD, last_error="superseded by a newer changes.available notice"
    )


def _unsent_q(now: dt.datetime) -> Q:
    """A notice not tried yet and not being sent (a sender's claim moves `next_attempt_at` ahead)."""
    return Q(state=OutboxMessage.State.PENDING, attempts=0, next_attempt_at__lte=now)


def _ensure_notice_after_commit(registry: str, pk: Any) -> None:
    """After the change committed: the notice it counted on must still be unsent (then the registry
    pulls after this commit); if a sender took it meanwhile, the registry may have pulled before
    the change was visible — tell it again."""
    if _notices_to(registry).filter(_unsent_q(timezone.now()), pk=pk).exists():
        return
    try:
        with transaction.atomic():
            _enqueue_notice(registry)
    except Exception:  # never fail the caller's committed change: the periodic pull catches up
        logger.warning("replication: cannot enqueue the changes.available notice for %s", registry, exc_info=True)


def announce_change(change: Change | None) -> None:
    """After a change is recorded (in its transaction): make sure the registry will hear, after this
    commit, that changes are available — one ``changes.available`` notice in the outbox, coalesced:

    * a notice for the registry not tried yet and not being sent is reused (nothing is written); once
      this transaction commits, it is checked again and a new one written if a sender took it
      meanwhile (the registry could have pulled before this change was visible);
    * otherwise a new notice is written in this transaction; failed older ones stop retrying;
    * a transaction asks once, whatever it changes (the rest is free).
    """
    if change is None or _already_announced():
        return
    registry = registry_base_url()
    if not registry or registry == own_base_url():
        _mark_announced()  # nobody to tell: the rest of the transaction does not ask again
        return
    unsent = _notices_to(registry).filter(_unsent_q(timezone.now())).values_list("pk", flat=True).first()
    if unsent is None:
        _enqueue_notice(registry)
    else:
        transaction.on_commit(lambda: _ensure_notice_after_commit(registry, unsent))
    _mark_announced()


# ---------------------------------------------------------------------------- push notices (registry side)


def schedule_sync(base_url: str) -> None:
    """Pull that member's feed soon: Celery `sync_node` once the current transaction commits
    (eager, in-process, without Redis). A broker that is down is logged: the sweep catches up."""
    node = normalise(base_url)

    def send() -> None:
        from federation.tasks import sync_node as sync_task

        try:
            sync_task.delay(node)
        except Exception:  # broker down, or an eager run failing: the periodic sweep pulls it later
            logger.warning("replication: cannot schedule the sync of %s now; the sweep will", node, exc_info=True)

    transaction.on_commit(send)


def on_changes_available(notice: Mapping[str, Any], sender: _Sender) -> str:
    """``changes.available``: pull the sender's feed (the sender is the signed peer, never the payload)."""
    schedule_sync(sender.base_url)
    return "sync scheduled"


def on_consent_withdrawn(notice: Mapping[str, Any], sender: _Sender) -> str:
    """``consent.withdrawn``: the target leaves the index at once (marker), then the feed is pulled.
    Only a record of the sender itself may be named."""
    payload = notice.get("payload") if isinstance(notice.get("payload"), Mapping) else {}
    target = str((payload or {}).get("target") or "")
    origin = normalise(sender.base_url)
    if not target.startswith(f"{origin}/id/"):
        return "ignored: the target is not a record of the sender"
    removed = remove_from_index(origin, [target])
    schedule_sync(origin)
    return f"removed {removed}; sync scheduled"


def on_agreement_revoked(notice: Mapping[str, Any], sender: _Sender) -> str:
    """``agreement.revoked``: the owner's dataset replicated from the sender leaves the index at
    once (markers), then the feed is pulled. Policies of the owner stay (they follow any agreement)."""
    payload = notice.get("payload") if isinstance(notice.get("payload"), Mapping) else {}
    try:
        owner = uuid.UUID(str((payload or {}).get("owner")))
    except ValueError:
        return "ignored: no owner"
    dataset = str((payload or {}).get("dataset") or "")
    if not dataset:
        return "ignored: no dataset"
    origin = normalise(sender.base_url)
    removed = remove_from_index(origin, owner_id=owner, record_type=dataset)
    schedule_sync(origin)
    return f"removed {removed}; sync scheduled"


NOTICE_HANDLERS: dict[str, Callable[[Mapping[str, Any], _Sender], str]] = {
    CHANGES_AVAILABLE: on_changes_available,
    CONSENT_WITHDRAWN: on_consent_withdrawn,
    AGREEMENT_REVOKED: on_agreement_revoked,
}


def register_notice_handlers() -> bool:
    """Register the handlers with `federation.notices.handler(kind)` (False while it does not exist)."""
    try:
        from federation import notices
    except ImportError:
        return False
    register = getattr(notices, "handler", None)
    if register is None:
        return False
    for kind, function in NOTICE_HANDLERS.items():
        register(kind)(function)
    return True


register_notice_handlers()
