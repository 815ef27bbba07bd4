"""Security review of the paths around the decision point: each refused request beside the allowed one.

Personas: the owner (Théâtre du Nord) and a partner it names; a licensed professional reading
through a personal API key; anonymous visitors.
"""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from policies.models import HiddenRecord
from tests.directory.factories import LicenceFactory, ProfessionalAccountFactory
from tests.factories import OrganisationFactory, VenueFactory
from tests.policies.pdp_support import fresh_policy_cache, save  # noqa: F401 - autouse fixture

pytestmark = pytest.mark.django_db


@pytest.fixture
def owner() -> Any:
    return OrganisationFactory(name="Théâtre du Nord")


@pytest.fixture
def pro(bearer_client: Any) -> Any:
    """Factory: a professional (category 2 licence unless None) reading through a personal API key."""

    def make(category: int | None = 2, organisation: Any = None) -> APIClient:
        account = ProfessionalAccountFactory(organisation=organisation or OrganisationFactory(name="Compagnie"))
        if category is not None:
            LicenceFactory(organisation=account.organisation, category=category)
        api: APIClient = bearer_client("referentials:read", kind="reader", user=account.user)
        api.user = account.user  # type: ignore[attr-defined]
        api.organisation = account.organisation  # type: ignore[attr-defined]
        return api

    return make


# ---------------------------------------------------------------------------- /id/<type>/<uuid>


def test_the_resolver_answers_a_hidden_record_as_missing(owner: Any, pro: Any) -> None:
    partner = OrganisationFactory(name="Scène partenaire")
    hidden, shown = VenueFactory(owner=owner), VenueFactory(owner=owner)
    HiddenRecord.objects.create(owner=owner, target_type="venue", target_id=hidden.pk).partners.add(partner)

    outsider = pro()
    assert outsider.get(f"/id/venue/{shown.pk}").status_code == 303
    refused = outsider.get(f"/id/venue/{hidden.pk}")
    missing = outsider.get("/id/venue/00000000-0000-4000-8000-000000000000")
    assert refused.status_code == missing.status_code == 404
    assert APIClient().get(f"/id/venue/{hidden.pk}").status_code == 404

    named = pro(organisation=partner)
    assert named.get(f"/id/venue/{hidden.pk}").status_code == 303
