"""The change feed carries a structure's dataset only under an agreement in force whose grantee is
the reader (fail closed); tombstones still reach readers that may hold the record."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from dataspace.consent.agreements import revoke_agreement
from dataspace.consent.models import Agreement
from dataspace.oauth.models import Client
from policies.pdp import node_day
from tests.conftest import mint_token
from tests.consent.agreement_factories import federation_agreement, node_operator
from tests.factories import OrganisationFactory, ProductionFactory, VenueFactory
from tests.federation.signed import SignedAPIClient, register_peer

pytestmark = pytest.mark.django_db

URL = "/api/v1/changes"
TODAY = node_day(timezone.now())


def received(api: APIClient, **params: Any) -> set[tuple[str, str, str]]:
    """(op, type, uuid) of every change the reader gets."""
    response = api.get(URL, {"limit": 1000, **params})
    assert response.status_code == 200, response.content
    return {(c["op"], c["type"], c["uuid"]) for c in response.json()["changes"]}


def uuids(api: APIClient, record_type: str) -> set[str]:
    return {pk for op, kind, pk in received(api) if kind == record_type and op == "upsert"}


def peer_node(base_url: str, owner: Any = None) -> APIClient:
    """A peer node's client (private_key_jwt, keys at base_url) holding a federation:sync token."""
    client = Client.objects.create(
        client_id=f"noeud-{base_url.split('//')[1]}",
        name=f"Nœud {base_url}",
        owner=owner or OrganisationFactory(),
        kind="reader",
        allowed_scopes=["federation:sync"],
        grant_types=["client_credentials"],
        token_endpoint_auth_method="private_key_jwt",
        jwks_uri=f"{base_url}/.well-known/jwks.json",
    )
    token, _issued = mint_token(client, "federation:sync")
    _member, key = register_peer(base_url)  # a peer node's token is good only on requests its node signs
    api = SignedAPIClient(key)
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return api


@pytest.fixture
def owner() -> Any:
    return OrganisationFactory(name="Scène nationale des Essais")


@pytest.fixture
def venue(owner: Any) -> Any:
    return VenueFactory(owner=owner, name="Grande salle")


def test_without_an_agreement_nothing_of_the_owner_leaves(owner: Any, venue: Any, bearer_client: Any) -> None:
    reader = bearer_client("federation:sync", kind="reader")
    got = received(reader)
    assert ("upsert", "venue", str(venue.pk)) not in got
    assert ("upsert", "organisation", str(owner.pk)) not in got
    # the reader's own organisation is its own data
    assert ("upsert", "organisation", str(reader.owner.pk)) in got


def test_a_federation_agreement_lets_that_dataset_only_leave(owner: Any, venue: Any, bearer_client: Any) -> None:
    production = ProductionFactory(owner=owner)
    federation_agreement(owner, "venue")
    reader = bearer_client("federation:sync", kind="reader")
    assert uuids(reader, "venue") == {str(venue.pk)}
    assert str(production.pk) not in uuids(reader, "production")  # no agreement for productions


def test_an_expired_or_future_agreement_does_not(owner: Any, venue: Any, bearer_client: Any) -> None:
    federation_agreement(owner, "venue", valid_from=TODAY - dt.timedelta(days=30), valid_until=TODAY - dt.timedelta(1))
    reader = bearer_client("federation:sync", kind="reader")
    assert uuids(reader, "venue") == set()
    federation_agreement(owner, "venue", valid_from=TODAY + dt.timedelta(days=2))
    assert uuids(reader, "venue") == set()
    federation_agreement(owner, "venue", valid_from=TODAY, valid_until=TODAY)  # its last day: in force
    assert uuids(reader, "venue") == {str(venue.pk)}


def test_a_revoked_agreement_stops_upserts_but_tombstones_still_reach_the_reader(
    owner: Any, venue: Any, bearer_client: Any
) -> None:
    other = VenueFactory(owner=owner, name="Petite salle")
    agreement = federation_agreement(owner, "venue")
    reader = bearer_client("federation:sync", kind="reader")
    assert uuids(reader, "venue") == {str(venue.pk), str(other.pk)}

    revoke_agreement(agreement, by=node_operator())
    gone = str(other.pk)
    other.delete()
    got = received(reader)
    assert {pk for op, kind, pk in got if kind == "venue" and op == "upsert"} == set()
    assert ("delete", "venue", gone) in got  # the reader may hold it: it must drop it


def test_no_tombstone_for_a_dataset_the_reader_never_had(owner: Any, venue: Any, bearer_client: Any) -> None:
    reader = bearer_client("federation:sync", kind="reader")
    gone = str(venue.pk)
    venue.delete()
    assert ("delete", "venue", gone) not in received(reader)


def test_a_partner_agreement_covers_that_partner_only(owner: Any, venue: Any, bearer_client: Any) -> None:
    partner, stranger = OrganisationFactory(name="Partenaire"), OrganisationFactory(name="Autre")
    federation_agreement(owner, "venue", grantee=Agreement.Grantee.PARTNER, grantee_organisation=partner)
    assert uuids(bearer_client("federation:sync", kind="reader", owner=partner), "venue") == {str(venue.pk)}
    assert uuids(bearer_client("federation:sync", kind="reader", owner=stranger), "venue") == set()


def test_a_ministry_agreement_covers_the_ministry_node_only(owner: Any, venue: Any, settings: Any) -> None:
    settings.POLICY_MINISTRY_NODES = ["https://ministere.example"]
    federation_agreement(owner, "venue", grantee=Agreement.Grantee.MINISTRY)
    assert uuids(peer_node("https://ministere.example"), "venue") == {str(venue.pk)}
    assert uuids(peer_node("https://pair.example"), "venue") == set()


def test_an_agreement_naming_a_node_binds_that_node(owner: Any, venue: Any) -> None:
    federation_agreement(owner, "venue", grantee_node="https://registre.example")
    assert uuids(peer_node("https://registre.example"), "venue") == {str(venue.pk)}
    assert uuids(peer_node("https://pair.example"), "venue") == set()


def test_the_owners_own_client_and_the_node_staff_read_everything(
    owner: Any, venue: Any, bearer_client: Any, staff_client: APIClient
) -> None:
    assert uuids(bearer_client("federation:sync", kind="reader", owner=owner), "venue") == {str(venue.pk)}
    assert str(venue.pk) in uuids(staff_client, "venue")
