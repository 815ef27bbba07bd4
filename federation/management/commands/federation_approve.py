"""python manage.py federation_approve [BASE_URL ...] [--all]: the registry's operator approves join requests."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from federation import membership
from federation.management.commands import _membership_cli as cli
from federation.models import Member


class Command(BaseCommand):
    help = (
        "(registry) Approve nodes' join requests / Approuver les demandes d'adhésion (registre). Give their base "
        "URLs, or --all for every pending request; without either, lists the pending requests. Approval puts the "
        "node in the signed member list with the roles it asked for (registry excepted), creates its peer entry "
        "and its OAuth client here at once, and is journaled. Compare the key thumbprints shown with those the "
        "node's operator read from federation_join before approving."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("base_urls", nargs="*", metavar="BASE_URL", help="base URL of a node to approve")
        parser.add_argument("--all", action="store_true", help="approve every pending request")

    def handle(self, *args: Any, **options: Any) -> None:
        if not membership.is_registry():
            raise cli.error(
                "Cette commande ne s'exécute que sur le registre (rôle registry).",
                "This command runs on the registry only (role registry).",
            )
        urls = [membership.normalise(url) for url in options["base_urls"]]
        if not urls and not options["all"]:
            self._list_pending()
            raise cli.error(
                "Indiquez les adresses des nœuds à approuver, ou --all.",
                "Give the base URLs of the nodes to approve, or --all.",
            )
        members = list(Member.objects.filter(status=Member.Status.PENDING).order_by("requested_at"))
        if urls:
            found = {member.base_url: member for member in Member.objects.filter(base_url__in=urls)}
            unknown = [url for url in urls if url not in found]
            if unknown:
                raise cli.error(
                    f"Aucune demande d'adhésion pour : {', '.join(unknown)}.",
                    f"No join request from: {', '.join(unknown)}.",
                )
            members = [found[url] for url in urls]
        if not members:
            self.stdout.write("Aucune demande en attente / no pending request.")
            return
        for member in members:
            if member.status == Member.Status.APPROVED:
                self.stdout.write(f"déjà membre / already a member: {member}")
                continue
            try:
                approved = membership.approve(member)
            except membership.MembershipError as exc:
                raise cli.from_membership(exc) from None
            self.stdout.write(
                self.style.SUCCESS(
                    f"approuvé / approved: {approved.name} ({approved.base_url}), rôles / roles "
                    f"{', '.join(approved.roles)}, clés / keys {', '.join(membership.kids_of(approved.jwks))}"
                )
            )

    def _list_pending(self) -> None:
        pending = Member.objects.filter(status=Member.Status.PENDING).order_by("requested_at")
        if not pending:
            self.stdout.write("Aucune demande en attente / no pending request.")
        for member in pending:
            roles = ", ".join(membership.requested_roles(member))
            kids = ", ".join(membership.kids_of(member.jwks))
            self.stdout.write(
                f"en attente / pending: {member.base_url} « {member.name} » rôles / roles {roles}; clés / keys {kids}"
            )
