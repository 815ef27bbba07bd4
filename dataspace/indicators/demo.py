"""Fictitious, deterministic ticketing figures for the demo structure nodes (`seed_demo_ticketing`).

For every performance of the 2026-2027 season that was played (scheduled, postponed or moved —
not cancelled, not under option) and started before `until`, figures drawn from a generator
seeded with the performance's id: the same performance always gets the same figures. School
performances of a young-audience production in one hall and one quarter are declared as one
series; open-air and street-arts shows and the festival's concerts are free (every ticket exempt,
no receipts). The figures go through `record_figures`, like a vendor's: running again changes
nothing.

**Hosted structures.** A node may hold the data of several structures (a regional network or a
ticketing vendor runs a node for small structures). Each demo structure node also hosts three
small fictitious structures (`HOSTED_STRUCTURES`), with their own venues, productions, season and
a few dozen performances, owned by them, and their ticketing figures. They exist so that an
aggregation campaign over the demo federation has something to publish: statistical secrecy hides
every cell with fewer than 3 structures. The mix (discipline × region over the season) gives cells
that are published (theatre in Auvergne-Rhône-Alpes, music in Bretagne — three structures on two
nodes), confidential (fewer than 3 structures; circus in Auvergne-Rhône-Alpes, where the Lilas
weigh more than 85 %) and cells that secondary suppression hides.

Hosted structures share nothing with the federation: they sign no `federation` agreement, so
their records never reach the registry's index nor its (index or live) search. For the ministry's
campaigns, `seed_demo_approvals` signs for each of them one agreement — dataset `performance`,
grantee `ministry` bound to the ministry's node, purpose `reporting` — which is what the decision
point asks of a peer (`aggregate` on their performances) and covers nothing else, and gives
standing approvals (`StandingApproval`): on structure-a every structure it holds answers the
ministry at once; on structure-b the hosted structures do, but the Estuaires do not: their
administrator (the demo account `admin`, made administrator of every structure its node holds)
approves each campaign in the admin.
"""

from __future__ import annotations

import datetime as dt
import random
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction

from dataspace.indicators import services
from dataspace.indicators.models import StandingApproval
from dataspace.indicators.periods import quarter_of
from dataspace.referentials import demo_data
from dataspace.referentials.demo_data import HallSpec, VenueSpec
from dataspace.referentials.models import (
    Discipline,
    Hall,
    Organisation,
    Performance,
    Production,
    Season,
    Venue,
)
from policies.demo import get_or_create_record

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
    #: The hosted structures whose figures were written too (their names).
    hosted: list[str] = field(default_factory=list)
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    series: int = 0
    performances: int = 0
    skipped: dict[str, int] = field(default_factory=dict)


# ---------------------------------------------------------------------------- hosted structures

Y = Production.Audience.YOUNG
VENUE = Venue.VenueType


@dataclass(frozen=True)
class HostedShow:
    """A production of a hosted structure and its run: `performances` from about the `month`'s
    first fortnight, in one hall (no Monday, one performance a day per hall)."""

    key: str
    title: str
    discipline: str
    performances: int
    month: int
    hall: str
    audience: str = Production.Audience.ALL
    minimum_age: int | None = None
    duration: int = 90


@dataclass(frozen=True)
class HostedStructure:
    key: str
    name: str
    legal_name: str
    kind: str
    legal_status: str
    city: str
    postal_code: str
    departement: str
    region: str
    website: str
    venues: tuple[VenueSpec, ...]
    shows: tuple[HostedShow, ...]
    label: str = ""


D = Discipline
KIND = Organisation.Kind
BRETAGNE = "Bretagne"
AURA = "Auvergne-Rhône-Alpes"
PAYS_DE_LA_LOIRE = "Pays de la Loire"

#: The small structures each demo structure node hosts (FICTITIOUS: names, addresses, shows).
#: Chosen for the campaign's discipline × region table (see the module docstring): three
#: structures in Auvergne-Rhône-Alpes (the Lilas and two hosted), three in Bretagne (one hosted at
#: structure-a, two at structure-b), two in Pays de la Loire (the Estuaires and one hosted).
HOSTED_STRUCTURES: dict[str, tuple[HostedStructure, ...]] = {
    "structure-a": (
        HostedStructure(
            key="torrent",
            name="Théâtre du Torrent rêvé",
            legal_name="Association Théâtre du Torrent rêvé (fictive)",
            kind=KIND.THEATRE,
            legal_status="Association loi 1901",
            city="Grenoble",
            postal_code="38000",
            departement="38",
            region=AURA,
            website="https://torrent-reve.example",
            venues=(
                VenueSpec(
                    "Théâtre du Torrent rêvé",
                    VENUE.THEATRE,
                    "5 rue des Cascades-Inventées",
                    "38000",
                    "Grenoble",
                    "45.188500",
                    "5.724500",
                    (HallSpec("Grande salle", 380, None, 4), HallSpec("Salle Belledonne", 140, wheelchair=2)),
                ),
            ),
            shows=(
                HostedShow(
                    "double-inconstance", "La Double Inconstance", D.THEATRE, 8, 11, "Grande salle", duration=120
                ),
                HostedShow("sommets", "Les Sommets intérieurs", D.THEATRE, 7, 2, "Salle Belledonne", duration=80),
                HostedShow("vania", "Oncle Vania", D.THEATRE, 6, 4, "Grande salle", duration=140),
                HostedShow("eboulis", "Éboulis", D.DANCE, 4, 3, "Grande salle", duration=60),
                HostedShow("cirque-de-poche", "Petit cirque de poche", D.CIRCUS, 1, 1, "Salle Belledonne", duration=50),
            ),
        ),
        HostedStructure(
            key="coupole",
            name="La Coupole des Volcans",
            legal_name="Régie de la Coupole des Volcans (fictive)",
            kind=KIND.MUSIC_VENUE,
            legal_status="Régie personnalisée",
            city="Clermont-Ferrand",
            postal_code="63000",
            departement="63",
            region=AURA,
            website="https://coupole-volcans.example",
            venues=(
                VenueSpec(
                    "La Coupole des Volcans",
                    VENUE.MULTIPURPOSE,
                    "2 avenue des Puys-Rêvés",
                    "63000",
                    "Clermont-Ferrand",
                    "45.777200",
                    "3.087000",
                    (HallSpec("La Coupole", 420, 900, 6), HallSpec("Le Cratère", 120, wheelchair=2)),
                ),
            ),
            shows=(
                HostedShow("basalte", "Basalte", D.MUSIC, 3, 10, "La Coupole", duration=100),
                HostedShow("malade", "Le Malade imaginaire", D.THEATRE, 6, 1, "La Coupole", duration=120),
                HostedShow("chants-des-puys", "Chants de la chaîne des Puys", D.MUSIC, 3, 3, "La Coupole", duration=90),
                HostedShow("scapin", "Les Fourberies de Scapin", D.THEATRE, 5, 5, "Le Cratère", duration=100),
                HostedShow("trapeze", "Trapèze en chambre", D.CIRCUS, 1, 5, "Le Cratère", duration=55),
            ),
        ),
        HostedStructure(
            key="ponant",
            name="Les Tréteaux du Ponant",
            legal_name="Association Les Tréteaux du Ponant (fictive)",
            kind=KIND.THEATRE,
            legal_status="Association loi 1901",
            city="Rennes",
            postal_code="35000",
            departement="35",
            region=BRETAGNE,
            website="https://treteaux-ponant.example",
            venues=(
                VenueSpec(
                    "Théâtre du Ponant",
                    VENUE.THEATRE,
                    "9 quai des Goélands-Fictifs",
                    "35000",
                    "Rennes",
                    "48.111000",
                    "-1.680000",
                    (HallSpec("Salle Vilaine", 300, None, 4), HallSpec("Le Grenier", 90, wheelchair=2)),
                ),
            ),
            shows=(
                HostedShow("jeu-des-marees", "Le Jeu des marées", D.THEATRE, 7, 11, "Salle Vilaine", duration=95),
                HostedShow(
                    "petit-bois", "Le Petit Bois qui chante", D.PUPPETRY, 8, 12, "Le Grenier", Y, 3, duration=40
                ),
                HostedShow("nuits-bretonnes", "Nuits bretonnes", D.MUSIC, 4, 2, "Salle Vilaine", duration=90),
                HostedShow("andromaque", "Andromaque", D.THEATRE, 6, 3, "Salle Vilaine", duration=115),
            ),
        ),
    ),
    "structure-b": (
        HostedStructure(
            key="ardoises",
            name="Le Quai des Ardoises",
            legal_name="Association Le Quai des Ardoises (fictive)",
            kind=KIND.THEATRE,
            legal_status="Association loi 1901",
            city="Angers",
            postal_code="49000",
            departement="49",
            region=PAYS_DE_LA_LOIRE,
            website="https://quai-ardoises.example",
            venues=(
                VenueSpec(
                    "Le Quai des Ardoises",
                    VENUE.THEATRE,
                    "14 promenade des Ardoisiers",
                    "49000",
                    "Angers",
                    "47.473000",
                    "-0.556000",
                    (HallSpec("Salle Maine", 450, None, 6), HallSpec("Le Studio", 120, wheelchair=2)),
                ),
            ),
            shows=(
                HostedShow("caprices", "Les Caprices de Marianne", D.THEATRE, 7, 10, "Salle Maine", duration=110),
                HostedShow("volte", "Volte", D.DANCE, 4, 1, "Salle Maine", duration=65),
                HostedShow("britannicus", "Britannicus", D.THEATRE, 5, 2, "Le Studio", duration=120),
                HostedShow("funambules", "Les Funambules de l'ardoise", D.CIRCUS, 3, 3, "Salle Maine", duration=75),
                HostedShow("fugue", "Fugue pour deux corps", D.DANCE, 3, 4, "Le Studio", duration=55),
            ),
        ),
        HostedStructure(
            key="criee",
            name="La Criée du Couchant",
            legal_name="SCIC La Criée du Couchant (fictive)",
            kind=KIND.MUSIC_VENUE,
            label="Scène de musiques actuelles (fictive)",
            legal_status="Société coopérative d'intérêt collectif",
            city="Brest",
            postal_code="29200",
            departement="29",
            region=BRETAGNE,
            website="https://criee-couchant.example",
            venues=(
                VenueSpec(
                    "La Criée du Couchant",
                    VENUE.MUSIC_CLUB,
                    "1 port des Vents-Contraires",
                    "29200",
                    "Brest",
                    "48.383000",
                    "-4.495000",
                    (HallSpec("La Grande Criée", None, 600, 6), HallSpec("Le Quai", 150, wheelchair=2)),
                ),
            ),
            shows=(
                HostedShow("houle", "Houle", D.MUSIC, 4, 10, "La Grande Criée", duration=110),
                HostedShow("naufrages", "Les Naufragés du phare", D.THEATRE, 6, 11, "Le Quai", duration=85),
                HostedShow("rivages", "Rivages électriques", D.MUSIC, 4, 2, "La Grande Criée", duration=120),
                HostedShow("songe", "Le Songe d'une nuit d'été", D.THEATRE, 5, 4, "Le Quai", duration=130),
            ),
        ),
        HostedStructure(
            key="genets",
            name="Théâtre des Genêts",
            legal_name="Association du Théâtre des Genêts (fictive)",
            kind=KIND.THEATRE,
            legal_status="Association loi 1901",
            city="Lorient",
            postal_code="56100",
            departement="56",
            region=BRETAGNE,
            website="https://theatre-genets.example",
            venues=(
                VenueSpec(
                    "Théâtre des Genêts",
                    VENUE.THEATRE,
                    "7 rue des Landes-Dorées",
                    "56100",
                    "Lorient",
                    "47.748000",
                    "-3.370000",
                    (HallSpec("Salle des Genêts", 340, None, 4),),
                ),
                VenueSpec(
                    "Esplanade des Embruns",
                    VENUE.OPEN_AIR,
                    "Esplanade des Embruns",
                    "56100",
                    "Lorient",
                    "47.744000",
                    "-3.358000",
                    (HallSpec("Esplanade", None, 1200, 10),),
                ),
            ),
            shows=(
                HostedShow("avare", "L'Avare", D.THEATRE, 7, 12, "Salle des Genêts", duration=120),
                HostedShow("chants-de-marins", "Chants de marins", D.MUSIC, 2, 1, "Salle des Genêts", duration=90),
                HostedShow("courants", "Courants", D.DANCE, 3, 2, "Salle des Genêts", duration=60),
                HostedShow("le-cid", "Le Cid", D.THEATRE, 5, 3, "Salle des Genêts", duration=125),
                HostedShow("parade", "La Parade des embruns", D.STREET_ARTS, 3, 6, "Esplanade", duration=60),
            ),
        ),
    ),
}


def hosted_id(seed: int, profile: str, kind: str, key: str) -> uuid.UUID:
    """The deterministic id of a hosted structure's record (`demo_uuid` under a "hosted:" key)."""
    return demo_data.demo_uuid(seed, profile, kind, f"hosted:{key}")


def hosted_organisation_ids(profile: str, seed: int = 42) -> list[uuid.UUID]:
    """The ids of the structures `profile`'s node hosts (whether they exist yet or not)."""
    return [hosted_id(seed, profile, "organisation", spec.key) for spec in HOSTED_STRUCTURES.get(profile, ())]


def _start_hour(show: HostedShow, day: dt.date, index: int) -> tuple[int, int]:
    if show.audience == Y and day.weekday() in (1, 3, 4):
        return (10, 0) if index % 2 == 0 else (14, 30)  # school performances
    if show.audience == Y:
        return 15, 0  # families, Wednesdays and weekends
    if show.discipline == D.STREET_ARTS:
        return 17, 0
    if day.weekday() == 6:
        return 16, 0
    return (20, 30) if show.discipline == D.MUSIC else (20, 0)


def _plan(spec: HostedStructure, seed: int, profile: str) -> list[tuple[HostedShow, str, dt.datetime]]:
    """(show, hall name, start) of every performance of the structure, deterministic in the seed."""
    rng = random.Random(f"demo-hosted:{seed}:{profile}:{spec.key}")  # noqa: S311 - demo data, not crypto
    occupied: set[tuple[str, dt.date]] = set()
    plans: list[tuple[HostedShow, str, dt.datetime]] = []
    for show in spec.shows:
        year = 2026 if show.month >= 9 else 2027
        day = dt.date(year, show.month, rng.randint(2, 12))
        count = 0
        while count < show.performances and day <= demo_data.SEASON_END:
            if day.weekday() == 0 or (show.hall, day) in occupied:  # Monday: relâche
                day += dt.timedelta(days=1)
                continue
            occupied.add((show.hall, day))
            hour, minute = _start_hour(show, day, count)
            plans.append(
                (show, show.hall, dt.datetime(day.year, day.month, day.day, hour, minute, tzinfo=demo_data.PARIS))
            )
            count += 1
            day += dt.timedelta(days=1)
    return sorted(plans, key=lambda plan: (plan[2], plan[0].key))


def _seed_hosted(spec: HostedStructure, seed: int, profile: str) -> Organisation:
    def uid(kind: str, key: str) -> uuid.UUID:
        return hosted_id(seed, profile, kind, f"{spec.key}:{key}")

    organisation = get_or_create_record(
        Organisation,
        hosted_id(seed, profile, "organisation", spec.key),
        name=spec.name,
        legal_name=spec.legal_name,
        kind=spec.kind,
        siret=demo_data.demo_siret(seed, f"{profile}:hosted:{spec.key}"),
        legal_status=spec.legal_status,
        label=spec.label,
        disciplines=sorted({show.discipline for show in spec.shows}),
        region=spec.region,
        departement=spec.departement,
        city=spec.city,
        postal_code=spec.postal_code,
        website=spec.website,
    )
    halls: dict[str, Hall] = {}
    for index, vs in enumerate(spec.venues):
        venue = get_or_create_record(
            Venue,
            uid("venue", vs.name),
            owner=organisation,
            operator=organisation,
            name=vs.name,
            venue_type=vs.venue_type,
            siret=demo_data.demo_siret(seed, f"{profile}:hosted:{spec.key}:venue:{index}"),
            street_address=vs.street,
            postal_code=vs.postal_code,
            city=vs.city,
            departement=spec.departement,
            region=spec.region,
            latitude=Decimal(vs.lat),
            longitude=Decimal(vs.lon),
            website=spec.website,
        )
        for hs in vs.halls:
            configurations = [{"name": "frontale assise", "capacity": hs.seated}] if hs.seated else []
            if hs.standing:
                configurations.append({"name": "debout", "capacity": hs.standing})
            halls[hs.name] = get_or_create_record(
                Hall,
                uid("hall", f"{vs.name}/{hs.name}"),
                owner=organisation,
                venue=venue,
                name=hs.name,
                seated_capacity=hs.seated,
                standing_capacity=hs.standing,
                configurations=configurations,
                wheelchair_places=hs.wheelchair,
            )
    season = get_or_create_record(
        Season,
        uid("season", "2026-2027"),
        owner=organisation,
        name=f"Saison 2026-2027 — {spec.name}",
        kind=Season.Kind.SEASON,
        organiser=organisation,
        start_date=demo_data.SEASON_START,
        end_date=demo_data.SEASON_END,
    )
    productions: dict[str, Production] = {}
    for show in spec.shows:
        productions[show.key] = get_or_create_record(
            Production,
            uid("production", show.key),
            owner=organisation,
            producer=organisation,
            title=show.title,
            discipline=show.discipline,
            duration_minutes=show.duration,
            language="fr" if show.discipline == D.THEATRE else "",
            audience=show.audience,
            minimum_age=show.minimum_age,
            premiere_date=dt.date(2026 if show.month >= 9 else 2027, show.month, 1),
            description=f"{show.title} — production fictive de démonstration ({spec.name}).",
        )
    for index, (show, hall_name, start) in enumerate(_plan(spec, seed, profile)):
        hall = halls[hall_name]
        accessibility = [Performance.Accessibility.WHEELCHAIR] if hall.wheelchair_places else []
        if index % 7 == 3:
            accessibility.append(Performance.Accessibility.AUDIO_DESCRIPTION)
        get_or_create_record(
            Performance,
            uid("performance", f"{show.key}:{start.isoformat()}"),
            owner=organisation,
            production=productions[show.key],
            hall=hall,
            season=season,
            start=start,
            time_zone="Europe/Paris",
            status=Performance.Status.SCHEDULED,
            capacity=hall.seated_capacity or hall.standing_capacity,
            accessibility=accessibility,
            ticketing_url=f"{spec.website}/billetterie/{show.key}/{start:%Y%m%d-%H%M}",
        )
    return organisation


def seed_hosted_structures(profile: str, seed: int = 42) -> list[Organisation]:
    """The structures `profile`'s node hosts, with their venues, halls, season, productions and
    performances (created when missing; deterministic ids, so a second run changes nothing)."""
    with transaction.atomic():
        return [_seed_hosted(spec, seed, profile) for spec in HOSTED_STRUCTURES.get(profile, ())]


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


def seed_demo_ticketing(
    profile: str, *, seed: int = 42, until: dt.datetime | None = None, hosted: bool = True
) -> DemoTicketingReport:
    """Write the demo figures of a demo structure (`seed_demo --profile` must have run with the
    same seed) and, with `hosted`, of the structures its node hosts (created first when missing).
    `until` (default: the end of the season) keeps only performances started before it."""
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
    report = DemoTicketingReport(profile=profile, organisation=owner.name)
    with transaction.atomic():
        owners = [owner]
        if hosted:
            guests = seed_hosted_structures(profile, seed)
            owners += guests
            report.hosted = [guest.name for guest in guests]
        performances = list(
            Performance.objects.select_related("production", "hall", "hall__venue", "owner", "season")
            .filter(owner__in=owners, status__in=PLAYED, start__gte=season_start, start__lt=end)
            .order_by("start", "id")
        )
        by_owner: dict[uuid.UUID, list[Performance]] = defaultdict(list)
        for performance in performances:
            by_owner[performance.owner_id].append(performance)
        for organisation in owners:
            for external_id, members in _groups(by_owner[organisation.pk]):
                if any(services.performance_capacity(p) is None for p in members):
                    report.skipped["no_capacity"] = report.skipped.get("no_capacity", 0) + 1
                    continue
                _figures, outcome = services.record_figures(demo_figures(members, external_id))
                setattr(report, outcome, getattr(report, outcome) + 1)
                report.performances += len(members)
                report.series += 1 if len(members) > 1 else 0
    return report


# ---------------------------------------------------------------------------- what the ministry may aggregate


@dataclass
class DemoApprovalsReport:
    profile: str
    ministry: str
    agreements: int = 0
    approvals: int = 0
    #: Structures counted at once (standing approval) and those whose administrator approves.
    standing: list[str] = field(default_factory=list)
    by_administrator: list[str] = field(default_factory=list)
    administrator: str = ""


AGREEMENT_DATASET = "performance"
AGREEMENT_PURPOSES = ("reporting",)
STANDING_NOTE_OWN = (
    "Approbation permanente de démonstration : les demandes d'agrégats du ministère sont servies sans attendre."
)
STANDING_NOTE_HOSTED = (
    "Approbation permanente donnée lors de l'hébergement de la structure sur ce nœud (démo, fictive) : "
    "les demandes d'agrégats du ministère sont servies sans attendre."
)
#: Whether the node's own structure has a standing approval (else its administrator approves each campaign).
OWN_STANDING_APPROVAL = {"structure-a": True, "structure-b": False}


def _demo_administrator() -> Any:
    administrator = get_user_model()._default_manager.filter(username="admin", is_superuser=True).first()
    if administrator is None:
        raise DemoTicketingError("run demo_account first: no administrator 'admin' on this node")
    return administrator


def seed_demo_approvals(
    profile: str, *, ministry: str, seed: int = 42, now: dt.datetime | None = None
) -> DemoApprovalsReport:
    """What lets the ministry's node `ministry` (base URL) aggregate this node's demo figures.

    * each hosted structure signs one agreement: dataset `performance`, grantee `ministry` bound to
      that node, purpose `reporting` (the node's own structure shares its datasets with the
      federation already, `sign_demo_agreements`) — nothing that the registry's replication or
      search could use;
    * standing approvals for that node: every structure on structure-a; the hosted ones only on
      structure-b, whose own structure's administrator approves each campaign;
    * the demo account `admin` (the node's operator) is made administrator (`StaffMembership`) of
      every structure the node holds — the hosted ones leave their administration to the node's
      operator, as small structures do with their vendor — so that it gives their standing
      approvals (`partials.give_standing_approval`, journaled) and approves structure-b's requests.

    Once only: what exists already (even revoked since, in the admin) is left as it is.
    """
    from dataspace.consent.agreements import sign_agreement
    from dataspace.consent.models import Agreement
    from dataspace.indicators.partials import give_standing_approval
    from dataspace.node.models import StaffMembership
    from policies.pdp import node_day

    if profile not in demo_data.STRUCTURE_PROFILES:
        raise DemoTicketingError(f"unknown profile {profile!r}: only {', '.join(demo_data.STRUCTURE_PROFILES)}")
    ministry = ministry.strip().rstrip("/")
    if not ministry.startswith(("http://", "https://")):
        raise DemoTicketingError(f"--ministry {ministry!r}: the ministry node's base URL (http(s)://…) is expected")
    owner = Organisation.objects.filter(pk=demo_data.demo_uuid(seed, profile, "organisation", "self")).first()
    if owner is None:
        raise DemoTicketingError(
            f"no demo data of {profile} (seed {seed}) on this node: run `seed_demo --profile {profile}` first"
        )
    guests = list(Organisation.objects.filter(pk__in=hosted_organisation_ids(profile, seed)).order_by("name"))
    if len(guests) != len(HOSTED_STRUCTURES[profile]):
        raise DemoTicketingError(
            f"the hosted structures are missing: run `seed_demo_ticketing --profile {profile}` first"
        )
    administrator = _demo_administrator()
    report = DemoApprovalsReport(profile=profile, ministry=ministry, administrator=administrator.get_username())
    moment = now or dt.datetime.now(dt.UTC)
    with transaction.atomic():
        for organisation in (owner, *guests):
            StaffMembership.objects.get_or_create(
                user=administrator, organisation=organisation, defaults={"role": StaffMembership.Role.ADMINISTRATOR}
            )
        for guest in guests:
            if Agreement.objects.filter(
                owner=guest, target_type=AGREEMENT_DATASET, grantee=Agreement.Grantee.MINISTRY, grantee_node=ministry
            ).exists():
                continue
            sign_agreement(
                owner=guest,
                target_type=AGREEMENT_DATASET,
                grantee=Agreement.Grantee.MINISTRY,
                grantee_node=ministry,
                purposes=list(AGREEMENT_PURPOSES),
                valid_from=node_day(moment),
                signed_by=administrator,
                now=moment,
            )
            report.agreements += 1
        standing = [(guest, STANDING_NOTE_HOSTED) for guest in guests]
        if OWN_STANDING_APPROVAL[profile]:
            standing.insert(0, (owner, STANDING_NOTE_OWN))
        else:
            report.by_administrator.append(owner.name)
        for organisation, note in standing:
            report.standing.append(organisation.name)
            if StandingApproval.objects.filter(owner=organisation, ministry=ministry).exists():
                continue
            give_standing_approval(organisation, by=administrator, ministry=ministry, note=note, now=moment)
            report.approvals += 1
    return report


# ---------------------------------------------------------------------------- the ministry's demo campaign

DEMO_CAMPAIGN_TITLE = "Fréquentation et recettes — saison 2026-2027 (démo)"
DEMO_CAMPAIGN_INDICATORS = ("attendance", "receipts", "average_price", "fill_rate", "performances")
DEMO_CAMPAIGN_DIMENSIONS = ("discipline", "region")


def _quarter_bounds(day: dt.date) -> tuple[dt.date, dt.date]:
    first_month = 3 * ((day.month - 1) // 3) + 1
    start = dt.date(day.year, first_month, 1)
    following = dt.date(day.year + 1, 1, 1) if first_month == 10 else dt.date(day.year, first_month + 3, 1)
    return start, following - dt.timedelta(days=1)


def demo_campaign_period(definitions: list[Any]) -> tuple[dt.date, dt.date]:
    """The season (2026-09-01 → 2027-06-30) when every definition's period rule allows it, else
    the whole quarters that cover it (a quarter rule: 2026-07-01 → 2027-06-30)."""
    from dataspace.indicators.catalogue import allowed_period

    start, end = demo_data.SEASON_START, demo_data.SEASON_END
    if all(allowed_period(definition, start, end) for definition in definitions):
        return start, end
    start, end = _quarter_bounds(start)[0], _quarter_bounds(end)[1]
    if not all(allowed_period(definition, start, end) for definition in definitions):
        raise DemoTicketingError(f"no period around the season fits every indicator's period rule ({start} → {end})")
    return start, end


def seed_demo_campaign(*, by: Any = None) -> tuple[Any, bool]:
    """(ministry node) The demo's ready-to-launch campaign (`DEMO_CAMPAIGN_TITLE`, draft) and
    whether it was created: attendance, receipts, average price, fill rate and number of
    performances (their current catalogue versions) by discipline × region over the 2026-2027
    season, made by `campaigns.create_campaign`. Idempotent: a campaign with that title, whatever
    its state, is left as it is. Raises DemoTicketingError when the node is not the ministry's,
    the catalogue is not seeded or the engine refuses the campaign."""
    from django.core.exceptions import ValidationError

    from dataspace.indicators import campaigns, catalogue
    from dataspace.indicators.models import Campaign

    if not catalogue.is_ministry_node():
        raise DemoTicketingError(
            "ce nœud n'a pas le rôle « ministry » (NODE_ROLES) : les campagnes sont celles du nœud du ministère"
        )
    existing = Campaign.objects.filter(title=DEMO_CAMPAIGN_TITLE).order_by("created_at").first()
    if existing is not None:
        return existing, False
    definitions = []
    for code in DEMO_CAMPAIGN_INDICATORS:
        definition = catalogue.current_definition(code)
        if definition is None:
            raise DemoTicketingError(f"no current definition of {code!r}: run `seed_indicator_catalogue` first")
        definitions.append(definition)
    start, end = demo_campaign_period(definitions)
    try:
        campaign = campaigns.create_campaign(
            title=DEMO_CAMPAIGN_TITLE,
            indicators=list(DEMO_CAMPAIGN_INDICATORS),
            period_start=start,
            period_end=end,
            # the breakdowns every indicator offers (all of them, with the built-in catalogue)
            dimensions=[name for name in DEMO_CAMPAIGN_DIMENSIONS if all(name in d.dimensions for d in definitions)],
            by=by,
        )
    except ValidationError as exc:
        raise DemoTicketingError(f"the demo campaign is refused: {exc.message_dict}") from exc
    return campaign, True
