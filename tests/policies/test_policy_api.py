"""/api/v1/policies/: who may manage which policies, 400s naming the member, ODRL in and out."""

from __future__ import annotations

import json
from typing import Any

import pytest
from rest_framework.test import APIClient

from dataspace.node.models import StaffMembership
from policies import services
from policies.models import Policy
from policies.odrl import PROFILE_IRI
from tests.factories import OrganisationFactory, PerformanceFactory, UserFactory

URL = "/api/v1/policies/"
SCOPE = "policies:manage"

LICENSED = {"target_type": "performance", "templates": [{"name": "licensed_only", "categories": [2, 3]}]}


def staff_session(organisation: Any, role: str = "administrator") -> APIClient:
    user = UserFactory(is_staff=True)
    StaffMembership.objects.create(user=user, organisation=organisation, role=role)
    client = APIClient()
    client.force_login(user)
    return client


def odrl_document(**extra: Any) -> dict[str, Any]:
    return {
        "@context": "http://www.w3.org/ns/odrl.jsonld",
        "@type": "Set",
        "profile": PROFILE_IRI,
        "permission": [
            {
                "action": ["read", "search"],
                "constraint": [{"leftOperand": "licensed", "operator": "eq", "rightOperand": True}],
            }
        ],
        **extra,
    }


# ---------------------------------------------------------------------------- who may


def test_depositor_with_the_scope_saves_a_policy_for_its_organisation(bearer_client: Any) -> None:
    api = bearer_client(SCOPE)
    answer = api.post(URL, LICENSED, format="json")
    assert answer.status_code == 201, answer.json()
    body = answer.json()
    assert body["owner"] == str(api.owner.pk)
    assert body["target_type"] == "performance"
    assert body["target_id"] is None
    assert body["active"] is True
    assert body["version"] == 1
    assert body["templates"] == [{"name": "licensed_only", "categories": [2, 3]}]
    assert "catégorie 2 ou 3" in body["sentence"]
    assert body["odrl"]["uid"] == body["uri"]
    assert body["odrl"]["profile"] == PROFILE_IRI
    assert answer["Location"].endswith(f"/policies/{body['id']}/")
    assert {
        "id",
        "uri",
        "owner",
        "target_type",
        "target_id",
        "title",
        "templates",
        "sentence",
        "odrl",
        "active",
        "version",
        "valid_from",
    } <= set(body)


def test_refused_without_the_scope(bearer_client: Any) -> None:
    api = bearer_client("referentials:write")
    assert api.post(URL, LICENSED, format="json").status_code == 403
    assert api.get(URL).status_code == 403
    assert Policy.objects.count() == 0


def test_refused_for_another_structure(bearer_client: Any) -> None:
    api = bearer_client(SCOPE)
    other = OrganisationFactory()
    answer = api.post(URL, {**LICENSED, "owner": str(other.pk)}, format="json")
    assert answer.status_code == 403
    assert "owner" in answer.json()["fields"]
    theirs = services.save_policy(owner=other, target_type="work", templates=[{"name": "public"}])
    assert api.get(f"{URL}{theirs.pk}/").status_code == 404
    assert api.patch(f"{URL}{theirs.pk}/", {"title": "x"}, format="json").status_code == 404
    assert api.delete(f"{URL}{theirs.pk}/").status_code == 404
    assert [row["id"] for row in api.get(URL).json()["results"]] == []


def test_reader_client_never_writes(bearer_client: Any) -> None:
    api = bearer_client(SCOPE, kind="reader")
    assert api.post(URL, LICENSED, format="json").status_code == 403


def test_structure_administrator_and_editor_manage_their_policies_only(db: Any) -> None:
    mine, other = OrganisationFactory(), OrganisationFactory()
    theirs = services.save_policy(owner=other, target_type="work", templates=[{"name": "public"}])
    for role in ("administrator", "editor"):
        client = staff_session(mine, role)
        answer = client.post(URL, {**LICENSED, "owner": str(mine.pk)}, format="json")
        assert answer.status_code == 201, answer.json()
        listed = {row["id"] for row in client.get(URL).json()["results"]}
        assert str(theirs.pk) not in listed
        assert answer.json()["id"] in listed
    reader = staff_session(mine, "reader")
    assert reader.post(URL, {**LICENSED, "owner": str(mine.pk)}, format="json").status_code == 403
    assert reader.get(URL).json()["results"] == []


def test_superuser_sees_every_policy(staff_client: APIClient) -> None:
    first = services.save_policy(owner=OrganisationFactory(), target_type="work", templates=[{"name": "public"}])
    second = services.save_policy(owner=OrganisationFactory(), target_type="venue", templates=[])
    listed = {row["id"] for row in staff_client.get(URL).json()["results"]}
    assert {str(first.pk), str(second.pk)} <= listed


def test_anonymous_is_refused(anon_client: APIClient, db: Any) -> None:
    assert anon_client.get(URL).status_code == 401


# ---------------------------------------------------------------------------- 400s naming the member


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (
            {"target_type": "performance", "templates": [{"name": "licensed_only", "categories": [4]}]},
            "templates[0].categories",
        ),
        ({"target_type": "performance", "templates": [{"name": "public"}, {"name": "vip"}]}, "templates[1].name"),
        (
            {
                "target_type": "performance",
                "templates": [{"name": "expires_on", "date": "2001-01-01"}, {"name": "public"}],
            },
            "templates[0].date",
        ),
        (
            {"target_type": "performance", "odrl": {**odrl_document(), "permission": [{"action": "print"}]}},
            "odrl.permission[0].action",
        ),
        ({"target_type": "performance", "odrl": {**odrl_document(), "obligation": []}}, "odrl.obligation"),
        ({"target_type": "performance"}, "templates"),
        ({"target_type": "nothing", "templates": []}, "target_type"),
    ],
)
def test_invalid_policies_are_400_naming_the_member(bearer_client: Any, body: dict[str, Any], field: str) -> None:
    answer = bearer_client(SCOPE).post(URL, body, format="json")
    assert answer.status_code == 400, answer.json()
    assert field in answer.json()["fields"], answer.json()


def test_record_override_of_another_owner_is_400(bearer_client: Any) -> None:
    api = bearer_client(SCOPE)
    theirs = PerformanceFactory()
    answer = api.post(URL, {**LICENSED, "target_id": str(theirs.pk), "owner": str(api.owner.pk)}, format="json")
    assert answer.status_code == 400
    assert "target_id" in answer.json()["fields"]


def test_record_override_of_the_owner(bearer_client: Any) -> None:
    api = bearer_client(SCOPE)
    mine = PerformanceFactory(production__owner=api.owner)
    answer = api.post(URL, {**LICENSED, "target_id": str(mine.pk)}, format="json")
    assert answer.status_code == 201, answer.json()
    assert answer.json()["target_id"] == str(mine.pk)
    assert answer.json()["odrl"]["target"] == mine.uri


# ---------------------------------------------------------------------------- ODRL in and out


def test_odrl_in_as_ld_json_and_out_with_accept(bearer_client: Any) -> None:
    api = bearer_client(SCOPE)
    answer = api.post(
        f"{URL}?target_type=work&title=Licenciés",
        data=json.dumps(odrl_document()),
        content_type="application/ld+json",
    )
    assert answer.status_code == 201, answer.json()
    body = answer.json()
    assert body["title"] == "Licenciés"
    assert body["target_type"] == "work"
    document = api.get(f"{URL}{body['id']}/", HTTP_ACCEPT="application/ld+json")
    assert document.status_code == 200
    assert document["Content-Type"].startswith("application/ld+json")
    odrl = document.json()
    assert odrl == body["odrl"]
    assert odrl["uid"] == body["uri"]
    assert odrl["permission"][0]["action"] == ["read", "search"]
    # The exported document goes back in as it is: its target names the dataset and its owner.
    again = api.post(URL, data=json.dumps(odrl), content_type="application/ld+json")
    assert again.status_code == 201, again.json()
    assert again.json()["target_type"] == "work"
    assert Policy.objects.get(pk=body["id"]).active is False


def test_ld_json_errors_name_the_path(bearer_client: Any) -> None:
    api = bearer_client(SCOPE)
    bad = odrl_document(
        permission=[
            {"action": "read", "constraint": [{"leftOperand": "licensed", "operator": "gt", "rightOperand": True}]}
        ]
    )
    answer = api.post(f"{URL}?target_type=work", data=json.dumps(bad), content_type="application/ld+json")
    assert answer.status_code == 400
    assert "odrl.permission[0].constraint[0].operator" in answer.json()["fields"]


def test_list_as_ld_json_is_a_graph(bearer_client: Any) -> None:
    api = bearer_client(SCOPE)
    api.post(URL, LICENSED, format="json")
    graph = api.get(URL, HTTP_ACCEPT="application/ld+json").json()
    assert len(graph["@graph"]) == 1
    assert graph["@graph"][0]["profile"] == PROFILE_IRI


# ---------------------------------------------------------------------------- change and deactivate


def test_patch_changes_in_place_and_delete_deactivates(bearer_client: Any) -> None:
    api = bearer_client(SCOPE)
    created = api.post(URL, LICENSED, format="json").json()
    url = f"{URL}{created['id']}/"
    renamed = api.patch(url, {"title": "Pros"}, format="json")
    assert renamed.status_code == 200
    assert renamed.json()["title"] == "Pros"
    assert renamed.json()["version"] == 2
    changed = api.patch(url, {"templates": [{"name": "public"}]}, format="json")
    assert changed.status_code == 200
    assert changed.json()["templates"] == [{"name": "public"}]
    assert "ouverts à tous" in changed.json()["sentence"]
    assert api.put(url, {"title": "sans règles"}, format="json").status_code == 400
    assert api.patch(url, {"target_type": "venue"}, format="json").status_code == 400
    stale = api.patch(url, {"title": "x"}, format="json", HTTP_IF_MATCH='"nope"')
    assert stale.status_code == 412
    assert api.delete(url).status_code == 204
    assert Policy.objects.get(pk=created["id"]).active is False
    assert api.get(url).json()["active"] is False
    assert api.patch(url, {"title": "again"}, format="json").status_code == 400


# ---------------------------------------------------------------------------- public descriptions


def test_templates_and_profile_are_public(anon_client: APIClient, db: Any) -> None:
    templates = anon_client.get("/api/v1/policies/templates")
    assert templates.status_code == 200
    names = [t["name"] for t in templates.json()]
    assert names == [
        "public",
        "licensed_only",
        "named_partners",
        "ministry_aggregates_only",
        "no_redistribution",
        "purpose_limited",
        "expires_on",
    ]
    profile = anon_client.get("/api/v1/policies/profile", HTTP_ACCEPT="application/ld+json")
    assert profile.status_code == 200
    body = profile.json()
    assert body["@id"] == PROFILE_IRI
    assert {a["name"] for a in body["actions"]} == {"read", "search", "export", "aggregate", "redistribute", "modify"}
    assert any(o["name"] == "licenceCategory" and "eq" in o["operators"] for o in body["leftOperands"])


def test_idempotent_creation(bearer_client: Any) -> None:
    api = bearer_client(SCOPE)
    first = api.post(URL, LICENSED, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    again = api.post(URL, LICENSED, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert first.status_code == again.status_code == 201
    assert again["Idempotent-Replayed"] == "true"
    assert again.json()["id"] == first.json()["id"]
    assert Policy.objects.count() == 1
    other = api.post(URL, {**LICENSED, "title": "autre"}, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert other.status_code == 422
