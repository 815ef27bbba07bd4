"""The change feed, read-only: what this node published, in commit order."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from django.contrib import admin
from django.db import models
from django.http import HttpRequest

from dataspace.records.models import Change


class ReadOnlyAdmin(admin.ModelAdmin):
    """An admin page that shows history: nothing can be added, changed or deleted from it."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Change)
class ChangeAdmin(ReadOnlyAdmin):
    list_display = ("seq", "changed_at", "op", "record_type", "version", "record_id", "uri")
    list_filter = ("op", "record_type")
    search_fields = ("=record_id", "uri")
    date_hierarchy = "changed_at"
    list_per_page = 100
    show_full_result_count = False
    formfield_overrides: ClassVar[Mapping[type[models.Field[Any, Any]], Mapping[str, Any]]] = {
        models.URLField: {"assume_scheme": "https"}
    }
