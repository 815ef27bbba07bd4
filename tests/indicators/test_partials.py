"""A structure node's part of a ministry campaign (dataspace.indicators.partials): who is counted,
the exact partial, approval by each structure's administrators, idempotence, the journal.

The helpers at the top (`ministry_peer`, `ministry_subject`, `three_structures`, `agree`, `ask`…)
are shared with test_aggregates_api.py and test_aggregation_admin.py.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from decimal import Decimal
from typing import Any

import pytest
from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from dataspace.audit.models import JournalEntry
from dataspace.indicators import partials
from dataspace.indicators.aggregate import MEASURES, aggregate_per_owner, combine_cells, local_aggregate
from dataspace.indicators.models import AggregationRequest, StandingApproval
from dataspace.node.models import StaffMembership
from federation.models import OutboxMessage
from policies.subject import Subject
from tests.factories import PARIS, HallFactory, OrganisationFactory, UserFactory
from tests.indicators.factories import figures, run

pytestmark = pytest.mark.django_db

MINISTRY = "https://ministere.example"
Q4 = (dt.date(2026, 10, 1), dt.date(2026, 12, 31))
MEASURES_ASKED = ["attendance", "capacity", "receipts", "paying_tickets"]


# ---------------------------------------------------------------------------- shared helpers


def ministry_client_row(base_url: str = MINISTRY, scopes: str = "indicators:aggregate") -> Any:
    """The OAuth client a member node with role ministry has on this node (as ensure_peer_clients
    makes it: client id = its base URL, private_key_jwt with its jwks_uri, reader)."""
    from dataspace.oauth.models import Client

    existing = Client.objects.filter(client_id=base_url).first()
    if existing is not None:
        return existing
    return Client.objects.create(
        client_id=base_url,
        name="Nœud membre Ministère",
        owner=OrganisationFactory(name="Exploitant du nœud du ministère"),
        kind="reader",
        allowed_scopes=scopes.split(),
        grant_types=["client_credentials"],
        token_endpoint_auth_method="private_key_jwt",
        jwks_uri=f"{base_url}/.well-known/jwks.json",
    )


def ministry_peer(base_url: str = MINISTRY) -> tuple[Any, Any]:
    """A trusted member with role ministry (its Peer row and key) and its client on this node."""
    from tests.federation.signed import register_peer

    peer, key = register_peer(base_url, roles=("ministry",), name="Ministère")
    ministry_client_row(base_url)
    return peer, key


def ministry_subject(base_url: str = MINISTRY) -> Subject:
    """The decision point's subject of the ministry node's signed request (as build_subject makes it)."""
    client = ministry_client_row(base_url)
    return Subject(kind="client", client_id=base_url, acts_for=frozenset({client.owner_id}), node=base_url)


def agree(owner: Any, *, purposes: tuple[str, ...] = ("reporting",), **terms: Any) -> Any:
    """A data-sharing agreement of `owner` for its performances, with the federation, in force."""
    from tests.consent.agreement_factories import federation_agreement

    return federation_agreement(owner, "performance", purposes=list(purposes), **terms)


def administrator(owner: Any, username: str) -> Any:
    user = UserFactory(username=username, is_staff=True)
    StaffMembership.objects.create(user=user, organisation=owner, role="administrator")
    return user


def stand(owner: Any, *, ministry: str = "", valid_until: dt.date | None = None) -> StandingApproval:
    """A standing approval of `owner`, given by a new administrator of it."""
    membership = StaffMembership.objects.filter(organisation=owner, role="administrator").first()
    by = membership.user if membership else administrator(owner, f"permanent-{owner.pk.hex[:6]}")
    return partials.give_standing_approval(owner, by=by, ministry=ministry, valid_until=valid_until)


def three_structures(theatre: Any) -> dict[str, Any]:
    """The node's structures and their Q4 2026 figures (and one row outside the period):

    | structure | region | rows (discipline, month: tickets, receipts) |
    |---|---|---|
    | theatre | Bretagne | theatre Oct: 200, 3000.00 · theatre Nov: 250, 4000.50 · (theatre Jan 2027) |
    | opera | Auvergne-Rhône-Alpes | opera Oct: 900 (exempt 100), 45000.00 |
    | cirque | Bretagne | circus Nov: 400, 5000.00 · theatre Dec: 100, 800.25 |
    """
    opera = OrganisationFactory(name="Opéra fictif", region="Auvergne-Rhône-Alpes", departement="69")
    cirque = OrganisationFactory(name="Cirque fictif", region="Bretagne", departement="29")
    theatre_hall = HallFactory(
        venue__owner=theatre, owner=theatre, venue__region="Bretagne", venue__departement="35", seated_capacity=300
    )
    opera_hall = HallFactory(
        venue__owner=opera, owner=opera, venue__region="Auvergne-Rhône-Alpes", seated_capacity=1000
    )
    cirque_hall = HallFactory(
        venue__owner=cirque, owner=cirque, venue__region="Bretagne", venue__departement="29", seated_capacity=500
    )

    def at(month: int, day: int, year: int = 2026) -> dt.datetime:
        return dt.datetime(year, month, day, 20, 0, tzinfo=PARIS)

    rows = {
        "T-1": figures(run(theatre, 1, start=at(10, 6), hall=theatre_hall, discipline="theatre"), "T-1",
                       tickets_total=200, receipts_total="3000.00"),
        "T-2": figures(run(theatre, 1, start=at(11, 10), hall=theatre_hall, discipline="theatre"), "T-2",
                       tickets_total=250, receipts_total="4000.50"),
        "T-OUT": figures(run(theatre, 1, start=at(1, 12, 2027), hall=theatre_hall, discipline="theatre"), "T-OUT",
                         tickets_total=280, receipts_total="5600.00"),
        "O-1": figures(run(opera, 1, start=at(10, 6), hall=opera_hall, discipline="opera"), "O-1",
                       tickets_total=900, tickets_exempt=100, receipts_total="45000.00"),
        "C-1": figures(run(cirque, 1, start=at(11, 20), hall=cirque_hall, discipline="circus"), "C-1",
                       tickets_total=400, receipts_total="5000.00"),
        "C-2": figures(run(cirque, 1, start=at(12, 1), hall=cirque_hall, discipline="theatre"), "C-2",
                       tickets_total=100, receipts_total="800.25"),
    }  # fmt: skip
    return {"theatre": theatre, "opera": opera, "cirque": cirque, "rows": rows, "halls": [theatre_hall, opera_hall]}


def ask_body(
    *, dimensions: list[str] | None = None, measures: list[str] | None = None, campaign: Any = None, **more: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "campaign": str(campaign or uuid.uuid4()),
        "title": "Fréquentation T4 2026",
        "period": {"start": Q4[0].isoformat(), "end": Q4[1].isoformat()},
        "dimensions": ["discipline", "region"] if dimensions is None else dimensions,
        "measures": MEASURES_ASKED if measures is None else measures,
        "indicators": [{"code": "attendance", "version": 1, "label": "Fréquentation"}],
    }
    body.update(more)
    return body


def ask(**kwargs: Any) -> partials.Ask:
    return partials.parse_ask(ask_body(**kwargs))


def answer(question: partials.Ask, **kwargs: Any) -> partials.Answer:
    return partials.answer(question, ministry=MINISTRY, subject=ministry_subject(), **kwargs)


def grouping(body: dict[str, Any], *dimensions: str) -> dict[str, Any]:
    [found] = [g for g in body["groupings"] if g["dimensions"] == list(dimensions)]
    return found


def cell(body: dict[str, Any], **key: Any) -> dict[str, Any]:
    [found] = [c for c in grouping(body, *key)["cells"] if c["key"] == key]
    return found


def as_json_cell(document: dict[str, Any], measures: list[str]) -> dict[str, Any]:
    """`local_aggregate`'s cell in the wire form (the reference the partial must equal)."""
    return partials.cell_json(document, measures)


@pytest.fixture
def node(theatre: Any) -> dict[str, Any]:
    """Three structures with agreements in force for the ministry's reporting."""
    data = three_structures(theatre)
    for name in ("theatre", "opera", "cirque"):
        agree(data[name])
    ministry_peer()
    return data


@pytest.fixture
def standing(node: dict[str, Any]) -> dict[str, Any]:
    """Every structure gave a standing approval (to any ministry node)."""
    for name in ("theatre", "opera", "cirque"):
        stand(node[name])
    return node


# ---------------------------------------------------------------------------- the partial


def test_the_partial_with_two_dimensions_is_exact(standing: dict[str, Any]) -> None:
    result = answer(ask())
    assert result.status == 200
    body = result.body
    assert set(body) == {"campaign", "node", "as_of", "period", "dimensions", "measures", "structures", "groupings"}
    assert body["period"] == {"start": "2026-10-01", "end": "2026-12-31"}
    assert body["dimensions"] == ["discipline", "region"]
    assert body["measures"] == MEASURES_ASKED
    assert body["node"] == settings.NODE_BASE_URL
    assert body["campaign"] == str(AggregationRequest.objects.get().campaign)
    # the structures counted, by name (the ministry checks that no structure is counted twice)
    assert body["structures"] == [standing["cirque"].uri, standing["opera"].uri, standing["theatre"].uri]
    # 2^2 groupings: the full one first, then by decreasing size in the request's order
    assert [g["dimensions"] for g in body["groupings"]] == [["discipline", "region"], ["discipline"], ["region"], []]
    # by hand: theatre × Bretagne holds the theatre (T-1, T-2) and the circus's theatre show (C-2)
    theatre_bretagne = cell(body, discipline="theatre", region="Bretagne")
    assert theatre_bretagne == {
        "key": {"discipline": "theatre", "region": "Bretagne"},
        "values": {"attendance": 550, "capacity": 1100, "receipts": "7800.75", "paying_tickets": 550},
        "contributors": 2,
        "largest": {"attendance": 450, "capacity": 600, "receipts": "7000.50", "paying_tickets": 450},
    }
    opera = cell(body, discipline="opera", region="Auvergne-Rhône-Alpes")
    assert opera["values"] == {"attendance": 900, "capacity": 1000, "receipts": "45000.00", "paying_tickets": 800}
    assert opera["contributors"] == 1
    assert cell(body, region="Bretagne")["contributors"] == 2
    assert cell(body, region="Bretagne")["values"]["attendance"] == 950
    [total] = grouping(body)["cells"]
    assert total["key"] == {}
    assert total["contributors"] == 3
    assert total["values"] == {"attendance": 1850, "capacity": 2600, "receipts": "57800.75", "paying_tickets": 1750}
    assert total["largest"]["receipts"] == "45000.00"
    # every grouping equals this node's local aggregate (one independent query per grouping)
    owners = [standing[name].pk for name in ("theatre", "opera", "cirque")]
    for subset in (["discipline", "region"], ["discipline"], ["region"]):
        reference = local_aggregate(*Q4, subset, owner_ids=owners)
        assert grouping(body, *subset)["cells"] == [as_json_cell(c, MEASURES_ASKED) for c in reference["cells"]]
    assert total == as_json_cell({"key": {}, **local_aggregate(*Q4, [], owner_ids=owners)["total"]}, MEASURES_ASKED)


def test_margins_are_consistent_with_the_full_table(standing: dict[str, Any]) -> None:
    body = answer(ask()).body
    full = grouping(body, "discipline", "region")["cells"]
    for margin_name, position in (("discipline", 0), ("region", 1)):
        for margin in grouping(body, margin_name)["cells"]:
            inner = [c for c in full if c["key"][margin_name] == margin["key"][margin_name]]
            for measure in MEASURES_ASKED:
                assert sum(Decimal(str(c["values"][measure])) for c in inner) == Decimal(str(margin["values"][measure]))
            # one structure in two inner cells counts once in the margin
            assert (
                max(c["contributors"] for c in inner) <= margin["contributors"] <= sum(c["contributors"] for c in inner)
            )
            assert position in (0, 1)
    [total] = grouping(body)["cells"]
    for measure in MEASURES_ASKED:
        assert sum(Decimal(str(c["values"][measure])) for c in full) == Decimal(str(total["values"][measure]))


def test_no_dimension_is_one_total_and_one_dimension_two_groupings(standing: dict[str, Any]) -> None:
    none = answer(ask(dimensions=[], measures=["attendance"])).body
    assert none["groupings"] == [
        {
            "dimensions": [],
            "cells": [{"key": {}, "values": {"attendance": 1850}, "contributors": 3, "largest": {"attendance": 900}}],
        }
    ]
    one = answer(ask(dimensions=["month"], measures=["receipts", "performances"])).body
    assert [g["dimensions"] for g in one["groupings"]] == [["month"], []]
    assert [c["key"]["month"] for c in grouping(one, "month")["cells"]] == ["2026-10", "2026-11", "2026-12"]
    november = cell(one, month="2026-11")
    assert november["values"] == {"receipts": "9000.50", "performances": 2}
    assert november["contributors"] == 2
    assert list(november["values"]) == ["receipts", "performances"]  # only the measures asked, in their order


def test_amounts_are_strings_with_two_decimals_and_counts_integers(standing: dict[str, Any]) -> None:
    body = answer(ask(measures=list(MEASURES))).body
    for group in body["groupings"]:
        for item in group["cells"]:
            for part in ("values", "largest"):
                for measure, value in item[part].items():
                    if measure in ("receipts", "receipts_full_price"):
                        assert isinstance(value, str)
                        assert len(value.split(".")[1]) == 2
                    else:
                        assert isinstance(value, int)


def test_the_partial_carries_no_row(standing: dict[str, Any]) -> None:
    body = answer(ask(dimensions=["month", "venue_type"], measures=list(MEASURES))).body
    text = json.dumps(body, ensure_ascii=False)
    for external_id in standing["rows"]:
        assert external_id not in text
    for row in standing["rows"].values():
        assert str(row.pk) not in text
        assert str(row.production_id) not in text
    assert "Les Comptes" not in text
    assert "T-OUT" not in text
    assert set(body) == {"campaign", "node", "as_of", "period", "dimensions", "measures", "structures", "groupings"}
    for group in body["groupings"]:
        for item in group["cells"]:
            assert set(item) == {"key", "values", "contributors", "largest"}


# ---------------------------------------------------------------------------- standing approvals, idempotence


def test_standing_approvals_answer_at_once_and_the_same_partial_comes_back(standing: dict[str, Any]) -> None:
    question = ask()
    first = answer(question)
    assert first.status == 200
    stored = AggregationRequest.objects.get()
    assert stored.state == AggregationRequest.State.SENT
    assert stored.sent_at is not None
    assert {entry["approval"] for entry in stored.structures} == {"standing"}
    # the figures change afterwards: the ministry asking again gets the very same document
    figures(run(standing["opera"], 1, start=dt.datetime(2026, 11, 3, 20, 0, tzinfo=PARIS), discipline="opera"),
            "O-2", tickets_total=300, receipts_total="9000.00")  # fmt: skip
    later = answer(question, now=timezone.now() + dt.timedelta(hours=2))
    assert later.status == 200
    assert later.body == first.body
    assert later.body["as_of"] == first.body["as_of"]
    stored.refresh_from_db()
    assert stored.asks == 2
    assert AggregationRequest.objects.count() == 1


def test_a_changed_request_for_the_same_campaign_is_a_409(standing: dict[str, Any]) -> None:
    campaign = uuid.uuid4()
    assert answer(ask(campaign=campaign)).status == 200
    changed = answer(ask(campaign=campaign, dimensions=["region"]))
    assert changed.status == 409
    assert changed.body["error"] == "changed_request"
    assert answer(ask(campaign=campaign, measures=["attendance"])).status == 409
    other_period = ask_body(campaign=campaign, period={"start": "2026-10-01", "end": "2026-11-30"})
    assert answer(partials.parse_ask(other_period)).status == 409
    assert answer(ask(campaign=campaign)).status == 200  # the original request still answers
    [entry] = JournalEntry.objects.filter(action="indicators.aggregate_answered", reason_code="changed_request")[:1]
    assert entry.decision == "deny"
    assert entry.client_id == MINISTRY


def test_the_same_campaign_from_another_ministry_node_is_another_request(standing: dict[str, Any]) -> None:
    campaign = uuid.uuid4()
    assert answer(ask(campaign=campaign)).status == 200
    other = "https://autre-ministere.example"
    ministry_peer(other)
    result = partials.answer(ask(campaign=campaign, dimensions=[]), ministry=other, subject=ministry_subject(other))
    assert result.status == 200
    assert AggregationRequest.objects.count() == 2


def test_which_standing_approvals_apply(node: dict[str, Any]) -> None:
    today = timezone.localdate()
    theatre, opera, cirque = node["theatre"], node["opera"], node["cirque"]
    stand(theatre, ministry=MINISTRY + "/")  # for this ministry node (trailing slash ignored)
    expired = stand(opera, valid_until=today)
    StandingApproval.objects.filter(pk=expired.pk).update(valid_until=today - dt.timedelta(days=1))
    revoked = stand(cirque)
    partials.revoke_standing_approval(revoked, by=StaffMembership.objects.filter(organisation=cirque).get().user)
    stand(cirque, ministry="https://un-autre-ministere.example")
    result = answer(ask())
    assert result.status == 202
    approvals = {entry["name"]: entry["approval"] for entry in AggregationRequest.objects.get().structures}
    assert approvals == {theatre.name: "standing", opera.name: "pending", cirque.name: "pending"}
    assert result.body["pending"] == 2
    with pytest.raises(ValidationError) as past:
        stand(opera, valid_until=today - dt.timedelta(days=1))
    assert "valid_until" in past.value.message_dict
    with pytest.raises(ValidationError) as bad:
        stand(opera, ministry="ministere")
    assert "ministry" in bad.value.message_dict


# ---------------------------------------------------------------------------- approval by each structure


def test_pending_then_approved_notice_then_the_stored_contribution_leaves(node: dict[str, Any]) -> None:
    stand(node["theatre"])
    stand(node["cirque"])
    question = ask()
    waiting = answer(question)
    assert waiting.status == 202
    stored = AggregationRequest.objects.get()
    assert waiting.body == {
        "status": "awaiting_approval",
        "request": str(stored.pk),
        "detail": waiting.body["detail"],
        "pending": 1,
    }
    assert "approuver" in waiting.body["detail"]
    assert stored.state == AggregationRequest.State.PENDING
    assert stored.partial is None
    opera_entry = next(e for e in stored.structures if e["id"] == str(node["opera"].pk))
    assert opera_entry["approval"] == "pending"
    shown = opera_entry["groupings"]
    # asking again while pending: still 202, nothing leaves
    assert answer(question).status == 202
    # the opera's figures change before its administrator looks: the stored contribution stays
    figures(run(node["opera"], 1, start=dt.datetime(2026, 11, 3, 20, 0, tzinfo=PARIS), discipline="opera"),
            "O-2", tickets_total=300, receipts_total="9000.00")  # fmt: skip
    assert not OutboxMessage.objects.filter(kind=partials.NOTICE_KIND).exists()
    boss = administrator(node["opera"], "directrice-opera")
    partials.approve(stored, node["opera"], by=boss)
    stored.refresh_from_db()
    assert stored.state == AggregationRequest.State.APPROVED
    assert stored.decided_by == boss
    [notice] = OutboxMessage.objects.filter(kind=partials.NOTICE_KIND)
    assert notice.destination == MINISTRY
    assert notice.payload == {"campaign": str(stored.campaign), "request": str(stored.pk)}
    result = answer(question)
    assert result.status == 200
    assert result.body == stored.partial
    opera_cell = cell(result.body, discipline="opera", region="Auvergne-Rhône-Alpes")
    assert opera_cell["values"]["attendance"] == 900  # not 1200: what the administrator saw and approved
    [shown_cell] = shown[0]["cells"]  # the opera alone: one cell (opera, Auvergne-Rhône-Alpes)
    assert shown_cell["values"] == opera_cell["values"]
    stored.refresh_from_db()
    assert stored.state == AggregationRequest.State.SENT
    assert stored.asks == 3


def test_a_refused_structure_is_left_out(node: dict[str, Any]) -> None:
    stand(node["theatre"])
    stand(node["cirque"])
    question = ask(dimensions=[], measures=["attendance"])
    answer(question)
    stored = AggregationRequest.objects.get()
    partials.refuse(stored, node["opera"], by=administrator(node["opera"], "dir-opera"), reason="Pas cette fois")
    assert OutboxMessage.objects.filter(kind=partials.NOTICE_KIND).count() == 1
    result = answer(question)
    assert result.status == 200
    assert result.body["structures"] == [node["cirque"].uri, node["theatre"].uri]
    [total] = result.body["groupings"][0]["cells"]
    assert total["values"] == {"attendance": 950}
    assert total["contributors"] == 2
    entry = next(e for e in AggregationRequest.objects.get().structures if e["id"] == str(node["opera"].pk))
    assert entry["approval"] == "refused"
    assert entry["reason"] == "Pas cette fois"
    assert entry["decided_by"] == "dir-opera"


def test_when_every_structure_refuses_the_answer_is_403(node: dict[str, Any]) -> None:
    question = ask()
    assert answer(question).status == 202
    stored = AggregationRequest.objects.get()
    for name in ("theatre", "opera", "cirque"):
        partials.refuse(stored, node[name], by=administrator(node[name], f"admin-{name}"))
    stored.refresh_from_db()
    assert stored.state == AggregationRequest.State.REFUSED
    assert OutboxMessage.objects.filter(kind=partials.NOTICE_KIND).count() == 1  # after the last decision only
    refused = answer(question)
    assert refused.status == 403
    assert refused.body["error"] == "refused"
    assert "3 refusée(s)" in refused.body["detail"]
    assert answer(question).status == 403  # administrators' refusals stand for the campaign


def test_only_the_structures_own_administrator_decides(node: dict[str, Any]) -> None:
    answer(ask())
    stored = AggregationRequest.objects.get()
    admin_of_theatre = administrator(node["theatre"], "admin-theatre")
    with pytest.raises(PermissionDenied):
        partials.approve(stored, node["opera"], by=admin_of_theatre)
    editor = UserFactory(username="editeur-opera", is_staff=True)
    StaffMembership.objects.create(user=editor, organisation=node["opera"], role="editor")
    with pytest.raises(PermissionDenied):
        partials.approve(stored, node["opera"], by=editor)
    operator = UserFactory(username="operateur", is_staff=True, is_superuser=True)
    with pytest.raises(PermissionDenied):
        partials.refuse(stored, node["opera"], by=operator)
    assert all(entry["approval"] == "pending" for entry in AggregationRequest.objects.get().structures)
    partials.approve(stored, node["theatre"], by=admin_of_theatre)
    with pytest.raises(partials.AggregationConflict):
        partials.refuse(stored, node["theatre"], by=admin_of_theatre)  # already decided
    stranger = OrganisationFactory(name="Structure sans chiffres")
    with pytest.raises(partials.AggregationConflict):
        partials.approve(stored, stranger, by=administrator(stranger, "admin-stranger"))


def test_giving_a_standing_approval_settles_the_pending_requests(node: dict[str, Any]) -> None:
    stand(node["theatre"])
    stand(node["cirque"])
    question = ask()
    assert answer(question).status == 202
    stand(node["opera"], ministry=MINISTRY)
    stored = AggregationRequest.objects.get()
    assert stored.state == AggregationRequest.State.APPROVED
    assert next(e for e in stored.structures if e["id"] == str(node["opera"].pk))["approval"] == "standing"
    assert OutboxMessage.objects.filter(kind=partials.NOTICE_KIND).count() == 1
    assert answer(question).status == 200
    approved = JournalEntry.objects.get(action="indicators.aggregate_approved", owner_id=node["opera"].pk)
    assert approved.details["standing_approval"]


# ---------------------------------------------------------------------------- the decision point


def test_a_policy_without_aggregate_excludes_the_structure(
    node: dict[str, Any], django_capture_on_commit_callbacks: Any
) -> None:
    from policies.services import save_policy

    with django_capture_on_commit_callbacks(execute=True):  # the policy generation moves on commit
        save_policy(owner=node["opera"], target_type="performance", templates=[{"name": "licensed_only"}])
    for name in ("theatre", "opera", "cirque"):
        stand(node[name])
    result = answer(ask(dimensions=[], measures=["attendance"]))
    assert result.status == 200
    assert node["opera"].uri not in result.body["structures"]
    assert result.body["groupings"][0]["cells"][0]["values"] == {"attendance": 950}
    stored = AggregationRequest.objects.get()
    [excluded] = stored.excluded
    assert excluded["id"] == str(node["opera"].pk)
    assert excluded["reason_code"]
    assert excluded["reason"]  # the decision point's French sentence
    denied = JournalEntry.objects.get(action="indicators.aggregate_answered", owner_id=node["opera"].pk)
    assert denied.decision == "deny"
    assert denied.reason_code == excluded["reason_code"]


def test_the_ministry_aggregates_only_template_permits_that_ministry_only(
    node: dict[str, Any], django_capture_on_commit_callbacks: Any
) -> None:
    from policies.services import save_policy

    with django_capture_on_commit_callbacks(execute=True):
        save_policy(
            owner=node["opera"],
            target_type="performance",
            templates=[{"name": "ministry_aggregates_only", "nodes": [MINISTRY]}],
        )
        save_policy(
            owner=node["cirque"],
            target_type="performance",
            templates=[{"name": "ministry_aggregates_only", "nodes": ["https://un-autre-ministere.example"]}],
        )
    for name in ("theatre", "opera", "cirque"):
        stand(node[name])
    result = answer(ask(dimensions=[]))
    assert result.body["structures"] == [node["opera"].uri, node["theatre"].uri]
    assert [item["id"] for item in AggregationRequest.objects.get().excluded] == [str(node["cirque"].pk)]


def test_without_an_agreement_in_force_the_structure_is_left_out(theatre: Any) -> None:
    data = three_structures(theatre)
    agree(data["theatre"])
    agree(data["opera"], purposes=("programming",))  # an agreement, but not for reporting
    ministry_peer()
    for name in ("theatre", "opera", "cirque"):
        stand(data[name])
    result = answer(ask(dimensions=[]))
    assert result.status == 200
    assert result.body["structures"] == [data["theatre"].uri]
    reasons = {item["name"]: item["reason_code"] for item in AggregationRequest.objects.get().excluded}
    assert reasons == {data["opera"].name: "no_agreement", data["cirque"].name: "no_agreement"}


def test_nobody_counted_is_403_and_a_rerun_counts_a_structure_that_signed_since(theatre: Any) -> None:
    data = three_structures(theatre)
    ministry_peer()
    stand(data["theatre"])
    question = ask(dimensions=[], measures=["attendance"])
    refused = answer(question)
    assert refused.status == 403
    assert refused.body["error"] == "refused"
    assert "3 exclue(s)" in refused.body["detail"]
    assert AggregationRequest.objects.get().state == AggregationRequest.State.REFUSED
    agree(data["theatre"])  # the theatre signs an agreement: the ministry's rerun counts it
    rerun = answer(question)
    assert rerun.status == 200
    assert rerun.body["structures"] == [data["theatre"].uri]
    assert rerun.body["groupings"][0]["cells"][0]["values"] == {"attendance": 450}


def test_a_node_without_figures_in_the_period_refuses(db: Any) -> None:
    ministry_peer()
    result = partials.answer(
        partials.parse_ask(ask_body(period={"start": "2020-01-01", "end": "2020-03-31"})),
        ministry=MINISTRY,
        subject=ministry_subject(),
    )
    assert result.status == 403
    assert "ne détient de chiffres" in result.body["detail"]
    entry = JournalEntry.objects.get(action="indicators.aggregate_answered")
    assert entry.reason_code == "no_figures"


def test_an_agreement_revoked_before_the_partial_leaves_takes_the_structure_out(node: dict[str, Any]) -> None:
    from dataspace.consent.agreements import revoke_agreement
    from dataspace.consent.models import Agreement

    stand(node["theatre"])
    stand(node["cirque"])
    question = ask(dimensions=[], measures=["attendance"])
    assert answer(question).status == 202
    stored = AggregationRequest.objects.get()
    partials.approve(stored, node["opera"], by=administrator(node["opera"], "dir-opera"))
    agreement = Agreement.objects.get(owner=node["cirque"])
    revoke_agreement(agreement, by=StaffMembership.objects.filter(organisation=node["cirque"]).first().user)
    result = answer(question)
    assert result.status == 200
    assert node["cirque"].uri not in result.body["structures"]
    assert result.body["groupings"][0]["cells"][0]["values"] == {"attendance": 1350}
    assert [item["reason_code"] for item in AggregationRequest.objects.get().excluded] == ["no_agreement"]
    assert answer(question).body == result.body


# ---------------------------------------------------------------------------- the request


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"campaign": "pas-un-uuid"}, "campaign"),
        ({"campaign": None}, "campaign"),
        ({"period": {"start": "2026-13-01", "end": "2026-12-31"}}, "period.start"),
        ({"period": {"end": "2026-12-31"}}, "period.start"),
        ({"period": {"start": "2026-10-01"}}, "period.end"),
        ({"period": {"start": "2026-10-01", "end": "2026-09-30"}}, "period.end"),
        ({"period": {"start": "2026-01-01", "end": "2027-01-02"}}, "period.end"),
        ({"period": "2026-T4"}, "period.start"),
        ({"dimensions": ["genre"]}, "dimensions"),
        ({"dimensions": ["discipline", "region", "month"]}, "dimensions"),
        ({"dimensions": ["region", "region"]}, "dimensions"),
        ({"dimensions": "region"}, "dimensions"),
        ({"measures": []}, "measures"),
        ({"measures": ["attendance", "bonheur"]}, "measures"),
        ({"measures": None}, "measures"),
        ({"title": 12}, "title"),
        ({"indicators": "attendance"}, "indicators"),
    ],
)
def test_a_bad_request_names_its_field(change: dict[str, Any], field: str) -> None:
    body = ask_body()
    body.update(change)
    with pytest.raises(ValidationError) as refused:
        partials.parse_ask(body)
    assert field in refused.value.message_dict, refused.value.message_dict


def test_a_good_request_and_its_limits() -> None:
    leap = partials.parse_ask(ask_body(period={"start": "2027-07-01", "end": "2028-06-30"}))  # 366 days
    assert (leap.period_end - leap.period_start).days + 1 == 366
    assert partials.parse_ask(ask_body(dimensions=[])).dimensions == ()
    with pytest.raises(ValidationError) as not_json:
        partials.parse_ask(["campaign"])
    assert "campaign" in not_json.value.message_dict
    assert ask().fingerprint == ask().fingerprint
    assert ask().fingerprint != ask(dimensions=["region", "discipline"]).fingerprint
    assert partials.groupings_of(["a", "b"]) == [("a", "b"), ("a",), ("b",), ()]


# ---------------------------------------------------------------------------- the journal


def test_answers_approvals_and_refusals_are_journaled_per_structure(node: dict[str, Any]) -> None:
    stand(node["theatre"])
    question = ask()
    answer(question)
    stored = AggregationRequest.objects.get()
    waiting = JournalEntry.objects.filter(action="indicators.aggregate_answered")
    assert {entry.owner_id for entry in waiting} == {node[n].pk for n in ("theatre", "opera", "cirque")}
    assert {entry.reason_code for entry in waiting} == {"awaiting_approval"}
    for entry in waiting:
        assert entry.client_id == MINISTRY
        assert entry.node == MINISTRY
        assert entry.purpose == "reporting"
        assert entry.record_ids == [str(stored.pk)]
        assert entry.details["status"] == 202
    partials.approve(stored, node["opera"], by=administrator(node["opera"], "dir-opera"))
    partials.refuse(stored, node["cirque"], by=administrator(node["cirque"], "dir-cirque"), reason="Non")
    approved = JournalEntry.objects.get(action="indicators.aggregate_approved", owner_id=node["opera"].pk)
    assert approved.username == "dir-opera"
    assert approved.stream == "admin"
    opera_entry = next(e for e in AggregationRequest.objects.get().structures if e["id"] == str(node["opera"].pk))
    assert approved.details["sha256"] == partials.contribution_digest(opera_entry)
    refused = JournalEntry.objects.get(action="indicators.aggregate_refused", owner_id=node["cirque"].pk)
    assert refused.decision == "deny"
    assert refused.reason == "Non"
    before = JournalEntry.objects.count()
    assert answer(question).status == 200
    sent = {entry.owner_id: entry for entry in JournalEntry.objects.filter(seq__gt=before)}
    assert sent[node["theatre"].pk].decision == "permit"
    assert sent[node["opera"].pk].decision == "permit"
    assert sent[node["opera"].pk].details["cells"] > 0
    assert sent[node["cirque"].pk].decision == "deny"
    assert sent[node["cirque"].pk].reason_code == "refused_by_structure"
    given = JournalEntry.objects.filter(action="indicators.standing_approval_given", owner_id=node["theatre"].pk)
    assert given.count() == 1


# ---------------------------------------------------------------------------- aggregate.py helpers


def test_per_owner_cells_combine_into_the_local_aggregate(node: dict[str, Any]) -> None:
    for dimensions in ([], ["region"], ["discipline", "month"]):
        split = aggregate_per_owner(*Q4, dimensions)
        assert set(split) == {node[n].pk for n in ("theatre", "opera", "cirque")}
        reference = local_aggregate(*Q4, dimensions)
        for expected in reference["cells"]:
            parts = [c for owner in split.values() for c in owner["cells"] if c["key"] == expected["key"]]
            assert {"key": expected["key"], **combine_cells(parts)} == expected
        assert combine_cells(owner["total"] for owner in split.values()) == reference["total"]
    assert combine_cells([]) == local_aggregate(dt.date(2020, 1, 1), dt.date(2020, 1, 2), [])["total"]


def test_contributions_cost_one_query_per_grouping(node: dict[str, Any], django_assert_num_queries: Any) -> None:
    owners = [node[n].pk for n in ("theatre", "opera", "cirque")]
    with django_assert_num_queries(4):
        computed = partials.contributions(ask(), owners)
    assert [len(groupings) for groupings in computed.values()] == [4, 4, 4]
