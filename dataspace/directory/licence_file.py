"""Reading the ministry's open-data list of licences (DOMAIN.md, "Licence d'entrepreneur…").

The file is a `;`-separated CSV, UTF-8 (with or without BOM) or Latin-1, with a header line naming
the columns. `read_licence_file` turns it into `LicenceRow`s and `RowError`s (one per refused line,
with its line number: the header is line 1); a file it cannot use at all raises `LicenceFileError`.
Nothing here touches the database: `dataspace.directory.services.import_licences` writes.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.utils.translation import gettext as _

from dataspace.directory.models import LICENCE_NUMBER_RE, Licence
from dataspace.textfiles import NotText, decode_text

#: Our field -> the ministry's column (matched case-insensitively; other columns are ignored).
COLUMNS: dict[str, str] = {
    "number": "numero_de_recepisse",
    "deposited_on": "date_de_depot_de_la_declaration_inscrite_sur_le_recepisse",
    "status": "statut_du_recepisse",
    "category": "categorie",
    "kind": "type",
    "valid_until": "date_de_validite_du_recepisse_sauf_opposition_de_l_administration",
    "declarant_type": "type_de_declarant",
    "holder_name": "raison_sociale_personne_morale_ou_nom_personne_physique",
    "postal_code": "code_postal_de_l_etablissement_principal_personne_morale_ou_de_la_personne_physique",
    "siren_siret": "siren_personne_physique_siret_personne_morale",
    "naf": "code_naf_ape",
    "venue_name": "nom_du_lieu",
    "venue_postal_code": "code_postal_du_lieu",
    "region": "region",
    "departement": "departement",
}
#: Without these the file cannot say which licences exist and whether they are in force.
ESSENTIAL = ("number", "status", "category", "deposited_on", "valid_until")
#: Free-text fields and the length the model keeps.
TEXT_FIELDS = (
    "declarant_type",
    "holder_name",
    "postal_code",
    "naf",
    "venue_name",
    "venue_postal_code",
    "region",
    "departement",
)

_STATUSES: dict[str, str] = {
    "valide": Licence.Status.VALID,
    "validé": Licence.Status.VALID,
    "en instruction": Licence.Status.PENDING,
    "en cours d'instruction": Licence.Status.PENDING,
    # "Invalide" (refused) and "Invalidé" (withdrawn) differ only by the accent: it is kept.
    "invalide": Licence.Status.REFUSED,
    "invalidé": Licence.Status.WITHDRAWN,
    "invalidée": Licence.Status.WITHDRAWN,
    "invalide retire": Licence.Status.WITHDRAWN,  # our own value, "invalide_retire"
    "expiré": Licence.Status.EXPIRED,
    "expirée": Licence.Status.EXPIRED,
    "expire": Licence.Status.EXPIRED,
    "expiree": Licence.Status.EXPIRED,
}
_KINDS: dict[str, str] = {
    "d": Licence.Kind.FIRST,
    "declaration": Licence.Kind.FIRST,
    "r": Licence.Kind.RENEWAL,
}
_DASHES = dict.fromkeys(map(ord, "‐‑‒–—―−"), "-")
_CATEGORY_RE = re.compile(r"^(?:cat[eé]gorie\s*)?([123])(?:\.0+)?$")


class LicenceFileError(ValueError):
    """The file cannot be imported at all (missing, not text, missing columns); the message says why."""


@dataclass(frozen=True)
class LicenceRow:
    """One line of the file, normalised; `values` holds every model field the file sets."""

    line: int
    values: dict[str, Any]

    @property
    def number(self) -> str:
        return str(self.values["number"])


@dataclass(frozen=True)
class RowError:
    line: int
    error: str


@dataclass
class LicenceFile:
    rows: list[LicenceRow] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)


class RowInvalid(ValueError):
    """One value of a row is unusable; the message is the French sentence reported for the line."""


# ---------------------------------------------------------------------------- values


def _fold(value: str) -> str:
    """Lower case, accents dropped, separators as single spaces (for tolerant matching)."""
    decomposed = unicodedata.normalize("NFKD", value.strip().lower())
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(re.sub(r"[_\-]+", " ", plain).split())


def normalise_number(raw: str) -> tuple[str, int | None, str]:
    """`(number, category from its prefix or None, kind D/R)`; raises RowInvalid on a bad number.

    Spaces are removed, dashes unified, letters upper-cased; the category prefix is kept.
    """
    number = "".join(raw.translate(_DASHES).split()).upper()
    match = LICENCE_NUMBER_RE.match(number)
    if not match:
        raise RowInvalid(
            _(
                "numéro de récépissé « %(value)s » invalide (format attendu : PLATESV-D-2021-013704 ou "
                "PLATESV-R-…, préfixe 1-, 2- ou 3- facultatif)"
            )
            % {"value": raw.strip()}
        )
    prefix = match.group("prefix")
    return number, int(prefix) if prefix else None, match.group("kind")


def parse_status(raw: str) -> str:
    text = unicodedata.normalize("NFC", raw.strip().lower())
    text = " ".join(re.sub(r"[_\-]+", " ", text).split())
    status = _STATUSES.get(text)
    if status is None and _fold(text) in {"valide", "en instruction", "en cours d'instruction", "expire", "expiree"}:
        status = _STATUSES[_fold(text)]  # accents may be dropped where no other status is meant
    if status is None:
        raise RowInvalid(
            _("statut « %(value)s » inconnu (attendu : Valide, En instruction, Invalide, Invalidé)")
            % {"value": raw.strip()}
        )
    return str(status)


def parse_category(raw: str) -> int | None:
    text = raw.strip().lower()
    if not text:
        return None
    match = _CATEGORY_RE.match(text)
    if not match:
        raise RowInvalid(_("catégorie « %(value)s » invalide (attendu : 1, 2 ou 3)") % {"value": raw.strip()})
    return int(match.group(1))


def parse_kind(raw: str) -> str | None:
    """D, R, or None for an empty or unrecognised text (the number then decides)."""
    text = _fold(raw)
    if text.startswith("renouvellement"):
        return str(Licence.Kind.RENEWAL)
    if text.startswith(("premiere", "nouvelle")):
        return str(Licence.Kind.FIRST)
    kind = _KINDS.get(text)
    return str(kind) if kind is not None else None


def parse_date(raw: str, column: str) -> dt.date | None:
    """ISO `yyyy-mm-dd` (a time part is ignored) or `dd/mm/yyyy`; empty gives None."""
    text = raw.strip()
    if not text:
        return None
    try:
        if re.match(r"^\d{4}-\d{2}-\d{2}", text):
            return dt.date.fromisoformat(text[:10])
        if re.match(r"^\d{1,2}/\d{1,2}/\d{4}$", text):
            day, month, year = (int(part) for part in text.split("/"))
            return dt.date(year, month, day)
    except ValueError:
        pass
    raise RowInvalid(
        _("date « %(value)s » invalide dans la colonne %(column)s (attendu : aaaa-mm-jj ou jj/mm/aaaa)")
        % {"value": text, "column": column}
    )


def parse_siren_siret(raw: str) -> str:
    digits = re.sub(r"[\s.]", "", raw)
    if digits and not (digits.isdigit() and len(digits) in (9, 14)):
        raise RowInvalid(_("SIREN/SIRET « %(value)s » invalide (9 ou 14 chiffres attendus)") % {"value": raw.strip()})
    return digits


def parse_row(cells: dict[str, str]) -> dict[str, Any]:
    """The model values of one row (`cells`: our field name -> raw text); raises RowInvalid."""
    number, prefix_category, kind = normalise_number(cells.get("number", ""))
    category = parse_category(cells.get("category", ""))
    if category is not None and prefix_category is not None and category != prefix_category:
        raise RowInvalid(
            _("le préfixe du numéro %(number)s (catégorie %(prefix)s) contredit la colonne categorie (%(category)s)")
            % {"number": number, "prefix": prefix_category, "category": category}
        )
    category = category or prefix_category
    if category is None:
        raise RowInvalid(_("catégorie manquante (ni colonne categorie ni préfixe 1-, 2- ou 3- au numéro)"))
    stated_kind = parse_kind(cells.get("kind", ""))
    if stated_kind is not None and stated_kind != kind:
        raise RowInvalid(
            _("la colonne type (« %(value)s ») contredit le numéro %(number)s")
            % {"value": cells.get("kind", "").strip(), "number": number}
        )
    values: dict[str, Any] = {
        "number": number,
        "category": category,
        "kind": kind,
        "status": parse_status(cells.get("status", "")),
        "deposited_on": parse_date(cells.get("deposited_on", ""), COLUMNS["deposited_on"]),
        "valid_until": parse_date(cells.get("valid_until", ""), COLUMNS["valid_until"]),
        "siren_siret": parse_siren_siret(cells.get("siren_siret", "")),
    }
    for name in TEXT_FIELDS:
        limit = getattr(Licence._meta.get_field(name), "max_length", None) or 0
        values[name] = " ".join(cells.get(name, "").split())[:limit]
    return values


# ---------------------------------------------------------------------------- the file


def decode(data: bytes) -> str:
    """UTF-8 (BOM or not), else Windows-1252 / Latin-1; refuses content that is not text."""
    try:
        return decode_text(data)
    except NotText:
        raise LicenceFileError(
            _(
                "le fichier n'est pas un texte lisible (contenu binaire : un fichier ZIP ou Excel ?) ; "
                "attendu : le CSV du ministère, séparé par « ; », en UTF-8 ou Latin-1"
            )
        ) from None


def parse_licence_text(text: str) -> LicenceFile:
    """Rows and refused lines of the file's text (see the module docstring)."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=";")
    header = next(reader, None)
    if header is None or not any(cell.strip() for cell in header):
        raise LicenceFileError(_("le fichier est vide : une ligne d'en-tête nommant les colonnes est attendue"))
    positions: dict[str, int] = {}
    wanted = {column: name for name, column in COLUMNS.items()}
    for index, cell in enumerate(header):
        name = wanted.get(cell.strip().lstrip("\ufeff").strip('"').lower())
        if name is not None and name not in positions:
            positions[name] = index
    missing = [COLUMNS[name] for name in ESSENTIAL if name not in positions]
    if missing:
        separator_hint = ""
        if len(header) == 1 and ("," in header[0] or "\t" in header[0]):
            separator_hint = " " + _("(le séparateur attendu est « ; »)")
        raise LicenceFileError(
            _("colonnes indispensables absentes de l'en-tête : %(columns)s") % {"columns": ", ".join(missing)}
            + separator_hint
        )
    result = LicenceFile()
    seen: dict[str, int] = {}
    for cells in reader:
        line = reader.line_num
        if not any(cell.strip() for cell in cells):
            continue
        raw = {name: (cells[index] if index < len(cells) else "") for name, index in positions.items()}
        try:
            values = parse_row(raw)
        except RowInvalid as exc:
            result.errors.append(RowError(line, str(exc)))
            continue
        first = seen.get(values["number"])
        if first is not None:
            result.errors.append(
                RowError(line, _("numéro %(number)s en double (déjà ligne %(first)s)") % {
                    "number": values["number"], "first": first,
                })
            )  # fmt: skip
            continue
        seen[values["number"]] = line
        result.rows.append(LicenceRow(line, values))
    return result


def read_licence_file(path: str | Path) -> LicenceFile:
    """Read and parse the file at `path`; raises LicenceFileError when it cannot be used."""
    file_path = Path(path)
    try:
        data = file_path.read_bytes()
    except FileNotFoundError:
        raise LicenceFileError(_("fichier introuvable : %(path)s") % {"path": file_path}) from None
    except IsADirectoryError:
        raise LicenceFileError(_("%(path)s est un dossier, pas un fichier") % {"path": file_path}) from None
    except OSError as exc:
        raise LicenceFileError(
            _("lecture impossible de %(path)s : %(error)s") % {"path": file_path, "error": exc.strerror}
        ) from None
    return parse_licence_text(decode(data))
