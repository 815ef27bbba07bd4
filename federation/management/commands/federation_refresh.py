"""python manage.py federation_refresh: fetch and verify the member list now (or rebuild it, on the registry)."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from federation import membership
from federation.management.commands import _membership_cli as cli

PROBLEMS = {
    "not_configured": (
        "Aucun registre connu : lancez federation_join REGISTRY_URL.",
        "No registry known: run federation_join REGISTRY_URL.",
    ),
    "not_joined": (
        "Aucune clé du registre épinglée : lancez federation_join REGISTRY_URL.",
        "No registry key pinned: run federation_join REGISTRY_URL.",
    ),
    "error": ("Registre injoignable ou réponse inutilisable.", "Registry unreachable or unusable answer."),
    "refused": (
        "Liste des membres refusée : elle ne se vérifie pas avec les clés épinglées du registre, est périmée ou "
        "plus ancienne que celle détenue. Les pairs restent ceux de la dernière liste valide.",
        "Member list refused: it does not verify with the pinned registry keys, has expired or is older than the "
        "one held. Peers stay those of the last valid list.",
    ),
}


class Command(BaseCommand):
    help = (
        "Refresh the federation's member list now / Mettre à jour la liste des membres maintenant. On a node: "
        "fetch the registry's signed list, verify it with the pinned registry keys, replace the trusted peers and "
        "their OAuth clients. On the registry: rebuild the peers and clients from the approved members and sign a "
        "new list if it changed. The same as the periodic task (FEDERATION_MEMBERS_REFRESH)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--json", action="store_true", help="print the outcome as JSON")

    def handle(self, *args: Any, **options: Any) -> None:
        outcome = membership.refresh_members()
        status = str(outcome.get("status", ""))
        if options["json"]:
            self.stdout.write(json.dumps(outcome, default=str, ensure_ascii=False))
        if status in PROBLEMS:
            french, english = PROBLEMS[status]
            detail = outcome.get("detail", "")
            code = f" ({outcome['code']})" if outcome.get("code") else ""
            raise cli.error(f"{french}{code} {detail}".rstrip(), f"{english}{code} {detail}".rstrip())
        if options["json"]:
            return
        peers = outcome.get("peers") or {}
        clients = outcome.get("clients") or {}
        summary = ", ".join(f"{name} {count}" for name, count in clients.items() if count)
        self.stdout.write(
            self.style.SUCCESS(
                f"Liste des membres n° {outcome.get('serial')} ({status}) : {peers.get('count', '—')} pair(s) de "
                f"confiance{'; clients ' + summary if summary else ''}.\n"
                f"Member list {outcome.get('serial')} ({status}): {peers.get('count', '—')} trusted peer(s)."
            )
        )
        if outcome.get("own_status"):
            self.stdout.write(f"Statut de ce nœud / this node's status: {outcome['own_status']}")
        if outcome.get("registry_keys_updated"):
            self.stdout.write("Clés du registre mises à jour par la liste signée / registry keys updated by the list.")
