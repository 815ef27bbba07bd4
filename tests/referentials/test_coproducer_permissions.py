"""A co-producing structure edits the performances of a shared production it hosts, nothing else.

Production P is owned by A and co-produced by B. X is a performance of P in a hall of a venue B
owns; X2 one in a venue A owns and B operates; Y one in A's own hall; Z one in a hall of C, which
does not co-produce P. Grants are django-guardian `GroupObjectPermission` rows of the group
`organisation:<uuid>` standing for B.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from typing import Any

import pytest
from django.contrib.auth.models import Group
from django.contrib.contenttypes.models import ContentType
from django.utils import timezone
from guardian.models import GroupObjectPermission
from rest_framework.test import APIClient

from dataspace.node.models import StaffMembership
from dataspace.oauth.models import Mandate
from dataspace.records.models import Change
from dataspace.referentials import models as m
from dataspace.referentials.permissions import (
    may_edit_hosted,
    object_grant_holders,
    organisations_may_edit_hosted,
    sync_host_grants,
)
from tests.factories import (
    HallFactory,
    OrganisationFactory,
    PerformanceFactory,
    ProductionFactory,
    UserFactory,
    VenueFactory,
    WorkFactory,
)
from tests.referentials.factories_extra import ContributionFactory

pytestmark = pytest.mark.django_db

PARIS = zoneinfo.ZoneInfo("Europe/Paris")
WRITE = "referentials:write referentials:read"
PERFORMANCES = "/api/v1/performances/"


class World:
    """The organisations, halls, production and performances of every test."""

    def __init__(self) -> None:
        self.a = OrganisationFactory(name="Théâtre A (producteur)")
        self.b = OrganisationFactory(name="Scène B (coproductrice)")
        self.c = OrganisationFactory(name="Salle C (accueil seul)")
        self.hall_a = HallFactory(venue=VenueFactory(owner=self.a, operator=self.a), owner=self.a)
        self.hall_b = HallFactory(venue=VenueFactory(owner=self.b, operator=None), owner=self.b)
        self.hall_b2 = HallFactory(venue=self.hall_b.venue, owner=self.b, name="Petite salle B")
        self.hall_operated = HallFactory(venue=VenueFactory(owner=self.a, operator=self.b), owner=self.a)
        self.hall_c = HallFactory(venue=VenueFactory(owner=self.c, operator=self.c), owner=self.c)
        self.work = WorkFactory(owner=self.a)
        self.p = ProductionFactory(owner=self.a, producer=self.a, title="Les Vagues fictives")
        self.p.works.set([self.work])
        self.p.coproducers.set([self.b])
        self.credit = ContributionFactory(production=self.p, owner=self.a)
        self.other = ProductionFactory(owner=self.a, title="Autre spectacle de A")
        self.own_b = ProductionFactory(owner=self.b, title="Spectacle de B")
        self.x = self.performance(self.hall_b, day=1)
        self.x2 = self.performance(self.hall_operated, day=2)
        self.y = self.performance(self.hall_a, day=3)
        self.z = self.performance(self.hall_c, day=4)
        sync_host_grants(self.p)

    def performance(self, hall: m.Hall, day: int) -> m.Performance:
        start = dt.datetime(2027, 3, day, 20, 0, tzinfo=PARIS)
        return PerformanceFactory(production=self.p, owner=self.a, hall=hall, start=start)


@pytest.fixture
def world() -> World:
    return World()


def session(organisation: Any, role: str = "editor") -> APIClient:
    user = UserFactory()
    StaffMembership.objects.create(user=user, organisation=organisation, role=role)
    api = APIClient()
    api.force_login(user)
    return api


def url(record: Any, collection: str = PERFORMANCES) -> str:
    return f"{collection}{record.pk}/"


def etag(record: Any) -> str:
    record.refresh_from_db()
    return f'"{record.pk}-{record.version}"'


def patch(api: APIClient, record: Any, data: dict[str, Any], collection: str = PERFORMANCES) -> Any:
    return api.patch(url(record, collection), data, format="json")


def grants() -> set[tuple[str, str]]:
    """(performance id, group name) of every change grant on a performance."""
    rows = GroupObjectPermission.objects.filter(
        content_type=ContentType.objects.get_for_model(m.Performance), permission__codename="change_performance"
    ).values_list("object_pk", "group__name")
    return set(rows)


def group_of(organisation: Any) -> str:
    return f"organisation:{organisation.pk}"


def assert_refused(response: Any, field: str | None = None) -> None:
    assert response.status_code == 403, response.content
    if field is not None:
        assert field in response.json()["fields"], response.json()


# ---------------------------------------------------------------------------- the grants


def test_grants_are_guardian_rows_for_hosted_performances_only(world: World) -> None:
    assert grants() == {(str(world.x.pk), group_of(world.b)), (str(world.x2.pk), group_of(world.b))}
    group = Group.objects.get(name=group_of(world.b))
    assert GroupObjectPermission.objects.filter(group=group).count() == 2  # one per hosted performance
    assert not Group.objects.filter(name=group_of(world.c)).exists()
    assert object_grant_holders(world.x) == {world.b.pk}
    assert object_grant_holders(world.y) == set()
    assert object_grant_holders(world.z) == set()
    assert organisations_may_edit_hosted([world.b.pk], world.x)
    assert not organisations_may_edit_hosted([world.c.pk, world.a.pk], world.x)


def test_sync_is_idempotent_and_cheap(world: World, django_assert_max_num_queries: Any) -> None:
    before = set(GroupObjectPermission.objects.values_list("pk", flat=True))
    with django_assert_max_num_queries(4):  # coproducers, performances, existing grants (nothing to do)
        sync_host_grants(world.p)
    assert set(GroupObjectPermission.objects.values_list("pk", flat=True)) == before


def test_sync_adds_and_removes_to_match_the_rule(world: World) -> None:
    world.p.coproducers.set([world.b, world.c])
    sync_host_grants(world.p)
    assert (str(world.z.pk), group_of(world.c)) in grants()
    world.p.coproducers.set([world.c])
    sync_host_grants(world.p)
    assert grants() == {(str(world.z.pk), group_of(world.c))}


def test_may_edit_hosted_decides_on_roles_clients_and_mandates(world: World) -> None:
    """The check itself, apart from the API (the decision point asks it for every grant write)."""
    from django.test import RequestFactory
    from rest_framework.request import Request

    from dataspace.api.auth import ClientPrincipal
    from dataspace.oauth.models import Client

    def asking(user: Any) -> Request:
        request = Request(RequestFactory().patch("/"))
        request.user = user
        return request

    def member(organisation: Any, role: str) -> Any:
        user = UserFactory()
        StaffMembership.objects.create(user=user, organisation=organisation, role=role)
        return user

    def client(owner: Any, kind: str = "depositor") -> Client:
        return Client.objects.create(
            client_id=f"unit-{Client.objects.count()}",
            name="Logiciel",
            owner=owner,
            kind=kind,
            allowed_scopes=["referentials:write"],
            grant_types=["client_credentials"],
        )

    assert may_edit_hosted(asking(member(world.b, "editor")), world.x)
    assert may_edit_hosted(asking(member(world.b, "administrator")), world.x2)
    assert not may_edit_hosted(asking(member(world.b, "editor")), world.y)  # hosted by A
    assert not may_edit_hosted(asking(member(world.b, "reader")), world.x)
    assert not may_edit_hosted(asking(member(world.c, "editor")), world.x)
    assert not may_edit_hosted(asking(member(world.c, "editor")), world.z)  # C hosts Z, does not co-produce
    assert may_edit_hosted(asking(ClientPrincipal(client=client(world.b))), world.x)
    assert not may_edit_hosted(asking(ClientPrincipal(client=client(world.b, kind="reader"))), world.x)
    vendor = client(OrganisationFactory())
    assert not may_edit_hosted(asking(ClientPrincipal(client=vendor)), world.x)
    Mandate.objects.create(structure=world.b, client=vendor, scopes=["ticketing:write"], granted_by=UserFactory())
    assert not may_edit_hosted(asking(ClientPrincipal(client=vendor)), world.x)
    Mandate.objects.filter(client=vendor).update(revoked_at=timezone.now())
    Mandate.objects.create(structure=world.b, client=vendor, scopes=["referentials:write"], granted_by=UserFactory())
    assert may_edit_hosted(asking(ClientPrincipal(client=vendor)), world.x)


# ---------------------------------------------------------------------------- who may edit X


def test_b_editor_edits_the_schedule_of_x_and_the_change_is_in_the_feed(world: World) -> None:
    api = session(world.b, "editor")
    start = "2027-03-01T19:30:00+01:00"
    response = api.patch(
        url(world.x),
        {"status": "postponed", "previous_start": world.x.start.isoformat(), "start": start, "capacity": 380},
        format="json",
        HTTP_IF_MATCH=etag(world.x),
    )
    assert response.status_code == 200, response.content
    world.x.refresh_from_db()
    assert (world.x.status, world.x.capacity, world.x.version) == ("postponed", 380, 2)
    assert world.x.owner_id == world.a.pk  # still A's record
    assert Change.objects.filter(record_id=world.x.pk, op="upsert", version=2, owner_id=world.a.pk).exists()
    feed = APIClient()
    feed.force_login(UserFactory(is_staff=True, is_superuser=True))
    entries = feed.get("/api/v1/changes", {"types": "performance"}).json()["changes"]
    assert any(e["uuid"] == str(world.x.pk) and e["version"] == 2 for e in entries)
    # the grant keeps the other rules: a stale ETag is a 412
    stale = api.patch(url(world.x), {"capacity": 10}, format="json", HTTP_IF_MATCH=f'"{world.x.pk}-1"')
    assert stale.status_code == 412
    # PUT with the same production, hall and owner is a change of the schedule too
    body = api.get(url(world.x)).json()
    body.update(capacity=300, ticketing_url="https://billetterie.example/x")
    assert api.put(url(world.x), body, format="json").status_code == 200


def test_b_editor_edits_a_performance_in_a_venue_b_operates(world: World) -> None:
    assert patch(session(world.b), world.x2, {"capacity": 111}).status_code == 200


def test_b_administrator_may_and_b_reader_may_not(world: World) -> None:
    assert patch(session(world.b, "administrator"), world.x, {"capacity": 390}).status_code == 200
    refused = patch(session(world.b, "reader"), world.x, {"capacity": 1})
    assert refused.status_code == 403
    world.x.refresh_from_db()
    assert world.x.capacity == 390


def test_b_depositor_client_and_a_vendor_mandated_by_b_may(world: World, bearer_client: Any) -> None:
    own = bearer_client(WRITE, owner=world.b)
    assert patch(own, world.x, {"capacity": 301}).status_code == 200

    vendor = bearer_client(WRITE)
    assert_refused(patch(vendor, world.x, {"capacity": 302}), "owner")
    given = Mandate.objects.create(
        structure=world.b, client=vendor.oauth_client, scopes=["referentials:write"], granted_by=UserFactory()
    )
    assert patch(vendor, world.x, {"capacity": 303}).status_code == 200
    given.revoked_at = timezone.now()
    given.save()
    assert_refused(patch(vendor, world.x, {"capacity": 304}), "owner")
    world.x.refresh_from_db()
    assert world.x.capacity == 303


def test_a_personal_api_key_carries_its_persons_role_on_b(world: World, bearer_client: Any) -> None:
    editor, reader = UserFactory(), UserFactory()
    StaffMembership.objects.create(user=editor, organisation=world.b, role="editor")
    StaffMembership.objects.create(user=reader, organisation=world.b, role="reader")
    assert patch(bearer_client(WRITE, owner=world.b, user=editor), world.x, {"capacity": 305}).status_code == 200
    assert patch(bearer_client(WRITE, owner=world.b, user=reader), world.x, {"capacity": 306}).status_code == 403


def test_a_mandate_without_the_write_scope_gives_nothing(world: World, bearer_client: Any) -> None:
    vendor = bearer_client(f"{WRITE} ticketing:write")
    Mandate.objects.create(
        structure=world.b, client=vendor.oauth_client, scopes=["ticketing:write"], granted_by=UserFactory()
    )
    assert_refused(patch(vendor, world.x, {"capacity": 1}), "owner")


def test_reader_clients_and_tokens_without_the_write_scope_never_write(world: World, bearer_client: Any) -> None:
    reader = bearer_client(WRITE, kind="reader", owner=world.b)
    response = patch(reader, world.x, {"capacity": 1})
    assert response.status_code == 403
    assert response.json()["error"] == "reader_client"
    read_only = bearer_client("referentials:read", owner=world.b)
    response = patch(read_only, world.x, {"capacity": 1})
    assert response.status_code == 403
    assert response.json()["error"] == "insufficient_scope"


# ---------------------------------------------------------------------------- nothing else of P


def test_b_may_not_move_x_or_hand_it_over(world: World) -> None:
    api = session(world.b)
    assert_refused(patch(api, world.x, {"production": str(world.own_b.pk)}), "production")
    assert_refused(patch(api, world.x, {"hall": str(world.hall_b2.pk)}), "hall")
    assert_refused(patch(api, world.x, {"owner": str(world.b.pk)}), "owner")
    assert_refused(patch(api, world.x, {"capacity": 5, "hall": str(world.hall_b2.pk)}), "hall")
    season = m.Season.objects.create(
        owner=world.b, name="Saison de B", start_date=dt.date(2026, 9, 1), end_date=dt.date(2027, 6, 30)
    )
    assert_refused(patch(api, world.x, {"season": str(season.pk)}), "season")
    world.x.refresh_from_db()
    assert (world.x.production_id, world.x.hall_id, world.x.owner_id, world.x.version) == (
        world.p.pk,
        world.hall_b.pk,
        world.a.pk,
        1,
    )


def test_b_may_not_delete_x(world: World, bearer_client: Any) -> None:
    assert_refused(session(world.b).delete(url(world.x)), "owner")
    assert_refused(bearer_client(WRITE, owner=world.b).delete(url(world.x)), "owner")
    assert m.Performance.objects.filter(pk=world.x.pk).exists()


def test_b_may_not_edit_p_its_other_performances_works_or_credits(world: World) -> None:
    api = session(world.b)
    version = world.p.version
    assert_refused(patch(api, world.p, {"title": "Titre de B"}, "/api/v1/productions/"), "owner")
    assert_refused(patch(api, world.p, {"coproducers": []}, "/api/v1/productions/"), "owner")
    assert_refused(patch(api, world.y, {"capacity": 1}), "owner")  # hosted by A
    assert_refused(patch(api, world.z, {"capacity": 1}), "owner")  # hosted by C
    assert_refused(patch(api, world.work, {"title": "Œuvre de B"}, "/api/v1/works/"), "owner")
    assert_refused(patch(api, world.credit, {"role_label": "par B"}, "/api/v1/contributions/"), "owner")
    world.p.refresh_from_db()
    assert world.p.version == version
    assert world.p.coproducers.get() == world.b


def test_b_may_not_create_performances_of_p(world: World) -> None:
    api = session(world.b)
    payload = {"production": str(world.p.pk), "hall": str(world.hall_b2.pk), "start": "2027-03-20T20:00:00+01:00"}
    assert_refused(api.post(PERFORMANCES, {**payload, "owner": str(world.a.pk)}, format="json"), "owner")
    assert_refused(api.post(PERFORMANCES, {**payload, "owner": str(world.b.pk)}, format="json"), "production")
    # nor bring one of its own performances into P
    own = PerformanceFactory(production=world.own_b, owner=world.b, hall=world.hall_b2)
    assert_refused(patch(api, own, {"production": str(world.p.pk)}), "production")
    assert m.Performance.objects.filter(production=world.p).count() == 4
    # its own production is its own business
    created = api.post(
        PERFORMANCES, {**payload, "production": str(world.own_b.pk), "owner": str(world.b.pk)}, format="json"
    )
    assert created.status_code == 201, created.content


def test_c_hosting_without_co_producing_may_not(world: World, bearer_client: Any) -> None:
    api = session(world.c)
    assert_refused(patch(api, world.z, {"capacity": 1}), "owner")
    assert_refused(patch(api, world.x, {"capacity": 1}), "owner")
    assert_refused(patch(bearer_client(WRITE, owner=world.c), world.z, {"capacity": 1}), "owner")


def test_a_keeps_every_right_on_its_records(world: World) -> None:
    api = session(world.a)
    assert patch(api, world.x, {"capacity": 10, "season": None}).status_code == 200
    assert patch(api, world.p, {"title": "Nouveau titre"}, "/api/v1/productions/").status_code == 200


# ---------------------------------------------------------------------------- when the facts change


def test_removing_b_from_the_coproducers_takes_the_grant_away(world: World) -> None:
    owner, b = session(world.a), session(world.b)
    assert patch(b, world.x, {"capacity": 200}).status_code == 200
    response = patch(owner, world.p, {"coproducers": []}, "/api/v1/productions/")
    assert response.status_code == 200, response.content
    assert grants() == set()
    assert_refused(patch(b, world.x, {"capacity": 201}), "owner")
    assert patch(owner, world.p, {"coproducers": [str(world.b.pk)]}, "/api/v1/productions/").status_code == 200
    assert object_grant_holders(world.x) == {world.b.pk}
    assert patch(b, world.x, {"capacity": 202}).status_code == 200


def test_moving_x_to_a_hall_b_does_not_host_takes_the_grant_away(world: World) -> None:
    owner, b = session(world.a), session(world.b)
    assert patch(owner, world.x, {"hall": str(world.hall_a.pk)}).status_code == 200
    assert object_grant_holders(world.x) == set()
    assert_refused(patch(b, world.x, {"capacity": 1}), "owner")
    assert patch(owner, world.x, {"hall": str(world.hall_b2.pk)}).status_code == 200
    assert object_grant_holders(world.x) == {world.b.pk}


def test_a_venue_changing_operator_moves_the_grant(world: World) -> None:
    owner = session(world.a)
    response = patch(owner, world.hall_operated.venue, {"operator": str(world.a.pk)}, "/api/v1/venues/")
    assert response.status_code == 200, response.content
    assert object_grant_holders(world.x2) == set()
    assert_refused(patch(session(world.b), world.x2, {"capacity": 1}), "owner")


def test_performances_created_and_deleted_through_the_api_follow(world: World) -> None:
    owner = session(world.a)
    created = owner.post(
        PERFORMANCES,
        {
            "production": str(world.p.pk),
            "hall": str(world.hall_b2.pk),
            "owner": str(world.a.pk),
            "start": "2027-03-21T20:00:00+01:00",
        },
        format="json",
    )
    assert created.status_code == 201, created.content
    new = m.Performance.objects.get(pk=created.json()["id"])
    assert object_grant_holders(new) == {world.b.pk}
    assert owner.delete(url(new)).status_code == 204
    assert (str(new.pk), group_of(world.b)) not in grants()
    assert owner.delete(url(world.p, "/api/v1/productions/")).status_code == 204
    assert grants() == set()


# ---------------------------------------------------------------------------- the admin


def admin_client() -> Any:
    from django.test import Client

    client = Client()
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    return client


def test_admin_moving_x_and_changing_coproducers_resyncs(world: World) -> None:
    client = admin_client()
    start = world.x.start.astimezone(PARIS)
    form = {
        "production": str(world.p.pk),
        "hall": str(world.hall_a.pk),
        "season": "",
        "owner": str(world.a.pk),
        "start_0": start.strftime("%Y-%m-%d"),
        "start_1": start.strftime("%H:%M:%S"),
        "time_zone": "Europe/Paris",
        "status": "scheduled",
        "previous_start_0": "",
        "previous_start_1": "",
        "capacity": "400",
        "accessibility": "[]",
        "ticketing_url": "",
        "same_as": "[]",
    }
    response = client.post(f"/admin/referentials/performance/{world.x.pk}/change/", form)
    assert response.status_code == 302, response.content.decode()[:3000]
    world.x.refresh_from_db()
    assert world.x.hall_id == world.hall_a.pk
    assert object_grant_holders(world.x) == set()
    assert object_grant_holders(world.x2) == {world.b.pk}

    from django.contrib import admin
    from django.test import RequestFactory

    from dataspace.referentials.admin import ProductionAdmin

    # the production's save hooks: co-producers changed in the form, grants follow after save_related
    model_admin = ProductionAdmin(m.Production, admin.site)
    request = RequestFactory().post("/")
    request.user = UserFactory(is_staff=True, is_superuser=True)
    form_class = model_admin.get_form(request, world.p, change=True)
    bound = form_class(instance=world.p)
    data = {name: bound[name].value() for name in bound.fields}
    data["coproducers"] = [str(world.c.pk)]
    data = {k: ("" if v is None else v) for k, v in data.items()}
    edited = form_class(data, instance=world.p)
    assert edited.is_valid(), edited.errors
    saved = model_admin.save_form(request, edited, change=True)
    model_admin.save_model(request, saved, edited, change=True)
    model_admin.save_related(request, edited, [], change=True)
    assert grants() == {(str(world.z.pk), group_of(world.c))}
