"""python manage.py import_ticketing FILE --owner SIRET|UUID: import a CSV of ticketing figures."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from dataspace.indicators import imports, services
from dataspace.indicators.ticketing_file import COLUMNS, REQUIRED, TicketingFileError
from dataspace.referentials.models import Organisation

#: Refused lines printed at the default verbosity (all of them with -v 2).
SHOWN_ERRORS = 30


def find_structure(reference: str) -> Organisation:
    """The structure named by its SIRET (14 digits, spaces allowed) or its UUID; CommandError otherwise."""
    text = reference.strip()
    digits = "".join(text.split())
    if digits.isdigit() and len(digits) == 14:
        found = Organisation.objects.filter(siret=digits).first()
    else:
        try:
            found = Organisation.objects.filter(pk=uuid.UUID(text)).first()
        except ValueError:
            raise CommandError(f"--owner {reference!r} : ni un SIRET (14 chiffres) ni un identifiant (UUID)") from None
    if found is None:
        raise CommandError(f"--owner {reference!r} : aucune structure de ce nœud ne porte cet identifiant")
    return found


class Command(BaseCommand):
    help = (
        "Import a CSV of ticketing figures for one structure (UTF-8 or Latin-1, separated by ';' or ','). "
        f"Required columns: {', '.join(COLUMNS[name][0] for name in REQUIRED)}, and either performance "
        "(UUIDs or URIs, '|'-separated for a series) or show + start (title and local start, '|'-separated). "
        "Other columns: ticketing_system, tickets_full_price, tickets_subscription, tickets_exempt, "
        "receipts_full_price, capacity (French names accepted: billets_total, recette_totale, jauge…). "
        "All lines or none: one bad line refuses the file, every bad line is reported with its number and "
        "nothing is written. Sending an external id again updates its row. See docs/indicators.md."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="path of the CSV file")
        parser.add_argument(
            "--owner", required=True, metavar="SIRET|UUID", help="the structure whose performances the file is about"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if not services.is_structure_node():
            raise CommandError("ce nœud n'a pas le rôle « structure » (NODE_ROLES) : il ne tient pas de billetterie")
        owner = find_structure(options["owner"])
        path = Path(options["file"])
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise CommandError(f"fichier introuvable : {path}") from None
        except IsADirectoryError:
            raise CommandError(f"{path} est un dossier, pas un fichier") from None
        except OSError as exc:
            raise CommandError(f"lecture impossible de {path} : {exc.strerror}") from None
        try:
            report = imports.import_ticketing(data, owner=owner)
        except TicketingFileError as exc:
            raise CommandError(f"{path} : {exc}") from None
        except imports.ImportRefused as exc:
            verbosity = int(options.get("verbosity", 1))
            shown = exc.errors if verbosity >= 2 else exc.errors[:SHOWN_ERRORS]
            for error in shown:
                self.stderr.write(str(error))
            if len(shown) < len(exc.errors):
                self.stderr.write(f"… et {len(exc.errors) - len(shown)} autres erreurs (toutes avec -v 2)")
            lines = len({error.line for error in exc.errors})
            raise CommandError(f"{path} refusé : {lines} ligne(s) en erreur, rien n'a été enregistré") from None
        self.stdout.write(
            self.style.SUCCESS(
                f"Import de {path} pour {owner} terminé : {report.lines} lignes, {report.created} créées, "
                f"{report.updated} mises à jour, {report.unchanged} inchangées."
            )
        )
