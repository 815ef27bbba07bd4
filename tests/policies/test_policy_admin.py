"""The French Policy admin: templates by checkboxes, pasted ODRL, errors on the right field."""

from __future__ import annotations

import json
from typing import Any

from django.test import Client

from dataspace.node.models import StaffMembership
from policies import services
from policies.models import Policy
from policies.odrl import ODRL_CONTEXT, PROFILE_IRI
from tests.factories import OrganisationFactory, PerformanceFactory, UserFactory

ADD = "/admin/policies/policy/add/"


def form(owner: Any, **fields: Any) -> dict[str, Any]:
    return {
        "owner": str(owner.pk),
        "target_type": "performance",
        "target_id": "",
        "title": "",
        "mode": "templates",
        "odrl": "",
        "ministry_nodes": "",
        **fields,
    }


def errors(response: Any) -> dict[str, Any]:
    assert response.status_code == 200, response.status_code
    return dict(response.context["adminform"].form.errors)


def test_the_add_page_offers_every_template(staff_client: Client) -> None:
    page = staff_client.get(ADD)
    assert page.status_code == 200
    text = page.content.decode()
    for label in ("Professionnels licenciés uniquement", "Partenaires nommés", "Finalités limitées", "Document ODRL"):
        assert label in text


def test_templates_picked_with_checkboxes(staff_client: Client, db: Any) -> None:
    owner = OrganisationFactory(name="Théâtre des Essais")
    response = staff_client.post(
        ADD,
        form(
            owner,
            use_licensed_only="on",
            categories=["2", "3"],
            use_no_redistribution="on",
            use_purpose_limited="on",
            purposes=["programming"],
            use_expires_on="on",
            expires_on="2030-12-31",
        ),
    )
    assert response.status_code == 302, errors(response)
    policy = Policy.objects.get(owner=owner)
    assert policy.active
    assert [t["name"] for t in policy.templates] == [
        "licensed_only",
        "no_redistribution",
        "purpose_limited",
        "expires_on",
    ]
    assert policy.odrl["uid"] == policy.uri
    page = staff_client.get(f"/admin/policies/policy/{policy.pk}/change/").content.decode()
    assert "toute redistribution est interdite" in page
    assert "jusqu&#x27;au 31 décembre 2030" in page or "jusqu'au 31 décembre 2030" in page
    assert PROFILE_IRI in page


def test_a_new_policy_replaces_the_active_one(staff_client: Client, db: Any) -> None:
    owner = OrganisationFactory()
    first = services.save_policy(owner=owner, target_type="performance", templates=[{"name": "public"}])
    response = staff_client.post(ADD, form(owner, use_licensed_only="on"))
    assert response.status_code == 302, errors(response)
    first.refresh_from_db()
    assert not first.active
    assert Policy.objects.filter(owner=owner, active=True).count() == 1


def test_pasted_odrl(staff_client: Client, db: Any) -> None:
    owner = OrganisationFactory()
    document = {"@context": ODRL_CONTEXT, "profile": PROFILE_IRI, "permission": [{"action": "read"}]}
    response = staff_client.post(ADD, form(owner, mode="odrl", odrl=json.dumps(document)))
    assert response.status_code == 302, errors(response)
    assert Policy.objects.get(owner=owner).odrl["permission"][0]["action"] == "read"


def test_errors_show_on_the_right_field(staff_client: Client, db: Any) -> None:
    owner = OrganisationFactory()
    bad_odrl = {"@context": ODRL_CONTEXT, "profile": PROFILE_IRI, "permission": [{"action": "print"}]}
    pasted = errors(staff_client.post(ADD, form(owner, mode="odrl", odrl=json.dumps(bad_odrl))))
    assert list(pasted) == ["odrl"]
    assert pasted["odrl"][0].startswith("permission[0].action : ")
    assert list(errors(staff_client.post(ADD, form(owner, use_named_partners="on")))) == ["partners"]
    assert list(
        errors(staff_client.post(ADD, form(owner, use_public="on", use_expires_on="on", expires_on="2001-01-01")))
    ) == ["expires_on"]
    assert list(errors(staff_client.post(ADD, form(owner, use_purpose_limited="on", purposes=["research"])))) == [
        "use_purpose_limited"
    ]
    theirs = PerformanceFactory()
    assert list(errors(staff_client.post(ADD, form(owner, use_public="on", target_id=str(theirs.pk))))) == ["target_id"]
    assert list(errors(staff_client.post(ADD, form(owner, mode="odrl")))) == ["odrl"]
    assert not Policy.objects.exists()


def test_change_page_updates_in_place(staff_client: Client, db: Any) -> None:
    owner = OrganisationFactory()
    policy = services.save_policy(
        owner=owner, target_type="work", templates=[{"name": "licensed_only", "categories": [1]}]
    )
    url = f"/admin/policies/policy/{policy.pk}/change/"
    page = staff_client.get(url)
    assert page.context["adminform"].form.initial["categories"] == ["1"]
    response = staff_client.post(
        url, {"title": "Ouvert", "mode": "templates", "use_public": "on", "odrl": "", "ministry_nodes": ""}
    )
    assert response.status_code == 302, errors(response)
    policy.refresh_from_db()
    assert policy.title == "Ouvert"
    assert policy.templates == [{"name": "public"}]
    assert policy.version == 2


def test_a_structure_administrator_sees_only_its_policies(db: Any) -> None:
    mine, other = OrganisationFactory(), OrganisationFactory()
    user = UserFactory(is_staff=True)
    StaffMembership.objects.create(user=user, organisation=mine, role="administrator")
    from django.contrib.auth.models import Permission

    user.user_permissions.add(
        *Permission.objects.filter(content_type__app_label="policies", codename__endswith="_policy")
    )
    client = Client()
    client.force_login(user)
    services.save_policy(owner=mine, target_type="work", templates=[{"name": "public"}])
    theirs = services.save_policy(owner=other, target_type="work", templates=[{"name": "public"}])
    listing = client.get("/admin/policies/policy/")
    assert listing.status_code == 200
    assert [p.owner_id for p in listing.context["cl"].result_list] == [mine.pk]
    assert client.get(f"/admin/policies/policy/{theirs.pk}/change/").status_code == 302  # not found: back to the list
    refused = client.post(ADD, form(other, use_public="on"))
    assert "owner" in errors(refused)
