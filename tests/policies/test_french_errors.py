"""Policy errors are French sentences first (gettext), on the same field paths as before."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.test import Client
from django.utils import translation

from policies import services
from policies.language import PolicyError
from policies.odrl import ODRL_CONTEXT, PROFILE_IRI, parse_odrl
from policies.templates import validate_templates
from tests.factories import OrganisationFactory

TODAY = dt.date(2026, 11, 30)


def test_a_past_end_date_is_refused_in_french_on_its_parameter() -> None:
    with translation.override("fr"), pytest.raises(PolicyError) as caught:
        validate_templates([{"name": "public"}, {"name": "expires_on", "date": "2001-01-01"}], today=TODAY)
    assert caught.value.field == "templates[1].date"
    assert caught.value.message == "La date du 01/01/2001 est passée."


def test_a_date_of_today_is_accepted() -> None:
    chosen = validate_templates([{"name": "public"}, {"name": "expires_on", "date": "2026-11-30"}], today=TODAY)
    assert chosen[1] == {"name": "expires_on", "date": "2026-11-30"}


def test_odrl_errors_are_french_with_the_same_path() -> None:
    document = {"@context": ODRL_CONTEXT, "profile": PROFILE_IRI, "permission": [{"action": "print"}]}
    with translation.override("fr"), pytest.raises(PolicyError) as caught:
        parse_odrl(document)
    assert caught.value.field == "permission[0].action"
    assert "n'est pas admis par le profil" in caught.value.message
    assert "print" in caught.value.message
    hinted = {**document, "permission": [{"action": "read", "remedy": []}]}
    with translation.override("fr"), pytest.raises(PolicyError) as caught:
        parse_odrl(hinted)
    assert caught.value.field == "permission[0].remedy"
    assert caught.value.message == "Les remèdes (remedy) ne font pas partie du profil."


def test_service_errors_are_french(db: Any) -> None:
    owner = OrganisationFactory()
    with translation.override("fr"), pytest.raises(PolicyError) as caught:
        services.save_policy(owner=owner, target_type="nothing", templates=[{"name": "public"}])
    assert caught.value.field == "target_type"
    assert "n'est pas un type de fiche" in caught.value.message


def test_the_admin_shows_the_french_message_on_the_field(staff_client: Client, db: Any) -> None:
    owner = OrganisationFactory()
    response = staff_client.post(
        "/admin/policies/policy/add/",
        {
            "owner": str(owner.pk),
            "target_type": "performance",
            "target_id": "",
            "title": "",
            "mode": "templates",
            "odrl": "",
            "ministry_nodes": "",
            "use_public": "on",
            "use_expires_on": "on",
            "expires_on": "2001-01-01",
        },
    )
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["expires_on"] == ["La date du 01/01/2001 est passée."]
    assert "is in the past" not in response.content.decode()


def test_the_api_answers_in_french_by_default(bearer_client: Any) -> None:
    api = bearer_client("policies:manage")
    body = {
        "target_type": "performance",
        "templates": [{"name": "public"}, {"name": "expires_on", "date": "2001-01-01"}],
    }
    answer = api.post("/api/v1/policies/", body, format="json")
    assert answer.status_code == 400, answer.json()
    fields = answer.json()["fields"]
    assert list(fields) == ["templates[1].date"]
    assert fields["templates[1].date"] == ["La date du 01/01/2001 est passée."]
