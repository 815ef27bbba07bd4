"""A campaign's published tables laid out for people: the dashboard page, the CSV and the XLSX file.

Everything here reads `Campaign.results` only (docs/indicators.md, "Published results": the
tables as
`campaigns.publish` wrote them, after statistical secrecy), plus the catalogue's definition of each
indicator version for its wording — never a node's partial, never a row of figures. A cell whose
status is not « publié » is shown by its marker (« s » secret primaire, « (s) » secret secondaire)
and never with a number, whatever its `value` says: `publish` writes null there, and this module
does not rely on it (an unknown status counts as secret too).

`published_tables(results)` gives one `Table` per indicator (its cells keyed like the results:
one value per dimension, "total" for a margin, None for an unknown value), with the rows and
columns of a cross table. An inner cell absent from the results had no structure at all: it is
0 for a sum and undefined (« — ») for a ratio or a share.

**CSV** (`results_csv`), written for French spreadsheets: UTF-8 with a byte-order mark (so that
Excel reads the accents), `;` as the separator and a decimal comma without thousands separator
(Excel in French reads « 12,50 » as a number and « 12.50 » as text), CRLF line ends (RFC 4180).
One line per indicator × cell, margins included: campaign, indicator code, label, unit, one column
per dimension (French header; « Total » for a margin, « non renseigné » for an unknown value),
value (empty when hidden or undefined), status (« publié », « secret primaire », « secret
secondaire »), reason, as-of date, sources. Text that a spreadsheet would run as a formula is
quoted (`dataspace.api.renderers.csv_cell`).

**XLSX** (`results_xlsx`, openpyxl): one sheet per indicator (label, unit, definition, period, then
the table: one figure, a list with its total, or a cross table with row and column totals and the
grand total — the published margins, never formulas that would add visible cells), numbers as
numbers with a display format, hidden cells holding their marker as text with the reason in a
comment, and a sheet « Sources et règles »: provenance, as-of, missing nodes, secrecy rules and the
legend. Text cells are stored as text, so nothing in them ever runs as a formula.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from django.db.models import Q
from django.utils import formats, timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.translation import gettext as _
from django.utils.translation import ngettext, pgettext

from dataspace.api.renderers import csv_cell
from dataspace.indicators.catalogue import DIMENSION_LABELS
from dataspace.indicators.models import Campaign, CampaignNode, IndicatorDefinition
from dataspace.indicators.secrecy import PRIMARY, PUBLISHED, SECONDARY, TOTAL
from dataspace.referentials.models import Discipline, Venue

#: A margin's value in a key of the results ("every value of this dimension").
TOTAL_KEY: str = TOTAL.value
#: What a hidden cell shows instead of its value.
MARKERS: dict[str, str] = {PRIMARY: "s", SECONDARY: "(s)"}
#: An undefined value (a ratio over zero: n.d.).
UNDEFINED = "—"
#: Units of the results (docs/indicators.md, "Published results": "count", "euros", "percent") or
#: of the catalogue, in euros and
#: in per cent.
EURO_UNITS = frozenset({"euros", "euros_per_ticket"})
PERCENT_UNIT = "percent"
#: Units of a ratio or a share, when the catalogue's definition is not found.
RATIO_UNITS = frozenset({"euros_per_ticket", "percent"})
NBSP = "\xa0"
#: The CSV's separator (see the module docstring).
CSV_DELIMITER = ";"


def status_label(status: str) -> str:
    """The French word for a cell's status."""
    labels: dict[str, str] = {
        PUBLISHED: _("publié"),
        PRIMARY: _("secret primaire"),
        SECONDARY: _("secret secondaire"),
    }
    return labels.get(status, labels[PRIMARY])


def unit_label(unit: str) -> str:
    """The unit in words (the catalogue's label; « nombre » for a plain count)."""
    if unit in IndicatorDefinition.Unit.values:
        return str(IndicatorDefinition.Unit(unit).label)
    return _("nombre")


def dimension_label(name: str) -> str:
    return str(DIMENSION_LABELS.get(name, name))


def dimension_value_label(name: str, value: Any) -> str:
    """A dimension's value in words: « Total » for a margin, « non renseigné » for an unknown value,
    the French label of a discipline or a venue type, « octobre 2026 » for a month, « T4 2026 » for
    a quarter, the region or département as it is."""
    if value == TOTAL_KEY:
        return _("Total")
    if value is None or value == "":
        return _("non renseigné")
    text = str(value)
    if name == "discipline" and text in Discipline.values:
        return str(Discipline(text).label)
    if name == "venue_type" and text in Venue.VenueType.values:
        return str(Venue.VenueType(text).label)
    if name == "month":
        month = parse_date(f"{text}-01") if re.fullmatch(r"\d{4}-\d{2}", text) else None
        if month is not None:
            return str(formats.date_format(month, "YEAR_MONTH_FORMAT"))
    if name == "quarter":
        match = re.fullmatch(r"(\d{4})-T([1-4])", text)
        if match:
            return pgettext("a calendar quarter", "T%(quarter)s %(year)s") % {
                "quarter": match.group(2),
                "year": match.group(1),
            }
    return text


def _decimal(value: Any) -> Decimal | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def _places(value: Decimal) -> int:
    exponent = value.as_tuple().exponent
    return -exponent if isinstance(exponent, int) and exponent < 0 else 0


def format_number(value: Decimal, unit: str, decimals: int) -> str:
    """A value the French way (in the active language's format): « 1 234 », « 12,50 € », « 45,3 % »."""
    rounded = value.quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_UP)
    text = str(formats.number_format(rounded, decimal_pos=decimals, use_l10n=True, force_grouping=True))
    if unit in EURO_UNITS:
        return f"{text}{NBSP}€"
    if unit == PERCENT_UNIT:
        return f"{text}{NBSP}%"
    return text


def parse_moment(value: Any) -> dt.datetime | None:
    """An ISO 8601 instant of the results as an aware datetime in the node's time zone."""
    moment = parse_datetime(value) if isinstance(value, str) else None
    if moment is None:
        return None
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment, dt.UTC)
    return timezone.localtime(moment)


def moment_text(value: Any) -> str:
    """« 30 novembre 2026 17:20 » (the active language's date format), "" when unknown."""
    moment = parse_moment(value)
    return str(formats.date_format(moment, "DATETIME_FORMAT")) if moment else ""


# ---------------------------------------------------------------------------- the tables


@dataclass(frozen=True)
class Cell:
    """One published cell. `value` is None when the cell is hidden, undefined or has no number."""

    status: str
    value: Decimal | None
    reason: str = ""
    #: Absent from the results: no structure in this cell (0 for a sum, undefined for a ratio).
    absent: bool = False

    @property
    def hidden(self) -> bool:
        return self.status != PUBLISHED

    @property
    def marker(self) -> str:
        return MARKERS.get(self.status, MARKERS[PRIMARY]) if self.hidden else ""

    @property
    def undefined(self) -> bool:
        return not self.hidden and self.value is None

    @property
    def status_text(self) -> str:
        return status_label(self.status)

    @property
    def explanation(self) -> str:
        """« secret primaire : moins de 3 structures » for a hidden cell, « sans objet » when undefined."""
        if self.hidden:
            reason = self.reason or ""
            label = self.status_text
            return f"{label} : {reason}" if reason and reason != label else label
        if self.undefined:
            return _("sans objet (dénominateur nul)")
        return ""


def _cell(document: Mapping[str, Any]) -> Cell:
    status = document.get("status")
    reason = str(document.get("reason") or "")
    if status == PUBLISHED:
        return Cell(status=PUBLISHED, value=_decimal(document.get("value")), reason=reason)
    # Anything but "published" is secret, and a secret cell never carries a number.
    return Cell(status=status if status in MARKERS else PRIMARY, value=None, reason=reason)


@dataclass
class Table:
    """One indicator's published table (see the module docstring)."""

    code: str
    version: int | None
    label: str
    definition: str
    unit: str
    #: The unit in words (« euros par billet payant »).
    unit_label: str
    #: A ratio or a share (an absent cell is undefined, not 0).
    ratio: bool
    decimals: int
    dimensions: tuple[str, ...]
    cells: dict[tuple[Any, ...], Cell]
    #: The cells' keys in the results' order (margins after the values they sum).
    order: list[tuple[Any, ...]]
    rows: list[tuple[Any, str]] = field(default_factory=list)
    columns: list[tuple[Any, str]] = field(default_factory=list)

    @property
    def dimension_labels(self) -> list[str]:
        return [dimension_label(name) for name in self.dimensions]

    def cell(self, *key: Any) -> Cell:
        """The cell of `key`; an absent inner cell is 0 (a sum) or undefined (a ratio)."""
        found = self.cells.get(tuple(key))
        if found is not None:
            return found
        return Cell(status=PUBLISHED, value=None if self.ratio else Decimal(0), absent=True)

    def has(self, *key: Any) -> bool:
        return tuple(key) in self.cells

    def text(self, cell: Cell) -> str:
        """What a reader sees in the cell: the formatted value, its marker, or « — »."""
        if cell.hidden:
            return cell.marker
        if cell.value is None:
            return UNDEFINED
        return format_number(cell.value, self.unit, self.decimals)

    def key_labels(self, key: Sequence[Any]) -> list[str]:
        return [dimension_value_label(name, value) for name, value in zip(self.dimensions, key, strict=False)]

    @property
    def statuses(self) -> set[str]:
        """The markers' statuses present in the table, and "undefined" when a value is « — »."""
        seen = {cell.status for cell in self.cells.values() if cell.hidden}
        if any(cell.undefined for cell in self.cells.values()) or (
            self.ratio and len(self.dimensions) == 2 and self._has_absent_inner()
        ):
            seen.add("undefined")
        return seen

    def _has_absent_inner(self) -> bool:
        return any(not self.has(row, column) for row, _label in self.rows for column, _c in self.columns)


def column_header(table: Table) -> str:
    """« Fréquentation, en entrées (billets) »: the value column's header."""
    return _("%(label)s, en %(unit)s") % {"label": table.label, "unit": table.unit_label}


def _decimals(entry: Mapping[str, Any], unit: str, cells: Iterable[Cell]) -> int:
    declared = entry.get("decimals")
    if isinstance(declared, int) and not isinstance(declared, bool) and 0 <= declared <= 6:
        places = declared
    else:
        places = max((_places(cell.value) for cell in cells if cell.value is not None), default=0)
    return max(places, 2) if unit in EURO_UNITS else places


def _axis(keys: Iterable[tuple[Any, ...]], position: int, name: str) -> list[tuple[Any, str]]:
    seen: list[Any] = []
    for key in keys:
        value = key[position]
        if value != TOTAL_KEY and value not in seen:
            seen.append(value)
    return [(value, dimension_value_label(name, value)) for value in seen]


def definitions_of(results: Mapping[str, Any]) -> dict[tuple[str, int], IndicatorDefinition]:
    """The catalogue versions the results name, by (code, version), in one query."""
    wanted = Q(pk__in=[])
    for entry in results.get("indicators") or []:
        if isinstance(entry, Mapping) and isinstance(entry.get("code"), str) and isinstance(entry.get("version"), int):
            wanted |= Q(code=entry["code"], version=entry["version"])
    return {(item.code, item.version): item for item in IndicatorDefinition.objects.filter(wanted)}


def published_tables(
    results: Mapping[str, Any] | None, definitions: Mapping[tuple[str, int], IndicatorDefinition] | None = None
) -> list[Table]:
    """One Table per indicator of the results (malformed cells are left out, never guessed)."""
    if not results:
        return []
    if definitions is None:
        definitions = definitions_of(results)
    dimensions = tuple(str(name) for name in results.get("dimensions") or [])
    tables: list[Table] = []
    for entry in results.get("indicators") or []:
        if not isinstance(entry, Mapping):
            continue
        cells: dict[tuple[Any, ...], Cell] = {}
        order: list[tuple[Any, ...]] = []
        for document in entry.get("cells") or []:
            key = document.get("key") if isinstance(document, Mapping) else None
            if not isinstance(key, list) or len(key) != len(dimensions):
                continue
            normalised = tuple(None if value is None else str(value) for value in key)
            if normalised not in cells:
                order.append(normalised)
            cells[normalised] = _cell(document)
        code = str(entry.get("code") or "")
        version = entry.get("version") if isinstance(entry.get("version"), int) else None
        definition = definitions.get((code, version)) if version is not None else None
        unit = str(entry.get("unit") or (definition.unit if definition else ""))
        if definition is not None:
            ratio = (definition.computation or {}).get("op") in ("ratio", "share")
            words = unit_label(definition.unit)
        else:
            ratio, words = unit in RATIO_UNITS, unit_label(unit)
        table = Table(
            code=code,
            version=version,
            label=str(entry.get("label") or (definition.label if definition else code)),
            definition=definition.definition if definition else "",
            unit=unit,
            unit_label=str(entry.get("unit_label") or words),
            ratio=ratio,
            decimals=_decimals(entry, unit, cells.values()),
            dimensions=dimensions,
            cells=cells,
            order=order,
        )
        if dimensions:
            table.rows = _axis(order, 0, dimensions[0])
        if len(dimensions) >= 2:
            table.columns = _axis(order, 1, dimensions[1])
        tables.append(table)
    return tables


# ---------------------------------------------------------------------------- sources and rules


@dataclass(frozen=True)
class Source:
    node: str
    name: str
    as_of: str
    structures: int | None


@dataclass(frozen=True)
class Missing:
    node: str
    name: str
    state: str
    detail: str


def node_state_label(state: str) -> str:
    if state in CampaignNode.State.values:
        return str(CampaignNode.State(state).label)
    return state


def sources(results: Mapping[str, Any]) -> list[Source]:
    found: list[Source] = []
    for item in results.get("provenance") or []:
        if isinstance(item, Mapping):
            count = item.get("structures")
            found.append(
                Source(
                    node=str(item.get("node") or ""),
                    name=str(item.get("name") or item.get("node") or ""),
                    as_of=str(item.get("as_of") or ""),
                    structures=count if isinstance(count, int) and not isinstance(count, bool) else None,
                )
            )
    return found


def missing_nodes(results: Mapping[str, Any]) -> list[Missing]:
    return [
        Missing(
            node=str(item.get("node") or ""),
            name=str(item.get("name") or item.get("node") or ""),
            state=node_state_label(str(item.get("state") or "")),
            detail=str(item.get("detail") or ""),
        )
        for item in results.get("missing") or []
        if isinstance(item, Mapping)
    ]


def structures_text(count: int | None) -> str:
    if count is None:
        return _("nombre de structures inconnu")
    return ngettext("%(count)d structure", "%(count)d structures", count) % {"count": count}


def sources_text(results: Mapping[str, Any]) -> str:
    """« Scène A (4 structures), Scène B (2 structures) »."""
    return ", ".join(f"{source.name} ({structures_text(source.structures)})" for source in sources(results))


@dataclass(frozen=True)
class Rules:
    min_contributors: int | None
    dominance_percent: str

    @property
    def primary_text(self) -> str:
        return _(
            "« s » secret primaire : la case compte moins de %(count)s structures, ou une seule structure y "
            "représente plus de %(percent)s %% de la valeur ; elle n'est pas publiée."
        ) % {
            "count": self.min_contributors if self.min_contributors is not None else "?",
            "percent": self.dominance_percent,
        }

    @property
    def secondary_text(self) -> str:
        return _(
            "« (s) » secret secondaire : case masquée en plus pour qu'aucune case en secret primaire ne puisse "
            "être retrouvée par addition ou soustraction des cases publiées et des totaux."
        )

    @staticmethod
    def undefined_text() -> str:
        return _("« — » sans objet (n.d.) : rapport dont le dénominateur est nul, par exemple aucun billet payant.")


def rules(results: Mapping[str, Any]) -> Rules:
    raw = results.get("rules")
    document: Mapping[str, Any] = raw if isinstance(raw, Mapping) else {}
    count = document.get("min_contributors")
    dominance = _decimal(document.get("dominance"))
    percent = ""
    if dominance is not None:
        percent = format((dominance * 100).normalize(), "f")
        percent = str(formats.number_format(Decimal(percent), use_l10n=True))
    return Rules(
        min_contributors=count if isinstance(count, int) and not isinstance(count, bool) else None,
        dominance_percent=percent or "?",
    )


def period_text(results: Mapping[str, Any] | None, campaign: Campaign) -> str:
    """« du 1 octobre 2026 au 31 décembre 2026 »."""
    start, end = campaign.period_start, campaign.period_end
    period = (results or {}).get("period")
    if isinstance(period, Mapping):
        start = parse_date(str(period.get("start") or "")) or start
        end = parse_date(str(period.get("end") or "")) or end
    return _("du %(start)s au %(end)s") % {
        "start": formats.date_format(start, "DATE_FORMAT"),
        "end": formats.date_format(end, "DATE_FORMAT"),
    }


# ---------------------------------------------------------------------------- CSV


def _csv_number(value: Decimal) -> str:
    """« 1234 », « 15432,50 »: exact, decimal comma, no grouping (read as a number by French Excel)."""
    return format(value, "f").replace(".", ",")


def _csv_moment(value: Any) -> str:
    moment = parse_moment(value)
    return moment.strftime("%d/%m/%Y %H:%M") if moment else ""


def results_csv(campaign: Campaign) -> str:
    """The published tables as CSV text (module docstring), BOM included; only the header line
    when nothing is published yet."""
    results = campaign.results or {}
    tables = published_tables(results)
    dimensions = [str(name) for name in results.get("dimensions") or campaign.dimensions or []]
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=CSV_DELIMITER, lineterminator="\r\n")
    writer.writerow(
        [
            _("campagne"),
            _("code indicateur"),
            _("indicateur"),
            _("unité"),
            *[dimension_label(name) for name in dimensions],
            _("valeur"),
            _("statut"),
            _("motif"),
            _("données au"),
            _("sources"),
        ]
    )
    as_of = _csv_moment(results.get("as_of"))
    provenance = sources_text(results)
    for table in tables:
        for key in table.order:
            cell = table.cells[key]
            value = "" if cell.hidden or cell.value is None else _csv_number(cell.value)
            reason = cell.reason if cell.hidden else (_("sans objet (dénominateur nul)") if cell.undefined else "")
            row = [
                campaign.title,
                table.code,
                table.label,
                table.unit_label,
                *table.key_labels(key),
                value,
                cell.status_text,
                reason,
                as_of,
                provenance,
            ]
            writer.writerow([csv_cell(item) for item in row])
    return "\ufeff" + buffer.getvalue()


# ---------------------------------------------------------------------------- XLSX

_SHEET_FORBIDDEN = re.compile(r"[\[\]:*?/\\]")
_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def _sheet_title(label: str, taken: set[str]) -> str:
    base = _SHEET_FORBIDDEN.sub(" ", label).strip().strip("'") or "Indicateur"
    base = base[:31]
    title, number = base, 2
    while title.casefold() in taken:
        suffix = f" ({number})"
        title, number = base[: 31 - len(suffix)] + suffix, number + 1
    taken.add(title.casefold())
    return title


def _number_format(unit: str, decimals: int) -> str:
    digits = "#,##0" + ("." + "0" * decimals if decimals else "")
    if unit in EURO_UNITS:
        return f'{digits}\\ "€"'
    if unit == PERCENT_UNIT:
        return f'{digits}\\ "%"'  # the value is already in per cent (45.3), not a fraction
    return digits


class _Sheet:
    """Writes rows into a worksheet; text is always text (never a formula), numbers are numbers."""

    def __init__(self, worksheet: Any) -> None:
        self.sheet = worksheet
        self.row = 1

    def put(self, row: int, column: int, value: Any, *, bold: bool = False, number_format: str = "") -> Any:
        from openpyxl.styles import Font

        cell = self.sheet.cell(row=row, column=column)
        if isinstance(value, str):
            cell.value = _ILLEGAL.sub(" ", value)
            cell.data_type = "s"  # "=…" stays text: openpyxl would otherwise store a formula
        else:
            cell.value = value
        if bold:
            cell.font = Font(bold=True)
        if number_format:
            cell.number_format = number_format
        return cell

    def line(self, *values: Any, bold: bool = False) -> None:
        for column, value in enumerate(values, start=1):
            if value is not None:
                self.put(self.row, column, value, bold=bold)
        self.row += 1

    def skip(self) -> None:
        self.row += 1


def _write_value(sheet: _Sheet, row: int, column: int, table: Table, cell: Cell, *, bold: bool = False) -> None:
    from openpyxl.comments import Comment

    if cell.hidden:
        target = sheet.put(row, column, cell.marker, bold=bold)
        target.comment = Comment(cell.explanation, "Scène Commune")
    elif cell.value is None:
        target = sheet.put(row, column, UNDEFINED, bold=bold)
        target.comment = Comment(cell.explanation, "Scène Commune")
    else:
        number: int | Decimal = (
            int(cell.value) if table.decimals == 0 and cell.value == cell.value.to_integral() else cell.value
        )
        sheet.put(row, column, number, bold=bold, number_format=_number_format(table.unit, table.decimals))


def _write_table(sheet: _Sheet, table: Table) -> None:
    dimensions = table.dimensions
    header = column_header(table)
    if not dimensions:
        sheet.line("", header, bold=True)
        sheet.put(sheet.row, 1, _("Ensemble"))
        _write_value(sheet, sheet.row, 2, table, table.cell())
        sheet.row += 1
        return
    if len(dimensions) == 1:
        sheet.line(dimension_label(dimensions[0]).capitalize(), header, bold=True)
        for value, label in table.rows:
            sheet.put(sheet.row, 1, label)
            _write_value(sheet, sheet.row, 2, table, table.cell(value))
            sheet.row += 1
        if table.has(TOTAL_KEY):
            sheet.put(sheet.row, 1, _("Total"), bold=True)
            _write_value(sheet, sheet.row, 2, table, table.cell(TOTAL_KEY), bold=True)
            sheet.row += 1
        return
    corner = _("%(rows)s (lignes) × %(columns)s (colonnes)") % {
        "rows": dimension_label(dimensions[0]),
        "columns": dimension_label(dimensions[1]),
    }
    sheet.line(corner.capitalize(), *[label for _value, label in table.columns], _("Total"), bold=True)
    for value, label in table.rows:
        sheet.put(sheet.row, 1, label)
        for index, (column, _label) in enumerate(table.columns, start=2):
            _write_value(sheet, sheet.row, index, table, table.cell(value, column))
        _write_value(sheet, sheet.row, len(table.columns) + 2, table, table.cell(value, TOTAL_KEY), bold=True)
        sheet.row += 1
    sheet.put(sheet.row, 1, _("Total"), bold=True)
    for index, (column, _label) in enumerate(table.columns, start=2):
        _write_value(sheet, sheet.row, index, table, table.cell(TOTAL_KEY, column), bold=True)
    _write_value(sheet, sheet.row, len(table.columns) + 2, table, table.cell(TOTAL_KEY, TOTAL_KEY), bold=True)
    sheet.row += 1


def _legend(sheet: _Sheet, table: Table, rule_set: Rules) -> None:
    statuses = table.statuses
    if not statuses:
        return
    sheet.skip()
    sheet.line(_("Légende"), bold=True)
    if PRIMARY in statuses:
        sheet.line(rule_set.primary_text)
    if SECONDARY in statuses:
        sheet.line(rule_set.secondary_text)
    if "undefined" in statuses:
        sheet.line(Rules.undefined_text())


def _naive(value: Any) -> dt.datetime | None:
    moment = parse_moment(value)
    return moment.replace(tzinfo=None) if moment else None


def _sources_sheet(sheet: _Sheet, campaign: Campaign, results: Mapping[str, Any], rule_set: Rules) -> None:
    date_format = "dd/mm/yyyy hh:mm"
    sheet.line(_("Sources et règles"), bold=True)
    sheet.line(_("Campagne"), campaign.title)
    sheet.line(_("Période"), period_text(results, campaign))
    dimensions = [dimension_label(str(name)) for name in results.get("dimensions") or []]
    sheet.line(_("Dimensions"), ", ".join(dimensions) if dimensions else _("aucune (un seul chiffre)"))
    for label, key in ((_("Données au"), "as_of"), (_("Calculé le"), "computed_at")):
        sheet.put(sheet.row, 1, label)
        moment = _naive(results.get(key))
        if moment is not None:
            sheet.put(sheet.row, 2, moment, number_format=date_format)
        sheet.row += 1
    raw_nodes = results.get("nodes")
    nodes: Mapping[str, Any] = raw_nodes if isinstance(raw_nodes, Mapping) else {}
    sheet.put(sheet.row, 1, _("Nœuds ayant répondu"))
    for column, key in ((2, "answered"), (3, "total")):
        if isinstance(nodes.get(key), int):
            sheet.put(sheet.row, column, nodes[key])
    sheet.row += 1
    sheet.skip()
    sheet.line(_("Provenance"), bold=True)
    sheet.line(_("Nœud"), _("Adresse"), _("Données au"), _("Structures comptées"), bold=True)
    for source in sources(results):
        sheet.put(sheet.row, 1, source.name)
        sheet.put(sheet.row, 2, source.node)
        moment = _naive(source.as_of)
        if moment is not None:
            sheet.put(sheet.row, 3, moment, number_format=date_format)
        if source.structures is not None:
            sheet.put(sheet.row, 4, source.structures)
        sheet.row += 1
    sheet.skip()
    sheet.line(_("Nœuds manquants"), bold=True)
    absent = missing_nodes(results)
    if absent:
        sheet.line(_("Nœud"), _("Adresse"), _("État"), _("Détail"), bold=True)
        for item in absent:
            sheet.line(item.name, item.node, item.state, item.detail)
    else:
        sheet.line(_("Aucun : tous les nœuds interrogés ont répondu."))
    sheet.skip()
    sheet.line(_("Règles du secret statistique"), bold=True)
    sheet.put(sheet.row, 1, _("Structures au moins par case"))
    if rule_set.min_contributors is not None:
        sheet.put(sheet.row, 2, rule_set.min_contributors)
    sheet.row += 1
    sheet.line(_("Part maximale d'une structure (%)"), rule_set.dominance_percent)
    sheet.line(rule_set.primary_text)
    sheet.line(rule_set.secondary_text)
    sheet.line(Rules.undefined_text())
    sheet.line(
        _(
            "Une case masquée est vide : elle porte sa marque (« s » ou « (s) ») et son motif en commentaire, "
            "jamais sa valeur."
        )
    )


def results_xlsx(campaign: Campaign) -> bytes:
    """The published tables as an .xlsx workbook (module docstring)."""
    from openpyxl import Workbook

    results = campaign.results or {}
    rule_set = rules(results)
    workbook = Workbook()
    default = workbook.active
    if default is not None:
        workbook.remove(default)
    taken: set[str] = {_("Sources et règles").casefold()}
    for table in published_tables(results):
        sheet = _Sheet(workbook.create_sheet(_sheet_title(table.label, taken)))
        sheet.line(table.label, bold=True)
        sheet.line(_("Code"), f"{table.code} v{table.version}" if table.version is not None else table.code)
        sheet.line(_("Unité"), table.unit_label)
        if table.definition:
            sheet.line(_("Définition"), table.definition)
        sheet.line(_("Période"), period_text(results, campaign))
        sheet.line(_("Données au"), moment_text(results.get("as_of")))
        sheet.skip()
        _write_table(sheet, table)
        _legend(sheet, table, rule_set)
        sheet.sheet.column_dimensions["A"].width = 34
    sources_sheet = _Sheet(workbook.create_sheet(_("Sources et règles")))
    _sources_sheet(sources_sheet, campaign, results, rule_set)
    sources_sheet.sheet.column_dimensions["A"].width = 40
    sources_sheet.sheet.column_dimensions["B"].width = 40
    output = io.BytesIO()
    workbook.save(output)
    return output.getvalue()
