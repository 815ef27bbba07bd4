"""seed_demo_ticketing: deterministic fictitious figures for the demo structures, the small
structures each demo node hosts, and what lets the ministry aggregate them (and nothing else)."""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal
from io import StringIO
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from dataspace.consent.agreements import Reader, feed_filter
from dataspace.consent.demo import sign_demo_agreements
from dataspace.consent.models import Agreement
from dataspace.indicators.aggregate import AMOUNTS, local_aggregate
from dataspace.indicators.demo import (
    DemoTicketingError,
    hosted_organisation_ids,
    seed_demo_approvals,
    seed_demo_ticketing,
)
from dataspace.indicators.models import CoveredPerformance, StandingApproval, TicketingFigures
from dataspace.indicators.secrecy import TOTAL, CellFigures, cross_table, protect_jointly
from dataspace.node.models import StaffMembership
from dataspace.oauth.models import Client
from dataspace.referentials.demo_data import PARIS, SEASON_END, SEASON_START, demo_uuid, seed_demo
from dataspace.referentials.models import Hall, Organisation, Performance, Production, Season, Venue
from policies import pdp
from policies.subject import Subject
from tests.conftest import mint_token
from tests.federation.signed import SignedAPIClient, register_peer

pytestmark = pytest.mark.django_db

MINISTRY = "http://127.0.0.1:8004"
REGISTRY = "http://127.0.0.1:8003"
#: The measures the demo campaign's indicators need (attendance, receipts, average price, fill
#: rate, performances): one suppression pattern over all of them.
CAMPAIGN_MEASURES = ("attendance", "receipts", "paying_tickets", "capacity", "performances")
SEASON = (dt.date(2026, 7, 1), dt.date(2027, 6, 30))


def snapshot() -> dict[str, tuple[Any, ...]]:
    return {
        row.external_id: (row.tickets_total, row.receipts_total, row.capacity, row.performance_count)
        for row in TicketingFigures.objects.all()
    }


def administrator() -> Any:
    return get_user_model().objects.create_superuser("admin", "admin@example.org", "x")


def own(profile: str) -> Organisation:
    return Organisation.objects.get(pk=demo_uuid(42, profile, "organisation", "self"))


def test_a_season_of_figures_for_structure_b(settings: Any) -> None:
    seed_demo("structure-b")
    out = StringIO()
    call_command("seed_demo_ticketing", "--profile", "structure-b", "--until", "season-end", stdout=out)
    assert "created" in out.getvalue()
    assert "3 hosted structures" in out.getvalue()
    played = Performance.objects.filter(status__in=["scheduled", "postponed", "moved"])
    covered = set(CoveredPerformance.objects.values_list("performance_id", flat=True))
    assert covered == set(played.values_list("pk", flat=True))  # every played performance, nothing else
    rows = list(TicketingFigures.objects.all())
    assert any(row.performance_count > 1 for row in rows)  # school performances as a series
    assert any(row.receipts_total == 0 and row.average_price is None for row in rows)  # the festival's free concert
    for row in rows:
        assert row.tickets_full_price + row.tickets_subscription + row.tickets_exempt <= row.tickets_total
        assert row.tickets_total <= row.capacity
        assert row.receipts_full_price <= row.receipts_total
    first = snapshot()
    again = StringIO()
    call_command("seed_demo_ticketing", "--profile", "structure-b", "--until", "season-end", stdout=again)
    assert "0 created, 0 updated" in again.getvalue()
    assert snapshot() == first


def test_each_structure_node_hosts_three_small_structures(settings: Any) -> None:
    seed_demo("structure-a")
    report = seed_demo_ticketing("structure-a")
    hosted = list(Organisation.objects.filter(pk__in=hosted_organisation_ids("structure-a")))
    assert len(hosted) == 3 == len(report.hosted)
    assert {organisation.name for organisation in hosted} == set(report.hosted)
    regions = set()
    for organisation in hosted:
        assert organisation.owner_id is None  # a structure describing itself, not the Lilas' partner record
        assert organisation.pk != own("structure-a").pk
        performances = Performance.objects.filter(owner=organisation)
        assert 15 <= performances.count() <= 40  # a few dozen
        assert {p.hall.venue.owner_id for p in performances} == {organisation.pk}  # its own venues
        assert {p.production.owner_id for p in performances} == {organisation.pk}  # its own productions
        assert len({p.production.discipline for p in performances}) >= 3
        assert all(SEASON_START <= p.start.astimezone(PARIS).date() <= SEASON_END for p in performances)
        figures = TicketingFigures.objects.filter(owner=organisation)
        assert sum(row.performance_count for row in figures) == performances.count()
        regions.add(organisation.region)
    assert regions == {"Auvergne-Rhône-Alpes", "Bretagne"}  # some share the node's region, one does not
    # deterministic and idempotent: the same ids, nothing new
    first = snapshot()
    again = seed_demo_ticketing("structure-a")
    assert again.created == again.updated == 0
    assert snapshot() == first
    assert Organisation.objects.filter(pk__in=hosted_organisation_ids("structure-a")).count() == 3


def test_no_hosted_writes_the_nodes_own_structure_only(settings: Any) -> None:
    seed_demo("structure-a")
    out = StringIO()
    call_command("seed_demo_ticketing", "--profile", "structure-a", "--until", "season-end", "--no-hosted", stdout=out)
    assert "hosted" not in out.getvalue()
    assert set(TicketingFigures.objects.values_list("owner_id", flat=True)) == {own("structure-a").pk}
    assert not Organisation.objects.filter(pk__in=hosted_organisation_ids("structure-a")).exists()
    with pytest.raises(CommandError, match="no-hosted"):
        call_command("seed_demo_ticketing", "--profile", "structure-a", "--no-hosted", "--ministry", MINISTRY)


def test_until_keeps_the_past_performances_only(settings: Any) -> None:
    seed_demo("structure-a")
    report = seed_demo_ticketing("structure-a", until=dt.datetime(2026, 10, 1, tzinfo=PARIS))
    assert report.created > 0
    assert TicketingFigures.objects.filter(first_date__gte=dt.date(2026, 10, 1)).count() == 0
    full = seed_demo_ticketing("structure-a")
    assert full.unchanged == report.created  # the September rows are the same figures
    assert TicketingFigures.objects.filter(quarter="2027-T2").exists()


def test_errors_are_clear(db: Any) -> None:
    with pytest.raises(DemoTicketingError, match="seed_demo --profile structure-a"):
        seed_demo_ticketing("structure-a")
    with pytest.raises(DemoTicketingError, match="unknown profile"):
        seed_demo_ticketing("ministry")
    with pytest.raises(CommandError):
        call_command("seed_demo_ticketing", "--profile", "structure-a", "--until", "demain")
    with pytest.raises(CommandError, match="structure"):
        call_command("seed_demo_ticketing", "--profile", "structure-a")


# ---------------------------------------------------------------------------- what the ministry may aggregate


def test_approvals_structure_a_answers_at_once(settings: Any) -> None:
    seed_demo("structure-a")
    admin = administrator()
    out = StringIO()
    call_command(
        "seed_demo_ticketing", "--profile", "structure-a", "--until", "season-end", "--ministry", MINISTRY, stdout=out
    )
    assert "3 agreements signed, 4 standing approvals given" in out.getvalue()
    structures = {own("structure-a").pk, *hosted_organisation_ids("structure-a")}
    approvals = StandingApproval.objects.all()
    assert {approval.owner_id for approval in approvals} == structures
    assert {approval.ministry for approval in approvals} == {MINISTRY}
    assert all(approval.revoked_at is None and approval.valid_until is None for approval in approvals)
    assert {approval.created_by_id for approval in approvals} == {admin.pk}
    # the node's operator administers the structures its node holds (who gives and revokes approvals)
    memberships = StaffMembership.objects.filter(user=admin, role=StaffMembership.Role.ADMINISTRATOR)
    assert set(memberships.values_list("organisation_id", flat=True)) == structures
    # once only
    again = seed_demo_approvals("structure-a", ministry=MINISTRY + "/")
    assert again.agreements == again.approvals == 0
    assert StandingApproval.objects.count() == 4


def test_approvals_structure_b_waits_for_its_administrator(settings: Any) -> None:
    seed_demo("structure-b")
    admin = administrator()
    seed_demo_ticketing("structure-b")
    report = seed_demo_approvals("structure-b", ministry=MINISTRY)
    estuaires = own("structure-b")
    assert report.by_administrator == [estuaires.name]
    assert report.administrator == "admin"
    approved = set(StandingApproval.objects.values_list("owner_id", flat=True))
    assert approved == set(hosted_organisation_ids("structure-b"))
    assert estuaires.pk not in approved
    from dataspace.indicators.declarations import may_approve

    assert may_approve(admin, estuaires)  # the printed demo account approves in the admin


def test_approvals_need_the_demo_data_and_the_administrator(settings: Any) -> None:
    with pytest.raises(DemoTicketingError, match="seed_demo"):
        seed_demo_approvals("structure-a", ministry=MINISTRY)
    seed_demo("structure-a")
    with pytest.raises(DemoTicketingError, match="seed_demo_ticketing"):
        seed_demo_approvals("structure-a", ministry=MINISTRY)
    seed_demo_ticketing("structure-a")
    with pytest.raises(DemoTicketingError, match="demo_account"):
        seed_demo_approvals("structure-a", ministry=MINISTRY)
    administrator()
    with pytest.raises(DemoTicketingError, match="base URL"):
        seed_demo_approvals("structure-a", ministry="ministere")


def peer_subject(base_url: str, scope: str) -> Subject:
    """The subject of a peer node's client, as the decision point sees a signed request of it."""
    Client.objects.create(
        client_id=base_url,
        name=f"Nœud {base_url}",
        owner=Organisation.objects.create(name=f"Exploitant de {base_url}", owner=own("structure-a")),
        kind="reader",
        allowed_scopes=[scope],
        grant_types=["client_credentials"],
        token_endpoint_auth_method="private_key_jwt",
        jwks_uri=f"{base_url}/.well-known/jwks.json",
    )
    return Subject(kind="client", client_id=base_url, node=base_url)


def test_the_ministry_may_aggregate_the_hosted_structures_and_nothing_more(settings: Any) -> None:
    settings.POLICY_MINISTRY_NODES = [MINISTRY]
    seed_demo("structure-a")
    administrator()
    sign_demo_agreements(own("structure-a"))  # the Lilas share their datasets with the federation
    seed_demo_ticketing("structure-a")
    seed_demo_approvals("structure-a", ministry=MINISTRY)
    ministry = peer_subject(MINISTRY, "indicators:aggregate")
    registry = peer_subject(REGISTRY, "federation:sync")
    other_ministry = peer_subject("http://127.0.0.1:9004", "indicators:aggregate")
    reporting = pdp.Context(purpose="reporting")
    for owner_id in hosted_organisation_ids("structure-a"):
        ref = pdp.ResourceRef(record_type="performance", record_id=None, owner_id=owner_id)
        assert pdp.decide(ministry, "aggregate", ref, reporting).permitted  # what a campaign checks
        assert pdp.decide(registry, "aggregate", ref, reporting).reason_code == "no_agreement"
        assert pdp.decide(ministry, "read", ref, pdp.Context(purpose="programming")).reason_code == "no_agreement"
        production = pdp.ResourceRef(record_type="production", record_id=None, owner_id=owner_id)
        assert pdp.decide(ministry, "aggregate", production, reporting).reason_code == "no_agreement"
    settings.POLICY_MINISTRY_NODES = [MINISTRY, "http://127.0.0.1:9004"]
    ref = pdp.ResourceRef(record_type="performance", record_id=None, owner_id=hosted_organisation_ids("structure-a")[0])
    assert pdp.decide(other_ministry, "aggregate", ref, reporting).reason_code == "no_agreement"  # bound to one node
    lilas = pdp.ResourceRef(record_type="performance", record_id=None, owner_id=own("structure-a").pk)
    assert pdp.decide(ministry, "aggregate", lilas, reporting).permitted
    agreements = Agreement.objects.filter(owner_id__in=hosted_organisation_ids("structure-a"))
    assert {(a.target_type, a.grantee, a.grantee_node, tuple(a.purposes)) for a in agreements} == {
        ("performance", "ministry", MINISTRY, ("reporting",))
    }


def feed_reader(base_url: str) -> APIClient:
    """A peer node reading this node's change feed (signed, federation:sync), like the registry."""
    client = Client.objects.create(
        client_id=f"noeud-{base_url.split('//')[1]}",
        name=f"Nœud {base_url}",
        owner=Organisation.objects.create(name=f"Exploitant de {base_url}", owner=own("structure-b")),
        kind="reader",
        allowed_scopes=["federation:sync"],
        grant_types=["client_credentials"],
        token_endpoint_auth_method="private_key_jwt",
        jwks_uri=f"{base_url}/.well-known/jwks.json",
    )
    token, _issued = mint_token(client, "federation:sync")
    _member, key = register_peer(base_url, roles=("registry",))
    api = SignedAPIClient(key)
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return api


def test_hosted_structures_never_reach_the_registry(settings: Any) -> None:
    """Neither the change feed the registry replicates nor the node's answer to a live search
    carries a record of a hosted structure: they signed no federation agreement."""
    settings.POLICY_MINISTRY_NODES = [MINISTRY]
    seed_demo("structure-b")
    administrator()
    sign_demo_agreements(own("structure-b"))
    seed_demo_ticketing("structure-b")
    seed_demo_approvals("structure-b", ministry=MINISTRY)
    hosted = {str(pk) for pk in hosted_organisation_ids("structure-b")}
    hosted_records = {
        str(pk)
        for model in (Venue, Hall, Season, Production, Performance)
        for pk in model.objects.filter(owner_id__in=hosted).values_list("pk", flat=True)
    }
    assert len(hosted_records) > 60
    reader, params, changes = feed_reader(REGISTRY), {"limit": 1000}, []
    while True:
        response = reader.get("/api/v1/changes", params)
        assert response.status_code == 200, response.content
        page = response.json()
        changes += page["changes"]
        if not page["has_more"]:
            break
        params["since"] = page["next"]
    received = {change["uuid"] for change in changes}
    assert received, "the Estuaires' own records are replicated"
    assert str(own("structure-b").pk) in received
    assert not received & hosted
    assert not received & hosted_records
    assert not {change["owner"] for change in changes} & hosted
    # live search answers from the node's own index, filtered the same way for the registry
    from federation.models import IndexedRecord
    from federation.replication import index_local

    index_local()
    indexed = IndexedRecord.objects.filter(owner_id__in=hosted)
    assert indexed.exists()  # the node's own index holds them (its own pages)…
    registry = Reader(client_id=REGISTRY, node=REGISTRY, organisation_id=None)
    allowed = feed_filter(registry)
    assert not [row for row in indexed if allowed.allows(row.owner_id, row.record_type, "upsert")]  # …never sent


# ---------------------------------------------------------------------------- the campaign's table


def groupings(dimensions: tuple[str, ...]) -> dict[tuple[Any, ...], dict[str, Any]]:
    """This node's cells for every subset of `dimensions`, keyed with TOTAL for a summed dimension."""
    cells: dict[tuple[Any, ...], dict[str, Any]] = {}
    for size in range(len(dimensions), -1, -1):
        for subset in itertools.combinations(dimensions, size):
            answer = local_aggregate(*SEASON, list(subset))
            for cell in answer["cells"] if subset else [{"key": {}, **answer["total"]}]:
                key = tuple(cell["key"][name] if name in subset else TOTAL for name in dimensions)
                cells[key] = cell
    return cells


def combined(parts: list[dict[tuple[Any, ...], dict[str, Any]]]) -> dict[tuple[Any, ...], dict[str, Any]]:
    """Partials of several nodes added up: values and contributors summed, the largest kept."""
    total: dict[tuple[Any, ...], dict[str, Any]] = {}
    for part in parts:
        for key, cell in part.items():
            zero = {m: Decimal("0.00") if m in AMOUNTS else 0 for m in CAMPAIGN_MEASURES}
            into = total.setdefault(key, {"values": dict(zero), "contributors": 0, "largest": dict(zero)})
            into["contributors"] += cell["contributors"]
            for m in CAMPAIGN_MEASURES:
                into["values"][m] += cell["values"][m]
                into["largest"][m] = max(into["largest"][m], cell["largest"][m])
    return total


def published(cells: dict[tuple[Any, ...], dict[str, Any]]) -> dict[tuple[Any, ...], Any]:
    tables = {}
    for m in CAMPAIGN_MEASURES:
        figures = {k: CellFigures(c["values"][m], c["contributors"], c["largest"][m]) for k, c in cells.items()}
        tables[m] = cross_table(
            {k: f for k, f in figures.items() if TOTAL not in k}, {k: f for k, f in figures.items() if TOTAL in k}
        )
    return protect_jointly(tables)["attendance"].cells


def test_the_demo_federation_gives_a_campaign_worth_launching(settings: Any) -> None:
    """Over both structure nodes, discipline × region over the season: published cells, cells
    confidential (fewer than 3 structures; one above 85 %) and cells secondary suppression hides;
    by quarter too."""
    dims, quarters = ("discipline", "region"), ("quarter",)
    parts, by_quarter = [], []
    for profile in ("structure-a", "structure-b"):
        seed_demo(profile, reset=True)
        seed_demo_ticketing(profile)
        parts.append(groupings(dims))
        by_quarter.append(groupings(quarters))
    cells = combined(parts)
    table = published(cells)
    status = {key: cell.status for key, cell in table.items()}
    assert status[("theatre", "Auvergne-Rhône-Alpes")] == "published"  # the Lilas and two hosted
    assert status[("music", "Bretagne")] == "published"  # one structure hosted at a, two at b
    assert [c["contributors"] for c in (parts[0][("music", "Bretagne")], parts[1][("music", "Bretagne")])] == [1, 2]
    assert status[(TOTAL, TOTAL)] == "published"
    assert status[("theatre", "Pays de la Loire")] == "primary"  # the Estuaires and one hosted
    assert cells[("theatre", "Pays de la Loire")]["contributors"] == 2
    dominated = table[("circus", "Auvergne-Rhône-Alpes")]
    assert cells[("circus", "Auvergne-Rhône-Alpes")]["contributors"] == 3
    assert dominated.status == "primary"
    assert "85" in (dominated.reason or "")  # the Lilas weigh more than 85 %
    assert "secondary" in status.values()
    assert sum(value == "published" for value in status.values()) >= 6
    quarter_status = {key: cell.status for key, cell in published(combined(by_quarter)).items()}
    assert set(quarter_status.values()) == {"published", "primary", "secondary"}
    assert quarter_status[("2026-T3",)] == "primary"  # September: the two scenes only
