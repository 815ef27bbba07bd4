"""The decision point through the API, with real accounts and tokens (`policies.enforcement`).

Personas: the owner (Théâtre du Nord) with its editor; a partner structure; licensed professionals
(category 2, category 1), an unlicensed one and one whose licence expired, each reading through a
personal API key; anonymous visitors.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import unquote

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from dataspace.audit.models import JournalEntry
from dataspace.node.models import StaffMembership
from policies.language import Constraint, Duty, Rule
from policies.models import Block, HiddenRecord
from tests.directory.factories import LicenceFactory, ProfessionalAccountFactory, TermsOfUseFactory
from tests.factories import OrganisationFactory, PerformanceFactory, UserFactory, VenueFactory
from tests.policies.pdp_support import fresh_policy_cache, save, save_rules  # noqa: F401 - autouse fixture

pytestmark = pytest.mark.django_db

VENUES = "/api/v1/venues/"


@pytest.fixture
def owner() -> Any:
    return OrganisationFactory(name="Théâtre du Nord")


@pytest.fixture
def pro(bearer_client: Any) -> Any:
    """Factory: a professional reading through a personal API key; `licence=` kwargs or None."""

    def make(category: int | None = 2, **licence: Any) -> APIClient:
        account = ProfessionalAccountFactory(organisation=OrganisationFactory(name="Compagnie du Voyage"))
        if category is not None:
            LicenceFactory(organisation=account.organisation, category=category, **licence)
        api: APIClient = bearer_client("referentials:read", kind="reader", user=account.user)
        api.user = account.user  # type: ignore[attr-defined]
        api.organisation = account.organisation  # type: ignore[attr-defined]
        return api

    return make


def ids(response: Any) -> set[str]:
    assert response.status_code == 200, response.content
    return {item["id"] for item in response.json()["results"]}


# ---------------------------------------------------------------------------- who is refused, and why


def test_unlicensed_and_expired_professionals_are_refused_with_a_clear_reason(owner: Any, pro: Any) -> None:
    venue = VenueFactory(owner=owner)
    save(owner, templates=[{"name": "licensed_only"}])
    url = f"{VENUES}{venue.pk}/?purpose=programming"

    unlicensed = pro(category=None).get(url)
    assert unlicensed.status_code == 403
    assert unlicensed.json()["error"] == "not_licensed"
    assert "licence" in unlicensed.json()["detail"]

    expired_on = timezone.localdate() - dt.timedelta(days=3)
    expired = pro(valid_until=expired_on).get(url)
    assert expired.status_code == 403
    assert expired.json()["error"] == "licence_expired"
    assert f"a expiré le {expired_on:%d/%m/%Y}" in expired.json()["detail"]

    pending = pro(status="en_instruction").get(url)
    assert pending.json()["error"] == "licence_pending"

    allowed = pro(2).get(url)
    assert allowed.status_code == 200
    assert allowed.json()["id"] == str(venue.pk)


def test_refused_reads_are_journaled_for_the_owner(owner: Any, pro: Any) -> None:
    venue = VenueFactory(owner=owner)
    save(owner, templates=[{"name": "licensed_only"}])
    reader = pro(category=None)
    assert reader.get(f"{VENUES}{venue.pk}/?purpose=touring").status_code == 403
    entry = JournalEntry.objects.get(owner_id=owner.pk)
    assert (entry.decision, entry.reason_code, entry.action, entry.purpose) == (
        "deny",
        "not_licensed",
        "read",
        "touring",
    )
    assert entry.record_ids == [str(venue.pk)]
    assert entry.user_id == reader.user.pk


def test_a_licensed_professional_reads_exactly_what_policies_allow(owner: Any, pro: Any) -> None:
    partner, third = OrganisationFactory(name="Scène partenaire"), OrganisationFactory(name="Festival d'ailleurs")
    licensed_venues = [VenueFactory(owner=owner) for _ in range(3)]
    closed = licensed_venues[0]
    hidden = licensed_venues[1]
    partners_only = VenueFactory(owner=third)
    public = VenueFactory()
    save(owner, templates=[{"name": "licensed_only", "categories": [2]}])
    save(owner, target_id=closed.pk, templates=[])
    HiddenRecord.objects.create(owner=owner, target_type="venue", target_id=hidden.pk)
    save(third, templates=[{"name": "named_partners", "organisations": [str(partner.pk)]}])

    reader = pro(2)
    assert ids(reader.get(f"{VENUES}?purpose=programming")) == {str(licensed_venues[2].pk), str(public.pk)}
    assert reader.get(f"{VENUES}{closed.pk}/?purpose=programming").json()["error"] == "no_permission"
    assert reader.get(f"{VENUES}{partners_only.pk}/?purpose=programming").status_code == 403
    assert reader.get(f"{VENUES}{hidden.pk}/?purpose=programming").status_code == 404  # as if missing

    category_1 = pro(1)
    assert ids(category_1.get(f"{VENUES}?purpose=programming")) == {str(public.pk)}
    assert category_1.get(f"{VENUES}{licensed_venues[2].pk}/?purpose=programming").json()["error"] == (
        "licence_category"
    )

    anonymous = APIClient()
    assert ids(anonymous.get(VENUES)) == {str(public.pk)}
    assert anonymous.get(f"{VENUES}{licensed_venues[2].pk}/").status_code == 403


def test_the_owner_staff_still_reads_everything_it_owns(owner: Any, bearer_client: Any) -> None:
    venues = {str(VenueFactory(owner=owner).pk) for _ in range(2)}
    save(owner, templates=[])
    editor = UserFactory()
    StaffMembership.objects.create(user=editor, organisation=owner, role="reader")
    api = bearer_client("referentials:read", kind="reader", user=editor)
    assert ids(api.get(VENUES)) == venues  # its own data: no purpose needed
    assert not JournalEntry.objects.exists()


def test_a_blocked_professional_is_refused_without_being_told_why(owner: Any, pro: Any) -> None:
    venue = VenueFactory(owner=owner)
    reader = pro(2)
    Block.objects.create(owner=owner, blocked_user=reader.user)
    response = reader.get(f"{VENUES}{venue.pk}/?purpose=programming")
    assert response.status_code == 403
    assert response.json()["error"] == "refused"
    assert response.json()["detail"] == "Accès refusé."
    assert str(venue.pk) not in ids(reader.get(f"{VENUES}?purpose=programming"))
    assert APIClient().get(f"{VENUES}{venue.pk}/").status_code == 200


# ---------------------------------------------------------------------------- purpose


def test_purpose_is_mandatory_to_read_another_owners_restricted_data(owner: Any, pro: Any) -> None:
    VenueFactory(owner=owner)
    save(owner, templates=[{"name": "licensed_only"}])
    reader = pro(2)
    missing = reader.get(VENUES)
    assert missing.status_code == 400
    assert "purpose" in missing.json()["fields"]
    unknown = reader.get(f"{VENUES}?purpose=gossip")
    assert unknown.status_code == 400
    assert "purpose" in unknown.json()["fields"]
    assert reader.get(f"{VENUES}?purpose=research").status_code == 200


def test_no_purpose_needed_for_public_data_or_anonymous_readers(pro: Any) -> None:
    venue = VenueFactory()
    assert pro(2).get(VENUES).status_code == 200
    assert pro(2).get(f"{VENUES}{venue.pk}/").status_code == 200
    assert APIClient().get(VENUES).status_code == 200
    assert APIClient().get(f"{VENUES}?purpose=nonsense").status_code == 400


def test_a_list_without_restricted_records_in_its_result_needs_no_purpose(owner: Any, pro: Any) -> None:
    restricted = VenueFactory(owner=owner, city="Lille")
    VenueFactory(city="Lyon")
    save(owner, templates=[{"name": "licensed_only"}])
    assert pro(2).get(f"{VENUES}?city=Lyon").status_code == 200
    assert pro(2).get(f"{VENUES}?city=Lille").status_code == 400
    assert str(restricted.pk) in ids(pro(2).get(f"{VENUES}?city=Lille&purpose=programming"))


def test_purpose_limited_policy_names_the_allowed_purposes(owner: Any, pro: Any) -> None:
    venue = VenueFactory(owner=owner)
    save(owner, templates=[{"name": "licensed_only"}, {"name": "purpose_limited", "purposes": ["touring"]}])
    refused = pro(2).get(f"{VENUES}{venue.pk}/?purpose=communication")
    assert refused.json()["error"] == "purpose_not_allowed"
    assert "touring" in refused.json()["detail"]
    assert pro(2).get(f"{VENUES}{venue.pk}/?purpose=touring").status_code == 200


# ---------------------------------------------------------------------------- obligations


def test_journal_lists_the_records_actually_returned_per_owner(owner: Any, pro: Any) -> None:
    for _ in range(3):
        VenueFactory(owner=owner)
    VenueFactory()  # public: no journal duty
    save(owner, templates=[{"name": "licensed_only"}])
    reader = pro(2)
    response = reader.get(f"{VENUES}?purpose=programming&page_size=2&ordering=name")
    returned = [item["id"] for item in response.json()["results"] if item["owner"] == str(owner.pk)]
    entries = list(JournalEntry.objects.all())
    assert len(entries) == 1
    entry = entries[0]
    assert entry.owner_id == owner.pk
    assert sorted(entry.record_ids) == sorted(returned)
    assert (entry.action, entry.decision, entry.reason_code, entry.purpose) == (
        "read",
        "permit",
        "policy_permits",
        "programming",
    )
    assert entry.user_id == reader.user.pk
    assert entry.organisation_id == reader.organisation.pk
    assert entry.licence_number.startswith("PLATESV-")


def test_attribution_and_licence_link_headers(owner: Any) -> None:
    VenueFactory(owner=owner)
    rules = (Rule("permission", ("read", "export"), (), (Duty("attribute", "Données du Théâtre du Nord"),)),)
    policy = save_rules(owner, rules)
    response = APIClient().get(VENUES)
    assert unquote(response["Attribution"].removeprefix("UTF-8''")) == "Théâtre du Nord — Données du Théâtre du Nord"
    assert f'<{policy.uri}>; rel="license"' in response["Link"]
    detail = APIClient().get(f"{VENUES}{owner_venue(owner)}/")
    assert "Attribution" in detail


def owner_venue(owner: Any) -> str:
    from dataspace.referentials.models import Venue

    return str(Venue.objects.filter(owner=owner).values_list("pk", flat=True).first())


def test_the_licence_link_follows_the_paging_link(owner: Any) -> None:
    for _ in range(3):
        VenueFactory(owner=owner)
    policy = save(owner, templates=[{"name": "public"}])
    link = APIClient().get(f"{VENUES}?page_size=1")["Link"]
    assert link.startswith("<")
    assert 'rel="next"' in link.split(",")[0]
    assert link.endswith(f'<{policy.uri}>; rel="license"')


def test_delete_after_obligation_header(owner: Any) -> None:
    venue = VenueFactory(owner=owner)
    save_rules(owner, (Rule("permission", ("read",), (), (Duty("deleteAfter", dt.timedelta(days=30)),)),))
    assert APIClient().get(f"{VENUES}{venue.pk}/")["Usage-Obligations"] == "deleteAfter=P30D"
    assert APIClient().get(VENUES)["Usage-Obligations"] == "deleteAfter=P30D"


def test_csv_export_is_the_export_action(owner: Any, pro: Any) -> None:
    exported = VenueFactory(owner=owner)
    save(owner, templates=[{"name": "licensed_only"}])  # read and search, not export
    other = VenueFactory()
    response = pro(2).get(f"{VENUES}?format=csv&fields=id&purpose=programming")
    body = b"".join(response.streaming_content).decode()
    assert str(other.pk) in body
    assert str(exported.pk) not in body


def test_jsonld_rendering_is_filtered_too(owner: Any) -> None:
    hidden = VenueFactory(owner=owner)
    shown = VenueFactory()
    save(owner, templates=[])
    body = APIClient().get(VENUES, HTTP_ACCEPT="application/ld+json").content.decode()
    assert str(shown.pk) in body
    assert str(hidden.pk) not in body


def test_ics_feed_shows_only_what_anonymous_may_read(client: Any) -> None:
    private = PerformanceFactory()
    public = PerformanceFactory()
    save(private.owner, "performance", templates=[{"name": "licensed_only"}])
    body = client.get("/feeds/performances.ics?from=2026-01-01").content.decode()
    assert f"{public.pk}@" in body
    assert f"{private.pk}@" not in body


def test_terms_of_use_must_be_accepted_on_a_registry_node(settings: Any, owner: Any, pro: Any) -> None:
    settings.NODE_ROLES = ["registry"]
    VenueFactory(owner=owner)
    TermsOfUseFactory(version="2026-11")
    response = pro(2).get(f"{VENUES}?purpose=programming")
    assert response.status_code == 403
    assert response.json()["error"] == "terms_not_accepted"
    assert "/api/v1/terms/accept" in response.json()["detail"]


# ---------------------------------------------------------------------------- writes


def test_writes_keep_the_owner_rules(owner: Any, bearer_client: Any) -> None:
    venue = VenueFactory(owner=owner)
    save(owner, templates=[{"name": "licensed_only"}])
    mine = bearer_client("referentials:write", owner=owner)
    assert mine.patch(f"{VENUES}{venue.pk}/", {"city": "Roubaix"}, format="json").status_code == 200
    stranger = bearer_client("referentials:write")
    refused = stranger.patch(f"{VENUES}{venue.pk}/", {"city": "Tourcoing"}, format="json")
    assert refused.status_code == 403
    assert "owner" in refused.json()["fields"]


def test_an_odrl_modify_permission_lets_a_partner_write_and_is_journaled(owner: Any, bearer_client: Any) -> None:
    venue = VenueFactory(owner=owner)
    partner = OrganisationFactory()
    rules = (Rule("permission", ("modify",), (Constraint("organisation", "isAnyOf", (str(partner.pk),)),)),)
    save_rules(owner, rules)
    api = bearer_client("referentials:write", owner=partner)
    response = api.patch(f"{VENUES}{venue.pk}/", {"city": "Arras"}, format="json")
    assert response.status_code == 200, response.content
    entry = JournalEntry.objects.get(owner_id=owner.pk, action="modify")
    assert (entry.decision, entry.reason_code, entry.client_id) == (
        "permit",
        "policy_permits",
        api.oauth_client.client_id,
    )
    moved = api.patch(f"{VENUES}{venue.pk}/", {"owner": str(partner.pk)}, format="json")
    assert moved.status_code == 403  # the grant never hands the record over
    assert (
        bearer_client("referentials:write").patch(f"{VENUES}{venue.pk}/", {"city": "X"}, format="json").status_code
        == 403
    )


def test_a_co_producers_write_through_its_grant_is_journaled(bearer_client: Any) -> None:
    from dataspace.referentials.permissions import sync_host_grants
    from tests.factories import HallFactory, ProductionFactory

    producer, coproducer = OrganisationFactory(name="Théâtre A"), OrganisationFactory(name="Scène B")
    production = ProductionFactory(owner=producer)
    production.coproducers.set([coproducer])
    hosted = PerformanceFactory(
        production=production, owner=producer, hall=HallFactory(venue=VenueFactory(owner=coproducer), owner=coproducer)
    )
    sync_host_grants(production)
    editor = UserFactory()
    StaffMembership.objects.create(user=editor, organisation=coproducer, role="editor")
    api = bearer_client("referentials:write referentials:read", user=editor)
    response = api.patch(f"/api/v1/performances/{hosted.pk}/", {"capacity": 321}, format="json")
    assert response.status_code == 200, response.content
    entry = JournalEntry.objects.get(owner_id=producer.pk, action="modify")
    assert (entry.decision, entry.reason_code, entry.user_id) == ("permit", "object_grant", editor.pk)
    assert entry.record_ids == [str(hosted.pk)]


def test_a_break_glass_read_is_permitted_and_journaled_apart(owner: Any, pro: Any) -> None:
    from policies.models import BreakGlassAccess

    venue = VenueFactory(owner=owner)
    save(owner, templates=[])  # nobody but the owner
    reader = pro(2)
    url = f"{VENUES}{venue.pk}/?purpose=programming"
    assert reader.get(url).status_code == 403
    BreakGlassAccess.objects.create(
        user=reader.user,
        owner=owner,
        target_type="venue",
        target_id=venue.pk,
        emergency="public_safety",
        justification="Évacuation : les secours demandent les plans et jauges de la grande salle.",
        expires_at=timezone.now() + dt.timedelta(hours=1),
    )
    assert reader.get(url).status_code == 200
    entry = JournalEntry.objects.get(owner_id=owner.pk, decision="permit")
    assert (entry.stream, entry.reason_code) == ("break_glass", "break_glass")
    assert str(venue.pk) not in ids(reader.get(f"{VENUES}?purpose=programming"))  # one record, never lists


def test_a_csv_export_journals_every_row_it_streams(owner: Any, pro: Any) -> None:
    venues = {str(VenueFactory(owner=owner).pk) for _ in range(3)}
    rules = (Rule("permission", ("read", "export"), (Constraint("licensed", "eq", True),), (Duty("journal"),)),)
    save_rules(owner, rules)
    response = pro(2).get(f"{VENUES}?format=csv&fields=id&purpose=reporting")
    rows = b"".join(response.streaming_content).decode().split()
    assert set(rows[1:]) == venues
    entry = JournalEntry.objects.get(owner_id=owner.pk)
    assert (entry.action, entry.purpose, set(entry.record_ids)) == ("export", "reporting", venues)
