"""Break-glass: a licensed professional's justified emergency read of one record (`policies.controls`).

Time is passed explicitly (`now=`), never slept on. Alerts leave in `transaction.on_commit`: the
tests run the captured callbacks with `django_capture_on_commit_callbacks(execute=True)`.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.core import mail
from django.core.exceptions import ValidationError

from dataspace.audit.models import JournalEntry
from dataspace.directory.profiles import LicenceFact, ProfessionalProfile
from dataspace.node.models import StaffMembership
from policies import controls
from policies.models import BreakGlassAccess
from policies.subject import Subject
from tests.factories import OrganisationFactory, TechnicalSheetFactory, UserFactory

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 11, 30, 9, 0, tzinfo=dt.UTC)
JUSTIFICATION = "Accroche d'un pont lumière de 400 kg ce soir : il faut la charge admissible du gril."
NUMBER = "1-PLATESV-R-2022-000417"


def subject_for(
    user: Any, organisation: Any, *, status: str = "valide", valid_until: Any = dt.date(2030, 1, 1)
) -> Subject:
    facts = (
        LicenceFact(
            number=NUMBER, category=1, status=status, valid_until=valid_until, deposited_on=dt.date(2022, 2, 1)
        ),
    )
    profile = ProfessionalProfile(
        account_id=user.pk, organisation_id=organisation.pk, organisation_name=organisation.name, licences=facts
    )
    return Subject(
        kind="person", user_id=user.pk, username=user.username, professional=profile, node="http://testserver"
    )


@pytest.fixture
def owner() -> Any:
    return OrganisationFactory(name="Théâtre du Nord")


@pytest.fixture
def sheet(owner: Any) -> Any:
    return TechnicalSheetFactory(owner=owner, hall__owner=owner, hall__venue__owner=owner)


@pytest.fixture
def venue_operator() -> Any:
    return OrganisationFactory(name="Lieu d'accueil")


@pytest.fixture
def pro(venue_operator: Any) -> Any:
    user = UserFactory(username="regisseuse")
    return user


@pytest.fixture
def licensed(pro: Any, venue_operator: Any) -> Subject:
    return subject_for(pro, venue_operator)


@pytest.fixture
def administrators(owner: Any) -> list[Any]:
    """Who the alert goes to (administrators with an email) and who it does not."""
    first = UserFactory(username="admin-1", email="direction@nord.example")
    second = UserFactory(username="admin-2", email="technique@nord.example")
    no_email = UserFactory(username="admin-3", email="")
    editor = UserFactory(username="editor", email="editeur@nord.example")
    elsewhere = UserFactory(username="admin-ailleurs", email="admin@ailleurs.example")
    for user in (first, second, no_email):
        StaffMembership.objects.create(user=user, organisation=owner, role="administrator")
    StaffMembership.objects.create(user=editor, organisation=owner, role="editor")
    StaffMembership.objects.create(user=elsewhere, organisation=OrganisationFactory(), role="administrator")
    return [first, second]


def open_for(subject: Subject, record: Any, **overrides: Any) -> BreakGlassAccess:
    arguments: dict[str, Any] = {
        "subject": subject,
        "target_type": "technical-sheet",
        "target_id": record.pk,
        "emergency": BreakGlassAccess.Emergency.RIGGING_SAFETY,
        "justification": JUSTIFICATION,
        "purpose": "programming",
        "now": NOW,
    }
    arguments.update(overrides)
    return controls.open_break_glass(**arguments)


# ---------------------------------------------------------------------------- granted


def test_a_licensed_professional_gets_an_access_that_expires(
    licensed: Subject, sheet: Any, owner: Any, venue_operator: Any, settings: Any
) -> None:
    settings.BREAK_GLASS_MINUTES = 60
    access = open_for(licensed, sheet)
    assert access.owner == owner
    assert access.organisation == venue_operator
    assert access.licence_number == NUMBER
    assert access.created_at == NOW
    assert access.expires_at == NOW + dt.timedelta(minutes=60)
    assert access.justification == JUSTIFICATION
    assert access.emergency == "rigging_safety"
    assert access.purpose == "programming"

    def active_at(moment: dt.datetime) -> Any:
        return controls.active_break_glass(licensed, "technical-sheet", sheet.pk, now=moment)

    assert active_at(NOW) == access
    assert active_at(NOW + dt.timedelta(minutes=59, seconds=59)) == access
    assert active_at(NOW + dt.timedelta(minutes=60)) is None
    assert active_at(NOW - dt.timedelta(seconds=1)) is None
    # Only for that record and that person.
    other_sheet = TechnicalSheetFactory(owner=owner, hall__owner=owner, hall__venue__owner=owner)
    assert controls.active_break_glass(licensed, "technical-sheet", other_sheet.pk, now=NOW) is None
    colleague = subject_for(UserFactory(), venue_operator)
    assert controls.active_break_glass(colleague, "technical-sheet", sheet.pk, now=NOW) is None


def test_the_window_follows_the_setting(licensed: Subject, sheet: Any, settings: Any) -> None:
    settings.BREAK_GLASS_MINUTES = 15
    access = open_for(licensed, sheet)
    assert access.expires_at - access.created_at == dt.timedelta(minutes=15)


def test_a_licence_valid_until_today_is_enough(pro: Any, venue_operator: Any, sheet: Any) -> None:
    last_day = subject_for(pro, venue_operator, valid_until=NOW.date())
    assert open_for(last_day, sheet).licence_number == NUMBER


# ---------------------------------------------------------------------------- refused


@pytest.mark.parametrize(
    ("status", "valid_until", "code", "words"),
    [
        ("valide", dt.date(2026, 11, 29), "licence_expired", "expiré"),
        ("en_instruction", dt.date(2031, 1, 1), "licence_pending", "instruction"),
        ("invalide_retire", dt.date(2030, 1, 1), "licence_withdrawn", ""),
    ],
)
def test_a_professional_without_a_licence_in_force_is_refused_with_the_reason(
    pro: Any,
    venue_operator: Any,
    sheet: Any,
    administrators: list[Any],
    status: str,
    valid_until: Any,
    code: str,
    words: str,
) -> None:
    subject = subject_for(pro, venue_operator, status=status, valid_until=valid_until)
    with pytest.raises(controls.ControlRefused) as refused:
        open_for(subject, sheet)
    assert refused.value.reason_code == code
    assert NUMBER in refused.value.reason
    assert words in refused.value.reason
    assert not BreakGlassAccess.objects.exists()
    assert mail.outbox == []


def test_a_person_without_a_professional_account_is_refused(pro: Any, sheet: Any) -> None:
    person = Subject(kind="person", user_id=pro.pk, username=pro.username)
    with pytest.raises(controls.ControlRefused) as refused:
        open_for(person, sheet)
    assert refused.value.reason_code == "not_licensed"
    assert refused.value.reason
    assert not BreakGlassAccess.objects.exists()


def test_a_machine_client_is_refused(sheet: Any, venue_operator: Any) -> None:
    client = Subject(kind="client", client_id="vendor", acts_for=frozenset({venue_operator.pk}))
    with pytest.raises(controls.ControlRefused) as refused:
        open_for(client, sheet)
    assert refused.value.reason_code == "refused"
    assert not BreakGlassAccess.objects.exists()


@pytest.mark.parametrize("justification", ["Urgence.", "   " + "x" * 39 + "   ", ""])
def test_a_short_justification_is_a_400_naming_the_field(licensed: Subject, sheet: Any, justification: str) -> None:
    with pytest.raises(ValidationError) as invalid:
        open_for(licensed, sheet, justification=justification)
    assert list(invalid.value.message_dict) == ["justification"]
    assert "40" in invalid.value.message_dict["justification"][0]
    assert not BreakGlassAccess.objects.exists()


def test_forty_characters_are_enough(licensed: Subject, sheet: Any) -> None:
    assert open_for(licensed, sheet, justification="x" * 40).justification == "x" * 40


def test_an_unknown_emergency_is_a_400_naming_the_field(licensed: Subject, sheet: Any) -> None:
    with pytest.raises(ValidationError) as invalid:
        open_for(licensed, sheet, emergency="curiosity")
    assert list(invalid.value.message_dict) == ["emergency"]
    assert "rigging_safety" in invalid.value.message_dict["emergency"][0]


def test_every_invalid_field_is_named_at_once(licensed: Subject, sheet: Any) -> None:
    with pytest.raises(ValidationError) as invalid:
        open_for(licensed, sheet, emergency="", justification="vite", purpose="gossip")
    assert set(invalid.value.message_dict) == {"emergency", "justification", "purpose"}


def test_the_record_must_exist(licensed: Subject, owner: Any) -> None:
    with pytest.raises(ValidationError) as invalid:
        open_for(licensed, owner, target_type="technical-sheet")  # an organisation's id under another type
    assert list(invalid.value.message_dict) == ["record"]
    with pytest.raises(ValidationError):
        open_for(licensed, owner, target_type="policy")
    assert not BreakGlassAccess.objects.exists()


def test_a_hidden_record_is_answered_like_a_missing_one(
    licensed: Subject, sheet: Any, owner: Any, venue_operator: Any, administrators: list[Any]
) -> None:
    missing = TechnicalSheetFactory(owner=owner, hall__owner=owner, hall__venue__owner=owner)
    missing_id = missing.pk
    missing.delete()
    with pytest.raises(ValidationError) as absent:
        open_for(licensed, sheet, target_id=missing_id)
    controls.hide_record(owner, "technical-sheet", sheet.pk, by=administrators[0])
    with pytest.raises(ValidationError) as hidden:
        open_for(licensed, sheet)
    assert hidden.value.message_dict == absent.value.message_dict
    assert not BreakGlassAccess.objects.exists()
    assert mail.outbox == []
    # A partner the owner named sees the record, so it may ask for an emergency access to it.
    controls.set_hidden_partners(owner_hidden(owner, sheet), [venue_operator], by=administrators[0])
    assert open_for(licensed, sheet).target_id == sheet.pk


def owner_hidden(owner: Any, record: Any) -> Any:
    from policies.models import HiddenRecord

    return HiddenRecord.objects.get(owner=owner, target_id=record.pk)


@pytest.mark.parametrize("blocked", ["user", "organisation"])
def test_a_blocked_party_gets_the_generic_refusal(
    licensed: Subject, pro: Any, venue_operator: Any, sheet: Any, owner: Any, administrators: list[Any], blocked: str
) -> None:
    if blocked == "user":
        controls.block_party(owner, user=pro, note="ne plus travailler avec elle", by=administrators[0])
    else:
        controls.block_party(owner, organisation=venue_operator, by=administrators[0])
    with pytest.raises(controls.ControlRefused) as refused:
        open_for(licensed, sheet)
    assert refused.value.reason_code == "refused"
    assert refused.value.reason == "Accès refusé."
    assert "bloqu" not in refused.value.reason.lower()
    assert not BreakGlassAccess.objects.exists()
    assert not JournalEntry.objects.filter(stream="break_glass").exists()
    assert mail.outbox == []


def test_a_block_set_after_opening_ends_the_access(licensed: Subject, pro: Any, sheet: Any, owner: Any) -> None:
    open_for(licensed, sheet)
    assert controls.active_break_glass(licensed, "technical-sheet", sheet.pk, now=NOW) is not None
    controls.block_party(owner, user=pro, by=None)
    assert controls.active_break_glass(licensed, "technical-sheet", sheet.pk, now=NOW) is None


def test_on_a_registry_node_the_current_terms_must_be_accepted(licensed: Subject, sheet: Any, settings: Any) -> None:
    from dataspace.directory.services import publish_terms

    settings.NODE_ROLES = ["registry"]
    publish_terms(
        "2026-11", "Conditions d'utilisation du registre.", published_at=dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
    )
    with pytest.raises(controls.ControlRefused) as refused:
        open_for(licensed, sheet)
    assert refused.value.reason_code == "terms_not_accepted"
    assert "2026-11" in refused.value.reason
    assert not BreakGlassAccess.objects.exists()


# ---------------------------------------------------------------------------- alert and journal


def test_the_owners_administrators_get_one_email_after_commit(
    licensed: Subject, sheet: Any, administrators: list[Any], django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        access = open_for(licensed, sheet)
        assert mail.outbox == []  # nothing leaves before the commit
    assert len(callbacks) == 1
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert sorted(message.to) == ["direction@nord.example", "technique@nord.example"]
    assert "regisseuse" in message.body
    assert "Lieu d'accueil" in message.body
    assert NUMBER in message.body
    assert JUSTIFICATION in message.body
    assert str(sheet.pk) in message.body
    assert "Accès d'urgence" in message.subject
    access.refresh_from_db()
    assert access.owner_alerted_at is not None


def test_without_an_administrator_email_the_access_stays_unalerted(
    licensed: Subject, sheet: Any, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        access = open_for(licensed, sheet)
    assert mail.outbox == []
    access.refresh_from_db()
    assert access.owner_alerted_at is None


def test_the_access_is_journaled_apart(licensed: Subject, sheet: Any, owner: Any, venue_operator: Any) -> None:
    access = open_for(licensed, sheet)
    entry = JournalEntry.objects.get(stream="break_glass")
    assert entry.action == "break_glass"
    assert entry.decision == "permit"
    assert entry.reason_code == "break_glass"
    assert entry.owner_id == owner.pk
    assert entry.record_type == "technical-sheet"
    assert entry.record_ids == [str(sheet.pk)]
    assert entry.purpose == "programming"
    assert entry.user_id == licensed.user_id
    assert entry.username == "regisseuse"
    assert entry.organisation_id == venue_operator.pk
    assert entry.licence_number == NUMBER
    assert entry.at == NOW
    assert entry.details["emergency"] == "rigging_safety"
    assert entry.details["justification"] == JUSTIFICATION
    assert entry.details["access"] == str(access.pk)
    assert not JournalEntry.objects.filter(stream="access").exists()
