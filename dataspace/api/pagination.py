"""Cursor pagination: stable under concurrent writes, opaque cursors, bounded page size."""

from __future__ import annotations

from rest_framework import pagination


class CursorPagination(pagination.CursorPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500
    ordering = ("-created_at", "id")
    # An unknown or malformed cursor is a 400 (DRF raises NotFound by default).
    invalid_cursor_message = "Invalid cursor."

    def decode_cursor(self, request):  # type: ignore[no-untyped-def]
        from rest_framework.exceptions import NotFound, ValidationError

        try:
            return super().decode_cursor(request)
        except NotFound:
            raise ValidationError({self.cursor_query_param: [self.invalid_cursor_message]}) from None
