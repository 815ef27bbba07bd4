"""python manage.py seed_demo_ticketing --profile structure-a|structure-b: fictitious ticketing figures."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from dataspace.indicators import services
from dataspace.indicators.demo import DemoTicketingError, seed_demo_approvals, seed_demo_ticketing
from dataspace.referentials.demo_data import PARIS, STRUCTURE_PROFILES


def _until(text: str) -> dt.datetime | None:
    if text == "season-end":
        return None
    if text == "now":
        return timezone.now()
    try:
        day = dt.date.fromisoformat(text)
    except ValueError:
        raise CommandError(f"--until {text!r}: expected now, season-end or a date yyyy-mm-dd") from None
    return dt.datetime.combine(day, dt.time(0), tzinfo=PARIS)


class Command(BaseCommand):
    help = (
        "Fill a demo structure node with FICTITIOUS ticketing figures: one row per performance of the "
        "2026-2027 season that was played (not cancelled, not under option) and started before --until, "
        "school performances of young-audience shows grouped as a series per hall and quarter, open-air and "
        "street-arts shows and the festival's concerts free. The node also hosts three small fictitious "
        "structures (their venues, productions and performances are created when missing, shared with nobody) "
        "whose figures are written too, unless --no-hosted. With --ministry URL, the hosted structures sign an "
        "agreement letting that ministry node aggregate their performances (purpose reporting) and the node's "
        "structures get standing approvals for it (on structure-b, not the node's own structure: its "
        "administrator `admin` approves each campaign). The figures of a performance depend only on its id "
        "(deterministic); running again changes nothing. Needs `seed_demo --profile <same profile>` first, and "
        "`demo_account` before --ministry."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--profile", required=True, choices=STRUCTURE_PROFILES, help="which demo structure node to fill"
        )
        parser.add_argument("--seed", type=int, default=42, help="seed of the demo data (default 42, as seed_demo)")
        parser.add_argument(
            "--until",
            default="now",
            metavar="now|season-end|YYYY-MM-DD",
            help="only performances started before this moment (default: now, i.e. the past performances)",
        )
        parser.add_argument(
            "--no-hosted",
            dest="hosted",
            action="store_false",
            help="only the node's own structure (no hosted structures)",
        )
        parser.add_argument(
            "--ministry",
            metavar="URL",
            default="",
            help="base URL of the ministry's node: sign the hosted structures' agreements and the standing approvals",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if not services.is_structure_node():
            raise CommandError("ce nœud n'a pas le rôle « structure » (NODE_ROLES) : il ne tient pas de billetterie")
        if options["ministry"] and not options["hosted"]:
            raise CommandError("--ministry needs the hosted structures (drop --no-hosted)")
        try:
            report = seed_demo_ticketing(
                options["profile"], seed=options["seed"], until=_until(options["until"]), hosted=options["hosted"]
            )
            approvals = (
                seed_demo_approvals(options["profile"], ministry=options["ministry"], seed=options["seed"])
                if options["ministry"]
                else None
            )
        except DemoTicketingError as exc:
            raise CommandError(str(exc)) from exc
        skipped = f", {sum(report.skipped.values())} skipped ({report.skipped})" if report.skipped else ""
        hosted = f" and {len(report.hosted)} hosted structures ({', '.join(report.hosted)})" if report.hosted else ""
        self.stdout.write(
            self.style.SUCCESS(
                f"ticketing figures of {report.profile} ({report.organisation}{hosted}): {report.performances} "
                f"performances in {report.created + report.updated + report.unchanged} rows ({report.series} series) — "
                f"{report.created} created, {report.updated} updated, {report.unchanged} unchanged{skipped}"
            )
        )
        if approvals is not None:
            waiting = (
                f"; approved campaign by campaign by {approvals.administrator}: {', '.join(approvals.by_administrator)}"
                if approvals.by_administrator
                else ""
            )
            self.stdout.write(
                self.style.SUCCESS(
                    f"aggregation by {approvals.ministry}: {approvals.agreements} agreements signed, "
                    f"{approvals.approvals} standing approvals given (standing: {', '.join(approvals.standing)}"
                    f"{waiting})"
                )
            )
