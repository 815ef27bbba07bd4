"""The change feed's lean querysets (`feed_queryset` of the referential viewsets).

The feed loads each record type from a queryset holding only what its serializer reads (no owner
join, id-only prefetches, no ordering). These tests pin that this changes nothing in what the
feed serves — byte for byte, for every record type the API represents, on the demo data plus the
edge cases it lacks — and that it costs one query per record type plus its prefetches, flat in
the page size, fewer than the API's own querysets.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.renderers import JSONRenderer
from rest_framework.test import APIClient

from dataspace.records import services
from dataspace.records.api.serializers import api_representations, current_representations
from dataspace.records.models import Change
from dataspace.referentials import models as m
from dataspace.referentials.demo_data import seed_demo
from tests.consent.agreement_factories import agree_to_everything_published
from tests.directory.factories import DirectoryEntryFactory, grant_entry_consent
from tests.factories import (
    HallFactory,
    OrganisationFactory,
    PerformanceFactory,
    PersonFactory,
    ProductionFactory,
    SeasonFactory,
    TechnicalSheetFactory,
    VenueFactory,
    WorkFactory,
)

pytestmark = pytest.mark.django_db

URL = "/api/v1/changes"


def one_of_every_type(n: int) -> None:
    """One record of every type the API represents, with the relations their serializers emit
    (and the empty cases: a hall without a technical sheet, a venue without halls, an unpublished
    directory entry, a performance under option)."""
    owner = OrganisationFactory()
    venue = VenueFactory(owner=owner, operator=OrganisationFactory())
    VenueFactory(owner=owner)  # no halls
    hall, bare_hall = HallFactory.create_batch(2, venue=venue, owner=owner)  # bare_hall: no technical sheet
    TechnicalSheetFactory(hall=hall, owner=owner, documents=[{"title": "Plan", "url": "https://exemple.test/p.pdf"}])
    person = PersonFactory(owner=owner)
    work = WorkFactory(owner=owner)
    m.Contribution.objects.create(owner=owner, work=work, person=person, role="author", position=0)
    original = ProductionFactory(owner=owner, producer=owner)
    production = ProductionFactory(owner=owner, producer=owner, original_production=original)
    production.works.add(work, WorkFactory(owner=owner))
    production.coproducers.add(OrganisationFactory(), OrganisationFactory())
    production.save()  # the relations as a new version
    for position, role in enumerate(("director", "performer")):
        m.Contribution.objects.create(owner=owner, production=production, person=person, role=role, position=position)
    season = SeasonFactory(owner=owner, organiser=owner)
    PerformanceFactory(production=production, owner=owner, hall=hall, season=season, time_zone="America/Montreal")
    PerformanceFactory(production=original, owner=owner, hall=bare_hall, status=m.Performance.Status.OPTION)
    published = DirectoryEntryFactory(owner=owner, display_name=f"Éloïse Fictive {n}")
    grant_entry_consent(published, ["display_name", "trades", "region"])
    grant_entry_consent(published, ["skills"], expires_at=timezone.now() + dt.timedelta(days=30))
    DirectoryEntryFactory(owner=owner)  # no consent: not published


def feed_bytes(changes: Sequence[Change], *, lean: bool) -> bytes:
    """The feed's entries of `changes` as the view renders them, with the lean or the API's querysets."""
    representations = current_representations(changes, None, api_representations(lean=lean))
    entries = [
        services.change_entry(
            change, representations.get((change.record_type, change.record_id)) if change.op == "upsert" else None
        )
        for change in changes
    ]
    return bytes(JSONRenderer().render(entries))


def every_change() -> list[Change]:
    return list(Change.objects.order_by("seq"))


@pytest.fixture
def demo_like() -> list[Change]:
    seed_demo("structure-a")
    for n in range(2):
        one_of_every_type(n)
    return every_change()


def test_the_feed_keeps_the_api_serializers_and_loads_from_the_viewsets_feed_querysets() -> None:
    from dataspace.referentials.api.urls import ROUTES

    lean, api = api_representations(), api_representations(lean=False)
    assert set(lean) == set(api)
    for record_type, source in lean.items():
        assert source.serializer_class is api[record_type].serializer_class
    for _prefix, viewset in ROUTES:
        assert viewset.queryset is not None
        record_type = viewset.queryset.model.record_type
        assert viewset.feed_queryset is not None, record_type
        assert str(lean[record_type].queryset.query) == str(viewset.feed_queryset.query)  # type: ignore[union-attr]
        assert str(api[record_type].queryset.query) == str(viewset.queryset.query)  # type: ignore[union-attr]


def test_lean_querysets_give_the_same_feed_byte_for_byte(demo_like: list[Change]) -> None:
    present = {change.record_type for change in demo_like}
    assert set(api_representations()) <= present  # every represented type is in the data
    for record_type in sorted(present):
        changes = [change for change in demo_like if change.record_type == record_type]
        lean, api = feed_bytes(changes, lean=True), feed_bytes(changes, lean=False)
        assert json.loads(lean) == json.loads(api), record_type  # a readable difference first
        assert lean == api, record_type  # then byte for byte: member order, number and date forms
    assert feed_bytes(demo_like, lean=True) == feed_bytes(demo_like, lean=False)


def test_the_feed_served_is_the_api_querysets_representation(demo_like: list[Change], sync_client: APIClient) -> None:
    agree_to_everything_published()
    served: list[dict[str, Any]] = []
    since: str | None = None
    while True:
        response = sync_client.get(URL, {"limit": 1000, **({"since": since} if since else {})})
        assert response.status_code == 200, response.content
        served += response.json()["changes"]
        since = response.json()["next"]
        if not response.json()["has_more"]:
            break
    expected = json.loads(feed_bytes(every_change(), lean=False))  # with the reader's organisation
    assert [entry["uuid"] for entry in served] == [entry["uuid"] for entry in expected]
    assert served == expected
    assert {entry["type"] for entry in served if entry["record"] is not None} >= set(api_representations())


# ---------------------------------------------------------------------------- queries


def queries_to_represent(changes: Sequence[Change], *, lean: bool = True) -> int:
    sources = api_representations(lean=lean)
    with CaptureQueriesContext(connection) as captured:
        current_representations(changes, None, sources)
    return len(captured.captured_queries)


#: One query per record type (11), plus the lean prefetches: a venue's halls (1), a work's
#: contributions (1), a production's works, coproducers, revivals and contributions (4); plus a
#: directory entry's consented fields and the scope of its consents in force (2).
LEAN_QUERIES = 11 + 1 + 1 + 4 + 2


def test_one_query_per_type_and_prefetch_flat_in_page_size() -> None:
    for n in range(12):
        one_of_every_type(n)
    changes = every_change()
    first_round = changes[: len(changes) // 12]
    assert {change.record_type for change in first_round} == set(api_representations())
    assert queries_to_represent(first_round) == LEAN_QUERIES
    assert queries_to_represent(changes) == LEAN_QUERIES
    # the API's querysets: owner and relation joins, persons of the credits, works of a
    # performance's production — more queries for the same representations
    assert queries_to_represent(changes, lean=False) > LEAN_QUERIES


def test_feed_query_count_is_flat_in_page_size(sync_client: APIClient) -> None:
    for n in range(12):
        one_of_every_type(n)
    agree_to_everything_published()
    per_round = len(every_change()) // 12

    def queries_for(limit: int) -> int:
        with CaptureQueriesContext(connection) as captured:
            assert sync_client.get(URL, {"limit": limit}).status_code == 200
        return len(captured.captured_queries)

    queries_for(1)  # the policies compile once per process
    assert queries_for(per_round) == queries_for(per_round * 12)
