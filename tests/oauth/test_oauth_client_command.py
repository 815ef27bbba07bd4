"""python manage.py oauth_client: the JSON contract of `create`, the other subcommands, clear errors."""

from __future__ import annotations

import datetime as dt
import json
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from dataspace.node.models import NodeIdentity
from dataspace.oauth import clients
from dataspace.oauth.models import Client, ClientSecret
from tests.factories import OrganisationFactory, UserFactory

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = StringIO()
    call_command("oauth_client", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def node(structure: Any) -> Any:
    return NodeIdentity.objects.create(pk=1, name="essais", base_url="http://testserver", organisation=structure)


def test_create_json_contract(node: Any, structure: Any) -> None:
    document = json.loads(
        run(
            "create",
            "--name",
            "Billetterie",
            "--scopes",
            "referentials:read",
            "--grant",
            "client_credentials",
            "--json",
        )
    )
    assert set(document) == {"client_id", "client_secret", "scopes", "grant_types", "kind", "owner", "acts_for"}
    assert document["scopes"] == ["referentials:read"]
    assert document["grant_types"] == ["client_credentials"]
    assert document["kind"] == "reader"
    assert document["owner"] == str(structure.pk)
    assert document["acts_for"] is None
    assert len(document["client_secret"]) >= 43
    client = Client.objects.get(client_id=document["client_id"])
    assert clients.authenticate_secret(client, document["client_secret"])
    assert ClientSecret.objects.get(client=client).digest != document["client_secret"]


def test_create_personal_depositor_for_another_owner(node: Any) -> None:
    UserFactory(username="camille")
    other = OrganisationFactory(siret="35600000000048")
    document = json.loads(
        run(
            "create", "--name", "Clé personnelle", "--scopes", "referentials:read referentials:write",
            "--grant", "authorization_code", "--grant", "refresh_token", "--redirect-uri", "https://app.example/cb",
            "--kind", "depositor", "--owner", "35600000000048", "--for-user", "camille",
            "--expires", (timezone.localdate() + dt.timedelta(days=30)).isoformat(), "--json",
        )
    )  # fmt: skip
    assert document["acts_for"] == "camille"
    assert document["owner"] == str(other.pk)
    assert document["kind"] == "depositor"
    assert document["grant_types"] == ["authorization_code", "refresh_token"]
    client = Client.objects.get(client_id=document["client_id"])
    assert client.redirect_uris == ["https://app.example/cb"]
    assert client.expires_at is not None
    assert client.expires_at > timezone.now() + dt.timedelta(days=30)  # usable through that day


def test_create_human_output_shows_secret_once(node: Any) -> None:
    text = run("create", "--name", "Site web", "--scopes", "referentials:read", "--grant", "client_credentials")
    assert "client_id:" in text
    assert "client_secret:" in text
    assert "only now" in text


def test_key_client_prints_no_secret(node: Any) -> None:
    document = json.loads(
        run(
            "create", "--name", "Nœud pair", "--scopes", "federation:sync", "--grant", "client_credentials",
            "--auth-method", "private_key_jwt", "--jwks-uri", "https://pair.example/.well-known/jwks.json", "--json",
        )
    )  # fmt: skip
    assert document["client_secret"] is None


@pytest.mark.parametrize(
    ("extra", "option"),
    [
        (["--scopes", "referentials:read nope:nope"], "--scopes"),
        (["--scopes", "referentials:write"], "--scopes"),  # a reader with a write scope
        (["--scopes", "referentials:read", "--for-user", "nobody"], "--for-user"),
        (["--scopes", "referentials:read", "--expires", "31/12/2030"], "--expires"),
        (["--scopes", "referentials:read", "--expires", "2001-01-01"], "--expires"),
        (["--scopes", "referentials:read", "--owner", "12345678901234"], "--owner"),
        (["--scopes", "referentials:read", "--grant", "authorization_code"], "--redirect-uri"),
        (["--scopes", "referentials:read", "--auth-method", "private_key_jwt"], "--jwks-uri"),
    ],
)
def test_create_errors_name_the_option(node: Any, extra: list[str], option: str) -> None:
    with pytest.raises(CommandError) as refused:
        run("create", "--name", "X", "--grant", "client_credentials", *extra)
    assert option in str(refused.value)
    assert not Client.objects.exists()


def test_bad_grant_is_refused_by_the_parser(node: Any) -> None:
    with pytest.raises(CommandError) as refused:
        run("create", "--name", "X", "--scopes", "referentials:read", "--grant", "password")
    assert "--grant" in str(refused.value)


def test_no_owner_configured() -> None:
    with pytest.raises(CommandError) as refused:
        run("create", "--name", "X", "--scopes", "referentials:read", "--grant", "client_credentials")
    assert "--owner" in str(refused.value)
    assert "no organisation configured" in str(refused.value)


def test_list_rotate_disable(node: Any, structure: Any) -> None:
    issued = clients.create_client(
        name="Billetterie", owner=structure, scopes="referentials:read", grant_types=["client_credentials"]
    )
    client_id = issued.client.client_id
    assert client_id in run("list")
    assert json.loads(run("list", "--json"))[0]["client_id"] == client_id
    rotated = json.loads(run("rotate", client_id, "--grace-days", "2", "--json"))
    assert rotated["version"] == 2
    assert rotated["previous_secrets_retire_at"] is not None
    assert clients.authenticate_secret(issued.client, rotated["client_secret"])
    assert clients.authenticate_secret(issued.client, issued.secret or "")  # grace period
    assert "only now" in run("rotate", client_id, "--grace-days", "0")
    assert not clients.authenticate_secret(issued.client, issued.secret or "")
    assert "disabled" in run("disable", client_id)
    issued.client.refresh_from_db()
    assert not issued.client.is_active
    with pytest.raises(CommandError, match="disabled"):
        run("rotate", client_id)
    with pytest.raises(CommandError, match="CLIENT_ID"):
        run("rotate", "unknown-client")
    with pytest.raises(CommandError, match="CLIENT_ID"):
        run("disable", "unknown-client")
    with pytest.raises(CommandError, match="--grace-days"):
        run("rotate", client_id, "--grace-days", "-1")


def test_report_lists_old_secrets_and_succeeds(structure: Any) -> None:
    old = clients.create_client(
        name="Ancien", owner=structure, scopes="referentials:read", grant_types=["client_credentials"]
    ).client
    clients.create_client(
        name="Récent", owner=structure, scopes="referentials:read", grant_types=["client_credentials"]
    )
    assert "No client secret" in run("report")
    ClientSecret.objects.filter(client=old).update(created_at=timezone.now() - dt.timedelta(days=100))
    text = run("report", "--max-age-days", "90")
    assert old.client_id in text
    assert "Récent" not in text
    with pytest.raises(CommandError, match="--max-age-days"):
        run("report", "--max-age-days", "0")


def test_help_mentions_every_subcommand(capsys: Any) -> None:
    from dataspace.oauth.management.commands.oauth_client import Command

    parser = Command().create_parser("manage.py", "oauth_client")
    text = parser.format_help()
    for name in ("create", "list", "rotate", "disable", "report"):
        assert name in text


def test_client_ids_never_start_with_a_dash(monkeypatch: Any) -> None:
    """A generated id that would start with "-" (read as an option on command lines) is drawn again."""
    from dataspace.oauth import secrets as client_secrets

    drawn = iter(["-looksLikeAnOption", "-another", "Bx3_valid-id"])
    monkeypatch.setattr(client_secrets._random, "token_urlsafe", lambda _size: next(drawn))
    assert client_secrets.generate_client_id() == "Bx3_valid-id"
