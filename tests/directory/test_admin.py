"""The registry's admin pages: licences (read-only but their organisation), imports with their changes."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from dataspace.directory.models import Licence, LicenceImport
from dataspace.directory.services import import_licences
from tests.directory.conftest import SAMPLE
from tests.directory.factories import ProfessionalAccountFactory, TermsOfUseFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_browser(staff_user: Any) -> Client:
    client = Client()
    client.force_login(staff_user)
    return client


def test_pages_render(admin_browser: Client, registry: Any) -> None:
    import_licences(SAMPLE)
    Licence.objects.filter(number="PLATESV-D-2024-005678").update(holder_name="AUTRE NOM")
    run = import_licences(SAMPLE)
    ProfessionalAccountFactory()
    terms = TermsOfUseFactory()
    licence = Licence.objects.get(number="PLATESV-D-2024-005678")
    for url in (
        "/admin/directory/licence/",
        "/admin/directory/licence/?q=PETIT+SONGE",
        "/admin/directory/licence/?status__exact=invalide_retire",
        f"/admin/directory/licence/{licence.pk}/change/",
        "/admin/directory/licenceimport/",
        f"/admin/directory/licenceimport/{run.pk}/change/",
        "/admin/directory/professionalaccount/",
        "/admin/directory/termsofuse/",
        f"/admin/directory/termsofuse/{terms.pk}/change/",
        "/admin/directory/termsacceptance/",
    ):
        response = admin_browser.get(url)
        assert response.status_code == 200, url
    change_page = admin_browser.get(f"/admin/directory/licenceimport/{run.pk}/change/").content.decode()
    assert "AUTRE NOM" in change_page  # the change recorded by the second import


def test_only_the_organisation_of_a_licence_is_editable(admin_browser: Client, registry: Any) -> None:
    import_licences(SAMPLE)
    licence = Licence.objects.get(number="PLATESV-D-2024-005678")
    page = admin_browser.get(f"/admin/directory/licence/{licence.pk}/change/").content.decode()
    assert 'name="organisation"' in page
    assert 'name="status"' not in page
    assert 'name="number"' not in page
    assert admin_browser.get("/admin/directory/licence/add/").status_code == 403
    run = LicenceImport.objects.get()
    assert admin_browser.get(f"/admin/directory/licenceimport/{run.pk}/delete/").status_code == 403


def test_an_accepted_version_of_the_terms_is_read_only(admin_browser: Client, licensed_professional: Any) -> None:
    from dataspace.directory.services import accept_terms

    terms = TermsOfUseFactory(version="2026-1")
    assert 'name="text"' in admin_browser.get(f"/admin/directory/termsofuse/{terms.pk}/change/").content.decode()
    accept_terms(licensed_professional, "2026-1")
    assert 'name="text"' not in admin_browser.get(f"/admin/directory/termsofuse/{terms.pk}/change/").content.decode()
