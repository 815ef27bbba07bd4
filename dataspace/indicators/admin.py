"""Admin of ticketing figures and declarations: each staff member sees their structures' only.

Figures are deposited by ticketing software (API) or imported (CSV): the admin shows them and lets
the structure's editors delete a wrong row or prepare the quarter's declaration from a selection.
Declarations are approved here (action « Approuver »), by an administrator of the structure only.
On a ministry node, the indicator catalogue: a version is published here and never edited afterwards
(only activated or deactivated); a new version starts from an existing one.
"""

from __future__ import annotations

import uuid
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _

from dataspace.indicators import catalogue, declarations, services
from dataspace.indicators.models import Declaration, IndicatorDefinition, TicketingFigures


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


# ---------------------------------------------------------------------------- indicator catalogue (ministry node)


class IndicatorDefinitionForm(forms.ModelForm):
    """A new version: dimensions as checkboxes, the computation as JSON (validated by the model)."""

    dimensions = forms.MultipleChoiceField(
        label=_("dimensions autorisées"),
        choices=[(name, label) for name, label in catalogue.DIMENSION_LABELS.items()],
        widget=forms.CheckboxSelectMultiple,
        required=False,
    )

    class Meta:
        model = IndicatorDefinition
        fields = ("code", "label", "definition", "unit", "period_rule", "dimensions", "computation", "change_note")
        help_texts = {
            "computation": _(
                'Somme : {"op": "sum", "measure": "attendance"} ; rapport : {"op": "ratio", "num": "receipts", '
                '"den": "paying_tickets", "decimals": 2} ; part en pour cent : {"op": "share", "num": "attendance", '
                '"den": "capacity", "decimals": 1}. Mesures : %(measures)s.'
            )
            % {"measures": ", ".join(catalogue.MEASURE_LABELS)},
        }


@admin.register(IndicatorDefinition)
class IndicatorDefinitionAdmin(admin.ModelAdmin):
    form = IndicatorDefinitionForm
    list_display = ("code", "version", "label", "unit", "period_rule", "active", "current_display", "created_at")
    list_filter = ("active", "unit", "period_rule", "code")
    search_fields = ("code", "label")
    ordering = ("code", "-version")
    actions = ["activate", "deactivate"]
    _SHOWN = (
        "code",
        "version",
        "label",
        "definition",
        "unit",
        "period_rule",
        "dimensions_display",
        "computation",
        "change_note",
        "created_at",
        "created_by",
        "updated_at",
        "new_version_link",
    )

    def has_module_permission(self, request: HttpRequest) -> bool:
        return catalogue.is_ministry_node() and super().has_module_permission(request)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return catalogue.is_ministry_node() and super().has_view_permission(request, obj)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return catalogue.is_ministry_node() and super().has_add_permission(request)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return catalogue.is_ministry_node() and super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # versions are kept: published figures name the version they used

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            return IndicatorDefinitionForm.Meta.fields
        return ("active", *self._SHOWN)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return () if obj is None else self._SHOWN

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, Any]:
        """`?from=<id>`: a new version starts from that one."""
        initial: dict[str, Any] = super().get_changeform_initial_data(request)
        initial.pop("from", None)
        source_id = _uuid(request.GET.get("from"))
        source = IndicatorDefinition.objects.filter(pk=source_id).first() if source_id else None
        if source is not None:
            for name in IndicatorDefinitionForm.Meta.fields:
                initial[name] = getattr(source, name)
            initial["change_note"] = ""
        return initial

    def save_model(self, request: HttpRequest, obj: IndicatorDefinition, form: Any, change: bool) -> None:
        if change:
            obj.save(update_fields=["active"])
            return
        obj.created_by = request.user.get_username()
        obj.save()

    @admin.display(description=_("courante"), boolean=True)
    def current_display(self, obj: IndicatorDefinition) -> bool:
        current = catalogue.current_definition(obj.code)
        return current is not None and current.pk == obj.pk

    @admin.display(description=_("dimensions autorisées"))
    def dimensions_display(self, obj: IndicatorDefinition) -> str:
        return ", ".join(str(catalogue.DIMENSION_LABELS.get(name, name)) for name in obj.dimensions) or "—"

    @admin.display(description=_("nouvelle version"))
    def new_version_link(self, obj: IndicatorDefinition) -> str:
        url = reverse("admin:indicators_indicatordefinition_add") + f"?from={obj.pk}"
        return format_html('<a href="{}">{}</a>', url, _("Publier une nouvelle version à partir de celle-ci"))

    @admin.action(description=_("Activer les versions sélectionnées"))
    def activate(self, request: HttpRequest, queryset: QuerySet[IndicatorDefinition]) -> None:
        self._set_active(request, queryset, True)

    @admin.action(description=_("Désactiver les versions sélectionnées (la courante devient la plus haute active)"))
    def deactivate(self, request: HttpRequest, queryset: QuerySet[IndicatorDefinition]) -> None:
        self._set_active(request, queryset, False)

    def _set_active(self, request: HttpRequest, queryset: QuerySet[IndicatorDefinition], active: bool) -> None:
        changed = 0
        for definition in queryset:
            if definition.active != active:
                definition.active = active
                definition.save(update_fields=["active"])
                changed += 1
        self.message_user(request, _("%(count)s version(s) modifiée(s).") % {"count": changed}, messages.SUCCESS)


def _uuid(text: str | None) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(text))
    except ValueError:
        return None
