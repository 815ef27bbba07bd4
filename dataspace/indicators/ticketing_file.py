"""Reading a CSV of ticketing figures, as ticketing systems export them.

The file is UTF-8 (with or without BOM) or Latin-1 / Windows-1252, separated by `;` or `,` (the
header line decides), with a header naming the columns. One line is one row of figures: one
performance, or a series (several performances separated by `|`). Columns, in English (the API's
field names) or in French (the declaration's):

* `external_id` (`identifiant_billetterie`): the ticketing system's id — required;
* `ticketing_system` (`systeme_billetterie`): name of the software;
* `performance` (`performances`, `representation`): performance UUIDs or URIs
  (`…/id/performance/<uuid>`), `|`-separated for a series;
* or `show` + `start` (`spectacle` + `date`, `debut`): the production's title and the local start
  (`2026-10-03 20:00`, `03/10/2026 20:00` or ISO 8601 with an offset), starts `|`-separated;
* `tickets_total` (`billets_total`): required;
* `tickets_full_price`, `tickets_subscription`, `tickets_exempt` (`billets_plein_tarif`,
  `billets_abonnement`, `billets_exoneres`): 0 when empty;
* `receipts_total` (`recette_totale`): euros, `1234.50`, `1 234,50` or `1.234,50` — required;
* `receipts_full_price` (`recette_plein_tarif`): euros, 0 when empty;
* `capacity` (`jauge`): places over the series; empty: from the performances.

`parse_ticketing_text` turns the text into `TicketingLine`s (raw cells by field, with line numbers:
the header is line 1) and refuses a file it cannot use at all (`TicketingFileError`). Typing the
cells and finding the performances is `dataspace.indicators.imports`' business.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from dataclasses import dataclass

from django.utils.translation import gettext as _

from dataspace.textfiles import NotText, decode_text

#: Our field -> the header names accepted for it (compared folded: lower case, no accents).
COLUMNS: dict[str, tuple[str, ...]] = {
    "external_id": ("external_id", "identifiant_billetterie", "id_billetterie"),
    "ticketing_system": ("ticketing_system", "systeme_billetterie", "logiciel_billetterie"),
    "performance": ("performance", "performances", "representation", "representations"),
    "show": ("show", "spectacle", "production"),
    "start": ("start", "starts", "date", "dates", "debut"),
    "tickets_total": ("tickets_total", "billets_total", "total_billets"),
    "tickets_full_price": ("tickets_full_price", "billets_plein_tarif"),
    "tickets_subscription": ("tickets_subscription", "billets_abonnement", "billets_abonnement_pass"),
    "tickets_exempt": ("tickets_exempt", "billets_exoneres", "billets_gratuits"),
    "receipts_total": ("receipts_total", "recette_totale", "recettes_totales"),
    "receipts_full_price": ("receipts_full_price", "recette_plein_tarif"),
    "capacity": ("capacity", "jauge"),
}
#: Fields every file must have a column for.
REQUIRED: tuple[str, ...] = ("external_id", "tickets_total", "receipts_total")
#: Separator of the performances (or starts) of a series inside one cell.
SERIES_SEPARATOR = "|"
#: Largest file accepted (bytes): a quarter of a large venue is a few thousand lines.
MAX_FILE_BYTES = 5 * 1024 * 1024


class TicketingFileError(ValueError):
    """The file cannot be imported at all (not text, empty, missing columns); the message says why."""


@dataclass(frozen=True)
class TicketingLine:
    """One non-empty line of the file: its number (header = 1) and its cells by field name."""

    line: int
    cells: dict[str, str]


def fold(value: str) -> str:
    """Lower case, accents dropped, spaces and dashes as underscores (header matching)."""
    decomposed = unicodedata.normalize("NFKD", value.strip().strip('"').lstrip("\ufeff").lower())
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return re.sub(r"[\s\-/]+", "_", plain)


def decode(data: bytes) -> str:
    """UTF-8 (BOM or not), else Windows-1252, else Latin-1; refuses content that is not text."""
    if len(data) > MAX_FILE_BYTES:
        raise TicketingFileError(
            _("le fichier dépasse %(size)s Mo : découpez-le (par trimestre, par exemple)")
            % {"size": MAX_FILE_BYTES // (1024 * 1024)}
        )
    try:
        return decode_text(data)
    except NotText:
        raise TicketingFileError(
            _(
                "le fichier n'est pas un texte lisible (contenu binaire : un fichier Excel ?) ; "
                "attendu : un CSV séparé par « ; » ou « , », en UTF-8 ou Latin-1"
            )
        ) from None


def _delimiter(header: str) -> str:
    return ";" if header.count(";") >= header.count(",") else ","


def parse_ticketing_text(text: str) -> list[TicketingLine]:
    """The lines of the file's text (see the module docstring); TicketingFileError when unusable."""
    first_line = text.lstrip("\ufeff").split("\n", 1)[0]
    if not first_line.strip():
        raise TicketingFileError(_("le fichier est vide : une ligne d'en-tête nommant les colonnes est attendue"))
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff"), newline=""), delimiter=_delimiter(first_line))
    header = next(reader, None) or []
    wanted = {fold(alias): name for name, aliases in COLUMNS.items() for alias in aliases}
    positions: dict[str, int] = {}
    for index, cell in enumerate(header):
        name = wanted.get(fold(cell))
        if name is not None and name not in positions:
            positions[name] = index
    missing = [COLUMNS[name][0] for name in REQUIRED if name not in positions]
    if "performance" not in positions and not {"show", "start"} <= set(positions):
        missing.append("performance (ou show + start)")
    if missing:
        raise TicketingFileError(
            _("colonnes indispensables absentes de l'en-tête : %(columns)s") % {"columns": ", ".join(missing)}
        )
    lines: list[TicketingLine] = []
    for cells in reader:
        if not any(cell.strip() for cell in cells):
            continue
        values = {name: (cells[index].strip() if index < len(cells) else "") for name, index in positions.items()}
        lines.append(TicketingLine(reader.line_num, values))
    if not lines:
        raise TicketingFileError(_("le fichier ne contient aucune ligne de chiffres après l'en-tête"))
    return lines
