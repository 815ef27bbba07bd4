"""POST /api/v1/federation/notices over real HTTP: only trusted signed senders are heard, each notice
is handled once (redeliveries are acknowledged), unknown kinds are ignored, and the outbox of one
node delivers to the notice endpoint of another, signed."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from django.db import transaction

from dataspace.audit.models import JournalEntry
from federation import notices, outbox
from federation.client import post_signed
from federation.models import OutboxMessage, ReceivedNotice
from federation.signing import SignedPeer
from tests.conftest import node_signing_key
from tests.federation.signed import new_key, register_peer

pytestmark = pytest.mark.django_db(transaction=True)

PEER = "https://structure-b.example"


@pytest.fixture
def node(live_server: Any, settings: Any) -> str:
    settings.NODE_BASE_URL = live_server.url
    node_signing_key()
    return live_server.url


@pytest.fixture
def calls() -> Iterator[list[tuple[dict[str, Any], SignedPeer]]]:
    """Handlers of test kinds, registered for the test only: what they received."""
    received: list[tuple[dict[str, Any], SignedPeer]] = []
    failing = {"count": 0}

    @notices.handler("test.ping")
    def ping(notice: dict[str, Any], sender: SignedPeer) -> str:
        received.append((notice, sender))
        return "pong"

    @notices.handler("test.flaky")
    def flaky(notice: dict[str, Any], sender: SignedPeer) -> None:
        ReceivedNotice.objects.create(id=uuid.uuid4(), kind="side-effect", origin=sender.base_url)
        if failing["count"] == 0:
            failing["count"] += 1
            raise RuntimeError("the index is locked")
        received.append((notice, sender))

    yield received
    notices._handlers.pop("test.ping", None)
    notices._handlers.pop("test.flaky", None)


def notice(kind: str = "test.ping", origin: str = "", **extra: Any) -> dict[str, Any]:
    document: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "kind": kind,
        "created_at": "2026-11-30T10:00:00Z",
        "attempt": 1,
        "payload": {"target": "https://structure-b.example/id/directory-entry/1"},
    }
    if origin:
        document["origin"] = origin
    document.update(extra)
    return document


def endpoint(node: str) -> str:
    return f"{node}{outbox.NOTICES_PATH}"


def test_a_trusted_peers_notice_is_handled_once(node: str, calls: list[Any]) -> None:
    _peer, key = register_peer(PEER, roles=("structure",), name="Structure B")
    sent = notice(origin=PEER)
    first = post_signed(endpoint(node), sent, key=key)
    assert (first.status_code, first.json()) == (202, {"status": "accepted"})
    [(got, sender)] = calls
    assert got == sent
    assert (sender.base_url, sender.name, sender.roles, sender.kid) == (PEER, "Structure B", ("structure",), key.kid)
    stored = ReceivedNotice.objects.get(pk=sent["id"])
    assert (stored.kind, stored.origin, stored.outcome) == ("test.ping", PEER, "pong")

    # at-least-once delivery: the same notice again (a new signed request) is acknowledged, not handled
    again = post_signed(endpoint(node), sent, key=key)
    assert (again.status_code, again.json()) == (200, {"status": "duplicate"})
    assert len(calls) == 1


def test_an_unknown_kind_is_ignored_but_remembered(node: str) -> None:
    _peer, key = register_peer(PEER)
    sent = notice(kind="future.kind")
    response = post_signed(endpoint(node), sent, key=key)
    assert (response.status_code, response.json()) == (202, {"status": "ignored"})
    assert ReceivedNotice.objects.get(pk=sent["id"]).outcome == "ignored"
    assert post_signed(endpoint(node), sent, key=key).json() == {"status": "duplicate"}


def test_an_unsigned_notice_is_refused(node: str, calls: list[Any]) -> None:
    response = httpx.post(endpoint(node), json=notice())
    assert response.status_code == 401
    assert response.json()["error"] == "signature_required"
    assert "signée" in response.json()["detail"]
    assert calls == []
    assert ReceivedNotice.objects.count() == 0


def test_a_notice_signed_by_a_stranger_is_refused_and_journaled(node: str, calls: list[Any]) -> None:
    stranger = new_key()
    response = post_signed(endpoint(node), notice(), key=stranger)
    assert response.status_code == 401
    assert response.json() == {
        "error": "invalid_signature",
        "detail": "La clé de signature n'appartient à aucun membre de confiance de la fédération.",
        "fields": {"signature": ["unknown_key"]},
    }
    [entry] = JournalEntry.objects.filter(action="federation.signature_refused")
    assert (entry.reason_code, entry.details["keyid"], entry.details["path"]) == (
        "unknown_key",
        stranger.kid,
        outbox.NOTICES_PATH,
    )
    assert calls == []


def test_a_replayed_notice_request_is_refused(node: str, calls: list[Any]) -> None:
    """The exact captured request sent again (same nonce) is refused before any dedupe."""
    from federation.client import json_body
    from federation.signing import sign_request_headers

    _peer, key = register_peer(PEER)
    body = json_body(notice())
    headers = sign_request_headers("POST", endpoint(node), {"Content-Type": "application/json"}, body, key=key)
    assert httpx.post(endpoint(node), content=body, headers=headers).status_code == 202
    replayed = httpx.post(endpoint(node), content=body, headers=headers)
    assert replayed.status_code == 401
    assert replayed.json()["fields"] == {"signature": ["replayed"]}
    assert len(calls) == 1


@pytest.mark.parametrize(
    ("document", "field"),
    [
        ({"id": "pas-un-uuid", "kind": "test.ping"}, "id"),
        ({"id": str(uuid.uuid4()), "kind": ""}, "kind"),
        ({"id": str(uuid.uuid4()), "kind": "test.ping", "payload": ["liste"]}, "payload"),
    ],
)
def test_a_body_that_is_not_a_notice_is_a_400_naming_the_field(
    node: str, calls: list[Any], document: dict[str, Any], field: str
) -> None:
    _peer, key = register_peer(PEER)
    response = post_signed(endpoint(node), document, key=key)
    assert response.status_code == 400
    assert list(response.json()["fields"]) == [field]
    assert calls == []


def test_a_notice_claiming_another_origin_is_refused(node: str, calls: list[Any]) -> None:
    _peer, key = register_peer(PEER)
    response = post_signed(endpoint(node), notice(origin="https://structure-a.example"), key=key)
    assert (response.status_code, response.json()["error"]) == (403, "origin_mismatch")
    assert calls == []


def test_a_failing_handler_records_nothing_and_the_redelivery_is_handled(node: str, calls: list[Any]) -> None:
    _peer, key = register_peer(PEER)
    sent = notice(kind="test.flaky")
    failed = post_signed(endpoint(node), sent, key=key)
    assert (failed.status_code, failed.json()["error"]) == (503, "handler_failed")
    assert ReceivedNotice.objects.count() == 0  # the handler's own writes rolled back too
    retried = post_signed(endpoint(node), sent, key=key)
    assert (retried.status_code, retried.json()) == (202, {"status": "accepted"})
    assert len(calls) == 1


def test_the_outbox_delivers_to_a_nodes_notice_endpoint(
    node: str, calls: list[Any], django_capture_on_commit_callbacks: Any
) -> None:
    """One node's outbox → another's notice endpoint (here the node notifies itself: its own key is
    trusted), signed RFC 9421, handled, and a redelivery of the same message is a duplicate."""
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        [message] = outbox.enqueue(kind="test.ping", payload={"n": 1}, destinations=[node])
    stored = OutboxMessage.objects.get(pk=message.pk)
    assert (stored.state, stored.last_error) == (OutboxMessage.State.DELIVERED, "")
    [(got, sender)] = calls
    assert (got["id"], got["payload"], got["origin"], sender.base_url) == (str(message.pk), {"n": 1}, node, node)
    # replayed by an operator: delivered again, acknowledged as a duplicate, not handled twice
    OutboxMessage.objects.filter(pk=message.pk).update(state=OutboxMessage.State.DEAD)
    with django_capture_on_commit_callbacks(execute=True):
        outbox.replay([OutboxMessage.objects.get(pk=message.pk)])
    assert OutboxMessage.objects.get(pk=message.pk).state == OutboxMessage.State.DELIVERED
    assert len(calls) == 1
