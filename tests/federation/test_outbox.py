"""The outbox: written in the caller's transaction, delivered after commit to a real HTTP receiver,
retried with backoff, dead-lettered, replayed; replica holders."""

from __future__ import annotations

import datetime as dt
import html
import json
from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.db import transaction
from django.utils import timezone

from federation import outbox, signing
from federation.models import FeedReader, OutboxMessage
from tests.conftest import mint_token, node_signing_key
from tests.factories import OrganisationFactory, UserFactory
from tests.federation.receiver import Receiver, free_port
from tests.federation.signed import SignedAPIClient, register_peer

pytestmark = pytest.mark.django_db

State = OutboxMessage.State
PAYLOAD = {"consent": "0b7c…", "target": "directory-entry", "withdrawn_at": "2026-11-30T10:00:00Z"}


@pytest.fixture(autouse=True)
def _node_key() -> None:
    node_signing_key()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    running = Receiver().start()
    yield running
    running.stop()


def enqueue_committed(capture: Any, *destinations: str, kind: str = "consent.withdrawn") -> list[OutboxMessage]:
    """Enqueue inside a transaction and run what was registered on commit (as a real commit would)."""
    with capture(execute=True), transaction.atomic():
        return outbox.enqueue(kind=kind, payload=PAYLOAD, destinations=list(destinations))


def state_of(message: OutboxMessage) -> OutboxMessage:
    return OutboxMessage.objects.get(pk=message.pk)


# ---------------------------------------------------------------------------- delivered once


def test_a_notice_is_delivered_once_signed_after_commit(
    receiver: Receiver, django_capture_on_commit_callbacks: Any
) -> None:
    [message] = enqueue_committed(django_capture_on_commit_callbacks, receiver.url, receiver.url + "/")

    stored = state_of(message)
    assert (stored.state, stored.attempts, stored.last_error) == (State.DELIVERED, 1, "")
    assert stored.delivered_at is not None
    [got] = receiver.received
    assert got.path == "/api/v1/federation/notices"
    assert got.headers["notice-id"] == str(message.pk)
    assert got.headers["content-type"] == "application/json"
    # the RFC 9421 signature verifies over the exact body with the node's published keys
    url = f"{receiver.url}{got.path}"
    verified = signing.verify_message("POST", url, got.headers, got.body, keys=signing.own_keys())
    assert verified.peer.base_url == outbox.normalise(django_settings.NODE_BASE_URL)
    assert got.headers["signature-input"].startswith('sig1=("@method" "@target-uri" "content-digest" "content-type")')
    notice = json.loads(got.body)
    assert notice["id"] == str(message.pk)
    assert notice["kind"] == "consent.withdrawn"
    assert notice["origin"] == outbox.normalise(django_settings.NODE_BASE_URL)
    assert notice["payload"] == PAYLOAD
    assert notice["attempt"] == 1
    # a tampered body does not verify (nor does the same request twice: its nonce is spent)
    tampered = got.body.replace(b"withdrawn", b"given", 1)
    with pytest.raises(signing.SignatureRefused) as refused:
        signing.verify_message("POST", url, got.headers, tampered, keys=signing.own_keys(), record_nonce=False)
    assert refused.value.code == "bad_digest"
    with pytest.raises(signing.SignatureRefused) as refused:
        signing.verify_message("POST", url, got.headers, got.body, keys=signing.own_keys())
    assert refused.value.code == "replayed"

    # idempotent: the task run again, or the periodic sweep, sends nothing more
    assert outbox.deliver_many([message.pk]) == {"skipped": 1}
    assert outbox.deliver_due(now=timezone.now() + dt.timedelta(days=1)) == {}
    assert len(receiver.received) == 1


def test_nothing_is_sent_before_commit_and_a_rollback_leaves_no_message(
    receiver: Receiver, django_capture_on_commit_callbacks: Any
) -> None:
    class Abort(Exception):
        pass

    seen_before_commit: list[tuple[int, int]] = []

    def change_then_fail() -> None:
        with transaction.atomic():
            outbox.enqueue(kind="consent.withdrawn", payload=PAYLOAD, destinations=[receiver.url])
            seen_before_commit.append((OutboxMessage.objects.count(), len(receiver.received)))
            raise Abort

    with django_capture_on_commit_callbacks(execute=True) as callbacks, pytest.raises(Abort):
        change_then_fail()
    assert seen_before_commit == [(1, 0)]  # written in the transaction, not sent before commit
    assert callbacks == []
    assert OutboxMessage.objects.count() == 0
    assert receiver.received == []


def test_one_message_per_distinct_destination_and_none_without_destination(
    django_capture_on_commit_callbacks: Any,
) -> None:
    first, second = Receiver().start(), Receiver().start()
    try:
        messages = enqueue_committed(django_capture_on_commit_callbacks, first.url, "", second.url, first.url)
        assert sorted(m.destination for m in messages) == sorted([first.url, second.url])
        assert len(first.received) == len(second.received) == 1
    finally:
        first.stop()
        second.stop()
    assert outbox.enqueue(kind="consent.withdrawn", payload=PAYLOAD, destinations=["", "  "]) == []


def test_a_payload_that_is_not_json_fails_in_the_callers_transaction() -> None:
    with pytest.raises(TypeError):
        outbox.enqueue(kind="consent.withdrawn", payload={"at": object()}, destinations=["https://registre.example"])
    assert OutboxMessage.objects.count() == 0


# ---------------------------------------------------------------------------- retries


def test_receiver_down_retried_with_backoff_then_delivered_when_back(
    django_capture_on_commit_callbacks: Any, settings: Any
) -> None:
    settings.OUTBOX_BACKOFF_BASE = 30.0
    port = free_port()
    down = f"http://127.0.0.1:{port}"
    before = timezone.now()
    [message] = enqueue_committed(django_capture_on_commit_callbacks, down)

    failed = state_of(message)
    assert (failed.state, failed.attempts) == (State.FAILED, 1)
    assert "ConnectError" in failed.last_error
    wait = failed.next_attempt_at - before
    assert dt.timedelta(seconds=15) <= wait <= dt.timedelta(seconds=31)  # 30 s, jitter in its upper half

    # not due yet: the sweep leaves it alone
    assert outbox.deliver_due(now=before + dt.timedelta(seconds=10)) == {}
    # due, still down: second failure, the wait doubles
    second_try = failed.next_attempt_at + dt.timedelta(seconds=1)
    assert outbox.deliver_due(now=second_try) == {State.FAILED: 1}
    again = state_of(message)
    assert again.attempts == 2
    assert dt.timedelta(seconds=30) <= again.next_attempt_at - second_try <= dt.timedelta(seconds=60)

    back = Receiver(port=port).start()
    try:
        assert outbox.deliver_due(now=again.next_attempt_at + dt.timedelta(seconds=1)) == {State.DELIVERED: 1}
        assert len(back.received) == 1
        assert json.loads(back.received[0].body)["attempt"] == 3
    finally:
        back.stop()
    delivered = state_of(message)
    assert (delivered.state, delivered.attempts, delivered.last_error) == (State.DELIVERED, 3, "")


def test_backoff_is_capped_and_jittered(settings: Any) -> None:
    import random

    settings.OUTBOX_BACKOFF_BASE, settings.OUTBOX_BACKOFF_MAX = 30.0, 3600.0
    rng = random.Random(5)
    waits = {outbox.backoff(8, rng=rng).total_seconds() for _ in range(20)}
    assert all(1800 <= wait <= 3600 for wait in waits)  # 30·2^7 = 3840 capped at 3600, upper half
    assert len(waits) > 1  # jitter: not all the same


def test_dead_after_max_attempts_then_replayed(
    receiver: Receiver, django_capture_on_commit_callbacks: Any, settings: Any
) -> None:
    settings.OUTBOX_MAX_ATTEMPTS = 3
    receiver.status = 503
    [message] = enqueue_committed(django_capture_on_commit_callbacks, receiver.url)
    moment = timezone.now()
    for _attempt in range(5):
        moment += dt.timedelta(days=1)
        outbox.deliver_due(now=moment)
    dead = state_of(message)
    assert (dead.state, dead.attempts) == (State.DEAD, 3)
    assert dead.last_error.startswith("HTTP 503")
    assert len(receiver.received) == 3  # nothing after it died

    # replay (the admin's « Rejouer »): a fresh budget, sent at once after commit
    receiver.status = 200
    with django_capture_on_commit_callbacks(execute=True):
        assert outbox.replay([dead]) == 1
    replayed = state_of(message)
    assert (replayed.state, replayed.attempts) == (State.DELIVERED, 1)
    assert len(receiver.received) == 4
    # delivered messages are not replayed
    assert outbox.replay([replayed]) == 0


def test_a_destination_outside_https_or_loopback_is_dead_at_once(django_capture_on_commit_callbacks: Any) -> None:
    [message] = enqueue_committed(django_capture_on_commit_callbacks, "http://registre.example")
    dead = state_of(message)
    assert (dead.state, dead.attempts) == (State.DEAD, 1)
    assert "destination refused" in dead.last_error


def test_broker_down_at_commit_the_periodic_task_delivers_later(
    receiver: Receiver, django_capture_on_commit_callbacks: Any, monkeypatch: Any
) -> None:
    from federation import tasks

    def broker_down(*_args: Any, **_kwargs: Any) -> None:
        raise ConnectionError("Redis is down")

    monkeypatch.setattr(tasks.deliver_outbox, "delay", broker_down)
    [message] = enqueue_committed(django_capture_on_commit_callbacks, receiver.url)
    assert state_of(message).state == State.PENDING  # the commit went through, the message waits
    assert receiver.received == []

    assert tasks.deliver_due_outbox.delay().get(timeout=10) == {State.DELIVERED: 1}
    assert state_of(message).state == State.DELIVERED
    assert len(receiver.received) == 1


def test_a_message_being_sent_is_not_sent_twice(receiver: Receiver) -> None:
    with transaction.atomic():
        [message] = outbox.enqueue(kind="consent.withdrawn", payload=PAYLOAD, destinations=[receiver.url])
    now = timezone.now()
    assert outbox._claim(message.pk, now) is True  # one sender took it
    assert outbox.deliver(message.pk, now=now) is None  # the other finds it not due
    assert receiver.received == []


def test_a_message_with_a_url_goes_to_that_url_signed_the_same_way(receiver: Receiver) -> None:
    """Webhook deliveries: `url` set, the same signed POST to that exact URL."""
    message = OutboxMessage.objects.create(
        kind="record.upsert", payload={"type": "venue"}, destination=receiver.url, url=f"{receiver.url}/hooks/scene?x=1"
    )
    assert outbox.deliver(message.pk) == State.DELIVERED
    [got] = receiver.received
    assert got.path == "/hooks/scene?x=1"
    verified = signing.verify_message(
        "POST", f"{receiver.url}{got.path}", got.headers, got.body, keys=signing.own_keys()
    )
    assert verified.keyid == signing.own_keys().popitem()[0]
    assert json.loads(got.body)["kind"] == "record.upsert"


def test_no_key_yet_the_message_waits(receiver: Receiver, settings: Any, tmp_path: Any) -> None:
    settings.NODE_KEY_DIR = tmp_path / "no-keys"
    message = OutboxMessage.objects.create(kind="consent.withdrawn", payload=PAYLOAD, destination=receiver.url)
    assert outbox.deliver(message.pk) == State.FAILED
    assert "cannot sign" in state_of(message).last_error
    assert receiver.received == []


# ---------------------------------------------------------------------------- admin


def test_admin_lists_by_state_and_replays_in_french(
    receiver: Receiver, django_capture_on_commit_callbacks: Any, client: Any
) -> None:
    dead = OutboxMessage.objects.create(
        kind="consent.withdrawn", payload=PAYLOAD, destination=receiver.url, state=State.DEAD, attempts=10
    )
    delivered = OutboxMessage.objects.create(
        kind="consent.withdrawn", payload=PAYLOAD, destination=receiver.url, state=State.DELIVERED
    )
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    page = client.get("/admin/federation/outboxmessage/?state__exact=dead")
    assert page.status_code == 200
    listing = page.content.decode()
    assert str(dead.pk) in listing
    assert str(delivered.pk) not in listing  # the state filter
    assert "Rejouer" in listing
    with django_capture_on_commit_callbacks(execute=True):
        answer = client.post(
            "/admin/federation/outboxmessage/",
            {"action": "replay", "_selected_action": [str(dead.pk), str(delivered.pk)]},
            follow=True,
        )
    text = html.unescape(answer.content.decode())
    assert "1 notification remise en file d'attente." in text
    assert "Seules les notifications en échec ou abandonnées sont rejouées" in text
    assert state_of(dead).state == State.DELIVERED
    assert len(receiver.received) == 1


# ---------------------------------------------------------------------------- replica holders


def test_replica_holders_are_the_registry_and_peers_that_read_the_feed(settings: Any, bearer_client: Any) -> None:
    from dataspace.oauth.models import Client

    settings.FEDERATION_REGISTRY_URL = "https://registre.scene-commune.example"
    assert outbox.replica_holders() == ["https://registre.scene-commune.example"]

    peer = Client.objects.create(
        client_id="noeud-pair",
        name="Nœud pair",
        owner=OrganisationFactory(),
        kind="reader",
        allowed_scopes=["federation:sync"],
        grant_types=["client_credentials"],
        token_endpoint_auth_method="private_key_jwt",
        jwks_uri="https://pair.example/noeud/.well-known/jwks.json",
    )
    token, _issued = mint_token(peer, "federation:sync")
    # a peer node's token is good only on a request signed by that node (federation.middleware)
    _member, key = register_peer("https://pair.example/noeud")
    api = SignedAPIClient(key)
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert api.get("/api/v1/changes").status_code == 200
    # a vendor's client (no jwks_uri) reading the feed is not a replica holder
    assert bearer_client("federation:sync", kind="reader").get("/api/v1/changes").status_code == 200

    [reader] = FeedReader.objects.all()
    assert (reader.client_id, reader.node) == ("noeud-pair", "https://pair.example/noeud")
    assert outbox.replica_holders() == ["https://registre.scene-commune.example", "https://pair.example/noeud"]

    settings.FEDERATION_REGISTRY_URL = ""
    assert outbox.replica_holders() == ["https://pair.example/noeud"]
    # this node is never its own replica holder
    settings.NODE_BASE_URL = "https://pair.example/noeud"
    assert outbox.replica_holders() == []


def test_node_from_jwks_uri() -> None:
    assert outbox.node_from_jwks_uri("https://n.example/.well-known/jwks.json") == "https://n.example"
    assert outbox.node_from_jwks_uri("https://n.example/a/b/.well-known/jwks.json") == "https://n.example/a/b"
    assert outbox.node_from_jwks_uri("https://n.example/keys.json") == "https://n.example"
    assert outbox.node_from_jwks_uri("") == ""
    assert outbox.node_from_jwks_uri("not a url") == ""
