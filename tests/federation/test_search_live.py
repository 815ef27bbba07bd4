"""Live federated search against real nodes: a real node process (gunicorn, its own SQLite, its own
key) that trusts this registry, a real node that does not, a server answering 500, and a hung
socket (accepts, never answers). The registry is this test process: its fan-out threads make real
signed HTTP calls (RFC 9421, private_key_jwt tokens, `On-Behalf-Of` attestations).

Nothing is mocked; the hung node must not delay the answer beyond FEDERATION_SEARCH_TIMEOUT.
"""

from __future__ import annotations

import datetime as dt
import json
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.test import override_settings
from rest_framework.exceptions import ValidationError

from dataspace.audit.models import JournalEntry
from federation import search
from federation.models import Peer
from tests.federation import cluster
from tests.federation.receiver import Receiver

pytestmark = [pytest.mark.server, pytest.mark.django_db(transaction=True)]

TIMEOUT = 3.0  # FEDERATION_SEARCH_TIMEOUT's default
MARGIN = 1.0
PRODUCER_SIRET = "73282932000074"

ALPHA_SETUP = """
import datetime as dt, json, sys, django
django.setup()
from django.contrib.auth import get_user_model
from django.core.management import call_command
call_command("node_init", verbosity=0)
registry_url, registry_jwks, out, producer_siret = sys.argv[1:5]
from dataspace.consent import services as consent
from dataspace.consent.agreements import sign_agreement
from dataspace.consent.models import Agreement
from dataspace.directory.models import DirectoryEntry
from dataspace.referentials import models as m
from federation import membership
from policies.language import PURPOSES
theatre = m.Organisation.objects.create(
    name="Théâtre Alpha", kind="theatre", siret="44306184100047", region="Bretagne", departement="35"
)
producer = m.Organisation.objects.create(name="Compagnie des Songes", kind="company", siret=producer_siret)
venue = m.Venue.objects.create(owner=theatre, name="Scène Alpha", city="Rennes", region="Bretagne", departement="35")
hall = m.Hall.objects.create(owner=theatre, venue=venue, name="Grande salle", seated_capacity=600)
show = m.Production.objects.create(owner=theatre, title="Le Songe d'une nuit d'été", producer=producer)
performance = m.Performance.objects.create(
    owner=theatre, production=show, hall=hall, start=dt.datetime(2027, 3, 10, 19, 30, tzinfo=dt.UTC)
)
other = m.Production.objects.create(owner=theatre, title="Alpha seule en scène", producer=theatre)
entry = DirectoryEntry.objects.create(
    owner=theatre, display_name="Éloïse Alpha", trades=["regisseur_lumiere"], region="Bretagne"
)
notice = consent.publish_notice(controller=theatre, kind="directory", version="1", text="Notice fictive.")
consent.grant_consent(
    controller=theatre, target_type="directory-entry", target_id=entry.pk, purposes=["professional_directory"],
    data_categories=["dpv-pd:Name", "dpv-pd:Professional", "dpv-pd:Location"],
    fields=["display_name", "trades", "region"], recipients=["licensed_professionals"], notice=notice, method="paper",
)
operator = get_user_model().objects.create_superuser("operateur", "op@example.org", None)
for owner in (theatre, producer):
    for dataset in ("organisation", "venue", "hall", "production", "performance", "directory-entry"):
        sign_agreement(
            owner=owner, target_type=dataset, grantee=Agreement.Grantee.FEDERATION, purposes=list(PURPOSES),
            valid_from=dt.date(2020, 1, 1), signed_by=operator,
        )
membership.replace_peers(
    [{"base_url": registry_url, "name": "Registre", "roles": ["registry"], "jwks": json.loads(registry_jwks)}],
    serial=1,
)
membership.ensure_peer_clients()
with open(out, "w") as handle:
    json.dump({"entry": str(entry.pk), "show": show.uri, "performance": performance.uri}, handle)
"""

BARE_SETUP = """
import django
django.setup()
from django.core.management import call_command
call_command("node_init", verbosity=0)
"""


def _jwks(base_url: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"{base_url}/.well-known/jwks.json", timeout=10) as response:  # noqa: S310 - loopback
        jwks: dict[str, Any] = json.loads(response.read())
    return jwks


def _node(root: Path, name: str) -> cluster.Node:
    port = cluster.free_port()
    directory = root / name
    directory.mkdir(parents=True, exist_ok=True)
    env = {
        **cluster.scrubbed_environ(),
        "DJANGO_SETTINGS_MODULE": "dataspace.settings",
        "PYTHONUNBUFFERED": "1",
        "NODE_NAME": name,
        "NODE_BASE_URL": f"http://127.0.0.1:{port}",
        "NODE_ROLES": "structure",
        "NODE_DATA_DIR": str(directory),
        "DJANGO_DEBUG": "0",
        "LOG_LEVEL": "WARNING",
        "FEDERATION_TRUST_MEMBERS_ONLY": "1",
        "FEDERATION_SEARCH_TIMEOUT": str(TIMEOUT),
    }
    return cluster.Node(cluster.NodeSpec(name, profile=None, clients=False), port, directory, env)


@pytest.fixture(scope="module")
def nodes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """alpha (trusts the registry), beta (a bare node that does not), a 500 server, a hung socket."""
    root = tmp_path_factory.mktemp("search-live")
    registry_url = f"http://127.0.0.1:{cluster.free_port()}"  # this test process: it calls, it is never called
    key_dir = root / "registry-keys"
    with override_settings(NODE_KEY_DIR=key_dir):
        from dataspace.node import keys

        registry_key = keys.generate_key("20260101T000000Z")
    registry_jwks = {"keys": [registry_key.public_jwk()]}
    template = cluster.template_database(root)
    alpha, beta = _node(root, "alpha"), _node(root, "beta")
    failing = Receiver(status=500).start()
    hung = cluster.HungServer()
    started: list[cluster.Node] = []
    try:
        for node in (alpha, beta):
            cluster.copy_database(template, node.database)
        alpha.python(ALPHA_SETUP, registry_url, json.dumps(registry_jwks), str(root / "alpha.json"), PRODUCER_SIRET)
        beta.python(BARE_SETUP)
        alpha.manage("federation_sync", "--local")  # its own index built once, as its beat would
        for node in (alpha, beta):
            node.start(workers=1, threads=4)
            started.append(node)
        for node in (alpha, beta):
            node.wait_healthy()
        yield {
            "registry_url": registry_url,
            "key_dir": key_dir,
            "alpha": alpha,
            "beta": beta,
            "failing": failing,
            "hung": hung,
            "alpha_records": json.loads((root / "alpha.json").read_text()),
            "alpha_jwks": _jwks(alpha.base_url),
            "beta_jwks": _jwks(beta.base_url),
        }
    finally:
        for node in started:
            node.stop()
        failing.stop()
        hung.close()


@pytest.fixture
def registry(settings: Any, nodes: dict[str, Any]) -> dict[str, Any]:
    """This process as the registry: its identity and key, the members it trusts, a professional."""
    from federation import membership
    from tests.directory.factories import LicenceFactory, ProfessionalAccountFactory
    from tests.factories import OrganisationFactory, UserFactory
    from tests.federation.signed import new_key

    settings.NODE_BASE_URL = nodes["registry_url"]
    settings.NODE_ROLES = ["registry"]
    settings.NODE_KEY_DIR = nodes["key_dir"]
    settings.FEDERATION_SEARCH_TIMEOUT = TIMEOUT
    membership.forget_trusted_keys()
    members = [
        {"base_url": nodes["alpha"].base_url, "name": "Alpha", "roles": ["structure"], "jwks": nodes["alpha_jwks"]},
        {"base_url": nodes["beta"].base_url, "name": "Beta", "roles": ["structure"], "jwks": nodes["beta_jwks"]},
        {
            "base_url": nodes["failing"].url,
            "name": "Gamma en panne",
            "roles": ["structure"],
            "jwks": {"keys": [new_key().public_jwk()]},
        },
        {
            "base_url": nodes["hung"].base_url,
            "name": "Delta bloqué",
            "roles": ["structure"],
            "jwks": {"keys": [new_key().public_jwk()]},
        },
    ]
    membership.replace_peers(members, serial=1)
    organisation = OrganisationFactory(name="Compagnie du professionnel")
    LicenceFactory(organisation=organisation, category=2)
    user = ProfessionalAccountFactory(user=UserFactory(username="pro-direct"), organisation=organisation).user
    # a first call warms alpha's worker up (imports, first token): a cold node may miss the deadline
    from federation.attestation import issue

    token = issue(_subject(user), purpose="research")
    warm = search.ask_node(nodes["alpha"].base_url, "directory", {"purpose": "research"}, token, 30.0)
    assert warm.status == "ok", warm.detail
    yield {"user": user}
    from federation.client import forget_tokens

    forget_tokens()  # tokens of this run's registry identity must not serve the next test


def _subject(user: Any) -> Any:
    from django.conf import settings

    from dataspace.directory.services import professional_profile
    from policies.subject import Subject

    return Subject(
        kind="person",
        user_id=user.pk,
        username=user.get_username(),
        node=str(settings.NODE_BASE_URL),
        professional=professional_profile(user),
    )


def _statuses(answer: search.SearchAnswer) -> dict[str, dict[str, Any]]:
    return {node["name"]: node for node in answer.nodes}


def test_live_search_answers_within_the_timeout_with_every_nodes_status(
    registry: dict[str, Any], nodes: dict[str, Any]
) -> None:
    from tests.factories import OrganisationFactory, ProductionFactory

    # the registry hosts the same show (same title, same producer SIRET): one result
    producer = OrganisationFactory(name="Compagnie des Songes (registre)", siret=PRODUCER_SIRET)
    ProductionFactory(owner=producer, producer=producer, title="Le songe d’une nuit d’été")
    params = {"purpose": "touring", "type": "production", "mode": "live", "q": "songe"}
    started = time.monotonic()
    answer = search.search("referentials", params, _subject(registry["user"]))
    elapsed = time.monotonic() - started
    assert elapsed < TIMEOUT + MARGIN, elapsed  # the hung node never holds the answer back
    statuses = _statuses(answer)
    assert {name: node["status"] for name, node in statuses.items()} == {
        "scene-commune": "ok",  # this registry's own records
        "Alpha": "ok",
        "Beta": "denied",
        "Gamma en panne": "error",
        "Delta bloqué": "timeout",
    }
    assert statuses["Alpha"]["count"] == 1
    assert statuses["Alpha"]["as_of"] is not None
    assert 0 < statuses["Alpha"]["ms"] < TIMEOUT * 1000
    assert TIMEOUT * 1000 <= statuses["Delta bloqué"]["ms"] < (TIMEOUT + MARGIN) * 1000
    assert "Délai dépassé" in statuses["Delta bloqué"]["detail"]
    assert statuses["Beta"]["detail"]
    assert statuses["Gamma en panne"]["detail"]
    [show] = answer.results  # the registry's and alpha's copies of the same show, merged
    assert set(show["sources"]) >= {nodes["alpha_records"]["show"]}
    assert len(show["sources"]) == 2
    assert [item["id"] for item in show["performances"]] == [nodes["alpha_records"]["performance"]]
    assert answer.mode == "live"
    assert answer.type == "production"
    assert answer.count == 2


def test_live_directory_search_is_journaled_on_both_nodes(registry: dict[str, Any], nodes: dict[str, Any]) -> None:
    before = JournalEntry.objects.count()
    answer = search.search(
        "directory", {"purpose": "contracting", "mode": "live", "q": "eloise"}, _subject(registry["user"])
    )
    [person] = answer.results
    entry_id = nodes["alpha_records"]["entry"]
    assert person["id"] == f"{nodes['alpha'].base_url}/id/directory-entry/{entry_id}"
    assert person["record"]["display_name"] == "Éloïse Alpha"
    assert "dedupe_key" not in person
    assert "sort" not in person
    # the registry journals the search and the person found
    mine = JournalEntry.objects.filter(seq__gt=before)
    assert mine.filter(action="federation.search", details__mode="live").count() == 1
    assert mine.filter(subject_person_id=uuid.UUID(entry_id)).count() == 1
    # the node journals the read for the person's portal, as the registry's professional
    rows = nodes["alpha"].query(
        "SELECT username, node, purpose, client_id FROM audit_journalentry WHERE subject_person_id = ?",
        (uuid.UUID(entry_id).hex,),
    )
    assert ("pro-direct@" + nodes["registry_url"].split("://", 1)[1], nodes["registry_url"], "contracting") in [
        row[:3] for row in rows
    ]


def test_live_pages_carry_one_offset_per_node(registry: dict[str, Any], nodes: dict[str, Any]) -> None:
    subject = _subject(registry["user"])
    params = {"purpose": "touring", "type": "production", "mode": "live", "page_size": "1"}
    first = search.search("referentials", params, subject)
    assert len(first.results) == 1
    assert first.next
    second = search.search("referentials", {**params, "cursor": first.next}, subject)
    assert len(second.results) == 1
    assert first.results[0]["id"] != second.results[0]["id"]
    with pytest.raises(ValidationError) as refused:  # a live cursor is not an index one
        search.search("referentials", {**params, "mode": "index", "cursor": first.next}, subject)
    assert "cursor" in refused.value.detail  # type: ignore[operator]


def test_a_node_that_stops_answering_mid_search_is_a_timeout(registry: dict[str, Any], nodes: dict[str, Any]) -> None:
    """Alpha frozen (SIGSTOP: its socket accepts, nothing answers) — the answer still comes in time."""
    Peer.objects.exclude(base_url=nodes["alpha"].base_url).delete()
    alpha = nodes["alpha"]
    alpha.suspend()
    try:
        started = time.monotonic()
        answer = search.search("directory", {"purpose": "contracting", "mode": "live"}, _subject(registry["user"]))
        elapsed = time.monotonic() - started
    finally:
        alpha.resume()
    assert elapsed < TIMEOUT + MARGIN, elapsed
    assert _statuses(answer)["Alpha"]["status"] == "timeout"
    assert answer.results == []  # nothing from alpha; the registry itself has no person


def test_index_mode_asks_no_node(registry: dict[str, Any]) -> None:
    """Index mode asks no node at all (statuses from replication), even with a hung member."""
    started = time.monotonic()
    answer = search.search("directory", {"purpose": "contracting"}, _subject(registry["user"]))
    assert time.monotonic() - started < 1.5
    assert {node["status"] for node in answer.nodes if node["name"] != "scene-commune"} == {"error"}
    assert all(node["ms"] == 0 for node in answer.nodes)
    assert dt.datetime.fromisoformat(answer.nodes[0]["as_of"].replace("Z", "+00:00"))
