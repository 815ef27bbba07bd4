"""python manage.py verify_journal: check the journal's hash chain and seals."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from dataspace.audit.services import PROBLEM_KINDS, verify_chain


class Command(BaseCommand):
    help = (
        "Verify the tamper-evident journal: recompute every entry's SHA-256 hash, check that seq numbers "
        "follow each other without gaps and that each prev_hash is the previous entry's hash, then check every "
        "seal (signature by a key the node publishes in its JWKS, sealed hash equal to the entry's hash). "
        "Exits 0 when intact; otherwise fails naming each seq where the chain breaks and how: "
        + "; ".join(f"{kind} ({meaning})" for kind, meaning in PROBLEM_KINDS.items())
        + "."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--json", action="store_true", help="Print the full report as JSON on stdout.")

    def handle(self, *args: Any, **options: Any) -> None:
        report = verify_chain()
        if options["json"]:
            self.stdout.write(json.dumps(report.as_dict(), ensure_ascii=False, indent=2))
        for problem in report.problems:
            self.stderr.write(f"[{problem.kind}] {problem.message}")
        if not report.ok:
            first = report.problems[0]
            raise CommandError(
                f"journal NOT intact: {len(report.problems)} problem(s), first at seq {first.seq} ({first.kind}): "
                f"{first.message}"
            )
        if not options["json"]:
            if report.entries == 0:
                self.stdout.write("journal intact: empty")
                return
            sealed = (
                f"last seal at seq {report.last_sealed_seq}, {report.unsealed_entries} entries after it"
                if report.last_sealed_seq is not None
                else f"no seal yet ({report.entries} entries unsealed)"
            )
            self.stdout.write(
                f"journal intact: {report.entries} entries, seq {report.first_seq} to {report.head_seq}, "
                f"head {report.head_hash}; {report.seals} seal(s) verified; {sealed}"
            )
