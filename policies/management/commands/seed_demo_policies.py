"""python manage.py seed_demo_policies: the usage policies of one demo node (FICTITIOUS data)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from dataspace.referentials.demo_data import PROFILES
from policies.demo import seed_demo_policies


class Command(BaseCommand):
    help = (
        "Attach the demo federation's usage policies to this node's data. structure-a / structure-b: technical "
        "sheets reserved to licensed professionals, no redistribution (the programme stays public). registry: a "
        "small company hosted at the registry (its data deposited there) with licensed-only technical sheets "
        "(categories 2 and 3, for programming or touring) and productions, and a hidden rehearsal-studio sheet. "
        "Run after seed_demo. Idempotent."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--profile", required=True, metavar="PROFILE", help=f"one of {', '.join(PROFILES)}")

    def handle(self, *args: Any, **options: Any) -> None:
        profile: str = options["profile"]
        if profile not in PROFILES:
            raise CommandError(f"unknown profile {profile!r}; choose one of: {', '.join(PROFILES)}")
        try:
            report = seed_demo_policies(profile)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"demo policies of {profile}: {report.policies} dataset policies, {report.created} created")
