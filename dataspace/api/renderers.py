"""JSON-LD and CSV renderings of API answers.

Views produce plain JSON through their serializers; these renderers ask the view for the
other forms (`view.jsonld(data)`, `view.csv_columns()`), so the mapping lives beside each model.
Error bodies (status >= 400) are always rendered as the plain JSON error document; an empty
answer (304, 204) renders as an empty body.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from django.http import StreamingHttpResponse
from django.utils import timezone
from rest_framework import renderers
from rest_framework.utils.encoders import JSONEncoder

#: Leading characters that make spreadsheet software evaluate a cell as a formula (CSV injection).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def _is_error(renderer_context: Any) -> bool:
    response = (renderer_context or {}).get("response")
    return response is not None and response.status_code >= 400


class JSONLDRenderer(renderers.BaseRenderer):
    media_type = "application/ld+json"
    format = "jsonld"
    charset = "utf-8"

    def render(self, data: Any, accepted_media_type: str | None = None, renderer_context: Any = None) -> bytes:
        if data is None:
            return b""
        view = (renderer_context or {}).get("view")
        document = data
        if view is not None and not _is_error(renderer_context) and hasattr(view, "jsonld"):
            document = view.jsonld(data)
        return json.dumps(document, ensure_ascii=False, cls=JSONEncoder).encode("utf-8")


class CSVRenderer(renderers.BaseRenderer):
    """`?format=csv&fields=a,b` renders a collection (or one record) as CSV with those columns."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data: Any, accepted_media_type: str | None = None, renderer_context: Any = None) -> bytes:
        if data is None:
            return b""
        view = (renderer_context or {}).get("view")
        if _is_error(renderer_context):
            return json.dumps(data, ensure_ascii=False, cls=JSONEncoder).encode("utf-8")
        rows = data.get("results", data) if isinstance(data, dict) else data
        if isinstance(rows, dict):
            rows = [rows]
        columns = (
            view.csv_columns()
            if view is not None and hasattr(view, "csv_columns")
            else sorted({k for row in rows for k in row})
        )
        return render_csv(columns, rows).encode("utf-8")


def render_csv(columns: list[str], rows: Any) -> str:
    """A CSV text with a header line, one line per row (a mapping), `columns` in that order."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(columns)
    for row in rows:
        writer.writerow([csv_cell(row.get(column)) for column in columns])
    return buffer.getvalue()


def stream_csv(columns: list[str], rows: Iterable[Mapping[str, Any]], name: str | None = None) -> StreamingHttpResponse:
    """A whole export streamed as CSV: the header line, then one line per row as `rows` yields it
    (a lazy iterable keeps memory flat). With `name`, the attachment header of `csv_attachment`."""

    def lines() -> Iterator[str]:
        buffer = _Line()
        writer = csv.writer(buffer)
        writer.writerow(columns)
        yield buffer.take()
        for row in rows:
            writer.writerow([csv_cell(row.get(column)) for column in columns])
            yield buffer.take()

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    if name is not None:
        response["Content-Disposition"] = csv_attachment(name)
    return response


def csv_attachment(name: str) -> str:
    """The Content-Disposition of a CSV download: `<name>-<UTC timestamp>.csv`."""
    stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
    return f'attachment; filename="{name}-{stamp}.csv"'


class _Line:
    """A write-only file for csv.writer that hands back what was written since the last take()."""

    def __init__(self) -> None:
        self.parts: list[str] = []

    def write(self, text: str) -> int:
        self.parts.append(text)
        return len(text)

    def take(self) -> str:
        text, self.parts = "".join(self.parts), []
        return text


def csv_cell(value: Any) -> str:
    """One cell: lists and objects as JSON; text that a spreadsheet would run as a formula is quoted."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False, cls=JSONEncoder)
    text = str(value)
    if text.startswith(FORMULA_PREFIXES) and not _is_number(text):
        return "'" + text
    return text


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
