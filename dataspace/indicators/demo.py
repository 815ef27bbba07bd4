"""Fictitious, deterministic ticketing figures for the demo structures (`seed_demo_ticketing`).

For every performance of the structure's 2026-2027 season that was played (scheduled, postponed
or moved — not cancelled, not under option) and started before `until`, figures drawn from a
generator seeded with the performance's id: the same performance always gets the same figures.
School performances of a young-audience production in one hall and one quarter are declared as
one series; open-air and street-arts shows and the festival's concerts are free (every ticket
exempt, no receipts). The figures go through `record_figures`, like a vendor's: running again
changes nothing.
"""

from __future__ import annotations

import datetime as dt
import random
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from django.db import transaction

from dataspace.indicators import services
from dataspace.indicators.periods import quarter_of
from dataspace.referentials import demo_data
from dataspace.referentials.models import Discipline, Organisation, Performance, Production, Season, Venue

#: The demo vendor's name, as the ticketing system of every demo row.
DEMO_TICKETING_SYSTEM = "Billetterie Exemple"
PLAYED = (Performance.Status.SCHEDULED, Performance.Status.POSTPONED, Performance.Status.MOVED)
#: Full price (euros) by discipline; reduced rates are fractions of it.
FULL_PRICES: dict[str, Decimal] = {
    Discipline.OPERA: Decimal("48.00"),
    Discipline.MUSICAL: Decimal("38.00"),
    Discipline.THEATRE: Decimal("26.00"),
    Discipline.DANCE: Decimal("25.00"),
    Discipline.CIRCUS: Decimal("22.00"),
    Discipline.MUSIC: Decimal("22.00"),
    Discipline.PUPPETRY: Decimal("14.00"),
    Discipline.MULTIDISCIPLINARY: Decimal("20.00"),
    Discipline.STREET_ARTS: Decimal("0.00"),
}
YOUNG_AUDIENCE_PRICE = Decimal("10.00")
SUBSCRIPTION_RATE = Decimal("0.72")
REDUCED_RATE = Decimal("0.60")


class DemoTicketingError(Exception):
    """The demo figures cannot be written (not a demo structure profile, demo data missing)."""


@dataclass
class DemoTicketingReport:
    profile: str
    organisation: str
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    series: int = 0
    performances: int = 0
    skipped: dict[str, int] = field(default_factory=dict)


def _euros(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def _is_free(performance: Performance) -> bool:
    """Street arts, open-air shows and the festival's concerts are free in the demo."""
    production, venue, season = performance.production, performance.hall.venue, performance.season
    if production.discipline == Discipline.STREET_ARTS or venue.venue_type == Venue.VenueType.OPEN_AIR:
        return True
    festival = season is not None and season.kind == Season.Kind.FESTIVAL
    return festival and production.discipline == Discipline.MUSIC


def demo_figures(performances: list[Performance], external_id: str) -> services.FiguresInput:
    """Plausible figures for these performances (one, or a series), drawn from their ids."""
    first = performances[0]
    rng = random.Random(f"ticketing:{first.pk}:{len(performances)}")  # noqa: S311 - demo data, not crypto
    production = first.production
    capacity = sum(services.performance_capacity(p) or 0 for p in performances)
    young = production.audience == Production.Audience.YOUNG
    fill = rng.uniform(0.72, 0.99) if young else rng.uniform(0.48, 0.97)
    total = min(capacity, round(capacity * fill))
    if _is_free(first):
        return services.FiguresInput(
            external_id=external_id,
            performances=performances,
            ticketing_system=DEMO_TICKETING_SYSTEM,
            tickets_total=total,
            tickets_exempt=total,
            receipts_total=Decimal("0.00"),
        )
    exempt = round(total * rng.uniform(0.02, 0.07))
    paying = total - exempt
    subscription = round(paying * rng.uniform(0.18, 0.42))
    full = round((paying - subscription) * rng.uniform(0.25, 0.55))
    reduced = paying - subscription - full
    full_price = YOUNG_AUDIENCE_PRICE if young else FULL_PRICES.get(production.discipline, Decimal("20.00"))
    receipts_full = _euros(full * full_price)
    receipts = receipts_full + _euros(subscription * full_price * SUBSCRIPTION_RATE)
    receipts += _euros(reduced * full_price * REDUCED_RATE)
    return services.FiguresInput(
        external_id=external_id,
        performances=performances,
        ticketing_system=DEMO_TICKETING_SYSTEM,
        tickets_total=total,
        tickets_full_price=full,
        tickets_subscription=subscription,
        tickets_exempt=exempt,
        receipts_total=_euros(receipts),
        receipts_full_price=receipts_full,
        capacity=capacity,
    )


def _groups(performances: list[Performance]) -> list[tuple[str, list[Performance]]]:
    """(external id, performances): school performances (weekday mornings and afternoons) of a
    young-audience production in one hall and one quarter form a series; the rest stand alone."""
    series: dict[tuple[object, ...], list[Performance]] = defaultdict(list)
    groups: list[tuple[str, list[Performance]]] = []
    for performance in performances:
        local = performance.start.astimezone(demo_data.PARIS)
        young = performance.production.audience == Production.Audience.YOUNG
        if young and local.hour < 17 and local.weekday() < 5:  # school performances
            quarter = quarter_of(local.date())
            series[(performance.production_id, performance.hall_id, quarter)].append(performance)
        else:
            groups.append((f"DEMO-{str(performance.pk)[:8].upper()}", [performance]))
    for members in series.values():
        first = min(members, key=lambda p: p.start)
        prefix = "DEMO-SERIE-" if len(members) > 1 else "DEMO-"
        groups.append((f"{prefix}{str(first.pk)[:8].upper()}", members))
    return sorted(groups, key=lambda group: min(p.start for p in group[1]))


def seed_demo_ticketing(profile: str, *, seed: int = 42, until: dt.datetime | None = None) -> DemoTicketingReport:
    """Write the demo figures of a demo structure (`seed_demo --profile` must have run with the
    same seed). `until` (default: the end of the season) keeps only performances started before it."""
    if profile not in demo_data.STRUCTURE_PROFILES:
        raise DemoTicketingError(
            f"unknown profile {profile!r}: ticketing figures exist on {', '.join(demo_data.STRUCTURE_PROFILES)} only"
        )
    owner = Organisation.objects.filter(pk=demo_data.demo_uuid(seed, profile, "organisation", "self")).first()
    if owner is None:
        raise DemoTicketingError(
            f"no demo data of {profile} (seed {seed}) on this node: run `seed_demo --profile {profile}` first"
        )
    season_start = dt.datetime.combine(demo_data.SEASON_START, dt.time(0), tzinfo=demo_data.PARIS)
    season_end = dt.datetime.combine(demo_data.SEASON_END + dt.timedelta(days=1), dt.time(0), tzinfo=demo_data.PARIS)
    end = min(until, season_end) if until is not None else season_end
    performances = list(
        Performance.objects.select_related("production", "hall", "hall__venue", "owner", "season")
        .filter(owner=owner, status__in=PLAYED, start__gte=season_start, start__lt=end)
        .order_by("start", "id")
    )
    report = DemoTicketingReport(profile=profile, organisation=owner.name)
    with transaction.atomic():
        for external_id, members in _groups(performances):
            if any(services.performance_capacity(p) is None for p in members):
                report.skipped["no_capacity"] = report.skipped.get("no_capacity", 0) + 1
                continue
            _figures, outcome = services.record_figures(demo_figures(members, external_id))
            setattr(report, outcome, getattr(report, outcome) + 1)
            report.performances += len(members)
            report.series += 1 if len(members) > 1 else 0
    return report
