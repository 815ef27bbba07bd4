"""Admin of OAuth access: pages load, the secret is shown once, mandates and revocations."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.test import Client as HttpClient
from django.urls import reverse
from django.utils import timezone

from dataspace.node.models import NodeIdentity, StaffMembership
from dataspace.oauth import clients, mandates
from dataspace.oauth.models import Client, ClientSecret, IssuedToken, Mandate, RefreshToken
from tests.factories import OrganisationFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def node(structure: Any) -> Any:
    return NodeIdentity.objects.create(pk=1, name="essais", base_url="http://testserver", organisation=structure)


@pytest.fixture
def superuser_web(db: Any) -> HttpClient:
    web = HttpClient()
    web.force_login(UserFactory(username="root", is_staff=True, is_superuser=True))
    return web


def _register(owner: Any, **kwargs: Any) -> clients.IssuedSecret:
    options: dict[str, Any] = {
        "name": "Billetterie",
        "scopes": "referentials:read",
        "grant_types": ["client_credentials"],
    }
    options.update(kwargs)
    return clients.create_client(owner=owner, **options)


def _add_form(owner: Any, **extra: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": "Logiciel de planning",
        "description": "",
        "owner": str(owner.pk),
        "kind": "depositor",
        "allowed_scopes": ["referentials:read", "referentials:write"],
        "grant_types": ["client_credentials"],
        "redirect_uris": "",
        "token_endpoint_auth_method": "client_secret_basic",
        "jwks_uri": "",
        "user": "",
        "expires_at_0": "",
        "expires_at_1": "",
        "is_active": "on",
    }
    data.update(extra)
    return data


def test_pages_load_for_staff(superuser_web: HttpClient, node: Any, structure: Any) -> None:
    issued = _register(structure)
    mandate_client = _register(OrganisationFactory(), kind="depositor", scopes="referentials:write").client
    admin_user = UserFactory(username="chef", is_staff=True)
    StaffMembership.objects.create(user=admin_user, organisation=structure, role="administrator")
    mandates.grant_mandate(structure, mandate_client, "referentials:write", admin_user)
    now = timezone.now()
    IssuedToken.objects.create(
        jti="j1",
        client=issued.client,
        scope="referentials:read",
        issued_at=now,
        expires_at=now + dt.timedelta(minutes=5),
    )
    RefreshToken.objects.create(
        token_digest="r1", client=issued.client, scope="x", expires_at=now + dt.timedelta(days=1)
    )
    urls = [
        reverse("admin:oauth_client_changelist"),
        reverse("admin:oauth_client_add"),
        reverse("admin:oauth_client_change", args=[issued.client.pk]),
        reverse("admin:oauth_clientsecret_changelist"),
        reverse("admin:oauth_mandate_changelist"),
        reverse("admin:oauth_mandate_add"),
        reverse("admin:oauth_issuedtoken_changelist"),
        reverse("admin:oauth_refreshtoken_changelist"),
        reverse("admin:oauth_clientsecret_change", args=[issued.client.secrets.get().pk]),
    ]
    digest = issued.client.secrets.get().digest
    for url in urls:
        response = superuser_web.get(url)
        assert response.status_code == 200, url
        assert digest not in response.content.decode(), url
    add_page = superuser_web.get(reverse("admin:oauth_client_add")).content.decode()
    assert "portées autorisées" in add_page
    assert f'value="{structure.pk}"' in add_page  # the node's organisation is the default owner
    assert superuser_web.get("/admin/oauth/authorizationcode/").status_code == 404  # not in the admin


def test_add_shows_the_secret_once_and_stores_a_digest(superuser_web: HttpClient, node: Any, structure: Any) -> None:
    response = superuser_web.post(reverse("admin:oauth_client_add"), _add_form(structure), follow=True)
    assert response.status_code == 200
    client = Client.objects.get()
    shown = [str(message) for message in response.context["messages"]]
    secret_messages = [text for text in shown if "plus jamais affiché" in text]
    assert len(secret_messages) == 1
    secret = secret_messages[0].split("<code>")[2].split("</code>")[0]
    assert len(secret) >= 43
    assert clients.authenticate_secret(client, secret)
    assert ClientSecret.objects.get(client=client).digest != secret
    assert client.created_by is not None
    again = superuser_web.get(reverse("admin:oauth_client_change", args=[client.pk]))
    assert secret not in again.content.decode()  # shown once only


def test_add_refuses_reader_with_write_scope_in_french(superuser_web: HttpClient, node: Any, structure: Any) -> None:
    response = superuser_web.post(reverse("admin:oauth_client_add"), _add_form(structure, kind="reader"))
    assert response.status_code == 200  # the form again, with the error
    assert "allowed_scopes" in response.context["adminform"].form.errors
    assert not Client.objects.exists()


def test_change_form_keeps_the_reader_rule(superuser_web: HttpClient, node: Any, structure: Any) -> None:
    reader = _register(structure).client
    data = _add_form(structure, kind="reader", allowed_scopes=["referentials:write"], name="Lecteur")
    data.update({"secrets-TOTAL_FORMS": "1", "secrets-INITIAL_FORMS": "1", "secrets-MIN_NUM_FORMS": "0",
                 "secrets-MAX_NUM_FORMS": "1000"})  # fmt: skip
    response = superuser_web.post(reverse("admin:oauth_client_change", args=[reader.pk]), data)
    assert response.status_code == 200
    assert "allowed_scopes" in response.context["adminform"].form.errors
    data["allowed_scopes"] = ["referentials:read", "directory:search"]
    response = superuser_web.post(reverse("admin:oauth_client_change", args=[reader.pk]), data)
    assert response.status_code == 302
    reader.refresh_from_db()
    assert reader.allowed_scopes == ["referentials:read", "directory:search"]
    assert reader.name == "Lecteur"


def test_rotate_action_shows_the_new_secret_once(superuser_web: HttpClient, structure: Any) -> None:
    issued = _register(structure)
    response = superuser_web.post(
        reverse("admin:oauth_client_changelist"),
        {"action": "rotate_secrets", "_selected_action": [issued.client.pk]},
        follow=True,
    )
    shown = [str(message) for message in response.context["messages"] if "plus jamais affiché" in str(message)]
    assert len(shown) == 1
    new_secret = shown[0].split("<code>")[2].split("</code>")[0]
    assert clients.authenticate_secret(issued.client, new_secret)
    assert clients.authenticate_secret(issued.client, issued.secret or "")  # grace period
    assert issued.client.secrets.count() == 2


def test_non_superuser_sees_only_the_clients_of_structures_they_administer(structure: Any) -> None:
    mine = _register(structure, name="Le mien").client
    theirs = _register(OrganisationFactory(), name="Le leur").client
    person = UserFactory(is_staff=True)
    StaffMembership.objects.create(user=person, organisation=structure, role="administrator")
    from django.contrib.auth.models import Permission

    person.user_permissions.add(*Permission.objects.filter(content_type__app_label="oauth"))
    web = HttpClient()
    web.force_login(person)
    page = web.get(reverse("admin:oauth_client_changelist")).content.decode()
    assert mine.client_id in page
    assert theirs.client_id not in page
    assert web.get(reverse("admin:oauth_client_change", args=[theirs.pk])).status_code == 302  # "does not exist"


def test_mandates_granted_and_revoked_by_the_structures_administrator(structure: Any) -> None:
    vendor_client = _register(
        OrganisationFactory(), kind="depositor", scopes="referentials:read referentials:write"
    ).client
    administrator = UserFactory(is_staff=True)
    StaffMembership.objects.create(user=administrator, organisation=structure, role="administrator")
    web = HttpClient()
    web.force_login(administrator)
    form = {
        "structure": str(structure.pk),
        "client": str(vendor_client.pk),
        "scopes": ["referentials:write"],
        "expires_at_0": "",
        "expires_at_1": "",
    }
    assert web.get(reverse("admin:oauth_mandate_add")).status_code == 200
    response = web.post(reverse("admin:oauth_mandate_add"), form)
    assert response.status_code == 302, response.context["adminform"].form.errors
    mandate = Mandate.objects.get()
    assert mandate.granted_by == administrator
    assert mandates.may_write_for(vendor_client, structure)
    response = web.post(
        reverse("admin:oauth_mandate_changelist"), {"action": "revoke_mandates", "_selected_action": [mandate.pk]}
    )
    assert response.status_code == 302
    mandate.refresh_from_db()
    assert mandate.revoked_by == administrator
    assert mandate.revoked_at is not None
    assert not mandates.may_write_for(vendor_client, structure)


def test_mandates_refused_to_an_editor_or_another_structures_admin(structure: Any) -> None:
    vendor_client = _register(OrganisationFactory(), kind="depositor", scopes="referentials:write").client
    editor = UserFactory(is_staff=True)
    StaffMembership.objects.create(user=editor, organisation=structure, role="editor")
    web = HttpClient()
    web.force_login(editor)
    assert web.get(reverse("admin:oauth_mandate_add")).status_code == 403
    other_admin = UserFactory(is_staff=True)
    StaffMembership.objects.create(user=other_admin, organisation=OrganisationFactory(), role="administrator")
    web.force_login(other_admin)
    form = {"structure": str(structure.pk), "client": str(vendor_client.pk), "scopes": ["referentials:write"]}
    response = web.post(reverse("admin:oauth_mandate_add"), form)
    assert response.status_code == 200  # the form again: not one of their structures
    assert "structure" in response.context["adminform"].form.errors
    assert not Mandate.objects.exists()


def test_token_revocation_actions(superuser_web: HttpClient, structure: Any) -> None:
    client = _register(structure).client
    now = timezone.now()
    family = "6f1c7e0a-0000-4000-8000-000000000001"
    later = now + dt.timedelta(minutes=5)
    access = IssuedToken.objects.create(jti="a1", client=client, scope="s", issued_at=now, expires_at=later)
    sibling = IssuedToken.objects.create(
        jti="a2", client=client, scope="s", issued_at=now, expires_at=later, family=family
    )
    old = RefreshToken.objects.create(token_digest="e3" * 32, family=family, client=client, scope="s", expires_at=later)
    new = RefreshToken.objects.create(token_digest="r2", family=family, client=client, scope="s", expires_at=later)
    superuser_web.post(
        reverse("admin:oauth_issuedtoken_changelist"), {"action": "revoke_tokens", "_selected_action": [access.pk]}
    )
    access.refresh_from_db()
    sibling.refresh_from_db()
    assert access.revoked_at is not None
    assert sibling.revoked_at is None
    superuser_web.post(
        reverse("admin:oauth_refreshtoken_changelist"), {"action": "revoke_families", "_selected_action": [old.pk]}
    )
    for token in (new, sibling):
        token.refresh_from_db()
        assert token.revoked_at is not None  # the whole family, access tokens included
    page = superuser_web.get(reverse("admin:oauth_refreshtoken_change", args=[old.pk])).content.decode()
    assert page.count("e3" * 32) == 0  # no digest on the page


def test_secret_revocation_action(superuser_web: HttpClient, structure: Any) -> None:
    issued = _register(structure)
    stored = issued.client.secrets.get()
    superuser_web.post(
        reverse("admin:oauth_clientsecret_changelist"), {"action": "revoke_secrets", "_selected_action": [stored.pk]}
    )
    assert not clients.authenticate_secret(issued.client, issued.secret or "")
