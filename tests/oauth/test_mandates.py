"""Mandates: who grants and revokes them, and the write rule `may_write_for`."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from dataspace.node.models import StaffMembership
from dataspace.oauth import clients, mandates
from dataspace.oauth.models import Client, Mandate
from tests.factories import OrganisationFactory, UserFactory

pytestmark = pytest.mark.django_db

WRITE = "referentials:read referentials:write"


@pytest.fixture
def vendor() -> Any:
    return OrganisationFactory(name="Éditeur de logiciels")


@pytest.fixture
def theatre() -> Any:
    return OrganisationFactory(name="Théâtre mandant")


@pytest.fixture
def theatre_admin(theatre: Any) -> Any:
    person = UserFactory(username="admin-theatre")
    StaffMembership.objects.create(user=person, organisation=theatre, role="administrator")
    return person


def _client(owner: Any, kind: str = "depositor", scopes: str = WRITE) -> Client:
    return clients.create_client(
        name="Outil", owner=owner, kind=kind, scopes=scopes, grant_types=["client_credentials"]
    ).client


def test_only_the_structures_administrator_or_a_superuser_manages_mandates(theatre: Any, theatre_admin: Any) -> None:
    editor = UserFactory()
    StaffMembership.objects.create(user=editor, organisation=theatre, role="editor")
    admin_elsewhere = UserFactory()
    StaffMembership.objects.create(user=admin_elsewhere, organisation=OrganisationFactory(), role="administrator")
    assert mandates.can_manage_mandates(theatre_admin, theatre)
    assert mandates.can_manage_mandates(UserFactory(is_superuser=True), theatre)
    assert not mandates.can_manage_mandates(editor, theatre)
    assert not mandates.can_manage_mandates(admin_elsewhere, theatre)
    assert not mandates.can_manage_mandates(UserFactory(is_staff=True), theatre)
    assert not mandates.can_manage_mandates(None, theatre)
    theatre_admin.is_active = False
    assert not mandates.can_manage_mandates(theatre_admin, theatre)
    assert set(mandates.administered_structures(editor)) == set()
    assert list(mandates.administered_structures(admin_elsewhere)) != [theatre]


def test_grant_refused_to_others_and_for_bad_requests(vendor: Any, theatre: Any, theatre_admin: Any) -> None:
    depositor = _client(vendor)
    with pytest.raises(PermissionDenied):
        mandates.grant_mandate(theatre, depositor, "referentials:write", UserFactory())
    reader = _client(vendor, kind="reader", scopes="referentials:read")
    cases = [
        ((theatre, reader, "referentials:read"), "client"),
        ((theatre, depositor, "contacts:write"), "scopes"),  # not registered for it
        ((theatre, depositor, "nope:nope"), "scopes"),
        ((theatre, depositor, ""), "scopes"),
    ]
    for (structure, client, scopes), field in cases:
        with pytest.raises(ValidationError) as refused:
            mandates.grant_mandate(structure, client, scopes, theatre_admin)
        assert field in refused.value.message_dict
    with pytest.raises(ValidationError) as refused:
        mandates.grant_mandate(
            theatre, depositor, "referentials:write", theatre_admin, expires_at=timezone.now() - dt.timedelta(days=1)
        )
    assert "expires_at" in refused.value.message_dict
    own = _client(theatre)
    with pytest.raises(ValidationError):
        mandates.grant_mandate(theatre, own, "referentials:write", theatre_admin)  # needs none
    assert not Mandate.objects.exists()


def test_may_write_for_truth_table(vendor: Any, theatre: Any, theatre_admin: Any, monkeypatch: Any) -> None:
    depositor = _client(vendor)
    reader = _client(vendor, kind="reader", scopes="referentials:read")
    stranger = OrganisationFactory()
    # its owner's data: yes for a depositor, never for a reader
    assert mandates.may_write_for(depositor, vendor)
    assert not mandates.may_write_for(reader, vendor)
    # another structure: no, until it grants a mandate
    assert not mandates.may_write_for(depositor, theatre)
    mandate = mandates.grant_mandate(theatre, depositor, "referentials:write", theatre_admin)
    assert mandates.active_mandate(depositor, theatre) == mandate
    assert mandates.may_write_for(depositor, theatre)
    assert not mandates.may_write_for(depositor, stranger)
    assert not mandates.may_write_for(depositor, None)
    # a mandate without referentials:write does not cover referential writes
    other = _client(vendor, scopes="referentials:read referentials:write ticketing:write")
    mandates.grant_mandate(theatre, other, "ticketing:write", theatre_admin)
    assert not mandates.may_write_for(other, theatre)
    assert mandates.may_write_for(other, theatre, "ticketing:write")
    # revoked: refused at once
    mandates.revoke_mandate(mandate, theatre_admin)
    assert mandates.active_mandate(depositor, theatre) is None
    assert not mandates.may_write_for(depositor, theatre)
    # expired: refused
    expiring = mandates.grant_mandate(
        theatre, depositor, "referentials:write", theatre_admin, expires_at=timezone.now() + dt.timedelta(hours=1)
    )
    assert mandates.may_write_for(depositor, theatre)
    later = timezone.now() + dt.timedelta(hours=2)
    monkeypatch.setattr(timezone, "now", lambda: later)
    assert mandates.active_mandate(depositor, theatre) is None
    assert not mandates.may_write_for(depositor, theatre)
    monkeypatch.undo()
    assert mandates.active_mandate(depositor, theatre) == expiring
    # a disabled client writes nowhere, not even for its owner
    clients.disable_client(depositor)
    depositor.refresh_from_db()
    assert not mandates.may_write_for(depositor, vendor)
    assert not mandates.may_write_for(depositor, theatre)


def test_regrant_replaces_the_active_mandate(vendor: Any, theatre: Any, theatre_admin: Any) -> None:
    depositor = _client(vendor, scopes="referentials:read referentials:write ticketing:write")
    first = mandates.grant_mandate(theatre, depositor, "referentials:write", theatre_admin)
    second = mandates.grant_mandate(theatre, depositor, "referentials:write ticketing:write", theatre_admin)
    first.refresh_from_db()
    assert first.revoked_at is not None
    assert first.revoked_by == theatre_admin
    assert mandates.active_mandate(depositor, theatre) == second
    assert second.scopes == ["referentials:write", "ticketing:write"]
    assert second.granted_by == theatre_admin


def test_revoke_rules(vendor: Any, theatre: Any, theatre_admin: Any) -> None:
    depositor = _client(vendor)
    mandate = mandates.grant_mandate(theatre, depositor, "referentials:write", theatre_admin)
    with pytest.raises(PermissionDenied):
        mandates.revoke_mandate(mandate, UserFactory())
    mandate.refresh_from_db()
    assert mandate.revoked_at is None
    revoked = mandates.revoke_mandate(mandate, theatre_admin)
    assert revoked.revoked_at is not None
    assert revoked.revoked_by == theatre_admin
    stamp = revoked.revoked_at
    superuser = UserFactory(is_superuser=True)
    assert mandates.revoke_mandate(mandate, superuser).revoked_at == stamp  # idempotent
