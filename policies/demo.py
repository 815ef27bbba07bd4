"""Usage policies of the demo federation (FICTITIOUS data), run by `seed_demo_policies`.

* Structure nodes: each structure keeps its programme public (the default) and reserves its
  technical sheets to licensed professionals (any category), without redistribution.
* Registry: a small company without a node of its own, **hosted** at the registry — its vendor
  deposits its data there (the DMP pattern: vendors deposit, licensed professionals read). Its
  technical sheets are for licensed presenters and producers (categories 2 and 3) for programming
  or touring, its productions for any licensed professional, its programme public; the sheet of its
  rehearsal studio is hidden. This gives the registry's demo professionals something to read (or
  to be refused) before federation replicates the structures' data (issue 6).

Deterministic (UUIDs from uuid5) and idempotent: a second run changes nothing.
"""

from __future__ import annotations

import datetime as dt
import uuid
import zoneinfo
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db import transaction

from dataspace.node.services import current_identity
from dataspace.referentials import models as m
from dataspace.referentials.demo_data import STRUCTURE_PROFILES, demo_siret
from policies.controls import hide_record
from policies.models import HiddenRecord, Policy
from policies.services import save_policy

PARIS = zoneinfo.ZoneInfo("Europe/Paris")
NAMESPACE = uuid.UUID("6f1c1a52-0d7e-4d3c-9a57-1f6a2f0c9e11")

#: The structure hosted at the registry, and its administrator's demo account.
HOSTED_STRUCTURE = "Compagnie des Songes partagés (hébergée, démo)"
HOSTED_ADMIN = "songes-admin"

STRUCTURE_POLICIES: tuple[tuple[str, str, list[dict[str, Any]]], ...] = (
    (
        "technical-sheet",
        "Fiches techniques réservées aux professionnels licenciés",
        [{"name": "licensed_only"}, {"name": "no_redistribution"}],
    ),
)

HOSTED_POLICIES: tuple[tuple[str, str, list[dict[str, Any]]], ...] = (
    (
        "technical-sheet",
        "Fiches techniques : diffuseurs et producteurs licenciés, pour programmer ou tourner",
        [
            {"name": "licensed_only", "categories": [2, 3]},
            {"name": "purpose_limited", "purposes": ["programming", "touring"]},
            {"name": "no_redistribution"},
        ],
    ),
    (
        "production",
        "Spectacles : professionnels licenciés",
        [
            {"name": "licensed_only"},
            {"name": "purpose_limited", "purposes": ["programming", "touring", "contracting"]},
        ],
    ),
)


@dataclass(frozen=True)
class DemoPoliciesReport:
    profile: str
    policies: int
    created: int


def uid(kind: str, key: str) -> uuid.UUID:
    return uuid.uuid5(NAMESPACE, f"{kind}:{key}")


def get_or_create_record(model: type[Any], pk: uuid.UUID, **fields: Any) -> Any:
    """The record `pk`, created (validated, versioned, in the change log) when missing."""
    existing = model.objects.filter(pk=pk).first()
    if existing is not None:
        return existing
    record = model(id=pk, **fields)
    record.full_clean()
    record.save()
    return record


def seed_hosted_structure() -> m.Organisation:
    """The hosted company's records on the registry node (created once)."""
    company = get_or_create_record(
        m.Organisation,
        uid("organisation", "songes"),
        name=HOSTED_STRUCTURE,
        legal_name="Association Compagnie des Songes partagés (fictive)",
        kind=m.Organisation.Kind.COMPANY,
        siret=demo_siret(42, "hosted:songes"),
        legal_status="Association loi 1901",
        disciplines=["theatre", "circus"],
        region="Occitanie",
        departement="31",
        city="Toulouse",
        postal_code="31000",
        website="https://songes-partages.example",
    )
    venue = get_or_create_record(
        m.Venue,
        uid("venue", "friche"),
        owner=company,
        operator=company,
        name="La Friche des Songes",
        venue_type=m.Venue.VenueType.NON_DEDICATED,
        street_address="8 impasse des Rêveries",
        postal_code="31000",
        city="Toulouse",
        departement="31",
        region="Occitanie",
        latitude=Decimal("43.604700"),
        longitude=Decimal("1.444200"),
    )
    halls = {
        "nef": get_or_create_record(
            m.Hall, uid("hall", "nef"), owner=company, venue=venue, name="La Nef", seated_capacity=280
        ),
        "studio": get_or_create_record(
            m.Hall, uid("hall", "studio"), owner=company, venue=venue, name="Studio de répétition", seated_capacity=40
        ),
    }
    sheets = {
        "nef": ("15.00", "12.00", "12.00", "11.50", 18, 300),
        "studio": ("9.00", "8.00", "8.00", "5.00", 4, 150),
    }
    for key, (width, depth, opening, grid, bars, load) in sheets.items():
        get_or_create_record(
            m.TechnicalSheet,
            uid("technical-sheet", key),
            owner=company,
            hall=halls[key],
            stage_width_m=Decimal(width),
            stage_depth_m=Decimal(depth),
            proscenium_opening_m=Decimal(opening),
            height_under_grid_m=Decimal(grid),
            flying_bars=bars,
            flying_bar_max_load_kg=load,
            notes="Fiche fictive déposée par l'éditeur de la compagnie.",
        )
    production = get_or_create_record(
        m.Production,
        uid("production", "songes"),
        owner=company,
        producer=company,
        title="Les Songes partagés",
        discipline=m.Discipline.CIRCUS,
        duration_minutes=75,
        description="Spectacle de cirque fictif, en tournée 2027.",
    )
    for day in (dt.date(2027, 2, 11), dt.date(2027, 2, 12), dt.date(2027, 2, 13)):
        get_or_create_record(
            m.Performance,
            uid("performance", day.isoformat()),
            owner=company,
            production=production,
            hall=halls["nef"],
            start=dt.datetime(day.year, day.month, day.day, 20, 30, tzinfo=PARIS),
            status=m.Performance.Status.SCHEDULED,
            capacity=280,
        )
    return company


def _ensure_policy(owner: m.Organisation, target_type: str, title: str, templates: list[dict[str, Any]]) -> bool:
    current = Policy.objects.filter(owner=owner, target_type=target_type, target_id=None, active=True).first()
    if current is not None and current.templates == templates:
        return False
    save_policy(owner=owner, target_type=target_type, templates=templates, title=title)
    return True


def seed_demo_policies(profile: str) -> DemoPoliciesReport:
    """The demo policies of one demo node (see the module docstring)."""
    created = 0
    with transaction.atomic():
        if profile in STRUCTURE_PROFILES:
            identity = current_identity()
            if identity is None or identity.organisation is None:
                raise ValueError("run seed_demo first: the node has no operating structure")
            specs = STRUCTURE_POLICIES
            owner = identity.organisation
        elif profile == "registry":
            owner = seed_hosted_structure()
            specs = HOSTED_POLICIES
        else:
            return DemoPoliciesReport(profile=profile, policies=0, created=0)
        for target_type, title, templates in specs:
            created += _ensure_policy(owner, target_type, title, templates)
        if (
            profile == "registry"
            and not HiddenRecord.objects.filter(target_id=uid("technical-sheet", "studio")).exists()
        ):
            hide_record(owner, "technical-sheet", uid("technical-sheet", "studio"))
            created += 1
    return DemoPoliciesReport(profile=profile, policies=len(specs), created=created)
