"""Factories and helpers the API tests need on top of tests/factories.py (fictitious data only)."""

from __future__ import annotations

from typing import Any

import factory

from dataspace.node.models import NodeIdentity
from dataspace.referentials import models as m
from tests.factories import OrganisationFactory, PersonFactory, ProductionFactory


class ContributionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = m.Contribution

    production = factory.SubFactory(ProductionFactory)
    owner = factory.SelfAttribute("production.owner")
    person = factory.SubFactory(PersonFactory, owner=factory.SelfAttribute("..owner"))
    role = m.Contribution.Role.DIRECTOR


def set_node_organisation(organisation: Any) -> NodeIdentity:
    """Record `organisation` as the one running this node (what `node_init` + admin would do)."""
    identity, _ = NodeIdentity.objects.update_or_create(
        pk=1, defaults={"name": "test-node", "base_url": "http://127.0.0.1:8000", "organisation": organisation}
    )
    return identity


__all__ = ["ContributionFactory", "OrganisationFactory", "set_node_organisation"]
