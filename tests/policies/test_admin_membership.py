"""The policy and DMP-control admins decide by membership, as the OAuth mandates admin does.

No Django model permission is granted in these tests: a structure's administrator manages its own
structure's policies and controls; editors and readers only see them; other structures stay out.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from dataspace.node.models import StaffMembership
from policies import services
from policies.models import Block, Policy
from tests.factories import OrganisationFactory, UserFactory

ADD = "/admin/policies/policy/add/"


def member(organisation: Any, role: str, username: str) -> Client:
    user = UserFactory(username=username, is_staff=True)
    StaffMembership.objects.create(user=user, organisation=organisation, role=role)
    assert not user.user_permissions.exists()
    client = Client()
    client.force_login(user)
    return client


def policy_form(owner: Any) -> dict[str, Any]:
    return {
        "owner": str(owner.pk),
        "target_type": "performance",
        "target_id": "",
        "title": "",
        "mode": "templates",
        "odrl": "",
        "ministry_nodes": "",
        "use_public": "on",
    }


@pytest.fixture
def structures(db: Any) -> tuple[Any, Any]:
    return OrganisationFactory(name="Théâtre A"), OrganisationFactory(name="Théâtre B")


def test_an_administrator_adds_a_policy_for_its_structure_and_not_for_another(structures: tuple[Any, Any]) -> None:
    mine, other = structures
    client = member(mine, "administrator", "admin-a")
    assert client.get("/admin/").status_code == 200
    assert client.get(ADD).status_code == 200
    saved = client.post(ADD, policy_form(mine))
    assert saved.status_code == 302
    assert Policy.objects.filter(owner=mine, active=True).count() == 1

    refused = client.post(ADD, policy_form(other))
    assert refused.status_code == 200
    assert "owner" in refused.context["adminform"].form.errors
    assert not Policy.objects.filter(owner=other).exists()


def test_an_administrator_changes_its_policies_but_not_another_structures(structures: tuple[Any, Any]) -> None:
    mine, other = structures
    own = services.save_policy(owner=mine, target_type="work", templates=[{"name": "public"}])
    theirs = services.save_policy(owner=other, target_type="work", templates=[{"name": "public"}])
    client = member(mine, "administrator", "admin-a")
    listing = client.get("/admin/policies/policy/")
    assert listing.status_code == 200
    assert [p.pk for p in listing.context["cl"].result_list] == [own.pk]
    page = client.get(f"/admin/policies/policy/{own.pk}/change/")
    assert page.status_code == 200
    assert page.context["has_change_permission"] is True
    assert client.get(f"/admin/policies/policy/{theirs.pk}/change/").status_code == 302  # not among theirs
    # Deactivated (kept as history), never deleted, by the structure's administrator.
    assert client.get(f"/admin/policies/policy/{own.pk}/delete/").status_code == 403
    deactivated = client.post(
        "/admin/policies/policy/", {"action": "deactivate", "_selected_action": [str(own.pk), str(theirs.pk)]}
    )
    assert deactivated.status_code == 302
    own.refresh_from_db()
    theirs.refresh_from_db()
    assert (own.active, theirs.active) == (False, True)


@pytest.mark.parametrize("role", ["reader", "editor"])
def test_readers_and_editors_see_their_policies_but_cannot_add_or_change(
    structures: tuple[Any, Any], role: str
) -> None:
    mine, other = structures
    own = services.save_policy(owner=mine, target_type="work", templates=[{"name": "public"}])
    services.save_policy(owner=other, target_type="work", templates=[{"name": "public"}])
    client = member(mine, role, f"{role}-a")
    listing = client.get("/admin/policies/policy/")
    assert listing.status_code == 200
    assert [p.pk for p in listing.context["cl"].result_list] == [own.pk]
    assert client.get(ADD).status_code == 403
    assert client.post(ADD, policy_form(mine)).status_code == 403
    page = client.get(f"/admin/policies/policy/{own.pk}/change/")
    assert page.status_code == 200
    assert page.context["has_change_permission"] is False
    assert 'name="use_public"' not in page.content.decode()  # shown, not editable
    assert own.uri in page.content.decode()
    refused = client.post(f"/admin/policies/policy/{own.pk}/change/", {**policy_form(mine), "title": "Changé"})
    assert refused.status_code == 403
    own.refresh_from_db()
    assert own.title == ""
    assert client.get("/admin/policies/block/add/").status_code == 403


def test_staff_without_membership_sees_nothing(db: Any) -> None:
    user = UserFactory(username="staff-seul", is_staff=True)
    client = Client()
    client.force_login(user)
    assert client.get("/admin/policies/policy/").status_code == 403
    assert client.get(ADD).status_code == 403
    assert client.get("/admin/policies/block/").status_code == 403
    assert client.get("/admin/policies/breakglassaccess/").status_code == 403


def test_an_administrator_blocks_for_its_structure_only(structures: tuple[Any, Any]) -> None:
    mine, other = structures
    UserFactory(username="pro-bloque")
    client = member(mine, "administrator", "admin-a")
    refused = client.post("/admin/policies/block/add/", {"owner": str(other.pk), "username": "pro-bloque"})
    assert refused.status_code == 200
    assert not Block.objects.exists()
    saved = client.post("/admin/policies/block/add/", {"owner": str(mine.pk), "username": "pro-bloque"})
    assert saved.status_code == 302
    assert Block.objects.get().owner == mine
    assert client.get("/admin/policies/hiddenrecord/add/").status_code == 200
    assert client.get("/admin/policies/breakglassaccess/").status_code == 200
    assert client.get("/admin/policies/breakglassaccess/add/").status_code == 403
