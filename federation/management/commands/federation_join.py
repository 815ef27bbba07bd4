"""python manage.py federation_join REGISTRY_URL: ask to join the federation of a registry."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from dataspace.node import keys
from federation import membership
from federation.management.commands import _membership_cli as cli


class Command(BaseCommand):
    help = (
        "Join the federation whose registry is REGISTRY_URL / Adhérer à la fédération du registre REGISTRY_URL. "
        "Fetches the registry's /.well-known/dataspace-node and /.well-known/jwks.json, pins its keys (printed: "
        "compare them with the thumbprints the registry's operator gives you), then posts this node's metadata and "
        "public keys, signed with its key (RFC 9421). The registry's operator approves the request in the admin or "
        "with federation_approve; the member list then reaches this node (federation_refresh, or the periodic task). "
        "Safe to re-run: pinned keys are kept (they change only through a list the registry signed) unless --repin."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("registry_url", metavar="REGISTRY_URL", help="the registry's base URL (https://…)")
        parser.add_argument("--contact", default="", metavar="EMAIL", help="technical contact of this node")
        parser.add_argument(
            "--organisation",
            default="",
            metavar="NAME",
            help="organisation operating this node (default: the node's organisation)",
        )
        parser.add_argument(
            "--repin",
            action="store_true",
            help="replace the pinned registry keys with those it publishes now (after checking their thumbprints "
            "out of band: registry key compromise, or changing registry)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if membership.is_registry():
            raise cli.error(
                "Ce nœud est le registre : il n'adhère pas à une fédération, il la tient.",
                "This node is the registry: it does not join a federation, it runs it.",
            )
        try:
            own = keys.load_keys()
        except (keys.KeyFileError, OSError) as exc:
            raise cli.error(f"Clé du nœud illisible : {exc}", f"Cannot read the node key: {exc}") from None
        if not own:
            raise cli.error(
                "Ce nœud n'a pas de clé : lancez d'abord « python manage.py node_init ».",
                "This node has no key pair: run 'python manage.py node_init' first.",
            )
        try:
            answer = membership.join(
                options["registry_url"],
                contact=options["contact"],
                organisation=options["organisation"],
                repin=options["repin"],
            )
        except membership.RegistryUnreachable as exc:
            raise cli.unreachable(exc) from None
        except membership.MembershipError as exc:
            raise cli.from_membership(exc) from None
        pins = ", ".join(answer.pinned)
        if answer.repinned:
            self.stdout.write(f"Clés du registre épinglées / registry keys pinned: {pins}")
        else:
            self.stdout.write(
                f"Clés du registre déjà épinglées, conservées / registry keys already pinned, kept: {pins}"
            )
        self.stdout.write(
            "Clés de ce nœud (à comparer dans l'admin du registre) / this node's keys (to compare in the registry's "
            f"admin): {', '.join(key.kid for key in own)}"
        )
        if not answer.ok:
            raise cli.refused_answer(answer)
        if answer.status == membership.Status.PENDING:
            self.stdout.write(
                self.style.SUCCESS(
                    "Demande d'adhésion enregistrée : en attente d'approbation par l'opérateur du registre.\n"
                    "Join request recorded: waiting for the registry operator's approval."
                )
            )
        elif answer.status == membership.Status.APPROVED:
            refresh = answer.refresh or {}
            self.stdout.write(
                self.style.SUCCESS(
                    "Ce nœud est membre de la fédération / this node is a member of the federation "
                    f"(liste / list n° {refresh.get('serial', '?')}, {refresh.get('status', '?')})."
                )
            )
        elif answer.status == membership.Status.SUSPENDED:
            self.stdout.write(
                self.style.WARNING(
                    "L'adhésion de ce nœud est suspendue par l'opérateur du registre.\n"
                    "This node's membership is suspended by the registry's operator."
                )
            )
        else:
            self.stdout.write(f"Réponse du registre / registry answer: {answer.status} {answer.detail}")
