"""Federated search (federation.search, federation.api.search, federation.attestation).

Index mode over the registry's replicas (applied through the replication's own `apply_changes`,
shaped like the members' change feeds), policies and consent, dedupe, the journal, the refusals;
the node endpoint of a live search with real signed requests; live mode against real node
processes and real sockets is in tests/federation/test_search_live.py.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
from django.conf import settings
from django.utils import timezone
from rest_framework.exceptions import ValidationError
from rest_framework.test import APIClient

from dataspace.audit.models import JournalEntry
from dataspace.directory.services import professional_profile
from federation import attestation, search
from federation.models import IndexedRecord, SyncState
from policies.subject import Subject
from tests.conftest import mint_token, node_signing_key
from tests.directory.factories import (
    DirectoryEntryFactory,
    LicenceFactory,
    ProfessionalAccountFactory,
    TermsOfUseFactory,
    grant_entry_consent,
)
from tests.factories import OrganisationFactory, UserFactory
from tests.federation.search_data import FeedNode

pytestmark = pytest.mark.django_db

A = "https://scene-a.example"
B = "https://scene-b.example"
PRODUCER_SIRET = "73282932000074"
DIRECTORY = "/api/v1/directory/search"
REFERENTIALS = "/api/v1/referentials/search"


@pytest.fixture(autouse=True)
def registry(settings: Any) -> Any:
    """This node is the registry; it has its key (live attestations) and no published terms."""
    settings.NODE_ROLES = ["registry"]
    node_signing_key()
    return settings


def professional(username: str, *, category: int = 2, expired: bool = False) -> Any:
    organisation = OrganisationFactory(name=f"Compagnie de {username}")
    if expired:
        LicenceFactory(
            organisation=organisation, category=category, deposited_on="2020-02-12", valid_until="2025-02-12"
        )
    else:
        LicenceFactory(organisation=organisation, category=category)
    return ProfessionalAccountFactory(user=UserFactory(username=username), organisation=organisation).user


def subject_of(user: Any) -> Subject:
    return Subject(
        kind="person",
        user_id=user.pk,
        username=user.get_username(),
        node=str(settings.NODE_BASE_URL),
        professional=professional_profile(user),
    )


@pytest.fixture
def pro() -> Any:
    return professional("pro-licencie")


@pytest.fixture
def pro_client(bearer_client: Any, pro: Any) -> APIClient:
    client: APIClient = bearer_client("directory:search referentials:read", kind="reader", user=pro)
    return client


@pytest.fixture
def federation() -> dict[str, Any]:
    """Two members' records in the registry's index (see the module docstring of search_data)."""
    a, b = FeedNode(A), FeedNode(B)
    ids: dict[str, Any] = {}
    # --- node A (Rennes): a theatre, its big hall with a tall grid, a touring show, two people
    theatre = a.organisation("Théâtre du Fictif", siret="44306184100047", kind="theatre")
    producer_a = a.organisation("Compagnie des Songes", siret=PRODUCER_SIRET, kind="company")
    venue_a = a.venue(theatre, "Grand Théâtre", city="Rennes", region="Bretagne", departement="35")
    hall_a = a.hall(theatre, venue_a, "Grande salle", seated=800)
    a.sheet(theatre, hall_a, venue_a, proscenium="12.50", grid="18.00")
    show_a = a.production(theatre, "Le Songe d'une nuit d'été", producer=producer_a)
    ids["perf_a1"] = a.performance(theatre, show_a, hall_a, venue_a, "2027-03-10T20:30:00+01:00")
    ids["perf_a2"] = a.performance(theatre, show_a, hall_a, venue_a, "2027-03-11T20:30:00+01:00")
    ids["eloise"] = a.person(
        theatre,
        "Éloïse Lumière",
        trades=("regisseur_lumiere",),
        skills=("Console GrandMA",),
        languages=("fr", "en"),
        region="Bretagne",
        availability=(("2027-03-01", "2027-03-31"),),
    )
    ids["jerome"] = a.person(
        theatre,
        "Jérôme Plateau",
        trades=("machiniste",),
        region="Bretagne",
        availability=(("2027-03-15", "2027-04-15"),),
    )
    ids["paule"] = a.person(theatre, "Paule Programme", trades=("programmateur",), region="Bretagne")
    # --- node B (Lyon): a small hall whose sheets are for category-1 licences only, the same show
    festival = b.organisation(
        "Festival d'Été", siret="55208131766522", kind="festival", region="Auvergne-Rhône-Alpes", disciplines=("dance",)
    )
    producer_b = b.organisation("Compagnie des Songes", siret=PRODUCER_SIRET, kind="company")
    venue_b = b.venue(festival, "Salle des Fêtes", city="Lyon", region="Auvergne-Rhône-Alpes", departement="69")
    sheet_b = uuid.uuid4()  # the hall names its sheet: the index copies the sheet's dimensions onto the hall
    hall_b = b.hall(festival, venue_b, "Petite salle", seated=200, sheet=sheet_b)
    b.sheet(festival, hall_b, venue_b, proscenium="14.00", grid="20.00", record_id=sheet_b)
    show_b = b.production(festival, "Le songe d’une nuit d’ÉTÉ", producer=producer_b)
    ids["perf_b1"] = b.performance(festival, show_b, hall_b, venue_b, "2027-05-02T21:00:00+02:00")
    b.production(festival, "Danses de l'aube", producer=None, discipline="dance")
    b.policy(festival, "technical-sheet", [{"name": "licensed_only", "categories": [1]}])
    ids.update(
        theatre=theatre,
        festival=festival,
        show_a=show_a,
        show_b=show_b,
        venue_a=venue_a,
        venue_b=venue_b,
        hall_a=hall_a,
        hall_b=hall_b,
    )
    a.publish()
    b.publish()
    return ids


def results(response: Any) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.content
    found: list[dict[str, Any]] = response.json()["results"]
    return found


def titles(response: Any) -> list[str]:
    return [item["title"] for item in results(response)]


# ---------------------------------------------------------------------------- index mode: matching


def test_accents_and_case_do_not_matter(pro_client: APIClient, federation: dict[str, Any]) -> None:
    for text in ("eloise", "ÉLOÏSE", "Eloïse lumiere"):
        assert titles(pro_client.get(DIRECTORY, {"purpose": "contracting", "q": text})) == ["Éloïse Lumière"]
    found = pro_client.get(REFERENTIALS, {"purpose": "programming", "type": "venue", "q": "THEATRE"})
    assert titles(found) == ["Grand Théâtre"]
    assert titles(pro_client.get(REFERENTIALS, {"purpose": "programming", "type": "venue", "q": "fêtes"})) == [
        "Salle des Fêtes"
    ]


def test_directory_filters_trade_skill_language_region(pro_client: APIClient, federation: dict[str, Any]) -> None:
    base = {"purpose": "contracting"}
    assert titles(pro_client.get(DIRECTORY, {**base, "trade": "machiniste"})) == ["Jérôme Plateau"]
    assert titles(pro_client.get(DIRECTORY, {**base, "skill": "console grandma"})) == ["Éloïse Lumière"]
    assert titles(pro_client.get(DIRECTORY, {**base, "language": "EN"})) == ["Éloïse Lumière"]
    assert len(results(pro_client.get(DIRECTORY, {**base, "region": "bretagne"}))) == 3
    assert results(pro_client.get(DIRECTORY, {**base, "region": "Île-de-France"})) == []
    first = results(pro_client.get(DIRECTORY, {**base, "trade": "regisseur_lumiere"}))[0]
    assert first["id"] == f"{A}/id/directory-entry/{federation['eloise']}"
    assert first["origin"] == A
    assert first["owner"]["id"] == f"{A}/id/organisation/{federation['theatre']}"
    assert first["owner"]["name"] == "Théâtre du Fictif"
    assert first["record"]["display_name"] == "Éloïse Lumière"
    assert first["sources"] == [first["id"]]
    assert first["policy"]["uid"] is None
    assert "consentement" in first["policy"]["text"]


def test_availability_window_must_be_covered(pro_client: APIClient, federation: dict[str, Any]) -> None:
    base = {"purpose": "contracting"}
    window = {**base, "available_from": "2027-03-16", "available_to": "2027-03-20"}
    assert titles(pro_client.get(DIRECTORY, window)) == ["Éloïse Lumière", "Jérôme Plateau"]
    late = {**base, "available_from": "2027-03-25", "available_to": "2027-04-05"}
    assert titles(pro_client.get(DIRECTORY, late)) == ["Jérôme Plateau"]  # Éloïse's ends on the 31st
    one_day = {**base, "available_from": "2027-04-10"}
    assert titles(pro_client.get(DIRECTORY, one_day)) == ["Jérôme Plateau"]
    reversed_window = pro_client.get(DIRECTORY, {**base, "available_from": "2027-04-10", "available_to": "2027-04-01"})
    assert reversed_window.status_code == 400
    assert "available_to" in reversed_window.json()["fields"]


def test_technical_criteria_on_halls_and_venues(pro_client: APIClient, federation: dict[str, Any]) -> None:
    base = {"purpose": "programming"}
    grid = pro_client.get(REFERENTIALS, {**base, "type": "hall", "min_height_under_grid": "15"})
    assert titles(grid) == ["Grand Théâtre — Grande salle"]
    assert results(grid)[0]["record"]["seated_capacity"] == 800
    opening = {**base, "type": "venue", "min_proscenium_opening": "12,5", "min_capacity": "500"}
    assert titles(pro_client.get(REFERENTIALS, opening)) == ["Grand Théâtre"]
    too_big = {**base, "type": "venue", "min_proscenium_opening": "12.6"}
    # node B's sheet (14 m) is for category-1 licences only: this category-2 professional never
    # gets an answer from it, not even as a filter criterion
    assert titles(pro_client.get(REFERENTIALS, too_big)) == []
    hall_b = IndexedRecord.objects.get(uri=f"{B}/id/hall/{federation['hall_b']}")
    assert hall_b.proscenium_opening_m == 14  # though the hall's row carries the sheet's figures
    assert titles(pro_client.get(REFERENTIALS, {**base, "type": "hall", "min_capacity": "150"})) == [
        "Grand Théâtre — Grande salle",
        "Salle des Fêtes — Petite salle",
    ]
    bad = pro_client.get(REFERENTIALS, {**base, "type": "hall", "min_stage_depth": "-2"})
    assert bad.status_code == 400
    assert "min_stage_depth" in bad.json()["fields"]


def test_a_category_1_professional_gets_the_restricted_sheet(bearer_client: Any, federation: dict[str, Any]) -> None:
    first = bearer_client("referentials:read", kind="reader", user=professional("pro-cat1", category=1))
    found = first.get(REFERENTIALS, {"purpose": "programming", "type": "venue", "min_proscenium_opening": "13"})
    assert titles(found) == ["Salle des Fêtes"]


def test_performances_by_dates_region_and_venue_type(pro_client: APIClient, federation: dict[str, Any]) -> None:
    base = {"purpose": "touring", "type": "performance"}
    march = results(pro_client.get(REFERENTIALS, {**base, "from": "2027-03-01", "to": "2027-03-10"}))
    assert [item["id"] for item in march] == [f"{A}/id/performance/{federation['perf_a1']}"]
    assert march[0]["title"] == "Le Songe d'une nuit d'été"
    assert march[0]["venue"]["name"] == "Grand Théâtre"
    assert march[0]["production"]["id"] == f"{A}/id/production/{federation['show_a']}"
    lyon = results(pro_client.get(REFERENTIALS, {**base, "region": "Auvergne-Rhône-Alpes"}))
    assert [item["origin"] for item in lyon] == [B]
    assert len(results(pro_client.get(REFERENTIALS, {**base, "departement": "35"}))) == 2
    assert results(pro_client.get(REFERENTIALS, {**base, "venue_type": "big_top"})) == []
    assert len(results(pro_client.get(REFERENTIALS, {**base, "q": "songe"}))) == 3


def test_programmers_are_directory_programmers_and_programming_organisations(
    pro_client: APIClient, federation: dict[str, Any]
) -> None:
    base = {"purpose": "touring", "type": "programmer"}
    found = [item for item in results(pro_client.get(REFERENTIALS, base)) if item["origin"] in (A, B)]
    assert {(item["type"], item["title"]) for item in found} == {
        ("directory-entry", "Paule Programme"),
        ("organisation", "Festival d'Été"),
        ("organisation", "Théâtre du Fictif"),
    }  # the companies (producers) do not programme
    dance = [item for item in results(pro_client.get(REFERENTIALS, {**base, "discipline": "dance"}))]
    assert [item["title"] for item in dance] == ["Festival d'Été"]
    brittany = results(pro_client.get(REFERENTIALS, {**base, "region": "Bretagne"}))
    assert {item["title"] for item in brittany} == {"Paule Programme", "Théâtre du Fictif"}
    local = results(pro_client.get(REFERENTIALS, base))  # the registry's own theatres programme too
    assert {item["origin"] for item in local} == {A, B, settings.NODE_BASE_URL}


# ---------------------------------------------------------------------------- dedupe


def test_the_touring_production_appears_once_with_all_its_performances(
    pro_client: APIClient, federation: dict[str, Any]
) -> None:
    answer = pro_client.get(REFERENTIALS, {"purpose": "touring", "type": "production", "q": "songe"})
    [show] = results(answer)
    assert answer.json()["count"] == 1
    assert set(show["sources"]) == {
        f"{A}/id/production/{federation['show_a']}",
        f"{B}/id/production/{federation['show_b']}",
    }
    assert [item["id"].rsplit("/", 1)[1] for item in show["performances"]] == [
        str(federation["perf_a1"]),
        str(federation["perf_a2"]),
        str(federation["perf_b1"]),
    ]
    assert [item["venue"]["name"] for item in show["performances"]] == [
        "Grand Théâtre",
        "Grand Théâtre",
        "Salle des Fêtes",
    ]
    assert {item["origin"] for item in show["performances"]} == {A, B}
    on_tour = results(pro_client.get(REFERENTIALS, {"purpose": "touring", "type": "production", "on_tour": "true"}))
    assert [item["title"] for item in on_tour] == [show["title"]]
    staying = results(pro_client.get(REFERENTIALS, {"purpose": "touring", "type": "production", "on_tour": "false"}))
    assert [item["title"] for item in staying] == ["Danses de l'aube"]
    # a region filter finds the show through one node's performances, and still shows them all
    [lyon] = results(
        pro_client.get(REFERENTIALS, {"purpose": "touring", "type": "production", "region": "Auvergne-Rhône-Alpes"})
    )
    assert len(lyon["performances"]) == 3


def test_pages_of_groups_with_a_cursor(pro_client: APIClient, federation: dict[str, Any]) -> None:
    base = {"purpose": "touring", "type": "production", "page_size": "1"}
    first = pro_client.get(REFERENTIALS, base).json()
    assert first["count"] == 2
    assert len(first["results"]) == 1
    assert first["next"]
    second = pro_client.get(REFERENTIALS, {**base, "cursor": first["next"]}).json()
    assert len(second["results"]) == 1
    assert second["next"] is None
    assert {first["results"][0]["title"], second["results"][0]["title"]} == {
        "Danses de l'aube",
        "Le Songe d'une nuit d'été",
    }
    other = pro_client.get(REFERENTIALS, {**base, "type": "venue", "cursor": first["next"]})
    assert other.status_code == 400
    assert "cursor" in other.json()["fields"]


# ---------------------------------------------------------------------------- policies and consent


def test_replicated_policies_govern_their_own_origin_only(pro: Any, federation: dict[str, Any]) -> None:
    """Node B claims a policy for node A's owner: it governs nothing of node A."""
    rogue = FeedNode(B)
    rogue.policy(federation["theatre"], "venue", [])  # "private" (no template), for A's theatre
    rogue.publish()
    answer = search.search("referentials", {"purpose": "programming", "type": "venue"}, subject_of(pro))
    assert {item["title"] for item in answer.results} == {"Grand Théâtre", "Salle des Fêtes"}
    own = FeedNode(A)
    own.policy(federation["theatre"], "venue", [])
    own.publish()
    answer = search.search("referentials", {"purpose": "programming", "type": "venue"}, subject_of(pro))
    assert [item["title"] for item in answer.results] == ["Salle des Fêtes"]


def test_a_record_override_and_a_policy_outside_the_profile(pro: Any, federation: dict[str, Any]) -> None:
    node = FeedNode(A)
    node.policy(federation["theatre"], "venue", [{"name": "licensed_only"}])  # the dataset: licensed
    node.policy(federation["theatre"], "venue", [], target_id=federation["venue_a"])  # this venue: private
    node.publish()
    subject = subject_of(pro)
    assert [
        r["title"] for r in search.search("referentials", {"purpose": "touring", "type": "venue"}, subject).results
    ] == ["Salle des Fêtes"]
    broken = FeedNode(B)
    broken.policy(federation["festival"], "venue", [], odrl={"@context": "nope", "permission": "everything"})
    broken.publish()
    assert search.search("referentials", {"purpose": "touring", "type": "venue"}, subject).results == []


def test_purpose_limited_policy_and_its_attribution(pro: Any, federation: dict[str, Any]) -> None:
    node = FeedNode(B)
    node.policy(
        federation["festival"],
        "venue",
        [{"name": "licensed_only"}, {"name": "purpose_limited", "purposes": ["programming"]}],
    )
    node.policy(federation["festival"], "hall", [{"name": "public"}])
    node.publish()
    subject = subject_of(pro)
    touring = search.search("referentials", {"purpose": "touring", "type": "venue"}, subject)
    assert [item["title"] for item in touring.results] == ["Grand Théâtre"]
    programming = search.search("referentials", {"purpose": "programming", "type": "venue"}, subject)
    festival = next(item for item in programming.results if item["origin"] == B)
    assert festival["policy"]["uid"].startswith(f"{B}/id/policy/")
    assert "programmation" in festival["policy"]["text"]
    hall = next(
        item
        for item in search.search("referentials", {"purpose": "touring", "type": "hall"}, subject).results
        if item["origin"] == B
    )
    assert hall["attribution"] == "Festival d'Été"  # the public template asks to name the source
    default = next(item for item in programming.results if item["origin"] == A)
    assert default["policy"]["uid"] == f"{A}/id/policy/default-venue"


def test_licensed_only_is_hidden_from_an_expired_licence(pro: Any, federation: dict[str, Any]) -> None:
    """The gate refuses an expired licence outright; and were it let through, the policies
    themselves would still hide what is reserved to licensed professionals."""
    expired = professional("pro-expire", expired=True)
    with pytest.raises(search.SearchRefused) as refused:
        search.search("referentials", {"purpose": "programming", "type": "hall"}, subject_of(expired))
    assert refused.value.code == "licence_expired"
    node = FeedNode(A)
    node.policy(federation["theatre"], "hall", [{"name": "licensed_only"}])
    node.publish()
    query = search.validate("referentials", {"purpose": "programming", "type": "hall"})
    seen_by_expired = search._IndexSearch(query, subject_of(expired)).halls()
    seen_by_licensed = search._IndexSearch(query, subject_of(pro)).halls()
    assert [row.origin for row in seen_by_expired] == [B]
    assert sorted(row.origin for row in seen_by_licensed) == [A, B]


def test_consent_purposes_and_expiry(pro: Any, federation: dict[str, Any]) -> None:
    node = FeedNode(A)
    past = (timezone.now() - dt.timedelta(minutes=1)).isoformat()
    node.person(federation["theatre"], "Agathe Expirée", trades=("machiniste",), expires_at=past)
    node.person(federation["theatre"], "Basile Newsletter", trades=("machiniste",), purposes=("newsletter",))
    node.person(federation["theatre"], "Capucine Diffusion", trades=("machiniste",), purposes=("touring",))
    node.publish()
    contracting = search.search("directory", {"purpose": "contracting", "trade": "machiniste"}, subject_of(pro))
    assert [item["title"] for item in contracting.results] == ["Jérôme Plateau"]
    touring = search.search("directory", {"purpose": "touring", "trade": "machiniste"}, subject_of(pro))
    assert [item["title"] for item in touring.results] == ["Capucine Diffusion", "Jérôme Plateau"]


def test_a_withdrawal_tombstone_removes_the_person(pro: Any, federation: dict[str, Any]) -> None:
    node = FeedNode(A)
    node.versions[node.uri("directory-entry", federation["eloise"])] = 1
    node.delete("directory-entry", federation["eloise"], owner=federation["theatre"])
    node.publish()
    answer = search.search("directory", {"purpose": "contracting", "q": "eloise"}, subject_of(pro))
    assert answer.results == []


def test_the_registrys_own_records_are_searched_under_its_own_pdp(
    pro: Any, federation: dict[str, Any], django_capture_on_commit_callbacks: Any
) -> None:
    """Records hosted at the registry are indexed in-process (index_local) and governed by its own
    policies and controls; a person of its own directory needs a consent in force."""
    from policies.controls import hide_record
    from policies.services import save_policy
    from tests.factories import VenueFactory

    host = OrganisationFactory(name="Compagnie hébergée")
    VenueFactory(owner=host, name="Studio des Essais", region="Bretagne")
    hidden = VenueFactory(owner=host, name="Studio caché", region="Bretagne")
    hide_record(host, "venue", hidden.pk)
    entry = DirectoryEntryFactory(owner=host, display_name="Noé Hébergé", trades=["machiniste"])
    answer = search.search("referentials", {"purpose": "programming", "type": "venue", "q": "studio"}, subject_of(pro))
    assert [item["title"] for item in answer.results] == ["Studio des Essais"]
    assert search.search("directory", {"purpose": "contracting", "q": "noe"}, subject_of(pro)).results == []
    grant_entry_consent(entry, ["display_name", "trades"])
    [found] = search.search("directory", {"purpose": "contracting", "q": "noe"}, subject_of(pro)).results
    assert found["origin"] == settings.NODE_BASE_URL
    with django_capture_on_commit_callbacks(execute=True):  # the policy generation moves on commit
        save_policy(owner=host, target_type="venue", templates=[{"name": "licensed_only", "categories": [1]}])
    assert (
        search.search(
            "referentials", {"purpose": "programming", "type": "venue", "q": "studio"}, subject_of(pro)
        ).results
        == []
    )


# ---------------------------------------------------------------------------- who may search


def test_purpose_is_mandatory(pro_client: APIClient, federation: dict[str, Any]) -> None:
    for url, params in ((DIRECTORY, {}), (REFERENTIALS, {"type": "venue"})):
        refused = pro_client.get(url, params)
        assert refused.status_code == 400
        assert list(refused.json()["fields"]) == ["purpose"]
        assert "finalité" in refused.json()["fields"]["purpose"][0]
    unknown = pro_client.get(DIRECTORY, {"purpose": "curiosity"})
    assert unknown.status_code == 400
    assert list(unknown.json()["fields"]) == ["purpose"]


def test_bad_parameters_are_named(pro_client: APIClient) -> None:
    cases = [
        (REFERENTIALS, {"purpose": "touring"}, "type"),
        (REFERENTIALS, {"purpose": "touring", "type": "castle"}, "type"),
        (REFERENTIALS, {"purpose": "touring", "type": "venue", "on_tour": "true"}, "on_tour"),
        (REFERENTIALS, {"purpose": "touring", "type": "production", "from": "31/12/2027"}, "from"),
        (REFERENTIALS, {"purpose": "touring", "type": "performance", "departement": "999x"}, "departement"),
        (DIRECTORY, {"purpose": "touring", "trade": "astronaute"}, "trade"),
        (DIRECTORY, {"purpose": "touring", "region": "Atlantide"}, "region"),
        (DIRECTORY, {"purpose": "touring", "page_size": "101"}, "page_size"),
        (DIRECTORY, {"purpose": "touring", "mode": "psychic"}, "mode"),
        (DIRECTORY, {"purpose": "touring", "cursor": "bm9wZQ"}, "cursor"),
    ]
    for url, params, field in cases:
        answer = pro_client.get(url, params)
        assert answer.status_code == 400, (params, answer.content)
        assert list(answer.json()["fields"]) == [field], params


def test_non_professionals_are_refused_with_the_pdp_reason(
    bearer_client: Any, federation: dict[str, Any], pro_client: APIClient
) -> None:
    nobody = bearer_client("directory:search", kind="reader", user=UserFactory(username="curieux"))
    refused = nobody.get(DIRECTORY, {"purpose": "contracting"})
    assert refused.status_code == 403
    assert refused.json()["error"] == "not_licensed"
    assert "licence" in refused.json()["detail"]
    machine = bearer_client("directory:search", kind="reader")  # a client acting for no person
    assert machine.get(DIRECTORY, {"purpose": "contracting"}).json()["error"] == "not_licensed"
    expired = bearer_client("referentials:read", kind="reader", user=professional("pro-expire", expired=True))
    answer = expired.get(REFERENTIALS, {"purpose": "touring", "type": "venue"})
    assert answer.status_code == 403
    assert answer.json()["error"] == "licence_expired"
    assert "12/02/2025" in answer.json()["detail"]
    assert APIClient().get(DIRECTORY, {"purpose": "contracting"}).status_code == 401
    wrong_scope = bearer_client("referentials:read", kind="reader", user=professional("pro-scope"))
    assert wrong_scope.get(DIRECTORY, {"purpose": "contracting"}).json()["error"] == "insufficient_scope"


def test_terms_of_use_must_be_accepted(pro_client: APIClient, pro: Any) -> None:
    TermsOfUseFactory(version="2026-2")
    refused = pro_client.get(DIRECTORY, {"purpose": "contracting"})
    assert refused.status_code == 403
    assert refused.json()["error"] == "terms_not_accepted"


def test_a_professional_session_may_search(pro: Any, federation: dict[str, Any]) -> None:
    browser = APIClient()
    browser.force_login(pro)
    assert titles(browser.get(DIRECTORY, {"purpose": "contracting", "q": "jerome"})) == ["Jérôme Plateau"]


def test_only_the_registry_searches(pro_client: APIClient, settings: Any) -> None:
    settings.NODE_ROLES = ["structure"]
    assert pro_client.get(DIRECTORY, {"purpose": "contracting"}).status_code == 404
    assert pro_client.get(REFERENTIALS, {"purpose": "touring", "type": "venue"}).status_code == 404


# ---------------------------------------------------------------------------- answer, statuses, journal


def test_index_answer_lists_each_node_with_its_replication_status(
    pro_client: APIClient, federation: dict[str, Any], settings: Any
) -> None:
    from tests.federation.signed import register_peer

    register_peer(A, roles=("structure",), name="Scène A")
    register_peer(B, roles=("structure",), name="Scène B")
    now = timezone.now()
    SyncState.objects.create(node=A, last_attempt_at=now, last_success_at=now)
    SyncState.objects.create(
        node=B, last_attempt_at=now, last_success_at=now - dt.timedelta(hours=1), last_error="HTTP 503"
    )
    body = pro_client.get(DIRECTORY, {"purpose": "contracting"}).json()
    assert body["mode"] == "index"
    assert body["type"] == "directory"
    assert body["count"] == 3
    assert body["next"] is None
    nodes = {node["node"]: node for node in body["nodes"]}
    assert nodes[settings.NODE_BASE_URL]["status"] == "ok"
    assert nodes[A] == {
        "node": A,
        "name": "Scène A",
        "status": "ok",
        "ms": 0,
        "count": 3,
        "detail": "",
        "as_of": now.astimezone(dt.UTC).isoformat().replace("+00:00", "Z"),
    }
    assert nodes[B]["status"] == "error"
    assert nodes[B]["detail"] == "HTTP 503"
    assert nodes[B]["count"] == 0
    assert set(body["results"][0]) == {
        "id", "type", "title", "owner", "origin", "policy", "attribution", "version", "record", "sources"
    }  # fmt: skip


def test_each_search_and_each_person_found_is_journaled(
    pro_client: APIClient, pro: Any, federation: dict[str, Any]
) -> None:
    before = JournalEntry.objects.count()
    found = results(pro_client.get(DIRECTORY, {"purpose": "contracting", "region": "Bretagne"}))
    entries = list(JournalEntry.objects.filter(seq__gt=before).order_by("seq"))
    summary, *persons = entries
    assert summary.action == "federation.search"
    assert summary.username == "pro-licencie"
    assert summary.purpose == "contracting"
    assert summary.details["filters"] == {"region": "Bretagne"}
    assert summary.details["count"] == 3
    assert summary.licence_number  # the professional's licence in force
    assert sorted(str(entry.subject_person_id) for entry in persons) == sorted(
        item["id"].rsplit("/", 1)[1] for item in found
    )
    assert {entry.owner_id for entry in persons} == {federation["theatre"]}
    assert all(entry.record_type == "directory-entry" and entry.action == "search" for entry in persons)
    from dataspace.audit.services import verify_chain

    assert verify_chain().ok


def test_policies_asking_for_a_journal_are_journaled_per_owner(pro: Any, federation: dict[str, Any]) -> None:
    node = FeedNode(A)
    node.policy(federation["theatre"], "hall", [{"name": "licensed_only"}])
    node.publish()
    before = JournalEntry.objects.count()
    search.search("referentials", {"purpose": "programming", "type": "hall"}, subject_of(pro))
    owners = JournalEntry.objects.filter(seq__gt=before, action="search", record_type="hall")
    [entry] = owners
    assert entry.owner_id == federation["theatre"]
    assert entry.record_ids == [str(federation["hall_a"])]
    assert entry.details["origin"] == A


# ---------------------------------------------------------------------------- Python API


def test_filters_describe_every_parameter() -> None:
    assert [f.name for f in search.FILTERS["directory"]] == [
        "q", "trade", "skill", "region", "language", "available_from", "available_to"
    ]  # fmt: skip
    assert {f.name for f in search.FILTERS["hall"]} >= {"min_proscenium_opening", "min_height_under_grid", "venue_type"}
    assert set(search.FILTERS) == {"directory", *search.REFERENTIAL_TYPES}
    trade = next(f for f in search.FILTERS["directory"] if f.name == "trade")
    assert trade.kind == "choice"
    assert ("programmateur", "programmateur·rice") in [(value, str(label)) for value, label in trade.choices]
    assert {value for value, _label in search.PURPOSE_FILTER.choices} == set(search.PURPOSES)
    with pytest.raises(ValidationError):
        search.validate("directory", {})


def test_search_answer_as_json(pro: Any, federation: dict[str, Any]) -> None:
    answer = search.search("directory", {"purpose": "contracting", "page_size": "2"}, subject_of(pro))
    body = answer.as_json()
    assert set(body) == {"mode", "type", "count", "results", "nodes", "next"}
    assert body["count"] == 3
    assert len(body["results"]) == 2
    assert body["next"]
    rest = search.search(
        "directory", {"purpose": "contracting", "page_size": "2", "cursor": body["next"]}, subject_of(pro)
    )
    assert len(rest.results) == 1
    assert rest.next is None
    assert not {item["id"] for item in rest.results} & {item["id"] for item in body["results"]}


# ---------------------------------------------------------------------------- attestations


REGISTRY = "https://registre.example"


def registry_peer() -> Any:
    from tests.federation.signed import register_peer

    return register_peer(REGISTRY, roles=("registry",), name="Registre")


def signed_peer(peer: Any, key: Any) -> Any:
    from federation.signing import SignedPeer

    return SignedPeer(base_url=peer.base_url, name=peer.name, roles=tuple(peer.roles), kid=key.kid)


def test_attestation_round_trip_and_refusals(pro: Any) -> None:
    from tests.federation.signed import register_peer

    peer, key = registry_peer()
    claims = attestation.claims_for(subject_of(pro), purpose="touring")
    claims["iss"] = REGISTRY
    token = attestation.sign(claims, key=key)
    verified = attestation.verify(token, signed_peer(peer, key))
    assert verified.subject.startswith("pro-licencie@")
    assert verified.purpose == "touring"
    assert verified.licences[0].category == 2
    assert verified.terms_accepted is True
    subject = attestation.as_subject(verified, client_id=REGISTRY)
    assert subject.kind == "person"
    assert subject.node == REGISTRY
    assert search.refusal(subject) is None

    other_peer, other_key = register_peer("https://autre.example", roles=("structure",))
    forged = attestation.sign(claims, key=other_key)  # a member's key, but not the signer's
    cases = {
        "unknown_key": (forged, signed_peer(peer, key)),
        "wrong_issuer": (attestation.sign({**claims, "iss": "https://autre.example"}, key=key), signed_peer(peer, key)),
        "too_long": (attestation.sign({**claims, "exp": claims["iat"] + 3600}, key=key), signed_peer(peer, key)),
        "expired": (
            attestation.sign({**claims, "iat": claims["iat"] - 600, "exp": claims["iat"] - 580}, key=key),
            signed_peer(peer, key),
        ),
        "bad_claims": (attestation.sign({**claims, "purpose": "curiosity"}, key=key), signed_peer(peer, key)),
        "bad_signature": (token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB"), signed_peer(peer, key)),
        "malformed": ("not-a-jws", signed_peer(peer, key)),
    }
    for code, (value, signer) in cases.items():
        with pytest.raises(attestation.InvalidAttestation) as refused:
            attestation.verify(value, signer)
        assert refused.value.code == code, code
    assert other_peer is not None


# ---------------------------------------------------------------------------- the node endpoint (signed)


NODE_SEARCH = "/api/v1/federation/search"


@pytest.fixture
def as_structure(settings: Any) -> Any:
    settings.NODE_ROLES = ["structure"]
    return settings


def registry_client(key: Any, scopes: str = "directory:search referentials:read federation:sync") -> Any:
    """The registry's OAuth client on this node and a signed API client holding its token."""
    from dataspace.oauth.models import Client
    from tests.federation.signed import SignedAPIClient

    oauth_client = Client.objects.create(
        client_id=REGISTRY,
        name="Nœud membre Registre",
        owner=OrganisationFactory(name="Exploitant du registre"),
        kind="reader",
        allowed_scopes=scopes.split(),
        grant_types=["client_credentials"],
        token_endpoint_auth_method="private_key_jwt",
        jwks_uri=f"{REGISTRY}/.well-known/jwks.json",
    )
    token, _issued = mint_token(oauth_client, scopes)
    api = SignedAPIClient(key)
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return api


def attested(pro: Any, key: Any, **changes: Any) -> str:
    claims = attestation.claims_for(subject_of(pro), purpose="contracting")
    claims.update(iss=REGISTRY, **changes)
    return attestation.sign(claims, key=key)


def local_people() -> dict[str, Any]:
    """This (structure) node's own directory: one published person, one not."""
    owner = OrganisationFactory(name="Théâtre local")
    shown = DirectoryEntryFactory(owner=owner, display_name="Lucie Locale", trades=["machiniste"])
    grant_entry_consent(shown, ["display_name", "trades", "region"])
    DirectoryEntryFactory(owner=owner, display_name="Sans Consentement", trades=["machiniste"])
    return {"owner": owner, "shown": shown}


def test_node_search_answers_the_registry_for_the_attested_professional(as_structure: Any, pro: Any) -> None:
    peer, key = registry_peer()
    people = local_people()
    _agree(people["owner"], "directory-entry")
    api = registry_client(key)
    body = {"endpoint": "directory", "params": {"purpose": "contracting", "trade": "machiniste"}}
    before = JournalEntry.objects.count()
    answer = api.post(NODE_SEARCH, body, format="json", HTTP_ON_BEHALF_OF=attested(pro, key))
    assert answer.status_code == 200, answer.content
    [person] = answer.json()["results"]
    assert person["title"] == "Lucie Locale"
    assert answer.json()["count"] == 1
    assert person["record"]["consent"]["purposes"] == ["professional_directory"]
    assert "Signature" in answer.headers  # the answer is signed for the registry
    journal = JournalEntry.objects.filter(seq__gt=before)
    [personal] = journal.filter(subject_person_id=people["shown"].pk)
    assert personal.username.startswith("pro-licencie@")
    assert personal.node == REGISTRY
    assert personal.client_id == REGISTRY
    assert personal.purpose == "contracting"
    assert peer is not None


def _agree(owner: Any, dataset: str) -> None:
    """A data-sharing agreement of `owner` with the federation, in force (the registry receives it)."""
    from tests.consent.agreement_factories import federation_agreement

    federation_agreement(owner, dataset, purposes=list(search.PURPOSES))


def test_node_search_keeps_to_the_owners_agreements(as_structure: Any, pro: Any) -> None:
    _peer, key = registry_peer()
    local_people()  # no agreement of its owner: nothing may go to the registry
    api = registry_client(key)
    body = {"endpoint": "directory", "params": {"purpose": "contracting"}}
    answer = api.post(NODE_SEARCH, body, format="json", HTTP_ON_BEHALF_OF=attested(pro, key))
    assert answer.status_code == 200
    assert answer.json()["results"] == []


def test_node_search_refusals(as_structure: Any, pro: Any) -> None:
    from tests.federation.signed import SignedAPIClient, register_peer

    peer, key = registry_peer()
    _agree(local_people()["owner"], "directory-entry")
    api = registry_client(key)
    body = {"endpoint": "directory", "params": {"purpose": "contracting"}}
    # unsigned: 401
    plain = APIClient()
    plain.credentials(HTTP_AUTHORIZATION=api._credentials["HTTP_AUTHORIZATION"])
    assert plain.post(NODE_SEARCH, body, format="json", HTTP_ON_BEHALF_OF=attested(pro, key)).status_code == 401
    # no attestation: 403
    missing = api.post(NODE_SEARCH, body, format="json")
    assert missing.status_code == 403
    assert missing.json()["error"] == "on_behalf_of_required"
    # an attestation for another purpose than the one asked: 403
    mismatch = api.post(NODE_SEARCH, body, format="json", HTTP_ON_BEHALF_OF=attested(pro, key, purpose="research"))
    assert mismatch.status_code == 403
    assert mismatch.json()["error"] == "purpose_mismatch"
    # a tampered attestation: 403
    tampered = api.post(NODE_SEARCH, body, format="json", HTTP_ON_BEHALF_OF=attested(pro, key)[:-3] + "abc")
    assert tampered.status_code == 403
    assert tampered.json()["error"] == "invalid_attestation"
    # an attestation of a person without a licence in force: 403 with the reason
    expired = professional("pro-expire", expired=True)
    lapsed = api.post(NODE_SEARCH, body, format="json", HTTP_ON_BEHALF_OF=attested(expired, key))
    assert lapsed.status_code == 403
    assert lapsed.json()["error"] == "licence_expired"
    # an attestation of a person who did not accept the registry's terms: 403
    refused_terms = api.post(
        NODE_SEARCH, body, format="json", HTTP_ON_BEHALF_OF=attested(pro, key, terms_accepted=False)
    )
    assert refused_terms.status_code == 403
    assert refused_terms.json()["error"] == "terms_not_accepted"
    # a member that is not the registry: 403
    _structure, structure_key = register_peer("https://autre-scene.example", roles=("structure",))
    stranger = SignedAPIClient(structure_key)
    refused = stranger.post(NODE_SEARCH, body, format="json", HTTP_ON_BEHALF_OF=attested(pro, structure_key))
    assert refused.status_code == 403
    assert refused.json()["error"] == "registry_only"
    # the token lacks the endpoint's scope: 403
    IndexedRecord.objects.all().delete()
    narrow = registry_client_scoped(key, "federation:sync")
    scoped = narrow.post(NODE_SEARCH, body, format="json", HTTP_ON_BEHALF_OF=attested(pro, key))
    assert scoped.status_code == 403
    assert scoped.json()["error"] == "insufficient_scope"
    assert peer is not None


def registry_client_scoped(key: Any, scopes: str) -> Any:
    from dataspace.oauth.models import Client
    from tests.federation.signed import SignedAPIClient

    oauth_client = Client.objects.get(client_id=REGISTRY)
    token, _issued = mint_token(oauth_client, scopes)
    api = SignedAPIClient(key)
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return api


def test_uuid_tail() -> None:
    ident = uuid.uuid4()
    assert search.uuid_tail(f"{A}/id/venue/{ident}") == ident
    assert search.uuid_tail("nothing") is None


# ---------------------------------------------------------------------------- live merge (pure)


def _member(origin: str, title: str, *, key: str = "", kind: str = "production", start: str = "") -> dict[str, Any]:
    uri = f"{origin}/id/{kind}/{uuid.uuid4()}"
    performances = [{"id": f"{origin}/id/performance/{uuid.uuid4()}", "start": start}] if start else []
    return {
        "id": uri,
        "type": kind,
        "title": title,
        "origin": origin,
        "sources": [uri],
        "performances": performances,
        "dedupe_key": key,
        "sort": [title.lower(), uri],
    }


def test_merge_folds_the_same_show_and_counts_what_each_node_gave() -> None:
    show_a = _member(A, "Le songe", key="production:le songe|siret:1", start="2027-05-02T21:00:00+02:00")
    show_b = _member(B, "Le songe", key="production:le songe|siret:1", start="2027-03-10T20:30:00+01:00")
    other_a = _member(A, "Zèbre")
    alone_b = _member(B, "Aube")
    page, consumed, more = search._merge([(A, [show_a, other_a], False), (B, [alone_b, show_b], True)], 2)
    assert [item["title"] for item in page] == ["Aube", "Le songe"]
    merged = page[1]
    assert merged["sources"] == [show_a["id"], show_b["id"]] or merged["sources"] == [show_b["id"], show_a["id"]]
    assert [item["start"] for item in merged["performances"]] == [
        "2027-03-10T20:30:00+01:00",
        "2027-05-02T21:00:00+02:00",
    ]
    assert consumed == {A: 1, B: 2}  # the folded copy counts as consumed: the next page starts after it
    assert more is True  # A still holds « Zèbre », and B said it has more


def test_a_node_may_only_answer_with_its_own_records() -> None:
    assert search._valid_member(_member(A, "x"), A)
    assert not search._valid_member(_member(B, "usurpé"), A)  # another origin's record
    forged = {**_member(A, "x"), "id": f"{B}/id/production/{uuid.uuid4()}"}
    assert not search._valid_member(forged, A)
    assert not search._valid_member("not a result", A)
