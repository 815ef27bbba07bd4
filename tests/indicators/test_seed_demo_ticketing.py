"""seed_demo_ticketing: deterministic fictitious figures for the demo structures."""

from __future__ import annotations

import datetime as dt
from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from dataspace.indicators.demo import DemoTicketingError, seed_demo_ticketing
from dataspace.indicators.models import CoveredPerformance, TicketingFigures
from dataspace.referentials.demo_data import PARIS, seed_demo
from dataspace.referentials.models import Performance

pytestmark = pytest.mark.django_db


def snapshot() -> dict[str, tuple[Any, ...]]:
    return {
        row.external_id: (row.tickets_total, row.receipts_total, row.capacity, row.performance_count)
        for row in TicketingFigures.objects.all()
    }


def test_a_season_of_figures_for_structure_b(settings: Any) -> None:
    seed_demo("structure-b")
    out = StringIO()
    call_command("seed_demo_ticketing", "--profile", "structure-b", "--until", "season-end", stdout=out)
    assert "created" in out.getvalue()
    played = Performance.objects.filter(status__in=["scheduled", "postponed", "moved"])
    covered = set(CoveredPerformance.objects.values_list("performance_id", flat=True))
    assert covered == set(played.values_list("pk", flat=True))  # every played performance, nothing else
    rows = list(TicketingFigures.objects.all())
    assert any(row.performance_count > 1 for row in rows)  # school performances as a series
    assert any(row.receipts_total == 0 and row.average_price is None for row in rows)  # the festival's free concert
    for row in rows:
        assert row.tickets_full_price + row.tickets_subscription + row.tickets_exempt <= row.tickets_total
        assert row.tickets_total <= row.capacity
        assert row.receipts_full_price <= row.receipts_total
    first = snapshot()
    again = StringIO()
    call_command("seed_demo_ticketing", "--profile", "structure-b", "--until", "season-end", stdout=again)
    assert "0 created, 0 updated" in again.getvalue()
    assert snapshot() == first


def test_until_keeps_the_past_performances_only(settings: Any) -> None:
    seed_demo("structure-a")
    report = seed_demo_ticketing("structure-a", until=dt.datetime(2026, 10, 1, tzinfo=PARIS))
    assert report.created > 0
    assert TicketingFigures.objects.filter(first_date__gte=dt.date(2026, 10, 1)).count() == 0
    full = seed_demo_ticketing("structure-a")
    assert full.unchanged == report.created  # the September rows are the same figures
    assert TicketingFigures.objects.filter(quarter="2027-T2").exists()


def test_errors_are_clear(db: Any) -> None:
    with pytest.raises(DemoTicketingError, match="seed_demo --profile structure-a"):
        seed_demo_ticketing("structure-a")
    with pytest.raises(DemoTicketingError, match="unknown profile"):
        seed_demo_ticketing("ministry")
    with pytest.raises(CommandError):
        call_command("seed_demo_ticketing", "--profile", "structure-a", "--until", "demain")
    with pytest.raises(CommandError, match="structure"):
        call_command("seed_demo_ticketing", "--profile", "structure-a")
