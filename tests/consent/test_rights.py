"""Rights of the person: export, rectification, erasure, record of processing, review flags."""

from __future__ import annotations

import datetime as dt
import itertools
import json
from typing import Any

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from dataspace.audit.models import JournalEntry
from dataspace.audit.services import Actor, journal
from dataspace.consent import rights
from dataspace.consent import services as consent_services
from dataspace.consent.models import ConsentRecord
from dataspace.contacts.models import Contact
from dataspace.contacts.tasks import flag_records_for_review
from dataspace.directory.models import DirectoryEntry
from dataspace.node.models import StaffMembership
from dataspace.records.services import tombstone_for
from tests.contacts.factories import ContactFactory
from tests.factories import OrganisationFactory, UserFactory

pytestmark = pytest.mark.django_db

EMAIL = "alix.martin@exemple.test"
_SEQ = itertools.count(1)


@pytest.fixture
def theatre() -> Any:
    return OrganisationFactory(name="Théâtre des Droits")


@pytest.fixture
def festival() -> Any:
    return OrganisationFactory(name="Festival d'ailleurs")


@pytest.fixture
def alix() -> Any:
    return UserFactory(username="alix", email=EMAIL)


@pytest.fixture
def held(theatre: Any, festival: Any, alix: Any) -> dict[str, Any]:
    """What the node holds about Alix: a directory entry with a consent, a contact in each structure
    (one with a newsletter consent), a professional's read of the entry; and Bea's data beside."""
    directory_notice = consent_services.publish_notice(
        controller=theatre, kind="directory", version="1", text="Annuaire."
    )
    contact_notice = consent_services.publish_notice(controller=theatre, kind="contact", version="1", text="Lettre.")
    entry = DirectoryEntry.objects.create(
        owner=theatre, display_name="Alix Martin", contact_email=EMAIL, person_user=alix, trades=["eclairagiste"]
    )
    entry_consent = consent_services.grant_consent(
        controller=theatre,
        target_type="directory-entry",
        target_id=entry.pk,
        purposes=["professional_directory"],
        data_categories=["dpv-pd:Name"],
        fields=["display_name"],
        recipients=["licensed_professionals"],
        notice=directory_notice,
        method="portal",
        subject_user=alix,
        subject_email=EMAIL,
    )
    contact = ContactFactory(owner=theatre, email="Alix.Martin@exemple.test", family_name="Martin")
    contact_consent = consent_services.grant_consent(
        controller=theatre,
        target_type="contact",
        target_id=contact.pk,
        purposes=["newsletter"],
        data_categories=["dpv-pd:EmailAddress"],
        fields=["email"],
        recipients=["controller"],
        notice=contact_notice,
        method="paper",
        subject_email=contact.email,
    )
    elsewhere = ContactFactory(owner=festival, email=EMAIL, family_name="Martin")
    journal(
        actor=Actor(username="pro-licencie", organisation_name="Compagnie lue", licence_number="PLATESV-D-2026-000211"),
        action="read",
        decision="permit",
        purpose="programming",
        record_type="directory-entry",
        record_ids=[entry.pk],
        owner_id=theatre.pk,
        subject_person_id=entry.pk,
    )
    bea = ContactFactory(owner=theatre, email="bea@exemple.test", family_name="Autre")
    return {
        "entry": entry,
        "entry_consent": entry_consent,
        "contact": contact,
        "contact_consent": contact_consent,
        "elsewhere": elsewhere,
        "bea": bea,
    }


def session(user: Any) -> APIClient:
    api = APIClient()
    api.force_login(user)
    return api


def staff(organisation: Any, role: str = "editor") -> APIClient:
    user = UserFactory(username=f"{role}-{organisation.pk.hex[:8]}-{next(_SEQ)}")
    StaffMembership.objects.create(user=user, organisation=organisation, role=role)
    return session(user)


def download(response: Any) -> dict[str, Any]:
    assert response.status_code == 200, response.content
    assert response["Content-Disposition"].startswith("attachment;")
    return json.loads(response.content)


# ---------------------------------------------------------------------------- export


def test_a_person_exports_everything_held_about_them(alix: Any, held: dict[str, Any]) -> None:
    document = download(session(alix).get("/api/v1/me/data"))
    assert [row["id"] for row in document["directory_entries"]] == [str(held["entry"].pk)]
    assert document["directory_entries"][0]["contact_email"] == EMAIL  # decrypted for the person
    assert {row["id"] for row in document["contacts"]} == {str(held["contact"].pk), str(held["elsewhere"].pk)}
    assert str(held["bea"].pk) not in json.dumps(document)
    consents = {row["id"]: row for row in document["consents"]}
    assert set(consents) == {str(held["entry_consent"].pk), str(held["contact_consent"].pk)}
    assert [event["status"] for event in consents[str(held["contact_consent"].pk)]["events"]] == ["given"]
    assert [(row["who"], row["licence_number"], row["purpose"]) for row in document["accesses"]] == [
        ("pro-licencie", "PLATESV-D-2026-000211", "programming")
    ]
    assert "email_index" not in document["contacts"][0]
    assert "search_index" not in document["directory_entries"][0]
    exported = JournalEntry.objects.filter(action="export", subject_person_id=held["entry"].pk)
    assert exported.count() == 1


def test_the_export_is_for_a_person_only(bearer_client: Any, alix: Any, held: dict[str, Any]) -> None:
    machine = bearer_client("consent:manage")
    refused = machine.get("/api/v1/me/data")
    assert refused.status_code == 403
    assert refused.json()["error"] == "person_required"
    wrong_scope = bearer_client("contacts:read", kind="reader", user=alix)
    assert wrong_scope.get("/api/v1/me/data").status_code == 403
    personal_key = bearer_client("consent:manage", kind="reader", user=alix)
    assert len(download(personal_key.get("/api/v1/me/data"))["contacts"]) == 2
    assert APIClient().get("/api/v1/me/data").status_code == 401


def test_a_person_with_nothing_held_gets_an_empty_export(held: dict[str, Any]) -> None:
    stranger = UserFactory(username="inconnu", email="inconnu@exemple.test")
    document = download(session(stranger).get("/api/v1/me/data"))
    assert document["directory_entries"] == document["contacts"] == document["consents"] == []


def test_structure_staff_export_a_persons_data_of_their_structure_only(
    theatre: Any, festival: Any, held: dict[str, Any]
) -> None:
    document = download(staff(theatre).get("/api/v1/rights/export", {"email": EMAIL.upper()}))
    assert {row["id"] for row in document["contacts"]} == {str(held["contact"].pk)}
    assert [row["id"] for row in document["directory_entries"]] == [str(held["entry"].pk)]
    other = download(staff(festival).get("/api/v1/rights/export", {"email": EMAIL}))
    assert {row["id"] for row in other["contacts"]} == {str(held["elsewhere"].pk)}
    assert other["directory_entries"] == []
    assert other["consents"] == []
    missing = staff(theatre).get("/api/v1/rights/export")
    assert missing.status_code == 400
    assert "email" in missing.json()["fields"]
    assert staff(theatre, "reader").get("/api/v1/rights/export", {"email": EMAIL}).status_code == 403


# ---------------------------------------------------------------------------- rectification


def test_a_person_rectifies_their_contact_and_entry(alix: Any, held: dict[str, Any]) -> None:
    api = session(alix)
    contact = held["contact"]
    done = api.post(
        "/api/v1/me/rectify",
        {"target_type": "contact", "target_id": str(contact.pk), "changes": {"family_name": "Martin-Roux"}},
        format="json",
    )
    assert done.status_code == 200, done.content
    contact.refresh_from_db()
    assert contact.family_name == "Martin-Roux"
    assert contact.verified_at is not None
    entry = held["entry"]
    version = entry.version
    done = api.post(
        "/api/v1/me/rectify",
        {"target_type": "directory-entry", "target_id": str(entry.pk), "changes": {"display_name": "Alix Martin-Roux"}},
        format="json",
    )
    assert done.status_code == 200, done.content
    entry.refresh_from_db()
    assert entry.display_name == "Alix Martin-Roux"
    assert entry.version > version
    logged = JournalEntry.objects.get(action="rectify", subject_person_id=contact.pk)
    assert logged.details == {"fields": ["family_name"]}
    assert "Roux" not in json.dumps(logged.reason)


def test_rectification_refuses_another_persons_record_and_bad_fields(alix: Any, held: dict[str, Any]) -> None:
    api = session(alix)
    bea = held["bea"]
    other = api.post(
        "/api/v1/me/rectify",
        {"target_type": "contact", "target_id": str(bea.pk), "changes": {"family_name": "Volé"}},
        format="json",
    )
    assert other.status_code == 404
    bea.refresh_from_db()
    assert bea.family_name == "Autre"
    target = {"target_type": "contact", "target_id": str(held["contact"].pk)}
    unknown = api.post("/api/v1/me/rectify", {**target, "changes": {"owner": "x"}}, format="json")
    assert unknown.status_code == 400
    assert "changes" in unknown.json()["fields"]
    invalid = api.post("/api/v1/me/rectify", {**target, "changes": {"email": "pas-une-adresse"}}, format="json")
    assert invalid.status_code == 400
    assert "email" in invalid.json()["fields"]
    kind = api.post("/api/v1/me/rectify", {**target, "target_type": "work", "changes": {"x": 1}}, format="json")
    assert kind.status_code == 400
    assert "target_type" in kind.json()["fields"]


def test_staff_of_another_structure_cannot_rectify(festival: Any, held: dict[str, Any]) -> None:
    refused = staff(festival).post(
        "/api/v1/rights/rectify",
        {
            "email": EMAIL,
            "target_type": "contact",
            "target_id": str(held["contact"].pk),
            "changes": {"family_name": "Piraté"},
        },
        format="json",
    )
    assert refused.status_code == 404
    held["contact"].refresh_from_db()
    assert held["contact"].family_name == "Martin"


# ---------------------------------------------------------------------------- erasure


def test_erasure_needs_a_confirmation(alix: Any, held: dict[str, Any]) -> None:
    api = session(alix)
    for body in ({}, {"confirm": False}):
        refused = api.post("/api/v1/me/erase", body, format="json")
        assert refused.status_code == 400, body
        assert "confirm" in refused.json()["fields"], body
    assert Contact.objects.filter(pk=held["contact"].pk).exists()


def test_a_person_erases_everything_and_only_a_minimal_tombstone_remains(alix: Any, held: dict[str, Any]) -> None:
    done = session(alix).post("/api/v1/me/erase", {"confirm": True}, format="json")
    assert done.status_code == 200, done.content
    assert done.json()["erased"] == {"directory_entries": 1, "contacts": 2, "consents": 2}
    entry, contact = held["entry"], held["contact"]
    assert not DirectoryEntry.objects.filter(pk=entry.pk).exists()
    assert tombstone_for("directory-entry", entry.pk) is not None  # the change feed's tombstone
    assert not Contact.objects.filter(pk__in=[contact.pk, held["elsewhere"].pk]).exists()
    assert Contact.objects.filter(pk=held["bea"].pk).exists()
    for consent in ConsentRecord.objects.filter(pk__in=[held["entry_consent"].pk, held["contact_consent"].pk]):
        assert consent.status == "erased"
        assert consent.subject_email == ""
        assert consent.subject_user_id is None
    erased = JournalEntry.objects.filter(action="erase")
    assert {row.subject_person_id for row in erased} == {entry.pk, contact.pk, held["elsewhere"].pk}
    text = json.dumps([[row.details, row.reason, row.record_ids] for row in JournalEntry.objects.all()])
    assert "exemple.test" not in text  # no email address in the journal
    again = session(alix).post("/api/v1/me/erase", {"confirm": True}, format="json")
    assert again.status_code == 404


def test_staff_erase_for_a_person_within_their_structure_only(
    theatre: Any, festival: Any, held: dict[str, Any]
) -> None:
    body = {"email": EMAIL, "confirm": True}
    assert staff(theatre, "reader").post("/api/v1/rights/erase", body, format="json").status_code == 403
    no_confirm = staff(festival).post("/api/v1/rights/erase", {"email": EMAIL}, format="json")
    assert no_confirm.status_code == 400
    assert "confirm" in no_confirm.json()["fields"]
    done = staff(festival).post("/api/v1/rights/erase", body, format="json")
    assert done.status_code == 200
    assert done.json()["erased"] == {"directory_entries": 0, "contacts": 1, "consents": 0}
    assert not Contact.objects.filter(pk=held["elsewhere"].pk).exists()
    assert Contact.objects.filter(pk=held["contact"].pk).exists()  # the theatre's data are not the festival's
    assert DirectoryEntry.objects.filter(pk=held["entry"].pk).exists()
    assert staff(festival).post("/api/v1/rights/erase", body, format="json").status_code == 404


# ---------------------------------------------------------------------------- record of processing


def test_record_of_processing_lists_each_personal_dataset(theatre: Any, festival: Any, held: dict[str, Any]) -> None:
    answer = staff(theatre, "reader").get("/api/v1/processing-record")
    assert answer.status_code == 200, answer.content
    record = answer.json()
    assert record["controller"]["id"] == str(theatre.pk)
    activities = {row["dataset"]: row for row in record["activities"]}
    assert set(activities) == {"directory-entry", "contact", "consent", "journal"}
    for row in activities.values():
        assert row["purposes"]
        assert row["recipients"]
        assert row["retention"]
        assert row["legal_basis"]
    assert activities["contact"]["records"] == 2  # Alix and Bea at the theatre
    assert [item["code"] for item in activities["contact"]["purposes_in_use"]] == ["newsletter"]
    assert activities["directory-entry"]["recipients"] == ["les professionnels licenciés de la fédération"]
    foreign = staff(festival).get("/api/v1/processing-record", {"organisation": str(theatre.pk)})
    assert foreign.status_code == 404
    nobody = session(UserFactory(username="sans-role"))
    assert nobody.get("/api/v1/processing-record").status_code == 403


def test_record_of_processing_function_counts_for_its_structure(theatre: Any, held: dict[str, Any]) -> None:
    record = rights.record_of_processing(theatre)
    counts = {row["dataset"]: row["records"] for row in record["activities"]}
    assert counts["directory-entry"] == 1
    assert counts["consent"] == 2


# ---------------------------------------------------------------------------- review flags


def test_records_not_reverified_for_the_configured_period_are_flagged(settings: Any, theatre: Any) -> None:
    now = timezone.now()
    stale = ContactFactory(owner=theatre, verified_at=now - dt.timedelta(days=400))
    fresh = ContactFactory(owner=theatre, verified_at=now - dt.timedelta(days=10))
    never = ContactFactory(owner=theatre)
    Contact.objects.filter(pk=never.pk).update(created_at=now - dt.timedelta(days=500))
    ContactFactory(owner=theatre)  # new, never verified: not yet due
    ContactFactory(verified_at=now - dt.timedelta(days=400))  # another structure's
    entry = DirectoryEntry.objects.create(owner=theatre, display_name="Ancienne fiche")
    DirectoryEntry.objects.filter(pk=entry.pk).update(reviewed_at=now - dt.timedelta(days=366))

    flagged = rights.flagged_for_review(theatre, now=now)
    assert set(flagged["contact"]) == {stale, never}
    assert [row.pk for row in flagged["directory-entry"]] == [entry.pk]
    settings.CONSENT_REVIEW_DAYS = 5
    assert fresh in set(rights.flagged_for_review(theatre, now=now)["contact"])
    settings.CONSENT_REVIEW_DAYS = 365
    counts = flag_records_for_review()
    assert counts[str(theatre.pk)] == 3


def test_admin_lists_contacts_to_reverify(theatre: Any, staff_client: Any) -> None:
    stale = ContactFactory(owner=theatre, family_name="Périmé", verified_at=timezone.now() - dt.timedelta(days=400))
    ContactFactory(owner=theatre, family_name="Récent", verified_at=timezone.now())
    page = staff_client.get("/admin/contacts/contact/", {"review": "due"})
    assert page.status_code == 200
    text = page.content.decode()
    assert "Périmé" in text
    assert "Récent" not in text
    assert "à revérifier" in text
    assert str(stale.pk) in text


def test_the_review_count_runs_daily(settings: Any) -> None:
    entry = settings.CELERY_BEAT_SCHEDULE["flag-records-for-review"]
    assert entry["schedule"] == 86400.0
    assert entry["task"] == flag_records_for_review.name


def test_admin_shows_each_staff_member_their_structures_contacts_only(theatre: Any, festival: Any) -> None:
    ContactFactory(owner=theatre, family_name="Duthéâtre")
    ContactFactory(owner=festival, family_name="Dufestival")
    user = UserFactory(username="admin-theatre", is_staff=True)
    StaffMembership.objects.create(user=user, organisation=theatre, role="administrator")
    text = session(user).get("/admin/contacts/contact/").content.decode()
    assert "Duthéâtre" in text
    assert "Dufestival" not in text


def test_a_structures_client_acts_for_a_person_within_its_structure(
    bearer_client: Any, theatre: Any, held: dict[str, Any]
) -> None:
    depositor = bearer_client("consent:manage", owner=theatre)
    document = download(depositor.get("/api/v1/rights/export", {"email": EMAIL}))
    assert {row["id"] for row in document["contacts"]} == {str(held["contact"].pk)}
    reader = bearer_client("consent:manage", kind="reader", owner=theatre)
    refused = reader.post("/api/v1/rights/erase", {"email": EMAIL, "confirm": True}, format="json")
    assert refused.status_code == 403
    assert Contact.objects.filter(pk=held["contact"].pk).exists()
    wrong_scope = bearer_client("contacts:read contacts:write", owner=theatre)
    assert wrong_scope.get("/api/v1/rights/export", {"email": EMAIL}).status_code == 403
