"""Replication into the federation index: idempotent, order-proof, tombstones that win, consent
scope kept, resumable pulls over real HTTP (NodeClient against pytest-django's live server), a
lease per member, push notices, read-only replicas (409)."""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import httpx
import pytest
from django.db import transaction
from django.utils import timezone

from dataspace.consent import services as consent_services
from dataspace.oauth import peers
from dataspace.oauth.models import Client
from federation import client as node_client
from federation import index, notices, replication
from federation.models import IndexedAvailability, IndexedRecord, OutboxMessage, SyncState
from federation.signing import SignedPeer
from tests.conftest import node_signing_key
from tests.consent.agreement_factories import agree_to_everything_published
from tests.directory.factories import DirectoryEntryFactory, grant_entry_consent
from tests.factories import (
    OrganisationFactory,
    PerformanceFactory,
    ProductionFactory,
    TechnicalSheetFactory,
    VenueFactory,
)
from tests.federation.receiver import free_port

ORIGIN = "https://structure-a.example"
OTHER = "https://structure-b.example"
CHANGED = "2026-11-30T10:00:00Z"


# ---------------------------------------------------------------------------- crafted feed entries


def entry(
    op: str,
    record_type: str,
    pk: uuid.UUID,
    version: int,
    record: dict[str, Any] | None = None,
    *,
    origin: str = ORIGIN,
    owner: uuid.UUID | None = None,
) -> dict[str, Any]:
    """A change-feed entry as `/api/v1/changes` serves it."""
    uri = f"{origin}/id/{record_type}/{pk}"
    if op == "upsert" and record is None:
        record = {"id": str(pk), "uri": uri, "origin": origin, "version": version, "name": f"v{version}"}
    return {
        "op": op,
        "type": record_type,
        "id": uri,
        "uuid": str(pk),
        "version": version,
        "owner": str(owner) if owner else None,
        "changed_at": CHANGED,
        "record": record if op == "upsert" else None,
    }


def row(record_type: str, pk: uuid.UUID, origin: str = ORIGIN) -> IndexedRecord:
    return IndexedRecord.objects.get(uri=f"{origin}/id/{record_type}/{pk}")


def visible(**filters: Any) -> list[IndexedRecord]:
    return list(IndexedRecord.objects.filter(index.visible_q(timezone.now()), **filters))


def sender(base_url: str) -> SignedPeer:
    return SignedPeer(base_url=base_url, name="Structure A", roles=("structure",), kid="kid-a")


# ---------------------------------------------------------------------------- apply_changes


@pytest.mark.django_db
def test_a_page_applied_twice_changes_nothing_the_second_time() -> None:
    venue, hall = uuid.uuid4(), uuid.uuid4()
    page = [
        entry("upsert", "venue", venue, 1, {"name": "Le Quai", "region": "Bretagne", "origin": ORIGIN}),
        entry("upsert", "hall", hall, 1, {"name": "Grande salle", "venue": str(venue), "origin": ORIGIN}),
    ]
    first = replication.apply_changes(ORIGIN, page)
    assert (first.upserted, first.unchanged, first.refused) == (2, 0, 0)
    before = {r.uri: (r.version, r.replicated_at, r.title, r.region) for r in IndexedRecord.objects.all()}

    again = replication.apply_changes(ORIGIN, page)

    assert (again.upserted, again.deleted, again.unchanged) == (0, 0, 2)
    after = {r.uri: (r.version, r.replicated_at, r.title, r.region) for r in IndexedRecord.objects.all()}
    assert after == before
    assert row("hall", hall).title == "Le Quai — Grande salle"
    assert row("hall", hall).region == "Bretagne"  # from its venue


@pytest.mark.django_db
def test_an_older_version_never_overwrites_a_newer_one() -> None:
    pk = uuid.uuid4()
    replication.apply_changes(ORIGIN, [entry("upsert", "organisation", pk, 3)])
    late = replication.apply_changes(ORIGIN, [entry("upsert", "organisation", pk, 2)])
    assert late.unchanged == 1
    assert (row("organisation", pk).version, row("organisation", pk).title) == (3, "v3")
    # within one page too: the highest version wins, whatever the order
    other = uuid.uuid4()
    replication.apply_changes(
        ORIGIN, [entry("upsert", "organisation", other, 5), entry("upsert", "organisation", other, 4)]
    )
    assert (row("organisation", other).version, row("organisation", other).title) == (5, "v5")


@pytest.mark.django_db
def test_a_tombstone_wins_over_older_and_equal_upserts_and_a_newer_one_restores() -> None:
    pk = uuid.uuid4()
    replication.apply_changes(ORIGIN, [entry("upsert", "venue", pk, 2)])
    replication.apply_changes(ORIGIN, [entry("delete", "venue", pk, 3)])
    marker = row("venue", pk)
    assert (marker.version, marker.data, marker.title) == (3, {}, "")
    assert visible(record_type="venue") == []
    # re-delivered older upserts and the tombstone itself change nothing
    result = replication.apply_changes(ORIGIN, [entry("upsert", "venue", pk, 2), entry("delete", "venue", pk, 3)])
    assert (result.upserted, result.deleted) == (0, 0)
    assert visible(record_type="venue") == []
    # published again at the origin (a newer version): back
    replication.apply_changes(ORIGIN, [entry("upsert", "venue", pk, 4)])
    assert [r.version for r in visible(record_type="venue")] == [4]


@pytest.mark.django_db
def test_a_tombstone_seen_first_blocks_the_upsert_that_arrives_late() -> None:
    pk = uuid.uuid4()
    replication.apply_changes(ORIGIN, [entry("delete", "production", pk, 7)])
    replication.apply_changes(ORIGIN, [entry("upsert", "production", pk, 6, {"title": "Trop tard"})])
    assert visible(record_type="production") == []
    assert row("production", pk).version == 7


@pytest.mark.django_db
def test_a_member_cannot_write_another_nodes_records() -> None:
    mine, theirs = uuid.uuid4(), uuid.uuid4()
    replication.apply_changes(OTHER, [entry("upsert", "venue", theirs, 1, origin=OTHER)])
    result = replication.apply_changes(
        ORIGIN,
        [
            entry("upsert", "venue", theirs, 9, {"name": "Détourné"}, origin=OTHER),  # OTHER's URI, sent by ORIGIN
            entry("delete", "venue", theirs, 10, origin=OTHER),
            {"op": "upsert", "type": "venue", "id": f"{ORIGIN}/id/venue/{mine}", "uuid": str(uuid.uuid4()),
             "version": 1, "record": {}},  # uuid and URI disagree
            {"op": "upsert", "type": "venue", "id": f"{ORIGIN}/id/venue/{mine}", "uuid": str(mine), "version": -1},
            "pas une entrée",
        ],
    )  # fmt: skip
    assert (result.refused, result.upserted, result.deleted) == (5, 0, 0)
    kept = row("venue", theirs, OTHER)
    assert (kept.version, kept.title, kept.origin) == (1, "v1", OTHER)
    assert not IndexedRecord.objects.filter(origin=ORIGIN).exists()


@pytest.mark.django_db
def test_a_directory_entry_keeps_its_consent_scope_and_availability() -> None:
    pk, owner = uuid.uuid4(), uuid.uuid4()
    expiry = "2027-06-30T22:00:00Z"
    record = {
        "id": str(pk),
        "uri": f"{ORIGIN}/id/directory-entry/{pk}",
        "version": 2,
        "owner": str(owner),
        "display_name": "Élise Lumière",
        "trades": ["regisseur_lumiere"],
        "skills": ["Console GrandMA"],
        "availability": [{"start": "2027-03-01", "end": "2027-03-31"}, {"start": "2027-05-01", "end": "2027-05-02"}],
        "consent": {
            "fields": ["availability", "display_name", "skills", "trades"],
            "purposes": ["programming", "recruitment"],
            "expires_at": expiry,
        },
    }
    replication.apply_changes(ORIGIN, [entry("upsert", "directory-entry", pk, 2, record, owner=owner)])
    indexed = row("directory-entry", pk)
    assert indexed.consent == record["consent"]
    assert indexed.expires_at == dt.datetime(2027, 6, 30, 22, tzinfo=dt.UTC)
    assert indexed.owner_id == owner
    assert indexed.owner_uri == f"{ORIGIN}/id/organisation/{owner}"
    assert indexed.title == "Élise Lumière"
    assert "|name=elise lumiere|" in indexed.text
    assert "|skill=console grandma|" in indexed.text
    assert index.tag("trade", "regisseur_lumiere") in indexed.tags
    assert "|avail|" in indexed.text
    windows = sorted(IndexedAvailability.objects.filter(record=indexed).values_list("start", "end"))
    assert windows == [(dt.date(2027, 3, 1), dt.date(2027, 3, 31)), (dt.date(2027, 5, 1), dt.date(2027, 5, 2))]
    # a new version replaces the windows; the tombstone removes them and the consent
    record = {**record, "version": 3, "availability": [{"start": "2028-01-01", "end": "2028-01-31"}]}
    replication.apply_changes(ORIGIN, [entry("upsert", "directory-entry", pk, 3, record, owner=owner)])
    assert list(IndexedAvailability.objects.values_list("start", flat=True)) == [dt.date(2028, 1, 1)]
    replication.apply_changes(ORIGIN, [entry("delete", "directory-entry", pk, 4, owner=owner)])
    assert not IndexedAvailability.objects.exists()
    assert (row("directory-entry", pk).consent, row("directory-entry", pk).data) == ({}, {})


@pytest.mark.django_db
def test_an_entry_without_a_readable_consent_is_never_shown() -> None:
    bare, broken = uuid.uuid4(), uuid.uuid4()
    replication.apply_changes(
        ORIGIN,
        [
            entry("upsert", "directory-entry", bare, 1, {"display_name": "Sans consentement"}),
            entry("upsert", "directory-entry", broken, 1, {"display_name": "X", "consent": {"expires_at": "demain"}}),
        ],
    )
    assert IndexedRecord.objects.filter(record_type="directory-entry").count() == 2
    assert visible(record_type="directory-entry") == []


@pytest.mark.django_db
def test_facets_follow_the_records_they_show() -> None:
    producer, venue, hall, sheet, production, show = (uuid.uuid4() for _ in range(6))
    replication.apply_changes(
        ORIGIN,
        [
            entry("upsert", "organisation", producer, 1, {"name": "Cie des Essais", "siret": "73282932000074"},
                  owner=producer),
            entry("upsert", "venue", venue, 1, {"name": "Le Quai", "city": "Angers", "region": "Pays de la Loire",
                                                "departement": "49", "venue_type": "theatre"}, owner=producer),
            entry("upsert", "technical-sheet", sheet, 1, {"hall": str(hall), "venue": str(venue),
                                                          "proscenium_opening_m": "11.50",
                                                          "height_under_grid_m": "16.00"}, owner=producer),
            entry("upsert", "hall", hall, 1, {"name": "Salle T900", "venue": str(venue), "seated_capacity": 900,
                                              "technical_sheet": str(sheet)}, owner=producer),
            entry("upsert", "production", production, 1, {"title": "L’Avare", "discipline": "theatre",
                                                          "producer": str(producer)}, owner=producer),
            entry("upsert", "performance", show, 1, {"production": str(production), "hall": str(hall),
                                                     "venue": str(venue), "start": "2027-02-03T20:30:00+01:00",
                                                     "status": "scheduled", "capacity": 850}, owner=producer),
        ],
    )  # fmt: skip
    assert row("production", production).dedupe_key == "production:l avare|siret:73282932000074"
    assert row("production", production).owner_name == "Cie des Essais"
    performance = row("performance", show)
    assert (performance.title, performance.discipline, performance.region, performance.departement) == (
        "L’Avare", "theatre", "Pays de la Loire", "49",
    )  # fmt: skip
    assert performance.starts_at == dt.datetime(2027, 2, 3, 19, 30, tzinfo=dt.UTC)
    assert performance.parent_uri == f"{ORIGIN}/id/production/{production}"
    assert performance.place_uri == f"{ORIGIN}/id/hall/{hall}"
    indexed_hall = row("hall", hall)
    assert (indexed_hall.capacity, indexed_hall.proscenium_opening_m) == (900, Decimal("11.50"))
    assert indexed_hall.parent_uri == f"{ORIGIN}/id/venue/{venue}"
    assert index.tag("venue_type", "theatre") in row("venue", venue).tags
    # the venue moves region and the sheet changes: the rows showing them follow at once
    replication.apply_changes(
        ORIGIN,
        [
            entry("upsert", "venue", venue, 2, {"name": "Le Quai CDN", "city": "Angers", "region": "Bretagne",
                                                "departement": "35"}, owner=producer),
            entry("upsert", "technical-sheet", sheet, 2, {"hall": str(hall), "venue": str(venue),
                                                          "proscenium_opening_m": "12.00"}, owner=producer),
            entry("upsert", "production", production, 2, {"title": "L'Avare (reprise)", "discipline": "theatre",
                                                          "producer": str(producer)}, owner=producer),
        ],
    )  # fmt: skip
    performance = row("performance", show)
    assert (performance.region, performance.departement, performance.title) == ("Bretagne", "35", "L'Avare (reprise)")
    assert row("hall", hall).title == "Le Quai CDN — Salle T900"
    assert row("hall", hall).proscenium_opening_m == Decimal("12.00")
    assert row("hall", hall).version == 1  # recomputed, not replaced


@pytest.mark.django_db
def test_rows_name_their_owner_even_when_it_arrives_late_or_is_renamed() -> None:
    owner, venue, production = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    replication.apply_changes(
        ORIGIN,
        [
            entry("upsert", "venue", venue, 1, {"name": "Le Quai"}, owner=owner),
            entry("upsert", "production", production, 1, {"title": "Ondine", "producer": str(owner)}, owner=owner),
        ],
    )
    assert row("venue", venue).owner_name == ""
    assert row("production", production).dedupe_key == f"production:ondine|{ORIGIN}/id/organisation/{owner}"
    replication.apply_changes(ORIGIN, [entry("upsert", "organisation", owner, 1, {"name": "Théâtre A"}, owner=owner)])
    assert {r.owner_name for r in visible()} == {"Théâtre A"}
    renamed = {"name": "Théâtre B", "siret": "73282932000074"}
    replication.apply_changes(ORIGIN, [entry("upsert", "organisation", owner, 2, renamed, owner=owner)])
    assert {r.owner_name for r in visible()} == {"Théâtre B"}
    assert row("production", production).dedupe_key == "production:ondine|siret:73282932000074"


# ---------------------------------------------------------------------------- notices


@pytest.mark.django_db
def test_the_handlers_are_registered_with_the_notices_module() -> None:
    registered = notices.handlers()
    for kind in ("changes.available", "consent.withdrawn", "agreement.revoked"):
        assert registered[kind] is replication.NOTICE_HANDLERS[kind]


@pytest.mark.django_db
def test_a_consent_withdrawal_removes_the_person_at_once_then_pulls(django_capture_on_commit_callbacks: Any) -> None:
    pk = uuid.uuid4()
    record = {
        "display_name": "Nina Plateau",
        "availability": [{"start": "2027-01-01", "end": "2027-01-31"}],
        "consent": {"fields": ["display_name", "availability"], "purposes": ["programming"], "expires_at": None},
    }
    replication.apply_changes(ORIGIN, [entry("upsert", "directory-entry", pk, 4, record)])
    assert len(visible(record_type="directory-entry")) == 1
    notice = {"id": str(uuid.uuid4()), "kind": "consent.withdrawn", "origin": ORIGIN,
              "payload": {"target": f"{ORIGIN}/id/directory-entry/{pk}", "status": "withdrawn"}}  # fmt: skip

    with django_capture_on_commit_callbacks(execute=False) as scheduled:
        receipt = notices.receive(notice, sender(ORIGIN))

    assert receipt.status == "accepted"
    assert visible(record_type="directory-entry") == []  # gone before any pull
    assert not IndexedAvailability.objects.exists()
    assert row("directory-entry", pk).version == 4  # the origin's tombstone (version 5) still applies
    assert len(scheduled) == 1  # the pull of the sender's feed, after commit
    # the replayed upsert of the same version does not bring the person back; the tombstone applies
    replication.apply_changes(ORIGIN, [entry("upsert", "directory-entry", pk, 4, record)])
    assert visible(record_type="directory-entry") == []
    assert replication.apply_changes(ORIGIN, [entry("delete", "directory-entry", pk, 5)]).deleted == 1


@pytest.mark.django_db
def test_a_withdrawal_naming_another_nodes_record_is_ignored() -> None:
    pk = uuid.uuid4()
    replication.apply_changes(OTHER, [entry("upsert", "venue", pk, 1, origin=OTHER)])
    outcome = replication.on_consent_withdrawn({"payload": {"target": f"{OTHER}/id/venue/{pk}"}}, sender(ORIGIN))
    assert outcome.startswith("ignored")
    assert len(visible(origin=OTHER)) == 1


@pytest.mark.django_db
def test_a_revoked_agreement_drops_that_owners_dataset_from_that_origin() -> None:
    owner, other_owner = uuid.uuid4(), uuid.uuid4()
    venues = [uuid.uuid4() for _ in range(3)]
    replication.apply_changes(
        ORIGIN,
        [
            entry("upsert", "venue", venues[0], 1, owner=owner),
            entry("upsert", "venue", venues[1], 1, owner=other_owner),
            entry("upsert", "production", uuid.uuid4(), 1, owner=owner),
        ],
    )
    replication.apply_changes(OTHER, [entry("upsert", "venue", venues[2], 1, owner=owner, origin=OTHER)])
    outcome = replication.on_agreement_revoked({"payload": {"owner": str(owner), "dataset": "venue"}}, sender(ORIGIN))
    assert outcome.startswith("removed 1")
    assert {(r.origin, r.record_type, r.owner_id) for r in visible()} == {
        (ORIGIN, "venue", other_owner),
        (ORIGIN, "production", owner),
        (OTHER, "venue", owner),
    }


# ---------------------------------------------------------------------------- read-only replicas


@pytest.mark.django_db
def test_a_write_to_a_replica_is_refused_with_its_origin(staff_client: Any, structure: Any) -> None:
    pk = uuid.uuid4()
    replication.apply_changes(ORIGIN, [entry("upsert", "venue", pk, 1, {"name": "Réplique", "city": "Brest"})])
    url = f"/api/v1/venues/{pk}/"
    for method, body in (("put", {"name": "X", "city": "Y"}), ("patch", {"name": "X"}), ("delete", None)):
        answer = getattr(staff_client, method)(url, body, format="json")
        assert answer.status_code == 409, (method, answer.content)
        assert answer.json()["error"] == "replica_read_only"
        assert answer.json()["origin"] == ORIGIN
        assert "nœud d'origine" in answer.json()["detail"]
    assert staff_client.get(url).status_code == 404  # reading: this node has no such record of its own
    assert row("venue", pk).title == "Réplique"  # untouched
    # a record of this node is written as usual; a replica's tombstone is no replica any more
    local = VenueFactory(owner=structure)
    assert staff_client.patch(f"/api/v1/venues/{local.pk}/", {"name": "Nouveau nom"}, format="json").status_code == 200
    replication.apply_changes(ORIGIN, [entry("delete", "venue", pk, 2)])
    assert staff_client.patch(url, {"name": "X"}, format="json").status_code == 404


@pytest.mark.django_db
def test_a_write_to_a_replicated_directory_entry_is_refused_with_its_origin(staff_client: Any) -> None:
    pk = uuid.uuid4()
    consent = {"fields": ["display_name"], "purposes": ["professional_directory"], "expires_at": None}
    replication.apply_changes(
        ORIGIN, [entry("upsert", "directory-entry", pk, 1, {"display_name": "Réplique", "consent": consent})]
    )
    url = f"/api/v1/directory/entries/{pk}/"
    for method, body in (("patch", {"display_name": "X"}), ("delete", None)):
        answer = getattr(staff_client, method)(url, body, format="json")
        assert answer.status_code == 409, (method, answer.content)
        assert answer.json()["error"] == "replica_read_only"
        assert answer.json()["origin"] == ORIGIN
    assert row("directory-entry", pk).title == "Réplique"  # untouched


@pytest.mark.django_db
def test_anonymous_writes_to_a_replica_are_refused_before_anything_is_told(anon_client: Any) -> None:
    pk = uuid.uuid4()
    replication.apply_changes(ORIGIN, [entry("upsert", "venue", pk, 1)])
    answer = anon_client.patch(f"/api/v1/venues/{pk}/", {"name": "X"}, format="json")
    assert answer.status_code == 401
    assert "origin" not in answer.json()


# ---------------------------------------------------------------------------- push notices (origin side)


def notices_to(registry: str, *states: str) -> list[OutboxMessage]:
    found = OutboxMessage.objects.filter(kind="changes.available", destination=registry)
    return list(found.filter(state__in=states) if states else found)


@pytest.mark.django_db
def test_a_transaction_announces_its_changes_once(settings: Any) -> None:
    settings.FEDERATION_REGISTRY_URL = "https://registre.example"
    OrganisationFactory()
    VenueFactory()
    ProductionFactory()
    [notice] = notices_to("https://registre.example")
    assert notice.state == "pending"
    assert notice.payload["node"] == settings.NODE_BASE_URL.rstrip("/")


@pytest.mark.django_db(transaction=True)
def test_an_unsent_notice_is_reused_and_one_taken_meanwhile_is_followed_by_a_new_one(settings: Any) -> None:
    registry = f"http://127.0.0.1:{free_port()}"  # nobody listens: what is sent fails
    settings.FEDERATION_REGISTRY_URL = registry
    waiting = OutboxMessage.objects.create(kind="changes.available", destination=registry, payload={})
    VenueFactory()
    assert notices_to(registry) == [waiting]  # reused: it will be sent after this commit
    with transaction.atomic():
        ProductionFactory()
        # a sender takes the notice before the change commits (its claim moves the next attempt ahead)
        OutboxMessage.objects.filter(pk=waiting.pk).update(next_attempt_at=timezone.now() + dt.timedelta(minutes=1))
    assert len(notices_to(registry)) == 2  # told again after the commit


@pytest.mark.django_db(transaction=True)
def test_a_failed_notice_does_not_hold_back_the_next_ones(settings: Any) -> None:
    registry = f"http://127.0.0.1:{free_port()}"  # the registry is down: every delivery fails
    settings.FEDERATION_REGISTRY_URL = registry
    with transaction.atomic():
        OrganisationFactory()
        VenueFactory()
    [first] = notices_to(registry)
    assert first.state == "failed"  # tried at once after the commit, waiting for its backoff
    ProductionFactory()  # a new change: a new notice, tried at once; the failed one is superseded
    [current] = notices_to(registry, "pending", "failed")
    assert current.pk != first.pk
    superseded = OutboxMessage.objects.get(pk=first.pk)
    assert (superseded.state, superseded.last_error) == ("dead", "superseded by a newer changes.available notice")
    # delivered: the next change announces again
    OutboxMessage.objects.update(state=OutboxMessage.State.DELIVERED)
    ProductionFactory()
    assert len(notices_to(registry, "pending", "failed")) == 1


@pytest.mark.django_db
def test_no_registry_or_being_the_registry_announces_nothing(settings: Any) -> None:
    settings.FEDERATION_REGISTRY_URL = ""
    VenueFactory()
    settings.FEDERATION_REGISTRY_URL = settings.NODE_BASE_URL
    VenueFactory()
    assert not OutboxMessage.objects.filter(kind="changes.available").exists()


# ---------------------------------------------------------------------------- this node's own index


@pytest.mark.django_db
def test_index_local_indexes_the_nodes_records_like_the_feed(settings: Any, django_assert_max_num_queries: Any) -> None:
    owner = OrganisationFactory(name="Théâtre Local")
    performance = PerformanceFactory(owner=owner, production__owner=owner, production__title="Électre")
    TechnicalSheetFactory(hall=performance.hall, owner=owner)
    entry_record = DirectoryEntryFactory(owner=owner, display_name="Zoé Régie")
    grant_entry_consent(entry_record, ["display_name", "trades"])
    own = settings.NODE_BASE_URL.rstrip("/")

    result = replication.index_local()

    assert result["status"] == "ok"
    assert result["upserted"] >= 7
    show = row("performance", performance.pk, own)
    assert (show.title, show.region) == ("Électre", "Auvergne-Rhône-Alpes")
    person = row("directory-entry", entry_record.pk, own)
    assert set(person.data) == {"id", "uri", "version", "owner", "display_name", "trades", "consent"}
    assert person.consent["fields"] == ["display_name", "trades"]
    assert person.consent["purposes"] == ["professional_directory"]
    assert row("hall", performance.hall.pk, own).height_under_grid_m == Decimal("14.00")
    # nothing new: a few queries, nothing written
    with django_assert_max_num_queries(3):
        again = replication.index_local()
    assert (again["status"], again["pages"]) == ("ok", 0)
    # a withdrawal at the origin: the next indexing leaves a tombstone marker
    [consent] = consent_services.active_consents("directory-entry", entry_record.pk)
    consent_services.withdraw_consent(consent)
    replication.index_local()
    assert not visible(record_type="directory-entry")


@pytest.mark.django_db
def test_index_local_leaves_out_hidden_records(settings: Any, staff_user: Any) -> None:
    from policies.controls import hide_record

    owner = OrganisationFactory()
    shown, hidden = VenueFactory(owner=owner), VenueFactory(owner=owner)
    replication.index_local()
    hide_record(owner, "venue", hidden.pk, by=staff_user)
    replication.index_local()
    assert {r.record_id for r in visible(record_type="venue")} == {shown.pk}


# ---------------------------------------------------------------------------- leases


@pytest.mark.django_db
def test_a_member_being_pulled_is_not_pulled_twice() -> None:
    calls: list[dict[str, str]] = []

    def fetch(base_url: str, params: dict[str, str]) -> httpx.Response:
        calls.append(params)
        return httpx.Response(200, json={"changes": [], "next": "c0", "has_more": False})

    SyncState.objects.create(node=ORIGIN, leased_until=timezone.now() + dt.timedelta(minutes=1))
    assert replication.sync_node(ORIGIN, fetch=fetch) == {"node": ORIGIN, "status": "busy"}
    assert calls == []
    # an expired lease (a crashed run) is taken over
    SyncState.objects.filter(node=ORIGIN).update(leased_until=timezone.now() - dt.timedelta(seconds=1))
    assert replication.sync_node(ORIGIN, fetch=fetch)["status"] == "ok"
    state = SyncState.objects.get(node=ORIGIN)
    assert (state.cursor, state.leased_until, state.last_error) == ("c0", None, "")
    assert state.last_success_at is not None
    assert state.last_success_at >= state.last_attempt_at


@pytest.mark.django_db(transaction=True)
def test_a_run_that_lost_its_lease_writes_nothing_more() -> None:
    venue = uuid.uuid4()

    def fetch(base_url: str, params: dict[str, str]) -> httpx.Response:
        # another run takes the node over while this one is fetching
        SyncState.objects.filter(node=ORIGIN).update(leased_until=timezone.now() + dt.timedelta(minutes=5))
        return httpx.Response(200, json={"changes": [entry("upsert", "venue", venue, 1)], "next": "c1",
                                         "has_more": False})  # fmt: skip

    answer = replication.sync_node(ORIGIN, fetch=fetch)
    assert answer["status"] == "error"
    assert "LeaseLost" in answer["error"]
    assert not IndexedRecord.objects.exists()
    assert SyncState.objects.get(node=ORIGIN).cursor == ""


# ---------------------------------------------------------------------------- pulling over real HTTP


@pytest.fixture
def node(live_server: Any, settings: Any) -> Iterator[str]:
    """The live server is the member; this node pulls it through NodeClient (signed calls, a
    private_key_jwt token), as registered by membership."""
    settings.NODE_BASE_URL = live_server.url
    node_signing_key()
    peers.clear_cache()
    node_client.forget_tokens()
    Client.objects.create(
        client_id=live_server.url,
        name="Registre",
        owner=OrganisationFactory(name="Registre"),
        kind="reader",
        allowed_scopes=["federation:sync"],
        grant_types=["client_credentials"],
        token_endpoint_auth_method="private_key_jwt",
        jwks_uri=f"{live_server.url}/.well-known/jwks.json",
    )
    yield live_server.url
    node_client.forget_tokens()
    peers.clear_cache()


def published_venues(count: int) -> list[Any]:
    owner = OrganisationFactory(name="Scène de Test")
    venues = [VenueFactory(owner=owner, name=f"Lieu {n}") for n in range(count)]
    agree_to_everything_published()
    return venues


def uris(origin: str, record_type: str) -> set[str]:
    return {r.uri for r in visible(origin=origin, record_type=record_type)}


@pytest.mark.django_db(transaction=True)
def test_a_member_is_pulled_page_by_page_then_follows_changes_and_deletions(node: str) -> None:
    venues = published_venues(7)

    first = replication.sync_node(node, limit=3)

    assert first["status"] == "ok", first
    assert first["pages"] >= 3
    assert uris(node, "venue") == {v.uri for v in venues}
    assert {r.owner_name for r in visible(record_type="venue")} == {"Scène de Test"}
    state = SyncState.objects.get(node=node)
    assert state.cursor
    assert state.last_error == ""
    assert state.leased_until is None
    # the origin changes one venue and deletes another: the next pull follows
    venues[0].name = "Lieu renommé"
    venues[0].save()
    gone = venues[1].uri
    venues[1].delete()
    second = replication.sync_node(node, limit=3)
    assert (second["upserted"], second["deleted"]) == (1, 1)
    assert row("venue", venues[0].pk, node).title == "Lieu renommé"
    assert gone not in uris(node, "venue")
    # nothing new: nothing written
    third = replication.sync_node(node)
    assert (third["status"], third["upserted"], third["deleted"]) == ("ok", 0, 0)


def settled_fetch(base_url: str, params: dict[str, str]) -> httpx.Response:
    """Fetch a page, then wait until the live server's thread has left its transaction: on SQLite,
    pytest-django's live server shares this thread's in-memory connection, and the next page's
    transaction must not start inside the server's (a test-harness race, not the code's)."""
    from django.db import connection

    response = replication.fetch_changes(base_url, params)
    deadline = time.monotonic() + 5
    while connection.in_atomic_block and time.monotonic() < deadline:
        time.sleep(0.01)
    return response


@pytest.mark.django_db(transaction=True)
def test_a_pull_interrupted_by_the_network_resumes_from_its_cursor(node: str) -> None:
    venues = published_venues(6)
    seen: list[str] = []

    def flaky(base_url: str, params: dict[str, str]) -> httpx.Response:
        seen.append(params.get("since", ""))
        if len(seen) == 2:
            raise node_client.PeerUnreachable(base_url, "connexion coupée (panne injectée)")
        return settled_fetch(base_url, params)

    broken = replication.sync_node(node, fetch=flaky, limit=2)

    assert broken["status"] == "error"
    assert "panne injectée" in broken["error"]
    state = SyncState.objects.get(node=node)
    assert "panne injectée" in state.last_error
    assert state.leased_until is None
    assert state.last_success_at is None
    assert IndexedRecord.objects.filter(origin=node).count() == 2  # the first page, with its cursor
    resumed_from = state.cursor
    assert resumed_from == seen[1]

    seen.clear()
    resumed = replication.sync_node(node, fetch=flaky, limit=2)  # its second call fails again…

    assert seen[0] == resumed_from  # …but it started where the last run stopped
    assert resumed["status"] == "error"
    final = replication.sync_node(node, fetch=settled_fetch, limit=2)
    assert final["status"] == "ok"
    assert uris(node, "venue") == {v.uri for v in venues}
    assert SyncState.objects.get(node=node).last_error == ""


@pytest.mark.django_db(transaction=True)
def test_a_crash_while_a_page_is_written_rolls_back_the_page_and_its_cursor(
    node: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    venues = published_venues(5)
    real_apply = replication.apply_changes
    applied: list[int] = []

    def crash_on_second_page(origin: str, entries: Any, **kwargs: Any) -> replication.ApplyResult:
        result = real_apply(origin, entries, **kwargs)  # the rows are written…
        applied.append(result.upserted)
        if len(applied) == 2:
            raise RuntimeError("crash injecté après l'écriture de la page")  # …then the worker dies
        return result

    monkeypatch.setattr(replication, "apply_changes", crash_on_second_page)
    with pytest.raises(RuntimeError):
        replication.sync_node(node, limit=2)
    monkeypatch.undo()

    state = SyncState.objects.get(node=node)
    assert IndexedRecord.objects.filter(origin=node).count() == 2  # the second page went with its transaction
    assert "crash injecté" in state.last_error
    assert state.leased_until is None
    after_first_page = state.cursor
    replication.sync_node(node, limit=2)
    assert uris(node, "venue") == {v.uri for v in venues}
    assert SyncState.objects.get(node=node).cursor != after_first_page


@pytest.mark.django_db(transaction=True)
def test_a_refused_cursor_reads_the_feed_again_from_the_start(node: str, caplog: Any) -> None:
    venues = published_venues(3)
    replication.apply_changes(node, [entry("upsert", "venue", uuid.uuid4(), 1, origin=node)])  # not at the origin
    SyncState.objects.create(node=node, cursor="pas-un-curseur-de-ce-noeud")

    answer = replication.sync_node(node)

    assert answer["status"] == "ok"
    assert uris(node, "venue") == {v.uri for v in venues}  # the stale row went with the re-read
    assert "reading its feed again from the start" in caplog.text


@pytest.mark.django_db(transaction=True)
def test_a_withdrawn_consent_leaves_the_index_through_the_feed(node: str) -> None:
    owner = OrganisationFactory(name="Compagnie Test")
    person = DirectoryEntryFactory(owner=owner, display_name="Léa Son", region="Bretagne")
    grant_entry_consent(
        person, ["display_name", "region", "availability"], expires_at=timezone.now() + dt.timedelta(days=30)
    )
    agree_to_everything_published()

    assert replication.sync_node(node)["status"] == "ok"
    indexed = row("directory-entry", person.pk, node)
    assert set(indexed.data) == {"id", "uri", "version", "owner", "display_name", "region", "availability", "consent"}
    assert indexed.consent["fields"] == ["availability", "display_name", "region"]
    assert indexed.consent["purposes"] == ["professional_directory"]
    assert indexed.expires_at is not None
    assert indexed.expires_at > timezone.now()
    assert IndexedAvailability.objects.filter(record=indexed).count() == 1

    [consent] = consent_services.active_consents("directory-entry", person.pk)
    consent_services.withdraw_consent(consent)
    assert replication.sync_node(node)["deleted"] == 1
    assert not visible(record_type="directory-entry")
    assert not IndexedAvailability.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_the_federation_sync_command(node: str) -> None:
    from io import StringIO

    from django.core.management import CommandError, call_command

    venues = published_venues(2)
    out = StringIO()
    call_command("federation_sync", "--node", node, "--local", stdout=out)
    assert f"{node} : ok" in out.getvalue()
    assert uris(node, "venue") == {v.uri for v in venues}
    out = StringIO()
    call_command("federation_sync", "--node", node, "--reset", stdout=out)
    assert "ligne(s) oubliée(s)" in out.getvalue()
    assert uris(node, "venue") == {v.uri for v in venues}
    with pytest.raises(CommandError, match="--reset"):
        call_command("federation_sync", "--reset")
    closed = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(CommandError, match="Replication failed"):
        call_command("federation_sync", "--node", closed, stdout=StringIO())
    assert "PeerUnreachable" in SyncState.objects.get(node=closed).last_error


# ---------------------------------------------------------------------------- who replicates whom


@pytest.mark.django_db
def test_only_the_registry_copies_other_nodes_every_node_indexes_its_own(settings: Any, structure: Any) -> None:
    from federation.models import Peer

    unreachable = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    Peer.objects.create(base_url=unreachable, name="structure-x", roles=["structure"], jwks={"keys": []}, kids=[])
    VenueFactory(owner=structure)
    settings.NODE_ROLES = ["structure"]
    outcome = replication.sync_all()
    assert outcome["nodes"] == []  # a structure never copies another structure's data
    assert not SyncState.objects.filter(node=unreachable).exists()
    assert outcome["local"]["status"] == "ok", outcome["local"]
    assert IndexedRecord.objects.filter(origin=settings.NODE_BASE_URL.rstrip("/"), record_type="venue").exists()
    settings.NODE_ROLES = ["registry"]
    outcome = replication.sync_all()
    assert [result["node"] for result in outcome["nodes"]] == [unreachable]
    assert outcome["nodes"][0]["status"] == "error"  # tried, failed, recorded
    assert SyncState.objects.get(node=unreachable).last_error
