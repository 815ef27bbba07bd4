"""Webhooks on the outbox: events written in the change's transaction, delivered after commit to a
real HTTP receiver, signed (RFC 9421) so a vendor verifies them with the node's JWKS, retried,
dead-lettered and replayed through the API; owners, types and operations filter; the API needs
`webhooks:manage` and only shows a caller its own structures' subscriptions."""

from __future__ import annotations

import base64
import datetime as dt
import html
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from django.db import transaction
from django.utils import timezone
from http_message_signatures import HTTPMessageVerifier, InvalidSignature, MappingKeyResolver, algorithms

from dataspace.node.models import StaffMembership
from dataspace.records.models import Change
from federation import outbox, webhooks
from federation.models import OutboxMessage, WebhookSubscription
from tests.conftest import node_signing_key
from tests.factories import (
    OrganisationFactory,
    PerformanceFactory,
    ProductionFactory,
    UserFactory,
    VenueFactory,
)
from tests.federation.receiver import Received, Receiver, free_port

pytestmark = pytest.mark.django_db

State = OutboxMessage.State
SCOPE = "webhooks:manage"


@pytest.fixture(autouse=True)
def _node_key_and_fresh_generation() -> Iterator[None]:
    node_signing_key()
    webhooks.forget_subscribed_owners()
    webhooks.bump_generation()
    yield
    webhooks.forget_subscribed_owners()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    running = Receiver().start()
    yield running
    running.stop()


def subscribe(owner: Any, url: str, **kwargs: Any) -> WebhookSubscription:
    return webhooks.create_subscription(owner=owner, url=url, **kwargs)


def committed(capture: Any, make: Any) -> Any:
    """Run `make()` in a transaction and the callbacks registered on commit (as a real commit would)."""
    with capture(execute=True), transaction.atomic():
        return make()


def deliveries_of(subscription: WebhookSubscription) -> list[OutboxMessage]:
    return list(OutboxMessage.objects.filter(subscription=subscription).order_by("created_at"))


# ---------------------------------------------------------------------------- a vendor's verification


@dataclass
class _Message:
    method: str
    url: str
    headers: dict[str, str]


def jwks_keys(client: Any) -> dict[str, Ed25519PublicKey]:
    """The node's public keys as a vendor reads them from /.well-known/jwks.json."""
    document = client.get("/.well-known/jwks.json").json()
    keys = {}
    for jwk in document["keys"]:
        assert (jwk["kty"], jwk["crv"]) == ("OKP", "Ed25519")
        raw = base64.urlsafe_b64decode(jwk["x"] + "=" * (-len(jwk["x"]) % 4))
        keys[jwk["kid"]] = Ed25519PublicKey.from_public_bytes(raw)
    return keys


def vendor_verifies(received: Received, target_url: str, keys: dict[str, Ed25519PublicKey]) -> dict[str, Any]:
    """What a vendor's receiver does (docs/federation.md): verify the RFC 9421 signature with the
    node's published keys, covering the method, the URL and the Content-Digest of the exact body."""
    verifier = HTTPMessageVerifier(
        signature_algorithm=algorithms.ED25519,
        key_resolver=MappingKeyResolver(public_keys=keys, private_keys={}),
    )
    message = _Message(method="POST", url=target_url, headers=received.headers)
    [result] = verifier.verify(
        message,
        expect_tag="scene-commune",
        require_components=("@method", "@target-uri", "content-digest"),
        body=received.body,
        max_age=dt.timedelta(minutes=5),
    )
    assert result.parameters["keyid"] in keys
    assert result.nonce
    return dict(json.loads(received.body))


# ---------------------------------------------------------------------------- delivery


def test_a_change_is_delivered_once_after_commit_signed_for_the_vendor(
    receiver: Receiver, django_capture_on_commit_callbacks: Any, client: Any
) -> None:
    owner = OrganisationFactory()
    subscription = subscribe(owner, receiver.url + "/hooks/scene?source=noeud", record_types=["production"])
    production = committed(django_capture_on_commit_callbacks, lambda: ProductionFactory(owner=owner, title="Ubu"))

    [delivery] = deliveries_of(subscription)
    assert (delivery.state, delivery.attempts, delivery.kind) == (State.DELIVERED, 1, "record.upsert")
    [got] = receiver.received
    assert got.path == "/hooks/scene?source=noeud"
    event = vendor_verifies(got, receiver.url + got.path, jwks_keys(client))
    assert event["id"] == str(delivery.pk)
    assert event["kind"] == "record.upsert"
    assert event["attempt"] == 1
    change = Change.objects.filter(record_id=production.pk).latest("seq")
    assert event["payload"] == {
        "op": "upsert",
        "type": "production",
        "id": production.uri,
        "uuid": str(production.pk),
        "version": production.version,
        "owner": str(owner.pk),
        "changed_at": change.changed_at.isoformat().replace("+00:00", "Z"),
    }
    assert "record" not in event["payload"]  # no record body: the vendor reads it with its token
    assert "Ubu" not in got.body.decode()

    # a tampered body or a key the node does not publish does not verify
    tampered = Received(path=got.path, headers=got.headers, body=got.body.replace(b"upsert", b"delete", 1))
    with pytest.raises(InvalidSignature):
        vendor_verifies(tampered, receiver.url + got.path, jwks_keys(client))
    stranger = Ed25519PublicKey.from_public_bytes(bytes(32))
    with pytest.raises(InvalidSignature):
        vendor_verifies(got, receiver.url + got.path, dict.fromkeys(jwks_keys(client), stranger))
    # another URL (a captured event replayed to another receiver) does not verify either
    with pytest.raises(InvalidSignature):
        vendor_verifies(got, "https://autre-recepteur.example/hooks/scene?source=noeud", jwks_keys(client))

    # idempotent: the task again, or the periodic sweep, sends nothing more
    assert outbox.deliver_many([delivery.pk]) == {"skipped": 1}
    assert outbox.deliver_due(now=timezone.now() + dt.timedelta(days=1)) == {}
    assert len(receiver.received) == 1


def test_a_rolled_back_change_leaves_no_delivery(receiver: Receiver, django_capture_on_commit_callbacks: Any) -> None:
    owner = OrganisationFactory()
    subscription = subscribe(owner, receiver.url + "/hooks")

    class Abort(Exception):
        pass

    seen: list[int] = []

    def change_then_fail() -> None:
        with transaction.atomic():
            ProductionFactory(owner=owner)
            seen.append(OutboxMessage.objects.filter(subscription=subscription).count())
            raise Abort

    with django_capture_on_commit_callbacks(execute=True) as callbacks, pytest.raises(Abort):
        change_then_fail()
    assert seen[0] >= 1  # written in the change's transaction…
    assert callbacks == []  # …never scheduled
    assert deliveries_of(subscription) == []  # …and gone with it
    assert receiver.received == []


def test_receiver_down_then_up_is_delivered_exactly_once(
    django_capture_on_commit_callbacks: Any, settings: Any
) -> None:
    settings.OUTBOX_BACKOFF_BASE = 30.0
    port = free_port()
    owner = OrganisationFactory()
    subscription = subscribe(owner, f"http://127.0.0.1:{port}/evenements")
    committed(django_capture_on_commit_callbacks, lambda: VenueFactory(owner=owner))

    [delivery] = deliveries_of(subscription)
    assert (delivery.state, delivery.attempts) == (State.FAILED, 1)
    assert "ConnectError" in delivery.last_error or "connect" in delivery.last_error.lower()
    assert delivery.next_attempt_at > timezone.now() + dt.timedelta(seconds=10)  # backoff, not a busy loop

    back = Receiver(port=port).start()
    try:
        later = delivery.next_attempt_at + dt.timedelta(seconds=1)
        assert outbox.deliver_due(now=later) == {State.DELIVERED: 1}
        assert outbox.deliver_due(now=later + dt.timedelta(days=1)) == {}
        [got] = back.received
        assert got.path == "/evenements"
        body = json.loads(got.body)
        assert (body["id"], body["attempt"], body["kind"]) == (str(delivery.pk), 2, "record.upsert")
    finally:
        back.stop()
    stored = OutboxMessage.objects.get(pk=delivery.pk)
    assert (stored.state, stored.attempts, stored.last_error) == (State.DELIVERED, 2, "")


def test_dead_letter_listed_and_replayed_through_the_api(
    receiver: Receiver, django_capture_on_commit_callbacks: Any, settings: Any, bearer_client: Any
) -> None:
    settings.OUTBOX_MAX_ATTEMPTS = 2
    receiver.status = 503
    vendor = bearer_client(SCOPE)
    owner = vendor.owner
    created = vendor.post("/api/v1/webhooks/", {"url": receiver.url + "/hooks"}, format="json")
    assert created.status_code == 201, created.content
    subscription = WebhookSubscription.objects.get(pk=created.json()["id"])
    committed(django_capture_on_commit_callbacks, lambda: ProductionFactory(owner=owner))
    outbox.deliver_due(now=timezone.now() + dt.timedelta(days=1))
    [dead] = deliveries_of(subscription)
    assert (dead.state, dead.attempts) == (State.DEAD, 2)
    assert dead.last_error.startswith("HTTP 503")
    assert len(receiver.received) == 2

    listing = vendor.get(f"/api/v1/webhooks/{subscription.pk}/deliveries?state=dead")
    assert listing.status_code == 200
    [row] = listing.json()["results"]
    assert (row["id"], row["state"], row["attempts"]) == (str(dead.pk), "dead", 2)
    assert row["last_error"].startswith("HTTP 503")
    assert row["event"]["type"] == "production"
    assert vendor.get(f"/api/v1/webhooks/{subscription.pk}/deliveries?state=delivered").json()["results"] == []
    bad_state = vendor.get(f"/api/v1/webhooks/{subscription.pk}/deliveries?state=lost")
    assert bad_state.status_code == 400
    assert "state" in bad_state.json()["fields"]
    counts = vendor.get(f"/api/v1/webhooks/{subscription.pk}/").json()["deliveries"]
    assert counts == {"pending": 0, "delivered": 0, "failed": 0, "dead": 1}

    receiver.status = 204
    with django_capture_on_commit_callbacks(execute=True):
        replayed = vendor.post(f"/api/v1/webhooks/{subscription.pk}/deliveries/{dead.pk}/replay")
    assert replayed.status_code == 202, replayed.content
    stored = OutboxMessage.objects.get(pk=dead.pk)
    assert (stored.state, stored.attempts) == (State.DELIVERED, 1)
    assert len(receiver.received) == 3
    assert json.loads(receiver.received[-1].body)["id"] == str(dead.pk)  # the same event id: receivers dedupe
    one = vendor.get(f"/api/v1/webhooks/{subscription.pk}/deliveries/{dead.pk}")
    assert one.json()["state"] == "delivered"

    again = vendor.post(f"/api/v1/webhooks/{subscription.pk}/deliveries/{dead.pk}/replay")
    assert again.status_code == 409
    assert again.json()["error"] == "not_replayable"
    missing = vendor.post(f"/api/v1/webhooks/{subscription.pk}/deliveries/{subscription.pk}/replay")
    assert missing.status_code == 404


# ---------------------------------------------------------------------------- who gets what


def test_only_the_owners_matching_subscriptions_get_events(receiver: Receiver) -> None:
    mine, theirs = OrganisationFactory(), OrganisationFactory()
    everything = subscribe(mine, receiver.url + "/all")
    productions_only = subscribe(mine, receiver.url + "/productions", record_types=["production"])
    deletes_only = subscribe(mine, receiver.url + "/deletes", operations=["delete"])
    inactive = subscribe(mine, receiver.url + "/off", active=False)
    other_owner = subscribe(theirs, receiver.url + "/theirs")

    with transaction.atomic():
        production = ProductionFactory(owner=mine)
        venue = VenueFactory(owner=mine)
        venue_uri = venue.uri
        venue.delete()

    assert [d.kind for d in deliveries_of(everything)].count("record.upsert") >= 2
    assert "record.delete" in [d.kind for d in deliveries_of(everything)]
    assert {d.payload["id"] for d in deliveries_of(productions_only)} == {production.uri}
    assert [(d.kind, d.payload["id"]) for d in deliveries_of(deletes_only)] == [("record.delete", venue_uri)]
    assert deliveries_of(inactive) == []
    assert deliveries_of(other_owner) == []  # another owner's subscription gets nothing of mine

    # an organisation describing itself is its own owner
    with transaction.atomic():
        mine.name = "Nouveau nom"
        mine.save()
    assert mine.uri in {d.payload["id"] for d in deliveries_of(everything)}
    assert mine.uri not in {d.payload["id"] for d in deliveries_of(other_owner)}


def test_options_never_produce_an_event_and_withdrawal_is_a_delete(receiver: Receiver) -> None:
    owner = OrganisationFactory()
    with transaction.atomic():
        production = ProductionFactory(owner=owner)
    subscription = subscribe(owner, receiver.url + "/agenda", record_types=["performance"])
    with transaction.atomic():
        option = PerformanceFactory(owner=owner, production=production, status="option")
        option.capacity = 120
        option.save()
    assert deliveries_of(subscription) == []  # an option never leaves the node

    with transaction.atomic():
        option.status = "scheduled"
        option.save()
        option.status = "option"  # back to an option: the feed publishes a tombstone
        option.save()
    assert [(d.kind, d.payload["op"]) for d in deliveries_of(subscription)] == [
        ("record.upsert", "upsert"),
        ("record.delete", "delete"),
    ]


def test_no_subscription_costs_no_query_and_a_new_one_is_seen_at_once(
    receiver: Receiver, django_assert_num_queries: Any
) -> None:
    owner = OrganisationFactory()
    with transaction.atomic():
        ProductionFactory(owner=owner)
    change = Change.objects.latest("seq")
    webhooks.subscribed_owner_ids()  # loaded once for this generation
    with django_assert_num_queries(0):
        assert webhooks.on_change(change) == []
    # a subscription of another owner: still nothing to ask the database for this owner
    subscribe(OrganisationFactory(), receiver.url + "/other")
    webhooks.subscribed_owner_ids()
    with django_assert_num_queries(0):
        assert webhooks.on_change(change) == []
    # this owner subscribes: the generation moved, the very next change is delivered
    subscription = subscribe(owner, receiver.url + "/mine")
    with transaction.atomic():
        ProductionFactory(owner=owner)
    assert len(deliveries_of(subscription)) == 1
    # deactivated: nothing more
    webhooks.update_subscription(subscription, active=False)
    with transaction.atomic():
        ProductionFactory(owner=owner)
    assert len(deliveries_of(subscription)) == 1


def test_cache_down_a_change_still_commits_with_its_events(receiver: Receiver, monkeypatch: Any) -> None:
    from django.core.cache import cache

    owner = OrganisationFactory()
    subscription = subscribe(owner, receiver.url + "/hooks")
    webhooks.subscribed_owner_ids()

    def redis_down(*_args: Any, **_kwargs: Any) -> Any:
        raise ConnectionError("Redis is down")

    for name in ("get", "add", "incr", "set"):
        monkeypatch.setattr(cache, name, redis_down)  # injected fault: the cache is unreachable
    other = subscribe(owner, receiver.url + "/other")  # its generation bump is lost, nothing fails
    with transaction.atomic():
        ProductionFactory(owner=owner)
    assert len(deliveries_of(subscription)) == 1
    assert len(deliveries_of(other)) == 1  # read from the database while the cache is down


def test_deleting_a_subscription_abandons_its_undelivered_deliveries(receiver: Receiver) -> None:
    owner = OrganisationFactory()
    subscription = subscribe(owner, receiver.url + "/hooks")
    with transaction.atomic():
        ProductionFactory(owner=owner)
    [pending] = deliveries_of(subscription)
    assert pending.state == State.PENDING
    assert webhooks.delete_subscription(subscription) == 1
    stored = OutboxMessage.objects.get(pk=pending.pk)
    assert (stored.state, stored.subscription_id, stored.last_error) == (State.DEAD, None, webhooks.DELETED_ERROR)
    assert outbox.deliver_due(now=timezone.now() + dt.timedelta(days=1)) == {}
    assert receiver.received == []


# ---------------------------------------------------------------------------- the API


def test_scope_is_required(bearer_client: Any, anon_client: Any) -> None:
    reader = bearer_client("referentials:read referentials:write")
    listing = reader.get("/api/v1/webhooks/")
    assert listing.status_code == 403
    assert listing.json()["error"] == "insufficient_scope"
    assert "webhooks:manage" in listing["WWW-Authenticate"]
    refused = reader.post("/api/v1/webhooks/", {"url": "https://vendeur.example/hooks"}, format="json")
    assert refused.status_code == 403
    assert WebhookSubscription.objects.count() == 0
    assert anon_client.get("/api/v1/webhooks/").status_code == 401


def test_a_client_manages_only_its_structures_subscriptions(bearer_client: Any) -> None:
    vendor = bearer_client(SCOPE)
    other = bearer_client(SCOPE)
    created = vendor.post(
        "/api/v1/webhooks",
        {"url": "https://billetterie.example/hooks", "record_types": ["performance"], "description": "Billetterie"},
        format="json",
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["owner"] == str(vendor.owner.pk)
    assert body["client_id"] == vendor.oauth_client.client_id
    assert body["operations"] == []
    ident = body["id"]
    assert [row["id"] for row in vendor.get("/api/v1/webhooks/").json()["results"]] == [ident]
    # a retried creation with the same Idempotency-Key answers the first result, creates nothing more
    payload = {"url": "https://site.example/hooks"}
    first = vendor.post("/api/v1/webhooks/", payload, format="json", HTTP_IDEMPOTENCY_KEY="abonnement-1")
    retried = vendor.post("/api/v1/webhooks/", payload, format="json", HTTP_IDEMPOTENCY_KEY="abonnement-1")
    assert (first.status_code, retried.status_code) == (201, 201)
    assert first.json()["id"] == retried.json()["id"]
    assert WebhookSubscription.objects.filter(url="https://site.example/hooks").count() == 1
    assert vendor.delete(f"/api/v1/webhooks/{first.json()['id']}").status_code == 204

    # another structure's client: not listed, not found, cannot change or delete it, nor create for it
    assert other.get("/api/v1/webhooks/").json()["results"] == []
    assert other.get(f"/api/v1/webhooks/{ident}/").status_code == 404
    assert other.patch(f"/api/v1/webhooks/{ident}/", {"active": False}, format="json").status_code == 404
    assert other.delete(f"/api/v1/webhooks/{ident}/").status_code == 404
    assert other.get(f"/api/v1/webhooks/{ident}/deliveries").status_code == 404
    foreign = other.post(
        "/api/v1/webhooks/", {"url": "https://x.example/h", "owner": str(vendor.owner.pk)}, format="json"
    )
    assert foreign.status_code == 403
    assert "owner" in foreign.json()["fields"]

    changed = vendor.patch(f"/api/v1/webhooks/{ident}/", {"operations": ["delete"], "active": False}, format="json")
    assert changed.status_code == 200, changed.content
    assert (changed.json()["operations"], changed.json()["active"]) == (["delete"], False)
    moved = vendor.patch(f"/api/v1/webhooks/{ident}/", {"owner": str(other.owner.pk)}, format="json")
    assert moved.status_code == 400
    assert "owner" in moved.json()["fields"]
    assert vendor.delete(f"/api/v1/webhooks/{ident}/").status_code == 204
    assert WebhookSubscription.objects.count() == 0


def test_invalid_subscriptions_are_400_naming_the_field(bearer_client: Any, settings: Any) -> None:
    vendor = bearer_client(SCOPE)

    def refused(payload: dict[str, Any], field: str) -> None:
        answer = vendor.post("/api/v1/webhooks/", payload, format="json")
        assert answer.status_code == 400, answer.content
        assert answer.json()["error"] == "invalid"
        assert field in answer.json()["fields"], answer.json()

    settings.OAUTH_ALLOW_INSECURE_LOOPBACK = False
    refused({"url": "http://vendeur.example/hooks"}, "url")
    refused({"url": "http://127.0.0.1:9000/hooks"}, "url")  # not on a production node
    refused({"url": "https://10.0.0.7/hooks"}, "url")  # the node's own network
    refused({"url": "https://user:secret@vendeur.example/hooks"}, "url")
    refused({"url": "ftp://vendeur.example/hooks"}, "url")
    refused({"url": ""}, "url")
    refused({"url": "https://vendeur.example/hooks", "record_types": ["spectacle"]}, "record_types")
    refused({"url": "https://vendeur.example/hooks", "operations": ["create"]}, "operations")
    message = vendor.post("/api/v1/webhooks/", {"url": "http://vendeur.example/h"}, format="json").json()
    assert "HTTPS" in message["fields"]["url"][0]  # French, says what to do
    ok = vendor.post("/api/v1/webhooks/", {"url": "https://vendeur.example/hooks"}, format="json")
    assert ok.status_code == 201
    settings.OAUTH_ALLOW_INSECURE_LOOPBACK = True
    local = vendor.post("/api/v1/webhooks/", {"url": "http://127.0.0.1:9000/hooks"}, format="json")
    assert local.status_code == 201


def test_staff_roles_read_and_write_like_contacts(client: Any, bearer_client: Any) -> None:
    structure = OrganisationFactory()
    editor = UserFactory(username="editrice")
    reader = UserFactory(username="lecteur")
    nobody = UserFactory(username="personne")
    StaffMembership.objects.create(user=editor, organisation=structure, role="editor")
    StaffMembership.objects.create(user=reader, organisation=structure, role="reader")
    from rest_framework.test import APIClient

    as_editor = APIClient()
    as_editor.force_login(editor)
    created = as_editor.post("/api/v1/webhooks/", {"url": "https://site.example/hooks"}, format="json")
    assert created.status_code == 201, created.content
    assert created.json()["owner"] == str(structure.pk)

    as_reader = APIClient()
    as_reader.force_login(reader)
    assert len(as_reader.get("/api/v1/webhooks/").json()["results"]) == 1
    assert as_reader.post("/api/v1/webhooks/", {"url": "https://x.example/h"}, format="json").status_code == 403

    as_nobody = APIClient()
    as_nobody.force_login(nobody)
    answer = as_nobody.get("/api/v1/webhooks/")
    assert answer.status_code == 403


def test_a_mandate_covering_webhooks_lets_a_vendor_subscribe_for_a_structure(bearer_client: Any) -> None:
    from dataspace.oauth.models import Mandate

    vendor = bearer_client(SCOPE)
    structure = OrganisationFactory()
    payload = {"url": "https://agenda.example/hooks", "owner": str(structure.pk)}
    assert vendor.post("/api/v1/webhooks/", payload, format="json").status_code == 403
    Mandate.objects.create(
        structure=structure, client=vendor.oauth_client, scopes=[SCOPE], granted_by=UserFactory(username="dir")
    )
    created = vendor.post("/api/v1/webhooks/", payload, format="json")
    assert created.status_code == 201, created.content
    assert {row["owner"] for row in vendor.get("/api/v1/webhooks/").json()["results"]} == {str(structure.pk)}


# ---------------------------------------------------------------------------- admin


def test_admin_in_french_validates_and_links_deliveries(client: Any, receiver: Receiver, settings: Any) -> None:
    client.force_login(UserFactory(username="operatrice", is_staff=True, is_superuser=True))
    owner = OrganisationFactory()
    settings.OAUTH_ALLOW_INSECURE_LOOPBACK = False
    answer = client.post(
        "/admin/federation/webhooksubscription/add/",
        {"owner": str(owner.pk), "url": "http://site.example/hooks", "description": "", "active": "on"},
    )
    assert answer.status_code == 200  # the form again, with the error
    assert "HTTPS obligatoire" in html.unescape(answer.content.decode())
    answer = client.post(
        "/admin/federation/webhooksubscription/add/",
        {
            "owner": str(owner.pk),
            "url": "https://site.example/hooks",
            "record_types": ["production", "performance"],
            "operations": ["upsert"],
            "description": "Site web",
            "active": "on",
        },
    )
    assert answer.status_code == 302, answer.content
    subscription = WebhookSubscription.objects.get()
    assert (subscription.record_types, subscription.operations) == (["performance", "production"], ["upsert"])

    with transaction.atomic():
        ProductionFactory(owner=owner)
    [delivery] = deliveries_of(subscription)
    listing = html.unescape(client.get("/admin/federation/webhooksubscription/").content.decode())
    assert "voir les remises" in listing
    assert "abonnements webhook" in listing.lower()
    outbox_page = client.get(f"/admin/federation/outboxmessage/?subscription__id__exact={subscription.pk}")
    assert outbox_page.status_code == 200
    assert str(delivery.pk) in outbox_page.content.decode()
    detail = client.get(f"/admin/federation/outboxmessage/{delivery.pk}/change/")
    assert "https://site.example/hooks" in html.unescape(detail.content.decode())
