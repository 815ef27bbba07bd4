"""`make demo` for real: four gunicorn nodes on loopback, nodes.json, a login, the stories of every issue
(a campaign from the ministry's dashboard included), a clean Ctrl-C."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import openpyxl
import pytest

pytestmark = pytest.mark.server

ROOT = Path(__file__).resolve().parent.parent
EXPECTED_ROLES = {
    "structure-a": ["structure"],
    "structure-b": ["structure"],
    "registry": ["registry"],
    "ministry": ["ministry"],
}


ALL_SCOPES = {
    "referentials:read", "referentials:write", "directory:search", "directory:manage", "contacts:read",
    "contacts:write", "consent:manage", "ticketing:write", "indicators:aggregate", "federation:sync",
    "clients:manage", "journal:read", "policies:manage", "webhooks:manage",
}  # fmt: skip
READ_SCOPES = {"referentials:read", "directory:search", "contacts:read", "indicators:aggregate", "federation:sync",
               "journal:read"}  # fmt: skip


#: The scopes a member's client gets on the other nodes, by the member's role (federation.membership).
PEER_SCOPES = {
    "registry": "federation:sync referentials:read directory:search",
    "ministry": "indicators:aggregate",
    "structure": "federation:sync",
}


def scopes_of(node: dict[str, Any]) -> set[str]:
    return {scope for client in node["clients"] for scope in client["scopes"].split()}


def check_clients(name: str, node: dict[str, Any]) -> None:
    """The clients contract of nodes.json (DESIGN.md §7)."""
    clients = node["clients"]
    assert clients, f"{name} lists no client"
    usernames = {user["username"] for user in node["users"]}
    ids = [client["client_id"] for client in clients]
    assert len(set(ids)) == len(ids)
    for client in clients:
        assert set(client) >= {"name", "client_id", "client_secret", "scopes", "acts_for"}
        assert isinstance(client["scopes"], str)
        assert client["scopes"]
        assert set(client["scopes"].split()) <= ALL_SCOPES
        assert client["acts_for"] is None or client["acts_for"] in usernames
        if client["kind"] == "reader":
            assert set(client["scopes"].split()) <= READ_SCOPES, client
        if client["token_endpoint_auth_method"] in ("none", "private_key_jwt"):
            assert client["client_secret"] is None
        else:
            assert len(client["client_secret"]) >= 43  # 256 bits, base64url
    # every other member of the federation has a client here, from the registry's signed member list:
    # its base URL as client_id, its own key (no shared secret between nodes), scopes by its roles
    peers = [c for c in clients if c["token_endpoint_auth_method"] == "private_key_jwt"]
    assert len(peers) == len(EXPECTED_ROLES) - 1
    for peer in peers:
        assert peer["jwks_uri"] == peer["client_id"] + "/.well-known/jwks.json"
        assert set(peer["scopes"].split()) in [set(scopes.split()) for scopes in PEER_SCOPES.values()], peer


def check_token_flow(node: dict[str, Any]) -> None:
    """Client credentials at /oauth/token, then the API with the bearer token; refused without the scope."""
    base = node["base_url"]
    reader = next(c for c in node["clients"] if c["scopes"] == "referentials:read" and c["client_secret"])
    crm = next(c for c in node["clients"] if "contacts:read" in c["scopes"].split())
    with httpx.Client(base_url=base, timeout=20) as http:
        response = http.post(
            "/oauth/token",
            data={"grant_type": "client_credentials", "scope": "referentials:read"},
            auth=(reader["client_id"], reader["client_secret"]),
        )
        assert response.status_code == 200, response.text
        token = response.json()
        assert token["token_type"].lower() == "bearer"
        assert token["scope"] == "referentials:read"
        listing = http.get("/api/v1/performances/", headers={"Authorization": f"Bearer {token['access_token']}"})
        assert listing.status_code == 200, listing.text
        assert listing.json()["results"]
        # the CRM's token does not carry referentials:read, the reader's does not carry contacts:read
        refused = http.post(
            "/oauth/token",
            data={"grant_type": "client_credentials", "scope": "contacts:read"},
            auth=(reader["client_id"], reader["client_secret"]),
        )
        assert refused.status_code == 400
        assert refused.json()["error"] == "invalid_scope"
        wrong = http.post(
            "/oauth/token", data={"grant_type": "client_credentials"}, auth=(crm["client_id"], "not-the-secret")
        )
        assert wrong.status_code == 401
        assert wrong.json()["error"] == "invalid_client"


def check_professionals(node: dict[str, Any]) -> None:
    """The registry's professionals (issue 4): one per licence state, each with a personal reader key.

    Over real HTTP, each key reads its person's account: the licence state nodes.json promises, and
    the terms of use 2026-1 not yet accepted; accepting them with the key is then recorded.
    """
    professionals = {user["username"]: user for user in node["users"] if user["kind"] == "professional"}
    assert {user["licence_status"] for user in professionals.values()} == {
        "valide", "expiree", "en_instruction", "invalidee",
    }  # fmt: skip
    for user in professionals.values():
        assert user["organisation"]
        assert user["licence_number"]
    with httpx.Client(base_url=node["base_url"], timeout=20) as http:
        assert http.get("/api/v1/terms").json()["version"] == "2026-1"
        for username, user in professionals.items():
            keys = [client for client in node["clients"] if client["acts_for"] == username]
            assert len(keys) == 1, username
            key = keys[0]
            assert key["kind"] == "reader"
            assert key["scopes"] == "referentials:read directory:search"
            response = http.post(
                "/oauth/token",
                data={"grant_type": "client_credentials", "scope": "directory:search"},
                auth=(key["client_id"], key["client_secret"]),
            )
            assert response.status_code == 200, response.text
            bearer = {"Authorization": f"Bearer {response.json()['access_token']}"}
            me = http.get("/api/v1/professionals/me", headers=bearer)
            assert me.status_code == 200, me.text
            account = me.json()
            assert account["username"] == username
            assert account["organisation"]["name"] == user["organisation"]
            assert user["licence_number"] in [licence["number"] for licence in account["licences"]]
            assert account["licence_status"] == user["licence_status"]
            assert account["licensed_today"] is (user["licence_status"] == "valide")
            assert account["terms"] == {"current": "2026-1", "accepted": "", "up_to_date": False}
        accepted = http.post("/api/v1/terms/accept", json={"version": "2026-1"}, headers=bearer)
        assert accepted.status_code == 200, accepted.text
        assert http.get("/api/v1/professionals/me", headers=bearer).json()["terms"]["up_to_date"] is True


def _person_token(http: httpx.Client, node: dict[str, Any], username: str) -> dict[str, str]:
    key = next(client for client in node["clients"] if client["acts_for"] == username)
    response = http.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "scope": "referentials:read directory:search"},
        auth=(key["client_id"], key["client_secret"]),
    )
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def _login(http: httpx.Client, username: str, password: str) -> None:
    page = http.get("/admin/login/?next=/admin/")
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
    assert token is not None
    response = http.post(
        "/admin/login/?next=/admin/",
        data={"csrfmiddlewaretoken": token.group(1), "username": username, "password": password, "next": "/admin/"},
    )
    assert response.status_code == 302, response.text[:500]


def check_policy_story(registry: dict[str, Any], structure: dict[str, Any]) -> None:
    """Issue 4 end to end: a licensed professional reads what the hosted company's policies allow,
    an expired one is refused with the reason, a hidden sheet stays hidden, the owner sees both
    accesses in its journal; on a structure node the programme stays public and the technical
    sheets are for licensed professionals only."""
    from policies.demo import uid

    nef, studio = uid("technical-sheet", "nef"), uid("technical-sheet", "studio")
    with httpx.Client(base_url=registry["base_url"], timeout=20) as http:
        valid = _person_token(http, registry, "pro-valide")
        expired = _person_token(http, registry, "pro-expiree")
        for bearer in (valid, expired):
            http.post("/api/v1/terms/accept", json={"version": "2026-1"}, headers=bearer).raise_for_status()
        without_purpose = http.get("/api/v1/technical-sheets/", headers=valid)
        assert without_purpose.status_code == 400, without_purpose.text
        assert "purpose" in without_purpose.json()["fields"]
        listed = http.get("/api/v1/technical-sheets/", params={"purpose": "touring"}, headers=valid)
        assert listed.status_code == 200, listed.text
        assert [sheet["id"] for sheet in listed.json()["results"]] == [str(nef)]  # the studio's is hidden
        assert 'rel="license"' in listed.headers["link"]
        assert (
            http.get(f"/api/v1/technical-sheets/{studio}/", params={"purpose": "touring"}, headers=valid).status_code
            == 404
        )
        other_purpose = http.get(f"/api/v1/technical-sheets/{nef}/", params={"purpose": "research"}, headers=valid)
        assert other_purpose.status_code == 403
        assert other_purpose.json()["error"] == "purpose_not_allowed"
        refused = http.get(f"/api/v1/technical-sheets/{nef}/", params={"purpose": "touring"}, headers=expired)
        assert refused.status_code == 403, refused.text
        assert refused.json()["error"] == "licence_expired"
        assert "expiré" in refused.json()["detail"]
        assert len(http.get("/api/v1/performances/").json()["results"]) == 3  # its programme is public
    owner = next(user for user in registry["users"] if user.get("structure"))
    with httpx.Client(base_url=registry["base_url"], timeout=20) as browser:
        _login(browser, owner["username"], owner["password"])
        entries = browser.get("/api/v1/journal/", params={"record_type": "technical-sheet"}).json()["results"]
        seen = {(entry["username"], entry["decision"], entry["reason_code"]) for entry in entries}
        assert ("pro-valide", "permit", "policy_permits") in seen, seen
        assert ("pro-expiree", "deny", "licence_expired") in seen, seen
        page = browser.get("/journal/")
        assert page.status_code == 200
        assert "pro-expiree" in page.text
    with httpx.Client(base_url=structure["base_url"], timeout=20) as http:
        assert http.get("/api/v1/technical-sheets/").json()["results"] == []
        assert http.get("/api/v1/performances/").json()["results"]


def _csrf(page: httpx.Response) -> str:
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
    assert token is not None, page.text[:500]
    return token.group(1)


def _portal_link(log: Path, after: int) -> str:
    """The newest one-time link the console email backend printed in the node's log."""
    text = log.read_bytes()[after:].decode("utf-8", "replace").replace("=\n", "")
    links = re.findall(r"/moi/lien/([A-Za-z0-9_\-]{20,})", text)
    assert links, "no sign-in link in the registry's log"
    return f"/moi/lien/{links[-1]}"


def check_consent_story(registry: dict[str, Any], structure: dict[str, Any], demo_dir: Path) -> float:
    """Issue 5 end to end; returns the seconds from a withdrawal to the origin's refusal.

    A licensed professional finds only the persons who consented, with only the fields they chose;
    a person signs in to the portal with a one-time link (read from the console email in the log),
    sees who looked them up, withdraws, and the entry is refused at once (404) with its tombstone on
    the change feed; the structure's paper withdrawal left an outbox notice for the registry."""
    persons = {user["username"]: user for user in registry["users"] if user["kind"] == "person"}
    assert {user["consent"] for user in persons.values()} == {"published", "none", "withdrawn"}
    with httpx.Client(base_url=registry["base_url"], timeout=20) as http:
        pro = _person_token(http, registry, "pro-valide")  # its terms were accepted in check_policy_story
        listed = http.get("/api/v1/directory/entries/", params={"purpose": "programming"}, headers=pro)
        assert listed.status_code == 200, listed.text
        found = {entry["display_name"]: entry for entry in listed.json()["results"]}
        assert set(found) == {"Camille Imaginaire", "Nour Fictive"}
        assert found["Camille Imaginaire"]["contact_email"] == persons["camille-artiste"]["email"]
        assert "contact_email" not in found["Nour Fictive"]
        assert "skills" not in found["Nour Fictive"]
        camille_entry = found["Camille Imaginaire"]
        detail = http.get(
            f"/api/v1/directory/entries/{camille_entry['id']}/", params={"purpose": "touring"}, headers=pro
        )
        assert detail.status_code == 200, detail.text
        unlicensed = _person_token(http, registry, "pro-expiree")
        refused = http.get("/api/v1/directory/entries/", params={"purpose": "programming"}, headers=unlicensed)
        assert refused.status_code in (200, 403)
        assert refused.status_code == 403 or refused.json()["results"] == []

    log = demo_dir / "registry" / "server.log"
    with httpx.Client(base_url=registry["base_url"], timeout=20, follow_redirects=False) as browser:
        form = browser.get("/moi/connexion")
        mark = log.stat().st_size
        asked = browser.post(
            "/moi/connexion", data={"csrfmiddlewaretoken": _csrf(form), "email": persons["camille-artiste"]["email"]}
        )
        assert asked.status_code in (200, 302), asked.text[:300]
        deadline = time.monotonic() + 10
        while b"/moi/lien/" not in log.read_bytes()[mark:] and time.monotonic() < deadline:
            time.sleep(0.1)
        link = _portal_link(log, mark)
        confirm = browser.get(link)
        signed_in = browser.post(link, data={"csrfmiddlewaretoken": _csrf(confirm)})
        assert signed_in.status_code == 302, signed_in.text[:300]
        history = browser.get("/moi/acces")
        assert history.status_code == 200
        assert "pro-valide" in history.text or "Horizons fictifs" in history.text
        answer = browser.get("/api/v1/consents/mine")
        assert answer.status_code == 200, answer.text[:300]
        body = answer.json()
        consents = body["results"] if isinstance(body, dict) else body
        mine = [c for c in consents if c["status"] in ("given", "renewed")]
        assert len(mine) == 1
        withdraw_page = browser.get(f"/moi/consentements/{mine[0]['id']}/retirer")
        started = time.monotonic()
        done = browser.post(
            f"/moi/consentements/{mine[0]['id']}/retirer", data={"csrfmiddlewaretoken": _csrf(withdraw_page)}
        )
        assert done.status_code in (200, 302), done.text[:300]
    with httpx.Client(base_url=registry["base_url"], timeout=20) as http:
        gone = http.get(f"/api/v1/directory/entries/{camille_entry['id']}/", params={"purpose": "touring"}, headers=pro)
        refused_after = time.monotonic() - started
        assert gone.status_code == 404, gone.text
    # the tombstone on the origin's change feed (read in its database: the feed itself needs a peer's
    # token and a data-sharing agreement)
    with sqlite3.connect(demo_dir / "registry" / "db.sqlite3") as db:
        ops = [op for (op,) in db.execute(
            "SELECT op FROM records_change WHERE record_id = ? ORDER BY seq",
            [camille_entry["id"].replace("-", "")],
        )]  # fmt: skip
    assert ops[-1] == "delete", ops
    # the structure's paper withdrawal: an outbox notice for the registry, in the same transaction
    with sqlite3.connect(demo_dir / "structure-a" / "db.sqlite3") as db:
        rows = db.execute(
            "SELECT destination FROM federation_outboxmessage WHERE kind = 'consent.withdrawn'"
        ).fetchall()
    assert rows
    assert all(row[0].startswith(registry["base_url"]) for row in rows), rows
    return refused_after


def _search(http: httpx.Client, headers: dict[str, str], path: str, **params: str) -> dict[str, Any]:
    answer = http.get(path, params={"purpose": "programming", **params}, headers=headers)
    assert answer.status_code == 200, answer.text[:500]
    body: dict[str, Any] = answer.json()
    return body


def _statuses(body: dict[str, Any]) -> dict[str, str]:
    return {node["name"]: node["status"] for node in body["nodes"]}


def _group(process: subprocess.Popen[bytes], name: str) -> int:
    """The process group of a demo node's gunicorn (its master, a descendant of the demo)."""
    for pid in descendants(process.pid):
        with contextlib.suppress(OSError):
            if f"scene-commune-{name}".encode() in Path(f"/proc/{pid}/cmdline").read_bytes():
                return os.getpgid(pid)
    raise AssertionError(f"no gunicorn process for {name}")


def check_federation_story(nodes: dict[str, dict[str, Any]], process: subprocess.Popen[bytes]) -> float:
    """Issue 6 end to end; returns the seconds from a withdrawal at a structure to the person's absence
    from the registry's search.

    The demo joined every node to the registry and replicated the structures: a licensed professional
    finds persons and the touring show from both structures, in index and live mode, with each node's
    status; a frozen structure node leaves live search answering within its timeout, marked timeout."""
    registry, structure_a = nodes["registry"], nodes["structure-a"]
    origins = {nodes[name]["base_url"]: name for name in ("structure-a", "structure-b")}
    with httpx.Client(base_url=registry["base_url"], timeout=30) as http:
        pro = _person_token(http, registry, "pro-valide")  # terms accepted in check_policy_story
        for mode in ("index", "live"):
            persons = _search(http, pro, "/api/v1/directory/search", mode=mode)
            assert {origins.get(r["origin"]) for r in persons["results"]} >= {"structure-a", "structure-b"}, mode
            statuses = _statuses(persons)
            assert statuses["structure-a"] == statuses["structure-b"] == "ok", statuses
            shows = _search(http, pro, "/api/v1/referentials/search", type="production", q="vagues", mode=mode)
            assert len(shows["results"]) == 1, shows["results"]
            touring = shows["results"][0]
            assert {origins.get(uri.split("/id/")[0]) for uri in touring["sources"]} == {"structure-a", "structure-b"}
            assert {origins.get(p["origin"]) for p in touring["performances"]} == {"structure-a", "structure-b"}
        # a structure node frozen mid-federation: live search answers within its timeout, naming it
        group = _group(process, "structure-b")
        os.killpg(group, signal.SIGSTOP)
        try:
            started = time.monotonic()
            live = _search(http, pro, "/api/v1/directory/search", mode="live")
            took = time.monotonic() - started
        finally:
            os.killpg(group, signal.SIGCONT)
        assert _statuses(live)["structure-b"] == "timeout", live["nodes"]
        assert _statuses(live)["structure-a"] == "ok", live["nodes"]
        assert took < 3.0 * 1.1 + 1.0, took  # FEDERATION_SEARCH_TIMEOUT (3 s) + 10 %, + the request itself

        # a withdrawal at the origin: the person leaves the registry's search within seconds
        def from_a() -> list[str]:
            body = _search(http, pro, "/api/v1/directory/search")
            return [r["id"] for r in body["results"] if origins.get(r["origin"]) == "structure-a"]

        published = from_a()
        assert published
    with httpx.Client(base_url=structure_a["base_url"], timeout=30) as origin:
        tool = next(c for c in structure_a["clients"] if "consent:manage" in c["scopes"].split())
        token = origin.post(
            "/oauth/token",
            data={"grant_type": "client_credentials", "scope": "consent:manage"},
            auth=(tool["client_id"], tool["client_secret"]),
        ).json()["access_token"]
        bearer = {"Authorization": f"Bearer {token}"}
        consents = origin.get("/api/v1/consents", params={"status": "given"}, headers=bearer).json()["results"]
        consent = next(c for c in consents if c["target"] == published[0])
        started = time.monotonic()
        withdrawn = origin.post(f"/api/v1/consents/{consent['id']}/withdraw", json={}, headers=bearer)
        assert withdrawn.status_code == 200, withdrawn.text
    with httpx.Client(base_url=registry["base_url"], timeout=30) as http:
        while published[0] in from_a():
            assert time.monotonic() - started < 60, "still found on the registry a minute after its withdrawal"
            time.sleep(0.05)
        return time.monotonic() - started


#: The demo's ready campaign on the ministry node (dataspace.indicators.demo.DEMO_CAMPAIGN_TITLE).
DEMO_CAMPAIGN = "Fréquentation et recettes — saison 2026-2027 (démo)"
HIDDEN_STATUSES = ("primary", "secondary")


def _campaign(http: httpx.Client, campaign_id: str) -> dict[str, Any]:
    answer = http.get(f"/api/v1/indicators/campaigns/{campaign_id}")
    assert answer.status_code == 200, answer.text[:500]
    document: dict[str, Any] = answer.json()
    return document


def _wait_campaign(http: httpx.Client, campaign_id: str, until: Any, what: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        document = _campaign(http, campaign_id)
        if until(document):
            return document
        assert time.monotonic() < deadline, f"campaign not {what} after {timeout} s: {document['progress']}"
        time.sleep(0.25)


def _node_states(document: dict[str, Any]) -> dict[str, str]:
    return {node["name"]: node["state"] for node in document["progress"]["nodes"]}


def _hidden_truths(ministry_db: Path, campaign_id: str, results: dict[str, Any]) -> list[tuple[str, Decimal]]:
    """The real values of the hidden cells of the sum indicators, from the partials the ministry
    received (its database): what must never be found in the results nor in an export."""
    with sqlite3.connect(ministry_db) as db:
        partials = [
            json.loads(partial)
            for (partial,) in db.execute(
                "SELECT partial FROM indicators_campaignnode WHERE campaign_id = ? AND partial IS NOT NULL",
                [campaign_id.replace("-", "")],
            )
        ]
    assert len(partials) == 2, "both structure nodes answered"
    sums: dict[tuple[tuple[str, ...], tuple[Any, ...]], dict[str, Decimal]] = {}
    for partial in partials:
        for grouping in partial["groupings"]:
            names = tuple(grouping["dimensions"])
            for cell in grouping["cells"]:
                where = (names, tuple(cell["key"][name] for name in names))
                known = sums.setdefault(where, {})
                for measure, value in cell["values"].items():
                    known[measure] = known.get(measure, Decimal(0)) + Decimal(str(value))
    measures = {"attendance": "attendance", "receipts": "receipts", "performances": "performances"}
    dimensions = results["dimensions"]
    truths: list[tuple[str, Decimal]] = []
    for indicator in results["indicators"]:
        measure = measures.get(indicator["code"])
        if measure is None:
            continue
        for cell in indicator["cells"]:
            if cell["status"] not in HIDDEN_STATUSES:
                continue
            names = tuple(name for name, value in zip(dimensions, cell["key"], strict=True) if value != "total")
            key = tuple(value for value in cell["key"] if value != "total")
            truths.append((measure, sums[(names, key)][measure]))
    return truths


def check_campaign_story(nodes: dict[str, dict[str, Any]], demo_dir: Path) -> float:
    """Issue 7 end to end; returns the seconds from structure-b's approval to the complete campaign.

    The ministry's analyst signs in to the dashboard and launches the ready demo campaign;
    structure-a answers at once (standing approvals), structure-b waits for its administrator;
    `admin` approves in structure-b's admin; structure-b's notice brings the ministry back by itself
    and the campaign finishes with published, primary and secondary cells; the CSV and XLSX exports
    download and hold no hidden figure."""
    ministry, structure_b = nodes["ministry"], nodes["structure-b"]
    analyst = next(user for user in ministry["users"] if user["kind"] == "analyst")
    with httpx.Client(base_url=ministry["base_url"], timeout=30) as dashboard:
        login = dashboard.get("/oauth/login/?next=/indicateurs/")
        signed_in = dashboard.post(
            "/oauth/login/?next=/indicateurs/",
            data={
                "csrfmiddlewaretoken": _csrf(login),
                "username": analyst["username"],
                "password": analyst["password"],
                "next": "/indicateurs/",
            },
        )
        assert signed_in.status_code == 302, signed_in.text[:500]
        listing = dashboard.get("/indicateurs/")
        assert listing.status_code == 200
        assert DEMO_CAMPAIGN in listing.text
        assert "prête à lancer" in listing.text
        ids = set(re.findall(r'href="/indicateurs/campagnes/([0-9a-f-]{36})/"', listing.text))
        [campaign_id] = [i for i in ids if _campaign(dashboard, i)["title"] == DEMO_CAMPAIGN]
        page = dashboard.get(f"/indicateurs/campagnes/{campaign_id}/")
        launch = f"/indicateurs/campagnes/{campaign_id}/lancer/"
        assert f'action="{launch}"' in page.text  # « Lancer »
        launched = dashboard.post(launch, data={"csrfmiddlewaretoken": _csrf(page)})
        assert launched.status_code == 302, launched.text[:500]
        first = _wait_campaign(
            dashboard, campaign_id, lambda doc: doc["state"] == "partial" and doc["results"], "partial"
        )
        assert _node_states(first) == {"structure-a": "answered", "structure-b": "awaiting"}, first["progress"]
        assert "1 nœud sur 2 a répondu" in dashboard.get(f"/indicateurs/campagnes/{campaign_id}/").text

        with httpx.Client(base_url=structure_b["base_url"], timeout=30) as admin_site:
            admin = next(user for user in structure_b["users"] if user["username"] == "admin")
            _login(admin_site, admin["username"], admin["password"])
            requests = admin_site.get("/admin/indicators/aggregationrequest/")
            assert requests.status_code == 200
            [request_id] = set(
                re.findall(r'href="/admin/indicators/aggregationrequest/([0-9a-f-]{36})/change/', requests.text)
            )
            review = admin_site.get(f"/admin/indicators/aggregationrequest/{request_id}/change/")
            assert DEMO_CAMPAIGN in review.text
            [structure] = re.findall(r'name="structure" value="([0-9a-f-]{36})"', review.text)  # its own, only
            started = time.monotonic()
            decided = admin_site.post(
                f"/admin/indicators/aggregationrequest/{request_id}/decide/",
                data={"csrfmiddlewaretoken": _csrf(review), "structure": structure, "decision": "approve"},
            )
            assert decided.status_code == 302, decided.text[:500]
        done = _wait_campaign(dashboard, campaign_id, lambda doc: doc["state"] == "done", "done", timeout=30)
        seconds = time.monotonic() - started
        results = done["results"]
        assert results["nodes"] == {"answered": 2, "total": 2}
        statuses = {cell["status"] for indicator in results["indicators"] for cell in indicator["cells"]}
        assert statuses == {"published", "primary", "secondary"}, statuses
        hidden = [c for indicator in results["indicators"] for c in indicator["cells"] if c["status"] != "published"]
        assert all(cell["value"] is None for cell in hidden)
        assert "2 nœuds sur 2 ont répondu" in dashboard.get(f"/indicateurs/campagnes/{campaign_id}/").text

        # hidden figures large enough not to be met by chance elsewhere: none may be in the files
        hidden_truths = _hidden_truths(demo_dir / "ministry" / "db.sqlite3", campaign_id, results)
        truths = [(measure, truth) for measure, truth in hidden_truths if truth >= 100]
        assert truths, "no hidden figure worth looking for"
        texts = {f"{t:.2f}" if m == "receipts" else str(int(t)) for m, t in truths}
        texts |= {text.replace(".", ",") for text in texts}
        numbers = {float(t) for _m, t in truths}

        csv_file = dashboard.get(f"/indicateurs/campagnes/{campaign_id}/export.csv")
        assert csv_file.status_code == 200, csv_file.text[:300]
        assert csv_file.headers["content-type"].startswith("text/csv")
        assert "attachment" in csv_file.headers["content-disposition"]
        rows = list(csv.reader(io.StringIO(csv_file.content.decode("utf-8-sig")), delimiter=";"))
        header, lines = rows[0], rows[1:]
        value_at, status_at = header.index("valeur"), header.index("statut")
        secret = [line for line in lines if line[status_at].startswith("secret")]
        assert len(secret) == len(hidden)
        assert all(line[value_at] == "" for line in secret)
        assert {line[status_at] for line in lines} == {"publié", "secret primaire", "secret secondaire"}
        assert not {field for line in lines for field in line} & texts

        xlsx_file = dashboard.get(f"/indicateurs/campagnes/{campaign_id}/export.xlsx")
        assert xlsx_file.status_code == 200
        assert "attachment" in xlsx_file.headers["content-disposition"]
        workbook = openpyxl.load_workbook(io.BytesIO(xlsx_file.content))
        assert len(workbook.sheetnames) == len(results["indicators"]) + 1  # one per indicator, then the sources
        values = [cell.value for sheet in workbook.worksheets for row in sheet.iter_rows() for cell in row]
        markers = [value for value in values if value in ("s", "(s)")]
        assert len(markers) >= len(hidden)
        assert not {float(v) for v in values if isinstance(v, int | float) and not isinstance(v, bool)} & numbers
        assert not {str(v) for v in values if isinstance(v, str)} & texts
    print(f"demo campaign: {len(hidden)} hidden cells, {len(truths)} hidden figures absent from both exports")
    return seconds


def free_port_block(size: int = 4) -> int:
    """The first of `size` consecutive free loopback ports."""
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            base = probe.getsockname()[1]
        if base + size > 65000:
            continue
        sockets = []
        try:
            for port in range(base, base + size):
                sock = socket.socket()
                sockets.append(sock)
                sock.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for sock in sockets:
                sock.close()
    raise RuntimeError("no block of free ports found")


def descendants(pid: int) -> set[int]:
    """Every live process below `pid` (Linux /proc)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.fixture
def demo(tmp_path: Path) -> Any:
    port_base = free_port_block()
    env = {**os.environ, "DEMO_PORT_BASE": str(port_base), "DEMO_DIR": str(tmp_path / "demo")}
    env.pop("NODE_DATA_DIR", None)
    log = (tmp_path / "demo.out").open("wb")
    process = subprocess.Popen(  # noqa: S603 - our own script
        [sys.executable, str(ROOT / "scripts" / "demo.py")],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    nodes_json = tmp_path / "demo" / "nodes.json"
    deadline = time.monotonic() + 180
    while not nodes_json.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"demo did not start:\n{(tmp_path / 'demo.out').read_text()}")
        time.sleep(0.25)
    try:
        yield process, json.loads(nodes_json.read_text()), tmp_path
    finally:
        if process.poll() is None:
            # Collect the node processes before killing the supervisor: once it is gone they are
            # re-parented and no longer its descendants (a failed test would leave them running).
            children = descendants(process.pid)
            process.kill()
            for pid in children:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        log.close()


def test_demo_federation_runs_and_stops_cleanly(demo: Any) -> None:
    process, document, tmp_path = demo
    demo_dir = tmp_path / "demo"

    # nodes.json: the contract of DESIGN.md §7, readable by the owner only
    assert (demo_dir / "nodes.json").stat().st_mode & 0o077 == 0
    assert (demo_dir / "credentials.json").stat().st_mode & 0o777 == 0o600
    nodes = {node["name"]: node for node in document["nodes"]}
    assert set(nodes) == set(EXPECTED_ROLES)
    for name, node in nodes.items():
        assert set(node) >= {"name", "base_url", "roles", "clients", "users"}
        assert node["roles"] == EXPECTED_ROLES[name]
        check_clients(name, node)
        for user in node["users"]:
            assert set(user) >= {"username", "password", "kind"}
            assert user["kind"] in {"staff", "professional", "person", "analyst"}
    assert {u["kind"] for u in nodes["ministry"]["users"]} == {"staff", "analyst"}
    assert {u["kind"] for u in nodes["registry"]["users"]} == {"staff", "professional", "person"}
    # every scope is held by some demo client, on a node where it makes sense
    held = {scope for node in nodes.values() for client in node["clients"] for scope in client["scopes"].split()}
    assert held == ALL_SCOPES
    assert "indicators:aggregate" in scopes_of(nodes["ministry"])
    assert {"directory:search", "directory:manage"} <= scopes_of(nodes["registry"])
    assert {"ticketing:write", "contacts:write", "clients:manage"} <= scopes_of(nodes["structure-b"])
    personal = [c for c in nodes["structure-a"]["clients"] if c["acts_for"] == "admin"]
    assert len(personal) == 1
    assert set(personal[0]["scopes"].split()) == {"referentials:read", "referentials:write"}
    public = [c for c in nodes["structure-a"]["clients"] if c["client_secret"] is None and not c.get("jwks_uri")]
    assert [c["redirect_uris"] for c in public] == [["http://127.0.0.1:8765/callback"]]
    # the secrets in clear are kept (0600) for the next run
    kept = json.loads((demo_dir / "credentials.json").read_text())["clients"]
    assert {n: [c["client_id"] for c in cs] for n, cs in kept.items()} == {
        n: [c["client_id"] for c in node["clients"] if not c.get("jwks_uri")] for n, node in nodes.items()
    }

    # a demo client gets a token over real HTTP and reads the API with it
    check_token_flow(nodes["structure-a"])
    # the registry's professionals and their personal keys
    check_professionals(nodes["registry"])
    # usage policies, licences and the journal, end to end
    check_policy_story(nodes["registry"], nodes["structure-a"])
    # consent: directory, portal, withdrawal everywhere
    seconds = check_consent_story(nodes["registry"], nodes["structure-a"], demo_dir)
    print(f"withdrawal -> refusal at the origin: {seconds * 1000:.0f} ms")
    # federation: membership, replication, federated search, a frozen node, a withdrawal everywhere
    seconds = check_federation_story(nodes, process)
    print(f"withdrawal at a structure -> absent from the registry's search: {seconds * 1000:.0f} ms")
    # indicators: a campaign launched from the dashboard, approved at structure-b, exported
    seconds = check_campaign_story(nodes, demo_dir)
    print(f"approval at structure-b -> demo campaign complete on the ministry: {seconds * 1000:.0f} ms")

    # every node answers over real HTTP with its own identity
    with httpx.Client(timeout=10) as client:
        for name, node in nodes.items():
            metadata = client.get(f"{node['base_url']}/.well-known/dataspace-node").json()
            assert metadata["name"] == name
            assert metadata["roles"] == EXPECTED_ROLES[name]
            assert metadata["base_url"] == node["base_url"]
        home = client.get(nodes["structure-b"]["base_url"] + "/")
        assert "Scène nationale des Estuaires imaginaires" in home.text
        css = client.get(nodes["structure-a"]["base_url"] + "/static/admin/css/base.css")
        assert css.status_code == 200  # static files served without DEBUG

    # the printed admin password logs in (CSRF and all)
    admin = next(u for u in nodes["structure-a"]["users"] if u["kind"] == "staff")
    base = nodes["structure-a"]["base_url"]
    with httpx.Client(base_url=base, timeout=20) as browser:
        login_page = browser.get("/admin/login/?next=/admin/")
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', login_page.text)
        assert token is not None
        response = browser.post(
            "/admin/login/?next=/admin/",
            data={
                "csrfmiddlewaretoken": token.group(1),
                "username": admin["username"],
                "password": admin["password"],
                "next": "/admin/",
            },
        )
        assert response.status_code == 302
        assert response.headers["location"] == "/admin/"
        assert "sessionid" in browser.cookies
        assert "Scène Commune — administration du nœud" in browser.get("/admin/").text

    # Ctrl-C stops every child process and exits 0
    children = descendants(process.pid)
    assert len(children) >= 4 * 3  # four gunicorn masters, two workers each
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=30) == 0
    deadline = time.monotonic() + 5
    while any(alive(pid) for pid in children) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [pid for pid in children if alive(pid)]


def test_port_taken_is_reported(tmp_path: Path) -> None:
    port_base = free_port_block()
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", port_base + 2))
        squatter.listen()
        env = {**os.environ, "DEMO_PORT_BASE": str(port_base), "DEMO_DIR": str(tmp_path / "demo")}
        result = subprocess.run(  # noqa: S603 - our own script
            [sys.executable, str(ROOT / "scripts" / "demo.py")],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert result.returncode != 0
    assert f"port {port_base + 2}" in result.stderr.lower()
    assert "registry" in result.stderr


@pytest.mark.django_db
def test_demo_clients_are_created_once_and_reused(tmp_path: Path) -> None:
    """demo_clients: a second run keeps every client and secret; a lost secret is renewed, not duplicated."""
    from django.core.management import call_command

    from dataspace.oauth.clients import authenticate_secret
    from dataspace.oauth.models import Client, Mandate

    credentials, output = tmp_path / "credentials.json", tmp_path / "out.json"
    credentials.write_text(json.dumps({"structure-a": [{"username": "admin", "password": "x" * 16, "kind": "staff"}]}))
    call_command("node_init", verbosity=0)
    call_command("seed_demo", profile="structure-a", verbosity=0)
    call_command("demo_account", credentials=str(credentials), node="structure-a", verbosity=0)
    peers = ["registry=http://127.0.0.1:8003"]

    def run() -> list[dict[str, Any]]:
        call_command("demo_clients", credentials=str(credentials), node="structure-a", output=str(output), peer=peers)
        assert output.stat().st_mode & 0o077 == 0
        clients: list[dict[str, Any]] = json.loads(output.read_text())
        document = json.loads(credentials.read_text())
        credentials.write_text(json.dumps({**document, "clients": {"structure-a": clients}}))
        return clients

    first = run()
    assert len(first) == Client.objects.count() == 7
    for entry in first:
        client = Client.objects.get(client_id=entry["client_id"])
        assert entry["scopes"] == " ".join(client.allowed_scopes)
        if entry["client_secret"]:
            assert authenticate_secret(client, entry["client_secret"])
    vendors = [entry for entry in first if entry.get("mandate_from")]
    assert len(vendors) == 2
    assert Mandate.objects.filter(revoked_at__isnull=True).count() == 2
    assert run() == first  # reused as they were

    document = json.loads(credentials.read_text())
    del document["clients"]  # the secrets are lost, the database kept
    credentials.write_text(json.dumps(document))
    renewed = run()
    assert [entry["client_id"] for entry in renewed] == [entry["client_id"] for entry in first]
    assert Client.objects.count() == 7
    for old, new in zip(first, renewed, strict=True):
        if old["client_secret"]:
            assert new["client_secret"] != old["client_secret"]
            client = Client.objects.get(client_id=new["client_id"])
            assert authenticate_secret(client, new["client_secret"])
            assert not authenticate_secret(client, old["client_secret"])  # no grace for a demo secret
