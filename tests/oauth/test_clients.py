"""Client registration rules, secrets (entropy, digest at rest, constant-time check), rotation, report."""

from __future__ import annotations

import datetime as dt
import hmac
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.utils import timezone

from dataspace.node.models import NodeIdentity, StaffMembership
from dataspace.oauth import clients, secrets
from dataspace.oauth.models import Client, ClientSecret, IssuedToken, RefreshToken
from dataspace.oauth.tasks import report_old_secrets
from tests.factories import OrganisationFactory, UserFactory

pytestmark = pytest.mark.django_db


def _new(owner: Any, **kwargs: Any) -> clients.IssuedSecret:
    options: dict[str, Any] = {
        "name": "Billetterie",
        "scopes": "referentials:read",
        "grant_types": ["client_credentials"],
    }
    options.update(kwargs)
    return clients.create_client(owner=owner, **options)


def _all_text_in_database() -> str:
    """Every value of every row of every table, as one string (to look for a secret in clear)."""
    chunks: list[str] = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f'SELECT * FROM "{table}"')  # noqa: S608 - table names from introspection
            chunks.extend(repr(row) for row in cursor.fetchall())
    return "\n".join(chunks)


# ---------------------------------------------------------------------------- secrets


def test_secret_has_256_bits_and_only_a_keyed_digest_is_stored(structure: Any) -> None:
    issued = _new(structure)
    assert issued.secret is not None
    assert len(issued.secret) >= 43  # token_urlsafe(32): 32 random bytes
    stored = ClientSecret.objects.get(client=issued.client)
    assert stored.digest == secrets.digest(issued.secret)
    assert stored.digest != issued.secret
    database = _all_text_in_database()
    assert issued.client.client_id in database  # the search does see the rows…
    assert issued.secret not in database  # …and the secret is not among them


def test_digest_is_keyed(settings: Any) -> None:
    settings.OAUTH_SECRET_DIGEST_KEY = "key-one"
    first = secrets.digest("same secret")
    settings.OAUTH_SECRET_DIGEST_KEY = "key-two"
    assert secrets.digest("same secret") != first


def test_secrets_are_compared_in_constant_time(structure: Any, monkeypatch: Any) -> None:
    issued = _new(structure)
    calls: list[tuple[str, str]] = []
    real = hmac.compare_digest

    def spy(a: Any, b: Any) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(secrets.hmac, "compare_digest", spy)
    assert clients.authenticate_secret(issued.client, issued.secret or "")
    assert not clients.authenticate_secret(issued.client, "wrong" + (issued.secret or ""))
    assert calls, "the secret check goes through hmac.compare_digest"


def test_right_secret_accepted_wrong_empty_and_other_clients_refused(structure: Any) -> None:
    one, two = _new(structure), _new(structure, name="Autre")
    assert clients.authenticate_secret(one.client, one.secret or "")
    assert not clients.authenticate_secret(one.client, "")
    assert not clients.authenticate_secret(one.client, (one.secret or "")[:-1])
    assert not clients.authenticate_secret(one.client, two.secret or "")


def test_disabled_or_expired_client_is_refused(structure: Any, monkeypatch: Any) -> None:
    issued = _new(structure, expires_at=timezone.now() + dt.timedelta(days=1))
    client = issued.client
    assert client.is_usable()
    later = timezone.now() + dt.timedelta(days=2)
    monkeypatch.setattr(timezone, "now", lambda: later)
    assert not client.is_usable()
    assert not clients.authenticate_secret(client, issued.secret or "")
    monkeypatch.undo()
    clients.disable_client(client)
    client.refresh_from_db()
    assert not client.is_usable()
    assert not clients.authenticate_secret(client, issued.secret or "")


def test_key_and_public_clients_get_no_secret(structure: Any) -> None:
    peer = _new(structure, auth_method="private_key_jwt", jwks_uri="https://pair.example/.well-known/jwks.json")
    assert peer.secret is None
    assert not ClientSecret.objects.filter(client=peer.client).exists()
    app = _new(
        structure,
        auth_method="none",
        grant_types=["authorization_code", "refresh_token"],
        redirect_uris=["https://app.example/cb"],
    )
    assert app.secret is None


# ---------------------------------------------------------------------------- registration rules


def test_reader_refused_write_scope_on_create_and_update(structure: Any) -> None:
    with pytest.raises(ValidationError) as refused:
        _new(structure, kind="reader", scopes="referentials:read referentials:write")
    assert "allowed_scopes" in refused.value.message_dict
    reader = _new(structure, kind="reader").client
    with pytest.raises(ValidationError) as refused:
        clients.update_client(reader, allowed_scopes="referentials:write")
    assert "allowed_scopes" in refused.value.message_dict
    reader.refresh_from_db()
    assert reader.allowed_scopes == ["referentials:read"]
    depositor = _new(structure, kind="depositor", scopes="referentials:write").client
    with pytest.raises(ValidationError):
        clients.update_client(depositor, kind="reader")  # a depositor turned reader keeps no write scope
    assert clients.update_client(depositor, allowed_scopes="referentials:read referentials:write").allowed_scopes == [
        "referentials:read",
        "referentials:write",
    ]


def test_registration_errors_name_the_field(structure: Any) -> None:
    cases = [
        ({"scopes": "referentials:read nope:nope"}, "allowed_scopes"),
        ({"grant_types": ["password"]}, "grant_types"),
        ({"grant_types": ["authorization_code"]}, "redirect_uris"),
        ({"auth_method": "private_key_jwt"}, "jwks_uri"),
        ({"auth_method": "none"}, "token_endpoint_auth_method"),
        ({"expires_at": timezone.now() - dt.timedelta(days=1)}, "expires_at"),
    ]
    for options, field in cases:
        with pytest.raises(ValidationError) as refused:
            _new(structure, **options)
        assert field in refused.value.message_dict, options
    assert not Client.objects.exists()


def test_update_refuses_fixed_fields(structure: Any) -> None:
    client = _new(structure).client
    with pytest.raises(ValidationError) as refused:
        clients.update_client(client, client_id="mine")
    assert "client_id" in refused.value.message_dict


def test_owner_resolution(structure: Any) -> None:
    other = OrganisationFactory(siret="35600000000048")
    assert clients.resolve_owner(str(other.pk)) == other
    assert clients.resolve_owner("35600000000048") == other
    for bad in ("12345678901234", "not-a-uuid", "0b1f7e0e-3f5e-4b8e-9d59-000000000000"):
        with pytest.raises(ValidationError) as refused:
            clients.resolve_owner(bad)
        assert "owner" in refused.value.message_dict
    with pytest.raises(ValidationError):
        clients.resolve_owner("")  # no node organisation yet
    NodeIdentity.objects.create(pk=1, name="n", base_url="https://n.example", organisation=structure)
    assert clients.resolve_owner("") == structure


def test_user_resolution() -> None:
    person = UserFactory(username="camille")
    assert clients.resolve_user("camille") == person
    assert clients.resolve_user("") is None
    with pytest.raises(ValidationError) as refused:
        clients.resolve_user("nobody")
    assert "user" in refused.value.message_dict
    UserFactory(username="gone", is_active=False)
    with pytest.raises(ValidationError):
        clients.resolve_user("gone")


# ---------------------------------------------------------------------------- rotation


def test_rotation_grace_period_then_retirement(structure: Any, monkeypatch: Any) -> None:
    issued = _new(structure)
    client = issued.client
    new = clients.rotate_secret(client, grace_seconds=3600)
    assert new.version == 2
    assert new.secret != issued.secret
    assert clients.authenticate_secret(client, issued.secret or "")  # during the grace period
    assert clients.authenticate_secret(client, new.secret or "")
    later = timezone.now() + dt.timedelta(hours=2)
    monkeypatch.setattr(timezone, "now", lambda: later)
    assert not clients.authenticate_secret(client, issued.secret or "")  # retired
    assert clients.authenticate_secret(client, new.secret or "")
    statuses = {s.version: clients.secret_status(s) for s in client.secrets.all()}
    assert statuses == {1: "retired", 2: "current"}


def test_rotation_without_grace_retires_at_once(structure: Any) -> None:
    issued = _new(structure)
    new = clients.rotate_secret(issued.client, grace_seconds=0)
    assert not clients.authenticate_secret(issued.client, issued.secret or "")
    assert clients.authenticate_secret(issued.client, new.secret or "")


def test_retired_secret_in_the_past_is_refused(structure: Any) -> None:
    issued = _new(structure)
    ClientSecret.objects.filter(client=issued.client).update(retires_at=timezone.now() - dt.timedelta(seconds=1))
    assert not clients.authenticate_secret(issued.client, issued.secret or "")


def test_revoke_secret_is_immediate_and_idempotent(structure: Any) -> None:
    issued = _new(structure)
    stored = ClientSecret.objects.get(client=issued.client)
    clients.revoke_secret(stored)
    first = stored.revoked_at
    assert first is not None
    assert not clients.authenticate_secret(issued.client, issued.secret or "")
    clients.revoke_secret(stored)
    stored.refresh_from_db()
    assert stored.revoked_at == first
    assert clients.secret_status(stored) == "revoked"


def test_disable_revokes_live_tokens(structure: Any) -> None:
    client = _new(structure).client
    now = timezone.now()
    live = IssuedToken.objects.create(
        jti="a", client=client, scope="referentials:read", issued_at=now, expires_at=now + dt.timedelta(minutes=5)
    )
    refresh = RefreshToken.objects.create(
        token_digest="d", client=client, scope="referentials:read", expires_at=now + dt.timedelta(days=1)
    )
    clients.disable_client(client)
    live.refresh_from_db()
    refresh.refresh_from_db()
    assert live.revoked_at is not None
    assert refresh.revoked_at is not None


# ---------------------------------------------------------------------------- report


def test_report_lists_old_current_secrets_only(structure: Any, caplog: Any) -> None:
    old, fresh, revoked = (
        _new(structure, name="Ancien"),
        _new(structure, name="Récent"),
        _new(structure, name="Révoqué"),
    )
    long_ago = timezone.now() - dt.timedelta(days=400)
    ClientSecret.objects.filter(client__in=[old.client, revoked.client]).update(created_at=long_ago)
    ClientSecret.objects.filter(client=revoked.client).update(revoked_at=timezone.now())
    reported = clients.secrets_past_max_age(365)
    assert [s.client for s in reported] == [old.client]
    assert clients.secrets_past_max_age(500) == []
    with caplog.at_level("WARNING", logger="dataspace.oauth"):
        lines = report_old_secrets.delay().get()
    assert len(lines) == 1
    assert old.client.client_id in lines[0]
    assert old.client.client_id in caplog.text
    assert fresh.client.client_id not in caplog.text


def test_report_task_is_scheduled(settings: Any) -> None:
    tasks = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert "dataspace.oauth.tasks.report_old_secrets" in tasks


# ---------------------------------------------------------------------------- ownership filter


def test_clients_owned_by_and_managing_organisation(structure: Any) -> None:
    other = OrganisationFactory()
    mine, theirs = _new(structure).client, _new(other, name="Leur client").client
    assert list(clients.clients_owned_by(structure)) == [mine]
    assert list(clients.clients_owned_by(other)) == [theirs]
    assert not clients.clients_owned_by(None).exists()
    assert clients.managing_organisation(client_id=theirs.client_id) == other
    assert clients.managing_organisation(client_id="unknown") is None
    clients.disable_client(theirs)
    assert clients.managing_organisation(client_id=theirs.client_id) is None
    NodeIdentity.objects.create(pk=1, name="n", base_url="https://n.example", organisation=structure)
    administrator = UserFactory(is_staff=True)
    StaffMembership.objects.create(user=administrator, organisation=structure, role="administrator")
    editor = UserFactory(is_staff=True)
    StaffMembership.objects.create(user=editor, organisation=structure, role="editor")
    assert clients.managing_organisation(user=administrator) == structure
    assert clients.managing_organisation(user=UserFactory(is_superuser=True)) == structure
    assert clients.managing_organisation(user=editor) is None
    assert clients.managing_organisation(user=UserFactory(is_staff=True)) is None
    assert clients.managing_organisation(user=None) is None
    # a token acting for a person: the person must administer the calling client's owner
    assert clients.managing_organisation(client_id=mine.client_id, user=administrator) == structure
    assert clients.managing_organisation(client_id=mine.client_id, user=editor) is None
