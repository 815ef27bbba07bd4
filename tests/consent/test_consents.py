"""Consent records: grant, renew, withdraw, expire, erase; events, journal entries, validation."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
from django.utils import timezone
from rest_framework.exceptions import ValidationError

from dataspace.audit.models import JournalEntry
from dataspace.consent import services
from dataspace.consent.models import ConsentEvent, ConsentRecord
from dataspace.node.crypto import blind_index
from tests.consent.core_factories import (
    DIRECTORY_CATEGORIES,
    DIRECTORY_FIELDS,
    directory_entry,
    grant_contact,
    grant_directory,
    notice,
    person,
)
from tests.factories import OrganisationFactory

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 11, 30, 10, 0, tzinfo=dt.UTC)


def _journal(consent: ConsentRecord, action: str) -> list[JournalEntry]:
    return list(JournalEntry.objects.filter(action=action, record_ids__icontains=str(consent.pk)))


# ---------------------------------------------------------------------------- grant


def test_grant_records_the_consent_its_event_and_a_journal_entry(structure: Any) -> None:
    user = person()
    entry = directory_entry(structure, user)
    the_notice = notice(structure, text="Texte de la notice v1")
    consent = grant_directory(structure, entry, user=user, now=NOW, the_notice=the_notice)

    consent.refresh_from_db()
    assert consent.status == ConsentRecord.Status.GIVEN
    assert consent.notice_sha256 == the_notice.sha256 == services.notice_digest("Texte de la notice v1")
    assert consent.given_at == NOW
    assert consent.status_changed_at == NOW
    assert consent.legal_basis == "dpv:Consent"
    assert consent.subject_email == "camille@example.org"
    assert consent.subject_email_index == blind_index("Camille@Example.org ")
    assert list(consent.events.values_list("status", "at")) == [("given", NOW)]
    (entry_row,) = _journal(consent, "consent.given")
    assert entry_row.stream == "admin"
    assert entry_row.owner_id == structure.pk
    assert entry_row.subject_person_id == entry.pk
    assert entry_row.username == "camille"
    assert services.active_consent("directory-entry", entry.pk, now=NOW) == consent


def test_a_consent_needs_a_notice_of_its_controller_and_kind(structure: Any) -> None:
    other = OrganisationFactory()
    entry = directory_entry(structure)
    with pytest.raises(ValidationError) as foreign:
        grant_directory(structure, entry, the_notice=notice(other))
    assert "notice" in foreign.value.detail
    with pytest.raises(ValidationError) as wrong_kind:
        grant_directory(structure, entry, the_notice=notice(structure, "contact"))
    assert "notice" in wrong_kind.value.detail
    assert not ConsentRecord.objects.exists()
    assert grant_directory(structure, entry, the_notice=notice(structure)).status == "given"


def _grant_kwargs(structure: Any, **changes: Any) -> dict[str, Any]:
    kwargs: dict[str, Any] = {
        "controller": structure,
        "target_type": "directory-entry",
        "target_id": directory_entry(structure).pk,
        "purposes": ["professional_directory"],
        "data_categories": list(DIRECTORY_CATEGORIES),
        "fields": list(DIRECTORY_FIELDS),
        "recipients": ["licensed_professionals"],
        "notice": notice(structure, version=str(uuid.uuid4())),
        "method": "paper",
    }
    kwargs.update(changes)
    return kwargs


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"target_type": "person"}, "target_type"),
        ({"target_id": "not-a-uuid"}, "target_id"),
        ({"purposes": ["marketing"]}, "purposes"),
        ({"purposes": ["newsletter"]}, "purposes"),  # a contact purpose on a directory entry
        ({"purposes": []}, "purposes"),
        ({"data_categories": ["dpv-pd:HealthRecord"]}, "data_categories"),
        ({"data_categories": ["dpv-pd:Name"]}, "data_categories"),  # fields need more categories
        ({"fields": ["display_name", "password"]}, "fields"),
        ({"fields": []}, "fields"),
        ({"recipients": ["everyone"]}, "recipients"),
        ({"recipients": ["controller"]}, "recipients"),  # a contact recipient on a directory entry
        ({"method": "telepathy"}, "method"),
        ({"notice": None}, "notice"),
        ({"expires_at": NOW - dt.timedelta(days=1)}, "expires_at"),
    ],
)
def test_invalid_consents_are_refused_naming_the_field(structure: Any, changes: dict[str, Any], field: str) -> None:
    kwargs = _grant_kwargs(structure, **changes)
    with pytest.raises(ValidationError) as error:
        services.grant_consent(**kwargs, now=NOW)
    assert list(error.value.detail) == [field]
    assert not ConsentRecord.objects.exists()


def test_the_valid_base_of_the_parametrized_refusals_is_accepted(structure: Any) -> None:
    assert services.grant_consent(**_grant_kwargs(structure), now=NOW).status == "given"


def test_postal_address_code_is_accepted_and_mapped_to_the_dpv_term(structure: Any) -> None:
    kwargs = _grant_kwargs(
        structure,
        fields=["display_name", "postal_address"],
        data_categories=["dpv-pd:Name", "dpv-pd:PhysicalAddress"],
    )
    consent = services.grant_consent(**kwargs, now=NOW)
    assert consent.data_categories == ["dpv-pd:Name", "dpv-pd:PhysicalAddress"]


def test_contact_purposes_come_from_the_contact_vocabulary(structure: Any) -> None:
    consent = grant_contact(structure, purposes=["newsletter", "season_offers"], now=NOW)
    assert consent.purposes == ["newsletter", "season_offers"]
    with pytest.raises(ValidationError) as error:
        grant_contact(structure, purposes=["professional_directory"], now=NOW)
    assert "purposes" in error.value.detail


def test_a_new_consent_on_the_same_target_and_purpose_replaces_the_old_one(structure: Any) -> None:
    entry = directory_entry(structure)
    first = grant_directory(structure, entry, now=NOW)
    second = grant_directory(structure, entry, now=NOW + dt.timedelta(hours=1), fields=["display_name"])
    first.refresh_from_db()
    assert first.status == "withdrawn"
    assert first.events.last().note == f"remplacé par {second.pk}"  # type: ignore[union-attr]
    assert services.active_consent("directory-entry", entry.pk) == second
    assert services.consented_fields("directory-entry", entry.pk) == frozenset({"display_name"})


def test_a_narrower_contact_consent_leaves_a_broader_one_in_force(structure: Any) -> None:
    contact_id = uuid.uuid4()
    broad = grant_contact(structure, contact_id, purposes=["newsletter", "season_offers"], now=NOW)
    narrow = grant_contact(structure, contact_id, purposes=["newsletter"], now=NOW)
    assert {c.pk for c in services.active_consents("contact", contact_id)} == {broad.pk, narrow.pk}
    broader = grant_contact(structure, contact_id, purposes=["newsletter", "season_offers"], now=NOW)
    assert [c.pk for c in services.active_consents("contact", contact_id)] == [broader.pk]


def test_contact_consents_for_other_purposes_stay_in_force(structure: Any) -> None:
    contact_id = uuid.uuid4()
    newsletter = grant_contact(structure, contact_id, purposes=["newsletter"], now=NOW)
    survey = grant_contact(structure, contact_id, purposes=["post_show_survey"], now=NOW)
    assert {c.pk for c in services.active_consents("contact", contact_id)} == {newsletter.pk, survey.pk}
    assert services.active_consent("contact", contact_id, purpose="newsletter") == newsletter
    assert list(services.active_target_ids("contact", purpose="post_show_survey")) == [{"target_id": contact_id}]
    assert not services.active_target_ids("contact", purpose="season_offers").exists()


# ---------------------------------------------------------------------------- in force


def test_an_expired_by_date_consent_stops_counting_before_the_task_marks_it(structure: Any) -> None:
    entry = directory_entry(structure)
    consent = grant_directory(structure, entry, now=NOW, expires_at=NOW + dt.timedelta(days=30))
    before, after = NOW + dt.timedelta(days=29), NOW + dt.timedelta(days=30)
    assert services.active_consent("directory-entry", entry.pk, now=before) == consent
    assert services.consented_fields("directory-entry", entry.pk, now=before) == frozenset(DIRECTORY_FIELDS)
    assert entry.pk in [row["target_id"] for row in services.active_target_ids("directory-entry", now=before)]

    assert services.active_consent("directory-entry", entry.pk, now=after) is None
    assert services.consented_fields("directory-entry", entry.pk, now=after) == frozenset()
    assert not services.active_target_ids("directory-entry", now=after).exists()
    consent.refresh_from_db()
    assert consent.status == "given"  # not marked yet
    assert services.current_status(consent, now=after) == "expired"


# ---------------------------------------------------------------------------- renew


def test_renewal_sets_a_new_expiry_with_event_and_journal(structure: Any, settings: Any) -> None:
    entry = directory_entry(structure)
    consent = grant_directory(structure, entry, now=NOW, expires_at=NOW + dt.timedelta(days=10))
    later = NOW + dt.timedelta(days=5)
    services.renew_consent(consent, expires_at=NOW + dt.timedelta(days=400), now=later)
    consent.refresh_from_db()
    assert consent.status == "renewed"
    assert consent.expires_at == NOW + dt.timedelta(days=400)
    assert list(consent.events.values_list("status", flat=True)) == ["given", "renewed"]
    assert len(_journal(consent, "consent.renewed")) == 1

    settings.CONSENT_RENEWAL_DAYS = 100
    services.renew_consent(consent, now=later)
    consent.refresh_from_db()
    assert consent.expires_at == later + dt.timedelta(days=100)


def test_an_ended_or_lapsed_consent_cannot_be_renewed(structure: Any) -> None:
    lapsed = grant_directory(structure, directory_entry(structure), now=NOW, expires_at=NOW + dt.timedelta(days=1))
    with pytest.raises(ValidationError) as error:
        services.renew_consent(lapsed, now=NOW + dt.timedelta(days=2))
    assert "status" in error.value.detail
    withdrawn = grant_contact(structure, now=NOW)
    services.withdraw_consent(withdrawn, now=NOW)
    with pytest.raises(ValidationError):
        services.renew_consent(withdrawn, now=NOW)
    with pytest.raises(ValidationError) as past:
        services.renew_consent(grant_contact(structure, now=NOW), expires_at=NOW - dt.timedelta(days=1), now=NOW)
    assert "expires_at" in past.value.detail


# ---------------------------------------------------------------------------- withdraw, expire, erase


def test_withdrawal_is_final_with_event_and_journal(structure: Any) -> None:
    consent = grant_contact(structure, now=NOW)
    services.withdraw_consent(consent, now=NOW + dt.timedelta(hours=1), note="par courriel")
    assert consent.status == "withdrawn"
    consent.refresh_from_db()
    assert consent.status == "withdrawn"
    assert consent.status_changed_at == NOW + dt.timedelta(hours=1)
    assert consent.events.last().note == "par courriel"  # type: ignore[union-attr]
    (entry_row,) = _journal(consent, "consent.withdrawn")
    assert entry_row.stream == "admin"
    assert entry_row.owner_id == structure.pk
    assert entry_row.subject_person_id == consent.target_id
    with pytest.raises(ValidationError) as again:
        services.withdraw_consent(consent, now=NOW)
    assert "status" in again.value.detail
    assert ConsentEvent.objects.filter(consent=consent).count() == 2


def test_expire_consents_marks_the_lapsed_ones_only(structure: Any, settings: Any) -> None:
    settings.FEDERATION_REGISTRY_URL = "https://registre.example"
    from federation.models import OutboxMessage

    entry = directory_entry(structure)
    lapsing = grant_directory(structure, entry, now=NOW, expires_at=NOW + dt.timedelta(days=1))
    lasting = grant_contact(structure, now=NOW)
    renewed = grant_contact(structure, purposes=["season_offers"], now=NOW)
    services.renew_consent(renewed, expires_at=NOW + dt.timedelta(days=90), now=NOW)

    assert services.expire_consents(now=NOW + dt.timedelta(days=2)) == 1
    lapsing.refresh_from_db()
    assert lapsing.status == "expired"
    assert list(lapsing.events.values_list("status", flat=True)) == ["given", "expired"]
    assert len(_journal(lapsing, "consent.expired")) == 1
    assert OutboxMessage.objects.filter(kind="consent.withdrawn", payload__consent=str(lapsing.pk)).count() == 1
    for other in (lasting, renewed):
        other.refresh_from_db()
        assert other.status in ("given", "renewed")
    assert services.expire_consents(now=NOW + dt.timedelta(days=2)) == 0


def test_expire_task_runs_the_service(structure: Any) -> None:
    from dataspace.consent.tasks import expire_consents

    consent = grant_contact(structure, now=timezone.now() - dt.timedelta(days=3))
    ConsentRecord.objects.filter(pk=consent.pk).update(expires_at=timezone.now() - dt.timedelta(days=1))
    assert expire_consents() == 1
    consent.refresh_from_db()
    assert consent.status == "expired"


def test_erasure_ends_the_consent_and_forgets_the_subject(structure: Any) -> None:
    user = person()
    consent = grant_directory(structure, directory_entry(structure, user), user=user, now=NOW)
    services.erase_consent(consent, now=NOW + dt.timedelta(days=1))
    consent.refresh_from_db()
    assert consent.status == "erased"
    assert consent.subject_email == ""
    assert consent.subject_email_index == ""
    assert consent.subject_user is None
    assert list(consent.events.values_list("status", flat=True)) == ["given", "erased"]
    assert len(_journal(consent, "consent.erased")) == 1
    assert services.active_consent("directory-entry", consent.target_id) is None
    with pytest.raises(ValidationError):
        services.erase_consent(consent)


def test_an_ended_consent_may_still_be_erased(structure: Any) -> None:
    consent = grant_contact(structure, now=NOW)
    services.withdraw_consent(consent, now=NOW)
    services.erase_consent(consent, now=NOW + dt.timedelta(days=1))
    consent.refresh_from_db()
    assert consent.status == "erased"
    assert list(consent.events.values_list("status", flat=True)) == ["given", "withdrawn", "erased"]


def test_notice_versions_are_unique_and_need_text(structure: Any) -> None:
    notice(structure, version="v1")
    with pytest.raises(ValidationError) as duplicate:
        notice(structure, version="v1")
    assert "version" in duplicate.value.detail
    with pytest.raises(ValidationError) as empty:
        services.publish_notice(controller=structure, kind="directory", version="v2", text="  ")
    assert "text" in empty.value.detail
    assert services.current_notice(structure, "directory").version == "v1"  # type: ignore[union-attr]
