"""Factories of the structure's private contacts (fictitious data only)."""

from __future__ import annotations

import factory

from dataspace.contacts.models import Contact
from tests.factories import OrganisationFactory


class ContactFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Contact

    owner = factory.SubFactory(OrganisationFactory)
    kind = Contact.Kind.SPECTATOR
    given_name = factory.Sequence(lambda n: f"Camille{n}")
    family_name = factory.Sequence(lambda n: f"Fictif{n}")
    email = factory.Sequence(lambda n: f"camille{n}@exemple.test")
    phone = "+33 6 00 00 00 00"
    postal_address = "1 rue Imaginaire, 69007 Lyon"
