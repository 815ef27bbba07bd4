"""Federation membership: joining the registry, the operator's decisions, the signed member list,
its verification by the nodes, key rotation with overlap, and the trust rule.

Three kinds of tests, each as honest as its subject allows:

* **registry side, in process** — a node's join is a real RFC 9421-signed request (with a key
  held only by the test, as another node's) to this process playing the registry;
* **node side, over HTTP** — this process plays a node and fetches the list from a small HTTP
  server on 127.0.0.1 serving lists signed with a registry key the test holds, so that tampered,
  stale, expired or foreign lists can be served byte for byte;
* **end to end, real processes** (marker ``server``) — a registry and two structure nodes started
  as separate gunicorn processes (tests/federation/cluster.py), each with its own database and key,
  driven with the operator's commands: join → pending → approve → listed → trusted by the other
  node; rotation announced with overlap; unknown key refused; suspension; a non-member's key refused.
  (pytest-django's ``live_server`` would share this process's database and key directory between
  "registry" and "node": the two sides could not be told apart, so it is not used here.)
"""

from __future__ import annotations

import datetime as dt
import http.server
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone
from joserfc import jwt
from rest_framework.test import APIClient

from dataspace.audit.models import JournalEntry
from dataspace.node import keys as node_keys
from dataspace.oauth import clients as oauth_clients
from dataspace.oauth import peers as oauth_peers
from dataspace.oauth.models import Client
from dataspace.records.models import Change
from federation import membership, signing
from federation.models import Member, MembershipState, OutboxMessage, Peer
from tests.conftest import mint_token, node_signing_key
from tests.federation.signed import SignedAPIClient, new_key, register_peer

pytestmark = pytest.mark.django_db

URL = "/api/v1/federation/members"
NODE_A = "https://theatre-a.example"
NODE_B = "https://compagnie-b.example"
MINISTRY = "https://ministere.example"


# ---------------------------------------------------------------------------- helpers


def metadata(base_url: str, *, name: str = "Théâtre A", roles: tuple[str, ...] = ("structure",)) -> dict[str, Any]:
    return {
        "id": f"{base_url}/.well-known/dataspace-node",
        "name": name,
        "roles": list(roles),
        "base_url": base_url,
        "api": f"{base_url}/api/v1/",
        "jwks_uri": f"{base_url}/.well-known/jwks.json",
        "version": "1.0",
    }


def join_body(base_url: str, keys: list[node_keys.NodeKey], **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "metadata": metadata(base_url, **overrides.pop("meta", {})),
        "jwks": {"keys": [key.public_jwk() for key in keys]},
        "organisation_name": "SCOP du Théâtre A",
        "contact_email": "technique@theatre-a.example",
    }
    body.update(overrides)
    return body


def post_join(signer: node_keys.NodeKey, body: dict[str, Any]) -> Any:
    """POST the join signed (RFC 9421) with `signer`, as the joining node would."""
    return SignedAPIClient(signer).post(URL, data=json.dumps(body), content_type="application/json")


def journaled(action: str, **filters: Any) -> list[JournalEntry]:
    return list(JournalEntry.objects.filter(action=action, **filters).order_by("seq"))


def public_list(client: Any) -> dict[str, Any]:
    response = client.get(URL)
    assert response.status_code == 200, response.content
    return response.json()


def listed(document: dict[str, Any]) -> set[str]:
    return {entry["base_url"] for entry in document["list"]["members"]}


@pytest.fixture
def registry(settings: Any) -> str:
    """This process plays the registry (its own key in the test's key directory)."""
    settings.NODE_ROLES = ["registry"]
    settings.NODE_NAME = "registre"
    node_signing_key()
    membership.forget_trusted_keys()
    yield settings.NODE_BASE_URL
    membership.forget_trusted_keys()


@pytest.fixture
def key_a() -> node_keys.NodeKey:
    return new_key()


@pytest.fixture
def member_a(registry: str, key_a: node_keys.NodeKey) -> Member:
    """Théâtre A, joined with `key_a` and approved."""
    response = post_join(key_a, join_body(NODE_A, [key_a]))
    assert response.status_code == 202, response.content
    return membership.approve(Member.objects.get(base_url=NODE_A))


# ---------------------------------------------------------------------------- registry: joining


def test_join_is_recorded_pending_and_journaled(registry: str, key_a: node_keys.NodeKey, client: Any) -> None:
    response = post_join(key_a, join_body(NODE_A, [key_a]))
    assert response.status_code == 202, response.content
    assert response.json()["status"] == "pending"
    member = Member.objects.get(base_url=NODE_A)
    assert member.status == Member.Status.PENDING
    assert membership.kids_of(member.jwks) == [key_a.kid]
    assert member.organisation_name == "SCOP du Théâtre A"
    assert member.contact_email == "technique@theatre-a.example"
    [entry] = journaled("federation.member.join_requested")
    assert entry.stream == "admin"
    assert entry.node == NODE_A
    assert entry.record_ids == [str(member.pk)]
    # not a member yet: the list names the registry only, no peer, no client
    assert listed(public_list(client)) == {registry}
    assert not Peer.objects.exists()
    assert not Client.objects.filter(client_id=NODE_A).exists()
    # re-running the join is safe
    again = post_join(key_a, join_body(NODE_A, [key_a]))
    assert again.status_code == 202
    assert Member.objects.count() == 1


def test_unsigned_join_is_refused_and_journaled(registry: str, key_a: node_keys.NodeKey) -> None:
    response = APIClient().post(URL, data=json.dumps(join_body(NODE_A, [key_a])), content_type="application/json")
    assert response.status_code == 401
    body = response.json()
    assert body["error"] == "invalid_signature"
    assert body["fields"] == {"signature": ["missing_signature"]}
    assert not Member.objects.exists()
    [entry] = journaled("federation.member.join_refused", reason_code="missing_signature")
    assert entry.decision == "deny"


def test_join_must_prove_possession_of_a_key_it_sends(registry: str, key_a: node_keys.NodeKey) -> None:
    """Signed with a key that is not in the body's JWKS: anyone could send someone else's keys."""
    other = new_key()
    response = post_join(other, join_body(NODE_A, [key_a]))
    assert response.status_code == 401
    assert response.json()["fields"] == {"signature": ["unknown_key"]}
    assert not Member.objects.exists()


def test_join_with_a_tampered_body_is_refused(registry: str, key_a: node_keys.NodeKey) -> None:
    body = json.dumps(join_body(NODE_A, [key_a])).encode()
    # sign the genuine body, then send another one under the same signature
    headers = signing.sign_request_headers(
        "POST", f"{registry}{URL}", {"Content-Type": "application/json"}, body, key=key_a
    )
    tampered = body.replace(b"Th\\u00e9\\u00e2tre A", b"Intrus").replace(b"structure", b"ministry")
    assert tampered != body
    response = APIClient().generic(
        "POST",
        URL,
        tampered,
        "application/json",
        HTTP_CONTENT_DIGEST=headers["Content-Digest"],
        HTTP_SIGNATURE_INPUT=headers["Signature-Input"],
        HTTP_SIGNATURE=headers["Signature"],
    )
    assert response.status_code == 401
    assert response.json()["fields"] == {"signature": ["bad_digest"]}
    assert not Member.objects.exists()


@pytest.mark.parametrize(
    ("mutate", "field_name"),
    [
        (lambda b: b["metadata"].update(base_url="ftp://theatre-a.example"), "metadata.base_url"),
        (lambda b: b["metadata"].update(base_url="http://theatre-a.example"), "metadata.base_url"),
        (lambda b: b["metadata"].update(roles=["structure", "patron"]), "metadata.roles"),
        (lambda b: b["metadata"].update(name=""), "metadata.name"),
        (lambda b: b["metadata"].update(jwks_uri="https://ailleurs.example/jwks.json"), "metadata.jwks_uri"),
        (lambda b: b.pop("metadata"), "metadata"),
        (lambda b: b["jwks"]["keys"][0].update(kid="pas-une-empreinte"), "jwks"),
        (lambda b: b["jwks"]["keys"][0].update(d="AAAA"), "jwks"),
        (lambda b: b["jwks"]["keys"][0].update(crv="X25519"), "jwks"),
        (lambda b: b.update(jwks={"keys": []}), "jwks"),
        (lambda b: b.update(contact_email="pas une adresse"), "contact_email"),
    ],
)
def test_invalid_join_answers_400_naming_the_field(
    registry: str, key_a: node_keys.NodeKey, mutate: Any, field_name: str
) -> None:
    body = join_body(NODE_A, [key_a])
    mutate(body)
    response = post_join(key_a, body)
    assert response.status_code == 400, response.content
    answer = response.json()
    assert answer["error"] == "invalid"
    assert field_name in answer["fields"]
    assert not Member.objects.exists()


def test_membership_endpoints_exist_only_on_the_registry(settings: Any, key_a: node_keys.NodeKey) -> None:
    settings.NODE_ROLES = ["structure"]
    node_signing_key()
    assert APIClient().get(URL).status_code == 404
    response = post_join(key_a, join_body(NODE_A, [key_a]))
    assert response.status_code == 404
    assert response.json()["error"] == "not_a_registry"


# ---------------------------------------------------------------------------- registry: decisions, list


def test_approval_lists_the_member_and_registers_its_peer_and_client(
    registry: str, key_a: node_keys.NodeKey, client: Any, staff_user: Any, structure: Any
) -> None:
    from dataspace.node.models import NodeIdentity

    NodeIdentity.objects.update_or_create(
        pk=1, defaults={"name": "registre", "base_url": registry, "organisation": structure}
    )
    post_join(key_a, join_body(NODE_A, [key_a], meta={"roles": ("structure", "registry")}))
    before = public_list(client)["list"]["serial"]
    member = membership.approve(Member.objects.get(base_url=NODE_A), by=staff_user)
    assert member.status == Member.Status.APPROVED
    assert member.roles == ["structure"]  # "registry" belongs to the node signing the list only
    assert member.decided_by == staff_user
    [entry] = journaled("federation.member.approved")
    assert entry.user_id == staff_user.pk
    assert entry.stream == "admin"
    # the list: signed by the registry, names it and the new member, serial up
    document = public_list(client)
    payload = document["list"]
    assert payload["serial"] > before
    assert listed(document) == {registry, NODE_A}
    registry_keys = {"keys": [key.public_jwk() for key in node_keys.load_keys()]}
    verified = membership.verify_member_list(document["jws"], registry=registry, pinned=registry_keys)
    assert verified == payload
    entry_a = next(e for e in payload["members"] if e["base_url"] == NODE_A)
    assert entry_a == {
        "base_url": NODE_A,
        "name": "Théâtre A",
        "roles": ["structure"],
        "jwks": {"keys": [key_a.public_jwk()]},
    }
    expires = dt.datetime.fromisoformat(payload["expires_at"].replace("Z", "+00:00"))
    issued = dt.datetime.fromisoformat(payload["issued_at"].replace("Z", "+00:00"))
    assert expires - issued == dt.timedelta(seconds=settings.FEDERATION_MEMBER_LIST_TTL)
    # the registry trusts the member at once: peer row, signature key, OAuth client
    peer = Peer.objects.get(base_url=NODE_A)
    assert peer.kids == [key_a.kid]
    signer, _public = membership.trusted_key(key_a.kid)
    assert signer.base_url == NODE_A
    oauth_client = Client.objects.get(client_id=NODE_A)
    assert oauth_client.token_endpoint_auth_method == "private_key_jwt"
    assert oauth_client.jwks_uri == f"{NODE_A}/.well-known/jwks.json"
    assert oauth_client.kind == "reader"
    assert oauth_client.allowed_scopes == ["federation:sync"]
    assert oauth_client.grant_types == ["client_credentials"]
    assert oauth_client.is_active
    # owned by a stand-in of the peer's operator, never by this node's structure (it would act for
    # it); the stand-in is described by the node's structure and never enters the change feed
    stand_in = oauth_client.owner
    assert (stand_in.website, stand_in.same_as) == (NODE_A, [f"{NODE_A}/.well-known/dataspace-node"])
    assert stand_in.owner == structure
    assert not Change.objects.filter(record_id=stand_in.pk).exists()
    membership.suspend(member)
    membership.approve(member)
    assert Client.objects.get(client_id=NODE_A).owner == stand_in  # reused, never duplicated


def test_list_is_stable_then_reissued_at_half_life(registry: str, member_a: Member) -> None:
    first, payload = membership.current_list()
    again, _same = membership.current_list()
    assert again == first
    later = timezone.now() + dt.timedelta(seconds=settings.FEDERATION_MEMBER_LIST_TTL // 2 + 5)
    renewed, new_payload = membership.current_list(now=later)
    assert renewed != first
    assert new_payload["serial"] > payload["serial"]
    assert new_payload["members"] == payload["members"]


def test_list_is_signed_with_the_oldest_registry_key(registry: str, client: Any) -> None:
    """After the registry rotates, lists stay verifiable by nodes that pinned the old key, and
    carry the new one in the registry's own entry (that is how nodes re-pin)."""
    old = node_keys.load_keys()[0]
    new = node_keys.generate_key("20991231T000000Z")
    document = public_list(client)
    header = json.loads(membership._b64url_decode(document["jws"].split(".")[0]))
    assert header == {"alg": "Ed25519", "kid": old.kid, "typ": "member-list+jws"}
    own = next(e for e in document["list"]["members"] if e["base_url"] == registry)
    assert {k["kid"] for k in own["jwks"]["keys"]} == {old.kid, new.kid}
    assert own["roles"] == ["registry"]


def test_rotation_with_overlap_is_announced_with_the_previous_key(
    registry: str, member_a: Member, key_a: node_keys.NodeKey, client: Any
) -> None:
    serial = public_list(client)["list"]["serial"]
    OutboxMessage.objects.all().delete()
    new_a = new_key()
    response = post_join(key_a, join_body(NODE_A, [new_a, key_a]))  # overlap: new and old, signed by the old
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "approved"
    member = Member.objects.get(base_url=NODE_A)
    assert membership.kids_of(member.jwks) == [new_a.kid, key_a.kid]
    assert member.keys_updated_at is not None
    assert journaled("federation.member.keys_announced", node=NODE_A)
    document = public_list(client)
    assert document["list"]["serial"] > serial
    entry_a = next(e for e in document["list"]["members"] if e["base_url"] == NODE_A)
    assert [k["kid"] for k in entry_a["jwks"]["keys"]] == [new_a.kid, key_a.kid]
    assert set(Peer.objects.get(base_url=NODE_A).kids) == {new_a.kid, key_a.kid}
    assert membership.trusted_key(new_a.kid) is not None
    assert membership.trusted_key(key_a.kid) is not None  # overlap: the old key still verifies
    # every member is told at once (outbox, signed delivery), so peers trust the new key in seconds
    [notice] = OutboxMessage.objects.filter(kind="members.changed")
    assert notice.destination == NODE_A
    assert notice.payload == {"registry": registry, "serial": document["list"]["serial"]}
    # end of the overlap: the node drops the old key, announcing with the new one
    response = post_join(new_a, join_body(NODE_A, [new_a]))
    assert response.status_code == 200
    assert membership.trusted_key(key_a.kid) is None
    assert Peer.objects.get(base_url=NODE_A).kids == [new_a.kid]


def test_known_node_signing_with_an_unknown_key_is_refused(
    registry: str, member_a: Member, key_a: node_keys.NodeKey
) -> None:
    """Whoever holds a new key cannot take over a member's identity: 409, nothing changes."""
    intruder = new_key()
    response = post_join(intruder, join_body(NODE_A, [intruder]))
    assert response.status_code == 409
    assert response.json()["error"] == "unknown_key"
    member = Member.objects.get(base_url=NODE_A)
    assert member.status == Member.Status.APPROVED
    assert membership.kids_of(member.jwks) == [key_a.kid]
    assert membership.trusted_key(intruder.kid) is None
    [entry] = journaled("federation.member.unknown_key")
    assert entry.decision == "deny"
    # a pending request cannot be overwritten with other keys either
    key_b = new_key()
    post_join(key_b, join_body(NODE_B, [key_b]))
    assert post_join(intruder, join_body(NODE_B, [intruder])).status_code == 409


def test_suspension_removes_trust_and_disables_the_client(
    registry: str, member_a: Member, key_a: node_keys.NodeKey, client: Any
) -> None:
    oauth_client = Client.objects.get(client_id=NODE_A)
    _token, issued = mint_token(oauth_client, "federation:sync")
    membership.suspend(member_a)
    assert listed(public_list(client)) == {registry}
    assert not Peer.objects.filter(base_url=NODE_A).exists()
    assert membership.trusted_key(key_a.kid) is None
    oauth_client.refresh_from_db()
    assert not oauth_client.is_active
    issued.refresh_from_db()
    assert issued.revoked_at is not None
    assert journaled("federation.member.suspended")
    # a suspended node announcing keys is told so (and stays out of the list)
    response = post_join(key_a, join_body(NODE_A, [key_a]))
    assert response.status_code == 200
    assert response.json()["status"] == "suspended"
    # approved again: back in the list, its client re-enabled
    membership.approve(Member.objects.get(base_url=NODE_A))
    oauth_client.refresh_from_db()
    assert oauth_client.is_active
    assert NODE_A in listed(public_list(client))


def test_a_client_disabled_by_the_operator_stays_disabled(registry: str, member_a: Member) -> None:
    oauth_client = Client.objects.get(client_id=NODE_A)
    oauth_clients.disable_client(oauth_client)
    membership.refresh_members()
    oauth_client.refresh_from_db()
    assert not oauth_client.is_active


def test_refused_node_may_ask_again_with_new_keys(registry: str, member_a: Member) -> None:
    membership.refuse(member_a)
    fresh = new_key()
    response = post_join(fresh, join_body(NODE_A, [fresh]))
    assert response.status_code == 202
    member = Member.objects.get(base_url=NODE_A)
    assert member.status == Member.Status.PENDING
    assert membership.kids_of(member.jwks) == [fresh.kid]
    assert journaled("federation.member.join_requested", node=NODE_A)[-1].details["again"] is True


def test_approving_a_node_asking_for_no_member_role_is_refused(registry: str) -> None:
    key = new_key()
    post_join(key, join_body(NODE_B, [key], meta={"roles": ("registry",), "name": "Faux registre"}))
    with pytest.raises(membership.MembershipError) as refused:
        membership.approve(Member.objects.get(base_url=NODE_B))
    assert refused.value.code == "invalid"
    assert Member.objects.get(base_url=NODE_B).status == Member.Status.PENDING


# ---------------------------------------------------------------------------- registry: admin and commands


def test_admin_actions_decide_in_french_and_journal(registry: str, staff_client: Any, staff_user: Any) -> None:
    keys = {url: new_key() for url in (NODE_A, NODE_B)}
    for url, key in keys.items():
        post_join(key, join_body(url, [key], meta={"name": f"Nœud {url[8:20]}"}))
    changelist = "/admin/federation/member/"
    page = staff_client.get(changelist)
    assert page.status_code == 200
    assert "Approuver les nœuds choisis" in page.content.decode()
    detail = staff_client.get(f"{changelist}{Member.objects.get(base_url=NODE_A).pk}/change/")
    assert detail.status_code == 200
    assert keys[NODE_A].kid in detail.content.decode()  # the thumbprint to compare with the node's
    ids = [str(pk) for pk in Member.objects.values_list("pk", flat=True)]
    response = staff_client.post(changelist, {"action": "approve_members", "_selected_action": ids}, follow=True)
    assert response.status_code == 200
    assert "2 nœud(s) approuvé(s)" in response.content.decode()
    assert set(Member.objects.values_list("status", flat=True)) == {"approved"}
    assert {e.user_id for e in journaled("federation.member.approved")} == {staff_user.pk}
    staff_client.post(changelist, {"action": "suspend_members", "_selected_action": ids[:1]})
    assert Member.objects.filter(status="suspended").count() == 1
    staff_client.post(changelist, {"action": "refuse_members", "_selected_action": ids[1:]})
    assert Member.objects.filter(status="refused").count() == 1
    assert not Peer.objects.exists()


def test_admin_of_peers_and_membership_is_read_only(registry: str, member_a: Member, staff_client: Any) -> None:
    assert staff_client.get("/admin/federation/peer/").status_code == 200
    assert staff_client.get("/admin/federation/membershipstate/").status_code == 200
    assert staff_client.get("/admin/federation/peer/add/").status_code == 403
    assert staff_client.get("/admin/federation/member/add/").status_code == 403


def test_federation_approve_command(registry: str, capsys: Any) -> None:
    keys = {url: new_key() for url in (NODE_A, NODE_B)}
    for url, key in keys.items():
        post_join(key, join_body(url, [key]))
    with pytest.raises(CommandError, match="--all"):
        call_command("federation_approve")
    with pytest.raises(CommandError, match=r"No join request from: https://inconnu\.example"):
        call_command("federation_approve", "https://inconnu.example")
    call_command("federation_approve", NODE_A)
    assert Member.objects.get(base_url=NODE_A).status == "approved"
    assert Member.objects.get(base_url=NODE_B).status == "pending"
    call_command("federation_approve", "--all")
    out = capsys.readouterr().out
    assert f"approuvé / approved: Théâtre A ({NODE_B})" in out
    assert keys[NODE_B].kid in out
    assert Member.objects.filter(status="approved").count() == 2
    entries = journaled("federation.member.approved")
    assert len(entries) == 2
    assert all(e.details["actor"] == {"via": "command"} for e in entries)


def test_commands_have_help_and_refuse_the_wrong_role(settings: Any) -> None:
    for name in ("federation_join", "federation_approve", "federation_refresh", "federation_announce_keys"):
        from django.core.management import load_command_class

        command = load_command_class("federation", name)
        text = command.create_parser("manage.py", name).format_help()
        assert " / " in command.help, name  # English and French
        assert len(command.help) > 80, name
        assert "usage:" in text
    settings.NODE_ROLES = ["structure"]
    with pytest.raises(CommandError, match="registry only"):
        call_command("federation_approve", "--all")
    settings.NODE_ROLES = ["registry"]
    with pytest.raises(CommandError, match="This node is the registry"):
        call_command("federation_join", "https://registre.example")
    with pytest.raises(CommandError, match="This node is the registry"):
        call_command("federation_announce_keys")


# ---------------------------------------------------------------------------- node side: a registry over HTTP


@dataclass
class FakeRegistry:
    """A registry as the node sees it over HTTP: its metadata, its JWKS and whatever list the test
    puts in `members` (the body of GET /api/v1/federation/members)."""

    key: node_keys.NodeKey = field(default_factory=new_key)
    members: Any = None
    url: str = ""
    hits: int = 0
    _server: Any = None

    def start(self) -> FakeRegistry:
        registry = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                registry.hits += 1
                documents = {
                    "/.well-known/dataspace-node": {
                        "base_url": registry.url,
                        "name": "registre",
                        "roles": ["registry"],
                    },
                    "/.well-known/jwks.json": {"keys": [registry.key.public_jwk()]},
                    URL: registry.members,
                }
                document = documents.get(self.path)
                body = json.dumps(document).encode()
                self.send_response(200 if document is not None else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def payload(self, entries: list[dict[str, Any]], *, serial: int, **times: Any) -> dict[str, Any]:
        now = timezone.now()
        issued = times.get("issued_at", now - dt.timedelta(minutes=1))
        expires = times.get("expires_at", now + dt.timedelta(days=7))
        return {
            "registry": times.get("registry", self.url),
            "serial": serial,
            "issued_at": membership._iso(issued),
            "expires_at": membership._iso(expires),
            "members": entries,
        }

    def publish(self, payload: dict[str, Any], *, key: node_keys.NodeKey | None = None) -> str:
        compact = membership.sign_member_list(payload, key or self.key)
        self.members = {"jws": compact, "list": payload}
        return compact

    def own_entry(self, *keys: node_keys.NodeKey) -> dict[str, Any]:
        return entry(self.url, "registre", ["registry"], *(keys or (self.key,)))


def entry(base_url: str, name: str, roles: list[str], *keys: node_keys.NodeKey) -> dict[str, Any]:
    return {"base_url": base_url, "name": name, "roles": roles, "jwks": {"keys": [k.public_jwk() for k in keys]}}


@pytest.fixture
def fake_registry() -> Iterator[FakeRegistry]:
    registry = FakeRegistry().start()
    yield registry
    registry.stop()


@pytest.fixture
def node(settings: Any, fake_registry: FakeRegistry) -> str:
    """This process plays a structure node that pinned `fake_registry`'s key (as federation_join does)."""
    settings.NODE_ROLES = ["structure"]
    settings.NODE_NAME = "structure-a"
    node_signing_key()
    membership.pin_registry(
        membership.RegistryIdentity(
            fake_registry.url, "registre", membership.parse_jwks(fake_registry.own_entry()["jwks"])
        )
    )
    membership.forget_trusted_keys()
    yield settings.NODE_BASE_URL
    membership.forget_trusted_keys()


@pytest.fixture
def peers() -> dict[str, node_keys.NodeKey]:
    return {NODE_B: new_key(), MINISTRY: new_key()}


def full_list(registry: FakeRegistry, node_url: str, peers: dict[str, node_keys.NodeKey], serial: int = 10) -> str:
    own_key = node_keys.load_keys()[0]
    entries = [
        registry.own_entry(),
        entry(node_url, "structure-a", ["structure"], own_key),
        entry(NODE_B, "Compagnie B", ["structure"], peers[NODE_B]),
        entry(MINISTRY, "Ministère", ["ministry"], peers[MINISTRY]),
    ]
    return registry.publish(registry.payload(entries, serial=serial))


def state() -> MembershipState:
    return MembershipState.objects.get(pk=1)


def test_refresh_trusts_exactly_the_listed_members(
    node: str, fake_registry: FakeRegistry, peers: dict[str, node_keys.NodeKey]
) -> None:
    compact = full_list(fake_registry, node, peers)
    outcome = membership.refresh_members()
    assert outcome["status"] == "ok", outcome
    assert outcome["own_status"] == "approved"
    assert set(Peer.objects.values_list("base_url", flat=True)) == {fake_registry.url, NODE_B, MINISTRY}
    held = state()
    assert held.serial == 10
    assert held.signed_list == compact
    assert held.last_error == ""
    # signatures: members' keys and this node's own keys, nothing else
    signer, _key = membership.trusted_key(peers[NODE_B].kid)
    assert (signer.base_url, signer.roles) == (NODE_B, ("structure",))
    assert membership.trusted_key(node_keys.load_keys()[0].kid)[0].base_url == node
    assert membership.trusted_key(new_key().kid) is None
    assert [p.base_url for p in membership.trusted_peers("structure")] == [NODE_B]
    assert node not in {p.base_url for p in membership.trusted_peers()}
    # OAuth clients of the peers: client id = base URL, scopes by role
    scopes = {c.client_id: c.allowed_scopes for c in Client.objects.filter(is_active=True)}
    assert scopes == {
        fake_registry.url: ["referentials:read", "directory:search", "federation:sync"],
        NODE_B: ["federation:sync"],
        MINISTRY: ["indicators:aggregate"],
    }
    # a member leaves the list: its peer row goes and its client is disabled
    own_key = node_keys.load_keys()[0]
    fake_registry.publish(
        fake_registry.payload(
            [fake_registry.own_entry(), entry(node, "structure-a", ["structure"], own_key)], serial=11
        )
    )
    assert membership.refresh_members()["status"] == "ok"
    assert set(Peer.objects.values_list("base_url", flat=True)) == {fake_registry.url}
    assert membership.trusted_key(peers[NODE_B].kid) is None
    assert not Client.objects.get(client_id=NODE_B).is_active
    assert membership.refresh_members()["status"] == "unchanged"


def test_tampered_list_is_refused_and_journaled(
    node: str, fake_registry: FakeRegistry, peers: dict[str, node_keys.NodeKey]
) -> None:
    full_list(fake_registry, node, peers)
    membership.refresh_members()
    intruder = new_key()
    payload = dict(fake_registry.members["list"], serial=11)
    payload["members"] = [*payload["members"], entry("https://intrus.example", "Intrus", ["registry"], intruder)]
    genuine = membership.sign_member_list(dict(fake_registry.members["list"], serial=11), fake_registry.key)
    header, _payload, signature = genuine.split(".")
    forged_payload = membership.node_keys.b64url(
        json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    )
    fake_registry.members = {"jws": f"{header}.{forged_payload}.{signature}", "list": payload}
    outcome = membership.refresh_members()
    assert outcome["status"] == "refused"
    assert outcome["code"] == "bad_signature"
    assert state().serial == 10
    assert "bad_signature" in state().last_error
    assert not Peer.objects.filter(base_url="https://intrus.example").exists()
    assert membership.trusted_key(intruder.kid) is None
    [entry_] = journaled("federation.member_list.refused", reason_code="bad_signature")
    assert entry_.decision == "deny"


def test_list_signed_by_another_key_is_refused(
    node: str, fake_registry: FakeRegistry, peers: dict[str, node_keys.NodeKey]
) -> None:
    full_list(fake_registry, node, peers)
    impostor = new_key()
    fake_registry.publish(
        fake_registry.payload([entry(fake_registry.url, "registre", ["registry"], impostor)], serial=99), key=impostor
    )
    outcome = membership.refresh_members()
    assert (outcome["status"], outcome["code"]) == ("refused", "unknown_key")
    assert not Peer.objects.exists()


def test_lower_serial_is_refused(node: str, fake_registry: FakeRegistry, peers: dict[str, node_keys.NodeKey]) -> None:
    full_list(fake_registry, node, peers, serial=10)
    assert membership.refresh_members()["status"] == "ok"
    # an older list (genuinely signed) in which B was still absent: replaying it must not drop B
    fake_registry.publish(fake_registry.payload([fake_registry.own_entry()], serial=9))
    outcome = membership.refresh_members()
    assert (outcome["status"], outcome["code"]) == ("refused", "stale")
    assert Peer.objects.filter(base_url=NODE_B).exists()
    assert state().serial == 10


def test_expired_list_is_refused(node: str, fake_registry: FakeRegistry, peers: dict[str, node_keys.NodeKey]) -> None:
    past = timezone.now() - dt.timedelta(days=8)
    fake_registry.publish(
        fake_registry.payload(
            [fake_registry.own_entry(), entry(NODE_B, "B", ["structure"], peers[NODE_B])],
            serial=10,
            issued_at=past,
            expires_at=past + dt.timedelta(days=7),
        )
    )
    outcome = membership.refresh_members()
    assert (outcome["status"], outcome["code"]) == ("refused", "expired")
    assert not Peer.objects.exists()


def test_list_of_another_registry_or_of_another_type_is_refused(node: str, fake_registry: FakeRegistry) -> None:
    fake_registry.publish(fake_registry.payload([], serial=10, registry="https://autre-registre.example"))
    assert membership.refresh_members()["code"] == "wrong_registry"
    from joserfc import jws
    from joserfc.jwk import OKPKey

    payload = json.dumps(fake_registry.payload([], serial=10)).encode()
    private = OKPKey.import_key(fake_registry.key.private_key, {"kid": fake_registry.key.kid})
    token = jws.serialize_compact(
        {"alg": "Ed25519", "kid": fake_registry.key.kid, "typ": "JWT"}, payload, private, algorithms=["Ed25519"]
    )
    fake_registry.members = {"jws": token}
    assert membership.refresh_members()["code"] == "malformed"


def test_registry_key_rotation_is_learnt_only_through_a_verified_list(
    node: str, fake_registry: FakeRegistry, peers: dict[str, node_keys.NodeKey]
) -> None:
    old, new = fake_registry.key, new_key()
    # a list signed with the new key before the node learnt it: refused (as any unknown key)
    fake_registry.publish(fake_registry.payload([fake_registry.own_entry(new, old)], serial=10), key=new)
    assert membership.refresh_members()["code"] == "unknown_key"
    # signed with the old (pinned) key, the registry's own entry introduces the new one: re-pinned
    fake_registry.publish(fake_registry.payload([fake_registry.own_entry(new, old)], serial=11), key=old)
    outcome = membership.refresh_members()
    assert outcome["registry_keys_updated"] is True
    assert set(membership.kids_of(state().registry_jwks)) == {old.kid, new.kid}
    assert journaled("federation.registry_keys.repinned")
    # the registry drops its old key: lists signed with the new one verify, the old one no longer does
    fake_registry.publish(fake_registry.payload([fake_registry.own_entry(new)], serial=12), key=new)
    assert membership.refresh_members()["status"] == "ok"
    assert membership.kids_of(state().registry_jwks) == [new.kid]
    fake_registry.publish(fake_registry.payload([fake_registry.own_entry(new)], serial=13), key=old)
    assert membership.refresh_members()["code"] == "unknown_key"


def test_peers_are_no_longer_trusted_once_the_held_list_expired(
    node: str, fake_registry: FakeRegistry, peers: dict[str, node_keys.NodeKey]
) -> None:
    full_list(fake_registry, node, peers)
    membership.refresh_members()
    assert membership.trusted_key(peers[NODE_B].kid) is not None
    # the clock passes the list's expiry without any refresh succeeding (registry unreachable)
    fake_registry.stop()
    MembershipState.objects.filter(pk=1).update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    membership.forget_trusted_keys()
    outcome = membership.refresh_members()
    assert outcome["status"] == "error"  # never raises on a network failure
    assert "ConnectError" in state().last_error
    assert membership.trusted_key(peers[NODE_B].kid) is None
    assert membership.trusted_peers() == []
    assert membership.trusted_key(node_keys.load_keys()[0].kid) is not None  # its own keys: still
    assert membership.trusted_key(fake_registry.key.kid)[0].base_url == fake_registry.url  # and the pinned ones
    assert membership.peer_key_set(f"{NODE_B}/.well-known/jwks.json") is None


def test_refresh_without_a_registry_reports_what_to_do(settings: Any) -> None:
    settings.NODE_ROLES = ["structure"]
    settings.FEDERATION_REGISTRY_URL = ""
    assert membership.refresh_members()["status"] == "not_configured"
    with pytest.raises(CommandError, match="run federation_join"):
        call_command("federation_refresh")
    settings.FEDERATION_REGISTRY_URL = "https://registre.example"
    assert membership.refresh_members()["status"] == "not_joined"


def test_members_changed_notice_from_the_registry_triggers_a_refresh(
    node: str,
    fake_registry: FakeRegistry,
    peers: dict[str, node_keys.NodeKey],
    django_capture_on_commit_callbacks: Any,
) -> None:
    """Right after joining, before any list: the registry's pinned key is trusted, so the notice
    that the node was approved makes it fetch the list at once."""
    assert not Peer.objects.exists()
    full_list(fake_registry, node, peers, serial=11)
    notice = {
        "id": "6f1c1a4e-9f55-4f53-9a57-3b1d2b1a0001",
        "kind": "members.changed",
        "origin": fake_registry.url,
        "created_at": "2026-01-01T00:00:00Z",
        "attempt": 1,
        "payload": {"registry": fake_registry.url, "serial": 11},
    }
    with django_capture_on_commit_callbacks(execute=True):
        response = SignedAPIClient(fake_registry.key).post(
            "/api/v1/federation/notices", data=json.dumps(notice), content_type="application/json"
        )
    assert response.status_code == 202, response.content
    assert state().serial == 11
    # the same kind from a member that is not the registry changes nothing
    full_list(fake_registry, node, peers, serial=12)
    with django_capture_on_commit_callbacks(execute=True):
        response = SignedAPIClient(peers[NODE_B]).post(
            "/api/v1/federation/notices",
            data=json.dumps({**notice, "id": "6f1c1a4e-9f55-4f53-9a57-3b1d2b1a0002", "origin": NODE_B}),
            content_type="application/json",
        )
    assert response.status_code == 202
    assert state().serial == 11


# ---------------------------------------------------------------------------- private_key_jwt of peers


def assertion(key: node_keys.NodeKey, client_id: str) -> str:
    import secrets
    import time

    from joserfc.jwk import OKPKey

    now = int(time.time())
    claims = {"iss": client_id, "sub": client_id, "aud": "http://127.0.0.1:8000/oauth/token", "iat": now,
              "exp": now + 60, "jti": secrets.token_urlsafe(12)}  # fmt: skip
    private = OKPKey.import_key(key.private_key, {"kid": key.kid})
    return jwt.encode({"alg": "Ed25519", "kid": key.kid}, claims, private, algorithms=["Ed25519"])


def token_request(client: Any, key: node_keys.NodeKey, client_id: str) -> Any:
    data = {
        "grant_type": "client_credentials",
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "client_assertion": assertion(key, client_id),
    }
    return client.post("/oauth/token", data, secure=True)


def test_member_peer_gets_a_token_with_keys_from_the_list_no_http(settings: Any, client: Any) -> None:
    """TRUST_MEMBERS_ONLY: the member's keys come from the verified list; its address is never
    fetched (https://compagnie-b.example does not exist, any fetch would fail)."""
    settings.FEDERATION_TRUST_MEMBERS_ONLY = True
    node_signing_key()
    _peer, key_b = register_peer(NODE_B)
    membership.ensure_peer_clients()
    response = token_request(client, key_b, NODE_B)
    assert response.status_code == 200, response.content
    assert response.json()["scope"] == "federation:sync"
    # its old key, once the list no longer holds it, is refused
    register_peer(NODE_B, key=new_key())
    assert token_request(client, key_b, NODE_B).status_code == 400


def test_non_member_private_key_jwt_is_refused_without_fetching(settings: Any, client: Any) -> None:
    """A client registered with a jwks_uri that no member publishes at: refused, its keys never
    fetched — although they are served over real HTTP and would verify."""
    node_signing_key()
    outsider_key = new_key()
    hits: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(self.path)
            body = json.dumps({"keys": [outsider_key.public_jwk()]}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        from tests.factories import OrganisationFactory

        issued = oauth_clients.create_client(
            name="Nœud hors fédération",
            owner=OrganisationFactory(),
            scopes="federation:sync",
            grant_types=["client_credentials"],
            auth_method="private_key_jwt",
            jwks_uri=f"{base}/.well-known/jwks.json",
        )
        Client.objects.filter(pk=issued.client.pk).update(client_id=base)
        oauth_peers.clear_cache()
        settings.FEDERATION_TRUST_MEMBERS_ONLY = True
        response = token_request(client, outsider_key, base)
        assert response.status_code == 400
        assert response.json()["error"] == "invalid_client"
        assert hits == []
        # control: the same client, trusting any published key, gets its token (keys fetched)
        settings.FEDERATION_TRUST_MEMBERS_ONLY = False
        assert token_request(client, outsider_key, base).status_code == 200
        assert hits == ["/.well-known/jwks.json"]
    finally:
        server.shutdown()
        server.server_close()
        oauth_peers.clear_cache()


# ---------------------------------------------------------------------------- end to end: real node processes

#: As node A: call node B's change feed with a token (private_key_jwt) and signed requests.
CALL_PEER_SNIPPET = """
import json, sys, django
django.setup()
from federation.client import NodeClient, PeerError, forget_tokens
forget_tokens()
try:
    response = NodeClient(sys.argv[1], timeout=20).get("/api/v1/changes", params={"limit": 1}, scope="federation:sync")
    print(json.dumps({"status": response.status_code}))
except PeerError as exc:
    print(json.dumps({"error": exc.__class__.__name__, "detail": exc.detail, "status": getattr(exc, "status", None)}))
"""

#: As a node: join the registry signed with a fresh key the registry never saw (an impostor's).
IMPOSTOR_JOIN_SNIPPET = """
import json, sys, django
django.setup()
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pathlib import Path
from dataspace.node.keys import NodeKey, thumbprint
from federation.client import post_signed
from federation.membership import join_document, MEMBERS_PATH
private = Ed25519PrivateKey.generate()
key = NodeKey(kid=thumbprint(private.public_key()), private_key=private, path=Path("/nonexistent"))
document = join_document()
document["jwks"] = {"keys": [key.public_jwk()]}
response = post_signed(sys.argv[1] + MEMBERS_PATH, document, key=key)
print(json.dumps({"status": response.status_code, "body": response.json()}))
"""

#: As a node: ask node B for a token with a valid private_key_jwt assertion, without signing the request.
UNSIGNED_TOKEN_SNIPPET = """
import json, sys, django, httpx
django.setup()
from django.conf import settings
from federation.client import ASSERTION_TYPE, NodeClient
peer = NodeClient(sys.argv[1])
response = httpx.post(peer.token_endpoint, data={
    "grant_type": "client_credentials", "client_id": settings.NODE_BASE_URL,
    "client_assertion_type": ASSERTION_TYPE, "client_assertion": peer.client_assertion(),
}, timeout=20)
print(json.dumps({"status": response.status_code, "body": response.json()}))
"""

#: On the registry: suspend a member (the operator's decision, as the admin action makes it).
SUSPEND_SNIPPET = """
import sys, django
django.setup()
from federation import membership
from federation.models import Member
membership.suspend(Member.objects.get(base_url=sys.argv[1]))
"""

#: On a node: register a client for another node by hand (private_key_jwt at its real jwks_uri).
HAND_CLIENT_SNIPPET = """
import sys, django
django.setup()
from dataspace.oauth.clients import create_client
from dataspace.oauth.models import Client
from dataspace.referentials.models import Organisation
base = sys.argv[1]
owner = Organisation.objects.create(name="Exploitant inconnu")
issued = create_client(name="Nœud enregistré à la main", owner=owner, scopes="federation:sync",
                       grant_types=["client_credentials"], auth_method="private_key_jwt",
                       jwks_uri=base + "/.well-known/jwks.json")
Client.objects.filter(pk=issued.client.pk).update(client_id=base)
"""


def _json_line(output: str) -> dict[str, Any]:
    return json.loads(output.strip().splitlines()[-1])


def _peer_kids(node: Any, base_url: str) -> set[str]:
    rows = node.query("SELECT kids FROM federation_peer WHERE base_url = ?", (base_url,))
    return set(json.loads(rows[0][0])) if rows else set()


@pytest.fixture(scope="module")
def federation(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from tests.federation.cluster import Cluster, NodeSpec

    specs = [
        NodeSpec("registry", ("registry",), clients=False),
        NodeSpec("structure-a", clients=False),
        NodeSpec("structure-b", clients=False),
        NodeSpec("outsider", clients=False),
    ]
    with Cluster(tmp_path_factory.mktemp("membership"), specs) as cluster:
        print(f"membership cluster set up: {cluster.timings}")
        yield cluster


@pytest.mark.server
@pytest.mark.xdist_group("federation-membership")
def test_join_approve_rotate_suspend_across_real_nodes(federation: Any) -> None:
    import httpx

    registry, node_a, node_b, outsider = (
        federation[name] for name in ("registry", "structure-a", "structure-b", "outsider")
    )
    members_url = f"{registry.base_url}{URL}"

    # -- join: keys pinned and printed, request pending, not listed, nothing trusted yet
    out = node_a.manage("federation_join", registry.base_url, "--contact", "technique@a.example")
    registry_kid = httpx.get(f"{registry.base_url}/.well-known/jwks.json").json()["keys"][0]["kid"]
    assert f"registry keys pinned: {registry_kid}" in out
    assert "waiting for the registry operator's approval" in out
    assert "registry keys already pinned, kept" in node_a.manage("federation_join", registry.base_url)  # safe again
    listed_urls = {m["base_url"] for m in httpx.get(members_url).json()["list"]["members"]}
    assert listed_urls == {registry.base_url}
    assert _json_line(node_a.python(CALL_PEER_SNIPPET, registry.base_url))["error"] == "PeerDenied"

    # -- approval (the operator's command), then the list reaches the nodes
    node_b.manage("federation_join", registry.base_url)
    with pytest.raises(Exception, match="Give the base URLs"):
        registry.manage("federation_approve")
    registry.manage("federation_approve", node_a.base_url, node_b.base_url)
    listed_urls = {m["base_url"] for m in httpx.get(members_url).json()["list"]["members"]}
    assert listed_urls == {registry.base_url, node_a.base_url, node_b.base_url}
    # the registry's members.changed notice (signed with its pinned key) already made them refresh
    assert _peer_kids(node_b, node_a.base_url)
    assert _peer_kids(node_a, node_b.base_url)
    for node in (node_a, node_b):
        assert "this node's status: approved" in node.manage("federation_refresh")
    # node A reaches node B: a token from B by private_key_jwt (keys from the list, no fetch), signed
    # requests verified with the list's keys, B's signed answer verified by A
    assert _json_line(node_a.python(CALL_PEER_SNIPPET, node_b.base_url)) == {"status": 200}
    assert _json_line(node_a.python(CALL_PEER_SNIPPET, registry.base_url)) == {"status": 200}

    # -- rotation with overlap: A rotates, announces with its previous key; the registry tells the
    #    members at once (members.changed notice) and B trusts the new key without a manual refresh
    old_kids = _peer_kids(node_b, node_a.base_url)
    node_a.manage("node_init", "--rotate")
    out = node_a.manage("federation_announce_keys")
    assert "Keys recorded by the registry" in out
    new_kids = _peer_kids(node_b, node_a.base_url)
    assert old_kids < new_kids, (old_kids, new_kids)  # old and new, both trusted during the overlap
    assert _json_line(node_a.python(CALL_PEER_SNIPPET, node_b.base_url)) == {"status": 200}  # signed with the new key

    # -- a node signing with a key the registry does not have cannot take A's place
    answer = _json_line(node_a.python(IMPOSTOR_JOIN_SNIPPET, registry.base_url))
    assert answer["status"] == 409
    assert answer["body"]["error"] == "unknown_key"
    assert _peer_kids(node_b, node_a.base_url) == new_kids

    # -- a node that is not a member: its key is refused by B although B could fetch it over HTTP
    outsider.manage("federation_join", registry.base_url)  # asked, never approved
    node_b.python(HAND_CLIENT_SNIPPET, outsider.base_url)
    refused = _json_line(outsider.python(CALL_PEER_SNIPPET, node_b.base_url))
    assert refused["error"] == "PeerDenied"
    assert "invalid_signature" in refused["detail"]  # its signed requests: unknown key
    token = _json_line(outsider.python(UNSIGNED_TOKEN_SNIPPET, node_b.base_url))
    assert token["status"] == 400  # and its private_key_jwt, even unsigned: not a member's key
    assert token["body"]["error"] == "invalid_client"
    assert httpx.get(f"{outsider.base_url}/.well-known/jwks.json").status_code == 200  # fetchable, yet refused

    # -- suspension: A leaves the list, B stops trusting it (pushed at once, no manual refresh)
    registry.python(SUSPEND_SNIPPET, node_a.base_url)
    assert not _peer_kids(node_b, node_a.base_url)
    denied = _json_line(node_a.python(CALL_PEER_SNIPPET, node_b.base_url))
    assert denied["error"] == "PeerDenied"
    journal = registry.query(
        "SELECT action FROM audit_journalentry WHERE action LIKE 'federation.member.%' ORDER BY seq"
    )
    actions = [row[0] for row in journal]
    for action in ("join_requested", "approved", "keys_announced", "unknown_key", "suspended"):
        assert f"federation.member.{action}" in actions
