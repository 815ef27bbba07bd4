"""The decision point (`policies.pdp.decide`, `filter_queryset`): templates × sample subjects,
licence edge cases, purpose, daily counts, time windows, prohibitions, overrides, DMP controls."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from policies import pdp
from policies.language import Constraint, Duty, Rule
from policies.models import Block, BreakGlassAccess, HiddenRecord, UsageCount
from policies.subject import ANONYMOUS, Subject
from tests.factories import OrganisationFactory, UserFactory, VenueFactory
from tests.policies.pdp_support import (
    MINISTRY_NODE,
    NOW,
    TODAY,
    client_of,
    fresh_policy_cache,  # noqa: F401 - autouse fixture
    licence,
    licensed,
    professional,
    save,
    save_rules,
    staff_of,
)

pytestmark = pytest.mark.django_db

READ = pdp.Context(purpose="programming", now=NOW)


@pytest.fixture
def owner() -> Any:
    return OrganisationFactory(name="Théâtre du Nord")


@pytest.fixture
def venue(owner: Any) -> Any:
    return VenueFactory(owner=owner, name="Grande salle du Nord")


def decide(subject: Subject, record: Any, action: str = "read", **context: Any) -> Any:
    values = {"purpose": "programming", "now": NOW, **context}
    return pdp.decide(subject, action, record, pdp.Context(**values))


# ---------------------------------------------------------------------------- default and owner


def test_no_policy_means_public_for_everyone(venue: Any) -> None:
    for subject in (ANONYMOUS, licensed(), professional(), client_of(OrganisationFactory().pk)):
        decision = decide(subject, venue, purpose="")
        assert decision.permitted, subject
        assert decision.reason_code == "policy_permits"
        assert [o.action for o in decision.obligations] == ["attribute"]


def test_owner_and_superuser_are_always_permitted(owner: Any, venue: Any) -> None:
    save(owner, templates=[{"name": "named_partners", "organisations": [str(OrganisationFactory().pk)]}])
    for subject in (
        staff_of(owner.pk, "reader"),
        client_of(owner.pk),
        Subject(kind="person", user_id=1, is_superuser=True),
    ):
        decision = decide(subject, venue, "modify", purpose="")
        assert (decision.effect, decision.reason_code) == ("permit", "owner")


def test_an_unknown_action_is_a_programming_error(venue: Any) -> None:
    with pytest.raises(ValueError, match="unknown action"):
        pdp.decide(ANONYMOUS, "share", venue)


# ---------------------------------------------------------------------------- templates × sample subjects


def test_licensed_only_template(owner: Any, venue: Any) -> None:
    save(owner, templates=[{"name": "licensed_only"}])
    permitted = decide(licensed(1), venue)
    assert (permitted.effect, permitted.reason_code) == ("permit", "policy_permits")
    assert [o.action for o in permitted.obligations] == ["journal"]
    assert decide(licensed(3), venue).permitted
    assert decide(ANONYMOUS, venue).reason_code == "not_licensed"
    assert decide(professional(), venue).reason_code == "not_licensed"
    assert decide(client_of(OrganisationFactory().pk), venue).reason_code == "not_licensed"
    assert decide(licensed(2), venue, "export").reason_code == "no_permission"  # read and search only


def test_licensed_only_by_category(owner: Any, venue: Any) -> None:
    save(owner, templates=[{"name": "licensed_only", "categories": [2, 3]}])
    assert decide(licensed(2), venue).permitted
    assert decide(licensed(3), venue).permitted
    refused = decide(licensed(1), venue)
    assert (refused.effect, refused.reason_code) == ("deny", "licence_category")
    assert "catégorie 2 ou 3" in refused.reason


def test_named_partners_template(owner: Any, venue: Any) -> None:
    partner = OrganisationFactory(name="Scène partenaire")
    save(owner, templates=[{"name": "named_partners", "organisations": [str(partner.pk)]}])
    assert decide(client_of(partner.pk), venue).permitted
    assert decide(licensed(organisation_id=partner.pk), venue).permitted  # its professionals too
    assert decide(client_of(partner.pk), venue, "export").permitted
    outsider = decide(licensed(2), venue)
    assert (outsider.effect, outsider.reason_code) == ("deny", "no_permission")
    assert decide(ANONYMOUS, venue).reason_code == "no_permission"


def test_ministry_aggregates_only_template(owner: Any, venue: Any) -> None:
    save(owner, templates=[{"name": "ministry_aggregates_only", "nodes": [MINISTRY_NODE]}])
    ministry = client_of(OrganisationFactory().pk, node=MINISTRY_NODE)
    assert decide(ministry, venue, "aggregate").permitted
    assert decide(ministry, venue, "read").reason_code == "no_permission"  # never the rows
    assert decide(licensed(2), venue, "aggregate").reason_code == "no_permission"


def test_no_redistribution_wins_over_public(owner: Any, venue: Any) -> None:
    save(owner, templates=[{"name": "public"}, {"name": "no_redistribution"}])
    assert decide(ANONYMOUS, venue, purpose="").permitted
    refused = decide(licensed(2), venue, "redistribute", recipient=str(OrganisationFactory().pk))
    assert (refused.effect, refused.reason_code) == ("deny", "prohibited")


def test_purpose_limited_template(owner: Any, venue: Any) -> None:
    save(owner, templates=[{"name": "licensed_only"}, {"name": "purpose_limited", "purposes": ["programming"]}])
    assert decide(licensed(2), venue, purpose="programming").permitted
    refused = decide(licensed(2), venue, purpose="research")
    assert refused.reason_code == "purpose_not_allowed"
    assert "« research »" in refused.reason
    assert "programming" in refused.reason
    missing = decide(licensed(2), venue, purpose="")
    assert missing.reason_code == "purpose_required"
    # An unlicensed caller is told about its licence, not asked for a purpose it could not use.
    assert decide(professional(), venue, purpose="").reason_code == "not_licensed"


def test_expires_on_template(owner: Any, venue: Any) -> None:
    save(owner, templates=[{"name": "public"}, {"name": "expires_on", "date": "2026-12-31"}])
    last_evening = dt.datetime(2026, 12, 31, 23, 0, tzinfo=NOW.tzinfo)
    assert decide(ANONYMOUS, venue, purpose="", now=last_evening).permitted
    refused = decide(ANONYMOUS, venue, purpose="", now=last_evening + dt.timedelta(hours=2))
    assert refused.reason_code == "outside_time_window"
    assert "31/12/2026" in refused.reason


def test_a_private_policy_leaves_the_data_to_its_owner(owner: Any, venue: Any) -> None:
    save(owner, templates=[])
    assert decide(licensed(2), venue).reason_code == "no_permission"
    assert decide(staff_of(owner.pk), venue).reason_code == "owner"


# ---------------------------------------------------------------------------- licence edge cases


@pytest.fixture
def licensed_policy(owner: Any) -> Any:
    return save(owner, templates=[{"name": "licensed_only"}])


def test_validity_end_day_is_included_and_the_next_day_is_not(licensed_policy: Any, venue: Any) -> None:
    subject = professional(licence(valid_until=TODAY))
    assert decide(subject, venue).permitted
    tomorrow = NOW + dt.timedelta(days=1)
    refused = decide(subject, venue, now=tomorrow)
    assert refused.reason_code == "licence_expired"
    assert f"a expiré le {TODAY:%d/%m/%Y}" in refused.reason


def test_pending_licence_is_refused(licensed_policy: Any, venue: Any) -> None:
    refused = decide(professional(licence(status="en_instruction")), venue)
    assert refused.reason_code == "licence_pending"
    assert "instruction" in refused.reason


def test_withdrawn_licence_is_refused(licensed_policy: Any, venue: Any) -> None:
    assert decide(professional(licence(status="invalide_retire")), venue).reason_code == "licence_withdrawn"
    assert decide(professional(licence(status="invalide")), venue).reason_code == "licence_withdrawn"


def test_renewed_licence_is_licensed(licensed_policy: Any, venue: Any) -> None:
    old = licence(valid_until=dt.date(2026, 6, 30), deposited_on=dt.date(2021, 6, 30))
    renewed = licence(valid_until=dt.date(2031, 6, 30), deposited_on=dt.date(2026, 6, 1))
    assert decide(professional(old, renewed), venue).permitted
    pending_renewal = licence(status="en_instruction", valid_until=None, deposited_on=dt.date(2026, 11, 1))
    assert decide(professional(old, pending_renewal), venue).reason_code == "licence_pending"


def test_unverified_account_is_not_licensed(licensed_policy: Any, venue: Any) -> None:
    assert decide(professional(licence(), verified=False), venue).reason_code == "not_licensed"


# ---------------------------------------------------------------------------- purpose, counts, time


def test_identified_reader_needs_a_purpose_for_restricted_data_only(owner: Any, venue: Any) -> None:
    public_venue = VenueFactory()
    assert decide(licensed(2), public_venue, purpose="").permitted  # public data: no purpose needed
    save(owner, templates=[{"name": "licensed_only"}])
    assert decide(licensed(2), venue, purpose="").reason_code == "purpose_required"
    assert decide(licensed(2), venue, purpose="").reason.startswith("Indiquez la finalité")
    assert decide(staff_of(owner.pk), venue, purpose="").permitted  # its own data


def count_rules(limit: int = 2) -> tuple[Rule, ...]:
    return (Rule("permission", ("read",), (Constraint("count", "lteq", limit),), (Duty("journal"),)),)


def test_count_per_day(owner: Any, venue: Any) -> None:
    policy = save_rules(owner, count_rules(2))
    subject = licensed(2)
    assert decide(subject, venue).permitted
    assert decide(subject, venue).permitted
    refused = decide(subject, venue)
    assert refused.reason_code == "count_exceeded"
    assert "(2)" in refused.reason
    assert UsageCount.objects.get(policy=policy, subject_key=subject.key, day=TODAY).count == 2
    assert decide(licensed(2), venue).permitted  # another subject has its own counter
    assert decide(subject, venue, now=NOW + dt.timedelta(days=1)).permitted  # a new day


def test_dry_run_never_counts(owner: Any, venue: Any) -> None:
    save_rules(owner, count_rules(1))
    subject = licensed(2)
    for _ in range(3):
        assert decide(subject, venue, dry_run=True).permitted
    assert not UsageCount.objects.exists()
    assert decide(subject, venue).permitted
    assert decide(subject, venue, dry_run=True).reason_code == "count_exceeded"


def test_time_window_before_it_opens(owner: Any, venue: Any) -> None:
    opens = dt.datetime(2027, 1, 1, tzinfo=dt.UTC)
    save_rules(owner, (Rule("permission", ("read",), (Constraint("dateTime", "gteq", opens),)),))
    refused = decide(ANONYMOUS, venue, purpose="")
    assert refused.reason_code == "outside_time_window"
    assert "01/01/2027" in refused.reason
    assert decide(ANONYMOUS, venue, purpose="", now=opens).permitted


def test_elapsed_time_since_the_policy_took_effect(owner: Any, venue: Any) -> None:
    rules = (Rule("permission", ("read",), (Constraint("elapsedTime", "lteq", dt.timedelta(days=30)),)),)
    save_rules(owner, rules, now=NOW)
    assert decide(ANONYMOUS, venue, purpose="", now=NOW + dt.timedelta(days=29)).permitted
    assert decide(ANONYMOUS, venue, purpose="", now=NOW + dt.timedelta(days=31)).reason_code == "outside_time_window"


def test_prohibition_wins_over_a_permission(owner: Any, venue: Any) -> None:
    rules = (
        Rule("permission", ("read",), (Constraint("licensed", "eq", True),)),
        Rule("prohibition", ("read",), (Constraint("purpose", "isAnyOf", ("communication",)),)),
    )
    save_rules(owner, rules)
    assert decide(licensed(2), venue, purpose="programming").permitted
    assert decide(licensed(2), venue, purpose="communication").reason_code == "prohibited"


def test_most_useful_reason_names_the_licence_over_other_rules(owner: Any, venue: Any) -> None:
    partner = OrganisationFactory()
    save(owner, templates=[{"name": "licensed_only"}, {"name": "named_partners", "organisations": [str(partner.pk)]}])
    expired = professional(licence(valid_until=dt.date(2026, 11, 1)))
    assert decide(expired, venue).reason_code == "licence_expired"


def test_region_and_staff_role_constraints(owner: Any, venue: Any) -> None:
    save_rules(owner, (Rule("permission", ("read",), (Constraint("region", "isAnyOf", ("Bretagne",)),)),))
    breton = Subject(
        kind="client", client_id="c-bzh", acts_for=frozenset({OrganisationFactory().pk}), region="Bretagne"
    )
    assert decide(breton, venue).permitted
    assert decide(licensed(2), venue).reason_code == "no_permission"


# ---------------------------------------------------------------------------- overrides


def test_record_override_beats_dataset_policy(owner: Any, venue: Any) -> None:
    other = VenueFactory(owner=owner)
    save(owner, templates=[{"name": "licensed_only"}])
    save(owner, target_id=venue.pk, templates=[{"name": "public"}])
    assert decide(ANONYMOUS, venue, purpose="").permitted
    assert decide(ANONYMOUS, other, purpose="").reason_code == "not_licensed"
    visible, _info = pdp.filter_queryset(ANONYMOUS, "read", type(venue).objects.filter(owner=owner), READ)
    assert list(visible) == [venue]


def test_record_override_may_close_one_record_of_a_public_dataset(owner: Any, venue: Any) -> None:
    other = VenueFactory(owner=owner)
    save(owner, target_id=venue.pk, templates=[])
    assert decide(ANONYMOUS, venue, purpose="").reason_code == "no_permission"
    visible, _info = pdp.filter_queryset(ANONYMOUS, "read", type(venue).objects.filter(owner=owner))
    assert list(visible) == [other]


def test_a_permitting_override_on_a_public_dataset_keeps_every_record(owner: Any, venue: Any) -> None:
    others = [VenueFactory(owner=owner) for _ in range(2)]
    save(owner, target_id=venue.pk, templates=[{"name": "public"}, {"name": "no_redistribution"}])
    visible, info = pdp.filter_queryset(ANONYMOUS, "read", type(venue).objects.filter(owner=owner))
    assert set(visible) == {venue, *others}
    assert info.grant_for(venue.pk, owner.pk) is not info.grant_for(others[0].pk, owner.pk)


# ---------------------------------------------------------------------------- DMP controls


def test_a_block_is_refused_without_saying_why(owner: Any, venue: Any) -> None:
    user = UserFactory()
    Block.objects.create(owner=owner, blocked_user=user)
    subject = Subject(kind="person", user_id=user.pk, username=user.username)
    refused = decide(subject, venue)
    assert (refused.effect, refused.reason_code, refused.reason) == ("deny", "refused", "Accès refusé.")
    organisation = OrganisationFactory()
    Block.objects.create(owner=owner, blocked_organisation=organisation)
    assert decide(client_of(organisation.pk), venue).reason_code == "refused"
    assert decide(ANONYMOUS, venue, purpose="").permitted


def test_hidden_record_is_hidden_except_from_partners(owner: Any, venue: Any) -> None:
    partner = OrganisationFactory()
    hidden = HiddenRecord.objects.create(owner=owner, target_type="venue", target_id=venue.pk)
    hidden.partners.add(partner)
    assert decide(ANONYMOUS, venue, purpose="").reason_code == "hidden"
    assert decide(client_of(partner.pk), venue).permitted
    assert decide(staff_of(owner.pk), venue).reason_code == "owner"


def test_break_glass_permits_a_read_and_is_journaled_apart(owner: Any, venue: Any) -> None:
    save(owner, templates=[])
    user = UserFactory()
    subject = licensed(2)
    subject = Subject(kind="person", user_id=user.pk, username=user.username, professional=subject.professional)
    BreakGlassAccess.objects.create(
        user=user,
        owner=owner,
        target_type="venue",
        target_id=venue.pk,
        emergency="public_safety",
        justification="Évacuation en cours : besoin des plans et jauges de la salle pour les secours.",
        expires_at=dt.datetime.now(dt.UTC) + dt.timedelta(hours=1),
    )
    decision = pdp.decide(subject, "read", venue, pdp.Context(purpose="programming"))
    assert (decision.effect, decision.reason_code) == ("permit", "break_glass")
    assert [(o.action, o.value) for o in decision.obligations] == [("journal", "break_glass")]
    assert pdp.decide(subject, "read", venue, pdp.Context(purpose="programming", dry_run=True)).reason_code == (
        "no_permission"
    )
    assert pdp.decide(subject, "export", venue, pdp.Context(purpose="programming")).reason_code == "no_permission"


def test_terms_of_use_on_a_registry_node(settings: Any, owner: Any, venue: Any) -> None:
    from tests.directory.factories import TermsOfUseFactory

    settings.NODE_ROLES = ["registry"]
    TermsOfUseFactory(version="2026-11")
    refused = decide(licensed(2), venue, purpose="")
    assert refused.reason_code == "terms_not_accepted"
    assert "/api/v1/terms/accept" in refused.reason
    assert "/conditions/" in refused.reason
    assert decide(licensed(2, terms_accepted="2026-11"), venue, purpose="").permitted
    assert decide(ANONYMOUS, venue, purpose="").permitted  # not a professional
    settings.NODE_ROLES = ["structure"]
    assert decide(licensed(2), venue, purpose="").permitted


# ---------------------------------------------------------------------------- whole querysets


def test_filter_queryset_agrees_with_decide_record_by_record(owner: Any) -> None:
    from dataspace.referentials.models import Venue

    partner, third = OrganisationFactory(), OrganisationFactory()
    venues = [VenueFactory(owner=owner) for _ in range(3)] + [VenueFactory(owner=third) for _ in range(2)]
    venues.append(VenueFactory())  # default: public
    save(owner, templates=[{"name": "licensed_only", "categories": [2]}])
    save(third, templates=[{"name": "named_partners", "organisations": [str(partner.pk)]}])
    save(third, target_id=venues[3].pk, templates=[{"name": "public"}])
    save(owner, target_id=venues[0].pk, templates=[])
    HiddenRecord.objects.create(owner=owner, target_type="venue", target_id=venues[1].pk)
    subjects = [ANONYMOUS, licensed(1), licensed(2), client_of(partner.pk), staff_of(third.pk), professional()]
    for subject in subjects:
        expected = {v.pk for v in venues if decide(subject, v, dry_run=True).permitted}
        visible, info = pdp.filter_queryset(subject, "read", Venue.objects.all(), READ)
        assert {v.pk for v in visible} == expected, subject
        for record in visible:
            assert info.grant_for(record.pk, record.owner_id) is not None


def test_filter_queryset_asks_for_a_purpose_only_where_data_is_restricted(owner: Any) -> None:
    from dataspace.referentials.models import Venue

    VenueFactory()
    _visible, info = pdp.filter_queryset(licensed(2), "read", Venue.objects.all(), pdp.Context(now=NOW))
    assert info.purpose_needed is None  # only public data: no check, no query
    restricted = VenueFactory(owner=owner)
    save(owner, templates=[{"name": "licensed_only"}])
    visible, info = pdp.filter_queryset(licensed(2), "read", Venue.objects.all(), pdp.Context(now=NOW))
    assert info.purpose_needed is not None
    assert list(visible.filter(info.purpose_needed)) == [restricted]
    mine, info = pdp.filter_queryset(staff_of(owner.pk), "read", Venue.objects.all(), pdp.Context(now=NOW))
    assert info.purpose_needed is None or not mine.filter(info.purpose_needed).exists()


def test_filter_queryset_takes_daily_counts_for_records_returned(owner: Any) -> None:
    from dataspace.referentials.models import Venue

    venue = VenueFactory(owner=owner)
    policy = save_rules(owner, count_rules(1))
    subject = licensed(2)
    visible, info = pdp.filter_queryset(subject, "read", Venue.objects.all(), READ)
    assert venue in visible
    pdp.take_counts(info, {owner.pk: [venue.pk]})
    assert UsageCount.objects.get(policy=policy).count == 1
    visible, _info = pdp.filter_queryset(subject, "read", Venue.objects.all(), READ)
    assert venue not in visible


def test_organisations_describing_themselves_are_their_own_owner() -> None:
    from dataspace.referentials.models import Organisation

    structure = OrganisationFactory()
    save(structure, "organisation", templates=[])
    visible, _info = pdp.filter_queryset(ANONYMOUS, "read", Organisation.objects.all())
    assert structure not in visible
    assert decide(staff_of(structure.pk), structure).reason_code == "owner"


@pytest.mark.parametrize("seed", range(6))
def test_filter_queryset_agrees_with_decide_on_random_combinations(seed: int) -> None:
    import random

    from dataspace.referentials.models import Venue
    from policies.services import deactivate_policy

    rng = random.Random(seed)
    partner = OrganisationFactory()
    owners = [OrganisationFactory() for _ in range(3)]
    choices: list[list[dict[str, Any]] | None] = [
        None,
        [{"name": "public"}],
        [{"name": "licensed_only", "categories": [2]}],
        [],
        [{"name": "named_partners", "organisations": [str(partner.pk)]}],
        [{"name": "public"}, {"name": "purpose_limited", "purposes": ["research"]}],
    ]
    venues = []
    for owner in owners:
        dataset = rng.choice(choices)
        if dataset is not None:
            save(owner, templates=dataset)
        for _ in range(3):
            venue = VenueFactory(owner=owner)
            venues.append(venue)
            override = rng.choice([None, None, [{"name": "public"}], [], [{"name": "licensed_only"}]])
            if override is not None:
                policy = save(owner, target_id=venue.pk, templates=override)
                if rng.random() < 0.2:
                    deactivate_policy(policy)
                    pdp.forget_compiled_policies()
            if rng.random() < 0.2:
                HiddenRecord.objects.create(owner=owner, target_type="venue", target_id=venue.pk)
    subjects = [ANONYMOUS, licensed(1), licensed(2), client_of(partner.pk), staff_of(owners[0].pk), professional()]
    for purpose in ("programming", "research"):
        context = pdp.Context(purpose=purpose, now=NOW)
        for subject in subjects:
            expected = {v.pk for v in venues if decide(subject, v, purpose=purpose, dry_run=True).permitted}
            visible, _info = pdp.filter_queryset(subject, "read", Venue.objects.all(), context)
            assert {v.pk for v in visible} == expected, (seed, subject, purpose)
