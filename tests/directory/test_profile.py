"""professional_profile: the account, its organisation's licences, the last accepted terms; ≤ 2 queries."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.contrib.auth.models import AnonymousUser
from django.utils import timezone

from dataspace.directory.profiles import LicenceFact
from dataspace.directory.services import accept_terms, professional_profile
from tests.directory.factories import LicenceFactory, ProfessionalAccountFactory, TermsOfUseFactory
from tests.factories import OrganisationFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_profile_of_a_professional(licensed_professional: Any, django_assert_max_num_queries: Any) -> None:
    other = OrganisationFactory(name="Une autre structure")
    LicenceFactory(number="PLATESV-D-2026-009999", organisation=other)
    with django_assert_max_num_queries(2):
        profile = professional_profile(licensed_professional)
    assert profile is not None
    account = licensed_professional.professional_account
    assert profile.account_id == account.pk
    assert profile.organisation_id == account.organisation_id
    assert profile.organisation_name == "Compagnie des Essais licenciée"
    assert profile.licences == (
        LicenceFact(
            number="2-PLATESV-D-2026-000211",
            category=2,
            status="valide",
            valid_until=dt.date(2031, 1, 15),
            deposited_on=dt.date(2026, 1, 15),
        ),
    )
    assert profile.terms_accepted == ""
    assert profile.verified is True


def test_query_count_is_flat_in_the_licences(licensed_professional: Any, django_assert_max_num_queries: Any) -> None:
    organisation = licensed_professional.professional_account.organisation
    for n in range(20):
        LicenceFactory(number=f"PLATESV-D-2025-{n:06d}", organisation=organisation)
    terms = TermsOfUseFactory()
    accept_terms(licensed_professional, terms.version)
    with django_assert_max_num_queries(2):
        profile = professional_profile(licensed_professional)
    assert profile is not None
    assert len(profile.licences) == 21
    assert profile.terms_accepted == terms.version


def test_cached_on_the_user_for_the_request(licensed_professional: Any, django_assert_num_queries: Any) -> None:
    first = professional_profile(licensed_professional)
    with django_assert_num_queries(0):
        assert professional_profile(licensed_professional) is first


def test_none_for_someone_who_is_not_a_professional(django_assert_max_num_queries: Any) -> None:
    person = UserFactory(username="simple-personne")
    with django_assert_max_num_queries(1):
        assert professional_profile(person) is None
    with django_assert_max_num_queries(0):
        assert professional_profile(person) is None
        assert professional_profile(AnonymousUser()) is None
        assert professional_profile(None) is None


def test_terms_accepted_is_the_last_accepted_version(licensed_professional: Any) -> None:
    old = TermsOfUseFactory(version="2025-1", published_at=timezone.now() - dt.timedelta(days=400))
    accept_terms(licensed_professional, "2025-1", now=old.published_at + dt.timedelta(days=1))
    TermsOfUseFactory(version="2026-1", published_at=timezone.now() - dt.timedelta(days=1))
    profile = professional_profile(licensed_professional)
    assert profile is not None
    assert profile.terms_accepted == "2025-1"  # a new version asks again
    accept_terms(licensed_professional, "2026-1")
    refreshed = professional_profile(licensed_professional)  # accepting drops the cached profile
    assert refreshed is not None
    assert refreshed.terms_accepted == "2026-1"


def test_unverified_account(db: Any) -> None:
    user = ProfessionalAccountFactory(verified_at=None).user
    profile = professional_profile(user)
    assert profile is not None
    assert profile.verified is False
