"""python manage.py demo_professionals: the demo's licensed (and unlicensed) professionals (registry node)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from dataspace.directory.demo import SAMPLE_FILE, DemoProfessionalsError, professionals_from, set_up_professionals
from dataspace.directory.services import LicenceFileError, NotARegistry
from dataspace.node.management.commands.demo_account import demo_accounts


class Command(BaseCommand):
    help = (
        "On the registry node of the demo federation: import the FICTITIOUS sample licence list, describe the "
        "professionals' organisations, open a professional account for each account of kind 'professional' listed "
        "for --node in --credentials (with its organisation, licence_number and licence_status), and publish the "
        "terms of use version 2026-1. Idempotent. Run after demo_account."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--credentials", required=True, type=Path, help="path of the demo's credentials.json")
        parser.add_argument("--node", required=True, help="this node's demo name (registry)")
        parser.add_argument("--licences", type=Path, default=SAMPLE_FILE, help="licence list (default: the sample)")

    def handle(self, *args: Any, **options: Any) -> None:
        accounts = demo_accounts(Path(options["credentials"]), options["node"])
        try:
            lines = set_up_professionals(professionals_from(accounts), licences=options["licences"])
        except (DemoProfessionalsError, NotARegistry, LicenceFileError) as exc:
            raise CommandError(str(exc)) from None
        for line in lines:
            self.stdout.write(line)
