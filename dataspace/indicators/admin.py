"""Admin of ticketing figures and declarations: each staff member sees their structures' only.

Figures are deposited by ticketing software (API) or imported (CSV): the admin shows them and lets
the structure's editors delete a wrong row or prepare the quarter's declaration from a selection.
Declarations are approved here (action « Approuver »), by an administrator of the structure only.
The ministry's aggregation requests are reviewed here too: each structure's staff see exactly what
would leave for their structure, and its administrators approve or refuse it; they also give and
revoke standing approvals (`dataspace.indicators.partials`).
On a ministry node, the indicator catalogue: a version is published here and never edited afterwards
(only activated or deactivated); a new version starts from an existing one.
"""

from __future__ import annotations

import uuid
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import quote, unquote
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.dateparse import parse_datetime
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _

from dataspace.indicators import catalogue, declarations, partials, services
from dataspace.indicators.models import (
    AggregationRequest,
    Declaration,
    IndicatorDefinition,
    StandingApproval,
    TicketingFigures,
)
from dataspace.referentials.models import Organisation


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


# ---------------------------------------------------------------------------- aggregation requests (structure node)


def _value_label(dimension: str, value: Any) -> str:
    """A dimension value as a person reads it (a discipline's or a venue type's French name)."""
    if value is None:
        return str(_("non renseigné"))
    from dataspace.referentials.models import Discipline, Venue

    choices = {"discipline": Discipline, "venue_type": Venue.VenueType}.get(dimension)
    if choices is not None and value in choices.values:
        return str(choices(value).label)
    return str(value)


def _grouping_caption(dimensions: list[str]) -> str:
    if not dimensions:
        return str(_("Total de la structure"))
    names = [str(catalogue.DIMENSION_LABELS.get(name, name)) for name in dimensions]
    return str(_("Par %(dimensions)s")) % {"dimensions": str(_(" et ")).join(names)}


def contribution_tables(entry: dict[str, Any], measures: list[str]) -> list[dict[str, Any]]:
    """A structure's stored contribution as tables: one per grouping, one row per cell, the French
    names of the dimensions and measures as headers. Exactly what would leave (values only: each
    cell also leaves with 1 contributor and this structure's value as the largest)."""
    tables = []
    for grouping in entry.get("groupings", []):
        dimensions = list(grouping["dimensions"])
        headers = [str(catalogue.DIMENSION_LABELS.get(name, name)) for name in dimensions] + [
            str(catalogue.MEASURE_LABELS.get(name, name)) for name in measures
        ]
        rows = []
        for cell in grouping["cells"]:
            keys = [_value_label(name, cell["key"].get(name)) for name in dimensions]
            if not dimensions:
                keys = []
            rows.append({"keys": keys, "values": [cell["values"].get(name, "") for name in measures]})
        tables.append(
            {
                "caption": _grouping_caption(dimensions),
                "dimensions": len(dimensions),
                "headers": headers,
                "rows": rows,
            }
        )
    return tables


@admin.register(AggregationRequest)
class AggregationRequestAdmin(admin.ModelAdmin):
    """The ministry's requests: each structure's staff see their structure's contribution, exactly as
    it would leave; one of its administrators approves or refuses it (never the node's operator)."""

    list_display = ("title_display", "ministry", "state", "received_at", "pending_display", "asks")
    list_filter = ("state",)
    ordering = ("-received_at",)
    review_template = "admin/indicators/aggregationrequest/review.html"

    def get_queryset(self, request: HttpRequest) -> QuerySet[AggregationRequest]:
        return partials.requests_for(services.readable_owner_ids(user=request.user))

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if not services.is_structure_node():
            return False  # requests reach structure nodes only
        owners = services.readable_owner_ids(user=request.user)
        if owners is None:
            return True
        return bool(owners) and (obj is None or partials.concerns(obj, owners))

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self.has_view_permission(request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # what left, and why, is kept

    @admin.display(description=_("campagne"), ordering="title")
    def title_display(self, obj: AggregationRequest) -> str:
        return obj.title or str(obj.campaign)

    @admin.display(description=_("structures en attente"))
    def pending_display(self, obj: AggregationRequest) -> int:
        return sum(1 for entry in obj.structures if entry.get("approval") == partials.PENDING)

    def get_urls(self) -> list[URLPattern]:
        info = self.opts.app_label, self.opts.model_name
        decide = path(
            "<path:object_id>/decide/",
            self.admin_site.admin_view(self.decide_view),
            name="{}_{}_decide".format(*info),
        )
        return [decide, *super().get_urls()]

    def _visible(self, request: HttpRequest, object_id: str) -> AggregationRequest:
        obj = self.get_object(request, unquote(object_id))
        if obj is None or not self.has_view_permission(request, obj):
            raise Http404(_("Demande introuvable."))
        return obj

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        """Read-only review: the request, then each readable structure's contribution and, for
        its administrators while it is pending, « Approuver » / « Refuser »."""
        obj = self._visible(request, object_id)
        owners = services.readable_owner_ids(user=request.user)
        shown = [entry for entry in obj.structures if owners is None or uuid.UUID(entry["id"]) in owners]
        organisations = Organisation.objects.in_bulk([uuid.UUID(entry["id"]) for entry in shown])
        ask = obj.request or {}
        measures = [str(name) for name in ask.get("measures", [])]
        sections = []
        for entry in shown:
            owner = organisations.get(uuid.UUID(entry["id"]))
            sections.append(
                {
                    "id": entry["id"],
                    "name": entry.get("name", ""),
                    "approval": entry.get("approval"),
                    "approval_label": partials.APPROVAL_LABELS.get(entry.get("approval"), entry.get("approval")),
                    "decided_by": entry.get("decided_by") or "",
                    "decided_at": parse_datetime(entry["decided_at"]) if entry.get("decided_at") else None,
                    "computed_at": parse_datetime(entry["computed_at"]) if entry.get("computed_at") else None,
                    "reason": entry.get("reason") or "",
                    "sha256": partials.contribution_digest(entry),
                    "may_decide": (
                        obj.state == AggregationRequest.State.PENDING
                        and entry.get("approval") == partials.PENDING
                        and owner is not None
                        and declarations.may_approve(request.user, owner)
                    ),
                    "tables": contribution_tables(entry, measures),
                }
            )
        excluded = [item for item in obj.excluded if owners is None or uuid.UUID(item["id"]) in owners]
        period = ask.get("period", {})
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "app_label": self.opts.app_label,
            "original": obj,
            "title": _("Demande d'agrégats : %(title)s") % {"title": obj.title or obj.campaign},
            "period_start": period.get("start", ""),
            "period_end": period.get("end", ""),
            "dimensions": [str(catalogue.DIMENSION_LABELS.get(n, n)) for n in ask.get("dimensions", [])],
            "measures": [str(catalogue.MEASURE_LABELS.get(n, n)) for n in measures],
            "indicators": ask.get("indicators", []),
            "sections": sections,
            "excluded": excluded,
            "hidden_structures": len(obj.structures) - len(shown),
            "decide_url": reverse(
                f"admin:{self.opts.app_label}_{self.opts.model_name}_decide", args=[quote(str(obj.pk))]
            ),
            **(extra_context or {}),
        }
        return TemplateResponse(request, self.review_template, context)

    def decide_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """POST {structure, decision: approve | refuse, reason}: the structure's administrator decides."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        obj = self._visible(request, object_id)
        back = reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_change", args=[quote(str(obj.pk))])
        owner_id = _uuid(request.POST.get("structure"))
        owner = Organisation.objects.filter(pk=owner_id).first() if owner_id else None
        decision = request.POST.get("decision")
        if owner is None or decision not in ("approve", "refuse"):
            self.message_user(request, _("Décision incomplète : structure et décision attendues."), messages.ERROR)
            return HttpResponseRedirect(back)
        try:
            if decision == "approve":
                partials.approve(obj, owner, by=request.user)
            else:
                partials.refuse(obj, owner, by=request.user, reason=str(request.POST.get("reason", "")))
        except DjangoPermissionDenied as exc:
            self.message_user(request, str(exc), messages.ERROR)
        except partials.AggregationConflict as exc:
            self.message_user(request, str(exc), messages.WARNING)
        else:
            done = _("approuvée") if decision == "approve" else _("refusée")
            self.message_user(
                request,
                _("Part de %(structure)s %(done)s.") % {"structure": owner.name, "done": done},
                messages.SUCCESS,
            )
        return HttpResponseRedirect(back)


class StandingApprovalForm(forms.ModelForm):
    """A standing approval: the structure (one the person administers), the ministry node, until when."""

    ministry = forms.URLField(
        label=_("nœud du ministère"),
        max_length=300,
        required=False,
        assume_scheme="https",
        help_text=_("Vide : tout nœud que la fédération désigne comme celui du ministère."),
    )

    class Meta:
        model = StandingApproval
        fields = ("owner", "ministry", "valid_until", "note")
        help_texts = {"valid_until": _("Vide : jusqu'à révocation.")}

    def clean(self) -> dict[str, Any]:
        cleaned: dict[str, Any] = super().clean() or {}
        try:
            cleaned["ministry"] = partials.check_standing_approval(
                ministry=cleaned.get("ministry") or "", valid_until=cleaned.get("valid_until")
            )
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                self.add_error(field if field in self.fields else None, errors)
        return cleaned


@admin.register(StandingApproval)
class StandingApprovalAdmin(_ScopedAdmin):
    """Standing approvals: given and revoked by an administrator of the structure (journaled)."""

    form = StandingApprovalForm
    list_display = ("owner", "ministry_display", "valid_until", "in_force_display", "created_by", "created_at")
    list_filter = ("revoked_at",)
    actions = ["revoke"]
    readonly_fields = ("owner", "ministry", "valid_until", "note", "created_at", "created_by", "revoked_at")

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return services.is_structure_node() and super().has_view_permission(request, obj)

    def get_queryset(self, request: HttpRequest) -> QuerySet[StandingApproval]:
        queryset = StandingApproval.objects.select_related("owner", "created_by")
        owners = services.readable_owner_ids(user=request.user)
        return queryset if owners is None else queryset.filter(owner_id__in=owners)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return services.is_structure_node() and bool(partials.administered_owner_ids(request.user))

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # revoked, never deleted: the journal names it

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return StandingApprovalForm.Meta.fields if obj is None else self.readonly_fields

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return () if obj is None else self.readonly_fields

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "owner":
            kwargs["queryset"] = Organisation.objects.filter(
                pk__in=partials.administered_owner_ids(request.user)
            ).order_by("name")
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_model(self, request: HttpRequest, obj: StandingApproval, form: Any, change: bool) -> None:
        given = partials.give_standing_approval(
            form.cleaned_data["owner"],
            by=request.user,
            ministry=form.cleaned_data.get("ministry") or "",
            valid_until=form.cleaned_data.get("valid_until"),
            note=form.cleaned_data.get("note") or "",
        )
        obj.pk, obj.created_at, obj.created_by = given.pk, given.created_at, given.created_by
        obj._state.adding = False

    @admin.display(description=_("nœud du ministère"))
    def ministry_display(self, obj: StandingApproval) -> str:
        return obj.ministry or str(_("tout nœud du ministère"))

    @admin.display(description=_("en vigueur"), boolean=True)
    def in_force_display(self, obj: StandingApproval) -> bool:
        return partials.in_force(obj)

    @admin.action(description=_("Révoquer les approbations permanentes sélectionnées (administrateur·rice)"))
    def revoke(self, request: HttpRequest, queryset: QuerySet[StandingApproval]) -> None:
        for approval in queryset.select_related("owner"):
            try:
                partials.revoke_standing_approval(approval, by=request.user)
            except DjangoPermissionDenied as exc:
                self.message_user(request, f"{approval} : {exc}", messages.ERROR)
            except partials.AggregationConflict as exc:
                self.message_user(request, f"{approval} : {exc}", messages.WARNING)
            else:
                self.message_user(request, _("%(approval)s révoquée.") % {"approval": approval}, messages.SUCCESS)
