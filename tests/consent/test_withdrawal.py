"""Withdrawal takes effect in one transaction: journal, outbox notice, tombstone, token revocation."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
from django.db import transaction
from django.utils import timezone

from dataspace.audit.models import JournalEntry
from dataspace.consent import services
from dataspace.consent.models import ConsentRecord
from dataspace.oauth.models import Client, IssuedToken, RefreshToken
from dataspace.records.models import Change
from federation.models import OutboxMessage
from tests.consent.core_factories import directory_entry, grant_contact, grant_directory, person
from tests.factories import OrganisationFactory

pytestmark = pytest.mark.django_db

REGISTRY = "https://registre.example"
PEER = "https://pair.example"


class Boom(Exception):
    pass


@pytest.fixture(autouse=True)
def _registry(settings: Any) -> None:
    settings.FEDERATION_REGISTRY_URL = REGISTRY


@pytest.fixture
def app_client(structure: Any) -> Client:
    """The person's app: a reader client through which they gave their consent."""
    return Client.objects.create(
        client_id="appli-personne",
        name="Appli de la personne",
        owner=structure,
        kind="reader",
        allowed_scopes=["directory:search"],
        grant_types=["authorization_code", "refresh_token"],
    )


def _tokens(client: Client, user: Any) -> tuple[IssuedToken, RefreshToken, IssuedToken]:
    """An access token and a refresh token of one family, and an access token of another client."""
    now = timezone.now()
    family = uuid.uuid4()
    access = IssuedToken.objects.create(
        jti=f"jti-{uuid.uuid4()}",
        client=client,
        user=user,
        scope="directory:search",
        family=family,
        issued_at=now,
        expires_at=now + dt.timedelta(hours=1),
    )
    refresh = RefreshToken.objects.create(
        token_digest=uuid.uuid4().hex,
        family=family,
        client=client,
        user=user,
        scope="directory:search",
        expires_at=now + dt.timedelta(days=30),
    )
    other_client = Client.objects.create(
        client_id=f"autre-{uuid.uuid4().hex[:6]}", name="Autre", owner=OrganisationFactory(), kind="reader"
    )
    unrelated = IssuedToken.objects.create(
        jti=f"jti-{uuid.uuid4()}",
        client=other_client,
        user=user,
        scope="directory:search",
        issued_at=now,
        expires_at=now + dt.timedelta(hours=1),
    )
    return access, refresh, unrelated


def _setup(structure: Any, app_client: Client) -> tuple[Any, Any, ConsentRecord]:
    user = person()
    entry = directory_entry(structure, user)
    consent = grant_directory(structure, entry, user=user, oauth_client=app_client)
    return user, entry, consent


def _last_change(entry: Any) -> Change:
    return Change.objects.filter(record_id=entry.pk).order_by("-seq").first()  # type: ignore[return-value]


def test_withdrawal_writes_journal_outbox_tombstone_and_revokes_tokens(structure: Any, app_client: Client) -> None:
    from federation.models import FeedReader

    FeedReader.objects.create(client_id="peer-node", node=PEER, last_read_at=timezone.now())
    user, entry, consent = _setup(structure, app_client)
    access, refresh, unrelated = _tokens(app_client, user)
    assert _last_change(entry).op == "upsert"
    assert entry.__class__.objects.get(pk=entry.pk).is_public

    with transaction.atomic():
        services.withdraw_consent(consent, by=user, note="je ne souhaite plus apparaître")

    consent.refresh_from_db()
    assert consent.status == "withdrawn"
    assert JournalEntry.objects.filter(action="consent.withdrawn", subject_person_id=entry.pk).count() == 1
    messages = OutboxMessage.objects.filter(kind="consent.withdrawn")
    assert sorted(messages.values_list("destination", flat=True)) == [PEER, REGISTRY]
    payload = messages.first().payload  # type: ignore[union-attr]
    assert payload["consent"] == str(consent.pk)
    assert payload["target"].endswith(f"/id/directory-entry/{entry.pk}")
    assert payload["target_type"] == "directory-entry"
    assert payload["target_id"] == str(entry.pk)
    assert payload["controller"] == structure.uri
    assert payload["at"].endswith("Z")
    assert _last_change(entry).op == "delete"  # the tombstone on the change feed
    access.refresh_from_db()
    refresh.refresh_from_db()
    unrelated.refresh_from_db()
    assert access.revoked_at is not None
    assert refresh.revoked_at is not None
    assert unrelated.revoked_at is None  # another application's token is not the consent's
    assert services.active_consent("directory-entry", entry.pk) is None
    assert not entry.__class__.objects.get(pk=entry.pk).is_public


def test_nothing_happens_when_the_transaction_rolls_back(structure: Any, app_client: Client) -> None:
    user, entry, consent = _setup(structure, app_client)
    access, refresh, _unrelated = _tokens(app_client, user)
    changes_before = Change.objects.count()
    journal_before = JournalEntry.objects.count()
    outbox_before = OutboxMessage.objects.count()

    written: list[int] = []

    def withdraw_then_fail() -> None:
        with transaction.atomic():
            services.withdraw_consent(consent, by=user)
            written.append(OutboxMessage.objects.filter(kind="consent.withdrawn").count())  # inside the transaction
            raise Boom

    with pytest.raises(Boom):
        withdraw_then_fail()
    assert written == [1]

    consent.refresh_from_db()
    assert consent.status == "given"
    assert consent.events.count() == 1
    assert OutboxMessage.objects.count() == outbox_before
    assert Change.objects.count() == changes_before
    assert _last_change(entry).op == "upsert"
    assert JournalEntry.objects.count() == journal_before
    access.refresh_from_db()
    refresh.refresh_from_db()
    assert access.revoked_at is None
    assert refresh.revoked_at is None
    assert services.active_consent("directory-entry", entry.pk) == consent


def test_a_failing_effect_rolls_the_whole_withdrawal_back(structure: Any, app_client: Client, monkeypatch: Any) -> None:
    user, entry, consent = _setup(structure, app_client)
    access, _refresh, _unrelated = _tokens(app_client, user)

    def broken(**kwargs: Any) -> None:
        raise Boom

    monkeypatch.setattr("federation.outbox.enqueue", broken)
    with pytest.raises(Boom):
        services.withdraw_consent(consent, by=user)
    consent.refresh_from_db()
    assert consent.status == "given"
    assert _last_change(entry).op == "upsert"
    access.refresh_from_db()
    assert access.revoked_at is None
    assert not JournalEntry.objects.filter(action="consent.withdrawn").exists()


def test_expiry_and_erasure_have_the_same_effects(structure: Any, app_client: Client) -> None:
    user = person()
    lapsing_entry = directory_entry(structure, user, name="Entrée qui expire")
    erased_entry = directory_entry(structure, user, name="Entrée effacée")
    now = timezone.now()
    lapsing = grant_directory(
        structure, lapsing_entry, user=user, oauth_client=app_client, expires_at=now + dt.timedelta(hours=1)
    )
    erased = grant_directory(structure, erased_entry, user=user, oauth_client=app_client)
    access, _refresh, _unrelated = _tokens(app_client, user)

    assert services.expire_consents(now=now + dt.timedelta(hours=2)) == 1
    assert _last_change(lapsing_entry).op == "delete"
    assert OutboxMessage.objects.filter(payload__consent=str(lapsing.pk), payload__status="expired").exists()
    access.refresh_from_db()
    assert access.revoked_at is not None

    services.erase_consent(erased)
    assert _last_change(erased_entry).op == "delete"
    assert OutboxMessage.objects.filter(payload__consent=str(erased.pk), payload__status="erased").exists()


def test_contact_consents_never_notify_other_nodes(structure: Any, app_client: Client) -> None:
    user = person()
    consent = grant_contact(structure, user=user, oauth_client=app_client)
    access, _refresh, _unrelated = _tokens(app_client, user)
    services.withdraw_consent(consent)
    # nothing about the contact; at most the registry's "changes available" push of the records written
    assert set(OutboxMessage.objects.values_list("kind", flat=True)) <= {"changes.available"}
    access.refresh_from_db()
    assert access.revoked_at is not None


def test_a_revoked_token_is_refused_by_the_api_at_once(structure: Any, bearer_client: Any) -> None:
    user = person()
    api = bearer_client("consent:manage", kind="reader", owner=structure, user=user)
    consent = grant_contact(structure, user=user, oauth_client=api.oauth_client)
    assert api.get("/api/v1/consents/mine").status_code == 200
    services.withdraw_consent(consent)
    answer = api.get("/api/v1/consents/mine")
    assert answer.status_code == 401


def test_the_admin_action_withdraws_with_the_same_effects(structure: Any, app_client: Client) -> None:
    from django.test import Client as BrowserClient

    from dataspace.node.models import StaffMembership
    from tests.factories import UserFactory

    _user, entry, consent = _setup(structure, app_client)
    for role, expected in (("editor", "given"), ("administrator", "withdrawn")):
        staff = UserFactory(username=f"{role}-admin-action", is_staff=True)
        StaffMembership.objects.create(user=staff, organisation=structure, role=role)
        browser = BrowserClient()
        browser.force_login(staff)
        browser.post(
            "/admin/consent/consentrecord/",
            {"action": "withdraw_selected", "_selected_action": [str(consent.pk)]},
        )
        consent.refresh_from_db()
        assert consent.status == expected
    assert OutboxMessage.objects.filter(payload__consent=str(consent.pk)).exists()
    assert _last_change(entry).op == "delete"
