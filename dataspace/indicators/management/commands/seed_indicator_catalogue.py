"""python manage.py seed_indicator_catalogue: the built-in indicator definitions (ministry node)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from dataspace.indicators import catalogue


class Command(BaseCommand):
    help = (
        "Install the built-in definitions of the ministry's indicator catalogue (attendance, receipts, average "
        "price, fill rate, performances, young-audience share, share of accessible performances) as version 1. "
        "Idempotent: a definition some version already holds word for word is left alone, so running again "
        "creates nothing and never reverts a later version published by the ministry. Ministry nodes only."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        if not catalogue.is_ministry_node():
            raise CommandError(
                "ce nœud n'a pas le rôle « ministry » (NODE_ROLES) : le catalogue des indicateurs est tenu par le "
                "nœud du ministère"
            )
        report = catalogue.seed_catalogue()
        self.stdout.write(
            self.style.SUCCESS(
                f"catalogue des indicateurs : {len(report.created)} définition(s) créée(s)"
                f"{' (' + ', '.join(report.created) + ')' if report.created else ''}, "
                f"{len(report.unchanged)} inchangée(s)"
            )
        )
