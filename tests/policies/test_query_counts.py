"""Query counts of the policy-guarded list endpoints: at most the unguarded endpoint + 3, flat in
the page size (10 vs 100). The unguarded baseline is the same viewset with `policy_enforced` off.

The journal duty's own writes (one entry per owner and request: lock, head read, insert) are an
obligation carried out, not the guard: they are counted apart and must not grow with the page.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from dataspace.referentials.api.views import PerformanceViewSet, VenueViewSet
from tests.directory.factories import LicenceFactory, ProfessionalAccountFactory
from tests.factories import OrganisationFactory, PerformanceFactory, VenueFactory
from tests.policies.pdp_support import fresh_policy_cache, save  # noqa: F401 - autouse fixture

pytestmark = pytest.mark.django_db

GUARD_BUDGET = 3


def count(call: Callable[[], Any]) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = call()
    assert response.status_code == 200, getattr(response, "content", b"")[:300]
    return len(queries)


def guarded_and_unguarded(viewset: Any, call: Callable[[], Any], monkeypatch: Any) -> tuple[int, int]:
    call()  # warm caches (compiled policies, content types) outside the measure
    guarded = count(call)
    monkeypatch.setattr(viewset, "policy_enforced", False)
    unguarded = count(call)
    monkeypatch.setattr(viewset, "policy_enforced", True)
    return guarded, unguarded


@pytest.fixture
def owners() -> list[Any]:
    """Three owners with 40 venues each: a licensed-only one, a partners-only one, a public one."""
    organisations = [OrganisationFactory() for _ in range(3)]
    for organisation in organisations:
        for _ in range(40):
            VenueFactory(owner=organisation)
    return organisations


@pytest.fixture
def licensed_reader(bearer_client: Any) -> APIClient:
    account = ProfessionalAccountFactory()
    LicenceFactory(organisation=account.organisation, category=2)
    client: APIClient = bearer_client("referentials:read", kind="reader", user=account.user)
    return client


@pytest.mark.parametrize("page_size", [10, 100])
def test_anonymous_public_list(owners: list[Any], monkeypatch: Any, page_size: int) -> None:
    api = APIClient()
    guarded, unguarded = guarded_and_unguarded(
        VenueViewSet, lambda: api.get(f"/api/v1/venues/?page_size={page_size}"), monkeypatch
    )
    assert guarded <= unguarded + GUARD_BUDGET, (guarded, unguarded)


@pytest.mark.parametrize("page_size", [10, 100])
def test_licensed_professional_under_policies(
    owners: list[Any], licensed_reader: APIClient, monkeypatch: Any, settings: Any, page_size: int
) -> None:
    settings.JOURNAL_ENABLED = False  # the journal's writes are counted in the test below
    save(owners[0], templates=[{"name": "licensed_only"}])
    save(owners[1], templates=[{"name": "named_partners", "organisations": [str(OrganisationFactory().pk)]}])
    url = f"/api/v1/venues/?page_size={page_size}&purpose=programming"
    guarded, unguarded = guarded_and_unguarded(VenueViewSet, lambda: licensed_reader.get(url), monkeypatch)
    assert guarded <= unguarded + GUARD_BUDGET, (guarded, unguarded)


def test_guarded_list_is_flat_in_the_page_size_with_the_journal(owners: list[Any], licensed_reader: APIClient) -> None:
    save(owners[0], templates=[{"name": "licensed_only"}])
    owner = owners[0].pk  # one owner, hence one journal entry, whatever the page holds

    def page(size: int) -> Callable[[], Any]:
        return lambda: licensed_reader.get(f"/api/v1/venues/?page_size={size}&purpose=programming&owner={owner}")

    page(10)()
    assert count(page(10)) == count(page(100))


def test_purpose_check_costs_no_query(
    owners: list[Any], licensed_reader: APIClient, monkeypatch: Any, settings: Any
) -> None:
    settings.JOURNAL_ENABLED = False
    save(owners[0], templates=[{"name": "licensed_only"}])
    url = "/api/v1/venues/?page_size=10&city=Nowhere"  # nothing restricted in the result: no 400
    guarded, unguarded = guarded_and_unguarded(VenueViewSet, lambda: licensed_reader.get(url), monkeypatch)
    assert guarded <= unguarded + GUARD_BUDGET, (guarded, unguarded)


@pytest.mark.parametrize("page_size", [10, 100])
def test_performances_for_a_machine_client(bearer_client: Any, monkeypatch: Any, page_size: int) -> None:
    owner = OrganisationFactory()
    for _ in range(30):
        PerformanceFactory(owner=owner, production__owner=owner)
    save(owner, "performance", templates=[{"name": "public"}, {"name": "no_redistribution"}])
    api = bearer_client("referentials:read", kind="reader")
    url = f"/api/v1/performances/?page_size={page_size}"
    guarded, unguarded = guarded_and_unguarded(PerformanceViewSet, lambda: api.get(url), monkeypatch)
    assert guarded <= unguarded + GUARD_BUDGET, (guarded, unguarded)
