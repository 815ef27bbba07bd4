"""python manage.py seed_demo_consents: persons, consents and contacts of one demo node (FICTITIOUS)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from dataspace.consent.demo import seed_demo_consents
from dataspace.referentials.demo_data import PROFILES


class Command(BaseCommand):
    help = (
        "Fill this demo node with fictitious persons and consents. registry: the hosted company's directory "
        "entries of four people with accounts (two published with a consent, one never consented, one withdrawn) "
        "and its contacts. structure-a / structure-b: private contacts with mixed marketing consents. Run after "
        "seed_demo_policies and demo_account (the persons' accounts). Idempotent."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--profile", required=True, metavar="PROFILE", help=f"one of {', '.join(PROFILES)}")

    def handle(self, *args: Any, **options: Any) -> None:
        profile: str = options["profile"]
        if profile not in PROFILES:
            raise CommandError(f"unknown profile {profile!r}; choose one of: {', '.join(PROFILES)}")
        try:
            report = seed_demo_consents(profile)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            f"demo consents of {profile}: {report.entries} directory entries, {report.contacts} contacts created"
        )
