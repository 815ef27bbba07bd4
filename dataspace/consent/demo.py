"""Persons, consents and contacts of the demo federation (FICTITIOUS people), `seed_demo_consents`.

* Registry: the company hosted there (policies/demo.py) holds the directory entries of four people
  who have accounts on the node (`kind: person` in nodes.json): two published with a consent (one
  shows its contact email, the other only its trades and region), one never consented, one who
  consented and then withdrew (a tombstone in the change feed, an outbox notice).
* Structures: data-sharing agreements with the federation, signed by the node's administrator, for
  the programme, venues, technical sheets and the directory (so that the registry may replicate
  them); two directory entries recorded on paper by the structure (no account): one published,
  one withdrawn — its withdrawal wrote an outbox notice to the registry (`FEDERATION_REGISTRY_URL`);
  and a handful of private contacts (spectators, press, an agent) with mixed marketing
  consents (newsletter, season offers, one withdrawn) — for the CRM's "who may I write to".

Deterministic (uuid5) and idempotent: a second run changes nothing.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction

from dataspace.audit.services import Actor
from dataspace.consent import services as consent
from dataspace.consent.models import ConsentRecord
from dataspace.contacts.models import Contact
from dataspace.contacts.services import create_contact, record_contact_consent, withdraw_contact_consent
from dataspace.directory.models import DirectoryEntry
from dataspace.directory.services import entry_fields
from dataspace.node.services import current_identity
from dataspace.referentials.demo_data import STRUCTURE_PROFILES
from dataspace.referentials.models import Organisation

NAMESPACE = uuid.UUID("0b7d0c55-9a86-4bd1-8d4a-2c11b0e1c6a4")
DIRECTORY_NOTICE = (
    "Fiche de l'annuaire professionnel (démo, fictive) : la structure publie les champs que vous choisissez, "
    "aux seuls professionnels titulaires d'une licence d'entrepreneur de spectacles en cours de validité, "
    "membres de la fédération Scène Commune. Chaque consultation est journalisée et vous est montrée sur "
    "votre portail (/moi/). Vous pouvez retirer votre consentement à tout moment."
)
CONTACT_NOTICE = (
    "Contacts de la structure (démo, fictive) : nous vous écrivons seulement pour les finalités que vous avez "
    "choisies (lettre d'information, offres de saison…), jamais à d'autres structures. Retrait à tout moment."
)


@dataclass(frozen=True)
class PersonSpec:
    username: str
    display_name: str
    trades: tuple[str, ...]
    skills: tuple[str, ...]
    region: str
    languages: tuple[str, ...]
    #: "published" (consent in force), "none" (never consented) or "withdrawn".
    consent: str
    fields: tuple[str, ...] = ()


#: The registry's demo persons; scripts/demo.py lists the same usernames (kind "person").
PERSONS: tuple[PersonSpec, ...] = (
    PersonSpec(
        "camille-artiste",
        "Camille Imaginaire",
        ("comedien", "metteur_en_scene"),
        ("masque", "alexandrin", "théâtre d'objets"),
        "Occitanie",
        ("fr", "en"),
        "published",
        ("display_name", "trades", "skills", "languages", "region", "contact_email"),
    ),
    PersonSpec(
        "nour-technicienne",
        "Nour Fictive",
        ("regisseur_lumiere", "regisseur_general"),
        ("console grandMA3", "accroche", "habilitation électrique"),
        "Occitanie",
        ("fr", "ar"),
        "published",
        ("display_name", "trades", "region"),
    ),
    PersonSpec(
        "sacha-sans-consentement",
        "Sacha Inventé",
        ("danseur",),
        ("contemporain",),
        "Occitanie",
        ("fr",),
        "none",
    ),
    PersonSpec(
        "lou-retrait",
        "Lou Songeuse",
        ("artiste_cirque",),
        ("fil", "acrobatie"),
        "Occitanie",
        ("fr", "es"),
        "withdrawn",
        ("display_name", "trades", "skills", "region"),
    ),
)

#: Directory entries a structure recorded on paper (no account): (key, name, trades, region, consent state).
STRUCTURE_ENTRIES: tuple[tuple[str, str, tuple[str, ...], str], ...] = (
    ("jules", "Jules Fictif", ("musicien", "chanteur"), "published"),
    ("ines", "Inès Retirée", ("costumier",), "withdrawn"),
)

#: Contacts of each structure: (key, kind, given, family, purposes consented, purposes withdrawn).
CONTACTS: tuple[tuple[str, str, str, str, tuple[str, ...], tuple[str, ...]], ...] = (
    ("abonnee", "spectator", "Ariane", "Spectatrice", ("newsletter", "season_offers"), ()),
    ("curieux", "spectator", "Basile", "Curieux", ("newsletter",), ()),
    ("discret", "spectator", "Céleste", "Discrète", (), ()),
    ("ancienne", "spectator", "Daphné", "Partie", ("newsletter",), ("newsletter",)),
    ("journaliste", "press", "Élie", "Chroniqueur", ("event_invitations",), ()),
    ("agent", "agent", "Fanny", "Agente", (), ()),
)


@dataclass(frozen=True)
class DemoConsentsReport:
    profile: str
    entries: int
    contacts: int


def uid(kind: str, key: str) -> uuid.UUID:
    return uuid.uuid5(NAMESPACE, f"{kind}:{key}")


def demo_email(username: str) -> str:
    return f"{username}@personnes.example"


def _notice(controller: Organisation, kind: str, text: str) -> Any:
    return consent.current_notice(controller, kind) or consent.publish_notice(
        controller=controller, kind=kind, version="2026-1", text=text
    )


def seed_persons(controller: Organisation, *, now: dt.datetime | None = None) -> int:
    """The registry's directory entries and their consents (accounts made by demo_account first)."""
    users = get_user_model()._default_manager
    notice = _notice(controller, "directory", DIRECTORY_NOTICE)
    categories = entry_fields()
    created = 0
    for spec in PERSONS:
        user = users.filter(username=spec.username).first()
        if user is None:
            raise ValueError(f"run demo_account first: no account {spec.username!r} on this node")
        if user.email != demo_email(spec.username):
            user.email = demo_email(spec.username)
            user.save(update_fields=["email"])
        entry = DirectoryEntry.objects.filter(pk=uid("entry", spec.username)).first()
        if entry is not None:
            continue
        entry = DirectoryEntry(
            id=uid("entry", spec.username),
            owner=controller,
            display_name=spec.display_name,
            trades=list(spec.trades),
            skills=list(spec.skills),
            languages=list(spec.languages),
            region=spec.region,
            contact_channel="email",
            contact_email=demo_email(spec.username),
            person_user=user,
        )
        entry.full_clean()
        entry.save()
        created += 1
        if spec.consent == "none":
            continue
        record = consent.grant_consent(
            controller=controller,
            target_type="directory-entry",
            target_id=entry.pk,
            purposes=["professional_directory"],
            data_categories=sorted({categories[name] for name in spec.fields}),
            fields=list(spec.fields),
            recipients=["licensed_professionals"],
            notice=notice,
            method=ConsentRecord.Method.WEB_FORM,
            subject_user=user,
            subject_email=demo_email(spec.username),
            now=now,
        )
        if spec.consent == "withdrawn":
            consent.withdraw_consent(record, by=user, note="retrait de démonstration", now=now)
    return created


def seed_structure_entries(owner: Organisation, *, now: dt.datetime | None = None) -> int:
    """Directory entries the structure recorded on paper, one of them withdrawn since."""
    notice = _notice(owner, "directory", DIRECTORY_NOTICE)
    fields = ["display_name", "trades", "region"]
    categories = entry_fields()
    created = 0
    for key, name, trades, state in STRUCTURE_ENTRIES:
        pk = uid(f"entry:{owner.pk}", key)
        if DirectoryEntry.objects.filter(pk=pk).exists():
            continue
        entry = DirectoryEntry(id=pk, owner=owner, display_name=name, trades=list(trades), region=owner.region)
        entry.full_clean()
        entry.save()
        created += 1
        record = consent.grant_consent(
            controller=owner,
            target_type="directory-entry",
            target_id=entry.pk,
            purposes=["professional_directory"],
            data_categories=sorted({categories[field] for field in fields}),
            fields=fields,
            recipients=["licensed_professionals"],
            notice=notice,
            method=ConsentRecord.Method.PAPER,
            now=now,
        )
        if state == "withdrawn":
            consent.withdraw_consent(record, note="retrait reçu par courrier (démo)", now=now)
    return created


def seed_contacts(owner: Organisation, *, now: dt.datetime | None = None) -> int:
    """Private contacts of a structure with mixed marketing consents."""
    notice = _notice(owner, "contact", CONTACT_NOTICE)
    actor = Actor(organisation_id=owner.pk, organisation_name=owner.name, client_id="seed_demo_consents")
    created = 0
    for key, kind, given, family, purposes, withdrawn in CONTACTS:
        pk = uid(f"contact:{owner.pk}", key)
        if Contact.objects.filter(pk=pk).exists():
            continue
        contact = create_contact(
            actor=actor,
            id=pk,
            owner=owner,
            kind=kind,
            given_name=given,
            family_name=family,
            email=f"{key}.{str(owner.pk)[:8]}@contacts.example",
            now=now,
        )
        created += 1
        if purposes:
            record_contact_consent(contact, purposes=purposes, notice=notice, method="paper", now=now)
        for purpose in withdrawn:
            withdraw_contact_consent(contact, purpose, now=now)
    return created


#: Datasets each demo structure shares with the federation (agreements signed by its administrator).
SHARED_DATASETS = (
    "organisation",
    "venue",
    "hall",
    "technical-sheet",
    "person",
    "work",
    "production",
    "contribution",
    "season",
    "performance",
    "directory-entry",
)


def sign_demo_agreements(owner: Organisation, *, now: dt.datetime | None = None) -> int:
    """Federation agreements for the structure's shared datasets (once)."""
    from dataspace.consent.agreements import sign_agreement
    from dataspace.consent.models import Agreement
    from policies.language import PURPOSES

    administrator = get_user_model()._default_manager.filter(username="admin", is_superuser=True).first()
    if administrator is None:
        raise ValueError("run demo_account first: no administrator 'admin' on this node")
    signed = 0
    today = (now or dt.datetime.now(dt.UTC)).date()
    for target_type in SHARED_DATASETS:
        if Agreement.objects.filter(owner=owner, target_type=target_type, grantee="federation").exists():
            continue
        sign_agreement(
            owner=owner,
            target_type=target_type,
            grantee="federation",
            purposes=list(PURPOSES),
            valid_from=today,
            signed_by=administrator,
            now=now,
        )
        signed += 1
    return signed


def seed_demo_consents(profile: str, *, now: dt.datetime | None = None) -> DemoConsentsReport:
    """The demo persons and contacts of one demo node (see the module docstring)."""
    from policies.demo import HOSTED_STRUCTURE

    with transaction.atomic():
        if profile == "registry":
            controller = Organisation.objects.filter(name=HOSTED_STRUCTURE).first()
            if controller is None:
                raise ValueError("run seed_demo_policies first: the hosted company does not exist")
            return DemoConsentsReport(profile, seed_persons(controller, now=now), seed_contacts(controller, now=now))
        if profile in STRUCTURE_PROFILES:
            identity = current_identity()
            if identity is None or identity.organisation is None:
                raise ValueError("run seed_demo first: the node has no operating structure")
            owner = identity.organisation
            sign_demo_agreements(owner, now=now)
            return DemoConsentsReport(profile, seed_structure_entries(owner, now=now), seed_contacts(owner, now=now))
    return DemoConsentsReport(profile, 0, 0)
