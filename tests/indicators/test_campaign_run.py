"""A campaign's fan-out over real HTTP on loopback: the ministry is this test process, its run makes
real signed calls (RFC 9421, private_key_jwt token requests) to servers started here — one
answering 500, one hung (accepts, never answers), a port nobody listens on. Then the
`aggregate.approved` notice over real signed HTTP (the live server), and the campaign API's
permissions.

The success path against real structure node processes is another module's (multi-process).
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.contrib.auth.models import Permission
from rest_framework.test import APIClient

from dataspace.audit.models import JournalEntry
from dataspace.indicators import campaigns, catalogue, tasks
from dataspace.indicators.models import Campaign, CampaignNode
from federation import outbox
from federation.client import forget_tokens, post_signed
from federation.models import ReceivedNotice
from tests.conftest import node_signing_key
from tests.factories import UserFactory
from tests.federation.cluster import HungServer
from tests.federation.receiver import Receiver, free_port
from tests.federation.signed import new_key, register_peer
from tests.indicators.test_campaigns import partial

State = CampaignNode.State
TIMEOUT = 1.0
#: What a run may take beyond the per-node timeout (thread start, the token request, the writes).
SLACK = 1.5


@pytest.fixture
def ministry(settings: Any) -> None:
    settings.NODE_ROLES = ["ministry"]
    settings.NODE_BASE_URL = "http://127.0.0.1:9"  # the ministry's own address (never called here)
    settings.INDICATORS_CAMPAIGN_TIMEOUT = TIMEOUT
    node_signing_key()
    catalogue.seed_catalogue()
    forget_tokens()


@pytest.fixture
def failing() -> Iterator[Receiver]:
    server = Receiver(status=500).start()
    yield server
    server.stop()


@pytest.fixture
def hung() -> Iterator[HungServer]:
    with HungServer() as server:
        yield server


@pytest.fixture
def polling_does_not_lock() -> None:
    """This test reads the campaign while a background thread writes it. The in-memory SQLite
    test database is shared between threads in shared-cache mode, where a reader holds table
    locks that make a concurrent writer fail at once ("database table is locked") instead of
    waiting; a node's file database in WAL mode (readers never block the writer, which waits up
    to 20 s) has no such locks. Reading uncommitted is how shared-cache readers take no lock."""
    from django.db import connection

    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA read_uncommitted = 1")


def new_campaign(dimensions: list[str] | None = None) -> Campaign:
    return campaigns.create_campaign(
        title="Fréquentation T4 2026",
        indicators=["attendance", "fill_rate"],
        period_start=dt.date(2026, 10, 1),
        period_end=dt.date(2026, 12, 31),
        dimensions=dimensions if dimensions is not None else ["discipline"],
        by=None,
    )


def rows(campaign: Campaign) -> dict[str, CampaignNode]:
    return {row.node: row for row in CampaignNode.objects.filter(campaign=campaign)}


def wait_for(check: Callable[[], bool], seconds: float = 8.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


# ---------------------------------------------------------------------------- the fan-out


@pytest.mark.django_db(transaction=True)
def test_failing_nodes_are_reported_and_cut_at_the_timeout(ministry: None, failing: Receiver, hung: HungServer) -> None:
    down = f"http://127.0.0.1:{free_port()}"
    register_peer(failing.url, name="Scène en panne")
    register_peer(down, name="Scène éteinte")
    register_peer(hung.base_url, name="Scène figée")
    with HungServer() as frozen:
        register_peer(frozen.base_url, name="Scène gelée")
        register_peer("https://registre.example", roles=("registry",), name="Registre")
        analyst = UserFactory(username="analyste-run")
        campaign = new_campaign()

        started = time.monotonic()
        launched = campaigns.launch(campaign, by=analyst, background=False)
        elapsed = time.monotonic() - started

    # both hung nodes were asked at the same time: the run lasts one timeout, not two
    assert elapsed < TIMEOUT + SLACK, elapsed
    nodes = rows(campaign)
    assert set(nodes) == {failing.url, down, hung.base_url, frozen.base_url}  # structure members only
    assert nodes[failing.url].name == "Scène en panne"
    assert nodes[failing.url].state == State.ERROR
    assert nodes[failing.url].detail.startswith("Erreur du nœud : HTTP 500")
    assert nodes[down].state == State.ERROR
    assert nodes[down].detail.startswith("Nœud injoignable (")
    for url in (hung.base_url, frozen.base_url):
        assert nodes[url].state == State.TIMEOUT
        assert nodes[url].detail == "Délai dépassé (1 s) : le nœud n'a pas répondu à temps."
        assert TIMEOUT * 1000 * 0.9 <= nodes[url].elapsed_ms < (TIMEOUT + SLACK) * 1000
    for row in nodes.values():
        assert row.attempts == 1
        assert row.asked_at is not None
        assert row.partial is None
    assert hung.accepted >= 1
    # the ministry's calls are signed, starting with the private_key_jwt token request
    assert failing.received[0].path == "/oauth/token"
    assert {"signature", "signature-input", "content-digest"} <= set(failing.received[0].headers)
    assert b"indicators%3Aaggregate" in failing.received[0].body

    assert launched.state == Campaign.State.PARTIAL
    assert launched.runs == 1
    assert launched.running_since is None
    assert launched.finished_at is not None
    results = launched.results
    assert results is not None
    assert results["nodes"] == {"answered": 0, "total": 4}
    assert {item["node"]: item["state"] for item in results["missing"]} == {
        failing.url: "error",
        down: "error",
        hung.base_url: "timeout",
        frozen.base_url: "timeout",
    }
    launch_entry = JournalEntry.objects.get(action="indicators.campaign_launched")
    assert launch_entry.username == "analyste-run"
    assert launch_entry.record_ids == [str(campaign.pk)]
    assert launch_entry.details["nodes"] == 4
    assert JournalEntry.objects.filter(action="indicators.campaign_published").count() == 1


@pytest.mark.django_db(transaction=True)
def test_rerun_asks_only_the_nodes_that_have_not_answered(ministry: None, failing: Receiver) -> None:
    answering = Receiver(status=500).start()
    try:
        register_peer(failing.url, name="Scène B")
        register_peer(answering.url, name="Scène A")
        campaign = new_campaign()
        campaigns.launch(campaign, by=None, background=False)
        assert len(answering.received) == len(failing.received) == 1
        # Scène A's answer arrives (its partial is checked and counted)
        document = partial(
            campaign,
            answering.url,
            {f"https://a{index}.example/id/organisation/1": {("theatre",): {"attendance": 100}} for index in range(3)},
        )
        assert (
            campaigns.record_answer(
                campaign.pk, campaigns.NodeAnswer(answering.url, State.ANSWERED, 5, partial=document)
            )
            == State.ANSWERED
        )

        again = campaigns.rerun(campaign, by=None, background=False)
        assert len(answering.received) == 1  # never asked again
        assert len(failing.received) == 2
        nodes = rows(campaign)
        assert nodes[answering.url].state == State.ANSWERED
        assert nodes[answering.url].attempts == 1
        assert nodes[failing.url].attempts == 2
        assert again.runs == 2
        assert again.state == Campaign.State.PARTIAL
        assert again.results is not None
        assert again.results["nodes"] == {"answered": 1, "total": 2}
        total = next(cell for cell in again.results["indicators"][0]["cells"] if cell["key"] == ["total"])
        assert total["value"] == "300"
        assert JournalEntry.objects.filter(action="indicators.campaign_rerun").count() == 1

        # the one-node task: an answered node is left alone, another is asked
        assert tasks.ask_campaign_node.apply(args=[str(campaign.pk), answering.url]).get()["status"] == "ignored"
        outcome = tasks.ask_campaign_node.apply(args=[str(campaign.pk), failing.url]).get()
        assert outcome == {"campaign": str(campaign.pk), "node": failing.url, "state": "error"}
        assert len(failing.received) == 3
        assert len(answering.received) == 1
    finally:
        answering.stop()


@pytest.mark.django_db(transaction=True)
def test_a_node_that_left_the_federation_is_not_asked(ministry: None, failing: Receiver) -> None:
    peer, _key = register_peer(failing.url, name="Scène partie")
    campaign = new_campaign()
    campaigns.launch(campaign, by=None, background=False)
    peer.delete()
    campaigns.rerun(campaign, by=None, background=False)
    assert len(failing.received) == 1
    row = rows(campaign)[failing.url]
    assert row.state == State.ERROR
    assert row.detail == "Ce nœud n'est plus un membre « structure » de la fédération."


@pytest.mark.django_db(transaction=True)
def test_launch_returns_at_once_and_progress_shows_while_it_runs(
    ministry: None, settings: Any, failing: Receiver, hung: HungServer, polling_does_not_lock: None
) -> None:
    settings.CELERY_TASK_ALWAYS_EAGER = True  # no Redis: the demo's daemon thread
    settings.INDICATORS_CAMPAIGN_TIMEOUT = 2.0
    register_peer(failing.url, name="Scène en panne")
    register_peer(hung.base_url, name="Scène figée")
    campaign = new_campaign()

    started = time.monotonic()
    launched = campaigns.launch(campaign, by=None)
    assert time.monotonic() - started < 0.5
    assert launched.state == Campaign.State.RUNNING

    seen: list[tuple[str, str, str]] = []

    def snapshot() -> bool:
        campaign.refresh_from_db()
        nodes = rows(campaign)
        seen.append((campaign.state, nodes[failing.url].state, nodes[hung.base_url].state))
        return campaign.state == Campaign.State.PARTIAL

    wait_for(snapshot)
    # the failing node's state was written while the hung one was still being asked
    assert ("running", "error", "asked") in seen, seen
    report = campaigns.progress(campaign)
    assert report["state"] == "partial"
    assert (report["answered"], report["total"]) == (0, 2)
    assert [node["state_label"] for node in report["nodes"]] == ["erreur", "délai dépassé"]
    assert campaign.runs == 1


@pytest.mark.django_db(transaction=True)
def test_a_second_launch_while_a_run_holds_the_lease_does_nothing(ministry: None, failing: Receiver) -> None:
    register_peer(failing.url, name="Scène en panne")
    campaign = new_campaign()
    Campaign.objects.filter(pk=campaign.pk).update(state=Campaign.State.RUNNING, runs=1)
    for running_since in (dt.datetime.now(dt.UTC), None):  # a run under way; a run queued moments ago
        Campaign.objects.filter(pk=campaign.pk).update(running_since=running_since, launched_at=dt.datetime.now(dt.UTC))
        again = campaigns.launch(campaign, by=None, background=False)
        assert again.runs == 1
        assert again.state == Campaign.State.RUNNING
    assert failing.received == []
    assert not CampaignNode.objects.filter(campaign=campaign).exists()
    assert not JournalEntry.objects.filter(action__startswith="indicators.campaign_").exists()


def test_launch_is_for_the_ministry_node_only(settings: Any, db: Any) -> None:
    settings.NODE_ROLES = ["ministry"]
    catalogue.seed_catalogue()
    campaign = new_campaign()
    settings.NODE_ROLES = ["structure"]
    with pytest.raises(campaigns.NotAMinistryNode):
        campaigns.launch(campaign, by=None, background=False)
    assert campaigns.run_campaign(campaign.pk)["status"] == "ignored"


# ---------------------------------------------------------------------------- the notice


def notice_of(campaign_id: Any, origin: str) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "kind": "aggregate.approved",
        "origin": origin,
        "created_at": "2026-11-30T10:00:00Z",
        "attempt": 1,
        "payload": {"campaign": str(campaign_id), "request": str(uuid.uuid4())},
    }


@pytest.mark.django_db(transaction=True)
def test_the_approval_notice_asks_that_node_again_and_nobody_else(
    ministry: None, settings: Any, live_server: Any, failing: Receiver, polling_does_not_lock: None
) -> None:
    settings.NODE_BASE_URL = live_server.url
    settings.CELERY_TASK_ALWAYS_EAGER = True
    endpoint = f"{live_server.url}{outbox.NOTICES_PATH}"
    _member, member_key = register_peer(failing.url, name="Scène en attente")
    outsider_url = f"http://127.0.0.1:{free_port()}"
    _outsider, outsider_key = register_peer(outsider_url, name="Scène hors campagne")
    _registry, registry_key = register_peer("https://registre.example", roles=("registry",), name="Registre")
    campaign = new_campaign()
    Campaign.objects.filter(pk=campaign.pk).update(state=Campaign.State.PARTIAL)
    CampaignNode.objects.create(
        campaign=campaign, node=failing.url, name="Scène en attente", state=State.AWAITING, attempts=1
    )

    def send(origin: str, key: Any, campaign_id: Any = campaign.pk) -> tuple[int, str]:
        document = notice_of(campaign_id, origin)
        response = post_signed(endpoint, document, key=key)
        recorded = ReceivedNotice.objects.filter(pk=document["id"]).first()
        return response.status_code, recorded.outcome if recorded else ""

    # not a member of the federation: refused before any handler
    assert send("https://intrus.example", new_key())[0] == 401
    # members that are not a node of this campaign, another campaign, a registry: ignored
    assert send(outsider_url, outsider_key) == (202, "ignored: not a node of that campaign")
    assert send(failing.url, member_key, uuid.uuid4()) == (202, "ignored: not a node of that campaign")
    assert send("https://registre.example", registry_key) == (202, "ignored: the sender is not a structure member")
    time.sleep(0.3)
    assert failing.received == []
    assert rows(campaign)[failing.url].attempts == 1

    # the campaign's node: asked again once the notice is recorded, then published again
    assert send(failing.url, member_key) == (202, "ask scheduled")
    wait_for(lambda: Campaign.objects.get(pk=campaign.pk).finished_at is not None)  # asked, published, ended
    row = rows(campaign)[failing.url]
    assert (row.state, row.attempts) == (State.ERROR, 2)
    assert failing.received[0].path == "/oauth/token"
    ended = Campaign.objects.get(pk=campaign.pk)
    assert ended.results is not None
    assert ended.state == Campaign.State.PARTIAL

    # once it has answered, its notices are ignored
    CampaignNode.objects.filter(campaign=campaign, node=failing.url).update(state=State.ANSWERED)
    assert send(failing.url, member_key) == (202, "ignored: already answered")


# ---------------------------------------------------------------------------- the API


API = "/api/v1/indicators/campaigns/{}"


@pytest.fixture
def published(settings: Any, db: Any) -> Campaign:
    settings.NODE_ROLES = ["ministry"]
    catalogue.seed_catalogue()
    campaign = new_campaign([])
    CampaignNode.objects.create(campaign=campaign, node="https://scene-a.example", name="Scène A", state=State.ASKED)
    campaigns.publish(campaign)
    campaign.refresh_from_db()
    return campaign


def session(user: Any) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


def test_api_for_superusers_and_holders_of_the_permission(published: Campaign) -> None:
    reader = UserFactory(username="analyste-api")
    reader.user_permissions.add(Permission.objects.get(content_type__app_label="indicators", codename="view_campaign"))
    for user in (UserFactory(username="root", is_superuser=True, is_staff=True), reader):
        response = session(user).get(API.format(published.pk))
        assert response.status_code == 200, response.content
        body = response.json()
        assert set(body) == {"id", "title", "state", "progress", "results"}
        assert body["id"] == str(published.pk)
        assert body["title"] == "Fréquentation T4 2026"
        assert body["state"] == "draft"
        assert body["progress"] == campaigns.progress(published)
        assert body["results"] == published.results


def test_api_refuses_everyone_else(published: Campaign, bearer_client: Any) -> None:
    url = API.format(published.pk)
    assert APIClient().get(url).status_code == 403
    staff = UserFactory(username="equipe", is_staff=True)
    assert session(staff).get(url).status_code == 403
    other = UserFactory(username="ajout-seul")
    other.user_permissions.add(Permission.objects.get(content_type__app_label="indicators", codename="add_campaign"))
    assert session(other).get(url).status_code == 403
    # a machine token, even with the ministry's scope, is not a session
    assert bearer_client("indicators:aggregate", kind="reader").get(url).status_code == 403


def test_api_not_found(published: Campaign, settings: Any) -> None:
    root = session(UserFactory(username="root", is_superuser=True, is_staff=True))
    assert root.get(API.format(uuid.uuid4())).status_code == 404
    settings.NODE_ROLES = ["structure"]
    response = root.get(API.format(published.pk))
    assert response.status_code == 404
    assert APIClient().get(API.format(published.pk)).status_code == 404
