"""python manage.py demo_clients: register the demo federation's OAuth clients on this node (idempotent).

Called by scripts/demo.py after `demo_account`. Secrets exist in clear only when a client is created
(or its secret rotated), so the command reads the clients it made on an earlier run from the demo's
credentials file, reuses each one whose client id still exists here and whose secret still
authenticates, and otherwise creates it (or rotates its secret when only the secret was lost). It
writes the resulting list to `--output` (JSON, mode 0600); the demo script merges it back into the
credentials file and into nodes.json.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from dataspace.node.services import current_identity
from dataspace.oauth.clients import authenticate_secret, create_client, rotate_secret
from dataspace.oauth.mandates import active_mandate, grant_mandate
from dataspace.oauth.models import Client
from dataspace.oauth.scopes import parse_scopes

#: Marks the clients this command manages (so that a lost credentials file does not duplicate them).
DEMO_MARKER = "[démo]"
PKCE_REDIRECT_URI = "http://127.0.0.1:8765/callback"


@dataclass(frozen=True)
class ClientSpec:
    name: str
    scopes: tuple[str, ...]
    kind: str = Client.Kind.READER
    grant_types: tuple[str, ...] = ("client_credentials",)
    auth_method: str = Client.AuthMethod.SECRET_BASIC
    redirect_uris: tuple[str, ...] = ()
    acts_for: str | None = None  # username
    jwks_uri: str = ""
    vendor: str = ""  # owned by this vendor organisation, writing for the structure under a mandate
    description: str = ""


def structure_clients() -> list[ClientSpec]:
    return [
        ClientSpec(
            "Billetterie Exemple (éditeur de billetterie)",
            ("referentials:read", "referentials:write", "ticketing:write"),
            kind=Client.Kind.DEPOSITOR,
            vendor="Billetterie Exemple SAS (éditeur, démo)",
            description="Logiciel de billetterie : dépose les représentations et les chiffres de billetterie.",
        ),
        ClientSpec(
            "Site web et agenda de la structure",
            ("referentials:read",),
            description="Le site public lit la programmation.",
        ),
        ClientSpec(
            "CRM Exemple (éditeur de gestion des contacts)",
            ("contacts:read", "contacts:write"),
            kind=Client.Kind.DEPOSITOR,
            vendor="CRM Exemple SAS (éditeur, démo)",
            description="Outil de relations publiques : lit et met à jour les contacts privés.",
        ),
        ClientSpec(
            "Outil d'administration de la structure",
            ("clients:manage", "journal:read", "consent:manage", "policies:manage", "webhooks:manage"),
            kind=Client.Kind.DEPOSITOR,
            description="Gère les clients OAuth, les politiques d'usage et les abonnements webhook, consulte le "
            "journal, enregistre les consentements.",
        ),
        ClientSpec(
            "Clé API personnelle — admin",
            ("referentials:read", "referentials:write"),
            kind=Client.Kind.DEPOSITOR,
            acts_for="admin",
            description="Clé personnelle : agit au nom du compte admin.",
        ),
        ClientSpec(
            "Application publique (code d'autorisation + PKCE)",
            ("referentials:read",),
            grant_types=("authorization_code", "refresh_token"),
            auth_method=Client.AuthMethod.NONE,
            redirect_uris=(PKCE_REDIRECT_URI,),
            description="Application sans secret : une personne se connecte et consent.",
        ),
    ]


def registry_clients() -> list[ClientSpec]:
    return [
        ClientSpec(
            "Moteur de recherche de l'annuaire",
            ("directory:search",),
            description="Cherche dans l'annuaire professionnel.",
        ),
        ClientSpec(
            "Back-office de l'annuaire",
            ("directory:search", "directory:manage"),
            kind=Client.Kind.DEPOSITOR,
            description="Crée et met à jour les fiches de l'annuaire.",
        ),
        ClientSpec(
            "Miroir des données partagées",
            ("federation:sync",),
            description="Lit le flux de changements (outil d'archivage, hors nœud).",
        ),
    ]


def ministry_clients() -> list[ClientSpec]:
    return [
        ClientSpec(
            "Tableau de bord des indicateurs (DGCA)",
            ("indicators:aggregate",),
            description="Demande des agrégats d'indicateurs, jamais des lignes.",
        ),
        ClientSpec(
            "Clé API personnelle — analyste",
            ("indicators:aggregate",),
            acts_for="analyste",
            description="Clé personnelle : agit au nom du compte analyste.",
        ),
    ]


def peer_clients(peers: dict[str, str]) -> list[ClientSpec]:
    """One client per peer node, authenticated by the peer's own key (private_key_jwt), no secret."""
    return [
        ClientSpec(
            f"Nœud pair {name}",
            ("federation:sync",),
            auth_method=Client.AuthMethod.PRIVATE_KEY_JWT,
            jwks_uri=f"{base_url.rstrip('/')}/.well-known/jwks.json",
            description=f"Le nœud {name} ({base_url}) synchronise les données partagées avec sa clé.",
        )
        for name, base_url in sorted(peers.items())
    ]


def professional_clients(professionals: list[str]) -> list[ClientSpec]:
    """One personal key per demo professional: it acts for them (their licence and terms decide)."""
    return [
        ClientSpec(
            f"Clé API personnelle — {username}",
            ("referentials:read", "directory:search"),
            acts_for=username,
            description=f"Clé personnelle du professionnel {username} : cherche en son nom dans les référentiels "
            "partagés et l'annuaire.",
        )
        for username in professionals
    ]


def specs_for(node: str, peers: dict[str, str], professionals: list[str] | None = None) -> list[ClientSpec]:
    if node.startswith("structure"):
        own = structure_clients()
    elif node == "registry":
        own = registry_clients()
    elif node == "ministry":
        own = ministry_clients()
    else:
        own = []
    return own + professional_clients(professionals or []) + peer_clients(peers)


def vendor_organisation(name: str, structure: Any) -> Any:
    """The (fictitious) software vendor owning a client, described by the structure that deals with it."""
    from dataspace.referentials.models import Organisation

    vendor, _created = Organisation.objects.get_or_create(
        name=name, owner=structure, defaults={"kind": Organisation.Kind.OTHER, "legal_status": "SAS"}
    )
    return vendor


def entry(client: Client, secret: str | None, acts_for: str | None, mandate_from: str | None = None) -> dict[str, Any]:
    """A client as nodes.json lists it (DESIGN.md §7), plus what a developer needs to use it."""
    return {
        "name": client.name,
        "client_id": client.client_id,
        "client_secret": secret,
        "scopes": " ".join(client.allowed_scopes),
        "acts_for": acts_for,
        "kind": client.kind,
        "grant_types": list(client.grant_types),
        "token_endpoint_auth_method": client.token_endpoint_auth_method,
        **({"redirect_uris": list(client.redirect_uris)} if client.redirect_uris else {}),
        **({"jwks_uri": client.jwks_uri} if client.jwks_uri else {}),
        **({"owner": client.owner.name, "mandate_from": mandate_from} if mandate_from else {}),
    }


class Command(BaseCommand):
    help = (
        "Register this node's demo OAuth clients (vendors' software, the structure's tools, a personal API "
        "key, a public PKCE app, a personal key per professional account, "
        "one private_key_jwt client per peer node). Reuses the clients listed for this "
        'node under "clients" in --credentials when they still exist and authenticate; writes the list, with '
        "secrets in clear, to --output (mode 0600)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--credentials", required=True, type=Path, help="path of the demo's credentials.json")
        parser.add_argument("--node", required=True, help="this node's demo name (structure-a, registry, …)")
        parser.add_argument("--output", required=True, type=Path, help="where to write this node's clients (JSON)")
        parser.add_argument(
            "--peer", action="append", default=[], metavar="NAME=BASE_URL", help="a peer node (repeatable)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        node: str = options["node"]
        peers: dict[str, str] = {}
        for item in options["peer"]:
            name, sep, url = item.partition("=")
            if not sep or not name or not url:
                raise CommandError(f"--peer expects NAME=BASE_URL, got {item!r}")
            peers[name] = url
        known: dict[str, dict[str, Any]] = {}
        professionals: list[str] = []
        path = Path(options["credentials"])
        if path.exists():
            try:
                document = json.loads(path.read_text())
                stored = document.get("clients", {}).get(node, [])
                accounts = document.get(node, [])
            except (json.JSONDecodeError, AttributeError) as exc:
                raise CommandError(f"{path} is not a valid credentials file: {exc}") from None
            known = {item["name"]: item for item in stored if isinstance(item, dict) and "name" in item}
            professionals = [
                item["username"] for item in accounts if isinstance(item, dict) and item.get("kind") == "professional"
            ]
        identity = current_identity()
        if identity is None or identity.organisation_id is None:
            raise CommandError("this node has no organisation yet: run node_init and seed_demo first")
        structure = identity.organisation
        with transaction.atomic():
            specs = specs_for(node, peers, professionals)
            entries = [self._ensure(spec, known.get(spec.name), structure) for spec in specs]
        _write_private(Path(options["output"]), entries)

    def _ensure(self, spec: ClientSpec, previous: dict[str, Any] | None, structure: Any) -> dict[str, Any]:
        owner = vendor_organisation(spec.vendor, structure) if spec.vendor else structure
        user_model = get_user_model()
        user = user_model.objects.get(username=spec.acts_for) if spec.acts_for else None
        admin = user_model.objects.filter(username="admin").first()
        client: Client | None = None
        if previous:
            client = Client.objects.filter(client_id=previous.get("client_id", "")).first()
        if client is None:  # credentials lost but the database kept: find it by name, do not duplicate
            client = Client.objects.filter(
                name=spec.name, owner=owner, description__startswith=DEMO_MARKER
            ).first()  # fmt: skip
        needs_secret = spec.auth_method not in (Client.AuthMethod.NONE, Client.AuthMethod.PRIVATE_KEY_JWT)
        if client is None:
            issued = create_client(
                name=spec.name,
                owner=owner,
                scopes=list(spec.scopes),
                grant_types=list(spec.grant_types),
                kind=spec.kind,
                redirect_uris=list(spec.redirect_uris),
                auth_method=spec.auth_method,
                jwks_uri=spec.jwks_uri,
                user=user,
                created_by=admin,
                description=f"{DEMO_MARKER} {spec.description}",
            )
            client, secret, verb = issued.client, issued.secret, "created"
        else:
            # Keep the registration in line with the spec (the peers' ports may have changed).
            client.allowed_scopes = parse_scopes(list(spec.scopes))
            client.kind = spec.kind
            client.grant_types = list(spec.grant_types)
            client.redirect_uris = list(spec.redirect_uris)
            client.token_endpoint_auth_method = spec.auth_method
            client.jwks_uri = spec.jwks_uri
            client.user = user
            client.is_active = True
            client.expires_at = None
            client.save()
            secret = (previous or {}).get("client_secret") if needs_secret else None
            verb = "kept"
            if needs_secret and not (secret and authenticate_secret(client, secret)):
                secret, verb = rotate_secret(client, grace_seconds=0).secret, "secret renewed"
        if spec.vendor and admin is not None:  # the structure's administrator lets the vendor write for it
            mandate = active_mandate(client, structure)
            if mandate is None or mandate.scopes != client.allowed_scopes:
                grant_mandate(structure, client, client.allowed_scopes, admin)
            mandate_from = structure.name
        else:
            mandate_from = None
        self.stdout.write(f"client {client.name} ({client.client_id}) {verb}")
        return entry(client, secret, spec.acts_for, mandate_from)


def _write_private(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(data, out, indent=2, ensure_ascii=False)
        out.write("\n")
    os.replace(tmp, path)
