"""/api/v1/contacts/: private to the owner's staff and clients, consents per purpose, reachable."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone

from dataspace.consent import services as consent_services
from dataspace.contacts.models import Contact
from dataspace.oauth.models import Mandate
from dataspace.records.models import Change
from tests.contacts.conftest import CONTACTS
from tests.contacts.factories import ContactFactory
from tests.directory.factories import LicenceFactory, ProfessionalAccountFactory
from tests.factories import OrganisationFactory, UserFactory

pytestmark = pytest.mark.django_db

RW = "contacts:read contacts:write"


def consent(contact: Contact, notice: Any, *purposes: str) -> Any:
    return consent_services.grant_consent(
        controller=contact.owner,
        target_type="contact",
        target_id=contact.pk,
        purposes=list(purposes),
        data_categories=["dpv-pd:Name", "dpv-pd:EmailAddress"],
        fields=["email"],
        recipients=["controller"],
        notice=notice,
        method="paper",
        subject_email=contact.email,
    )


def ids(response: Any) -> set[str]:
    assert response.status_code == 200, response.content
    return {row["id"] for row in response.json()["results"]}


# ---------------------------------------------------------------------------- who sees what


def test_the_owners_depositor_creates_reads_and_changes_its_contacts(bearer_client: Any, theatre: Any) -> None:
    api = bearer_client(RW, owner=theatre)
    created = api.post(
        CONTACTS,
        {
            "kind": "press",
            "given_name": "Lou",
            "family_name": "Plume",
            "email": "Lou.Plume@Journal.test",
            "tags": [" Presse "],
        },
        format="json",
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["owner"] == str(theatre.pk)  # a client creates for its own structure by default
    assert body["tags"] == ["presse"]
    etag = created["ETag"]
    detail = api.get(f"{CONTACTS}{body['id']}/")
    assert detail.status_code == 200
    assert detail.json()["email"] == "Lou.Plume@Journal.test"
    assert api.get(f"{CONTACTS}{body['id']}/", HTTP_IF_NONE_MATCH=etag).status_code == 304
    changed = api.patch(f"{CONTACTS}{body['id']}/", {"phone": "+33 4 00 00 00 00"}, format="json", HTTP_IF_MATCH=etag)
    assert changed.status_code == 200, changed.content
    stale = api.patch(f"{CONTACTS}{body['id']}/", {"notes": "x"}, format="json", HTTP_IF_MATCH=etag)
    assert stale.status_code == 412
    assert api.delete(f"{CONTACTS}{body['id']}/", HTTP_IF_MATCH=changed["ETag"]).status_code == 204
    assert not Contact.objects.exists()


def test_another_structures_client_sees_nothing(bearer_client: Any, theatre: Any) -> None:
    mine = ContactFactory(owner=theatre)
    other = bearer_client(RW)  # a depositor of another structure
    assert ids(other.get(CONTACTS)) == set()
    assert other.get(f"{CONTACTS}{mine.pk}/").status_code == 404
    assert other.patch(f"{CONTACTS}{mine.pk}/", {"notes": "x"}, format="json").status_code == 404
    assert other.delete(f"{CONTACTS}{mine.pk}/").status_code == 404
    refused = other.post(CONTACTS, {"family_name": "Intrus", "owner": str(theatre.pk)}, format="json")
    assert refused.status_code == 403
    assert "owner" in refused.json()["fields"]
    assert ids(other.get(f"{CONTACTS}reachable?purpose=newsletter")) == set()
    assert Contact.objects.count() == 1


def test_a_reader_client_of_the_structure_reads_but_never_writes(bearer_client: Any, theatre: Any) -> None:
    mine = ContactFactory(owner=theatre)
    reader = bearer_client(RW, kind="reader", owner=theatre)
    assert ids(reader.get(CONTACTS)) == {str(mine.pk)}
    refused = reader.post(CONTACTS, {"family_name": "Nouveau"}, format="json")
    assert refused.status_code == 403
    assert refused.json()["error"] == "reader_client"
    assert reader.patch(f"{CONTACTS}{mine.pk}/", {"notes": "x"}, format="json").status_code == 403


def test_a_licensed_professionals_token_is_refused(bearer_client: Any, theatre: Any) -> None:
    ContactFactory(owner=theatre)
    company = OrganisationFactory(name="Compagnie licenciée")
    LicenceFactory(organisation=company)
    pro = ProfessionalAccountFactory(user=UserFactory(username="pro-licencie"), organisation=company).user
    api = bearer_client("contacts:read", kind="reader", owner=company, user=pro)
    refused = api.get(CONTACTS)
    assert refused.status_code == 403
    assert refused.json()["error"] == "contacts_private"
    assert api.get(f"{CONTACTS}reachable?purpose=newsletter").status_code == 403


def test_no_credentials_and_no_scope_are_refused(anon_client: Any, bearer_client: Any, theatre: Any) -> None:
    ContactFactory(owner=theatre)
    assert anon_client.get(CONTACTS).status_code == 401
    wrong_scope = bearer_client("referentials:read", owner=theatre)
    assert wrong_scope.get(CONTACTS).status_code == 403


def test_staff_roles_read_and_write_their_structures_contacts_only(member: Any, theatre: Any) -> None:
    mine = ContactFactory(owner=theatre)
    elsewhere = ContactFactory()
    reader = member("reader")
    assert ids(reader.get(CONTACTS)) == {str(mine.pk)}
    assert reader.patch(f"{CONTACTS}{mine.pk}/", {"notes": "x"}, format="json").status_code == 403
    editor = member("editor")
    assert editor.patch(f"{CONTACTS}{mine.pk}/", {"notes": "rappeler"}, format="json").status_code == 200
    assert editor.get(f"{CONTACTS}{elsewhere.pk}/").status_code == 404
    other_staff = member("administrator", organisation=elsewhere.owner)
    assert ids(other_staff.get(CONTACTS)) == {str(elsewhere.pk)}


def test_a_mandated_depositor_reads_and_writes_until_the_mandate_is_revoked(bearer_client: Any, theatre: Any) -> None:
    mine = ContactFactory(owner=theatre)
    vendor = bearer_client(RW)
    assert ids(vendor.get(CONTACTS)) == set()
    given = Mandate.objects.create(
        structure=theatre, client=vendor.oauth_client, scopes=["contacts:write"], granted_by=UserFactory()
    )
    assert ids(vendor.get(CONTACTS)) == {str(mine.pk)}
    assert vendor.patch(f"{CONTACTS}{mine.pk}/", {"notes": "via mandat"}, format="json").status_code == 200
    given.revoked_at = timezone.now()
    given.save()
    assert vendor.get(f"{CONTACTS}{mine.pk}/").status_code == 404


def test_contacts_never_enter_the_change_feed(bearer_client: Any, theatre: Any) -> None:
    api = bearer_client(RW, owner=theatre)
    created = api.post(CONTACTS, {"family_name": "Privé", "email": "prive@exemple.test"}, format="json")
    assert created.status_code == 201
    assert not Change.objects.filter(record_id=created.json()["id"]).exists()


def test_idempotent_creation_replays_the_first_answer(bearer_client: Any, theatre: Any) -> None:
    api = bearer_client(RW, owner=theatre)
    first = api.post(CONTACTS, {"family_name": "Unique"}, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    again = api.post(CONTACTS, {"family_name": "Unique"}, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert first.status_code == again.status_code == 201
    assert again["Idempotent-Replayed"] == "true"
    assert Contact.objects.count() == 1


def test_a_contact_without_any_name_or_email_is_a_400_naming_the_field(bearer_client: Any, theatre: Any) -> None:
    api = bearer_client(RW, owner=theatre)
    refused = api.post(CONTACTS, {"kind": "spectator"}, format="json")
    assert refused.status_code == 400
    assert "family_name" in refused.json()["fields"]
    bad_tag = api.post(CONTACTS, {"family_name": "X", "tags": ['a"b']}, format="json")
    assert bad_tag.status_code == 400
    assert "tags" in bad_tag.json()["fields"]


# ---------------------------------------------------------------------------- filters, encryption, CSV


def test_filters_by_kind_tag_and_exact_email(bearer_client: Any, theatre: Any) -> None:
    press = ContactFactory(owner=theatre, kind="press", tags=["presse", "lyon"], email="Redaction@Journal.test")
    spectator = ContactFactory(owner=theatre, kind="spectator", tags=["abonné"])
    api = bearer_client("contacts:read", owner=theatre)
    assert ids(api.get(CONTACTS, {"kind": "press"})) == {str(press.pk)}
    assert ids(api.get(CONTACTS, {"tag": "abonné"})) == {str(spectator.pk)}
    assert ids(api.get(CONTACTS, {"tag": "lyo"})) == set()  # a tag matches whole
    assert ids(api.get(CONTACTS, {"email": "  redaction@journal.TEST "})) == {str(press.pk)}
    assert ids(api.get(CONTACTS, {"email": "redaction@journal"})) == set()


def test_personal_fields_are_ciphertext_in_the_database(theatre: Any) -> None:
    contact = ContactFactory(owner=theatre, email="secret@exemple.test", phone="+33 6 12 34 56 78")
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT email, phone, postal_address, email_index FROM contacts_contact WHERE id = %s", [contact.pk.hex]
        )
        row = cursor.fetchone()
    if row is None:  # PostgreSQL stores the UUID natively
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT email, phone, postal_address, email_index FROM contacts_contact WHERE id = %s", [contact.pk]
            )
            row = cursor.fetchone()
    email, phone, address, index = row
    assert email.startswith("enc1:")
    assert "secret" not in email
    assert phone.startswith("enc1:")
    assert "12 34" not in phone
    assert address.startswith("enc1:")
    assert "Imaginaire" not in address
    assert index
    assert "secret" not in index
    assert Contact.objects.get(pk=contact.pk).email == "secret@exemple.test"


def test_csv_export_streams_the_whole_filtered_collection(bearer_client: Any, theatre: Any) -> None:
    ContactFactory(owner=theatre, family_name="Alpha", email="alpha@exemple.test")
    ContactFactory(owner=theatre, family_name="Beta", email="beta@exemple.test")
    ContactFactory(family_name="Ailleurs")
    api = bearer_client("contacts:read", owner=theatre)
    response = api.get(CONTACTS, {"format": "csv", "fields": "family_name,email"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0] == ["family_name", "email"]
    assert sorted(rows[1:]) == [["Alpha", "alpha@exemple.test"], ["Beta", "beta@exemple.test"]]
    unknown = api.get(CONTACTS, {"format": "csv", "fields": "family_name,secret"})
    assert unknown.status_code == 400
    assert "fields" in unknown.json()["fields"]


# ---------------------------------------------------------------------------- consents and reachable


def test_reachable_returns_exactly_the_consenting_contacts_and_drops_one_at_once_on_withdrawal(
    bearer_client: Any, theatre: Any, contact_notice: Any
) -> None:
    yes = ContactFactory(owner=theatre, email="oui@exemple.test", given_name="Oui")
    also = ContactFactory(owner=theatre, email="aussi@exemple.test")
    other_purpose = ContactFactory(owner=theatre)
    ContactFactory(owner=theatre)  # no consent at all
    withdrawn = ContactFactory(owner=theatre)
    consent(yes, contact_notice, "newsletter")
    consent(also, contact_notice, "newsletter", "season_offers")
    consent(other_purpose, contact_notice, "season_offers")
    consent_services.withdraw_consent(consent(withdrawn, contact_notice, "newsletter"))
    api = bearer_client(RW, owner=theatre)

    answer = api.get(f"{CONTACTS}reachable", {"purpose": "newsletter"})
    assert ids(answer) == {str(yes.pk), str(also.pk)}
    row = next(item for item in answer.json()["results"] if item["id"] == str(yes.pk))
    assert row["email"] == "oui@exemple.test"
    assert row["given_name"] == "Oui"

    dropped = api.post(f"{CONTACTS}{yes.pk}/consents/newsletter/withdraw", {}, format="json")
    assert dropped.status_code == 200, dropped.content
    assert dropped.json()[0]["status"] == "withdrawn"
    assert ids(api.get(f"{CONTACTS}reachable", {"purpose": "newsletter"})) == {str(also.pk)}
    assert ids(api.get(f"{CONTACTS}reachable", {"purpose": "season_offers"})) == {str(also.pk), str(other_purpose.pk)}
    again = api.post(f"{CONTACTS}{yes.pk}/consents/newsletter/withdraw", {}, format="json")
    assert again.status_code == 400
    assert "purpose" in again.json()["fields"]


def test_reachable_is_a_single_query_whatever_the_consents(
    bearer_client: Any, theatre: Any, contact_notice: Any, django_assert_max_num_queries: Any
) -> None:
    for _ in range(5):
        consent(ContactFactory(owner=theatre), contact_notice, "newsletter")
    api = bearer_client("contacts:read", owner=theatre)
    api.get(f"{CONTACTS}reachable", {"purpose": "newsletter"})  # warm the token/client caches
    with django_assert_max_num_queries(12):
        assert len(ids(api.get(f"{CONTACTS}reachable", {"purpose": "newsletter"}))) == 5


def test_reachable_expired_consent_and_another_controllers_consent_do_not_count(
    bearer_client: Any, theatre: Any, contact_notice: Any
) -> None:
    import datetime as dt

    lapsed = ContactFactory(owner=theatre)
    given = consent(lapsed, contact_notice, "newsletter")
    given.expires_at = timezone.now() - dt.timedelta(minutes=1)
    given.save(update_fields=["expires_at"])
    foreign = ContactFactory(owner=theatre)
    stranger = OrganisationFactory(name="Autre responsable")
    stranger_notice = consent_services.publish_notice(controller=stranger, kind="contact", version="1", text="Autre.")
    consent_services.grant_consent(
        controller=stranger,
        target_type="contact",
        target_id=foreign.pk,
        purposes=["newsletter"],
        data_categories=["dpv-pd:EmailAddress"],
        fields=["email"],
        recipients=["controller"],
        notice=stranger_notice,
        method="paper",
    )
    api = bearer_client("contacts:read", owner=theatre)
    assert ids(api.get(f"{CONTACTS}reachable", {"purpose": "newsletter"})) == set()


def test_reachable_names_purpose_when_missing_or_unknown(bearer_client: Any, theatre: Any) -> None:
    api = bearer_client("contacts:read", owner=theatre)
    for query in ({}, {"purpose": "spam"}, {"purpose": "professional_directory"}):
        refused = api.get(f"{CONTACTS}reachable", query)
        assert refused.status_code == 400, query
        assert "purpose" in refused.json()["fields"], query


def test_reachable_as_csv_for_a_mailing_tool(bearer_client: Any, theatre: Any, contact_notice: Any) -> None:
    consent(
        ContactFactory(owner=theatre, email="lettre@exemple.test", family_name="Lettre"), contact_notice, "newsletter"
    )
    ContactFactory(owner=theatre, email="non@exemple.test")
    api = bearer_client("contacts:read", kind="reader", owner=theatre)
    response = api.get(f"{CONTACTS}reachable", {"purpose": "newsletter", "format": "csv"})
    assert response.status_code == 200
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [(row["family_name"], row["email"]) for row in rows] == [("Lettre", "lettre@exemple.test")]


def test_recording_a_consent_through_the_api(bearer_client: Any, theatre: Any, contact_notice: Any) -> None:
    contact = ContactFactory(owner=theatre)
    api = bearer_client(RW, owner=theatre)
    url = f"{CONTACTS}{contact.pk}/consents"
    given = api.post(url, {"purpose": "newsletter", "notice_version": "2026-1", "method": "web_form"}, format="json")
    assert given.status_code == 201, given.content
    body = given.json()
    assert body["purposes"] == ["newsletter"]
    assert body["notice_sha256"] == contact_notice.sha256
    assert body["status"] == "given"
    assert body["recipients"] == ["controller"]
    assert [row["id"] for row in api.get(url).json()] == [body["id"]]
    assert ids(api.get(f"{CONTACTS}reachable", {"purpose": "newsletter"})) == {str(contact.pk)}

    unknown_notice = api.post(
        url, {"purpose": "newsletter", "notice_version": "1999", "method": "paper"}, format="json"
    )
    assert unknown_notice.status_code == 400
    assert "notice_version" in unknown_notice.json()["fields"]
    unknown_purpose = api.post(url, {"purpose": "spam", "notice_version": "2026-1", "method": "paper"}, format="json")
    assert unknown_purpose.status_code == 400
    assert "purpose" in unknown_purpose.json()["fields"]
    reader = bearer_client("contacts:read contacts:write", kind="reader", owner=theatre)
    assert (
        reader.post(
            url, {"purpose": "newsletter", "notice_version": "2026-1", "method": "paper"}, format="json"
        ).status_code
        == 403
    )
    outsider = bearer_client(RW)
    assert (
        outsider.post(
            url, {"purpose": "newsletter", "notice_version": "2026-1", "method": "paper"}, format="json"
        ).status_code
        == 404
    )


def test_deleting_a_contact_erases_its_consents(bearer_client: Any, theatre: Any, contact_notice: Any) -> None:
    contact = ContactFactory(owner=theatre)
    given = consent(contact, contact_notice, "newsletter")
    api = bearer_client(RW, owner=theatre)
    assert api.delete(f"{CONTACTS}{contact.pk}/").status_code == 204
    given.refresh_from_db()
    assert given.status == "erased"
    assert given.subject_email == ""


def test_no_agreement_can_cover_contacts(theatre: Any) -> None:
    import datetime as dt

    from rest_framework.exceptions import ValidationError

    from dataspace.consent.agreements import sign_agreement

    administrator = UserFactory(username="admin-contacts", is_superuser=True)
    with pytest.raises(ValidationError) as refused:
        sign_agreement(
            owner=theatre,
            target_type="contact",
            grantee="federation",
            purposes=["communication"],
            valid_from=dt.date(2026, 1, 1),
            signed_by=administrator,
        )
    assert "target_type" in refused.value.detail
