"""Templates alone and combined give the documented rules; bad parameters name the template member."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from policies.language import Constraint, Duty, PolicyError, Rule
from policies.templates import TEMPLATE_NAMES, compose, end_of_day, list_templates, validate_templates
from tests.factories import OrganisationFactory

TODAY = dt.date(2026, 11, 30)
MINISTRY = "https://ministere.example"
PUBLIC = Rule("permission", ("read", "search", "export", "aggregate", "redistribute"), (), (Duty("attribute"),))
LICENSED = Constraint("licensed", "eq", True)
JOURNAL = (Duty("journal"),)


def rules(*templates: Any) -> tuple[Rule, ...]:
    return compose(list(templates), today=TODAY)


def test_public() -> None:
    assert rules({"name": "public"}) == (PUBLIC,)


def test_licensed_only_with_and_without_categories() -> None:
    assert rules({"name": "licensed_only"}) == (Rule("permission", ("read", "search"), (LICENSED,), JOURNAL),)
    assert rules({"name": "licensed_only", "categories": [3, "2", 3]}) == (
        Rule("permission", ("read", "search"), (LICENSED, Constraint("licenceCategory", "isAnyOf", (2, 3))), JOURNAL),
    )


def test_named_partners(db: Any) -> None:
    first, second = OrganisationFactory(), OrganisationFactory()
    assert rules({"name": "named_partners", "organisations": [str(first.pk), str(second.pk)]}) == (
        Rule(
            "permission",
            ("read", "search", "export"),
            (Constraint("organisation", "isAnyOf", (str(first.pk), str(second.pk))),),
            JOURNAL,
        ),
    )


def test_ministry_aggregates_only(settings: Any) -> None:
    assert rules({"name": "ministry_aggregates_only", "nodes": [MINISTRY + "/"]}) == (
        Rule("permission", ("aggregate",), (Constraint("node", "isAnyOf", (MINISTRY,)),), JOURNAL),
    )
    settings.POLICY_MINISTRY_NODES = ["https://dgca.example"]
    assert rules({"name": "ministry_aggregates_only"})[0].constraints == (
        Constraint("node", "isAnyOf", ("https://dgca.example",)),
    )


def test_ministry_node_by_default_on_a_ministry_node(settings: Any) -> None:
    settings.NODE_ROLES = ["ministry"]
    settings.NODE_BASE_URL = "http://127.0.0.1:8004"
    assert rules({"name": "ministry_aggregates_only"})[0].constraints == (
        Constraint("node", "isAnyOf", ("http://127.0.0.1:8004",)),
    )


def test_ministry_node_must_be_known(settings: Any) -> None:
    settings.NODE_ROLES = ["structure"]
    with pytest.raises(PolicyError) as refused:
        rules({"name": "public"}, {"name": "ministry_aggregates_only"})
    assert refused.value.field == "templates[1].nodes"


def test_no_redistribution_alone_is_a_private_policy_with_a_prohibition() -> None:
    assert rules({"name": "no_redistribution"}) == (Rule("prohibition", ("redistribute",)),)


def test_no_template_is_private() -> None:
    assert rules() == ()


def test_restrictions_apply_to_every_permission(db: Any) -> None:
    partner = OrganisationFactory()
    purpose = Constraint("purpose", "isAnyOf", ("programming", "touring"))
    until = Constraint("dateTime", "lteq", end_of_day(dt.date(2027, 12, 31)))
    composed = rules(
        {"name": "licensed_only", "categories": [2]},
        {"name": "purpose_limited", "purposes": ["programming", "touring"]},
        {"name": "named_partners", "organisations": [str(partner.pk)]},
        {"name": "expires_on", "date": "2027-12-31"},
        {"name": "no_redistribution"},
    )
    assert composed == (
        Rule(
            "permission",
            ("read", "search"),
            (LICENSED, Constraint("licenceCategory", "isAnyOf", (2,)), purpose, until),
            JOURNAL,
        ),
        Rule(
            "permission",
            ("read", "search", "export"),
            (Constraint("organisation", "isAnyOf", (str(partner.pk),)), purpose, until),
            JOURNAL,
        ),
        Rule("prohibition", ("redistribute",)),
    )
    assert until.right.isoformat() == "2027-12-31T23:59:59+01:00"


def test_public_with_restrictions() -> None:
    composed = rules({"name": "public"}, {"name": "purpose_limited", "purposes": ["research"]})
    assert composed == (
        Rule("permission", PUBLIC.actions, (Constraint("purpose", "isAnyOf", ("research",)),), (Duty("attribute"),)),
    )


def test_expires_today_is_allowed() -> None:
    assert rules({"name": "public"}, {"name": "expires_on", "date": TODAY.isoformat()})


@pytest.mark.parametrize(
    ("templates", "field"),
    [
        ("public", "templates"),
        ([{"name": "vip"}], "templates[0].name"),
        ([42], "templates[0]"),
        ([{"name": "public"}, {"name": "public"}], "templates[1].name"),
        ([{"name": "public", "categories": [2]}], "templates[0].categories"),
        ([{"name": "licensed_only", "categories": [0]}], "templates[0].categories"),
        ([{"name": "licensed_only", "categories": "2"}], "templates[0].categories"),
        ([{"name": "public"}, {"name": "named_partners", "organisations": []}], "templates[1].organisations"),
        ([{"name": "named_partners", "organisations": ["nope"]}], "templates[0].organisations"),
        (
            [{"name": "named_partners", "organisations": ["6f9619ff-8b86-d011-b42d-00c04fc964ff"]}],
            "templates[0].organisations",
        ),
        ([{"name": "public"}, {"name": "purpose_limited", "purposes": ["marketing"]}], "templates[1].purposes"),
        ([{"name": "public"}, {"name": "purpose_limited"}], "templates[1].purposes"),
        ([{"name": "public"}, {"name": "expires_on", "date": "2026-11-29"}], "templates[1].date"),
        ([{"name": "public"}, {"name": "expires_on", "date": "31/12/2027"}], "templates[1].date"),
        ([{"name": "public"}, {"name": "ministry_aggregates_only", "nodes": ["ministere"]}], "templates[1].nodes"),
        ([{"name": "no_redistribution"}, {"name": "purpose_limited", "purposes": ["research"]}], "templates[1].name"),
    ],
)
def test_bad_parameters_name_the_member(db: Any, templates: Any, field: str) -> None:
    with pytest.raises(PolicyError) as refused:
        compose(templates, today=TODAY)
    assert refused.value.field == field


def test_validation_normalises_parameters(db: Any) -> None:
    partner = OrganisationFactory()
    assert validate_templates(
        ["public", {"name": "named_partners", "organisations": [str(partner.pk).upper()]}], today=TODAY
    ) == [{"name": "public"}, {"name": "named_partners", "organisations": [str(partner.pk)]}]


def test_list_templates_describes_each_in_french() -> None:
    described = list_templates()
    assert [t["name"] for t in described] == list(TEMPLATE_NAMES)
    by_name = {t["name"]: t for t in described}
    assert by_name["licensed_only"]["label"] == "Professionnels licenciés uniquement"
    assert by_name["licensed_only"]["grants"] == ["read", "search"]
    assert by_name["purpose_limited"]["kind"] == "restrict"
    assert next(p["value"] for p in by_name["purpose_limited"]["parameters"][0]["choices"]) == "programming"
    assert all(t["help"] for t in described)
