"""verify_journal and verify_chain: every kind of tampering is caught and located; seals verify."""

from __future__ import annotations

import datetime as dt
import io
import json
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.core.management import call_command
from django.core.management.base import CommandError
from joserfc import jws
from joserfc.jwk import OKPKey

from dataspace.audit import services
from dataspace.audit.management.commands.verify_journal import Command
from dataspace.audit.models import JournalEntry, JournalSeal
from dataspace.audit.services import entry_hash, seal_head, verify_chain
from dataspace.audit.tasks import seal_journal
from dataspace.node import keys
from tests.audit.factories import TABLE, chain, sql, swap

pytestmark = pytest.mark.django_db

SEAL_TIME = dt.datetime(2026, 11, 2, 12, 0, tzinfo=dt.UTC)


@pytest.fixture
def node_key(db: Any) -> keys.NodeKey:
    return keys.generate_key("20260101T000000Z")


def verify_fails(*expected: str) -> str:
    """Run the command; it must fail, and its message must hold every expected fragment."""
    err = io.StringIO()
    with pytest.raises(CommandError) as caught:
        call_command("verify_journal", stderr=err)
    text = f"{caught.value}\n{err.getvalue()}"
    for fragment in expected:
        assert fragment in text, (fragment, text)
    return text


def kinds() -> list[tuple[str, int]]:
    return [(problem.kind, problem.seq) for problem in verify_chain().problems]


# ---------------------------------------------------------------------------- intact


def test_an_intact_journal_verifies_and_the_command_exits_zero(node_key: keys.NodeKey) -> None:
    chain(5)
    seal_head(now=SEAL_TIME)
    out = io.StringIO()
    call_command("verify_journal", stdout=out)
    assert "journal intact: 5 entries, seq 1 to 5" in out.getvalue()
    assert "1 seal(s) verified" in out.getvalue()
    report = verify_chain()
    assert report.ok
    assert report.head_seq == 5
    assert report.last_sealed_seq == 5
    assert report.unsealed_entries == 0


def test_an_empty_journal_is_intact() -> None:
    out = io.StringIO()
    call_command("verify_journal", stdout=out)
    assert "empty" in out.getvalue()


def test_the_command_has_help_naming_the_problem_kinds() -> None:
    text = Command().create_parser("manage.py", "verify_journal").format_help()
    for kind in ("edited", "removed", "reordered", "seal_mismatch"):
        assert kind in text
    assert "--json" in text


def test_json_report(node_key: keys.NodeKey) -> None:
    chain(2)
    out = io.StringIO()
    call_command("verify_journal", "--json", stdout=out)
    report = json.loads(out.getvalue())
    assert report["ok"] is True
    assert report["entries"] == 2
    assert report["problems"] == []


# ---------------------------------------------------------------------------- tampering


def test_an_edited_field_is_caught_at_its_seq() -> None:
    chain(6)
    sql(f"UPDATE {TABLE} SET purpose = %s WHERE seq = 4", ["research"])  # noqa: S608
    verify_fails("seq 4", "edited")
    assert kinds() == [("edited", 4)]


def test_an_edited_and_rehashed_entry_breaks_the_next_link() -> None:
    chain(5)
    row = JournalEntry.objects.values().get(seq=2)
    forged = entry_hash({**row, "decision": "deny"})
    sql(f"UPDATE {TABLE} SET decision = 'deny', hash = %s WHERE seq = 2", [forged])  # noqa: S608
    verify_fails("seq 3", "broken_link", "seq 2 was rewritten")
    assert kinds() == [("broken_link", 3)]


def test_a_removed_middle_entry_is_caught() -> None:
    chain(7)
    sql(f"DELETE FROM {TABLE} WHERE seq = 4")  # noqa: S608
    verify_fails("seq 4 missing after seq 3", "removed")
    assert kinds() == [("removed", 4)]


def test_several_removed_entries_are_named_as_a_range() -> None:
    chain(8)
    sql(f"DELETE FROM {TABLE} WHERE seq IN (3, 4, 5)")  # noqa: S608
    verify_fails("seq 3 to 5 missing after seq 2")


def test_a_removed_first_entry_is_caught() -> None:
    chain(3)
    sql(f"DELETE FROM {TABLE} WHERE seq = 1")  # noqa: S608
    verify_fails("seq 1 missing at the start")


def test_swapped_entries_are_reported_as_reordered() -> None:
    chain(6)
    swap(3, 4)
    text = verify_fails("seq 3 holds the entry written as seq 4", "seq 4 holds the entry written as seq 3")
    assert "reordered" in text
    assert kinds() == [("reordered", 3), ("reordered", 4)]


def test_removal_renumbered_to_hide_the_gap_is_caught() -> None:
    chain(5)
    sql(f"DELETE FROM {TABLE} WHERE seq = 5")  # noqa: S608
    sql(f"DELETE FROM {TABLE} WHERE seq = 3")  # noqa: S608
    sql(f"UPDATE {TABLE} SET seq = 3 WHERE seq = 4")  # noqa: S608
    verify_fails("seq 3 holds the entry written as seq 4")
    assert kinds() == [("reordered", 3)]


# ---------------------------------------------------------------------------- seals


def test_seal_signs_the_head_once(node_key: keys.NodeKey) -> None:
    chain(3)
    seal = seal_head(now=SEAL_TIME)
    assert seal is not None
    assert seal.seq == 3
    assert seal.hash == JournalEntry.objects.get(seq=3).hash
    assert seal.kid == node_key.kid
    claims = services.read_seal(seal.jws)
    assert claims == {"iss": "http://127.0.0.1:8000", "seq": 3, "hash": seal.hash, "iat": int(SEAL_TIME.timestamp())}
    decoded = jws.extract_compact(seal.jws.encode())
    assert decoded.headers() == {"alg": "Ed25519", "kid": node_key.kid, "typ": "journal-seal+jws"}
    assert seal_head() is None  # already sealed: nothing to do
    assert seal_journal.delay().get() is None
    chain(1)
    assert seal_journal.delay().get() == 4
    assert JournalSeal.objects.count() == 2


def test_nothing_to_seal_in_an_empty_journal(node_key: keys.NodeKey) -> None:
    assert seal_journal.delay().get() is None
    assert not JournalSeal.objects.exists()


def test_a_chain_rewritten_after_its_seal_is_caught(node_key: keys.NodeKey) -> None:
    entries = chain(4)
    seal_head(now=SEAL_TIME)
    # Rewrite entry 2 and recompute every hash after it: the links all hold again...
    previous = entries[0].hash
    for entry in entries[1:]:
        row = JournalEntry.objects.values().get(seq=entry.seq)
        row.update(prev_hash=previous, purpose="research" if entry.seq == 2 else row["purpose"])
        previous = entry_hash(row)
        sql(
            f"UPDATE {TABLE} SET purpose = %s, prev_hash = %s, hash = %s WHERE seq = %s",  # noqa: S608
            [row["purpose"], row["prev_hash"], previous, entry.seq],
        )
    # ...but the seal does not.
    verify_fails("seq 4", "seal_mismatch", "differs from the one sealed")
    assert kinds() == [("seal_mismatch", 4)]


def test_a_truncated_head_is_caught_by_its_seal(node_key: keys.NodeKey) -> None:
    chain(4)
    seal_head(now=SEAL_TIME)
    sql(f"DELETE FROM {TABLE} WHERE seq = 4")  # noqa: S608
    verify_fails("seq 4 was sealed", "missing")


def test_a_forged_seal_is_refused(node_key: keys.NodeKey) -> None:
    chain(2)
    head = JournalEntry.objects.get(seq=2)
    stranger = OKPKey.import_key(Ed25519PrivateKey.generate(), {"kid": node_key.kid})
    payload = json.dumps({"iss": "http://127.0.0.1:8000", "seq": 2, "hash": head.hash, "iat": 1}).encode()
    forged = jws.serialize_compact(
        {"alg": "Ed25519", "kid": node_key.kid, "typ": "journal-seal+jws"}, payload, stranger, algorithms=["Ed25519"]
    )
    JournalSeal.objects.create(seq=2, hash=head.hash, signed_at=SEAL_TIME, kid=node_key.kid, jws=forged)
    verify_fails("seal of seq 2", "seal_invalid", "signature not valid")


def test_an_edited_seal_row_is_caught(node_key: keys.NodeKey) -> None:
    chain(3)
    seal_head(now=SEAL_TIME)
    sql(f"UPDATE {JournalSeal._meta.db_table} SET seq = 2, hash = %s", [JournalEntry.objects.get(seq=2).hash])  # noqa: S608
    verify_fails("seal_altered", "seq 2")


def test_an_access_token_cannot_pass_for_a_seal(node_key: keys.NodeKey) -> None:
    from dataspace.oauth.tokens import encode_access_token

    token = encode_access_token({"seq": 1, "hash": "0" * 64})
    with pytest.raises(services.InvalidSeal, match="typ"):
        services.read_seal(token)


def test_seals_by_a_rotated_older_key_still_verify(node_key: keys.NodeKey) -> None:
    chain(2)
    old = seal_head(now=SEAL_TIME)
    newer = keys.generate_key("20260601T000000Z")
    chain(1)
    new = seal_head(now=SEAL_TIME + dt.timedelta(hours=1))
    assert old is not None
    assert new is not None
    assert (old.kid, new.kid) == (node_key.kid, newer.kid)
    report = verify_chain()
    assert report.ok
    assert report.seals == 2
    assert report.last_sealed_seq == 3
    # Once the old key leaves the key directory (and the JWKS), its seals no longer verify.
    node_key.path.unlink()
    assert kinds() == [("seal_invalid", old.seq)]


def test_unsealed_tail_is_reported(node_key: keys.NodeKey) -> None:
    chain(2)
    seal_head(now=SEAL_TIME)
    chain(3)
    report = verify_chain()
    assert report.ok
    assert report.last_sealed_seq == 2
    assert report.unsealed_entries == 3


def test_problem_kinds_are_documented() -> None:
    assert set(services.PROBLEM_KINDS) >= {"edited", "removed", "reordered", "broken_link", "seal_invalid"}
