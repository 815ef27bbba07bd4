"""python manage.py seed_demo: fill this node with fictitious, deterministic demo data."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from dataspace.referentials.demo_data import PROFILES, DemoDataError, seed_demo


class Command(BaseCommand):
    help = (
        "Fill this node with FICTITIOUS demo data for one profile of the demo federation. "
        "structure-a (Lyon) and structure-b (Nantes): the structure, its venues, halls and technical "
        "sheets, works, productions (a revival, co-productions, one production touring both), credits, "
        "a season (and a festival edition for structure-b) and about 80 performances in 2026-2027, "
        "some cancelled, postponed or under option. registry and ministry: their organisation only. "
        "The organisation becomes the node's operator (NodeIdentity). Deterministic: the same --seed "
        "gives the same records and UUIDs. Idempotent: a second run detects the data and changes nothing."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--profile",
            required=True,
            metavar="PROFILE",
            help=f"which demo node to fill: one of {', '.join(PROFILES)}",
        )
        parser.add_argument("--seed", type=int, default=42, help="seed of the generated data (default 42)")
        parser.add_argument(
            "--reset",
            action="store_true",
            help="delete every referential record first (deletions leave tombstones in the change feed)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        profile: str = options["profile"]
        if profile not in PROFILES:
            raise CommandError(f"unknown profile {profile!r}; choose one of: {', '.join(PROFILES)}")
        try:
            report = seed_demo(profile, options["seed"], reset=options["reset"])
        except DemoDataError as exc:
            raise CommandError(str(exc)) from exc
        summary = ", ".join(f"{name}: {count}" for name, count in report.counts.items())
        if report.created:
            self.stdout.write(
                self.style.SUCCESS(
                    f"demo data of {profile} (seed {report.seed}) created for {report.organisation} — {summary}"
                )
            )
        else:
            self.stdout.write(f"demo data of {profile} (seed {report.seed}) already present, nothing to do — {summary}")
