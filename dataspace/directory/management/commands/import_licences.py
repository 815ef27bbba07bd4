"""python manage.py import_licences FILE: import the ministry's open-data list of licences (registry node)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from dataspace.directory.licence_file import COLUMNS, ESSENTIAL
from dataspace.directory.services import LicenceFileError, NotARegistry, import_licences

#: Refused lines printed at the default verbosity (all of them with -v 2).
SHOWN_ERRORS = 20


class Command(BaseCommand):
    help = (
        "Import the Ministry of Culture's open-data list of licences d'entrepreneur de spectacles vivants "
        "(CSV separated by ';', UTF-8 with or without BOM, or Latin-1; dates yyyy-mm-dd or dd/mm/yyyy). "
        f"Required columns: {', '.join(COLUMNS[name] for name in ESSENTIAL)}; the other known columns are "
        "read when present, unknown ones ignored. Numbers are normalised (upper case, optional 1-/2-/3- "
        "category prefix kept). Re-importing is idempotent: unchanged lines write nothing, changed ones are "
        "updated and their changes recorded. Lines that cannot be read are reported with their line number and "
        "skipped. Runs only on a node with the 'registry' role. See docs/licences.md."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="path of the ministry's CSV file")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            run = import_licences(options["file"])
        except NotARegistry as exc:
            raise CommandError(str(exc)) from None
        except LicenceFileError as exc:
            raise CommandError(f"{options['file']} : {exc}") from None
        verbosity = int(options.get("verbosity", 1))
        shown = run.errors if verbosity >= 2 else run.errors[:SHOWN_ERRORS]
        for error in shown:
            self.stderr.write(f"ligne {error['line']} refusée : {error['error']}")
        if len(shown) < len(run.errors):
            self.stderr.write(f"… et {len(run.errors) - len(shown)} autres lignes refusées (toutes avec -v 2)")
        summary = (
            f"Import de {run.source} terminé : {run.created} créées, {run.updated} modifiées, "
            f"{run.unchanged} inchangées, {run.invalid} lignes refusées."
        )
        self.stdout.write(self.style.WARNING(summary) if run.invalid else self.style.SUCCESS(summary))
