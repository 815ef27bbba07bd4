"""The indicator catalogue: validated definitions, versions, evaluation, idempotent seeding."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.db import IntegrityError, transaction

from dataspace.indicators import catalogue
from dataspace.indicators.aggregate import DIMENSIONS, MEASURES, local_aggregate
from dataspace.indicators.catalogue import CatalogueError, combine, evaluate, publish_definition
from dataspace.indicators.models import IndicatorDefinition
from tests.factories import PARIS, OrganisationFactory
from tests.indicators.factories import figures, run

pytestmark = pytest.mark.django_db

REQUIRED_CODES = {
    "attendance",
    "receipts",
    "average_price",
    "fill_rate",
    "performances",
    "young_audience_share",
    "accessible_share",
}


def fields(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "label": "Prix moyen",
        "definition": "Recette totale divisée par les billets payants.",
        "unit": "euros_per_ticket",
        "period_rule": "quarter",
        "dimensions": ["region", "discipline"],
        "computation": {"op": "ratio", "num": "receipts", "den": "paying_tickets"},
    }
    return base | overrides


def refused(**overrides: Any) -> dict[str, list[str]]:
    """The errors of publishing `fields(**overrides)` as code `price` (it must be refused)."""
    code = overrides.pop("code", "price")
    with pytest.raises(ValidationError) as caught:
        publish_definition(code, **fields(**overrides))
    assert not IndicatorDefinition.objects.exists()
    return caught.value.message_dict


# ---------------------------------------------------------------------------- validation


def test_an_unknown_measure_is_refused_naming_the_field() -> None:
    errors = refused(computation={"op": "ratio", "num": "recettes", "den": "paying_tickets"})
    assert list(errors) == ["computation"]
    assert "computation.num" in errors["computation"][0]
    assert "« recettes »" in errors["computation"][0]
    errors = refused(unit="tickets", computation={"op": "sum", "measure": "spectateurs"})
    assert "computation.measure" in errors["computation"][0]
    assert "spectateurs" in errors["computation"][0]


def test_an_unknown_dimension_is_refused_naming_the_field() -> None:
    errors = refused(dimensions=["region", "commune"])
    assert list(errors) == ["dimensions"]
    assert "« commune »" in errors["dimensions"][0]
    assert "departement" in errors["dimensions"][0]  # the known ones are listed


@pytest.mark.parametrize(
    ("computation", "needle"),
    [
        ({"op": "average", "num": "receipts", "den": "paying_tickets"}, "computation.op"),
        ({"num": "receipts", "den": "paying_tickets"}, "computation.op"),
        ({"op": "ratio", "num": "receipts"}, "computation.den"),
        ({"op": "ratio", "num": "receipts", "den": "receipts"}, "computation.den"),
        ({"op": "ratio", "num": "receipts", "den": "paying_tickets", "scale": 100}, "computation.scale"),
        ({"op": "ratio", "num": "receipts", "den": "paying_tickets", "decimals": 9}, "computation.decimals"),
        ({"op": "ratio", "num": "receipts", "den": "paying_tickets", "decimals": "2"}, "computation.decimals"),
        (["sum", "receipts"], "objet JSON"),
    ],
)
def test_malformed_computations_are_refused(computation: Any, needle: str) -> None:
    errors = refused(computation=computation)
    assert list(errors) == ["computation"]
    assert any(needle in message for message in errors["computation"]), errors


def test_the_unit_must_fit_the_computation() -> None:
    share_in_euros = refused(computation={"op": "share", "num": "attendance", "den": "capacity"})
    assert list(share_in_euros) == ["unit"]
    assert "percent" in share_in_euros["unit"][0]
    ratio_in_percent = refused(unit="percent")
    assert list(ratio_in_percent) == ["unit"]
    tickets_in_euros = refused(unit="euros", computation={"op": "sum", "measure": "attendance"})
    assert list(tickets_in_euros) == ["unit"]
    receipts_as_tickets = refused(unit="tickets", computation={"op": "sum", "measure": "receipts"})
    assert list(receipts_as_tickets) == ["unit"]
    assert "receipts" in receipts_as_tickets["unit"][0]


def test_the_month_dimension_needs_the_month_rule() -> None:
    errors = refused(dimensions=["month", "region"])
    assert list(errors) == ["dimensions"]
    assert "mois" in errors["dimensions"][0]
    created, _ = publish_definition("price", **fields(dimensions=["month", "region"], period_rule="month"))
    assert created.dimensions == ["region", "month"]


def test_every_faulty_field_is_named_at_once() -> None:
    errors = refused(
        code="Prix moyen",
        unit="francs",
        period_rule="season",
        dimensions=["commune"],
        computation={"op": "sum", "measure": "nope"},
    )
    assert {"code", "unit", "period_rule", "dimensions", "computation"} <= set(errors)


def test_a_definition_is_normalised() -> None:
    created, was_created = publish_definition(
        "price",
        **fields(dimensions=["venue_type", "region", "region", "discipline"]),
    )
    assert was_created
    assert created.version == 1
    assert created.dimensions == ["discipline", "region", "venue_type"]  # aggregate's order, no repeats
    assert created.computation == {"op": "ratio", "num": "receipts", "den": "paying_tickets", "decimals": 2}
    assert catalogue.measures_of(created) == ("receipts", "paying_tickets")


def test_labels_cover_every_dimension_and_measure_of_the_aggregate() -> None:
    assert list(catalogue.DIMENSION_LABELS) == list(DIMENSIONS)
    assert list(catalogue.MEASURE_LABELS) == list(MEASURES)


# ---------------------------------------------------------------------------- versions


def test_a_new_version_never_rewrites_the_old_one() -> None:
    first, _ = publish_definition("price", **fields())
    second, created = publish_definition(
        "price",
        **fields(computation={"op": "ratio", "num": "receipts", "den": "attendance"}),
        change_note="Tous billets.",
    )
    assert created
    assert (first.version, second.version) == (1, 2)
    first.refresh_from_db()
    assert first.computation["den"] == "paying_tickets"
    assert first.active
    assert catalogue.current_definition("price") == second
    assert [d.version for d in IndicatorDefinition.objects.filter(code="price")] == [2, 1]


def test_publishing_what_the_current_version_says_creates_nothing() -> None:
    first, _ = publish_definition("price", **fields())
    again, created = publish_definition("price", **fields(dimensions=["discipline", "region"]))
    assert not created
    assert again == first
    assert IndicatorDefinition.objects.count() == 1


def test_current_is_the_highest_active_version() -> None:
    publish_definition("price", **fields())
    second, _ = publish_definition("price", **fields(label="Prix moyen du billet"))
    publish_definition("other", **fields())
    assert [(d.code, d.version) for d in catalogue.current_definitions()] == [("other", 1), ("price", 2)]
    second.active = False
    second.save(update_fields=["active"])
    assert catalogue.current_definition("price").version == 1  # type: ignore[union-attr]
    IndicatorDefinition.objects.filter(code="price").update(active=False)
    assert catalogue.current_definition("price") is None
    assert [d.code for d in catalogue.current_definitions()] == ["other"]
    # Withdrawing the current version, then publishing again, numbers after the highest version.
    third, created = publish_definition("price", **fields())
    assert created
    assert third.version == 3


def test_a_saved_version_is_frozen() -> None:
    first, _ = publish_definition("price", **fields())
    first.label = "Autre libellé"
    first.computation = {"op": "ratio", "num": "receipts", "den": "attendance", "decimals": 2}
    with pytest.raises(ValidationError) as caught:
        first.save()
    assert set(caught.value.message_dict) == {"label", "computation"}
    assert "nouvelle version" in caught.value.message_dict["label"][0]
    stored = IndicatorDefinition.objects.get(pk=first.pk)
    assert stored.label == "Prix moyen"
    stored.active = False
    stored.save()  # activation is the one thing that changes
    assert not IndicatorDefinition.objects.get(pk=first.pk).active


def test_code_and_version_are_unique_in_the_database() -> None:
    first, _ = publish_definition("price", **fields())
    duplicate = IndicatorDefinition(code="price", version=1, **fields())
    with pytest.raises(IntegrityError), transaction.atomic():
        duplicate.save()
    assert IndicatorDefinition.objects.get() == first


# ---------------------------------------------------------------------------- evaluation

RATIO = {"op": "ratio", "num": "receipts", "den": "paying_tickets"}
SHARE = {"op": "share", "num": "attendance", "den": "capacity"}


def test_sums_are_the_combined_measure() -> None:
    assert evaluate({"op": "sum", "measure": "attendance"}, {"attendance": 1245, "capacity": 2000}) == 1245
    receipts = evaluate({"op": "sum", "measure": "receipts"}, {"receipts": Decimal("15400.5")})
    assert receipts == Decimal("15400.50")
    assert isinstance(receipts, Decimal)


def test_ratios_and_shares_on_hand_computed_cells() -> None:
    # 1234.50 € for 97 paying tickets: 12.7268… € → 12.73 €.
    assert evaluate(RATIO, {"receipts": Decimal("1234.50"), "paying_tickets": 97}) == Decimal("12.73")
    # 245 entries for 300 seats: 81.666… % → 81.7 %.
    assert evaluate(SHARE, {"attendance": 245, "capacity": 300}) == Decimal("81.7")
    # Rounding is half up: 1/8 = 0.125 → 0.13; 1/16 = 6.25 % → 6.3 %.
    assert evaluate(RATIO, {"receipts": 1, "paying_tickets": 8}) == Decimal("0.13")
    assert evaluate(SHARE, {"attendance": 1, "capacity": 16}) == Decimal("6.3")
    assert evaluate(SHARE | {"decimals": 0}, {"attendance": 2, "capacity": 3}) == Decimal("67")
    assert evaluate(SHARE | {"decimals": 3}, {"attendance": 2, "capacity": 3}) == Decimal("66.667")
    # Values from a JSON partial (amounts as text) are numbers too.
    assert evaluate(RATIO, {"receipts": "3000.00", "paying_tickets": "190"}) == Decimal("15.79")


def test_a_zero_denominator_gives_none() -> None:
    free_show = {"receipts": Decimal("0.00"), "paying_tickets": 0, "attendance": 100, "capacity": 0}
    assert evaluate(RATIO, free_show) is None
    assert evaluate(SHARE, free_show) is None
    assert evaluate({"op": "share", "num": "young_audience_performances", "den": "performances"}, {
        "young_audience_performances": 0, "performances": 0}) is None  # fmt: skip
    assert evaluate(SHARE, {"attendance": 0, "capacity": 300}) == Decimal("0.0")


def test_ratios_are_computed_on_combined_sums_not_averaged() -> None:
    partials = [
        {"values": {"receipts": "1000.00", "paying_tickets": 100}},  # 10 € on one node
        {"values": {"receipts": "3000.00", "paying_tickets": 100}},  # 30 € on another
        {"values": {"receipts": "0.00", "paying_tickets": 200}},  # a cheap show: 0 € (all invitations counted paying)
    ]
    combined = combine(partials)
    assert combined == {"receipts": Decimal("4000.00"), "paying_tickets": 400}
    assert evaluate(RATIO, combined) == Decimal("10.00")  # not (10 + 30 + 0) / 3


def test_a_missing_or_non_numeric_measure_is_an_error() -> None:
    with pytest.raises(CatalogueError, match="paying_tickets"):
        evaluate(RATIO, {"receipts": Decimal("10.00")})
    with pytest.raises(CatalogueError, match="receipts"):
        evaluate(RATIO, {"receipts": "dix euros", "paying_tickets": 1})
    with pytest.raises(CatalogueError, match="receipts"):
        evaluate(RATIO, {"receipts": 10.5, "paying_tickets": 1})  # floats are not amounts
    with pytest.raises(ValidationError):
        evaluate({"op": "sum", "measure": "nope"}, {"nope": 1})


def test_builtin_definitions_on_a_local_aggregate(settings: Any, theatre: Any) -> None:
    """Each required indicator evaluated on local_aggregate's cells equals the hand-computed value."""
    settings.NODE_ROLES = ["ministry"]
    catalogue.seed_catalogue()
    other = OrganisationFactory(name="Scène fictive", region="Bretagne", departement="29")
    october = dt.datetime(2026, 10, 6, 20, 0, tzinfo=PARIS)
    mine = run(theatre, 3, start=october)  # 300 seats each
    young = run(other, 2, start=october, audience="young")
    young[0].accessibility = ["sign_language"]
    young[0].save()
    figures(mine[0], "A-1", tickets_total=250, tickets_exempt=10, receipts_total="3600.00")
    figures(mine[1:], "A-SERIE", tickets_total=500, receipts_total="6000.00")
    figures(young, "B-1", tickets_total=150, tickets_exempt=150, receipts_total="0.00")  # free
    result = local_aggregate(dt.date(2026, 10, 1), dt.date(2026, 12, 31), ["quarter"])
    [quarter] = result["cells"]
    assert quarter["key"] == {"quarter": "2026-T4"}
    assert quarter["contributors"] == 2
    values = {d.code: evaluate(d, quarter) for d in catalogue.current_definitions()}
    assert values == {
        "attendance": 900,
        "receipts": Decimal("9600.00"),
        "average_price": Decimal("12.97"),  # 9600 / (250 - 10 + 500) = 12.972…
        "fill_rate": Decimal("60.0"),  # 900 / 1500
        "performances": 5,
        "young_audience_share": Decimal("40.0"),  # 2 / 5
        "accessible_share": Decimal("20.0"),  # 1 / 5
    }
    free = local_aggregate(dt.date(2026, 10, 1), dt.date(2026, 12, 31), [], owner_ids=[other.pk])
    assert evaluate(catalogue.current_definition("average_price"), free["total"]) is None  # type: ignore[arg-type]


def test_allowed_periods_follow_the_period_rule() -> None:
    quarterly, _ = publish_definition("price", **fields())
    monthly, _ = publish_definition("entries", **fields(unit="tickets", period_rule="month", computation={
        "op": "sum", "measure": "attendance"}))  # fmt: skip
    october, q4, season = (
        (dt.date(2026, 10, 1), dt.date(2026, 10, 31)),
        (dt.date(2026, 10, 1), dt.date(2026, 12, 31)),
        (dt.date(2026, 9, 1), dt.date(2027, 6, 30)),
    )
    assert catalogue.allowed_period(monthly, *october)
    assert catalogue.allowed_period(monthly, *season)
    assert not catalogue.allowed_period(monthly, dt.date(2026, 10, 2), dt.date(2026, 10, 31))
    assert not catalogue.allowed_period(monthly, dt.date(2026, 10, 1), dt.date(2026, 10, 30))
    assert not catalogue.allowed_period(monthly, dt.date(2026, 11, 1), dt.date(2026, 10, 31))
    assert catalogue.allowed_period(quarterly, *q4)
    assert catalogue.allowed_period(quarterly, dt.date(2026, 1, 1), dt.date(2026, 12, 31))
    assert not catalogue.allowed_period(quarterly, *october)
    assert not catalogue.allowed_period(quarterly, *season)


# ---------------------------------------------------------------------------- seeding


def test_seeding_installs_the_required_indicators_once(settings: Any) -> None:
    settings.NODE_ROLES = ["ministry"]
    call_command("seed_indicator_catalogue", stdout=_Sink())
    definitions = {d.code: d for d in IndicatorDefinition.objects.all()}
    assert set(definitions) == REQUIRED_CODES
    assert all(d.version == 1 and d.active for d in definitions.values())
    assert set().union(*(d.dimensions for d in definitions.values())) == set(DIMENSIONS)
    assert definitions["fill_rate"].computation == {
        "op": "share",
        "num": "attendance",
        "den": "capacity",
        "decimals": 1,
    }
    assert definitions["receipts"].period_rule == "quarter"
    stamps = {d.code: d.updated_at for d in definitions.values()}
    out = _Sink()
    call_command("seed_indicator_catalogue", stdout=out)
    assert "0 définition(s) créée(s)" in out.text
    assert "7 inchangée(s)" in out.text
    assert IndicatorDefinition.objects.count() == 7
    assert {d.code: d.updated_at for d in IndicatorDefinition.objects.all()} == stamps


def test_seeding_never_reverts_a_later_version(settings: Any) -> None:
    settings.NODE_ROLES = ["ministry"]
    catalogue.seed_catalogue()
    builtin = next(entry for entry in catalogue.BUILTIN if entry["code"] == "fill_rate")
    content = {k: v for k, v in builtin.items() if k != "code"}
    second, _ = publish_definition("fill_rate", **content | {"computation": SHARE | {"decimals": 2}})
    first = IndicatorDefinition.objects.get(code="fill_rate", version=1)
    first.active = False
    first.save(update_fields=["active"])
    report = catalogue.seed_catalogue()
    assert report.created == []
    assert catalogue.current_definition("fill_rate") == second
    assert not IndicatorDefinition.objects.get(code="fill_rate", version=1).active  # the ministry's choice stays


def test_seeding_is_refused_on_a_node_without_the_ministry_role(settings: Any) -> None:
    settings.NODE_ROLES = ["structure"]
    with pytest.raises(CommandError, match="ministry"):
        call_command("seed_indicator_catalogue", stdout=_Sink())
    assert not IndicatorDefinition.objects.exists()


class _Sink:
    def __init__(self) -> None:
        self.text = ""

    def write(self, text: str) -> None:
        self.text += text

    def flush(self) -> None:
        pass
