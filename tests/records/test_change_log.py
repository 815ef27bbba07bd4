"""The change log written by Record.save and the delete signal: what gets published, and how."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import IntegrityError, transaction

from dataspace.records.models import Change
from dataspace.referentials.models import Contribution, Performance, Production
from tests.factories import OrganisationFactory, PerformanceFactory, PersonFactory, ProductionFactory, WorkFactory

pytestmark = pytest.mark.django_db

Status = Performance.Status


def log_of(record: Any) -> list[tuple[str, int]]:
    return list(Change.objects.filter(record_id=record.pk).order_by("seq").values_list("op", "version"))


def test_create_update_delete_leave_upserts_then_a_tombstone_one_version_above() -> None:
    production = ProductionFactory()
    production.title = "Nouveau titre"
    production.save()
    pk = production.pk
    production.delete()
    assert list(Change.objects.filter(record_id=pk).values_list("op", "version")) == [
        ("upsert", 1),
        ("upsert", 2),
        ("delete", 3),
    ]


def test_tombstone_carries_uri_owner_and_type() -> None:
    production = ProductionFactory()
    uri, owner = production.uri, production.owner_id
    production.delete()
    tombstone = Change.objects.filter(op="delete").get()
    assert (tombstone.uri, tombstone.owner_id, tombstone.record_type) == (uri, owner, "production")


def test_self_described_organisation_is_its_own_owner_in_the_log() -> None:
    organisation = OrganisationFactory()
    assert Change.objects.get(record_id=organisation.pk).owner_id == organisation.pk


# ---------------------------------------------------------------------------- options never leave


def test_option_created_logs_nothing() -> None:
    performance = PerformanceFactory(status=Status.OPTION)
    assert log_of(performance) == []


def test_scheduled_then_option_is_a_tombstone() -> None:
    performance = PerformanceFactory(status=Status.SCHEDULED)
    performance.status = Status.OPTION
    performance.save()
    assert log_of(performance) == [("upsert", 1), ("delete", 2)]


def test_option_then_scheduled_is_an_upsert() -> None:
    performance = PerformanceFactory(status=Status.OPTION)
    performance.status = Status.SCHEDULED
    performance.save()
    assert log_of(performance) == [("upsert", 2)]


def test_option_edited_again_after_withdrawal_logs_nothing_more() -> None:
    performance = PerformanceFactory(status=Status.SCHEDULED)
    performance.status = Status.OPTION
    performance.save()
    performance.capacity = 10
    performance.save()
    assert log_of(performance) == [("upsert", 1), ("delete", 2)]


def test_delete_of_a_never_published_option_logs_nothing() -> None:
    performance = PerformanceFactory(status=Status.OPTION)
    pk = performance.pk
    performance.delete()
    assert not Change.objects.filter(record_id=pk).exists()


def test_delete_of_a_withdrawn_option_leaves_no_second_tombstone() -> None:
    performance = PerformanceFactory(status=Status.SCHEDULED)
    performance.status = Status.OPTION
    performance.save()
    pk = performance.pk
    performance.delete()
    assert list(Change.objects.filter(record_id=pk).values_list("op", flat=True)) == ["upsert", "delete"]


# ---------------------------------------------------------------------------- cascades and versions


def test_cascading_delete_tombstones_every_published_dependent() -> None:
    production = ProductionFactory()
    shown = PerformanceFactory.create_batch(2, production=production)
    option = PerformanceFactory(production=production, status=Status.OPTION)
    credit = Contribution.objects.create(
        owner=production.owner,
        production=production,
        person=PersonFactory(owner=production.owner),
        role=Contribution.Role.DIRECTOR,
    )
    production_pk = production.pk
    production.delete()
    tombstones = set(Change.objects.filter(op="delete").values_list("record_type", "record_id", "version"))
    assert tombstones == {
        ("production", production_pk, 2),
        ("contribution", credit.pk, 2),
        *{("performance", p.pk, 2) for p in shown},
    }
    assert not Change.objects.filter(record_id=option.pk).exists()


def test_tombstone_of_a_stale_instance_still_supersedes_the_last_published_version() -> None:
    production = ProductionFactory()
    stale = Production.objects.get(pk=production.pk)
    production.title = "v2"
    production.save()
    production.title = "v3"
    production.save()
    pk = production.pk
    stale.delete()  # loaded at version 1, deleted after version 3 was published
    assert Change.objects.filter(record_id=pk).order_by("-seq").values_list("op", "version").first() == ("delete", 4)


def test_partial_save_stores_the_bumped_version() -> None:
    performance = PerformanceFactory()
    performance.capacity = 12
    performance.save(update_fields=["capacity"])
    performance.refresh_from_db()
    assert performance.version == 2
    assert log_of(performance) == [("upsert", 1), ("upsert", 2)]


def test_empty_partial_save_changes_and_logs_nothing() -> None:
    performance = PerformanceFactory()
    performance.save(update_fields=[])
    assert log_of(performance) == [("upsert", 1)]
    assert performance.version == 1


def test_failed_save_logs_nothing_and_restores_the_version() -> None:
    first = PerformanceFactory()
    second = PerformanceFactory(production=first.production, hall=first.hall)
    second.start = first.start  # violates the (production, hall, start) stable key
    with pytest.raises(IntegrityError), transaction.atomic():
        second.save()
    assert second.version == 1
    assert log_of(second) == [("upsert", 1)]


# ---------------------------------------------------------------------------- many-to-many links


def _changes_of(record: Any) -> list[tuple[str, int]]:
    return list(Change.objects.filter(record_id=record.pk).order_by("seq").values_list("op", "version"))


def test_adding_a_work_to_a_production_is_a_new_version_in_the_feed() -> None:
    production = ProductionFactory()
    work = WorkFactory(owner=production.owner)
    production.works.add(work)
    production.refresh_from_db()
    assert production.version == 2
    assert _changes_of(production) == [("upsert", 1), ("upsert", 2)]


def test_link_changed_from_the_other_side_bumps_the_holder() -> None:
    production = ProductionFactory()
    partner = OrganisationFactory()
    partner.coproductions.add(production)
    production.refresh_from_db()
    assert production.version == 2
    partner.coproductions.clear()
    production.refresh_from_db()
    assert production.version == 3
    assert _changes_of(production)[-1] == ("upsert", 3)


def test_adding_nothing_new_writes_no_change() -> None:
    production = ProductionFactory()
    work = WorkFactory(owner=production.owner)
    production.works.add(work)
    production.works.add(work)  # already linked: nothing changes
    production.refresh_from_db()
    assert production.version == 2
