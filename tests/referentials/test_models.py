"""Model rules as the API services apply them: field-by-field errors, owner default, visibility."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from rest_framework.exceptions import ValidationError

from dataspace.referentials import models as m
from dataspace.referentials import services
from tests.factories import OrganisationFactory, PerformanceFactory, SeasonFactory
from tests.referentials.factories_extra import set_node_organisation

pytestmark = pytest.mark.django_db


def test_validate_record_maps_constraints_to_fields() -> None:
    season = m.Season(
        owner=OrganisationFactory(), name="S", start_date=dt.date(2026, 9, 1), end_date=dt.date(2026, 1, 1)
    )
    with pytest.raises(ValidationError) as caught:
        services.validate_record(season)
    assert set(caught.value.detail) == {"end_date"}


def test_validate_record_reports_the_stable_key_on_start() -> None:
    existing = PerformanceFactory()
    duplicate = m.Performance(
        owner=existing.owner, production=existing.production, hall=existing.hall, start=existing.start
    )
    with pytest.raises(ValidationError) as caught:
        services.validate_record(duplicate)
    assert set(caught.value.detail) == {"start"}
    assert "production + salle + début" in str(caught.value.detail["start"][0])


def test_validate_record_accepts_a_valid_record() -> None:
    season = SeasonFactory.build(owner=OrganisationFactory())
    services.validate_record(season)


def test_default_owner_is_the_node_organisation(structure: Any) -> None:
    assert services.default_owner() is None
    set_node_organisation(structure)
    assert services.default_owner() == structure


def test_visible_performances_hides_options_from_outsiders() -> None:
    option = PerformanceFactory(status="option")
    public = PerformanceFactory()
    everything = m.Performance.objects.all()
    assert list(services.visible_performances(everything, node_staff=False)) == [public]
    assert set(services.visible_performances(everything, node_staff=True)) == {option, public}


def test_save_record_turns_a_racing_duplicate_into_400() -> None:
    existing = PerformanceFactory()
    duplicate = m.Performance(
        owner=existing.owner, production=existing.production, hall=existing.hall, start=existing.start
    )
    with pytest.raises(ValidationError) as caught:
        services.save_record(duplicate)
    assert caught.value.detail
    assert m.Performance.objects.count() == 1
