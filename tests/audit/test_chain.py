"""Writing the journal: the hash chain, the canonical form, append-only rows, the off switch."""

from __future__ import annotations

import hashlib
import itertools
import json
import threading
import uuid
from typing import Any

import pytest
from django.db import connection, connections, transaction

from dataspace.audit import services
from dataspace.audit.models import GENESIS_HASH, AppendOnlyError, JournalEntry
from dataspace.audit.services import Actor, canonical_json, entry_hash, journal
from tests.audit.factories import BASE_TIME, chain, write

pytestmark = pytest.mark.django_db


def test_entries_are_numbered_from_one_and_linked_to_the_previous_hash() -> None:
    entries = chain(4)
    assert [entry.seq for entry in entries] == [1, 2, 3, 4]
    assert entries[0].prev_hash == GENESIS_HASH
    for before, after in itertools.pairwise(entries):
        assert after.prev_hash == before.hash
    stored = JournalEntry.objects.order_by("seq")
    assert [row.hash for row in stored] == [entry.hash for entry in entries]


def test_the_hash_is_sha256_of_the_documented_canonical_json() -> None:
    owner, record = uuid.uuid4(), uuid.uuid4()
    entry = write(owner, record_ids=[record], details={"page": 2, "note": "Électricité"})
    row = JournalEntry.objects.values().get(seq=entry.seq)
    expected = {
        "seq": 1,
        "stream": "access",
        "at": "2026-11-02T09:00:00.000000Z",
        "user_id": 7,
        "username": "camille.regie",
        "organisation_id": "11111111-2222-3333-4444-555555555555",
        "organisation_name": "Compagnie du Fil Tendu",
        "licence_number": "PLATESV-R-2024-000123",
        "client_id": "logiciel-billetterie",
        "node": "http://127.0.0.1:8000",
        "action": "read",
        "record_type": "performance",
        "record_ids": [str(record)],
        "owner_id": str(owner),
        "subject_person_id": None,
        "purpose": "programming",
        "decision": "permit",
        "reason_code": "policy_permits",
        "reason": "Une permission de la politique s'applique.",
        "details": {"note": "Électricité", "page": 2},
        "prev_hash": GENESIS_HASH,
    }
    text = json.dumps(expected, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert canonical_json(row) == text.encode("utf-8")
    assert "Électricité".encode() in canonical_json(row)  # not \u-escaped
    assert row["hash"] == hashlib.sha256(text.encode("utf-8")).hexdigest() == entry_hash(row)


def test_any_field_changes_the_hash() -> None:
    row = JournalEntry.objects.values().get(seq=write(uuid.uuid4()).seq)
    for name, value in [("seq", 2), ("action", "export"), ("prev_hash", "1" * 64), ("details", {"x": 1})]:
        assert entry_hash({**row, name: value}) != row["hash"], name


def test_actor_extra_and_lazy_text_are_kept_as_plain_json() -> None:
    from django.utils.translation import gettext_lazy

    entry = journal(
        actor=Actor(username="x", extra={"kind": "professional"}),
        action="read",
        decision="deny",
        details={"sentence": gettext_lazy("refusé"), "ids": (uuid.UUID(int=1),)},
    )
    assert entry is not None
    stored = JournalEntry.objects.get(seq=entry.seq)
    assert stored.details == {"sentence": "refusé", "ids": [str(uuid.UUID(int=1))], "actor": {"kind": "professional"}}
    assert entry_hash(JournalEntry.objects.values().get(seq=entry.seq)) == stored.hash


def test_unknown_stream_or_decision_is_refused_before_writing() -> None:
    with pytest.raises(ValueError, match="stream"):
        journal(actor=Actor(), action="read", decision="permit", stream="secret")
    with pytest.raises(ValueError, match="decision"):
        journal(actor=Actor(), action="read", decision="maybe")
    assert not JournalEntry.objects.exists()


def test_journal_inside_a_rolled_back_transaction_leaves_no_gap() -> None:
    write(uuid.uuid4())

    def failing_request() -> None:
        with transaction.atomic():
            write(uuid.uuid4())
            raise RuntimeError("the request failed")

    with pytest.raises(RuntimeError):
        failing_request()
    third = write(uuid.uuid4())
    assert third.seq == 2
    assert services.verify_chain().ok


def test_rows_are_append_only_through_the_orm() -> None:
    entry = write(uuid.uuid4())
    entry.action = "export"
    with pytest.raises(AppendOnlyError):
        entry.save()
    with pytest.raises(AppendOnlyError):
        entry.delete()
    with pytest.raises(AppendOnlyError):
        JournalEntry.objects.filter(seq=entry.seq).update(action="export")
    with pytest.raises(AppendOnlyError):
        JournalEntry.objects.all().delete()
    assert JournalEntry.objects.get(seq=entry.seq).action == "read"


def test_switched_off_the_journal_writes_nothing(settings: Any) -> None:
    settings.JOURNAL_ENABLED = False
    assert journal(actor=Actor(username="x"), action="read", decision="permit", now=BASE_TIME) is None
    assert not JournalEntry.objects.exists()
    settings.JOURNAL_ENABLED = True
    assert journal(actor=Actor(username="x"), action="read", decision="permit") is not None


@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_keep_one_linear_chain() -> None:
    """Threads on PostgreSQL (the advisory lock serialises them); in turn on SQLite, which
    serialises writers itself and whose in-memory test database is shared by one process."""
    writers, per_writer = 6, 10
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(per_writer):
                write(uuid.uuid4())
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            errors.append(exc)
        finally:
            connections.close_all()

    if connection.vendor == "postgresql":
        threads = [threading.Thread(target=work) for _ in range(writers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
    else:
        for _ in range(writers):
            work()
    assert not errors, errors
    rows = list(JournalEntry.objects.order_by("seq").values("seq", "prev_hash", "hash"))
    assert [row["seq"] for row in rows] == list(range(1, writers * per_writer + 1))
    assert all(row["prev_hash"] == before["hash"] for before, row in itertools.pairwise(rows))
    assert services.verify_chain().ok


def test_awkward_content_hashes_the_same_when_read_back() -> None:
    """On PostgreSQL the entry is hashed by audit_journal_append(); verify_chain recomputes it in Python."""
    details = {
        "prev_hash": "not the chain's",
        "seq": "nor this",
        "quote": 'il a dit "non" \\ puis «\u00a0oui\u00a0»',
        "emoji": "🎭",
        "separator": "ligne\u2028suivante",
        "nested": {"b": [1, 2.5, None, True], "a": {}},
    }
    entry = write(uuid.uuid4(), details=details, reason='Motif : « accès » "refusé"', actor=Actor(username="zoé"))
    row = JournalEntry.objects.values().get(seq=entry.seq)
    assert row["details"] == details
    assert entry_hash(row) == row["hash"] == entry.hash
    assert services.verify_chain().ok


@pytest.mark.django_db(transaction=True)
def test_one_entry_costs_one_statement_on_postgresql(django_assert_num_queries: Any) -> None:
    """PostgreSQL: lock, head, hash and insert in one call of audit_journal_append() (autocommit);
    SQLite: BEGIN IMMEDIATE serialises writers, then the head, the insert and COMMIT."""
    write(uuid.uuid4())
    with django_assert_num_queries(1 if connection.vendor == "postgresql" else 4):
        entry = write(uuid.uuid4())
    assert entry.seq == 2
    assert entry.prev_hash == JournalEntry.objects.get(seq=1).hash


@pytest.mark.django_db(transaction=True)
def test_synchronous_commit_switch_writes_the_same_chain(settings: Any) -> None:
    settings.JOURNAL_SYNCHRONOUS_COMMIT = True
    first = write(uuid.uuid4())
    settings.JOURNAL_SYNCHRONOUS_COMMIT = False
    second = write(uuid.uuid4())
    assert second.prev_hash == first.hash
    assert services.verify_chain().ok
