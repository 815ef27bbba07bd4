"""Factories of the licence registry (fictitious data only)."""

from __future__ import annotations

import datetime as dt

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
