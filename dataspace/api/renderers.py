"""JSON-LD and CSV renderings of API answers.

Views produce plain JSON through their serializers; these renderers ask the view for the
other forms (`view.jsonld(data)`, `view.csv_columns()`), so the mapping lives beside each model.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from rest_framework import renderers


class JSONLDRenderer(renderers.BaseRenderer):
    media_type = "application/ld+json"
    format = "jsonld"
    charset = "utf-8"

    def render(self, data: Any, accepted_media_type: str | None = None, renderer_context: Any = None) -> bytes:
        context = renderer_context or {}
        view = context.get("view")
        response = context.get("response")
        document = data
        if response is not None and response.status_code < 400 and hasattr(view, "jsonld"):
            document = view.jsonld(data)
        return json.dumps(document, ensure_ascii=False).encode("utf-8")


class CSVRenderer(renderers.BaseRenderer):
    """`?format=csv&fields=a,b` renders a collection page as CSV with those columns."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data: Any, accepted_media_type: str | None = None, renderer_context: Any = None) -> bytes:
        context = renderer_context or {}
        view = context.get("view")
        response = context.get("response")
        if response is not None and response.status_code >= 400:
            return json.dumps(data, ensure_ascii=False).encode("utf-8")
        rows = data.get("results", data) if isinstance(data, dict) else data
        if isinstance(rows, dict):
            rows = [rows]
        columns = view.csv_columns() if hasattr(view, "csv_columns") else sorted({k for row in rows for k in row})
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(columns)
        for row in rows:
            writer.writerow([_cell(row.get(column)) for column in columns])
        return buffer.getvalue().encode("utf-8")


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)
