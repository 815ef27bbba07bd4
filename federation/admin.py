"""Admin of the outbox (French): who was notified of what, what failed, and « Rejouer »."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from federation import outbox
from federation.models import FeedReader, OutboxMessage


@admin.register(OutboxMessage)
class OutboxMessageAdmin(admin.ModelAdmin):
    """Read-only: messages are written by `federation.outbox.enqueue`; operators only replay them."""

    list_display = ("created_at", "kind", "destination", "state", "attempts", "next_attempt_at", "delivered_at")
    list_filter = ("state", "kind")
    search_fields = ("kind", "destination", "id")
    date_hierarchy = "created_at"
    actions = ["replay"]
    readonly_fields = (
        "id",
        "kind",
        "destination",
        "payload",
        "created_at",
        "state",
        "attempts",
        "next_attempt_at",
        "last_error",
        "delivered_at",
    )

    @admin.action(description=_("Rejouer (notifications en échec ou abandonnées)"))
    def replay(self, request: HttpRequest, queryset: QuerySet[OutboxMessage]) -> None:
        count = outbox.replay(queryset)
        skipped = queryset.count() - count
        self.message_user(
            request,
            ngettext(
                "%(count)d notification remise en file d'attente.",
                "%(count)d notifications remises en file d'attente.",
                count,
            )
            % {"count": count},
            messages.SUCCESS,
        )
        if skipped > 0:
            self.message_user(
                request,
                _("Seules les notifications en échec ou abandonnées sont rejouées (%(skipped)d ignorée(s)).")
                % {"skipped": skipped},
                messages.WARNING,
            )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(FeedReader)
class FeedReaderAdmin(admin.ModelAdmin):
    """Peer nodes that read the change feed (they receive withdrawal notices)."""

    list_display = ("node", "client_id", "last_read_at")
    search_fields = ("node", "client_id")
    readonly_fields = ("client_id", "node", "last_read_at")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
