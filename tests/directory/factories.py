"""Factories of the licence registry (fictitious data only)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import factory
from django.utils import timezone

from dataspace.directory.models import Licence, ProfessionalAccount, TermsOfUse
from tests.factories import OrganisationFactory, UserFactory


class LicenceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Licence

    number = factory.Sequence(lambda n: f"PLATESV-D-2026-{n + 100:06d}")
    category = 2
    status = Licence.Status.VALID
    kind = Licence.Kind.FIRST
    deposited_on = dt.date(2026, 1, 15)
    valid_until = dt.date(2031, 1, 15)
    holder_name = factory.Sequence(lambda n: f"COMPAGNIE FICTIVE {n}")


class ProfessionalAccountFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ProfessionalAccount

    user = factory.SubFactory(UserFactory)
    organisation = factory.SubFactory(OrganisationFactory)
    verified_at = factory.LazyFunction(timezone.now)


class TermsOfUseFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = TermsOfUse

    version = factory.Sequence(lambda n: f"2026-{n + 1}")
    text = "Conditions d'utilisation fictives."
    published_at = factory.LazyFunction(lambda: timezone.now() - dt.timedelta(days=1))


# ---------------------------------------------------------------------------- directory entries


class DirectoryEntryFactory(factory.django.DjangoModelFactory):
    """A fictitious person's entry, every field filled (no consent: not published)."""

    class Meta:
        model = "directory.DirectoryEntry"

    owner = factory.SubFactory(OrganisationFactory)
    display_name = factory.Sequence(lambda n: f"Éloïse Fictive {n}")
    trades = factory.LazyFunction(lambda: ["regisseur_lumiere", "machiniste"])
    skills = factory.LazyFunction(lambda: ["Console GrandMA", "Accroche"])
    languages = factory.LazyFunction(lambda: ["fr", "en"])
    region = "Bretagne"
    availability = factory.LazyFunction(lambda: [{"start": "2027-03-01", "end": "2027-03-31"}])
    contact_channel = "email"
    contact_email = factory.Sequence(lambda n: f"eloise.fictive{n}@exemple.test")
    contact_phone = "+33 6 00 00 00 00"
    postal_address = "1 rue de l'Exemple, 35000 Rennes"
    links = factory.LazyFunction(lambda: ["https://portfolio.exemple.test/eloise"])
    same_as = factory.LazyFunction(lambda: ["isni:0000000000000001"])


def grant_entry_consent(entry: Any, fields: Any, *, expires_at: Any = None, now: Any = None) -> Any:
    """The person consents to publish `fields` of `entry` (through the consent services)."""
    from dataspace.consent import services as consent
    from dataspace.directory.services import entry_fields

    notice = consent.current_notice(entry.owner, "directory") or consent.publish_notice(
        controller=entry.owner, kind="directory", version="1", text="Notice fictive de l'annuaire."
    )
    categories = sorted({entry_fields()[name] for name in fields})
    return consent.grant_consent(
        controller=entry.owner,
        target_type="directory-entry",
        target_id=entry.pk,
        purposes=["professional_directory"],
        data_categories=categories,
        fields=list(fields),
        recipients=["licensed_professionals"],
        notice=notice,
        method="paper",
        expires_at=expires_at,
        now=now,
    )
