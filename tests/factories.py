"""factory_boy factories for the referentials (fictitious data only)."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import factory
from django.contrib.auth import get_user_model

from dataspace.referentials import models as m

PARIS = zoneinfo.ZoneInfo("Europe/Paris")


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    password = factory.django.Password("correct horse battery staple")


class OrganisationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = m.Organisation

    name = factory.Sequence(lambda n: f"Théâtre de la Fiction {n}")
    kind = m.Organisation.Kind.THEATRE
    region = "Auvergne-Rhône-Alpes"


class VenueFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = m.Venue

    owner = factory.SubFactory(OrganisationFactory)
    name = factory.Sequence(lambda n: f"Lieu imaginaire {n}")
    city = "Lyon"
    departement = "69"
    region = "Auvergne-Rhône-Alpes"


class HallFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = m.Hall

    venue = factory.SubFactory(VenueFactory)
    owner = factory.SelfAttribute("venue.owner")
    name = factory.Sequence(lambda n: f"Salle {n}")
    seated_capacity = 450


class TechnicalSheetFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = m.TechnicalSheet

    hall = factory.SubFactory(HallFactory)
    owner = factory.SelfAttribute("hall.owner")
    stage_width_m = "12.00"
    stage_depth_m = "10.00"
    proscenium_opening_m = "10.50"
    height_under_grid_m = "14.00"


class PersonFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = m.Person

    owner = factory.SubFactory(OrganisationFactory)
    given_name = "Camille"
    family_name = factory.Sequence(lambda n: f"Imaginaire{n}")


class WorkFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = m.Work

    owner = factory.SubFactory(OrganisationFactory)
    title = factory.Sequence(lambda n: f"Œuvre inventée {n}")


class ProductionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = m.Production

    owner = factory.SubFactory(OrganisationFactory)
    title = factory.Sequence(lambda n: f"Spectacle fictif {n}")
    discipline = "theatre"
    duration_minutes = 90


class SeasonFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = m.Season

    owner = factory.SubFactory(OrganisationFactory)
    name = "Saison 2026-2027"
    start_date = dt.date(2026, 9, 1)
    end_date = dt.date(2027, 6, 30)


class PerformanceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = m.Performance

    production = factory.SubFactory(ProductionFactory)
    owner = factory.SelfAttribute("production.owner")
    hall = factory.SubFactory(HallFactory, venue__owner=factory.SelfAttribute("...owner"))
    start = factory.Sequence(lambda n: dt.datetime(2026, 10, 1, 20, 0, tzinfo=PARIS) + dt.timedelta(days=n))
    status = m.Performance.Status.SCHEDULED
    capacity = 400
