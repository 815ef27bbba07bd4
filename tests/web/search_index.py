"""Rows of the registry's federation index for the search page's tests (fictitious data only).

`IndexRows(origin)` writes `federation.models.IndexedRecord` rows directly — the representation a
member's change feed serves (`data`), the owner, the version, a person's consent scope — with the
facet columns `federation.index.facets` computes from it, as replication stores them. The page is
then tested against the real `federation.search.search` over these rows.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from typing import Any

from django.utils import timezone

from federation import index
from federation.models import IndexedAvailability, IndexedRecord, Peer, SyncState

FIXED = "2026-11-30T10:00:00Z"


@dataclasses.dataclass
class IndexRows:
    """One member node's records in the registry's index."""

    origin: str
    related: index.Related = dataclasses.field(default_factory=index.Related)

    def uri(self, record_type: str, record_id: uuid.UUID | str) -> str:
        return index.record_uri(self.origin, record_type, record_id)

    def add(
        self,
        record_type: str,
        data: dict[str, Any],
        *,
        owner: uuid.UUID | None,
        record_id: uuid.UUID | None = None,
        expires_at: dt.datetime | None = None,
    ) -> uuid.UUID:
        ident = record_id or uuid.uuid4()
        uri = self.uri(record_type, ident)
        record = {
            "id": str(ident),
            "uri": uri,
            "version": 1,
            "owner": str(owner) if owner else None,
            "origin": self.origin,
            "same_as": [],
            "created_at": FIXED,
            "updated_at": FIXED,
            **data,
        }
        columns = index.facets(record_type, record, self.related)
        windows = columns.pop("availability")
        consent: dict[str, Any] = {}
        if record_type == "directory-entry":
            block = record["consent"]
            consent = {"fields": block["fields"], "purposes": block["purposes"], "expires_at": block["expires_at"]}
        owner_facts = self.related.organisations.get(str(owner), index.OrganisationFacts()) if owner else None
        row = IndexedRecord.objects.create(
            uri=uri,
            origin=self.origin,
            record_type=record_type,
            record_id=ident,
            owner_id=owner,
            owner_uri=self.uri("organisation", owner) if owner else "",
            owner_name=owner_facts.name if owner_facts else "",
            version=1,
            data=record,
            consent=consent,
            expires_at=expires_at,
            changed_at=timezone.now(),
            **columns,
        )
        IndexedAvailability.objects.bulk_create(
            IndexedAvailability(record=row, start=start, end=end) for start, end in windows
        )
        return ident

    # ------------------------------------------------------------------ record types

    def organisation(self, name: str, *, siret: str = "", kind: str = "theatre", region: str = "Bretagne") -> uuid.UUID:
        ident = uuid.uuid4()
        self.related.organisations[str(ident)] = index.OrganisationFacts(name=name, siret=siret)
        data = {
            "name": name,
            "legal_name": "",
            "kind": kind,
            "siret": siret,
            "siren": siret[:9],
            "legal_status": "",
            "label": "",
            "disciplines": [],
            "region": region,
            "departement": "",
            "city": "",
            "postal_code": "",
            "website": "",
        }
        return self.add("organisation", data, owner=None, record_id=ident)

    def venue(self, owner: uuid.UUID, name: str, *, city: str, region: str, departement: str) -> uuid.UUID:
        ident = uuid.uuid4()
        self.related.venues[str(ident)] = index.VenueFacts(name=name, city=city, region=region, departement=departement)
        data = {
            "name": name,
            "venue_type": "theatre",
            "operator": str(owner),
            "siret": "",
            "street_address": "",
            "postal_code": "",
            "city": city,
            "departement": departement,
            "region": region,
            "country": "FR",
            "latitude": None,
            "longitude": None,
            "website": "",
            "halls": [],
        }
        return self.add("venue", data, owner=owner, record_id=ident)

    def hall(
        self, owner: uuid.UUID, venue: uuid.UUID, name: str, *, seated: int, proscenium: str, grid: str
    ) -> uuid.UUID:
        sheet = uuid.uuid4()
        self.related.sheets[str(sheet)] = index.sheet_dimensions(
            {"proscenium_opening_m": proscenium, "height_under_grid_m": grid, "stage_width_m": "12.00"}
        )
        hall = self.add(
            "hall",
            {
                "venue": str(venue),
                "name": name,
                "seated_capacity": seated,
                "standing_capacity": None,
                "configurations": [],
                "wheelchair_places": 4,
                "technical_sheet": str(sheet),
            },
            owner=owner,
        )
        self.add(
            "technical-sheet",
            {
                "hall": str(hall),
                "venue": str(venue),
                "stage_width_m": "12.00",
                "stage_depth_m": None,
                "proscenium_opening_m": proscenium,
                "height_under_grid_m": grid,
            },
            owner=owner,
            record_id=sheet,
        )
        return hall

    def production(self, owner: uuid.UUID, title: str, *, producer: uuid.UUID | None) -> uuid.UUID:
        ident = uuid.uuid4()
        self.related.productions[str(ident)] = index.ProductionFacts(title=title, discipline="theatre")
        data = {
            "title": title,
            "works": [],
            "producer": str(producer) if producer else None,
            "coproducers": [],
            "discipline": "theatre",
            "duration_minutes": 95,
            "language": "fr",
            "audience": "all",
            "minimum_age": None,
            "premiere_date": None,
            "original_production": None,
            "revivals": [],
            "contributions": [],
            "description": "Un spectacle fictif.",
            "technical_rider_url": "",
        }
        return self.add("production", data, owner=owner, record_id=ident)

    def performance(
        self, owner: uuid.UUID, production: uuid.UUID, hall: uuid.UUID, venue: uuid.UUID, start: str
    ) -> uuid.UUID:
        data = {
            "production": str(production),
            "hall": str(hall),
            "venue": str(venue),
            "season": None,
            "start": start,
            "time_zone": "Europe/Paris",
            "status": "scheduled",
            "previous_start": None,
            "capacity": 400,
            "accessibility": [],
            "ticketing_url": "",
        }
        return self.add("performance", data, owner=owner)

    def person(
        self,
        owner: uuid.UUID,
        display_name: str,
        *,
        trades: tuple[str, ...],
        region: str = "Bretagne",
        skills: tuple[str, ...] = (),
        availability: tuple[tuple[str, str], ...] = (),
    ) -> uuid.UUID:
        """A directory entry published with a consent (to the professional directory) for a year."""
        until = timezone.now() + dt.timedelta(days=365)
        fields = ["display_name", "trades", "skills", "languages", "region", "availability"]
        data = {
            "display_name": display_name,
            "trades": list(trades),
            "skills": list(skills),
            "languages": ["fr", "en"],
            "region": region,
            "availability": [{"start": start, "end": end} for start, end in availability],
            "consent": {
                "fields": fields,
                "purposes": ["professional_directory"],
                "expires_at": until.isoformat(),
            },
        }
        return self.add("directory-entry", data, owner=owner, expires_at=until)

    def policy(self, owner: uuid.UUID, target_type: str, templates: list[dict[str, Any]]) -> uuid.UUID:
        """An owner's dataset policy as its feed carries it (the plain form with canonical ODRL)."""
        from policies.odrl import to_odrl
        from policies.services import build_doc

        ident = uuid.uuid4()
        uri = self.uri("policy", ident)
        doc = dataclasses.replace(build_doc(templates=templates), uid=uri)
        owner_uri = self.uri("organisation", owner)
        data = {
            "title": "Politique fictive",
            "target_type": target_type,
            "target_id": None,
            "templates": [dict(template) for template in doc.templates],
            "odrl": to_odrl(doc, target=f"{owner_uri}/datasets/{target_type}", assigner=owner_uri),
            "valid_from": FIXED,
            "active": True,
        }
        return self.add("policy", data, owner=owner, record_id=ident)


def member(base_url: str, name: str, *, replicated: bool = True, error: str = "") -> Peer:
    """A structure node the registry trusts, and where its replication stands."""
    peer, _created = Peer.objects.update_or_create(
        base_url=base_url, defaults={"name": name, "roles": ["structure"], "jwks": {"keys": []}, "kids": []}
    )
    now = timezone.now()
    if replicated:
        success = now - dt.timedelta(hours=1) if error else now
        SyncState.objects.create(node=base_url, last_attempt_at=now, last_success_at=success, last_error=error)
    return peer


def two_members() -> dict[str, Any]:
    """Scène A (Rennes) and Scène B (Lyon): people, a touring show on both, a hall, policies."""
    a, b = IndexRows("https://scene-a.example"), IndexRows("https://scene-b.example")
    theatre = a.organisation("Théâtre du Fictif", siret="44306184100047")
    producer_a = a.organisation("Compagnie des Songes", siret="73282932000074", kind="company")
    venue_a = a.venue(theatre, "Grand Théâtre", city="Rennes", region="Bretagne", departement="35")
    hall_a = a.hall(theatre, venue_a, "Grande salle", seated=800, proscenium="12.50", grid="18.00")
    show_a = a.production(theatre, "Le Songe d'une nuit d'été", producer=producer_a)
    a.performance(theatre, show_a, hall_a, venue_a, "2027-03-10T20:30:00+01:00")
    a.performance(theatre, show_a, hall_a, venue_a, "2027-03-11T20:30:00+01:00")
    eloise = a.person(
        theatre,
        "Éloïse Lumière",
        trades=("regisseur_lumiere",),
        skills=("Console GrandMA",),
        availability=(("2027-03-01", "2027-03-31"),),
    )
    a.person(theatre, "Jérôme Plateau", trades=("machiniste",))
    festival = b.organisation("Festival d'Été", siret="55208131766522", kind="festival", region="Auvergne-Rhône-Alpes")
    producer_b = b.organisation("Compagnie des Songes", siret="73282932000074", kind="company")
    venue_b = b.venue(festival, "Salle des Fêtes", city="Lyon", region="Auvergne-Rhône-Alpes", departement="69")
    hall_b = b.hall(festival, venue_b, "Petite salle", seated=200, proscenium="9.00", grid="11.00")
    show_b = b.production(festival, "Le songe d’une nuit d’ÉTÉ", producer=producer_b)
    b.performance(festival, show_b, hall_b, venue_b, "2027-05-02T21:00:00+02:00")
    # Festival d'Été's halls are public but its name must be cited; its people are none of ours.
    b.policy(festival, "hall", [{"name": "public"}])
    return {"a": a, "b": b, "eloise": eloise, "show_a": show_a, "show_b": show_b, "festival": festival}
