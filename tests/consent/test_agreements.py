"""Data-sharing agreements: who signs, what is checked, the signature, revocation, the API, and the
decision point refusing a peer node's subject without one (``no_agreement``)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.utils import timezone
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.test import APIClient

from dataspace.audit.models import JournalEntry
from dataspace.consent import agreements
from dataspace.consent.models import Agreement
from dataspace.node.models import StaffMembership
from dataspace.oauth.models import Client
from federation.models import OutboxMessage
from policies.pdp import node_day
from tests.conftest import mint_token, node_signing_key
from tests.consent.agreement_factories import federation_agreement
from tests.factories import OrganisationFactory, UserFactory, VenueFactory
from tests.federation.signed import SignedAPIClient, register_peer

pytestmark = pytest.mark.django_db

TODAY = node_day(timezone.now())
Grantee = Agreement.Grantee


@pytest.fixture(autouse=True)
def _node_key() -> None:
    node_signing_key()


@pytest.fixture
def owner() -> Any:
    return OrganisationFactory(name="Théâtre des Accords")


def staff(owner: Any, role: str, username: str) -> Any:
    user = UserFactory(username=username)
    StaffMembership.objects.create(user=user, organisation=owner, role=role)
    return user


@pytest.fixture
def administrator(owner: Any) -> Any:
    return staff(owner, "administrator", "admin-accords")


def sign(owner: Any, signed_by: Any, **terms: Any) -> Agreement:
    values: dict[str, Any] = {
        "target_type": "venue",
        "grantee": Grantee.FEDERATION,
        "purposes": ["programming", "touring"],
        "valid_from": TODAY,
        **terms,
    }
    return agreements.sign_agreement(owner=owner, signed_by=signed_by, **values)


# ---------------------------------------------------------------------------- signing


def test_an_administrator_signs_signature_covers_terms_and_signer_journaled(owner: Any, administrator: Any) -> None:
    agreement = sign(owner, administrator, valid_until=TODAY + dt.timedelta(days=365))
    assert agreement.status == Agreement.Status.ACTIVE
    signed = agreements.verify_agreement(Agreement.objects.get(pk=agreement.pk))
    assert signed["dataset"] == "venue"
    assert signed["signed_by"] == {"id": administrator.pk, "username": "admin-accords"}
    assert signed["purposes"] == ["programming", "touring"]
    [entry] = JournalEntry.objects.filter(action="agreement.signed")
    assert (entry.stream, entry.owner_id, entry.username) == ("admin", owner.pk, "admin-accords")
    assert entry.record_ids == [str(agreement.pk)]

    # the signer renamed since: still the same signer (by id)
    type(administrator).objects.filter(pk=administrator.pk).update(username="admin-renomme")
    renamed = agreements.verify_agreement(Agreement.objects.get(pk=agreement.pk))
    assert renamed["signed_by"]["username"] == "admin-accords"
    # edited behind the service's back: the signature no longer matches
    Agreement.objects.filter(pk=agreement.pk).update(purposes=["programming", "touring", "research"])
    with pytest.raises(agreements.InvalidAgreementSignature):
        agreements.verify_agreement(Agreement.objects.get(pk=agreement.pk))


@pytest.mark.parametrize("role", ["editor", "reader"])
def test_only_an_administrator_of_the_owner_signs(owner: Any, role: str) -> None:
    with pytest.raises(PermissionDenied):
        sign(owner, staff(owner, role, f"{role}-accords"))
    other_admin = staff(OrganisationFactory(), "administrator", "admin-ailleurs")
    with pytest.raises(PermissionDenied):
        sign(owner, other_admin)
    assert Agreement.objects.count() == 0
    assert sign(owner, UserFactory(username="operateur", is_superuser=True)).pk  # the node's operator may


@pytest.mark.parametrize(
    ("terms", "field"),
    [
        ({"target_type": "contact"}, "target_type"),
        ({"target_type": "policy"}, "target_type"),
        ({"target_type": "spectacle"}, "target_type"),
        ({"grantee": "world"}, "grantee"),
        ({"grantee": Grantee.PARTNER}, "grantee_organisation"),
        ({"purposes": []}, "purposes"),
        ({"purposes": ["marketing"]}, "purposes"),
        ({"valid_until": TODAY - dt.timedelta(days=1)}, "valid_until"),
        ({"grantee_node": "ftp://pair.example"}, "grantee_node"),
    ],
)
def test_terms_that_cannot_be_are_refused_naming_the_field(
    owner: Any, administrator: Any, terms: dict[str, Any], field: str
) -> None:
    with pytest.raises(ValidationError) as refused:
        sign(owner, administrator, **terms)
    assert field in refused.value.detail  # type: ignore[operator]
    assert Agreement.objects.count() == 0


def test_a_partner_agreement_names_another_organisation(owner: Any, administrator: Any) -> None:
    with pytest.raises(ValidationError):
        sign(owner, administrator, grantee=Grantee.PARTNER, grantee_organisation=owner)
    with pytest.raises(ValidationError):
        sign(owner, administrator, grantee=Grantee.FEDERATION, grantee_organisation=OrganisationFactory())
    partner = OrganisationFactory()
    assert sign(owner, administrator, grantee=Grantee.PARTNER, grantee_organisation=partner).pk


# ---------------------------------------------------------------------------- in force, revoked


def test_agreement_in_force_by_day_grantee_purpose_and_node(owner: Any, administrator: Any) -> None:
    partner = OrganisationFactory()
    federation = sign(owner, administrator, valid_until=TODAY + dt.timedelta(days=10))
    assert agreements.agreement_in_force(owner.pk, "venue", grantee="federation") == federation
    assert agreements.agreement_in_force(owner.pk, "venue", grantee="federation", purpose="touring") == federation
    assert agreements.agreement_in_force(owner.pk, "venue", grantee="federation", purpose="research") is None
    assert agreements.agreement_in_force(owner.pk, "hall", grantee="federation") is None
    assert agreements.agreement_in_force(owner.pk, "venue", grantee="ministry") is None
    later = TODAY + dt.timedelta(days=11)
    assert agreements.agreement_in_force(owner.pk, "venue", grantee="federation", day=later) is None
    earlier = TODAY - dt.timedelta(days=1)
    assert agreements.agreement_in_force(owner.pk, "venue", grantee="federation", day=earlier) is None

    bound = sign(owner, administrator, grantee=Grantee.PARTNER, grantee_organisation=partner,
                 grantee_node="https://partenaire.example/")  # fmt: skip
    assert bound.grantee_node == "https://partenaire.example"
    found = agreements.agreement_in_force(
        owner.pk, "venue", grantee="partner", organisation_id=partner.pk, node="https://partenaire.example"
    )
    assert found == bound
    assert agreements.agreement_in_force(owner.pk, "venue", grantee="partner", organisation_id=partner.pk) is None
    assert agreements.agreement_in_force(owner.pk, "venue", grantee="partner") is None


def test_revocation_ends_it_journaled_and_notifies_replica_holders(
    owner: Any, administrator: Any, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    settings.FEDERATION_REGISTRY_URL = "https://registre.example"
    agreement = sign(owner, administrator, grantee_node="https://pair.example")
    with django_capture_on_commit_callbacks(execute=False):
        revoked = agreements.revoke_agreement(agreement, by=administrator)
    assert (revoked.status, revoked.revoked_by) == (Agreement.Status.REVOKED, administrator)
    assert agreements.agreement_in_force(owner.pk, "venue", grantee="federation") is None
    assert JournalEntry.objects.filter(action="agreement.revoked", owner_id=owner.pk, stream="admin").count() == 1
    notices = OutboxMessage.objects.filter(kind="agreement.revoked")
    assert sorted(notices.values_list("destination", flat=True)) == ["https://pair.example", "https://registre.example"]
    assert notices.first().payload["agreement"] == str(agreement.pk)  # type: ignore[union-attr]
    # revoking again changes nothing; an editor may not revoke
    assert agreements.revoke_agreement(revoked, by=administrator).revoked_at == revoked.revoked_at
    with pytest.raises(PermissionDenied):
        agreements.revoke_agreement(revoked, by=staff(owner, "editor", "editeur"))


# ---------------------------------------------------------------------------- API


def session(user: Any) -> APIClient:
    api = APIClient()
    api.force_login(user)
    return api


def body(**terms: Any) -> dict[str, Any]:
    return {"target_type": "venue", "grantee": "federation", "purposes": ["programming"],
            "valid_from": TODAY.isoformat(), **terms}  # fmt: skip


def test_api_administrators_sign_list_read_and_revoke_their_own(owner: Any, administrator: Any) -> None:
    api = session(administrator)
    created = api.post("/api/v1/agreements/", body(owner=str(owner.pk)), format="json")
    assert created.status_code == 201, created.content
    pk = created.json()["id"]
    assert created.json()["signed_by"] == "admin-accords"
    other = federation_agreement(OrganisationFactory(), "venue")  # another structure's

    listed = api.get("/api/v1/agreements/").json()
    assert [item["id"] for item in listed] == [pk]
    detail = api.get(f"/api/v1/agreements/{pk}/").json()
    assert detail["signature_valid"] is True
    assert api.get(f"/api/v1/agreements/{other.pk}/").status_code == 404

    revoked = api.post(f"/api/v1/agreements/{pk}/revoke")
    assert revoked.status_code == 200
    assert revoked.json()["status"] == "revoked"
    assert api.get("/api/v1/agreements/", {"status": "active"}).json() == []


def test_api_refuses_editors_other_structures_and_machine_clients(
    owner: Any, administrator: Any, bearer_client: Any
) -> None:
    editor = session(staff(owner, "editor", "editeur-accords"))
    refused = editor.post("/api/v1/agreements/", body(owner=str(owner.pk)), format="json")
    assert refused.status_code == 403
    outsider = session(staff(OrganisationFactory(), "administrator", "admin-autre"))
    assert outsider.post("/api/v1/agreements/", body(owner=str(owner.pk)), format="json").status_code == 403
    machine = bearer_client("policies:manage", owner=owner)
    assert machine.post("/api/v1/agreements/", body(owner=str(owner.pk)), format="json").status_code == 403
    assert Agreement.objects.count() == 0
    # a bad term is a 400 naming the field
    bad = session(administrator).post(
        "/api/v1/agreements/", body(owner=str(owner.pk), target_type="contact"), format="json"
    )
    assert bad.status_code == 400
    assert list(bad.json()["fields"]) == ["target_type"]


def test_api_needs_the_policies_manage_scope(owner: Any, bearer_client: Any) -> None:
    assert APIClient().get("/api/v1/agreements/").status_code == 401
    assert bearer_client("referentials:read", owner=owner).get("/api/v1/agreements/").status_code == 403


# ---------------------------------------------------------------------------- the decision point


def peer(owner: Any = None, node: str = "https://pair.example") -> APIClient:
    client = Client.objects.create(
        client_id=f"pair-{Client.objects.count()}",
        name="Nœud pair",
        owner=owner or OrganisationFactory(),
        kind="reader",
        allowed_scopes=["referentials:read"],
        grant_types=["client_credentials"],
        token_endpoint_auth_method="private_key_jwt",
        jwks_uri=f"{node}/.well-known/jwks.json",
    )
    token, _issued = mint_token(client, "referentials:read")
    _member, key = register_peer(node)  # a peer node's token is good only on requests its node signs
    api = SignedAPIClient(key)
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return api


def test_a_peer_nodes_client_is_refused_without_an_agreement(owner: Any, bearer_client: Any) -> None:
    venue = VenueFactory(owner=owner)
    api = peer()
    refused = api.get(f"/api/v1/venues/{venue.pk}/")
    assert refused.status_code == 403
    assert refused.json()["error"] == "no_agreement"
    assert "Aucun accord de partage" in refused.json()["detail"]
    assert str(venue.pk) not in {item["id"] for item in api.get("/api/v1/venues/").json()["results"]}
    # a local vendor's client is not a peer node: the public default applies
    local = bearer_client("referentials:read", kind="reader")
    assert local.get(f"/api/v1/venues/{venue.pk}/").status_code == 200


def test_an_agreement_in_force_lets_the_peer_read_for_its_purposes(owner: Any) -> None:
    venue = VenueFactory(owner=owner)
    agreement = federation_agreement(owner, "venue", purposes=["touring"])
    api = peer()
    assert api.get(f"/api/v1/venues/{venue.pk}/").status_code == 200
    assert str(venue.pk) in {item["id"] for item in api.get("/api/v1/venues/").json()["results"]}
    assert api.get(f"/api/v1/venues/{venue.pk}/", {"purpose": "research"}).json()["error"] == "no_agreement"
    agreements.revoke_agreement(agreement, by=agreement.signed_by)
    assert api.get(f"/api/v1/venues/{venue.pk}/").status_code == 403


def test_a_partner_agreement_for_another_partner_does_not_cover_the_peer(owner: Any) -> None:
    venue = VenueFactory(owner=owner)
    federation_agreement(owner, "venue", grantee=Grantee.PARTNER, grantee_organisation=OrganisationFactory())
    assert peer().get(f"/api/v1/venues/{venue.pk}/").json()["error"] == "no_agreement"
    partner = Agreement.objects.get().grantee_organisation
    assert peer(owner=partner, node="https://partenaire.example").get(f"/api/v1/venues/{venue.pk}/").status_code == 200


def test_the_reason_is_a_stable_code() -> None:
    from policies.decision import REASONS

    assert "no_agreement" in REASONS


def test_api_list_query_count_is_flat(owner: Any, administrator: Any) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    api = session(administrator)

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert api.get("/api/v1/agreements/").status_code == 200
        return len(captured.captured_queries)

    sign(owner, administrator)
    few = queries()
    for dataset in ("hall", "production", "performance", "work"):
        revoked = sign(owner, administrator, target_type=dataset)
    agreements.revoke_agreement(revoked, by=administrator)
    assert len(api.get("/api/v1/agreements/").json()) == 5
    assert queries() == few
