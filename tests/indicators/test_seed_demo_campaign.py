"""seed_demo_campaign: the ministry's ready-to-launch demo campaign; the demo analyst's permissions."""

from __future__ import annotations

import datetime as dt
import json
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from dataspace.indicators import campaigns, catalogue
from dataspace.indicators.demo import (
    DEMO_CAMPAIGN_TITLE,
    DemoTicketingError,
    demo_campaign_period,
    seed_demo_campaign,
)
from dataspace.indicators.models import Campaign, IndicatorDefinition

pytestmark = pytest.mark.django_db


@pytest.fixture
def ministry_node(settings: Any) -> None:
    settings.NODE_ROLES = ["ministry"]
    catalogue.seed_catalogue()


def test_a_draft_campaign_ready_to_launch(ministry_node: None) -> None:
    analyst = get_user_model().objects.create_user("analyste")
    out = StringIO()
    call_command("seed_demo_campaign", stdout=out)
    assert "créée" in out.getvalue()
    campaign = Campaign.objects.get()
    assert campaign.title == DEMO_CAMPAIGN_TITLE == "Fréquentation et recettes — saison 2026-2027 (démo)"
    assert campaign.state == Campaign.State.DRAFT
    assert campaign.runs == 0
    assert campaign.launched_at is None
    assert campaign.created_by == analyst
    codes = ("attendance", "receipts", "average_price", "fill_rate", "performances")
    assert campaign.indicators == [{"code": code, "version": 1} for code in codes]
    assert campaign.dimensions == ["discipline", "region"]
    # receipts and the average price are quarterly: the whole quarters around the season
    assert (campaign.period_start, campaign.period_end) == (dt.date(2026, 7, 1), dt.date(2027, 6, 30))
    # what the structure nodes will be asked (docs/indicators.md, "The campaign protocol")
    body = campaigns.request_body(campaign)
    assert set(body["measures"]) == {"attendance", "receipts", "paying_tickets", "capacity", "performances"}
    assert body["period"] == {"start": "2026-07-01", "end": "2027-06-30"}


def test_idempotent_whatever_the_campaign_became(ministry_node: None) -> None:
    first, created = seed_demo_campaign()
    assert created
    assert first.created_by is None  # no analyst account: nobody
    Campaign.objects.filter(pk=first.pk).update(state=Campaign.State.DONE)
    out = StringIO()
    call_command("seed_demo_campaign", stdout=out)
    assert "déjà présente" in out.getvalue()
    assert Campaign.objects.count() == 1
    assert Campaign.objects.get().state == Campaign.State.DONE


def test_the_current_catalogue_versions_are_taken(ministry_node: None) -> None:
    current = catalogue.current_definition("fill_rate")
    assert current is not None
    catalogue.publish_definition(
        "fill_rate",
        label=current.label,
        definition=current.definition + " (révisée)",
        unit=current.unit,
        period_rule=current.period_rule,
        dimensions=list(current.dimensions),
        computation=dict(current.computation),
    )
    campaign, _created = seed_demo_campaign()
    assert {"code": "fill_rate", "version": 2} in campaign.indicators


def test_the_season_itself_when_every_rule_is_monthly(ministry_node: None) -> None:
    monthly = list(IndicatorDefinition.objects.filter(period_rule="month"))
    assert demo_campaign_period(monthly) == (dt.date(2026, 9, 1), dt.date(2027, 6, 30))
    assert demo_campaign_period(list(IndicatorDefinition.objects.all())) == (dt.date(2026, 7, 1), dt.date(2027, 6, 30))


def test_only_on_the_ministry_node_with_its_catalogue(settings: Any) -> None:
    settings.NODE_ROLES = ["structure"]
    with pytest.raises(CommandError, match="ministry"):
        call_command("seed_demo_campaign")
    settings.NODE_ROLES = ["ministry"]
    with pytest.raises(DemoTicketingError, match="seed_indicator_catalogue"):
        seed_demo_campaign()
    assert not Campaign.objects.exists()


def test_the_demo_analyst_may_use_the_dashboard(tmp_path: Path, settings: Any) -> None:
    credentials = tmp_path / "credentials.json"
    credentials.write_text(
        json.dumps(
            {
                "ministry": [
                    {"username": "admin", "password": "mot-de-passe-admin", "kind": "staff"},
                    {"username": "analyste", "password": "mot-de-passe-analyste", "kind": "analyst"},
                ]
            }
        )
    )
    for _run in range(2):  # idempotent
        call_command("demo_account", credentials=str(credentials), node="ministry", stdout=StringIO())
    users = get_user_model().objects
    analyst = users.get(username="analyste")
    assert not analyst.is_staff
    assert not analyst.is_superuser
    wanted = {"indicators.view_campaign", "indicators.add_campaign", "indicators.change_campaign"}
    assert analyst.get_all_permissions() == wanted
    assert not analyst.has_perm("indicators.delete_campaign")
    assert analyst.user_permissions.count() == 3
    assert users.get(username="admin").user_permissions.count() == 0  # a superuser needs none
