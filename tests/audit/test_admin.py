"""The journal in the admin: visible to the node's staff, never added to, changed or deleted."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from django.test import Client

from dataspace.audit.models import JournalEntry, JournalSeal
from dataspace.audit.services import seal_head
from dataspace.node import keys
from tests.audit.factories import write

pytestmark = pytest.mark.django_db


def test_superuser_reads_entries_and_seals_but_cannot_change_them(staff_user: Any) -> None:
    keys.generate_key("20260101T000000Z")
    entry = write(uuid.uuid4())
    seal = seal_head()
    assert seal is not None
    client = Client()
    client.force_login(staff_user)
    listing = client.get("/admin/audit/journalentry/")
    assert listing.status_code == 200
    assert "entrée du journal" in listing.content.decode()
    assert client.get(f"/admin/audit/journalentry/{entry.seq}/change/").status_code == 200
    assert client.get("/admin/audit/journalseal/").status_code == 200
    assert client.get("/admin/audit/journalentry/add/").status_code == 403
    assert client.post(f"/admin/audit/journalentry/{entry.seq}/change/", {"action": "export"}).status_code == 403
    assert client.post(f"/admin/audit/journalentry/{entry.seq}/delete/", {"post": "yes"}).status_code == 403
    assert client.post(f"/admin/audit/journalseal/{seal.pk}/delete/", {"post": "yes"}).status_code == 403
    assert JournalEntry.objects.get(seq=entry.seq).action == "read"
    assert JournalSeal.objects.count() == 1


def test_outsider_cannot_open_the_admin_journal(outsider_user: Any) -> None:
    client = Client()
    client.force_login(outsider_user)
    assert client.get("/admin/audit/journalentry/").status_code == 302  # to the admin login
