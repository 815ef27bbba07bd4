"""Security review of the paths around the decision point: each refused request beside the allowed one.

Personas: the owner (Théâtre du Nord) and a partner it names; a licensed professional reading
through a personal API key; anonymous visitors.
"""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from policies.models import HiddenRecord
from tests.directory.factories import LicenceFactory, ProfessionalAccountFactory
from tests.factories import OrganisationFactory, VenueFactory
from tests.policies.pdp_support import fresh_policy_cache, save  # noqa: F401 - autouse fixture

pytestmark = pytest.mark.django_db


@pytest.fixture
def owner() -> Any:
    return OrganisationFactory(name="Théâtre du Nord")


@pytest.fixture
def pro(bearer_client: Any) -> Any:
    """Factory: a professional (category 2 licence unless None) reading through a personal API key."""

    def make(category: int | None = 2, organisation: Any = None) -> APIClient:
        account = ProfessionalAccountFactory(organisation=organisation or OrganisationFactory(name="Compagnie"))
        if category is not None:
            LicenceFactory(organisation=account.organisation, category=category)
        api: APIClient = bearer_client("referentials:read", kind="reader", user=account.user)
        api.user = account.user  # type: ignore[attr-defined]
        api.organisation = account.organisation  # type: ignore[attr-defined]
        return api

    return make


# ---------------------------------------------------------------------------- /id/<type>/<uuid>


def test_the_resolver_answers_a_hidden_record_as_missing(owner: Any, pro: Any) -> None:
    partner = OrganisationFactory(name="Scène partenaire")
    hidden, shown = VenueFactory(owner=owner), VenueFactory(owner=owner)
    HiddenRecord.objects.create(owner=owner, target_type="venue", target_id=hidden.pk).partners.add(partner)

    outsider = pro()
    assert outsider.get(f"/id/venue/{shown.pk}").status_code == 303
    refused = outsider.get(f"/id/venue/{hidden.pk}")
    missing = outsider.get("/id/venue/00000000-0000-4000-8000-000000000000")
    assert refused.status_code == missing.status_code == 404
    assert APIClient().get(f"/id/venue/{hidden.pk}").status_code == 404

    named = pro(organisation=partner)
    assert named.get(f"/id/venue/{hidden.pk}").status_code == 303


# ---------------------------------------------------------------------------- public programme (home, iCalendar)


def _soon(days: int) -> Any:
    import datetime as dt

    from django.utils import timezone

    return timezone.now() + dt.timedelta(days=days)


def _public_performances_of_restricted_neighbours(owner: Any) -> tuple[Any, Any, Any]:
    """A performance of a licensed-only production, one in a hidden venue, and an open one."""
    from tests.factories import HallFactory, PerformanceFactory, ProductionFactory

    company = OrganisationFactory(name="Compagnie discrète")
    licensed_production = ProductionFactory(owner=company, title="Titre réservé aux licenciés")
    save(company, target_type="production", templates=[{"name": "licensed_only"}])
    hidden_venue = VenueFactory(owner=company, name="Salle cachée")
    HiddenRecord.objects.create(owner=company, target_type="venue", target_id=hidden_venue.pk)
    through_licensed = PerformanceFactory(
        owner=owner, production=licensed_production, hall=HallFactory(venue__owner=owner), start=_soon(3)
    )
    in_hidden_venue = PerformanceFactory(
        owner=owner,
        production=ProductionFactory(owner=owner, title="Spectacle ouvert"),
        hall=HallFactory(venue=hidden_venue, owner=company, name="Plateau"),
        start=_soon(4),
    )
    open_one = PerformanceFactory(
        owner=owner, production=ProductionFactory(owner=owner, title="Tout public"), start=_soon(5)
    )
    return through_licensed, in_hidden_venue, open_one


def test_the_ics_feed_shows_no_licensed_production_nor_hidden_venue(owner: Any, client: Any) -> None:
    through_licensed, in_hidden_venue, open_one = _public_performances_of_restricted_neighbours(owner)
    body = client.get("/feeds/performances.ics").content.decode()
    assert "Tout public" in body
    assert f"{open_one.pk}@" in body
    assert "Titre réservé aux licenciés" not in body
    assert f"{through_licensed.pk}@" not in body
    assert "Salle cachée" not in body
    assert f"{in_hidden_venue.pk}@" not in body


def test_the_home_page_lists_only_what_anyone_may_read(owner: Any, client: Any, settings: Any) -> None:
    from dataspace.node.services import initialise_node

    settings.NODE_ROLES = ["structure"]
    identity, _key, _created = initialise_node()
    identity.organisation = owner
    identity.save()
    _public_performances_of_restricted_neighbours(owner)
    closed = OrganisationFactory(name="Scène fermée")
    from tests.factories import PerformanceFactory, ProductionFactory

    PerformanceFactory(production=ProductionFactory(owner=closed, title="Réservé aux partenaires"), start=_soon(6))
    save(closed, target_type="performance", templates=[{"name": "licensed_only"}])

    html = client.get("/").content.decode()
    assert "Tout public" in html
    assert "Titre réservé aux licenciés" not in html
    assert "Salle cachée" not in html
    assert "Réservé aux partenaires" not in html


# ---------------------------------------------------------------------------- explain


def test_explain_does_not_tell_an_outsider_that_a_hidden_record_exists(owner: Any, pro: Any) -> None:
    hidden, shown = VenueFactory(owner=owner), VenueFactory(owner=owner)
    HiddenRecord.objects.create(owner=owner, target_type="venue", target_id=hidden.pk)
    outsider = pro()

    def explain(record_id: Any, **body: Any) -> Any:
        return outsider.post(
            "/api/v1/policies/explain", {"record": {"type": "venue", "id": str(record_id)}, **body}, format="json"
        )

    assert explain(shown.pk).status_code == 403  # others' subjects: the owner's question only
    assert explain(shown.pk, subject="me").status_code == 200
    missing = explain("00000000-0000-4000-8000-000000000000")
    for answer in (
        explain(hidden.pk),
        explain(hidden.pk, subject={"licensed": True}),
        explain(hidden.pk, subject="me"),
    ):
        assert answer.status_code == missing.status_code == 404
        assert answer.json()["error"] == missing.json()["error"]


def test_explain_does_not_disclose_an_option_to_a_caller_outside_the_node(owner: Any, pro: Any) -> None:
    from dataspace.referentials.models import Performance
    from tests.factories import PerformanceFactory

    option = PerformanceFactory(owner=owner, status=Performance.Status.OPTION)
    scheduled = PerformanceFactory(owner=owner)
    outsider = pro()

    def explain(record: Any) -> Any:
        body = {"record": {"type": "performance", "id": str(record.pk)}, "subject": "me"}
        return outsider.post("/api/v1/policies/explain", body, format="json")

    assert explain(scheduled).status_code == 200
    assert explain(option).status_code == 404
    assert outsider.get(f"/api/v1/performances/{option.pk}/").status_code == 404  # as the API says


# ---------------------------------------------------------------------------- JSON-LD renderings


def test_json_ld_of_a_public_performance_does_not_embed_restricted_neighbours(owner: Any, bearer_client: Any) -> None:
    from dataspace.node.models import StaffMembership
    from tests.factories import UserFactory

    through_licensed, in_hidden_venue, open_one = _public_performances_of_restricted_neighbours(owner)
    anonymous = APIClient()
    ld = {"HTTP_ACCEPT": "application/ld+json"}

    detail = anonymous.get(f"/api/v1/performances/{through_licensed.pk}/", **ld)
    assert detail.status_code == 200
    body = detail.json()
    assert body["workPerformed"] == {"@id": through_licensed.production.uri}
    assert "Titre réservé aux licenciés" not in detail.content.decode()
    assert "name" not in body

    hidden_place = anonymous.get(f"/api/v1/performances/{in_hidden_venue.pk}/", **ld).json()
    assert hidden_place["location"]["containedInPlace"] == {"@id": in_hidden_venue.hall.venue.uri}
    assert hidden_place["name"] == "Spectacle ouvert"

    listing = anonymous.get("/api/v1/performances/", **ld).content.decode()
    assert "Tout public" in listing
    assert "Titre réservé aux licenciés" not in listing
    assert "Salle cachée" not in listing
    assert open_one.hall.venue.name in listing

    # The production's own staff gets it all.
    company = through_licensed.production.owner
    staff = UserFactory()
    StaffMembership.objects.create(user=staff, organisation=company, role="reader")
    api = bearer_client("referentials:read", kind="reader", user=staff, owner=company)
    own = api.get(f"/api/v1/performances/{in_hidden_venue.pk}/?purpose=programming", **ld).content.decode()
    assert "Salle cachée" in own
    own = api.get(f"/api/v1/performances/{through_licensed.pk}/?purpose=programming", **ld).json()
    assert own["workPerformed"]["name"] == "Titre réservé aux licenciés"


# ---------------------------------------------------------------------------- filters and search


def test_searching_public_performances_does_not_probe_a_licensed_production(owner: Any) -> None:
    through_licensed, in_hidden_venue, open_one = _public_performances_of_restricted_neighbours(owner)
    anonymous = APIClient()

    def found(query: str) -> set[str]:
        response = anonymous.get(f"/api/v1/performances/?{query}")
        assert response.status_code == 200, response.content
        return {item["id"] for item in response.json()["results"]}

    assert str(through_licensed.pk) in found("")  # the performance itself is public
    assert found("search=Tout public") == {str(open_one.pk)}
    assert found("search=réservé aux licenciés") == set()
    assert found("search=Salle cachée") == set()
    hidden_city = in_hidden_venue.hall.venue.city
    assert str(in_hidden_venue.pk) not in found(f"city={hidden_city}")
    assert str(open_one.pk) in found(f"city={open_one.hall.venue.city}")


# ---------------------------------------------------------------------------- change feed


def test_the_change_feed_carries_no_hidden_record_nor_a_blocking_owner_data(owner: Any, bearer_client: Any) -> None:
    from policies.models import Block
    from tests.consent.agreement_factories import federation_agreement

    partner, peer, blocked_org = (OrganisationFactory(name=name) for name in ("Partenaire", "Pair", "Bloquée"))
    hidden, shown = VenueFactory(owner=owner, name="Lieu caché"), VenueFactory(owner=owner, name="Lieu montré")
    HiddenRecord.objects.create(owner=owner, target_type="venue", target_id=hidden.pk).partners.add(partner)
    Block.objects.create(owner=owner, blocked_organisation=blocked_org)
    # the owner shares its venues with the federation (without an agreement nothing leaves the node)
    federation_agreement(owner, "venue")

    def feed(organisation: Any) -> set[str]:
        api = bearer_client("federation:sync", kind="reader", owner=organisation)
        response = api.get("/api/v1/changes?types=venue&limit=1000")
        assert response.status_code == 200, response.content
        return {change["uuid"] for change in response.json()["changes"]}

    assert feed(peer) == {str(shown.pk)}
    assert feed(partner) == {str(shown.pk), str(hidden.pk)}
    assert feed(owner) == {str(shown.pk), str(hidden.pk)}
    assert feed(blocked_org) == set()


# ---------------------------------------------------------------------------- Idempotency-Key replay


def test_a_replayed_creation_is_refused_to_a_caller_now_denied(owner: Any, bearer_client: Any) -> None:
    from django.utils import timezone

    from dataspace.oauth.models import Mandate
    from tests.factories import UserFactory

    vendor = bearer_client("referentials:read referentials:write", kind="depositor")  # a vendor's own client
    mandate = Mandate.objects.create(
        structure=owner, client=vendor.oauth_client, scopes=["referentials:write"], granted_by=UserFactory()
    )
    payload = {"name": "Salle des fêtes", "owner": str(owner.pk), "city": "Lille"}
    created = vendor.post("/api/v1/venues/", payload, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert created.status_code == 201, created.content
    again = vendor.post("/api/v1/venues/", payload, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert again.status_code == 201
    assert again["Idempotent-Replayed"] == "true"

    mandate.revoked_at = timezone.now()  # the structure ends the mandate, then hides the venue
    mandate.save()
    HiddenRecord.objects.create(owner=owner, target_type="venue", target_id=created.json()["id"])
    for accept in ("application/json", "application/ld+json"):
        replay = vendor.post(
            "/api/v1/venues/?purpose=programming",
            payload,
            format="json",
            HTTP_IDEMPOTENCY_KEY="k-1",
            HTTP_ACCEPT=accept,
        )
        assert replay.status_code == 404, replay.content
        assert "Salle des fêtes" not in replay.content.decode()


# ---------------------------------------------------------------------------- writes and break-glass probes


def test_a_write_to_a_hidden_record_answers_as_to_a_missing_one(owner: Any, bearer_client: Any) -> None:
    hidden, shown = VenueFactory(owner=owner), VenueFactory(owner=owner)
    HiddenRecord.objects.create(owner=owner, target_type="venue", target_id=hidden.pk)
    other = bearer_client("referentials:read referentials:write", kind="depositor")
    assert other.patch(f"/api/v1/venues/{shown.pk}/", {"city": "Douai"}, format="json").status_code == 403
    missing = other.patch("/api/v1/venues/00000000-0000-4000-8000-000000000000/", {"city": "Douai"}, format="json")
    for method in (other.patch, other.put, other.delete):
        answer = method(f"/api/v1/venues/{hidden.pk}/", {"city": "Douai"}, format="json")
        assert answer.status_code == missing.status_code == 404
        assert answer.json()["error"] == missing.json()["error"]
    own = bearer_client("referentials:read referentials:write", kind="depositor", owner=owner)
    assert own.patch(f"/api/v1/venues/{hidden.pk}/", {"city": "Douai"}, format="json").status_code == 200


def test_break_glass_does_not_disclose_an_option(owner: Any, bearer_client: Any) -> None:
    from dataspace.referentials.models import Performance
    from tests.factories import PerformanceFactory

    account = ProfessionalAccountFactory(organisation=OrganisationFactory(name="Compagnie"))
    LicenceFactory(organisation=account.organisation, category=2)
    api = bearer_client("referentials:read", kind="reader", user=account.user)
    option = PerformanceFactory(owner=owner, status=Performance.Status.OPTION)
    scheduled = PerformanceFactory(owner=owner)

    def open_on(record_id: Any) -> Any:
        body = {
            "record": {"type": "performance", "id": str(record_id)},
            "emergency": "public_safety",
            "justification": "Évacuation de la salle : il faut la jauge exacte de la représentation.",
            "purpose": "programming",
        }
        return api.post("/api/v1/break-glass/", body, format="json")

    assert open_on(scheduled.pk).status_code == 201
    missing = open_on("00000000-0000-4000-8000-000000000000")
    refused = open_on(option.pk)
    assert refused.status_code == missing.status_code == 400
    assert refused.json() == missing.json()


# ---------------------------------------------------------------------------- related ids of hidden records


def test_a_public_venue_does_not_list_its_hidden_hall(owner: Any, pro: Any) -> None:
    from tests.factories import HallFactory

    venue = VenueFactory(owner=owner)
    shown, hidden = (
        HallFactory(venue=venue, owner=owner, name="Grande salle"),
        HallFactory(venue=venue, owner=owner, name="Studio secret"),
    )
    partner = OrganisationFactory(name="Scène partenaire")
    HiddenRecord.objects.create(owner=owner, target_type="hall", target_id=hidden.pk).partners.add(partner)
    ld = {"HTTP_ACCEPT": "application/ld+json"}

    for api in (APIClient(), pro()):
        detail = api.get(f"/api/v1/venues/{venue.pk}/")
        assert detail.json()["halls"] == [str(shown.pk)]
        listing = api.get("/api/v1/venues/").content.decode()
        assert str(shown.pk) in listing
        assert str(hidden.pk) not in listing
        document = api.get(f"/api/v1/venues/{venue.pk}/", **ld).content.decode()
        assert "Grande salle" in document
        assert str(hidden.pk) not in document
        assert "Studio secret" not in document

    named = pro(organisation=partner)
    assert sorted(named.get(f"/api/v1/venues/{venue.pk}/").json()["halls"]) == sorted([str(shown.pk), str(hidden.pk)])
