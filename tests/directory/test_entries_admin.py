"""Admin of directory entries: the node's staff see every field and which ones a consent publishes."""

from __future__ import annotations

from typing import Any

import pytest

from tests.directory.factories import DirectoryEntryFactory, grant_entry_consent

pytestmark = pytest.mark.django_db


def test_the_changelist_shows_published_and_unpublished_entries(staff_client: Any) -> None:
    published, hidden = DirectoryEntryFactory(display_name="Publiée"), DirectoryEntryFactory(display_name="Cachée")
    grant_entry_consent(published, ["display_name", "trades"])
    page = staff_client.get("/admin/directory/directoryentry/")
    assert page.status_code == 200
    text = page.content.decode()
    assert "display_name, trades" in text
    assert "non publiée (aucun consentement en vigueur)" in text
    assert hidden.display_name in text


def test_the_change_page_shows_the_decrypted_contact_fields(staff_client: Any) -> None:
    entry = DirectoryEntryFactory(contact_email="visible.admin@exemple.test")
    page = staff_client.get(f"/admin/directory/directoryentry/{entry.pk}/change/")
    assert page.status_code == 200
    assert "visible.admin@exemple.test" in page.content.decode()


def test_saving_in_the_admin_moves_the_version(staff_client: Any) -> None:
    entry = DirectoryEntryFactory(display_name="Avant")
    page = staff_client.get(f"/admin/directory/directoryentry/{entry.pk}/change/")
    form = page.context["adminform"].form
    data = {name: form[name].value() for name in form.fields}
    data = {key: ("" if value is None else value) for key, value in data.items()}
    data.update(display_name="Après", owner=str(entry.owner_id))
    for name in ("trades", "skills", "languages", "availability", "links", "same_as"):
        data[name] = form[name].value()
    answer = staff_client.post(f"/admin/directory/directoryentry/{entry.pk}/change/", data)
    assert answer.status_code == 302, answer.content.decode()[:2000]
    entry.refresh_from_db()
    assert entry.display_name == "Après"
    assert entry.version == 2
