"""Admin of the ministry's aggregation requests and of standing approvals (structure node): each
structure's staff see exactly what would leave for it; only its administrators decide."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from dataspace.audit.models import JournalEntry
from dataspace.indicators import partials
from dataspace.indicators.models import AggregationRequest, StandingApproval
from dataspace.node.models import StaffMembership
from federation.models import OutboxMessage
from tests.factories import OrganisationFactory, UserFactory
from tests.indicators.test_partials import (
    MINISTRY,
    agree,
    ask,
    ministry_peer,
    ministry_subject,
    stand,
    three_structures,
)

pytestmark = pytest.mark.django_db

LIST = "/admin/indicators/aggregationrequest/"
STANDING_LIST = "/admin/indicators/standingapproval/"


def login(organisation: Any, role: str, username: str) -> Client:
    user = UserFactory(username=username, is_staff=True)
    if organisation is not None:
        StaffMembership.objects.create(user=user, organisation=organisation, role=role)
    client = Client()
    client.force_login(user)
    client.user = user  # type: ignore[attr-defined]
    return client


def superuser() -> Client:
    user = UserFactory(username="operateur", is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def pending(theatre: Any) -> dict[str, Any]:
    """A request waiting for the opera and the circus (the theatre has a standing approval)."""
    data = three_structures(theatre)
    for name in ("theatre", "opera", "cirque"):
        agree(data[name])
    ministry_peer()
    stand(data["theatre"])
    question = ask()
    result = partials.answer(question, ministry=MINISTRY, subject=ministry_subject())
    assert result.status == 202
    data["request"] = AggregationRequest.objects.get()
    data["ask"] = question
    return data


def change_url(request: AggregationRequest) -> str:
    return f"{LIST}{request.pk}/change/"


def decide_url(request: AggregationRequest) -> str:
    return f"{LIST}{request.pk}/decide/"


def entry_of(owner: Any) -> dict[str, Any]:
    return next(e for e in AggregationRequest.objects.get().structures if e["id"] == str(owner.pk))


# ---------------------------------------------------------------------------- what is shown


def test_the_list_shows_campaign_ministry_state_and_received(pending: dict[str, Any]) -> None:
    page = superuser().get(LIST)
    assert page.status_code == 200
    text = page.content.decode()
    assert "Fréquentation T4 2026" in text
    assert MINISTRY in text
    assert "en attente d&#x27;approbation" in text or "en attente d'approbation" in text
    opera_admin = login(pending["opera"], "administrator", "dir-opera")
    assert "Fréquentation T4 2026" in opera_admin.get(LIST).content.decode()


def test_a_structures_administrator_sees_exactly_its_contribution(pending: dict[str, Any]) -> None:
    opera_admin = login(pending["opera"], "administrator", "dir-opera")
    page = opera_admin.get(change_url(pending["request"]))
    assert page.status_code == 200
    text = page.content.decode()
    # the request, in French
    assert "du 2026-10-01 au 2026-12-31" in text
    assert "Fréquentation" in text
    # the table of what would leave: French names of dimensions and measures, the opera's figures
    for label in ("discipline", "région", "entrées (tous billets, exonérés compris)", "recette totale (€)",
                  "jauge (places offertes)", "billets payants", "Par discipline et région", "Total de la structure",
                  "opéra / art lyrique", "Auvergne-Rhône-Alpes"):  # fmt: skip
        assert label in text, label
    assert "45000.00" in text
    assert ">900<" in text
    assert ">800<" in text
    # nothing of the other structures' figures
    assert "Cirque fictif" not in text
    assert "Théâtre des Chiffres" not in text
    assert ">5000.00<" not in text
    assert ">3000.00<" not in text
    assert ">7000.50<" not in text
    assert "2 autres structures du nœud sont concernées" in text
    # the decision, by POST with the CSRF token
    assert "Approuver" in text
    assert "Refuser" in text
    assert "csrfmiddlewaretoken" in text
    assert f'action="{decide_url(pending["request"])}"' in text
    # every table of the page is the stored contribution, cell for cell
    stored = entry_of(pending["opera"])
    for grouping in stored["groupings"]:
        for cell in grouping["cells"]:
            for value in cell["values"].values():
                assert f">{value}<" in text


def test_the_operator_sees_everything_but_decides_nothing(pending: dict[str, Any]) -> None:
    operator = superuser()
    text = operator.get(change_url(pending["request"])).content.decode()
    for name in ("Opéra fictif", "Cirque fictif", "Théâtre des Chiffres"):
        assert name in text
    assert 'name="decision"' not in text
    assert "Seul·e un·e administrateur·rice de cette structure décide" in text
    refused = operator.post(
        decide_url(pending["request"]), {"structure": str(pending["opera"].pk), "decision": "approve"}, follow=True
    )
    assert "administrateur" in refused.content.decode()
    assert entry_of(pending["opera"])["approval"] == "pending"


def test_an_editor_sees_the_contribution_without_the_buttons(pending: dict[str, Any]) -> None:
    editor = login(pending["opera"], "editor", "editeur-opera")
    text = editor.get(change_url(pending["request"])).content.decode()
    assert "45000.00" in text
    assert 'name="decision"' not in text


def test_staff_of_an_unconcerned_structure_see_nothing(pending: dict[str, Any]) -> None:
    stranger = login(OrganisationFactory(name="Scène sans chiffres"), "administrator", "dir-ailleurs")
    assert "Fréquentation T4 2026" not in stranger.get(LIST).content.decode()
    assert stranger.get(change_url(pending["request"])).status_code == 404
    response = stranger.post(
        decide_url(pending["request"]), {"structure": str(pending["opera"].pk), "decision": "approve"}
    )
    assert response.status_code == 404
    assert entry_of(pending["opera"])["approval"] == "pending"


# ---------------------------------------------------------------------------- deciding


def test_approve_then_refuse_in_the_admin_notifies_the_ministry(pending: dict[str, Any]) -> None:
    opera_admin = login(pending["opera"], "administrator", "dir-opera")
    done = opera_admin.post(
        decide_url(pending["request"]), {"structure": str(pending["opera"].pk), "decision": "approve"}, follow=True
    )
    assert done.status_code == 200
    assert "approuvée" in done.content.decode()
    assert entry_of(pending["opera"])["approval"] == "approved"
    assert entry_of(pending["opera"])["decided_by"] == "dir-opera"
    approved = JournalEntry.objects.get(action="indicators.aggregate_approved")
    assert approved.owner_id == pending["opera"].pk
    assert approved.username == "dir-opera"
    assert not OutboxMessage.objects.filter(kind=partials.NOTICE_KIND).exists()  # the circus is still pending
    page = opera_admin.get(change_url(pending["request"])).content.decode()
    assert 'name="decision"' not in page  # decided: no more buttons
    circus_admin = login(pending["cirque"], "administrator", "dir-cirque")
    circus_admin.post(
        decide_url(pending["request"]),
        {"structure": str(pending["cirque"].pk), "decision": "refuse", "reason": "Saison atypique"},
    )
    assert entry_of(pending["cirque"])["approval"] == "refused"
    assert entry_of(pending["cirque"])["reason"] == "Saison atypique"
    assert JournalEntry.objects.get(action="indicators.aggregate_refused").owner_id == pending["cirque"].pk
    [notice] = OutboxMessage.objects.filter(kind=partials.NOTICE_KIND)
    assert notice.destination == MINISTRY
    assert AggregationRequest.objects.get().state == AggregationRequest.State.APPROVED
    # the ministry's next ask gets the theatre's and the opera's stored contributions
    result = partials.answer(pending["ask"], ministry=MINISTRY, subject=ministry_subject())
    assert result.status == 200
    assert result.body["structures"] == [pending["opera"].uri, pending["theatre"].uri]


def test_an_administrator_of_one_structure_cannot_decide_for_another(pending: dict[str, Any]) -> None:
    theatre_admin = login(pending["theatre"], "administrator", "dir-theatre")
    text = theatre_admin.get(change_url(pending["request"])).content.decode()
    assert "Opéra fictif" not in text  # nor does she see its figures
    refused = theatre_admin.post(
        decide_url(pending["request"]), {"structure": str(pending["opera"].pk), "decision": "approve"}, follow=True
    )
    assert "administrateur" in refused.content.decode()
    assert entry_of(pending["opera"])["approval"] == "pending"
    assert not JournalEntry.objects.filter(action="indicators.aggregate_approved").exists()


def test_decisions_need_a_post_with_the_csrf_token(pending: dict[str, Any]) -> None:
    user = UserFactory(username="dir-opera", is_staff=True)
    StaffMembership.objects.create(user=user, organisation=pending["opera"], role="administrator")
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(user)
    forged = strict.post(decide_url(pending["request"]), {"structure": str(pending["opera"].pk), "decision": "approve"})
    assert forged.status_code == 403
    assert entry_of(pending["opera"])["approval"] == "pending"
    assert strict.get(decide_url(pending["request"])).status_code == 405
    incomplete = login(pending["opera"], "administrator", "autre-dir-opera")
    incomplete.post(decide_url(pending["request"]), {"structure": str(pending["opera"].pk), "decision": "maybe"})
    assert entry_of(pending["opera"])["approval"] == "pending"


# ---------------------------------------------------------------------------- standing approvals


def test_an_administrator_gives_a_standing_approval_that_settles_the_pending_request(pending: dict[str, Any]) -> None:
    opera_admin = login(pending["opera"], "administrator", "dir-opera")
    form = opera_admin.get(f"{STANDING_LIST}add/")
    assert form.status_code == 200
    text = form.content.decode()
    assert "Opéra fictif" in text
    assert "Cirque fictif" not in text
    created = opera_admin.post(
        f"{STANDING_LIST}add/",
        {"owner": str(pending["opera"].pk), "ministry": MINISTRY, "valid_until": "", "note": "Pour les campagnes"},
    )
    assert created.status_code == 302, created.content.decode()[:2000]
    approval = StandingApproval.objects.get(owner=pending["opera"])
    assert approval.created_by == opera_admin.user  # type: ignore[attr-defined]
    assert approval.ministry == MINISTRY
    assert (
        JournalEntry.objects.filter(action="indicators.standing_approval_given", owner_id=pending["opera"].pk).count()
        == 1
    )
    assert entry_of(pending["opera"])["approval"] == "standing"
    assert "Opéra fictif" in opera_admin.get(STANDING_LIST).content.decode()


def test_a_past_end_date_is_refused_in_the_form(pending: dict[str, Any]) -> None:
    opera_admin = login(pending["opera"], "administrator", "dir-opera")
    yesterday = (timezone.localdate() - dt.timedelta(days=1)).isoformat()
    response = opera_admin.post(
        f"{STANDING_LIST}add/", {"owner": str(pending["opera"].pk), "ministry": "", "valid_until": yesterday}
    )
    assert response.status_code == 200
    assert "La date de fin est passée." in response.content.decode()
    assert not StandingApproval.objects.filter(owner=pending["opera"]).exists()


def test_only_administrators_give_standing_approvals(pending: dict[str, Any]) -> None:
    editor = login(pending["opera"], "editor", "editeur-opera")
    assert editor.get(f"{STANDING_LIST}add/").status_code == 403
    assert superuser().get(f"{STANDING_LIST}add/").status_code == 403  # the operator does not speak for a structure
    theatre_admin = login(pending["theatre"], "administrator", "dir-theatre")
    forged = theatre_admin.post(f"{STANDING_LIST}add/", {"owner": str(pending["opera"].pk), "ministry": ""})
    assert forged.status_code == 200  # the form refuses a structure she does not administer
    assert not StandingApproval.objects.filter(owner=pending["opera"]).exists()


def test_revoking_a_standing_approval(pending: dict[str, Any]) -> None:
    theatre_approval = StandingApproval.objects.get(owner=pending["theatre"])
    opera_admin = login(pending["opera"], "administrator", "dir-opera")
    assert "Théâtre des Chiffres" not in opera_admin.get(STANDING_LIST).content.decode()
    opera_admin.post(STANDING_LIST, {"action": "revoke", "_selected_action": [str(theatre_approval.pk)]})
    theatre_approval.refresh_from_db()
    assert theatre_approval.revoked_at is None  # not hers: out of her list, out of reach
    theatre_admin = Client()
    theatre_admin.force_login(StaffMembership.objects.get(organisation=pending["theatre"]).user)
    done = theatre_admin.post(
        STANDING_LIST, {"action": "revoke", "_selected_action": [str(theatre_approval.pk)]}, follow=True
    )
    assert "révoquée" in done.content.decode()
    theatre_approval.refresh_from_db()
    assert theatre_approval.revoked_at is not None
    revoked = JournalEntry.objects.get(action="indicators.standing_approval_revoked")
    assert revoked.owner_id == pending["theatre"].pk
    again = theatre_admin.post(
        STANDING_LIST, {"action": "revoke", "_selected_action": [str(theatre_approval.pk)]}, follow=True
    )
    assert "déjà révoquée" in again.content.decode()
    assert not partials.in_force(theatre_approval)


def test_the_pages_exist_on_structure_nodes_only(pending: dict[str, Any], settings: Any) -> None:
    operator = superuser()
    assert "Demandes d&#x27;agrégats" in operator.get("/admin/").content.decode()
    settings.NODE_ROLES = ["ministry"]
    assert operator.get(LIST).status_code == 403
    assert operator.get(STANDING_LIST).status_code == 403
    assert "Demandes d&#x27;agrégats" not in operator.get("/admin/").content.decode()
