"""DMP controls, read side and services: blocks and hidden records (`policies.controls`).

Personas: the owner structure (Théâtre du Nord) and its staff; a partner structure it names; an
outsider structure; a professional (a person with a licensed professional account); a vendor's
client acting for a structure; the node's superuser.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.core.exceptions import ValidationError

from dataspace.directory.profiles import LicenceFact, ProfessionalProfile
from dataspace.node.models import StaffMembership
from dataspace.referentials.models import Organisation, Venue
from policies import controls
from policies.models import Block, HiddenRecord
from policies.subject import ANONYMOUS, Subject
from tests.factories import OrganisationFactory, UserFactory, VenueFactory

pytestmark = pytest.mark.django_db


def licence(number: str = "2-PLATESV-R-2022-000123", status: str = "valide") -> LicenceFact:
    return LicenceFact(
        number=number, category=2, status=status, valid_until=dt.date(2030, 1, 1), deposited_on=dt.date(2022, 1, 3)
    )


def professional(user: Any, organisation: Any, *, acts_for: frozenset[Any] = frozenset()) -> Subject:
    """A person with a professional account of `organisation` (licensed)."""
    profile = ProfessionalProfile(
        account_id=user.pk, organisation_id=organisation.pk, organisation_name=organisation.name, licences=(licence(),)
    )
    return Subject(kind="person", user_id=user.pk, username=user.username, acts_for=acts_for, professional=profile)


def client_for(organisation: Any) -> Subject:
    """A vendor's machine client owned by `organisation`."""
    return Subject(kind="client", client_id="vendor-1", acts_for=frozenset({organisation.pk}))


@pytest.fixture
def owner() -> Any:
    return OrganisationFactory(name="Théâtre du Nord")


@pytest.fixture
def partner() -> Any:
    return OrganisationFactory(name="Scène partenaire")


@pytest.fixture
def outsider() -> Any:
    return OrganisationFactory(name="Compagnie extérieure")


@pytest.fixture
def owner_admin(owner: Any) -> Any:
    user = UserFactory(username="admin-nord", email="admin@nord.example")
    StaffMembership.objects.create(user=user, organisation=owner, role="administrator")
    return user


@pytest.fixture
def pro_user() -> Any:
    return UserFactory(username="pro-diffuseur")


# ---------------------------------------------------------------------------- blocks


def test_a_blocked_person_is_blocked_by_that_owner_only(owner: Any, outsider: Any, pro_user: Any) -> None:
    other_owner = OrganisationFactory()
    controls.block_party(owner, user=pro_user, by=None)
    subject = professional(pro_user, outsider)
    assert controls.blocking_owner_ids(subject) == frozenset({owner.pk})
    assert controls.is_blocked_by(subject, owner.pk)
    assert not controls.is_blocked_by(subject, other_owner.pk)
    someone_else = professional(UserFactory(), outsider)
    assert controls.blocking_owner_ids(someone_else) == frozenset()


def test_blocking_an_organisation_blocks_its_professionals_and_its_clients(
    owner: Any, outsider: Any, partner: Any, pro_user: Any
) -> None:
    controls.block_party(owner, organisation=outsider, note="litige", by=None)
    assert controls.blocking_owner_ids(professional(pro_user, outsider)) == frozenset({owner.pk})
    assert controls.blocking_owner_ids(client_for(outsider)) == frozenset({owner.pk})
    staff_of_outsider = Subject(kind="person", user_id=UserFactory().pk, acts_for=frozenset({outsider.pk}))
    assert controls.blocking_owner_ids(staff_of_outsider) == frozenset({owner.pk})
    # Another organisation's people and clients are not concerned.
    assert controls.blocking_owner_ids(professional(pro_user, partner)) == frozenset()
    assert controls.blocking_owner_ids(client_for(partner)) == frozenset()


def test_acting_for_the_owner_wins_over_a_block_and_the_superuser_is_never_blocked(
    owner: Any, outsider: Any, pro_user: Any
) -> None:
    controls.block_party(owner, organisation=outsider, by=None)
    # A client that acts for both (a mandate from the owner) is not blocked by the owner.
    both = Subject(kind="client", client_id="vendor-2", acts_for=frozenset({owner.pk, outsider.pk}))
    assert controls.blocking_owner_ids(both) == frozenset()
    superuser = Subject(kind="person", user_id=pro_user.pk, is_superuser=True, acts_for=frozenset({outsider.pk}))
    assert controls.blocking_owner_ids(superuser) == frozenset()


def test_blocking_owner_ids_is_one_query_memoised_per_subject_and_refreshed_by_a_new_block(
    owner: Any, outsider: Any, pro_user: Any, django_assert_num_queries: Any
) -> None:
    subject = professional(pro_user, outsider, acts_for=frozenset({outsider.pk}))
    with django_assert_num_queries(1):
        assert controls.blocking_owner_ids(subject) == frozenset()
    with django_assert_num_queries(0):
        assert controls.blocking_owner_ids(subject) == frozenset()
        assert not controls.is_blocked_by(subject, owner.pk)
    block = controls.block_party(owner, user=pro_user, by=None)
    with django_assert_num_queries(1):
        assert controls.blocking_owner_ids(subject) == frozenset({owner.pk})
    controls.unblock(block)
    assert controls.blocking_owner_ids(subject) == frozenset()
    with django_assert_num_queries(0):
        assert controls.blocking_owner_ids(ANONYMOUS) == frozenset()


def test_block_party_takes_exactly_one_party(owner: Any, outsider: Any, pro_user: Any) -> None:
    with pytest.raises(ValidationError) as neither:
        controls.block_party(owner, by=None)
    assert "user" in neither.value.message_dict
    with pytest.raises(ValidationError) as both:
        controls.block_party(owner, user=pro_user, organisation=outsider, by=None)
    assert "user" in both.value.message_dict
    assert not Block.objects.exists()


def test_an_owner_cannot_block_itself_nor_its_own_staff(owner: Any, owner_admin: Any) -> None:
    with pytest.raises(ValidationError) as itself:
        controls.block_party(owner, organisation=owner, by=owner_admin)
    assert "organisation" in itself.value.message_dict
    with pytest.raises(ValidationError) as staff:
        controls.block_party(owner, user=owner_admin, by=owner_admin)
    assert "user" in staff.value.message_dict
    assert not Block.objects.exists()


def test_a_party_is_blocked_once_per_owner(owner: Any, outsider: Any, pro_user: Any, owner_admin: Any) -> None:
    first = controls.block_party(owner, organisation=outsider, by=owner_admin)
    assert first.created_by == owner_admin
    with pytest.raises(ValidationError) as again:
        controls.block_party(owner, organisation=outsider, by=owner_admin)
    assert "organisation" in again.value.message_dict
    controls.block_party(owner, user=pro_user, by=owner_admin)
    with pytest.raises(ValidationError) as again_user:
        controls.block_party(owner, user=pro_user, by=owner_admin)
    assert "user" in again_user.value.message_dict
    # Another owner may block the same party.
    controls.block_party(OrganisationFactory(), organisation=outsider, by=None)
    assert Block.objects.count() == 3


# ---------------------------------------------------------------------------- hidden records


@pytest.fixture
def venues(owner: Any) -> tuple[Any, Any]:
    return VenueFactory(owner=owner, name="Salle cachée"), VenueFactory(owner=owner, name="Salle visible")


def _names(subject: Subject) -> set[str]:
    queryset = Venue.objects.exclude(controls.hidden_exclusion(subject, "venue"))
    return set(queryset.values_list("name", flat=True))


def test_hidden_exclusion_filters_a_real_queryset(
    owner: Any, partner: Any, outsider: Any, pro_user: Any, venues: tuple[Any, Any], django_assert_num_queries: Any
) -> None:
    hidden, _visible = venues
    VenueFactory(owner=outsider, name="Salle d'ailleurs")
    controls.hide_record(owner, "venue", hidden.pk, [partner], by=None)
    everything = {"Salle cachée", "Salle visible", "Salle d'ailleurs"}

    assert _names(professional(pro_user, outsider)) == everything - {"Salle cachée"}
    assert _names(client_for(outsider)) == everything - {"Salle cachée"}
    assert _names(ANONYMOUS) == everything - {"Salle cachée"}
    # The owner's side, the named partner and the superuser see it.
    assert _names(Subject(kind="person", user_id=pro_user.pk, acts_for=frozenset({owner.pk}))) == everything
    assert _names(professional(pro_user, partner)) == everything
    assert _names(client_for(partner)) == everything
    assert _names(Subject(kind="person", user_id=pro_user.pk, is_superuser=True)) == everything
    # Building the Q costs no query; the list stays one query (a subquery, nothing per record).
    with django_assert_num_queries(0):
        exclusion = controls.hidden_exclusion(professional(pro_user, outsider), "venue")
    with django_assert_num_queries(1):
        assert len(list(Venue.objects.exclude(exclusion))) == 2


def test_hidden_exclusion_is_per_type(owner: Any, outsider: Any, pro_user: Any, venues: tuple[Any, Any]) -> None:
    hidden, _visible = venues
    controls.hide_record(owner, "venue", hidden.pk, by=None)
    # The same id under another type hides nothing there.
    exclusion = controls.hidden_exclusion(professional(pro_user, outsider), "organisation")
    assert Organisation.objects.exclude(exclusion).count() == Organisation.objects.count()


def test_is_hidden_from_matches_the_exclusion(
    owner: Any, partner: Any, outsider: Any, pro_user: Any, venues: tuple[Any, Any]
) -> None:
    hidden, visible = venues
    controls.hide_record(owner, "venue", hidden.pk, [partner.pk], by=None)
    stranger = professional(pro_user, outsider)
    assert controls.is_hidden_from(stranger, "venue", hidden.pk, owner.pk)
    assert controls.is_hidden_from(ANONYMOUS, "venue", hidden.pk, owner.pk)
    assert not controls.is_hidden_from(stranger, "venue", visible.pk, owner.pk)
    assert not controls.is_hidden_from(professional(pro_user, partner), "venue", hidden.pk, owner.pk)
    assert not controls.is_hidden_from(client_for(owner), "venue", hidden.pk, owner.pk)


def test_an_organisation_hides_its_own_description(outsider: Any, pro_user: Any) -> None:
    itself = OrganisationFactory(name="Structure discrète")  # describes itself: owner empty
    controls.hide_record(itself, "organisation", itself.pk, by=None)
    stranger = professional(pro_user, outsider)
    assert (
        not Organisation.objects.exclude(controls.hidden_exclusion(stranger, "organisation"))
        .filter(pk=itself.pk)
        .exists()
    )
    assert controls.is_hidden_from(stranger, "organisation", itself.pk, itself.pk)
    assert not controls.is_hidden_from(client_for(itself), "organisation", itself.pk, itself.pk)


def test_hide_record_needs_an_existing_record_of_the_owner(
    owner: Any, outsider: Any, partner: Any, venues: tuple[Any, Any]
) -> None:
    theirs = VenueFactory(owner=outsider)
    with pytest.raises(ValidationError) as foreign:
        controls.hide_record(owner, "venue", theirs.pk, by=None)
    assert "record" in foreign.value.message_dict
    with pytest.raises(ValidationError) as missing:
        controls.hide_record(owner, "venue", "9b2f4c1e-0000-4000-8000-000000000000", by=None)
    assert "record" in missing.value.message_dict
    with pytest.raises(ValidationError) as wrong_type:
        controls.hide_record(owner, "hall", venues[0].pk, by=None)
    assert "record" in wrong_type.value.message_dict
    with pytest.raises(ValidationError) as unknown_partner:
        controls.hide_record(owner, "venue", venues[0].pk, ["9b2f4c1e-0000-4000-8000-000000000000"], by=None)
    assert "partners" in unknown_partner.value.message_dict
    assert not HiddenRecord.objects.exists()


def test_a_record_is_hidden_once_and_its_partners_can_change(
    owner: Any, partner: Any, outsider: Any, pro_user: Any, owner_admin: Any, venues: tuple[Any, Any]
) -> None:
    hidden = controls.hide_record(owner, "venue", venues[0].pk, [partner, owner], by=owner_admin)
    assert set(hidden.partners.all()) == {partner}  # the owner sees it anyway
    assert hidden.created_by == owner_admin
    with pytest.raises(ValidationError) as again:
        controls.hide_record(owner, "venue", venues[0].pk, by=owner_admin)
    assert "record" in again.value.message_dict

    controls.set_hidden_partners(hidden, [outsider.pk], by=owner_admin)
    assert controls.is_hidden_from(professional(pro_user, partner), "venue", venues[0].pk, owner.pk)
    assert not controls.is_hidden_from(professional(pro_user, outsider), "venue", venues[0].pk, owner.pk)

    controls.unhide(hidden, by=owner_admin)
    assert not controls.is_hidden_from(professional(pro_user, partner), "venue", venues[0].pk, owner.pk)
    assert _names(professional(pro_user, partner)) == {"Salle cachée", "Salle visible"}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("http://node.example/id/venue/9b2f4c1e-0000-4000-8000-000000000001", "venue"),
        ({"type": "technical-sheet", "id": "9b2f4c1e-0000-4000-8000-000000000001"}, "technical-sheet"),
    ],
)
def test_record_references_are_uris_or_type_and_id(value: Any, expected: str) -> None:
    target_type, target_id = controls.parse_record_reference(value)
    assert target_type == expected
    assert str(target_id) == "9b2f4c1e-0000-4000-8000-000000000001"


@pytest.mark.parametrize(
    "value",
    [
        "http://node.example/id/policy/9b2f4c1e-0000-4000-8000-000000000001",
        "http://node.example/venues/9b2f4c1e",
        {"type": "venue", "id": "not-a-uuid"},
        {"type": "venue"},
        42,
    ],
)
def test_bad_record_references_name_the_record_field(value: Any) -> None:
    with pytest.raises(ValidationError) as refused:
        controls.parse_record_reference(value)
    assert list(refused.value.message_dict) == ["record"]


# ---------------------------------------------------------------------------- admin (French)


def _staff_with_perms(organisation: Any, username: str, *codenames: str) -> Any:
    from django.contrib.auth.models import Permission

    user = UserFactory(username=username, is_staff=True)
    StaffMembership.objects.create(user=user, organisation=organisation, role="administrator")
    user.user_permissions.add(*Permission.objects.filter(content_type__app_label="policies", codename__in=codenames))
    return user


def test_admin_blocks_through_the_services_and_shows_each_structure_its_own(
    client: Any, owner: Any, outsider: Any, pro_user: Any
) -> None:
    admin_user = _staff_with_perms(owner, "admin-nord-site", "add_block", "view_block", "delete_block")
    client.force_login(admin_user)
    page = client.get("/admin/policies/block/add/")
    assert page.status_code == 200
    refused = client.post("/admin/policies/block/add/", {"owner": str(owner.pk), "username": "admin-nord-site"})
    assert refused.status_code == 200  # the form again, with the error on the login field
    assert "retirez-lui son rôle" in refused.content.decode()
    assert not Block.objects.exists()
    saved = client.post(
        "/admin/policies/block/add/", {"owner": str(owner.pk), "username": "pro-diffuseur", "note": "x"}
    )
    assert saved.status_code == 302
    block = Block.objects.get()
    assert (block.owner, block.blocked_user, block.created_by) == (owner, pro_user, admin_user)
    listing = client.get("/admin/policies/block/")
    assert "pro-diffuseur" in listing.content.decode()

    client.force_login(_staff_with_perms(outsider, "admin-ailleurs", "view_block"))
    assert "pro-diffuseur" not in client.get("/admin/policies/block/").content.decode()
    assert client.get(f"/admin/policies/block/{block.pk}/change/").status_code == 302  # not among theirs


def test_admin_hides_a_record_with_partners(client: Any, owner: Any, partner: Any, venues: tuple[Any, Any]) -> None:
    admin_user = _staff_with_perms(
        owner, "admin-nord-site", "add_hiddenrecord", "change_hiddenrecord", "view_hiddenrecord"
    )
    client.force_login(admin_user)
    foreign = VenueFactory()
    refused = client.post(
        "/admin/policies/hiddenrecord/add/",
        {"owner": str(owner.pk), "target_type": "venue", "target_id": str(foreign.pk), "partners": [str(partner.pk)]},
    )
    assert refused.status_code == 200
    assert not HiddenRecord.objects.exists()
    saved = client.post(
        "/admin/policies/hiddenrecord/add/",
        {"owner": str(owner.pk), "target_type": "venue", "target_id": str(venues[0].pk), "partners": [str(partner.pk)]},
    )
    assert saved.status_code == 302
    hidden = HiddenRecord.objects.get()
    assert list(hidden.partners.all()) == [partner]
    assert hidden.created_by == admin_user
    changed = client.post(f"/admin/policies/hiddenrecord/{hidden.pk}/change/", {"partners": []})
    assert changed.status_code == 302
    assert not hidden.partners.exists()


def test_admin_lists_break_glass_accesses_read_only(client: Any, owner: Any, outsider: Any, pro_user: Any) -> None:
    from django.utils import timezone

    from policies.models import BreakGlassAccess

    now = timezone.now()
    access = BreakGlassAccess.objects.create(
        user=pro_user,
        owner=owner,
        target_type="venue",
        target_id=VenueFactory(owner=owner).pk,
        emergency="public_safety",
        justification="Évacuation en cours : plan des issues de secours indispensable.",
        created_at=now,
        expires_at=now + dt.timedelta(hours=1),
    )
    client.force_login(_staff_with_perms(owner, "admin-nord-site", "view_breakglassaccess", "change_breakglassaccess"))
    listing = client.get("/admin/policies/breakglassaccess/")
    assert listing.status_code == 200
    assert "pro-diffuseur" in listing.content.decode()
    detail = client.get(f"/admin/policies/breakglassaccess/{access.pk}/change/")
    assert "plan des issues de secours" in detail.content.decode()
    assert 'name="justification"' not in detail.content.decode()  # shown, not editable
    assert client.get("/admin/policies/breakglassaccess/add/").status_code == 403
    client.force_login(_staff_with_perms(outsider, "admin-ailleurs", "view_breakglassaccess"))
    assert "pro-diffuseur" not in client.get("/admin/policies/breakglassaccess/").content.decode()


# ---------------------------------------------------------------------------- journal of the controls


def test_every_change_of_a_control_is_journaled_for_the_owner(
    owner: Any, partner: Any, outsider: Any, pro_user: Any, owner_admin: Any, venues: tuple[Any, Any]
) -> None:
    from dataspace.audit.models import JournalEntry

    block = controls.block_party(owner, user=pro_user, note="interne", by=owner_admin)
    controls.unblock(block, by=owner_admin)
    hidden = controls.hide_record(owner, "venue", venues[0].pk, [partner], by=owner_admin)
    controls.set_hidden_partners(hidden, [outsider], by=owner_admin)
    controls.unhide(hidden, by=owner_admin)
    entries = list(JournalEntry.objects.filter(stream="admin").order_by("seq"))
    assert [entry.action for entry in entries] == ["block", "unblock", "hide", "hide_partners", "unhide"]
    assert {entry.owner_id for entry in entries} == {owner.pk}
    assert {entry.username for entry in entries} == {"admin-nord"}
    assert entries[0].details["blocked_username"] == "pro-diffuseur"
    assert "interne" not in str(entries[0].details)  # the private note stays in the block
    assert entries[2].record_ids == [str(venues[0].pk)]
    assert entries[2].details["partners"] == [str(partner.pk)]
    assert entries[3].details["partners"] == [str(outsider.pk)]
    # A refused change leaves no entry.
    with pytest.raises(ValidationError):
        controls.block_party(owner, organisation=owner, by=owner_admin)
    assert JournalEntry.objects.filter(stream="admin").count() == 5
