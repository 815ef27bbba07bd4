"""python manage.py federation_announce_keys: tell the registry this node's current keys (after a rotation)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from dataspace.node import keys
from federation import membership
from federation.management.commands import _membership_cli as cli


class Command(BaseCommand):
    help = (
        "After 'node_init --rotate', announce all of this node's current public keys to its registry / "
        "Annoncer au registre toutes les clés publiques actuelles du nœud après une rotation. The request is "
        "signed with the previous key (the second newest), which the registry already trusts; the registry "
        "replaces the member's keys, signs a new member list and notifies the members, who trust the new key "
        "once they refreshed. Keep the old key file until every peer has refreshed (docs/operations.md)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--key",
            default=None,
            metavar="KID",
            help="sign with this key (thumbprint) instead of the previous one; it must be a key the registry has",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if membership.is_registry():
            raise cli.error(
                "Ce nœud est le registre : ses clés parviennent aux membres par la liste signée "
                "(lancez federation_refresh).",
                "This node is the registry: its keys reach the members through the signed list "
                "(run federation_refresh).",
            )
        try:
            loaded = keys.load_keys()
        except (keys.KeyFileError, OSError) as exc:
            raise cli.error(f"Clé du nœud illisible : {exc}", f"Cannot read the node key: {exc}") from None
        if len(loaded) < 2 and options["key"] is None:
            self.stdout.write(
                self.style.WARNING(
                    "Une seule clé : rien de nouveau à annoncer, la demande est signée avec elle.\n"
                    "Only one key: nothing new to announce, the request is signed with it."
                )
            )
        try:
            answer = membership.announce_keys(kid=options["key"])
        except membership.RegistryUnreachable as exc:
            raise cli.unreachable(exc) from None
        except membership.MembershipError as exc:
            raise cli.from_membership(exc) from None
        if not answer.ok:
            raise cli.refused_answer(answer)
        announced = ", ".join(key.kid for key in loaded)
        self.stdout.write(f"Signée avec / signed with: {', '.join(answer.pinned)}; clés annoncées / keys: {announced}")
        if answer.status == membership.Status.APPROVED:
            serial = answer.body.get("serial") or (answer.refresh or {}).get("serial", "?")
            self.stdout.write(
                self.style.SUCCESS(
                    f"Clés enregistrées par le registre (liste n° {serial}).\n"
                    f"Keys recorded by the registry (member list {serial})."
                )
            )
        elif answer.status == membership.Status.PENDING:
            self.stdout.write(
                "Demande d'adhésion toujours en attente : clés mises à jour.\nJoin request still pending: keys updated."
            )
        else:
            self.stdout.write(f"Réponse du registre / registry answer: {answer.status} {answer.detail}")
