"""Who may write whose data: reader clients, depositors and mandates, staff roles, personal keys."""

from __future__ import annotations

from typing import Any

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from dataspace.node.models import StaffMembership
from dataspace.oauth.models import Client, Mandate
from dataspace.referentials import models as m
from tests.factories import OrganisationFactory, PersonFactory, UserFactory, WorkFactory
from tests.referentials.factories_extra import set_node_organisation

pytestmark = pytest.mark.django_db

WORKS = "/api/v1/works/"
WRITE = "referentials:write referentials:read"


def create_work(api: APIClient, owner: Any = None, title: str = "Bérénice") -> Any:
    data: dict[str, Any] = {"title": title}
    if owner is not None:
        data["owner"] = str(owner.pk)
    return api.post(WORKS, data, format="json")


def assert_owner_refused(response: Any) -> None:
    assert response.status_code == 403, response.content
    body = response.json()
    assert body["error"] == "permission_denied"
    assert list(body["fields"]) == ["owner"]


def mandate(structure: Any, client: Client, scopes: list[str] | None = None) -> Mandate:
    admin = UserFactory(username=f"admin-{structure.pk.hex[:8]}")
    return Mandate.objects.create(
        structure=structure, client=client, scopes=scopes or ["referentials:write"], granted_by=admin
    )


def session(user: Any) -> APIClient:
    api = APIClient()
    api.force_login(user)
    return api


# ---------------------------------------------------------------------------- reader clients


def test_reader_client_never_writes_even_with_a_write_scope(bearer_client: Any) -> None:
    reader = bearer_client(WRITE, kind="reader")
    response = create_work(reader, owner=reader.owner)
    assert response.status_code == 403
    assert response.json()["error"] == "reader_client"
    assert not m.Work.objects.exists()
    depositor = bearer_client(WRITE)
    assert create_work(depositor, owner=depositor.owner).status_code == 201


# ---------------------------------------------------------------------------- depositors


def test_depositor_creates_for_its_own_organisation_by_default(bearer_client: Any, structure: Any) -> None:
    """Without `owner`, a depositor's record belongs to the client's owner, not to the node's."""
    set_node_organisation(structure)
    api = bearer_client(WRITE)
    response = create_work(api)
    assert response.status_code == 201, response.content
    assert response.json()["owner"] == str(api.owner.pk)
    assert create_work(api, owner=api.owner, title="Phèdre").status_code == 201


def test_depositor_under_the_node_structures_mandate_creates_for_that_structure_by_default(
    bearer_client: Any, structure: Any
) -> None:
    """A vendor depositing on a structure's node under its mandate deposits the structure's data."""
    set_node_organisation(structure)
    api = bearer_client(WRITE)
    mandate(structure, api.oauth_client)
    response = create_work(api)
    assert response.status_code == 201, response.content
    assert response.json()["owner"] == str(structure.pk)


def test_depositor_may_not_create_for_another_organisation(bearer_client: Any) -> None:
    api = bearer_client(WRITE)
    other = OrganisationFactory()
    assert_owner_refused(create_work(api, owner=other))
    assert not m.Work.objects.exists()


def test_depositor_writes_for_a_structure_under_mandate_until_it_is_revoked(bearer_client: Any) -> None:
    api = bearer_client(WRITE)
    structure = OrganisationFactory(name="Scène mandante")
    assert_owner_refused(create_work(api, owner=structure))
    given = mandate(structure, api.oauth_client)
    created = create_work(api, owner=structure)
    assert created.status_code == 201, created.content
    work_id = created.json()["id"]
    assert api.patch(f"{WORKS}{work_id}/", {"title": "Athalie"}, format="json").status_code == 200

    given.revoked_at = timezone.now()
    given.save()
    assert_owner_refused(create_work(api, owner=structure, title="Esther"))
    assert api.patch(f"{WORKS}{work_id}/", {"title": "Esther"}, format="json").status_code == 403
    assert api.delete(f"{WORKS}{work_id}/").status_code == 403
    assert m.Work.objects.get(pk=work_id).title == "Athalie"


def test_mandate_without_the_write_scope_does_not_let_write(bearer_client: Any) -> None:
    api = bearer_client(f"{WRITE} ticketing:write")
    structure = OrganisationFactory()
    mandate(structure, api.oauth_client, scopes=["ticketing:write"])
    assert_owner_refused(create_work(api, owner=structure))


def test_expired_mandate_does_not_let_write(bearer_client: Any) -> None:
    api = bearer_client(WRITE)
    structure = OrganisationFactory()
    given = mandate(structure, api.oauth_client)
    Mandate.objects.filter(pk=given.pk).update(expires_at=timezone.now() - timezone.timedelta(seconds=1))
    assert_owner_refused(create_work(api, owner=structure))


def test_depositor_changes_only_records_it_may_write(bearer_client: Any) -> None:
    api = bearer_client(WRITE)
    own = WorkFactory(owner=api.owner)
    foreign = WorkFactory()
    assert api.patch(f"{WORKS}{own.pk}/", {"title": "Mien"}, format="json").status_code == 200
    refused = api.patch(f"{WORKS}{foreign.pk}/", {"title": "Pas à moi"}, format="json")
    assert refused.status_code == 403
    assert refused.json()["fields"] == {"owner": [refused.json()["detail"]]}
    assert api.put(f"{WORKS}{foreign.pk}/", {"title": "Pas à moi"}, format="json").status_code == 403
    assert api.delete(f"{WORKS}{foreign.pk}/").status_code == 403
    assert api.delete(f"{WORKS}{own.pk}/").status_code == 204
    foreign.refresh_from_db()
    assert foreign.version == 1


def test_depositor_may_not_hand_its_record_to_another_owner(bearer_client: Any) -> None:
    api = bearer_client(WRITE)
    own = WorkFactory(owner=api.owner)
    other = OrganisationFactory()
    assert_owner_refused(api.patch(f"{WORKS}{own.pk}/", {"owner": str(other.pk)}, format="json"))
    own.refresh_from_db()
    assert own.owner_id == api.owner.pk


def test_depositor_edits_the_description_of_its_own_organisation(bearer_client: Any) -> None:
    """An organisation that describes itself (owner empty) is its own data."""
    api = bearer_client(WRITE)
    m.Organisation.objects.filter(pk=api.owner.pk).update(owner=None)
    response = api.patch(f"/api/v1/organisations/{api.owner.pk}/", {"city": "Nantes"}, format="json")
    assert response.status_code == 200, response.content
    other = OrganisationFactory()
    assert api.patch(f"/api/v1/organisations/{other.pk}/", {"city": "Nantes"}, format="json").status_code == 403


# ---------------------------------------------------------------------------- staff roles


def member(role: str, organisation: Any, **flags: Any) -> Any:
    user = UserFactory(username=f"{role}-{organisation.pk.hex[:8]}", **flags)
    StaffMembership.objects.create(user=user, organisation=organisation, role=role)
    return user


@pytest.mark.parametrize("role", ["administrator", "editor"])
def test_editors_and_administrators_write_their_structure_only(role: str) -> None:
    structure, other = OrganisationFactory(), OrganisationFactory()
    api = session(member(role, structure, is_staff=True))
    assert create_work(api, owner=structure).status_code == 201
    assert_owner_refused(create_work(api, owner=other))
    foreign = PersonFactory(owner=other)
    assert api.patch(f"/api/v1/persons/{foreign.pk}/", {"given_name": "Z"}, format="json").status_code == 403


def test_reader_role_only_reads() -> None:
    structure = OrganisationFactory()
    api = session(member("reader", structure, is_staff=True))
    assert api.get(WORKS).status_code == 200
    assert api.get("/api/v1/changes").status_code == 200
    response = create_work(api, owner=structure)
    assert response.status_code == 403
    assert response.json()["error"] == "permission_denied"


def test_staff_flag_without_a_role_is_a_reader() -> None:
    api = session(UserFactory(username="sans-role", is_staff=True))
    assert api.get("/api/v1/changes").status_code == 200
    assert create_work(api, owner=OrganisationFactory()).status_code == 403


def test_superuser_writes_for_every_owner(staff_client: APIClient) -> None:
    assert create_work(staff_client, owner=OrganisationFactory()).status_code == 201


def test_staff_editor_creates_for_the_node_organisation_by_default(structure: Any) -> None:
    set_node_organisation(structure)
    api = session(member("editor", structure, is_staff=True))
    response = create_work(api)
    assert response.status_code == 201, response.content
    assert response.json()["owner"] == str(structure.pk)


# ---------------------------------------------------------------------------- personal API keys


def test_personal_api_key_writes_what_its_person_may_write(bearer_client: Any) -> None:
    structure, other = OrganisationFactory(), OrganisationFactory()
    person = member("editor", structure)
    api = bearer_client(WRITE, user=person, owner=other)  # the client's owner does not matter
    assert create_work(api, owner=structure).status_code == 201
    assert_owner_refused(create_work(api, owner=other))


def test_personal_api_key_is_limited_by_its_scopes(bearer_client: Any) -> None:
    structure = OrganisationFactory()
    person = member("administrator", structure)
    api = bearer_client("referentials:read", user=person)
    response = create_work(api, owner=structure)
    assert response.status_code == 403
    assert response.json()["error"] == "insufficient_scope"


def test_personal_api_key_of_a_reader_writes_nothing(bearer_client: Any) -> None:
    structure = OrganisationFactory()
    api = bearer_client(WRITE, user=member("reader", structure))
    assert create_work(api, owner=structure).status_code == 403
    app = bearer_client(WRITE, kind="reader", user=member("editor", OrganisationFactory()))
    assert app.post(WORKS, {"title": "X"}, format="json").json()["error"] == "reader_client"
