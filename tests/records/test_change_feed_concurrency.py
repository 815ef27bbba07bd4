"""The change feed under concurrent writers (PostgreSQL only).

Why the advisory lock matters: `Change.seq` comes from a database sequence, which hands numbers
out when a row is INSERTed, while the row becomes visible when its transaction COMMITs — and
transactions commit in any order. Without serialisation, writer T1 takes seq 10 and is still
working, writer T2 takes 11 and commits, a reader pages up to 11 and keeps cursor 11, then T1
commits 10: resuming "after 11" never returns 10, and the replica silently misses a change.
`services.lock_change_log` makes every writer take one transaction-scoped advisory lock before it
writes, so the next number is only allocated once the previous holder has committed: seq order
is commit order and "after n" is always complete. `test_without_the_lock_a_reader_skips_a_change`
reproduces the skip deterministically with the lock switched off;
`test_with_the_lock_the_second_writer_waits_and_nothing_is_skipped` runs the same interleaving
with it on.

SQLite serialises writers itself (one writer at a time, `BEGIN IMMEDIATE`), so the race cannot
happen there and these tests are skipped.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from django.db import close_old_connections, connection, connections, transaction
from rest_framework.test import APIClient

from dataspace.records import services
from dataspace.records.models import Change
from dataspace.referentials.models import Organisation, Work

pytestmark = [
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="SQLite serialises writers; the race only exists with concurrent writers on PostgreSQL",
    ),
    pytest.mark.django_db(transaction=True),
]

URL = "/api/v1/changes"


def _in_thread(target: Callable[[], None], errors: list[BaseException]) -> threading.Thread:
    def run() -> None:
        try:
            target()
        except BaseException as exc:  # noqa: BLE001 - handed to the main thread, which fails the test
            errors.append(exc)
        finally:
            connections.close_all()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def _feed_reader() -> APIClient:
    """A node staff session (the feed is not public; a session adds no change of its own)."""
    from tests.factories import UserFactory

    client = APIClient()
    client.force_login(UserFactory(username=f"lecteur-{time.monotonic_ns()}", is_staff=True))
    return client


def _page(client: APIClient, since: str | None, limit: int = 3) -> dict[str, Any]:
    params: dict[str, Any] = {"limit": limit}
    if since:
        params["since"] = since
    response = client.get(URL, params)
    assert response.status_code == 200, response.content
    return response.json()


def _drain(client: APIClient, since: str | None, seen: list[dict[str, Any]]) -> str | None:
    while True:
        body = _page(client, since)
        seen.extend(body["changes"])
        since = body["next"]
        if not body["has_more"]:
            return since


def _logged() -> list[tuple[str, str, int]]:
    return [(str(r), op, v) for r, op, v in Change.objects.order_by("seq").values_list("record_id", "op", "version")]


def _keys(changes: list[dict[str, Any]]) -> list[tuple[str, str, int]]:
    return [(c["uuid"], c["op"], c["version"]) for c in changes]


class _Abandon(Exception):
    pass


def _abandoned_write(owner: Organisation) -> None:
    with transaction.atomic():
        Work.objects.create(owner=owner, title="abandonnée")
        raise _Abandon


def test_concurrent_writers_and_a_paging_reader_see_every_committed_change_once() -> None:
    owner = Organisation.objects.create(name="Structure concurrente")
    rng = random.Random(20261123)
    delays = [[rng.uniform(0.0, 0.015) for _ in range(8)] for _ in range(4)]
    errors: list[BaseException] = []

    def writer(number: int) -> Callable[[], None]:
        def work() -> None:
            mine: list[Work] = []
            for step, delay in enumerate(delays[number]):
                with transaction.atomic():
                    if step % 3 == 2 and mine:
                        victim = mine.pop(0)
                        victim.delete()  # a tombstone
                    elif step % 3 == 1 and mine:
                        mine[-1].title += " (révisé)"
                        mine[-1].save()  # an upsert of a new version
                    else:
                        mine.append(Work.objects.create(owner=owner, title=f"Œuvre {number}-{step}"))
                    time.sleep(delay)  # still uncommitted: a later writer would allocate the next seq now
                if step == 4:
                    # A rolled-back write leaves a hole in the sequence, never a phantom change.
                    with pytest.raises(_Abandon):
                        _abandoned_write(owner)

        return work

    client = _feed_reader()
    seen: list[dict[str, Any]] = []
    since = _drain(client, None, seen)
    threads = [_in_thread(writer(n), errors) for n in range(4)]
    reads_during_writes = 0
    while any(thread.is_alive() for thread in threads):
        body = _page(client, since)
        seen.extend(body["changes"])
        since = body["next"]
        reads_during_writes += 1
        time.sleep(0.002)
    for thread in threads:
        thread.join(timeout=30)
    close_old_connections()
    assert not errors, errors
    _drain(client, since, seen)

    assert reads_during_writes > 5  # the reader really paged while writers were in flight
    assert _keys(seen) == _logged()  # every committed change, in commit order, exactly once
    assert len({(c["uuid"], c["op"], c["version"]) for c in seen}) == len(seen)
    assert "abandonnée" not in {c["record"]["title"] for c in seen if c["record"] and "title" in c["record"]}
    assert sum(1 for c in seen if c["op"] == "delete") == sum(1 for n in range(4) for step in range(8) if step % 3 == 2)


def _interleave(*, lock: bool, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """T1 writes and holds its transaction open; T2 writes and commits; a reader pages; T1 commits."""
    if not lock:
        monkeypatch.setattr(services, "lock_change_log", lambda: None)
    owner = Organisation.objects.create(name="Structure")
    client = _feed_reader()
    seen: list[dict[str, Any]] = []
    since = _drain(client, None, seen)
    allocated, go = threading.Event(), threading.Event()
    errors: list[BaseException] = []
    created: dict[str, Work] = {}

    def first() -> None:
        with transaction.atomic():
            created["t1"] = Work.objects.create(owner=owner, title="T1, lente")
            allocated.set()
            assert go.wait(timeout=10)

    def second() -> None:
        with transaction.atomic():
            created["t2"] = Work.objects.create(owner=owner, title="T2, rapide")

    slow = _in_thread(first, errors)
    assert allocated.wait(timeout=10)
    fast = _in_thread(second, errors)
    fast.join(timeout=0.5)
    second_blocked = fast.is_alive()
    since = _drain(client, since, seen)  # the reader pages while T1 is still open
    go.set()
    slow.join(timeout=10)
    fast.join(timeout=10)
    assert not errors, errors
    _drain(client, since, seen)
    return {
        "seen": [c["record"]["title"] for c in seen if c["type"] == "work"],
        "logged": list(Change.objects.filter(record_type="work").order_by("seq").values_list("record_id", flat=True)),
        "t1": created["t1"].pk,
        "t2": created["t2"].pk,
        "second_blocked": second_blocked,
    }


def test_without_the_lock_a_reader_skips_a_change(monkeypatch: pytest.MonkeyPatch) -> None:
    outcome = _interleave(lock=False, monkeypatch=monkeypatch)
    assert outcome["second_blocked"] is False
    # T1's change was logged (seq below T2's) but the reader's cursor had already passed it.
    assert outcome["logged"] == [outcome["t1"], outcome["t2"]]
    assert outcome["seen"] == ["T2, rapide"]


def test_with_the_lock_the_second_writer_waits_and_nothing_is_skipped(monkeypatch: pytest.MonkeyPatch) -> None:
    outcome = _interleave(lock=True, monkeypatch=monkeypatch)
    assert outcome["second_blocked"] is True
    assert outcome["logged"] == [outcome["t1"], outcome["t2"]]
    assert outcome["seen"] == ["T1, lente", "T2, rapide"]
