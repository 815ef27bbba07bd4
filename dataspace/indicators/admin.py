"""Admin of ticketing figures and declarations: each staff member sees their structures' only.

Figures are deposited by ticketing software (API) or imported (CSV): the admin shows them and lets
the structure's editors delete a wrong row or prepare the quarter's declaration from a selection.
Declarations are approved here (action « Approuver »), by an administrator of the structure only.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _

from dataspace.indicators import declarations, services
from dataspace.indicators.models import Declaration, TicketingFigures


class _ScopedAdmin(admin.ModelAdmin):
    """Rows of the structures the person is staff of (every structure for a superuser)."""

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        owners = services.readable_owner_ids(user=request.user)
        return owners is None or (bool(owners) and (obj is None or obj.owner_id in owners))

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self.has_view_permission(request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def _may_write(self, request: HttpRequest, obj: Any) -> bool:
        owners = services.writable_owner_ids(user=request.user)
        if owners is None:
            return True
        return bool(owners) if obj is None else obj.owner_id in owners


@admin.register(TicketingFigures)
class TicketingFiguresAdmin(_ScopedAdmin):
    list_display = (
        "external_id",
        "production",
        "first_date",
        "performance_count",
        "quarter",
        "tickets_total",
        "receipts_total",
        "average_price_display",
        "owner",
    )
    list_filter = ("quarter", "young_audience", "ticketing_system")
    search_fields = ("external_id", "production__title")
    ordering = ("-first_date", "external_id")
    actions = ["prepare_declarations"]
    fields = (
        "owner",
        "external_id",
        "ticketing_system",
        "production",
        "venue",
        "first_date",
        "last_date",
        "quarter",
        "performance_count",
        "young_audience",
        "accessible_performances",
        "capacity",
        "tickets_total",
        "tickets_full_price",
        "tickets_subscription",
        "tickets_exempt",
        "receipts_total",
        "receipts_full_price",
        "average_price_display",
        "average_full_price_display",
        "version",
        "created_at",
        "updated_at",
    )
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> QuerySet[TicketingFigures]:
        return services.figures_of(services.readable_owner_ids(user=request.user))

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._may_write(request, obj)

    @admin.display(description=_("prix moyen (€)"))
    def average_price_display(self, obj: TicketingFigures) -> str:
        price = obj.average_price
        return "—" if price is None else f"{price:.2f}"

    @admin.display(description=_("prix moyen plein tarif (€)"))
    def average_full_price_display(self, obj: TicketingFigures) -> str:
        price = obj.average_full_price
        return "—" if price is None else f"{price:.2f}"

    @admin.action(description=_("Préparer la déclaration du trimestre de ces chiffres"))
    def prepare_declarations(self, request: HttpRequest, queryset: QuerySet[TicketingFigures]) -> None:
        writable = services.writable_owner_ids(user=request.user)
        pairs = sorted(
            {(figures.owner, figures.quarter) for figures in queryset.select_related("owner")},
            key=lambda pair: (pair[0].name, pair[1]),
        )
        for owner, quarter in pairs:
            if writable is not None and owner.pk not in writable:
                self.message_user(
                    request,
                    _("%(owner)s : il faut le rôle éditeur ou administrateur pour préparer une déclaration.")
                    % {"owner": owner},
                    messages.ERROR,
                )
                continue
            declaration = declarations.prepare_declaration(owner, quarter, by=request.user.get_username())
            self.message_user(
                request,
                _("Déclaration %(quarter)s de %(owner)s préparée (%(lines)s lignes) : elle attend l'approbation.")
                % {"quarter": quarter, "owner": owner, "lines": declaration.line_count},
                messages.SUCCESS,
            )

    def delete_model(self, request: HttpRequest, obj: TicketingFigures) -> None:
        services.delete_figures(obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[TicketingFigures]) -> None:
        for figures in queryset:
            services.delete_figures(figures)


@admin.register(Declaration)
class DeclarationAdmin(_ScopedAdmin):
    list_display = ("quarter", "owner", "status", "line_count", "prepared_at", "approved_by", "approved_at")
    list_filter = ("status", "quarter")
    actions = ["approve"]
    fields = (
        "owner",
        "quarter",
        "status",
        "prepared_at",
        "prepared_by",
        "line_count",
        "totals_display",
        "sha256",
        "approved_by",
        "approved_at",
        "exported_at",
        "exported_by",
        "download_link",
        "preview",
    )
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> QuerySet[Declaration]:
        queryset: QuerySet[Declaration] = declarations.declarations_of(services.readable_owner_ids(user=request.user))
        return queryset

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # A draft may be dropped by the structure's editors; an approved declaration is kept (it was journaled).
        return self._may_write(request, obj) and (obj is None or obj.status == Declaration.Status.DRAFT)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Declaration]) -> None:
        queryset.filter(status=Declaration.Status.DRAFT).delete()

    @admin.display(description=_("totaux"))
    def totals_display(self, obj: Declaration) -> str:
        return format_html_join(", ", "{}&nbsp;: {}", sorted((obj.totals or {}).items()))

    @admin.display(description=_("téléchargement"))
    def download_link(self, obj: Declaration) -> str:
        if not obj.is_approved:
            return str(_("après approbation seulement"))
        url = reverse("ticketing-declarations-download", kwargs={"pk": str(obj.pk)})
        return format_html('<a href="{}">{}</a>', url, obj.filename)

    @admin.display(description=_("contenu (ce qui sortira du nœud)"))
    def preview(self, obj: Declaration) -> str:
        rows = declarations.read_declaration(obj.content)
        if not rows:
            return str(_("aucune ligne : pas de chiffres pour ce trimestre"))
        header = format_html_join("", "<th>{}</th>", ((name,) for name in declarations.COLUMN_NAMES))
        names = declarations.COLUMN_NAMES
        cells = [format_html_join("", "<td>{}</td>", ((row.get(name, ""),) for name in names)) for row in rows]
        body = format_html_join("", "<tr>{}</tr>", ((line,) for line in cells))
        return format_html('<div style="overflow:auto"><table><tr>{}</tr>{}</table></div>', header, body)

    @admin.action(description=_("Approuver les déclarations sélectionnées (administrateur·rice de la structure)"))
    def approve(self, request: HttpRequest, queryset: QuerySet[Declaration]) -> None:
        from django.core.exceptions import PermissionDenied

        for declaration in queryset.select_related("owner"):
            try:
                declarations.approve_declaration(declaration, by=request.user)
            except PermissionDenied as exc:
                self.message_user(request, f"{declaration} : {exc}", messages.ERROR)
            except declarations.DeclarationConflict as exc:
                reason = " ".join(message for texts in exc.errors.values() for message in texts)
                self.message_user(request, f"{declaration} : {reason}", messages.WARNING)
            else:
                self.message_user(
                    request, _("%(declaration)s approuvée.") % {"declaration": declaration}, messages.SUCCESS
                )
