"""Test data of the federated search: other nodes' records as their change feeds serve them.

`FeedNode(base_url)` builds change-feed entries (`/api/v1/changes` form: op, type, id, uuid,
version, owner, changed_at, record) whose `record` has the members the node's serializers give
(dataspace.referentials.api.serializers, the directory's consent-built representation with its
`consent` block, the plain form of a policy with its ODRL document), and `publish()` applies them
to this node's index through the replication's own `apply_changes` — the same path a real pull
takes. Fictitious data only.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from typing import Any

from django.utils import timezone

FIXED = "2026-11-30T10:00:00Z"


def iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


@dataclasses.dataclass
class FeedNode:
    """A member node seen through its change feed (see the module docstring)."""

    base_url: str
    entries: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    versions: dict[str, int] = dataclasses.field(default_factory=dict)

    def uri(self, record_type: str, record_id: uuid.UUID | str) -> str:
        return f"{self.base_url}/id/{record_type}/{record_id}"

    def add(
        self,
        record_type: str,
        data: dict[str, Any],
        *,
        owner: uuid.UUID | None,
        record_id: uuid.UUID | None = None,
        version: int | None = None,
    ) -> uuid.UUID:
        ident = record_id or uuid.uuid4()
        uri = self.uri(record_type, ident)
        number = version if version is not None else self.versions.get(uri, 0) + 1
        self.versions[uri] = number
        record = {
            "id": str(ident),
            "uri": uri,
            "version": number,
            "owner": str(owner) if owner else None,
            "origin": self.base_url,
            "same_as": [],
            "created_at": FIXED,
            "updated_at": FIXED,
            **data,
        }
        self.entries.append(
            {
                "op": "upsert",
                "type": record_type,
                "id": uri,
                "uuid": str(ident),
                "version": number,
                "owner": str(owner) if owner else None,
                "changed_at": FIXED,
                "record": record,
            }
        )
        return ident

    def delete(self, record_type: str, record_id: uuid.UUID, *, owner: uuid.UUID | None) -> None:
        uri = self.uri(record_type, record_id)
        number = self.versions.get(uri, 0) + 1
        self.versions[uri] = number
        self.entries.append(
            {
                "op": "delete",
                "type": record_type,
                "id": uri,
                "uuid": str(record_id),
                "version": number,
                "owner": str(owner) if owner else None,
                "changed_at": iso(timezone.now()),
                "record": None,
            }
        )

    def publish(self) -> Any:
        from federation.replication import apply_changes

        entries, self.entries = self.entries, []
        return apply_changes(self.base_url, entries)

    # ------------------------------------------------------------------ record types

    def organisation(
        self,
        name: str,
        *,
        siret: str = "",
        kind: str = "theatre",
        region: str = "Bretagne",
        departement: str = "35",
        disciplines: tuple[str, ...] = (),
    ) -> uuid.UUID:
        ident = uuid.uuid4()
        return self.add(
            "organisation",
            {
                "name": name,
                "legal_name": "",
                "kind": kind,
                "siret": siret,
                "siren": siret[:9],
                "legal_status": "",
                "label": "",
                "disciplines": list(disciplines),
                "region": region,
                "departement": departement,
                "city": "",
                "postal_code": "",
                "website": "",
            },
            owner=None,
            record_id=ident,
        )

    def venue(
        self,
        owner: uuid.UUID,
        name: str,
        *,
        city: str,
        region: str,
        departement: str,
        venue_type: str = "theatre",
    ) -> uuid.UUID:
        return self.add(
            "venue",
            {
                "name": name,
                "venue_type": venue_type,
                "operator": str(owner),
                "siret": "",
                "street_address": "1 rue de l'Exemple",
                "postal_code": "",
                "city": city,
                "departement": departement,
                "region": region,
                "country": "FR",
                "latitude": None,
                "longitude": None,
                "website": "",
                "halls": [],
            },
            owner=owner,
        )

    def hall(
        self, owner: uuid.UUID, venue: uuid.UUID, name: str, *, seated: int, sheet: uuid.UUID | None = None
    ) -> uuid.UUID:
        return self.add(
            "hall",
            {
                "venue": str(venue),
                "name": name,
                "seated_capacity": seated,
                "standing_capacity": None,
                "configurations": [],
                "wheelchair_places": 4,
                "technical_sheet": str(sheet) if sheet else None,
            },
            owner=owner,
        )

    def sheet(
        self,
        owner: uuid.UUID,
        hall: uuid.UUID,
        venue: uuid.UUID,
        *,
        proscenium: str,
        grid: str,
        width: str = "12.00",
        depth: str = "10.00",
        record_id: uuid.UUID | None = None,
    ) -> uuid.UUID:
        return self.add(
            "technical-sheet",
            {
                "hall": str(hall),
                "venue": str(venue),
                "stage_width_m": width,
                "stage_depth_m": depth,
                "proscenium_opening_m": proscenium,
                "proscenium_height_m": "7.00",
                "height_under_grid_m": grid,
                "flying_bars": 30,
                "flying_bar_max_load_kg": 250,
                "stage_power_kva": None,
                "lighting_power_kva": None,
                "sound_power_kva": None,
                "floor": "plancher noir",
                "dressing_rooms": 4,
                "get_in": "",
                "get_in_door_width_m": None,
                "get_in_door_height_m": None,
                "notes": "",
                "documents": [],
            },
            owner=owner,
            record_id=record_id,
        )

    def production(
        self, owner: uuid.UUID, title: str, *, producer: uuid.UUID | None, discipline: str = "theatre"
    ) -> uuid.UUID:
        return self.add(
            "production",
            {
                "title": title,
                "works": [],
                "producer": str(producer) if producer else None,
                "coproducers": [],
                "discipline": discipline,
                "duration_minutes": 90,
                "language": "fr",
                "audience": "all",
                "minimum_age": None,
                "premiere_date": None,
                "original_production": None,
                "revivals": [],
                "contributions": [],
                "description": "Un spectacle fictif.",
                "technical_rider_url": "",
            },
            owner=owner,
        )

    def performance(
        self, owner: uuid.UUID, production: uuid.UUID, hall: uuid.UUID, venue: uuid.UUID, start: str
    ) -> uuid.UUID:
        return self.add(
            "performance",
            {
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
            },
            owner=owner,
        )

    def person(
        self,
        owner: uuid.UUID,
        display_name: str,
        *,
        trades: tuple[str, ...] = (),
        skills: tuple[str, ...] = (),
        languages: tuple[str, ...] = ("fr",),
        region: str = "Bretagne",
        availability: tuple[tuple[str, str], ...] = (),
        purposes: tuple[str, ...] = ("professional_directory",),
        expires_at: str | None = None,
        record_id: uuid.UUID | None = None,
    ) -> uuid.UUID:
        """A directory entry published with a consent covering every field shown."""
        fields = ["display_name", "trades", "skills", "languages", "region", "availability"]
        return self.add(
            "directory-entry",
            {
                "display_name": display_name,
                "trades": list(trades),
                "skills": list(skills),
                "languages": list(languages),
                "region": region,
                "availability": [{"start": start, "end": end} for start, end in availability],
                "consent": {"fields": fields, "purposes": list(purposes), "expires_at": expires_at},
            },
            owner=owner,
            record_id=record_id,
        )

    def policy(
        self,
        owner: uuid.UUID,
        target_type: str,
        templates: list[dict[str, Any]],
        *,
        target_id: uuid.UUID | None = None,
        odrl: dict[str, Any] | None = None,
    ) -> uuid.UUID:
        """An owner's policy as its feed carries it (the plain representation, canonical ODRL)."""
        from policies.odrl import to_odrl
        from policies.services import build_doc

        ident = uuid.uuid4()
        uri = self.uri("policy", ident)
        doc = dataclasses.replace(build_doc(templates=templates), uid=uri)
        owner_uri = self.uri("organisation", owner)
        target = self.uri(target_type, target_id) if target_id else f"{owner_uri}/datasets/{target_type}"
        return self.add(
            "policy",
            {
                "title": "Politique fictive",
                "target_type": target_type,
                "target_id": str(target_id) if target_id else None,
                "templates": [dict(t) for t in doc.templates],
                "odrl": odrl if odrl is not None else to_odrl(doc, target=target, assigner=owner_uri),
                "valid_from": FIXED,
                "active": True,
            },
            owner=owner,
            record_id=ident,
        )
