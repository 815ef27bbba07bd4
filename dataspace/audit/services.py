"""Write, seal, verify and read the tamper-evident journal (DESIGN.md §5, docs/journal.md).

Writing (`journal`)
-------------------
Every entry carries `prev_hash`, the hash of the entry before it (64 zeros for the first), and
`hash`, the SHA-256 (hex) of its canonical JSON: every field except `hash` itself — `seq` and
`prev_hash` included — serialised with sorted keys, separators `(",", ":")`, `ensure_ascii=False`,
UTF-8, datetimes as ISO-8601 UTC with microseconds (`2026-11-30T10:15:00.123456Z`), UUIDs as
strings (`canonical_json`). Editing any field of an entry changes its hash; removing or
reordering entries breaks the `seq` sequence or the `prev_hash` links.

`seq` is numbered here, not by a database sequence: the writer holds the journal lock, reads the
head (one indexed query) and inserts `head.seq + 1`. The chain is thus gap-free by construction, so
a missing number always means a removed entry. The lock is a transaction-scoped PostgreSQL advisory
lock (`JOURNAL_LOCK_KEY`, distinct from the change log's); SQLite serialises writers by itself
(`transaction_mode=IMMEDIATE`). Cost per entry: lock + 1 SELECT + 1 INSERT in one transaction
(a savepoint when the caller already holds one; then the lock lasts until the caller commits).

Sealing (`seal_journal`)
------------------------
A periodic task signs the chain head `{iss, seq, hash, iat}` as a JWS compact with the node's
Ed25519 key (`alg: Ed25519`, `kid`). Someone able to rewrite the whole table could recompute every
hash after an edit; a seal fixes the hash at its `seq` with a key that never enters the database.

Verifying (`verify_chain`)
--------------------------
Walks the chain in `seq` order and checks each entry's hash, the numbering and the links, then
every seal (signature by a key the node publishes, including rotated older ones; sealed hash equal
to the entry's hash at that seq). The `ChainReport` names each problem's seq and kind.

`JOURNAL_ENABLED=False` (benchmarks and tests only) makes `journal()` write nothing.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.functional import Promise
from django.utils.translation import gettext

from dataspace.audit.models import GENESIS_HASH, JournalEntry, JournalSeal

#: Arbitrary constant key of the advisory lock that serialises journal writers (the change log's
#: is dataspace.records.services.CHANGE_LOG_LOCK_KEY = 0x5C3E_C0DE).
JOURNAL_LOCK_KEY = 0x10_C4A1_7ED
#: Signature algorithm of seals (RFC 9864 fully-specified name, as for access tokens).
SEAL_ALGORITHM = "Ed25519"
#: JWS `typ` of a seal, so that no other signed object of the node can pass for one.
SEAL_TYPE = "journal-seal+jws"

STREAMS = tuple(JournalEntry.Stream.values)
DECISIONS = tuple(JournalEntry.Outcome.values)

#: What an entry says (everything but its chain fields seq, prev_hash and hash), in the model's
#: order; also the columns audit_journal_append() takes after its five leading arguments.
CONTENT_FIELDS: tuple[str, ...] = (
    "stream",
    "at",
    "user_id",
    "username",
    "organisation_id",
    "organisation_name",
    "licence_number",
    "client_id",
    "node",
    "action",
    "record_type",
    "record_ids",
    "owner_id",
    "subject_person_id",
    "purpose",
    "decision",
    "reason_code",
    "reason",
    "details",
)
#: The fields covered by an entry's hash, in the model's order (everything but `hash`).
HASHED_FIELDS: tuple[str, ...] = ("seq", *CONTENT_FIELDS, "prev_hash")


@dataclass(frozen=True)
class Actor:
    """Who acted, as the journal records it (no dependency on the policies app)."""

    user_id: int | None = None
    username: str = ""
    organisation_id: uuid.UUID | None = None
    organisation_name: str = ""
    licence_number: str = ""
    client_id: str = ""
    node: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


# ---------------------------------------------------------------------------- canonical form


def _jsonable(value: Any) -> Any:
    """The JSON form of the non-JSON values an entry may hold (json.dumps `default`)."""
    if isinstance(value, dt.datetime):
        if timezone.is_naive(value):
            raise ValueError("journal datetimes must be timezone-aware")
        return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, uuid.UUID | Decimal):
        return str(value)
    if isinstance(value, set | frozenset | tuple):
        return sorted(value, key=str) if isinstance(value, set | frozenset) else list(value)
    if isinstance(value, Promise):  # a lazy translation
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable in a journal entry")


def canonical_json(values: Mapping[str, Any]) -> bytes:
    """The canonical JSON (UTF-8 bytes) of an entry's hashed fields, taken from `values`."""
    content = {name: values[name] for name in HASHED_FIELDS}
    text = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_jsonable)
    return text.encode("utf-8")


def entry_hash(values: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of the canonical JSON of an entry (a mapping of field name to value)."""
    return hashlib.sha256(canonical_json(values)).hexdigest()


def _plain_json(value: Any) -> Any:
    """`value` as plain JSON types, exactly as it will read back from the database."""
    return json.loads(json.dumps(value, ensure_ascii=False, default=_jsonable))


def _as_uuid(value: Any, name: str) -> uuid.UUID | None:
    if value is None or value == "":
        return None
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise ValueError(f"journal: {name} is not a UUID: {value!r}") from None


def _fit(value: Any, name: str) -> str:
    """Text cut to the column's length (the entry is hashed as stored)."""
    text = "" if value is None else str(value)
    limit = getattr(JournalEntry._meta.get_field(name), "max_length", None)
    return text[:limit] if limit else text


# ---------------------------------------------------------------------------- writing


def lock_journal(*, asynchronous_commit: bool = False) -> None:
    """Serialise journal writers until the current transaction ends (no-op off PostgreSQL).

    With `asynchronous_commit`, the same statement also sets `synchronous_commit` off for this
    transaction only (`set_config(..., true)` is `SET LOCAL`): its COMMIT does not wait for the WAL
    flush. Only for a transaction that holds nothing but the journal entry.
    """
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        if asynchronous_commit:
            cursor.execute(
                "SELECT set_config('synchronous_commit', 'off', true), pg_advisory_xact_lock(%s)", [JOURNAL_LOCK_KEY]
            )
        else:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [JOURNAL_LOCK_KEY])


def journal_entry(
    *,
    actor: Actor,
    action: str,
    decision: str,
    reason_code: str = "",
    reason: str = "",
    purpose: str = "",
    record_type: str = "",
    record_ids: Sequence[uuid.UUID] = (),
    owner_id: uuid.UUID | None = None,
    stream: str = "access",
    details: dict[str, Any] | None = None,
    subject_person_id: uuid.UUID | None = None,
    now: dt.datetime | None = None,
) -> JournalEntry:
    """The entry `journal()` appends, unsaved and unchained: checked, texts cut to their columns."""
    if stream not in STREAMS:
        raise ValueError(f"journal: unknown stream {stream!r}; one of {', '.join(STREAMS)}")
    if decision not in DECISIONS:
        raise ValueError(f"journal: unknown decision {decision!r}; one of {', '.join(DECISIONS)}")
    payload = dict(details or {})
    if actor.extra:
        payload["actor"] = dict(actor.extra)
    return JournalEntry(
        stream=stream,
        at=now or timezone.now(),
        user_id=actor.user_id,
        username=_fit(actor.username, "username"),
        organisation_id=_as_uuid(actor.organisation_id, "organisation_id"),
        organisation_name=_fit(actor.organisation_name, "organisation_name"),
        licence_number=_fit(actor.licence_number, "licence_number"),
        client_id=_fit(actor.client_id, "client_id"),
        node=_fit(actor.node or settings.NODE_BASE_URL, "node"),
        action=_fit(action, "action"),
        record_type=_fit(record_type, "record_type"),
        record_ids=[str(_as_uuid(ident, "record_ids")) for ident in record_ids],
        owner_id=_as_uuid(owner_id, "owner_id"),
        subject_person_id=_as_uuid(subject_person_id, "subject_person_id"),
        purpose=_fit(purpose, "purpose"),
        decision=decision,
        reason_code=_fit(reason_code, "reason_code"),
        reason=str(reason or ""),
        details=_plain_json(payload),
    )


def journal(
    *,
    actor: Actor,
    action: str,
    decision: str,
    reason_code: str = "",
    reason: str = "",
    purpose: str = "",
    record_type: str = "",
    record_ids: Sequence[uuid.UUID] = (),
    owner_id: uuid.UUID | None = None,
    stream: str = "access",
    details: dict[str, Any] | None = None,
    subject_person_id: uuid.UUID | None = None,
    now: dt.datetime | None = None,
) -> JournalEntry | None:
    """Append one hash-chained entry and return it. `stream` is "access", "break_glass" or "admin".

    One entry per (request, owner): a list answer covering several records of one owner is one
    entry listing their ids. Safe to call inside or outside a transaction (it opens its own, or a
    savepoint), from concurrent requests: the chain stays linear. Returns None, writing nothing,
    when `settings.JOURNAL_ENABLED` is False (benchmarks and tests only). Actor.extra is kept in
    `details["actor"]`.
    """
    if not getattr(settings, "JOURNAL_ENABLED", True):
        return None
    entry = journal_entry(
        actor=actor,
        action=action,
        decision=decision,
        reason_code=reason_code,
        reason=reason,
        purpose=purpose,
        record_type=record_type,
        record_ids=record_ids,
        owner_id=owner_id,
        stream=stream,
        details=details,
        subject_person_id=subject_person_id,
        now=now,
    )
    # A transaction of our own holds only this entry: it may commit without waiting for the WAL
    # flush (JOURNAL_SYNCHRONOUS_COMMIT off). Inside the caller's transaction, its commit decides.
    asynchronous = not settings.JOURNAL_SYNCHRONOUS_COMMIT and not transaction.get_connection().in_atomic_block
    if connection.vendor == "postgresql" and _append_in_one_statement(entry, asynchronous):
        return entry
    with transaction.atomic():
        lock_journal(asynchronous_commit=asynchronous)
        head = JournalEntry.objects.order_by("-seq").values_list("seq", "hash").first()
        entry.seq, entry.prev_hash = (head[0] + 1, head[1]) if head else (1, GENESIS_HASH)
        entry.hash = entry_hash(entry.__dict__)
        entry.save()
    return entry


def journal_many(entries: Sequence[JournalEntry]) -> None:
    """Append several entries of `journal_entry()` together: one transaction (lock, head, one bulk
    INSERT), the same hash chain as appending them one by one. Nothing when journaling is off."""
    if not entries or not getattr(settings, "JOURNAL_ENABLED", True):
        return
    with transaction.atomic():
        lock_journal()
        head = JournalEntry.objects.order_by("-seq").values_list("seq", "hash").first()
        seq, previous = head if head else (0, GENESIS_HASH)
        for entry in entries:
            seq += 1
            entry.seq, entry.prev_hash = seq, previous
            entry.hash = previous = entry_hash(entry.__dict__)
        JournalEntry.objects.bulk_create(entries)


_JSON_COLUMNS = frozenset({"record_ids", "details"})
_APPEND_SQL = (  # placeholders only: no value is ever interpolated
    "SELECT new_seq, new_prev_hash, new_hash FROM audit_journal_append(%s, %s, %s, %s, %s, "  # noqa: S608
    + ", ".join("%s::jsonb" if name in _JSON_COLUMNS else "%s" for name in CONTENT_FIELDS)
    + ")"
)


def _append_in_one_statement(entry: JournalEntry, asynchronous: bool) -> bool:
    """PostgreSQL: lock, read the head, hash and insert in one round trip (migration 0002).

    The canonical JSON is built here with two unique placeholders, for prev_hash and seq, and
    handed over in three pieces; the function fills them in and hashes. False (nothing written)
    if the pieces cannot be cut cleanly, so the caller takes the general path.
    """
    prev_slot, seq_slot = f"prev-{uuid.uuid4().hex}", f"seq-{uuid.uuid4().hex}"
    text = canonical_json({**entry.__dict__, "prev_hash": prev_slot, "seq": seq_slot}).decode("utf-8")
    prev_mark, seq_mark = f'"{prev_slot}"', f'"{seq_slot}"'
    if text.count(prev_mark) != 1 or text.count(seq_mark) != 1 or text.index(prev_mark) > text.index(seq_mark):
        return False
    head, rest = text.split(prev_mark)
    middle, tail = rest.split(seq_mark)
    values = [
        json.dumps(getattr(entry, name), ensure_ascii=False) if name in _JSON_COLUMNS else getattr(entry, name)
        for name in CONTENT_FIELDS
    ]
    with connection.cursor() as cursor:
        cursor.execute(_APPEND_SQL, [JOURNAL_LOCK_KEY, asynchronous, head + '"', '"' + middle, tail, *values])
        row = cursor.fetchone()
    entry.seq, entry.prev_hash, entry.hash = row
    entry._state.adding = False
    entry._state.db = connection.alias
    return True


# ---------------------------------------------------------------------------- seals


def _seal_payload(seq: int, chain_hash: str, signed_at: dt.datetime) -> bytes:
    claims = {"iss": settings.NODE_BASE_URL, "seq": seq, "hash": chain_hash, "iat": int(signed_at.timestamp())}
    return json.dumps(claims, sort_keys=True, separators=(",", ":")).encode("utf-8")


def sign_seal(seq: int, chain_hash: str, signed_at: dt.datetime) -> tuple[str, str]:
    """A JWS compact over `{iss, seq, hash, iat}` with the node's signing key; returns (jws, kid)."""
    from joserfc import jws
    from joserfc.jwk import OKPKey

    from dataspace.node.keys import signing_key

    node_key = signing_key()
    private = OKPKey.import_key(node_key.private_key, {"kid": node_key.kid})
    header = {"alg": SEAL_ALGORITHM, "kid": node_key.kid, "typ": SEAL_TYPE}
    payload = _seal_payload(seq, chain_hash, signed_at)
    return jws.serialize_compact(header, payload, private, algorithms=[SEAL_ALGORITHM]), node_key.kid


def seal_head(*, now: dt.datetime | None = None) -> JournalSeal | None:
    """Sign the current chain head; None when the journal is empty or its head is already sealed."""
    head = JournalEntry.objects.order_by("-seq").values_list("seq", "hash").first()
    if head is None or JournalSeal.objects.filter(seq=head[0]).exists():
        return None
    signed_at = now or timezone.now()
    signed, kid = sign_seal(head[0], head[1], signed_at)
    try:
        with transaction.atomic():
            return JournalSeal.objects.create(seq=head[0], hash=head[1], signed_at=signed_at, kid=kid, jws=signed)
    except IntegrityError:  # another worker sealed the same head meanwhile
        return None


class InvalidSeal(Exception):
    """A seal whose signature or content does not verify."""


def read_seal(signed: str) -> dict[str, Any]:
    """The claims of a seal signed by a key the node publishes (rotated keys included).

    Raises InvalidSeal when the signature does not verify with any published key, or the JWS is not a seal.
    """
    from joserfc import jws
    from joserfc.errors import JoseError

    from dataspace.oauth.tokens import public_key_set

    try:
        decoded = jws.deserialize_compact(signed, public_key_set(), algorithms=[SEAL_ALGORITHM])
    except (JoseError, ValueError, TypeError) as exc:
        raise InvalidSeal(f"signature not valid with the node's published keys ({exc.__class__.__name__})") from None
    if decoded.headers().get("typ") != SEAL_TYPE:
        raise InvalidSeal("the signed object is not a journal seal (typ)")
    try:
        claims = json.loads(decoded.payload)
    except ValueError:
        raise InvalidSeal("the signed payload is not JSON") from None
    if not (isinstance(claims, dict) and isinstance(claims.get("seq"), int) and isinstance(claims.get("hash"), str)):
        raise InvalidSeal("the signed payload does not hold a seq and a hash")
    return claims


# ---------------------------------------------------------------------------- verifying


@dataclass(frozen=True)
class Problem:
    """One place where the chain breaks. `kind` is one of PROBLEM_KINDS."""

    kind: str
    seq: int
    message: str


#: What `verify_chain` can find, and what each kind means.
PROBLEM_KINDS: dict[str, str] = {
    "edited": "the entry's content no longer matches its hash",
    "reordered": "the entry holds the content written under another seq",
    "removed": "one or more seq numbers are missing",
    "broken_link": "prev_hash is not the hash of the previous entry",
    "seal_invalid": "a seal's signature does not verify with the node's published keys",
    "seal_altered": "a seal row does not match what its signature covers",
    "seal_mismatch": "the entry at a sealed seq is missing or differs from what was sealed",
}


@dataclass(frozen=True)
class ChainReport:
    """What `verify_chain` found. `ok` is True when the chain and every seal are intact."""

    entries: int
    first_seq: int | None
    head_seq: int | None
    head_hash: str | None
    seals: int
    last_sealed_seq: int | None
    problems: tuple[Problem, ...]
    #: Entries after the last valid seal: intact links, but not yet covered by a signature.
    unsealed_entries: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["ok"] = self.ok
        return data


#: Beyond this many entries whose hash fails, only neighbours are tried as reorder partners.
_REORDER_PAIRWISE_LIMIT = 500


def _short(value: str) -> str:
    return f"{value[:12]}…"


def _rows() -> Iterator[dict[str, Any]]:
    names = (*HASHED_FIELDS, "hash")
    return JournalEntry.objects.order_by("seq").values(*names).iterator(chunk_size=2000)


def _explain_mismatches(mismatched: list[dict[str, Any]]) -> dict[int, int]:
    """{seq: the seq its content was written under} for rows whose content comes from another row."""
    moved: dict[int, int] = {}
    seqs = [row["seq"] for row in mismatched]
    for row in mismatched:
        nearby = range(max(1, row["seq"] - 5), row["seq"] + 6)
        candidates: Iterable[int] = (*seqs, *nearby) if len(mismatched) <= _REORDER_PAIRWISE_LIMIT else nearby
        for other in candidates:
            if other != row["seq"] and entry_hash({**row, "seq": other}) == row["hash"]:
                moved[row["seq"]] = other
                break
    return moved


def verify_chain() -> ChainReport:
    """Check every entry's hash, the gap-free numbering, the links and every seal.

    Reads the journal once, in seq order, streaming; memory grows only with the number of seals
    and of entries found broken.
    """
    seals = list(JournalSeal.objects.order_by("seq").values("seq", "hash", "signed_at", "jws"))
    sealed_seqs = {seal["seq"] for seal in seals}
    stored_at_sealed: dict[int, str] = {}
    mismatched: list[dict[str, Any]] = []
    links: list[Problem] = []
    problems: list[Problem] = []
    count, first_seq = 0, None
    previous: dict[str, Any] | None = None
    for row in _rows():
        count += 1
        seq = row["seq"]
        first_seq = seq if first_seq is None else first_seq
        if seq in sealed_seqs:
            stored_at_sealed[seq] = row["hash"]
        computed = entry_hash(row)
        if computed != row["hash"]:
            row["computed"] = computed
            mismatched.append(row)
        expected = 1 if previous is None else previous["seq"] + 1
        if seq != expected:
            missing = f"seq {expected}" if seq == expected + 1 else f"seq {expected} to {seq - 1}"
            where = f"after seq {previous['seq']}" if previous else "at the start of the journal"
            problems.append(
                Problem("removed", expected, f"{missing} missing {where}: entries were removed (next is seq {seq}).")
            )
        elif previous is None and row["prev_hash"] != GENESIS_HASH:
            links.append(Problem("broken_link", seq, f"seq {seq}: the first entry's prev_hash is not 64 zeros."))
        elif previous is not None and row["prev_hash"] != previous["hash"]:
            links.append(
                Problem(
                    "broken_link",
                    seq,
                    f"seq {seq}: prev_hash {_short(row['prev_hash'])} is not the hash of seq {previous['seq']} "
                    f"({_short(previous['hash'])}): seq {previous['seq']} was rewritten with a new hash, "
                    f"or an entry was removed or inserted between them.",
                )
            )
        previous = {"seq": seq, "hash": row["hash"]}
    moved = _explain_mismatches(mismatched)
    for row in mismatched:
        seq = row["seq"]
        if seq in moved:
            problems.append(
                Problem(
                    "reordered",
                    seq,
                    f"seq {seq} holds the entry written as seq {moved[seq]}: entries were reordered.",
                )
            )
        else:
            problems.append(
                Problem(
                    "edited",
                    seq,
                    f"seq {seq}: entry edited — its content no longer matches its hash "
                    f"(stored {_short(row['hash'])}, computed {_short(row['computed'])}).",
                )
            )
    # A broken link next to a reordered entry is the reordering itself, already reported.
    problems.extend(link for link in links if link.seq not in moved and link.seq - 1 not in moved)
    last_valid_seal = None
    for seal in seals:
        problem = _check_seal(seal, stored_at_sealed.get(seal["seq"]))
        if problem is None:
            last_valid_seal = seal["seq"]
        else:
            problems.append(problem)
    problems.sort(key=lambda problem: (problem.seq, problem.kind))
    head = previous
    return ChainReport(
        entries=count,
        first_seq=first_seq,
        head_seq=head["seq"] if head else None,
        head_hash=head["hash"] if head else None,
        seals=len(seals),
        last_sealed_seq=last_valid_seal,
        problems=tuple(problems),
        unsealed_entries=(head["seq"] - (last_valid_seal or 0)) if head else 0,
    )


def _check_seal(seal: Mapping[str, Any], stored: str | None) -> Problem | None:
    seq, when = seal["seq"], f"{seal['signed_at']:%Y-%m-%d %H:%M:%S}"
    try:
        claims = read_seal(seal["jws"])
    except InvalidSeal as exc:
        return Problem("seal_invalid", seq, f"seal of seq {seq} (signed {when}): {exc}.")
    if claims["seq"] != seq or claims["hash"] != seal["hash"]:
        return Problem(
            "seal_altered",
            seq,
            f"seal of seq {seq}: the row says seq {seq} / {_short(seal['hash'])} but its signature covers "
            f"seq {claims['seq']} / {_short(claims['hash'])}.",
        )
    if stored is None:
        return Problem("seal_mismatch", seq, f"seq {seq} was sealed on {when} but is missing: entries were removed.")
    if stored != seal["hash"]:
        return Problem(
            "seal_mismatch",
            seq,
            f"seq {seq}: hash {_short(stored)} differs from the one sealed on {when} ({_short(seal['hash'])}): "
            "the chain was rewritten up to here.",
        )
    return None


# ---------------------------------------------------------------------------- reading


class FilterError(ValueError):
    """A filter value that cannot be used; `errors` maps each field to its messages."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__("; ".join(f"{name}: {' '.join(messages)}" for name, messages in errors.items()))
        self.errors = errors


@dataclass(frozen=True)
class JournalFilters:
    """What a reader of the journal may narrow it to (every field optional)."""

    since: dt.datetime | None = None
    until: dt.datetime | None = None
    until_inclusive: bool = True
    action: str = ""
    decision: str = ""
    stream: str = ""
    purpose: str = ""
    actor: str = ""
    record_type: str = ""
    record_id: uuid.UUID | None = None
    owner: uuid.UUID | None = None
    #: Only entries numbered below this seq (the page's "older entries" link).
    before: int | None = None


#: The query parameters `parse_filters` reads, in the order forms show them.
FILTER_PARAMETERS = (
    "since",
    "until",
    "action",
    "decision",
    "stream",
    "purpose",
    "actor",
    "record_type",
    "record_id",
    "owner",
)


def _parse_moment(raw: str, name: str, *, end: bool) -> tuple[dt.datetime, bool]:
    """(moment, inclusive) from an ISO date or datetime; a date `until` means up to the end of that day."""
    text = raw.strip()
    try:
        day = parse_date(text) if len(text) == 10 else None
        moment = None if day else parse_datetime(text)
    except ValueError:
        day, moment = None, None
    if day is not None:
        start = timezone.make_aware(dt.datetime.combine(day, dt.time.min))
        if end:
            return timezone.make_aware(dt.datetime.combine(day + dt.timedelta(days=1), dt.time.min)), False
        return start, True
    if moment is None:
        message = gettext(
            "Une date ISO 8601, éventuellement avec l'heure (2026-11-30, 2026-11-30T14:00Z), est attendue ; "
            "reçu %(raw)r."
        )
        raise FilterError({name: [message % {"raw": raw}]})
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment)
    return moment, True


def parse_filters(params: Mapping[str, str]) -> JournalFilters:
    """Filters from query parameters; raises FilterError naming every malformed field."""
    errors: dict[str, list[str]] = {}
    values: dict[str, Any] = {}

    def text(name: str) -> str:
        return str(params.get(name) or "").strip()

    for name, end in (("since", False), ("until", True)):
        if text(name):
            try:
                moment, inclusive = _parse_moment(text(name), name, end=end)
            except FilterError as exc:
                errors.update(exc.errors)
            else:
                values[name] = moment
                if end:
                    values["until_inclusive"] = inclusive
    for name, allowed in (("decision", DECISIONS), ("stream", STREAMS)):
        if text(name):
            if text(name) in allowed:
                values[name] = text(name)
            else:
                errors[name] = [
                    gettext("Valeur inconnue %(value)r ; valeurs admises : %(allowed)s.")
                    % {"value": text(name), "allowed": ", ".join(allowed)}
                ]
    for name in ("action", "purpose", "actor", "record_type"):
        values[name] = text(name)
    for name, key in (("record_id", "record_id"), ("owner", "owner")):
        if text(name):
            try:
                values[key] = uuid.UUID(text(name))
            except ValueError:
                errors[name] = [gettext("Un UUID est attendu ; reçu %(value)r.") % {"value": text(name)}]
    if text("before"):
        try:
            values["before"] = int(text("before"))
        except ValueError:
            errors["before"] = [gettext("Un numéro d'entrée est attendu ; reçu %(value)r.") % {"value": text("before")}]
    if errors:
        raise FilterError(errors)
    return JournalFilters(**values)


def visible_owner_ids(*, user: Any = None, client: Any = None) -> set[uuid.UUID] | None:
    """The organisations whose journal the caller reads; None means every entry (a superuser).

    A person reads the journal of each structure where it holds a StaffMembership (any role); a
    machine client reads its owner organisation's.
    """
    if client is not None:
        return {client.owner_id} if client.owner_id else set()
    if user is None or not getattr(user, "is_active", False):
        return set()
    if user.is_superuser:
        return None
    from dataspace.api.permissions import staff_roles

    return set(staff_roles(user))


def journal_entries(owners: set[uuid.UUID] | None, filters: JournalFilters | None = None) -> QuerySet[JournalEntry]:
    """The entries about the data of `owners` (None: all) matching `filters`, newest first."""
    queryset: QuerySet[JournalEntry] = JournalEntry.objects.all()
    if owners is not None:
        queryset = queryset.filter(owner_id__in=owners)
    f = filters or JournalFilters()
    if f.since is not None:
        queryset = queryset.filter(at__gte=f.since)
    if f.until is not None:
        queryset = queryset.filter(at__lte=f.until) if f.until_inclusive else queryset.filter(at__lt=f.until)
    for name in ("action", "decision", "stream", "purpose", "record_type"):
        if getattr(f, name):
            queryset = queryset.filter(**{name: getattr(f, name)})
    if f.actor:
        queryset = queryset.filter(
            Q(username__icontains=f.actor)
            | Q(organisation_name__icontains=f.actor)
            | Q(licence_number__iexact=f.actor)
            | Q(client_id__iexact=f.actor)
        )
    if f.record_id is not None:
        queryset = queryset.filter(record_ids__icontains=f'"{f.record_id}"')
    if f.owner is not None:
        queryset = queryset.filter(owner_id=f.owner)
    if f.before is not None:
        queryset = queryset.filter(seq__lt=f.before)
    return queryset.order_by("-seq")
