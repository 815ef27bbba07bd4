"""python manage.py seed_demo_campaign: the demo's ready-to-launch aggregation campaign (ministry node)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from dataspace.indicators.demo import DemoTicketingError, seed_demo_campaign


class Command(BaseCommand):
    help = (
        "Create, on the ministry's node, the demo's draft campaign « Fréquentation et recettes — saison 2026-2027 "
        "(démo) »: attendance, receipts, average price, fill rate and number of performances (current catalogue "
        "versions) by discipline × region over the 2026-2027 season (the whole quarters that cover it when a "
        "quarterly indicator asks for it), ready to be launched from /indicateurs/. Idempotent: a campaign with "
        "that title is left as it is. Needs `seed_indicator_catalogue` first."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--by",
            default="analyste",
            metavar="USERNAME",
            help="the account recorded as its author, if it exists (default: analyste, the demo's analyst)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        by = get_user_model()._default_manager.filter(username=options["by"]).first()
        try:
            campaign, created = seed_demo_campaign(by=by)
        except DemoTicketingError as exc:
            raise CommandError(str(exc)) from exc
        codes = ", ".join(f"{item['code']} v{item['version']}" for item in campaign.indicators)
        self.stdout.write(
            self.style.SUCCESS(
                f"campagne de démonstration « {campaign.title} » {'créée' if created else 'déjà présente'} "
                f"({campaign.get_state_display()}) : {codes} ; {campaign.period_start} → {campaign.period_end} ; "
                f"dimensions {' × '.join(campaign.dimensions) or '—'}"
            )
        )
