"""The federation for real: node processes on loopback join, replicate, search, fail and refuse.

One cluster for the whole module (tests/federation/cluster.py): a registry, two structures
(the demo's structure-a and structure-b data) and a *hung* node (a socket server that accepts and
never answers, with a real key pair) that asked to join: it stays pending — an outsider whose
signed calls are refused — until the test that approves it. Every call crosses real HTTP between
separate processes with their own databases and keys; nothing is mocked. The tests run in file
order (the last one kills a node); each also holds when run alone. Stopping the cluster must leave
no process of any node behind (checked when the module's cluster is torn down).
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from tests.federation.cluster import (
    Cluster,
    HungServer,
    Node,
    NodeSpec,
    Professional,
    SearchCall,
    token,
    withdraw_consent,
)

pytestmark = [pytest.mark.server, pytest.mark.xdist_group("federation-cluster")]

SEARCH_TIMEOUT = 2.0  # FEDERATION_SEARCH_TIMEOUT of every node in this module
#: What a live answer may take beyond the per-node timeout: the registry's own work (its index,
#: policies, journal, merging) and loopback HTTP, on a loaded two-core machine.
MARGIN = 1.5
WITHDRAWAL_BOUND_S = 15.0  # far below FEDERATION_SYNC_INTERVAL (60 s): the push notice must do it
PUSH_BOUND_S = 8.0  # a new record at the origin, found on the registry (push notice, then a pull)

#: Sign `count` notices to URL as this node (its real key), print [{"headers", "body"}] — a
#: captured request, ready to be sent (and replayed) by the test.
SIGN_SNIPPET = """
import datetime as dt, json, sys, uuid, django
django.setup()
from django.conf import settings
from federation.signing import sign_request_headers
url, count = sys.argv[1], int(sys.argv[2])
out = []
for _ in range(count):
    body = json.dumps({
        "id": str(uuid.uuid4()), "kind": "test.ping", "origin": settings.NODE_BASE_URL,
        "created_at": dt.datetime.now(dt.timezone.utc).isoformat(), "attempt": 1, "payload": {},
    }).encode()
    headers = sign_request_headers("POST", url, {"Content-Type": "application/json"}, body)
    out.append({"headers": headers, "body": body.decode()})
print(json.dumps(out))
"""

#: Post one signed notice to URL as this node through federation.client (its real key).
POST_SIGNED_SNIPPET = """
import datetime as dt, json, sys, uuid, django
django.setup()
from django.conf import settings
from federation.client import post_signed
response = post_signed(sys.argv[1], {
    "id": str(uuid.uuid4()), "kind": "test.ping", "origin": settings.NODE_BASE_URL,
    "created_at": dt.datetime.now(dt.timezone.utc).isoformat(), "attempt": 1, "payload": {},
})
print(json.dumps({"status": response.status_code, "body": response.json()}))
"""


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    specs = [
        NodeSpec("registry", ("registry",), "registry"),
        NodeSpec("structure-a", profile="structure-a"),
        NodeSpec("structure-b", profile="structure-b"),
        NodeSpec("hung", hung=True),
    ]
    cluster = Cluster(
        tmp_path_factory.mktemp("federation"), specs, env={"FEDERATION_SEARCH_TIMEOUT": str(SEARCH_TIMEOUT)}
    )
    with cluster:
        cluster.federate(approve=["structure-a", "structure-b"])
        print("\n" + "\n".join(cluster.describe()))
        print("cluster timings (s):", {key: round(value, 1) for key, value in cluster.timings.items()})
        groups = [node.process.pid for node in cluster.nodes.values() if node.process is not None]
        assert all(group_members(group) for group in groups)
        yield cluster
    left = {group: group_members(group) for group in groups}
    assert not any(left.values()), f"processes left running after stop(): {left}"


@pytest.fixture(scope="module")
def professional(cluster: Cluster) -> Iterator[Professional]:
    pro = Professional(cluster, "pro-valide")
    yield pro
    pro.close()


def refusals(node: Node, code: str) -> list[tuple[Any, ...]]:
    """The journal entries of `node` for refused signatures with this reason code."""
    return node.query(
        "SELECT reason_code, details FROM audit_journalentry "
        "WHERE action = 'federation.signature_refused' AND decision = 'deny' AND reason_code = ?",
        [code],
    )


def signed_notices(sender: Node, receiver: Node, count: int) -> list[dict[str, Any]]:
    url = f"{receiver.base_url}/api/v1/federation/notices"
    captured: list[dict[str, Any]] = json.loads(sender.python(SIGN_SNIPPET, url, str(count)))
    return captured


def post(receiver: Node, captured: dict[str, Any], *, body: str | None = None, **headers: str) -> httpx.Response:
    sent = {**captured["headers"], **headers}
    content = (captured["body"] if body is None else body).encode()
    return httpx.post(f"{receiver.base_url}/api/v1/federation/notices", content=content, headers=sent, timeout=20)


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def live(professional: Professional, **params: str) -> SearchCall:
    return professional.search("referentials", type="production", mode="live", **params)


# ---------------------------------------------------------------------------- the harness itself


def test_hung_server_accepts_and_never_answers() -> None:
    with HungServer() as server:
        with pytest.raises(httpx.ReadTimeout):
            httpx.get(f"{server.base_url}/healthz", timeout=0.3)
        assert server.accepted == 1
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{server.base_url}/healthz", timeout=0.3)


def group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes of a process group (Linux /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            found.append(int(entry.name))
    return found


# ---------------------------------------------------------------------------- membership


def test_members_are_listed_in_a_list_signed_by_the_registry(cluster: Cluster) -> None:
    registry, a, b = cluster.registry, cluster["structure-a"], cluster["structure-b"]
    answer = httpx.get(f"{registry.base_url}/api/v1/federation/members", timeout=20)
    assert answer.status_code == 200, answer.text
    document = answer.json()
    listed = {member["base_url"] for member in document["list"]["members"]}
    assert listed == {registry.base_url, a.base_url, b.base_url}  # pending nodes are not members
    # the JWS verifies with the registry's published key, and says what "list" says
    header_b64, payload_b64, signature_b64 = document["jws"].split(".")
    header = json.loads(b64url_decode(header_b64))
    assert header["typ"] == "member-list+jws"
    jwks = httpx.get(f"{registry.base_url}/.well-known/jwks.json", timeout=20).json()
    jwk = next(key for key in jwks["keys"] if key["kid"] == header["kid"])
    public_key = Ed25519PublicKey.from_public_bytes(b64url_decode(jwk["x"]))
    public_key.verify(b64url_decode(signature_b64), f"{header_b64}.{payload_b64}".encode())
    assert json.loads(b64url_decode(payload_b64)) == document["list"]
    # every approved node refreshed it: same peers everywhere; the hung node waits for approval
    for node in (registry, a, b):
        peers = {url for (url,) in node.query("SELECT base_url FROM federation_peer")}
        assert peers == listed - {node.base_url}, node.name  # a node is not its own peer
    pending = dict(registry.query("SELECT base_url, status FROM federation_member"))
    assert pending[cluster["hung"].base_url] == "pending"


def test_a_node_that_is_not_a_member_is_refused_and_journaled(cluster: Cluster) -> None:
    a = cluster["structure-a"]
    before = len(refusals(a, "unknown_key"))
    outsider = cluster["hung"]  # asked to join, not approved (yet): its key is nobody's peer key
    assert dict(cluster.registry.query("SELECT base_url, status FROM federation_member"))[outsider.base_url] == (
        "pending"
    )
    result = json.loads(outsider.python(POST_SIGNED_SNIPPET, f"{a.base_url}/api/v1/federation/notices"))
    assert result["status"] == 401, result
    assert result["body"]["error"] == "invalid_signature"
    assert result["body"]["fields"]["signature"] == ["unknown_key"]
    assert len(refusals(a, "unknown_key")) == before + 1


# ---------------------------------------------------------------------------- signed calls


def test_a_captured_signed_request_replayed_is_refused_and_journaled(cluster: Cluster) -> None:
    registry, a = cluster.registry, cluster["structure-a"]
    [captured] = signed_notices(registry, a, 1)
    first = post(a, captured)
    assert first.status_code == 202, first.text  # a member's signed notice (unknown kind: ignored)
    assert first.json()["status"] == "ignored"
    assert "signature" in {name.lower() for name in first.headers}  # the answer is signed too
    before = len(refusals(a, "replayed"))
    replayed = post(a, captured)
    assert replayed.status_code == 401, replayed.text
    assert replayed.json()["error"] == "invalid_signature"
    assert replayed.json()["fields"]["signature"] == ["replayed"]
    entries = refusals(a, "replayed")
    assert len(entries) == before + 1
    details = json.loads(entries[-1][1])
    assert details["path"] == "/api/v1/federation/notices"
    assert details["method"] == "POST"


def test_a_tampered_body_or_header_is_refused_and_journaled(cluster: Cluster) -> None:
    registry, a = cluster.registry, cluster["structure-a"]
    body_changed, digest_changed, header_changed = signed_notices(registry, a, 3)
    digests, signatures = len(refusals(a, "bad_digest")), len(refusals(a, "bad_signature"))

    tampered = body_changed["body"].replace('"payload": {}', '"payload": {"target": "x"}')
    assert tampered != body_changed["body"]
    refused = post(a, body_changed, body=tampered)
    assert refused.status_code == 401, refused.text
    assert refused.json()["fields"]["signature"] == ["bad_digest"]

    # the attacker recomputes the digest of the new body: the signature covers the digest
    tampered = digest_changed["body"].replace('"attempt": 1', '"attempt": 2')
    digest = base64.b64encode(hashlib.sha256(tampered.encode()).digest()).decode()
    refused = post(a, digest_changed, body=tampered, **{"Content-Digest": f"sha-256=:{digest}:"})
    assert refused.status_code == 401, refused.text
    assert refused.json()["fields"]["signature"] == ["bad_signature"]

    refused = post(a, header_changed, **{"Content-Type": "text/plain"})  # a covered header changed
    assert refused.status_code == 401, refused.text
    assert refused.json()["fields"]["signature"] == ["bad_signature"]

    assert len(refusals(a, "bad_digest")) == digests + 1
    assert len(refusals(a, "bad_signature")) == signatures + 2


# ---------------------------------------------------------------------------- replication + search


def test_index_search_finds_persons_and_productions_of_both_structures(
    cluster: Cluster, professional: Professional
) -> None:
    a, b = cluster["structure-a"], cluster["structure-b"]
    persons = professional.search("directory", q="jules", mode="index")
    assert persons.status == 200, persons.body
    assert persons.body["mode"] == "index"
    jules = [result for result in persons.body["results"] if result["title"] == "Jules Fictif"]
    assert {result["origin"] for result in jules} == {a.base_url, b.base_url}
    assert all(result["type"] == "directory-entry" for result in jules)
    # withdrawn on paper at the origin (seed_demo_consents): never replicated, never found
    withdrawn = professional.search("directory", q="ines", mode="index")
    assert withdrawn.status == 200
    assert [r for r in withdrawn.body["results"] if r["title"] == "Inès Retirée"] == []

    productions = professional.search("referentials", type="production", mode="index", page_size="100")
    assert productions.status == 200, productions.body
    assert {a.base_url, b.base_url} <= productions.origins()
    for result in productions.body["results"]:
        assert result["owner"]["name"]
        assert result["policy"]["uid"]
        assert result["sources"]
    for node in (a, b):
        assert productions.node(node.base_url)["status"] == "ok"
    # accents and case do not matter
    folded = professional.search("referentials", type="production", mode="index", q="THEATRE")
    accented = professional.search("referentials", type="production", mode="index", q="théâtre")
    assert folded.status == accented.status == 200
    assert {r["id"] for r in folded.body["results"]} == {r["id"] for r in accented.body["results"]}


def test_index_search_refuses_a_professional_whose_licence_expired(cluster: Cluster) -> None:
    expired = Professional(cluster, "pro-expiree")
    try:
        refused = expired.search("directory", q="jules", mode="index")
    finally:
        expired.close()
    assert refused.status == 403, refused.body
    assert refused.body["error"]


def test_live_search_fans_out_and_reports_each_node(cluster: Cluster, professional: Professional) -> None:
    a, b = cluster["structure-a"], cluster["structure-b"]
    call = live(professional)
    assert call.status == 200, call.body
    assert call.body["mode"] == "live"
    for node in (a, b):
        status = call.node(node.base_url)
        assert status["status"] == "ok", status
        assert status["count"] > 0
        assert isinstance(status["ms"], int)
    assert {a.base_url, b.base_url} <= call.origins()
    ids = [result["id"] for result in call.body["results"]]
    assert len(ids) == len(set(ids))  # merged: each record once
    assert call.seconds < SEARCH_TIMEOUT + MARGIN


def test_withdrawal_at_the_origin_leaves_the_registry_search(cluster: Cluster, professional: Professional) -> None:
    a, b = cluster["structure-a"], cluster["structure-b"]
    found = professional.search("directory", q="jules", mode="index")
    target = next(r["id"] for r in found.body["results"] if r["origin"] == a.base_url)
    sent, _answered = withdraw_consent(a, target)
    seconds = None
    while time.monotonic() - sent < WITHDRAWAL_BOUND_S + 5:
        call = professional.search("directory", q="jules", mode="index")
        assert call.status == 200, call.body
        if target not in {r["id"] for r in call.body["results"]}:
            seconds = time.monotonic() - sent
            break
        time.sleep(0.05)
    assert seconds is not None, "the withdrawn person is still found on the registry"
    print(f"\nwithdrawal at the origin -> absent from the registry's search: {seconds:.2f} s")
    assert seconds < WITHDRAWAL_BOUND_S
    # the other structure's person is still there; the live search does not bring it back either
    assert b.base_url in {r["origin"] for r in call.body["results"]}
    again = professional.search("directory", q="jules", mode="live")
    assert again.status == 200, again.body
    assert target not in {r["id"] for r in again.body["results"]}


def test_a_new_record_at_the_origin_reaches_the_registry_by_push(cluster: Cluster, professional: Professional) -> None:
    """Created at structure-b through its API: its outbox tells the registry, which pulls the feed
    at once (no periodic sync runs in this cluster)."""
    b = cluster["structure-b"]
    key = b.client("Clé API personnelle — admin")
    bearer = token(b.base_url, key, "referentials:write")
    sent = time.monotonic()
    created = httpx.post(
        f"{b.base_url}/api/v1/productions/",
        json={"title": "Les Fourberies de Zoé (création fédérée)", "discipline": "theatre"},
        headers={"Authorization": f"Bearer {bearer}"},
        timeout=30,
    )
    assert created.status_code == 201, created.text
    seconds = None
    while time.monotonic() - sent < PUSH_BOUND_S:
        call = professional.search("referentials", type="production", mode="index", q="fourberies de zoe")
        assert call.status == 200, call.body
        if call.body["results"]:
            seconds = time.monotonic() - sent
            break
        time.sleep(0.1)
    assert seconds is not None, "the new production never reached the registry's index"
    print(f"\nnew record at the origin -> found on the registry: {seconds:.2f} s")
    [found] = call.body["results"]
    assert found["origin"] == b.base_url
    assert found["id"].endswith(created.json()["id"])


def test_a_replica_is_read_only_on_the_registry(cluster: Cluster, professional: Professional) -> None:
    """A write to a record the registry holds only as a replica: 409 with the origin's URL."""
    registry, a = cluster.registry, cluster["structure-a"]
    found = professional.search("referentials", type="production", mode="index", page_size="100")
    uri = next(result["id"] for result in found.body["results"] if result["origin"] == a.base_url)
    tool = json.loads(
        registry.manage(
            "oauth_client", "create", "--name", "Outil d'écriture (test)", "--scopes",
            "referentials:read referentials:write", "--grant", "client_credentials", "--kind", "depositor", "--json",
        )
    )  # fmt: skip
    bearer = token(registry.base_url, tool, "referentials:write")
    record_id = uri.rstrip("/").rsplit("/", 1)[-1]
    refused = httpx.patch(
        f"{registry.base_url}/api/v1/productions/{record_id}/",
        json={"title": "Réécrit ailleurs"},
        headers={"Authorization": f"Bearer {bearer}"},
        timeout=30,
    )
    assert refused.status_code == 409, refused.text
    assert refused.json()["error"] == "replica_read_only"
    assert refused.json()["origin"] == a.base_url


# ---------------------------------------------------------------------------- failing nodes


def test_a_hung_member_is_cut_off_at_its_timeout(cluster: Cluster, professional: Professional) -> None:
    hung, a, b = cluster["hung"], cluster["structure-a"], cluster["structure-b"]
    cluster.registry.manage("federation_approve", hung.base_url)
    call = live(professional)
    assert call.status == 200, call.body
    assert call.node(hung.base_url)["status"] == "timeout"
    assert hung.hung_server is not None
    assert hung.hung_server.accepted >= 1  # it was asked, and it never answered
    assert call.node(a.base_url)["status"] == "ok"
    assert call.node(b.base_url)["status"] == "ok"
    assert {a.base_url, b.base_url} <= call.origins()
    print(f"\nlive search with a hung member: {call.seconds * 1000:.0f} ms (timeout {SEARCH_TIMEOUT * 1000:.0f} ms)")
    assert SEARCH_TIMEOUT * 0.9 <= call.seconds < SEARCH_TIMEOUT + MARGIN


def test_a_node_killed_mid_search_does_not_block_the_answer(cluster: Cluster, professional: Professional) -> None:
    a, b = cluster["structure-a"], cluster["structure-b"]
    b.suspend()  # its requests are accepted and wait...
    answers: list[SearchCall] = []
    searching = threading.Thread(target=lambda: answers.append(live(professional)))
    searching.start()
    time.sleep(0.5)
    b.kill()  # ...and it dies in the middle of the search
    searching.join(timeout=SEARCH_TIMEOUT + MARGIN + 10)
    assert answers, "no answer"
    call = answers[0]
    assert call.status == 200, call.body
    assert call.node(b.base_url)["status"] in {"timeout", "error"}
    assert call.node(a.base_url)["status"] == "ok"
    assert a.base_url in call.origins()
    assert call.seconds < SEARCH_TIMEOUT + MARGIN
    print(f"\nlive search with a node killed mid-search: {call.seconds * 1000:.0f} ms")
    # the dead node now refuses connections: an error, answered at once
    after = live(professional)
    assert after.status == 200, after.body
    assert after.node(b.base_url)["status"] == "error"
    assert after.seconds < SEARCH_TIMEOUT + MARGIN
