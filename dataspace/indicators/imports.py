"""Importing a CSV of ticketing figures: all lines or none (`import_ticketing`).

Every line is typed, its performances found and the figures checked against the rules of
`dataspace.indicators.services.check_figures` before anything is written; one bad line refuses the
whole file (`ImportRefused`, listing every bad line with its number and field), so a corrected file
can simply be sent again. Lines re-sending an external id already held update that row: importing
the same file twice changes nothing the second time.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils.translation import gettext as _

from dataspace.indicators import services
from dataspace.indicators.models import TicketingFigures
from dataspace.indicators.ticketing_file import SERIES_SEPARATOR, TicketingLine, decode, parse_ticketing_text
from dataspace.referentials.models import Organisation, Performance

_SPACES = re.compile(r"[\s\u00a0\u202f']+")
_UUID_IN_URI = re.compile(r"([0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12})/?$")
_LOCAL_FORMATS = ("%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S", "%d/%m/%Y %H:%M", "%d/%m/%Y %Hh%M", "%d/%m/%Y %H:%M:%S")


@dataclass(frozen=True)
class LineError:
    """One refused line: its number in the file (header = 1), the field at fault, the reason (French)."""

    line: int
    field: str
    error: str

    def __str__(self) -> str:
        return _("ligne %(line)s, %(field)s : %(error)s") % {
            "line": self.line,
            "field": self.field,
            "error": self.error,
        }


@dataclass
class ImportReport:
    """What an import wrote: rows created, updated, and lines that changed nothing."""

    lines: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    figure_ids: list[uuid.UUID] = field(default_factory=list)


class ImportRefused(ValueError):
    """The file has bad lines; nothing was written. `errors` lists every one of them."""

    def __init__(self, errors: list[LineError]) -> None:
        super().__init__("; ".join(str(error) for error in errors))
        self.errors = errors


class _CellError(ValueError):
    def __init__(self, name: str, message: str) -> None:
        super().__init__(message)
        self.name = name


# ---------------------------------------------------------------------------- cells


def parse_count(raw: str, name: str, *, required: bool = False) -> int:
    """A ticket count ("1 234" allowed); empty is 0 unless required."""
    text = _SPACES.sub("", raw or "")
    if not text:
        if required:
            raise _CellError(name, _("valeur obligatoire"))
        return 0
    if not re.fullmatch(r"-?\d+", text):
        raise _CellError(name, _("« %(value)s » n'est pas un nombre entier") % {"value": raw})
    return int(text)


def parse_amount(raw: str, name: str, *, required: bool = False) -> Decimal:
    """Euros: "1234.50", "1 234,50", "1.234,50", "1234 €"; empty is 0 unless required."""
    text = _SPACES.sub("", (raw or "").replace("€", ""))
    if not text:
        if required:
            raise _CellError(name, _("valeur obligatoire"))
        return Decimal("0.00")
    if "," in text and "." in text:
        decimal_mark = "," if text.rindex(",") > text.rindex(".") else "."
        text = text.replace("." if decimal_mark == "," else ",", "")
    text = text.replace(",", ".")
    try:
        amount = Decimal(text)
    except InvalidOperation:
        raise _CellError(name, _("« %(value)s » n'est pas un montant en euros") % {"value": raw}) from None
    if not amount.is_finite():
        raise _CellError(name, _("« %(value)s » n'est pas un montant en euros") % {"value": raw})
    return amount


def parse_performance_ids(raw: str) -> list[uuid.UUID]:
    """UUIDs or URIs of performances, `|`-separated."""
    ids: list[uuid.UUID] = []
    for token in (part.strip() for part in raw.split(SERIES_SEPARATOR)):
        if not token:
            continue
        match = _UUID_IN_URI.search(token)
        if match is None:
            raise _CellError(
                "performance",
                _("« %(value)s » n'est ni un identifiant ni une URI de représentation") % {"value": token},
            )
        ids.append(uuid.UUID(match.group(1)))
    if not ids:
        raise _CellError("performance", _("valeur obligatoire"))
    return ids


def parse_start(raw: str) -> dt.datetime:
    """A start: ISO 8601 with an offset (aware), or a local date and time (naive, matched against the
    performance's own time zone)."""
    text = " ".join(raw.replace("T", " ").split())
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        parsed = None
    if parsed is None:
        for pattern in _LOCAL_FORMATS:
            try:
                parsed = dt.datetime.strptime(text, pattern)
            except ValueError:
                continue
            break
    if parsed is None:
        raise _CellError(
            "start",
            _("date « %(value)s » illisible (attendu : 2026-10-03 20:00 ou 03/10/2026 20:00)") % {"value": raw},
        )
    return parsed.replace(second=0, microsecond=0)


def _same_title(a: str, b: str) -> bool:
    return " ".join(a.casefold().split()) == " ".join(b.casefold().split())


def _local_minute(performance: Performance) -> dt.datetime:
    try:
        zone = zoneinfo.ZoneInfo(performance.time_zone or str(settings.NODE_TIME_ZONE))
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        zone = zoneinfo.ZoneInfo(str(settings.NODE_TIME_ZONE))
    return performance.start.astimezone(zone).replace(tzinfo=None, second=0, microsecond=0)


# ---------------------------------------------------------------------------- finding the performances


@dataclass
class _Typed:
    line: TicketingLine
    ids: list[uuid.UUID] = field(default_factory=list)
    show: str = ""
    starts: list[dt.datetime] = field(default_factory=list)
    values: dict[str, Any] = field(default_factory=dict)


def _type_line(line: TicketingLine) -> tuple[_Typed, list[LineError]]:
    typed, errors = _Typed(line), []
    cells = line.cells

    def attempt(parse: Callable[[], Any], name: str) -> None:
        try:
            typed.values[name] = parse()
        except _CellError as exc:
            errors.append(LineError(line.line, exc.name, str(exc)))

    attempt(lambda: cells.get("external_id", "").strip(), "external_id")
    attempt(lambda: cells.get("ticketing_system", "").strip(), "ticketing_system")
    attempt(lambda: parse_count(cells.get("tickets_total", ""), "tickets_total", required=True), "tickets_total")
    for name in services.PART_FIELDS:
        attempt(lambda name=name: parse_count(cells.get(name, ""), name), name)  # type: ignore[misc]
    attempt(lambda: parse_amount(cells.get("receipts_total", ""), "receipts_total", required=True), "receipts_total")
    attempt(lambda: parse_amount(cells.get("receipts_full_price", ""), "receipts_full_price"), "receipts_full_price")
    capacity = cells.get("capacity", "").strip()
    if capacity:
        attempt(lambda: parse_count(capacity, "capacity"), "capacity")
    try:
        if cells.get("performance", "").strip():
            typed.ids = parse_performance_ids(cells["performance"])
        else:
            typed.show = cells.get("show", "").strip()
            if not typed.show:
                raise _CellError("show", _("indiquez la représentation (performance) ou le spectacle et la date"))
            typed.starts = [
                parse_start(part) for part in cells.get("start", "").split(SERIES_SEPARATOR) if part.strip()
            ]
            if not typed.starts:
                raise _CellError("start", _("valeur obligatoire"))
    except _CellError as exc:
        errors.append(LineError(line.line, exc.name, str(exc)))
    return typed, errors


def _candidates_by_start(typed: list[_Typed], owner: Organisation | None) -> list[Performance]:
    """Performances that may match the show + start lines (one query over the span of their dates)."""
    moments = [start for item in typed for start in item.starts]
    if not moments:
        return []
    naive = [moment.replace(tzinfo=None) for moment in moments]
    low = dt.datetime.combine(min(naive).date() - dt.timedelta(days=1), dt.time(0), tzinfo=dt.UTC)
    high = dt.datetime.combine(max(naive).date() + dt.timedelta(days=2), dt.time(0), tzinfo=dt.UTC)
    queryset = Performance.objects.select_related("production", "hall", "hall__venue", "owner").filter(
        start__gte=low, start__lt=high
    )
    if owner is not None:
        queryset = queryset.filter(owner=owner)
    return list(queryset)


def _match(item: _Typed, start: dt.datetime, candidates: list[Performance]) -> list[Performance]:
    found = []
    for performance in candidates:
        if not _same_title(performance.production.title, item.show):
            continue
        if start.tzinfo is not None:
            if performance.start.replace(second=0, microsecond=0) == start:
                found.append(performance)
        elif _local_minute(performance) == start:
            found.append(performance)
    return found


def _resolve(typed: list[_Typed], owner: Organisation | None) -> tuple[dict[int, list[Performance]], list[LineError]]:
    """The performances of each line (by line number), and the lines where they cannot be found."""
    errors: list[LineError] = []
    by_id = {p.pk: p for p in services.performances_for({pk for item in typed for pk in item.ids})}
    candidates = _candidates_by_start(typed, owner)
    found: dict[int, list[Performance]] = {}
    for item in typed:
        number, performances = item.line.line, []
        for pk in item.ids:
            performance = by_id.get(pk)
            if performance is None:
                errors.append(LineError(number, "performance", _("représentation %(id)s inconnue") % {"id": pk}))
            else:
                performances.append(performance)
        for start in item.starts:
            matches = _match(item, start, candidates)
            when = start.strftime("%d/%m/%Y %H:%M")
            if not matches:
                errors.append(
                    LineError(
                        number,
                        "start",
                        _("aucune représentation de « %(show)s » le %(when)s") % {"show": item.show, "when": when},
                    )
                )
            elif len(matches) > 1:
                errors.append(
                    LineError(
                        number,
                        "start",
                        _("plusieurs représentations de « %(show)s » le %(when)s : indiquez leur identifiant")
                        % {"show": item.show, "when": when},
                    )
                )
            else:
                performances.append(matches[0])
        found[number] = performances
    return found, errors


# ---------------------------------------------------------------------------- the file


def _owner_errors(
    number: int,
    performances: list[Performance],
    owner: Organisation | None,
    may_write: Callable[[Organisation], bool] | None,
) -> list[LineError]:
    errors = []
    for performance in performances:
        if owner is not None and performance.owner_id != owner.pk:
            errors.append(
                LineError(
                    number,
                    "performance",
                    _("la représentation %(id)s appartient à une autre structure (%(other)s)")
                    % {"id": performance.pk, "other": performance.owner},
                )
            )
        elif may_write is not None and not may_write(performance.owner):
            errors.append(
                LineError(
                    number,
                    "performance",
                    _("vous ne pouvez pas déclarer les chiffres de %(other)s") % {"other": performance.owner},
                )
            )
    return errors


def check_lines(
    lines: list[TicketingLine],
    *,
    owner: Organisation | None = None,
    may_write: Callable[[Organisation], bool] | None = None,
) -> tuple[list[services.FiguresInput], list[LineError]]:
    """Every line typed and checked (nothing written): the inputs, and every refused line."""
    typed_lines, errors = [], []
    for line in lines:
        typed, line_errors = _type_line(line)
        typed_lines.append(typed)
        errors.extend(line_errors)
    performances, resolve_errors = _resolve(typed_lines, owner)
    errors.extend(resolve_errors)
    failed = {error.line for error in errors}
    inputs: list[services.FiguresInput] = []
    seen_ids: dict[tuple[Any, str], int] = {}
    seen_performances: dict[uuid.UUID, int] = {}
    for typed in typed_lines:
        number = typed.line.line
        if number in failed:
            continue
        covered = performances[number]
        owner_errors = _owner_errors(number, covered, owner, may_write)
        if owner_errors:
            errors.extend(owner_errors)
            continue
        data = services.FiguresInput(performances=covered, **typed.values)
        try:
            row_owner = services.owner_of(covered)
        except services.FiguresError as exc:
            errors.extend(LineError(number, name, " ".join(msgs)) for name, msgs in exc.errors.items())
            continue
        key = (row_owner.pk, data.external_id)
        if key in seen_ids:
            errors.append(
                LineError(
                    number,
                    "external_id",
                    _("identifiant « %(id)s » en double (déjà ligne %(first)s)")
                    % {"id": data.external_id, "first": seen_ids[key]},
                )
            )
            continue
        seen_ids[key] = number
        twice = [p for p in covered if p.pk in seen_performances]
        if twice:
            errors.append(
                LineError(
                    number,
                    "performance",
                    _("la représentation %(id)s est déjà déclarée ligne %(first)s")
                    % {"id": twice[0].pk, "first": seen_performances[twice[0].pk]},
                )
            )
            continue
        seen_performances.update((p.pk, number) for p in covered)
        current = TicketingFigures.objects.filter(owner=row_owner, external_id=data.external_id.strip()).first()
        try:
            services.check_figures(data, current=current)
        except services.FiguresError as exc:
            errors.extend(LineError(number, name, " ".join(msgs)) for name, msgs in exc.errors.items())
            continue
        inputs.append(data)
    return inputs, sorted(errors, key=lambda error: (error.line, error.field))


def import_ticketing(
    data: bytes,
    *,
    owner: Organisation | None = None,
    may_write: Callable[[Organisation], bool] | None = None,
) -> ImportReport:
    """Import a CSV file (bytes) of figures, all lines or none.

    `owner`: every line must be about that structure's performances; `may_write(organisation)`:
    every line must be about performances of a structure the caller may write for. Raises
    `TicketingFileError` when the file is unusable and `ImportRefused` (nothing written) when any
    line is bad.
    """
    lines = parse_ticketing_text(decode(data))
    inputs, errors = check_lines(lines, owner=owner, may_write=may_write)
    if errors:
        raise ImportRefused(errors)
    report = ImportReport(lines=len(lines))
    numbers = [line.line for line in lines]
    with transaction.atomic():
        for number, item in zip(numbers, inputs, strict=True):
            try:
                figures, outcome = services.record_figures(item)
            except services.FiguresError as exc:  # changed under our feet: the whole file is refused
                raise ImportRefused(
                    [LineError(number, name, " ".join(msgs)) for name, msgs in exc.errors.items()]
                ) from None
            report.figure_ids.append(figures.pk)
            if outcome == services.CREATED:
                report.created += 1
            elif outcome == services.UPDATED:
                report.updated += 1
            else:
                report.unchanged += 1
    return report
