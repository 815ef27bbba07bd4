"""The journal and its seals in the admin, read-only: nothing can be added, changed or deleted."""

from __future__ import annotations

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from dataspace.audit.models import JournalEntry, JournalSeal
from dataspace.records.admin import ReadOnlyAdmin

WHO_FIELDS = ("username", "user_id", "organisation_name", "organisation_id", "licence_number", "client_id", "node")
WHAT_FIELDS = ("stream", "at", "action", "record_type", "record_ids", "owner_id", "subject_person_id", "purpose")


@admin.register(JournalEntry)
class JournalEntryAdmin(ReadOnlyAdmin):
    list_display = (
        "seq",
        "at",
        "stream",
        "action",
        "decision",
        "reason_code",
        "username",
        "organisation_name",
        "licence_number",
        "client_id",
        "record_type",
        "purpose",
    )
    list_filter = ("stream", "decision", "action", "purpose", "record_type")
    search_fields = ("=seq", "username", "organisation_name", "=licence_number", "=client_id", "=owner_id")
    date_hierarchy = "at"
    list_per_page = 100
    show_full_result_count = False
    actions = None
    fieldsets = (
        (_("Qui"), {"fields": WHO_FIELDS}),
        (_("Quoi"), {"fields": WHAT_FIELDS}),
        (_("Décision"), {"fields": ("decision", "reason_code", "reason", "details")}),
        (_("Chaînage"), {"fields": ("seq", "prev_hash", "hash")}),
    )


@admin.register(JournalSeal)
class JournalSealAdmin(ReadOnlyAdmin):
    list_display = ("seq", "signed_at", "hash", "kid")
    date_hierarchy = "signed_at"
    list_per_page = 100
    actions = None
    fields = ("seq", "hash", "signed_at", "kid", "jws")
