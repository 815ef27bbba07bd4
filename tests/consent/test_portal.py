"""The person's portal (/moi/): one-time sign-in link, consents, withdrawal, receipts, access history."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.test import Client
from django.utils import timezone

from dataspace.audit.models import JournalEntry
from dataspace.audit.services import Actor, journal
from dataspace.consent import portal
from dataspace.consent.models import ConsentEvent, ConsentRecord, LoginLink
from tests.conftest import fresh_throttles, node_signing_key
from tests.factories import OrganisationFactory

pytestmark = pytest.mark.django_db

CSRF = re.compile(r'name="csrfmiddlewaretoken" value="[^"]*"')
LINK = re.compile(r"https?://[^\s]+(/moi/lien/[A-Za-z0-9_-]+)")


@pytest.fixture(autouse=True)
def _portal_settings(settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.PORTAL_LINK_MINUTES = 15
    settings.PORTAL_LINK_REQUESTS_PER_EMAIL = 5
    settings.PORTAL_LINK_REQUESTS_PER_ADDRESS = 20
    fresh_throttles(monkeypatch)


# ---------------------------------------------------------------------------- setting up persons


def make_person(
    username: str,
    email: str,
    organisation: Any,
    *,
    display_name: str = "",
    fields: tuple[str, ...] = ("display_name", "trades", "region"),
    subject_email: str = "",
    user_email: bool = True,
) -> tuple[Any, Any, ConsentRecord]:
    """A person account, their directory entry held by `organisation`, and their consent to publish it."""
    from dataspace.consent import services
    from dataspace.directory.models import DirectoryEntry

    user = get_user_model().objects.create_user(username, email=email if user_email else "")
    entry = DirectoryEntry.objects.create(
        owner=organisation,
        display_name=display_name or username,
        trades=["regisseur_lumiere"],
        region="Bretagne",
        contact_email=email,
        person_user=user,
    )
    notice = services.current_notice(organisation, "directory") or services.publish_notice(
        controller=organisation, kind="directory", version="2026-1", text="Notice de l'annuaire (fictive)."
    )
    consent = services.grant_consent(
        controller=organisation,
        target_type="directory-entry",
        target_id=entry.pk,
        purposes=["professional_directory"],
        data_categories=["dpv-pd:Name", "dpv-pd:Professional", "dpv-pd:Location"],
        fields=list(fields),
        recipients=["licensed_professionals"],
        notice=notice,
        method="web_form",
        subject_user=user,
        subject_email=subject_email or email,
        expires_at=timezone.now() + dt.timedelta(days=365),
    )
    return user, entry, consent


def signed_in(user: Any) -> Client:
    client = Client()
    client.force_login(user, backend=portal.LOGIN_BACKEND)
    return client


def request_link(client: Client, email: str) -> Any:
    return client.post("/moi/connexion", {"email": email})


def link_path(message: Any) -> str:
    found = LINK.search(message.body)
    assert found, message.body
    return found.group(1)


@pytest.fixture
def lilas() -> Any:
    return OrganisationFactory(name="Théâtre des Lilas imaginaires")


@pytest.fixture
def alice(lilas: Any) -> tuple[Any, Any, ConsentRecord]:
    return make_person("alice.lumiere", "alice@example.org", lilas, display_name="Alice Lumière")


@pytest.fixture
def bruno(lilas: Any) -> tuple[Any, Any, ConsentRecord]:
    return make_person("bruno.son", "bruno@example.org", lilas, display_name="Bruno Son")


# ---------------------------------------------------------------------------- sign-in by link


def test_a_known_email_receives_a_link_that_signs_in_once(alice: Any) -> None:
    user, _entry, _consent = alice
    client = Client()
    response = request_link(client, "alice@example.org")
    assert response.status_code == 200
    assert "Vérifiez votre messagerie" in response.content.decode()
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["alice@example.org"]
    path = link_path(mail.outbox[0])
    token = path.rsplit("/", 1)[1]
    assert len(token) == 43  # 32 random bytes, URL-safe base64 without padding

    # Opening the link shows a button; only the POST uses it (a mail scanner's GET does not).
    opened = client.get(path)
    assert opened.status_code == 200
    assert "Me connecter" in opened.content.decode()
    assert LoginLink.objects.get(user=user).used_at is None
    assert client.get("/moi/").status_code == 302

    signed = client.post(path)
    assert signed.status_code == 302
    assert signed["Location"] == "/moi/"
    assert client.get("/moi/").status_code == 200
    assert LoginLink.objects.get(user=user).used_at is not None

    # Used once: a second use, from anywhere, is refused and signs nobody in.
    other = Client()
    assert other.get(path).status_code == 410
    assert other.post(path).status_code == 410
    assert other.get("/moi/").status_code == 302


def test_only_the_digest_of_the_token_is_stored(alice: Any) -> None:
    request_link(Client(), "alice@example.org")
    token = link_path(mail.outbox[0]).rsplit("/", 1)[1]
    link = LoginLink.objects.get()
    assert link.digest == portal.link_digest(token)
    assert len(link.digest) == 64
    stored = " ".join(str(value) for value in LoginLink.objects.values_list("digest", "user_id", "created_at").get())
    assert token not in stored


def test_an_unknown_email_gets_the_same_answer_and_no_mail(alice: Any) -> None:
    known = request_link(Client(), "alice@example.org")
    unknown = request_link(Client(), "personne@example.org")
    assert known.status_code == unknown.status_code == 200

    def normalised(response: Any, email: str) -> str:
        return CSRF.sub("", response.content.decode()).replace(email, "X")

    assert normalised(unknown, "personne@example.org") == normalised(known, "alice@example.org")
    assert [message.to for message in mail.outbox] == [["alice@example.org"]]
    assert LoginLink.objects.count() == 1


def test_an_invalid_email_is_a_form_error_in_french() -> None:
    response = Client().post("/moi/connexion", {"email": "pas-une-adresse"})
    assert response.status_code == 400
    assert "Saisissez une adresse e-mail valide" in response.content.decode()
    assert not mail.outbox


def test_an_expired_link_is_refused(alice: Any) -> None:
    user = alice[0]
    now = timezone.now()
    stale, _link = portal.create_login_link(user, now=now - dt.timedelta(minutes=16))
    fresh, _link = portal.create_login_link(user, now=now - dt.timedelta(minutes=14))
    client = Client()
    assert client.get(f"/moi/lien/{stale}").status_code == 410
    assert client.post(f"/moi/lien/{stale}").status_code == 410
    assert client.get("/moi/").status_code == 302
    assert client.post(f"/moi/lien/{fresh}").status_code == 302
    assert client.get("/moi/").status_code == 200


def test_a_forged_token_is_refused() -> None:
    client = Client()
    assert client.post("/moi/lien/" + "A" * 43).status_code == 410
    assert client.get("/moi/").status_code == 302


def test_the_email_given_with_a_consent_finds_the_account(lilas: Any) -> None:
    """A person whose account has no email is found through their consent's subject email (blind index)."""
    make_person("chloe.plateau", "chloe@example.org", lilas, user_email=False)
    request_link(Client(), "  Chloe@Example.org ")
    assert [message.to for message in mail.outbox] == [["Chloe@Example.org"]]


def test_an_inactive_account_gets_no_link(alice: Any) -> None:
    user = alice[0]
    user.is_active = False
    user.save()
    assert request_link(Client(), "alice@example.org").status_code == 200
    assert not mail.outbox


@pytest.mark.parametrize("power", ["staff", "superuser", "membership", "professional"])
def test_a_link_never_signs_in_an_account_with_powers(power: str, lilas: Any, alice: Any) -> None:
    """Accounts acting for a structure or searching the directory sign in with their password."""
    from dataspace.directory.models import ProfessionalAccount
    from dataspace.node.models import StaffMembership

    user = alice[0]
    token, _link = portal.create_login_link(user)  # asked for while still a plain person account
    if power == "staff":
        user.is_staff = True
    elif power == "superuser":
        user.is_superuser = True
    elif power == "membership":
        StaffMembership.objects.create(user=user, organisation=lilas, role=StaffMembership.Role.ADMINISTRATOR)
    else:
        ProfessionalAccount.objects.create(user=user, organisation=lilas)
    user.save()
    assert request_link(Client(), "alice@example.org").status_code == 200
    assert not mail.outbox
    client = Client()
    assert client.post(f"/moi/lien/{token}").status_code == 410
    assert client.get("/moi/").status_code == 302


def test_a_link_session_lasts_an_hour(alice: Any) -> None:
    token, _link = portal.create_login_link(alice[0])
    client = Client()
    client.post(f"/moi/lien/{token}")
    assert client.session.get_expiry_age() == portal.PORTAL_SESSION_SECONDS


def test_link_requests_are_throttled_per_email_known_or_not(alice: Any) -> None:
    for email in ("alice@example.org", "personne@example.org"):
        statuses = [request_link(Client(REMOTE_ADDR=f"10.0.0.{n}"), email).status_code for n in range(6)]
        assert statuses == [200] * 5 + [429]
    assert len(mail.outbox) == 5


def test_link_requests_are_throttled_per_address(settings: Any, alice: Any) -> None:
    settings.PORTAL_LINK_REQUESTS_PER_ADDRESS = 3
    client = Client(REMOTE_ADDR="10.1.2.3")
    statuses = [request_link(client, f"inconnu{n}@example.org").status_code for n in range(3)]
    assert statuses == [200, 200, 200]
    assert request_link(client, "alice@example.org").status_code == 429
    assert not mail.outbox
    assert request_link(Client(REMOTE_ADDR="10.9.9.9"), "alice@example.org").status_code == 200


def test_sign_out_ends_the_session(alice: Any) -> None:
    client = signed_in(alice[0])
    assert client.post("/moi/deconnexion").status_code == 302
    assert client.get("/moi/").status_code == 302


# ---------------------------------------------------------------------------- consents


def test_the_portal_needs_a_session() -> None:
    for path in ("/moi/", "/moi/acces", f"/moi/consentements/{uuid.uuid4()}/recu"):
        response = Client().get(path)
        assert (response.status_code, response["Location"]) == (302, "/moi/connexion"), path


def test_a_person_sees_only_their_own_consents(alice: Any, bruno: Any) -> None:
    user, _entry, consent = alice
    page = signed_in(user).get("/moi/").content.decode()
    assert str(consent.pk) in page
    assert "Théâtre des Lilas imaginaires" in page
    assert "Publication dans l&#x27;annuaire professionnel" in page
    assert "Nom d&#x27;usage, métiers, région" in page  # the covered fields, by their French names
    assert "en vigueur" in page
    assert str(bruno[2].pk) not in page


def test_withdrawal_asks_for_confirmation_then_withdraws(alice: Any) -> None:
    user, _entry, consent = alice
    client = signed_in(user)
    confirm = client.get(f"/moi/consentements/{consent.pk}/retirer")
    assert confirm.status_code == 200
    assert "Confirmer le retrait" in confirm.content.decode()
    consent.refresh_from_db()
    assert consent.status == ConsentRecord.Status.GIVEN

    done = client.post(f"/moi/consentements/{consent.pk}/retirer")
    assert done.status_code == 302
    assert done["Location"] == "/moi/"
    consent.refresh_from_db()
    assert consent.status == ConsentRecord.Status.WITHDRAWN
    event = ConsentEvent.objects.filter(consent=consent).order_by("-at", "-pk").first()
    assert event is not None
    assert event.status == "withdrawn"
    assert event.by == user
    assert JournalEntry.objects.filter(action="consent.withdrawn", subject_person_id=consent.target_id).exists()

    page = client.get("/moi/").content.decode()
    assert "Votre consentement est retiré" in page
    assert "Retirer mon consentement" not in page
    # Withdrawing again changes nothing and says so.
    again = client.post(f"/moi/consentements/{consent.pk}/retirer", follow=True)
    assert "plus en vigueur" in again.content.decode()


def test_withdrawing_someone_elses_consent_is_a_404(alice: Any, bruno: Any) -> None:
    client = signed_in(alice[0])
    theirs = bruno[2]
    assert client.get(f"/moi/consentements/{theirs.pk}/retirer").status_code == 404
    assert client.post(f"/moi/consentements/{theirs.pk}/retirer").status_code == 404
    theirs.refresh_from_db()
    assert theirs.status == ConsentRecord.Status.GIVEN


def test_withdrawal_needs_the_csrf_token(alice: Any) -> None:
    user, _entry, consent = alice
    client = Client(enforce_csrf_checks=True)
    client.force_login(user, backend=portal.LOGIN_BACKEND)
    assert client.post(f"/moi/consentements/{consent.pk}/retirer").status_code == 403
    consent.refresh_from_db()
    assert consent.status == ConsentRecord.Status.GIVEN


def test_the_receipt_downloads_and_verifies(alice: Any, bruno: Any) -> None:
    from dataspace.consent.services import verify_receipt

    node_signing_key()
    user, _entry, consent = alice
    client = signed_in(user)
    response = client.get(f"/moi/consentements/{consent.pk}/recu")
    assert response.status_code == 200
    assert response["Content-Disposition"] == f'attachment; filename="recu-consentement-{consent.pk}.jwt"'
    checked = verify_receipt(response.content.decode())
    assert checked["payload"]["consent_id"] == str(consent.pk)
    assert client.get(f"/moi/consentements/{bruno[2].pk}/recu").status_code == 404


# ---------------------------------------------------------------------------- access history


def professional_reads(entry: Any, *, username: str, licence: str, organisation: str, purpose: str = "") -> Any:
    return journal(
        actor=Actor(username=username, organisation_name=organisation, licence_number=licence),
        action="read",
        decision="permit",
        purpose=purpose,
        record_type="directory-entry",
        record_ids=[entry.pk],
        owner_id=entry.owner_id,
        subject_person_id=entry.pk,
    )


def test_the_access_history_shows_exactly_the_persons_entries(alice: Any, bruno: Any) -> None:
    _user, entry, _consent = alice
    professional_reads(
        entry,
        username="paul.diffuseur",
        licence="PLATESV-R-2024-000123",
        organisation="Scène nationale de Brume",
        purpose="programming",
    )
    professional_reads(
        bruno[1], username="intrus.curieux", licence="PLATESV-R-2024-000999", organisation="Compagnie d'ailleurs"
    )
    journal(actor=Actor(username="sans.personne"), action="read", decision="permit", record_type="venue")
    page = signed_in(alice[0]).get("/moi/acces").content.decode()
    assert "paul.diffuseur" in page
    assert "PLATESV-R-2024-000123" in page
    assert "Scène nationale de Brume" in page
    assert "Programmation" in page
    assert "intrus.curieux" not in page
    assert "PLATESV-R-2024-000999" not in page
    assert "sans.personne" not in page


def test_the_access_history_is_newest_first_and_paginated(monkeypatch: Any, alice: Any) -> None:
    _user, entry, _consent = alice
    monkeypatch.setattr(portal, "ACCESS_PAGE_SIZE", 2)
    for n in range(3):
        professional_reads(entry, username=f"pro.{n}", licence=f"PLATESV-R-2024-00000{n}", organisation="Brume")
    client = signed_in(alice[0])
    first = client.get("/moi/acces").content.decode()
    assert first.index("pro.2") < first.index("pro.1")
    assert "pro.0" not in first
    assert "?page=2" in first
    second = client.get("/moi/acces?page=2").content.decode()
    assert "pro.0" in second
    assert "pro.2" not in second


def test_a_person_without_a_directory_entry_sees_no_one_elses_accesses(alice: Any) -> None:
    professional_reads(alice[1], username="paul.diffuseur", licence="PLATESV-R-2024-000123", organisation="Brume")
    nobody = get_user_model().objects.create_user("sans.fiche", email="sans.fiche@example.org")
    page = signed_in(nobody).get("/moi/acces").content.decode()
    assert "paul.diffuseur" not in page
    assert "Personne n'a encore consulté vos données" in page


def test_the_export_link_is_shown_when_the_node_routes_it(alice: Any) -> None:
    page = signed_in(alice[0]).get("/moi/").content.decode()
    assert ("Exporter mes données (JSON)" in page) == bool(portal._export_url())


def test_the_language_switcher_serves_the_portal_in_english(alice: Any) -> None:
    client = signed_in(alice[0])
    switched = client.post("/i18n/setlang/", {"language": "en", "next": "/moi/acces"})
    assert switched.status_code == 302
    assert switched["Location"] == "/moi/acces"
    assert '<html lang="en">' in client.get("/moi/acces").content.decode()
