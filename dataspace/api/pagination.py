"""Cursor pagination: stable under concurrent writes, opaque cursors, bounded page size.

Answers carry `next` / `previous` in the body and the same links in a `Link` header (RFC 8288),
so that renderings without a body envelope (JSON-LD `@graph`, CSV pages) can still be paged.
A malformed cursor or page size is a 400; a page size above `max_page_size` is capped.
"""

from __future__ import annotations

from typing import Any

from rest_framework import pagination
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response


class CursorPagination(pagination.CursorPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500
    ordering = ("-created_at", "id")
    # An unknown or malformed cursor is a 400 (DRF raises NotFound by default).
    invalid_cursor_message = "Invalid cursor."

    def decode_cursor(self, request: Request) -> Any:
        try:
            cursor = super().decode_cursor(request)
        except NotFound:
            cursor = None
        else:
            # DRF decodes junk leniently into an empty cursor; one it issued always holds a position or offset.
            if cursor is None or cursor.position is not None or cursor.offset or cursor.reverse:
                return cursor
        raise ValidationError({self.cursor_query_param: [self.invalid_cursor_message]})

    def get_page_size(self, request: Request) -> int:
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None or raw == "":
            return self.page_size
        try:
            value = int(raw)
        except ValueError:
            value = 0
        if value < 1:
            raise ValidationError(
                {self.page_size_query_param: [f"A positive integer (at most {self.max_page_size}) is expected."]}
            )
        return min(value, self.max_page_size)

    def link_header(self) -> str | None:
        links = []
        next_link, previous_link = self.get_next_link(), self.get_previous_link()
        if next_link:
            links.append(f'<{next_link}>; rel="next"')
        if previous_link:
            links.append(f'<{previous_link}>; rel="prev"')
        return ", ".join(links) or None

    def get_paginated_response(self, data: Any) -> Response:
        response = super().get_paginated_response(data)
        link = self.link_header()
        if link:
            response["Link"] = link
        return response
