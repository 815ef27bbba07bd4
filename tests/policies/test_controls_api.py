"""/api/v1/blocks/, /api/v1/hidden-records/, /api/v1/break-glass/ (and its alerts), and the controls
as the referential API enforces them.

Personas: the owner structure's administrator, editor and reader (sessions); a depositor client of
the owner (token with `policies:manage`); another structure's administrator; a licensed
professional with a personal reader key (`referentials:read`) and one whose licence expired; a
vendor's machine client.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.core import mail
from django.utils import timezone
from rest_framework.test import APIClient

from dataspace.audit.models import JournalEntry
from dataspace.directory.models import Licence, ProfessionalAccount
from dataspace.node.models import StaffMembership
from policies import controls
from policies.models import Block, BreakGlassAccess, HiddenRecord
from tests.factories import OrganisationFactory, TechnicalSheetFactory, UserFactory, VenueFactory

pytestmark = pytest.mark.django_db

JUSTIFICATION = "Évacuation ce soir : il nous faut les issues de secours et la jauge de la salle."
BLOCKS = "/api/v1/blocks/"
HIDDEN = "/api/v1/hidden-records/"
BREAK_GLASS = "/api/v1/break-glass/"
ALERTS = "/api/v1/break-glass/alerts/"


def session(user: Any) -> APIClient:
    api = APIClient()
    api.force_login(user)
    return api


def staff(organisation: Any, role: str, username: str, email: str = "") -> Any:
    user = UserFactory(username=username, email=email)
    StaffMembership.objects.create(user=user, organisation=organisation, role=role)
    return user


def make_professional(username: str, organisation: Any, *, valid_until: dt.date, number: str) -> Any:
    user = UserFactory(username=username)
    ProfessionalAccount.objects.create(user=user, organisation=organisation, verified_at=timezone.now())
    Licence.objects.create(
        number=number,
        category=1,
        status=Licence.Status.VALID,
        kind=Licence.Kind.RENEWAL,
        organisation=organisation,
        deposited_on=dt.date(2022, 3, 1),
        valid_until=valid_until,
    )
    return user


@pytest.fixture
def owner() -> Any:
    return OrganisationFactory(name="Théâtre du Nord")


@pytest.fixture
def other() -> Any:
    return OrganisationFactory(name="Scène voisine")


@pytest.fixture
def operator() -> Any:
    return OrganisationFactory(name="Lieu d'accueil")


@pytest.fixture
def owner_admin(owner: Any) -> Any:
    return staff(owner, "administrator", "admin-nord", "direction@nord.example")


@pytest.fixture
def other_admin(other: Any) -> Any:
    return staff(other, "administrator", "admin-voisine", "direction@voisine.example")


@pytest.fixture
def pro(operator: Any) -> Any:
    return make_professional("regisseuse", operator, valid_until=dt.date(2030, 1, 1), number="1-PLATESV-R-2022-000417")


@pytest.fixture
def pro_api(bearer_client: Any, pro: Any, operator: Any) -> APIClient:
    """The professional's personal API key: a reader client bound to her, `referentials:read`."""
    api: APIClient = bearer_client("referentials:read", kind="reader", owner=operator, user=pro)
    return api


@pytest.fixture
def sheet(owner: Any) -> Any:
    return TechnicalSheetFactory(owner=owner, hall__owner=owner, hall__venue__owner=owner)


# ---------------------------------------------------------------------------- /api/v1/blocks/


def test_an_administrator_blocks_a_person_and_an_organisation_and_lifts_a_block(
    owner: Any, owner_admin: Any, pro: Any, operator: Any
) -> None:
    api = session(owner_admin)
    person = api.post(BLOCKS, {"user": "regisseuse", "note": "litige sur un contrat"}, format="json")
    assert person.status_code == 201, person.json()
    assert person.json()["owner"] == str(owner.pk)
    assert person.json()["user"] == "regisseuse"
    assert person.json()["created_by"] == "admin-nord"
    organisation = api.post(BLOCKS, {"organisation": operator.uri}, format="json")
    assert organisation.status_code == 201, organisation.json()
    assert organisation.json()["organisation"] == str(operator.pk)
    assert organisation.json()["organisation_name"] == "Lieu d'accueil"

    listing = api.get(BLOCKS)
    assert listing.status_code == 200
    assert {item["id"] for item in listing.json()["results"]} == {person.json()["id"], organisation.json()["id"]}

    lifted = api.delete(f"{BLOCKS}{person.json()['id']}/")
    assert lifted.status_code == 204
    assert list(Block.objects.values_list("blocked_organisation", flat=True)) == [operator.pk]


def test_block_creation_errors_name_the_field(owner: Any, owner_admin: Any, operator: Any) -> None:
    api = session(owner_admin)
    unknown = api.post(BLOCKS, {"user": "personne-inconnue"}, format="json")
    assert unknown.status_code == 400
    assert "user" in unknown.json()["fields"]
    nothing = api.post(BLOCKS, {"note": "?"}, format="json")
    assert nothing.status_code == 400
    assert "user" in nothing.json()["fields"]
    itself = api.post(BLOCKS, {"organisation": str(owner.pk)}, format="json")
    assert itself.status_code == 400
    assert "organisation" in itself.json()["fields"]
    bad = api.post(BLOCKS, {"organisation": "pas-un-uuid"}, format="json")
    assert bad.status_code == 400
    assert "organisation" in bad.json()["fields"]
    assert not Block.objects.exists()


def test_another_structure_neither_sees_nor_lifts_the_blocks(
    owner: Any, owner_admin: Any, other_admin: Any, pro: Any
) -> None:
    block = controls.block_party(owner, user=pro, by=owner_admin)
    api = session(other_admin)
    assert api.get(BLOCKS).json()["results"] == []
    assert api.get(f"{BLOCKS}{block.pk}/").status_code == 404
    assert api.delete(f"{BLOCKS}{block.pk}/").status_code == 404
    # Naming the owner does not help: it may not write for it.
    forced = api.post(BLOCKS, {"owner": str(owner.pk), "user": "regisseuse"}, format="json")
    assert forced.status_code == 403
    assert "owner" in forced.json()["fields"]
    assert Block.objects.count() == 1


def test_a_reader_role_sees_the_blocks_but_changes_nothing(owner: Any, owner_admin: Any, pro: Any) -> None:
    block = controls.block_party(owner, user=pro, by=owner_admin)
    reader = session(staff(owner, "reader", "lecteur-nord"))
    assert [item["id"] for item in reader.get(BLOCKS).json()["results"]] == [block.pk]
    assert reader.post(BLOCKS, {"organisation": str(OrganisationFactory().pk)}, format="json").status_code == 403
    assert reader.delete(f"{BLOCKS}{block.pk}/").status_code == 403
    assert Block.objects.count() == 1


def test_tokens_need_policies_manage(bearer_client: Any, owner: Any, operator: Any) -> None:
    depositor = bearer_client("policies:manage", owner=owner)
    created = depositor.post(BLOCKS, {"organisation": str(operator.pk)}, format="json")
    assert created.status_code == 201, created.json()
    assert created.json()["owner"] == str(owner.pk)
    assert created.json()["created_by"] is None
    assert len(depositor.get(BLOCKS).json()["results"]) == 1
    entry = JournalEntry.objects.get(stream="admin")
    assert (entry.action, entry.client_id, entry.owner_id) == ("block", depositor.oauth_client.client_id, owner.pk)

    without = bearer_client("referentials:read referentials:write", owner=owner)
    refused = without.get(BLOCKS)
    assert refused.status_code == 403
    assert refused.json()["error"] == "insufficient_scope"
    assert APIClient().get(BLOCKS).status_code == 401


# ---------------------------------------------------------------------------- /api/v1/hidden-records/


def test_an_administrator_hides_a_record_changes_its_partners_and_shows_it_again(
    owner: Any, owner_admin: Any, other: Any, operator: Any
) -> None:
    venue = VenueFactory(owner=owner)
    api = session(owner_admin)
    created = api.post(HIDDEN, {"record": venue.uri, "partners": [str(other.pk)]}, format="json")
    assert created.status_code == 201, created.json()
    body = created.json()
    assert body["record"] == {"type": "venue", "id": str(venue.pk)}
    assert body["partners"] == [str(other.pk)]
    assert body["owner"] == str(owner.pk)

    changed = api.patch(f"{HIDDEN}{body['id']}/", {"partners": [operator.uri]}, format="json")
    assert changed.status_code == 200, changed.json()
    assert changed.json()["partners"] == [str(operator.pk)]
    assert api.get(HIDDEN, {"type": "hall"}).json()["results"] == []
    assert len(api.get(HIDDEN, {"type": "venue"}).json()["results"]) == 1

    assert api.delete(f"{HIDDEN}{body['id']}/").status_code == 204
    assert not HiddenRecord.objects.exists()


def test_one_cannot_hide_another_structures_record(owner: Any, other_admin: Any, owner_admin: Any) -> None:
    venue = VenueFactory(owner=owner)
    api = session(other_admin)
    refused = api.post(HIDDEN, {"record": {"type": "venue", "id": str(venue.pk)}}, format="json")
    assert refused.status_code == 400
    assert "record" in refused.json()["fields"]
    missing = api.post(
        HIDDEN, {"record": {"type": "venue", "id": "9b2f4c1e-0000-4000-8000-000000000000"}}, format="json"
    )
    assert missing.status_code == 400
    assert missing.json()["fields"]["record"] == refused.json()["fields"]["record"]  # nothing disclosed
    hidden = controls.hide_record(owner, "venue", venue.pk, by=owner_admin)
    assert api.get(f"{HIDDEN}{hidden.pk}/").status_code == 404
    assert api.patch(f"{HIDDEN}{hidden.pk}/", {"partners": []}, format="json").status_code == 404
    assert api.delete(f"{HIDDEN}{hidden.pk}/").status_code == 404
    assert HiddenRecord.objects.count() == 1


# ---------------------------------------------------------------------------- /api/v1/break-glass/


def _request(sheet: Any, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "record": sheet.uri,
        "emergency": "public_safety",
        "justification": JUSTIFICATION,
        "purpose": "programming",
    }
    body.update(overrides)
    return body


def test_a_licensed_professional_opens_a_break_glass_with_a_personal_key(
    pro_api: APIClient, sheet: Any, owner: Any, owner_admin: Any, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        opened = pro_api.post(BREAK_GLASS, _request(sheet), format="json")
    assert opened.status_code == 201, opened.json()
    body = opened.json()
    access = BreakGlassAccess.objects.get()
    assert body["id"] == str(access.pk)
    assert body["record"] == {"type": "technical-sheet", "id": str(sheet.pk)}
    assert body["owner"] == str(owner.pk)
    assert body["active"] is True
    assert body["licence_number"] == "1-PLATESV-R-2022-000417"
    assert dt.datetime.fromisoformat(body["expires_at"]) == access.expires_at
    assert access.expires_at - access.created_at == dt.timedelta(minutes=60)
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["direction@nord.example"]

    mine = pro_api.get(BREAK_GLASS)
    assert mine.status_code == 200
    assert [item["id"] for item in mine.json()["results"]] == [str(access.pk)]


def test_break_glass_refusals(
    bearer_client: Any, pro_api: APIClient, sheet: Any, operator: Any, owner: Any, pro: Any
) -> None:
    short = pro_api.post(BREAK_GLASS, _request(sheet, justification="urgent"), format="json")
    assert short.status_code == 400
    assert list(short.json()["fields"]) == ["justification"]
    unknown = pro_api.post(BREAK_GLASS, _request(sheet, emergency="curiosity"), format="json")
    assert unknown.status_code == 400
    assert list(unknown.json()["fields"]) == ["emergency"]
    nowhere = pro_api.post(
        BREAK_GLASS,
        _request(sheet, record="http://x.example/id/venue/9b2f4c1e-0000-4000-8000-000000000000"),
        format="json",
    )
    assert nowhere.status_code == 400
    assert list(nowhere.json()["fields"]) == ["record"]

    machine = bearer_client("referentials:read", kind="reader", owner=operator)
    refused = machine.post(BREAK_GLASS, _request(sheet), format="json")
    assert refused.status_code == 403
    assert refused.json()["error"] == "person_required"
    assert machine.get(BREAK_GLASS).status_code == 403

    scopeless = bearer_client("journal:read", kind="reader", owner=operator, user=pro)
    assert scopeless.post(BREAK_GLASS, _request(sheet), format="json").json()["error"] == "insufficient_scope"
    assert APIClient().post(BREAK_GLASS, _request(sheet), format="json").status_code == 401
    assert not BreakGlassAccess.objects.exists()


def test_an_expired_licence_is_refused_with_its_reason(bearer_client: Any, sheet: Any, operator: Any) -> None:
    expired = make_professional("ancien", operator, valid_until=dt.date(2024, 1, 31), number="2-PLATESV-R-2019-000042")
    api = bearer_client("referentials:read", kind="reader", owner=operator, user=expired)
    refused = api.post(BREAK_GLASS, _request(sheet), format="json")
    assert refused.status_code == 403
    assert refused.json()["error"] == "licence_expired"
    assert "2-PLATESV-R-2019-000042" in refused.json()["detail"]
    assert not BreakGlassAccess.objects.exists()


def test_a_blocked_professional_gets_the_generic_refusal(
    pro_api: APIClient, sheet: Any, owner: Any, operator: Any
) -> None:
    controls.block_party(owner, organisation=operator, by=None)
    refused = pro_api.post(BREAK_GLASS, _request(sheet), format="json")
    assert refused.status_code == 403
    assert refused.json() == {"error": "refused", "detail": "Accès refusé.", "fields": {}}
    assert mail.outbox == []


def test_owners_list_the_break_glass_accesses_to_their_data(
    pro_api: APIClient, sheet: Any, owner: Any, owner_admin: Any, other: Any, other_admin: Any, bearer_client: Any
) -> None:
    assert pro_api.post(BREAK_GLASS, _request(sheet), format="json").status_code == 201
    alerts = session(owner_admin).get(ALERTS)
    assert alerts.status_code == 200
    [alert] = alerts.json()["results"]
    assert alert["user"] == "regisseuse"
    assert alert["emergency"] == "public_safety"
    assert alert["justification"] == JUSTIFICATION
    assert session(owner_admin).get(ALERTS, {"owner": str(other.pk)}).json()["results"] == []
    assert session(other_admin).get(ALERTS).json()["results"] == []
    assert len(bearer_client("policies:manage", owner=owner).get(ALERTS).json()["results"]) == 1
    # The professional's own key does not read owners' alerts.
    assert pro_api.get(ALERTS).status_code == 403


# ---------------------------------------------------------------------------- as the referential API enforces them


class Clock:
    """`django.utils.timezone.now` under the test's control (what the decision point reads)."""

    def __init__(self, monkeypatch: Any) -> None:
        self.at = timezone.now()
        monkeypatch.setattr(timezone, "now", lambda: self.at)

    def advance(self, **delta: float) -> None:
        self.at += dt.timedelta(**delta)


@pytest.fixture
def clock(monkeypatch: Any) -> Clock:
    return Clock(monkeypatch)


def _venue_names(api: APIClient, **params: Any) -> set[str]:
    answer = api.get("/api/v1/venues/", params)
    assert answer.status_code == 200, answer.json()
    return {item["name"] for item in answer.json()["results"]}


def test_a_blocked_professional_is_refused_without_being_told_why(
    pro_api: APIClient, pro: Any, owner: Any, owner_admin: Any, other: Any
) -> None:
    mine = VenueFactory(owner=owner, name="Salle du Nord")
    VenueFactory(owner=other, name="Salle voisine")
    assert _venue_names(pro_api) == {"Salle du Nord", "Salle voisine"}
    assert pro_api.get(f"/api/v1/venues/{mine.pk}/").status_code == 200

    assert session(owner_admin).post(BLOCKS, {"user": "regisseuse"}, format="json").status_code == 201
    refused = pro_api.get(f"/api/v1/venues/{mine.pk}/")
    assert refused.status_code == 403
    assert refused.json() == {"error": "refused", "detail": "Accès refusé.", "fields": {}}
    listing = pro_api.get("/api/v1/venues/")
    assert {item["name"] for item in listing.json()["results"]} == {"Salle voisine"}
    assert b"bloqu" not in listing.content.lower()
    assert b"block" not in listing.content.lower()
    exported = pro_api.get("/api/v1/venues/", {"format": "csv", "fields": "name"})
    assert exported.status_code == 200
    assert "Salle voisine" in exported.getvalue().decode()
    assert "Salle du Nord" not in exported.getvalue().decode()
    # Others still read the owner's data; lifting the block gives it back.
    assert pro_api.get(f"/api/v1/venues/{VenueFactory(owner=other).pk}/").status_code == 200
    [block] = session(owner_admin).get(BLOCKS).json()["results"]
    assert session(owner_admin).delete(f"{BLOCKS}{block['id']}/").status_code == 204
    assert pro_api.get(f"/api/v1/venues/{mine.pk}/").status_code == 200


def test_blocking_an_organisation_refuses_its_clients_too(
    bearer_client: Any, owner: Any, owner_admin: Any, operator: Any
) -> None:
    mine = VenueFactory(owner=owner, name="Salle du Nord")
    vendor = bearer_client("referentials:read", kind="reader", owner=operator)
    assert vendor.get(f"/api/v1/venues/{mine.pk}/").status_code == 200
    controls.block_party(owner, organisation=operator, by=owner_admin)
    assert vendor.get(f"/api/v1/venues/{mine.pk}/").json()["error"] == "refused"
    assert _venue_names(vendor) == set()


def test_a_hidden_record_is_not_found_for_others_and_visible_to_a_named_partner(
    pro_api: APIClient, bearer_client: Any, owner: Any, owner_admin: Any, other: Any
) -> None:
    hidden = VenueFactory(owner=owner, name="Salle en travaux")
    VenueFactory(owner=owner, name="Salle du Nord")
    created = session(owner_admin).post(HIDDEN, {"record": hidden.uri, "partners": [str(other.pk)]}, format="json")
    assert created.status_code == 201, created.json()

    detail = pro_api.get(f"/api/v1/venues/{hidden.pk}/")
    assert detail.status_code == 404
    assert _venue_names(pro_api) == {"Salle du Nord"}
    assert APIClient().get(f"/api/v1/venues/{hidden.pk}/").status_code == 404

    partner_pro = make_professional(
        "chargee-diffusion", other, valid_until=dt.date(2030, 1, 1), number="3-PLATESV-D-2023-000777"
    )
    partner_api = bearer_client("referentials:read", kind="reader", owner=other, user=partner_pro)
    assert partner_api.get(f"/api/v1/venues/{hidden.pk}/").status_code == 200
    assert _venue_names(partner_api) == {"Salle en travaux", "Salle du Nord"}
    partner_client = bearer_client("referentials:read", kind="reader", owner=other)
    assert partner_client.get(f"/api/v1/venues/{hidden.pk}/").status_code == 200
    owner_client = bearer_client("referentials:read", kind="reader", owner=owner)
    assert owner_client.get(f"/api/v1/venues/{hidden.pk}/").status_code == 200


def test_break_glass_opens_one_denied_record_for_its_duration(
    pro_api: APIClient,
    sheet: Any,
    owner: Any,
    other: Any,
    clock: Clock,
    settings: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    from policies.services import save_policy

    settings.BREAK_GLASS_MINUTES = 60
    with django_capture_on_commit_callbacks(execute=True):  # cached decisions go stale on commit
        save_policy(
            owner=owner,
            target_type="technical-sheet",
            templates=[{"name": "named_partners", "organisations": [str(other.pk)]}],
        )
    neighbour = TechnicalSheetFactory(owner=owner, hall__owner=owner, hall__venue__owner=owner)
    url = f"/api/v1/technical-sheets/{sheet.pk}/"
    before = pro_api.get(url, {"purpose": "programming"})
    assert before.status_code == 403
    assert before.json()["error"] == "no_permission"

    opened = pro_api.post(BREAK_GLASS, _request(sheet), format="json")
    assert opened.status_code == 201, opened.json()
    during = pro_api.get(url, {"purpose": "programming"})
    assert during.status_code == 200, during.json()
    assert during.json()["id"] == str(sheet.pk)
    # The opening and the read it allowed are both on the break-glass stream of the journal.
    assert sorted(JournalEntry.objects.filter(stream="break_glass").values_list("action", flat=True)) == [
        "break_glass",
        "read",
    ]
    # Only that record.
    assert pro_api.get(f"/api/v1/technical-sheets/{neighbour.pk}/", {"purpose": "programming"}).status_code == 403

    clock.advance(minutes=59)
    assert pro_api.get(url, {"purpose": "programming"}).status_code == 200
    clock.advance(minutes=1)
    after = pro_api.get(url, {"purpose": "programming"})
    assert after.status_code == 403
    assert after.json()["error"] == "no_permission"
    [access] = pro_api.get(BREAK_GLASS).json()["results"]
    assert access["active"] is False


# ---------------------------------------------------------------------------- query counts


def _queries(api: APIClient, url: str) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        assert api.get(url).status_code == 200
    return len(captured)


def test_control_lists_do_not_grow_with_their_length(owner: Any, owner_admin: Any, operator: Any) -> None:
    api = session(owner_admin)
    partners = [OrganisationFactory() for _ in range(3)]
    now = timezone.now()

    def add(count: int) -> None:
        for _ in range(count):
            controls.block_party(owner, user=UserFactory(), by=owner_admin)
            controls.hide_record(owner, "venue", VenueFactory(owner=owner).pk, partners, by=owner_admin)
            BreakGlassAccess.objects.create(
                user=UserFactory(),
                organisation=operator,
                owner=owner,
                target_type="venue",
                target_id=VenueFactory(owner=owner).pk,
                emergency="medical",
                justification=JUSTIFICATION,
                created_at=now,
                expires_at=now + dt.timedelta(hours=1),
            )

    add(2)
    few = {url: _queries(api, url) for url in (BLOCKS, HIDDEN, ALERTS)}
    add(8)
    many = {url: _queries(api, url) for url in (BLOCKS, HIDDEN, ALERTS)}
    assert many == few
