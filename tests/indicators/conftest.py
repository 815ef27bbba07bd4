"""Personas of the ticketing tests: a theatre with its staff, its ticketing vendor, the ministry."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from dataspace.node.models import StaffMembership
from tests.factories import OrganisationFactory, UserFactory
from tests.indicators.factories import run

FIGURES = "/api/v1/ticketing/figures/"
IMPORT = "/api/v1/ticketing/figures/import"
DECLARATIONS = "/api/v1/ticketing/declarations/"


@pytest.fixture
def theatre(db: Any) -> Any:
    return OrganisationFactory(name="Théâtre des Chiffres", siret="73282932000074", region="Bretagne", departement="35")


@pytest.fixture
def shows(theatre: Any) -> list[Any]:
    """Three performances of one production of the theatre in one hall (300 seats), 6-8 October 2026."""
    return run(theatre, 3, title="Les Comptes justes")


@pytest.fixture
def member(theatre: Any) -> Any:
    """Factory: a logged-in person with `role` on the theatre (or on `organisation`)."""

    def make(role: str = "editor", organisation: Any = None, username: str | None = None) -> APIClient:
        user = UserFactory(username=username or f"{role}-{(organisation or theatre).pk.hex[:6]}")
        StaffMembership.objects.create(user=user, organisation=organisation or theatre, role=role)
        api = APIClient()
        api.force_login(user)
        api.user = user  # type: ignore[attr-defined]
        return api

    return make


@pytest.fixture
def vendor(bearer_client: Any, theatre: Any) -> APIClient:
    """The theatre's own ticketing software: a depositor client with ticketing:write."""
    client: APIClient = bearer_client("ticketing:write", owner=theatre)
    return client


@pytest.fixture
def ministry(db: Any) -> Any:
    return OrganisationFactory(name="Ministère de la Culture (fictif)", kind="public_body")


@pytest.fixture
def ministry_client(bearer_client: Any, ministry: Any) -> APIClient:
    """The ministry's dashboard: a reader client holding only indicators:aggregate."""
    client: APIClient = bearer_client("indicators:aggregate", kind="reader", owner=ministry)
    return client


@pytest.fixture
def analyst(db: Any) -> Any:
    """A ministry analyst: a person with no role on any structure."""
    return UserFactory(username="analyste")


def body(performances: Any, external_id: str = "BIL-1", **values: Any) -> dict[str, Any]:
    """A POST body for these performances (one or a series)."""
    items = performances if isinstance(performances, list) else [performances]
    data: dict[str, Any] = {
        "external_id": external_id,
        "ticketing_system": "Billetterie Exemple",
        "tickets_total": 250,
        "tickets_full_price": 100,
        "tickets_subscription": 80,
        "tickets_exempt": 10,
        "receipts_total": "4321.50",
        "receipts_full_price": "2200.00",
    }
    if len(items) == 1:
        data["performance"] = str(items[0].pk)
    else:
        data["performances"] = [str(item.pk) for item in items]
    data.update(values)
    return data
