"""Admin screens where a structure's staff enter their programme data.

Everything is saved through the models' own `save()` / `delete()`, so each change bumps the
record's version and lands in the change feed (no `queryset.update` anywhere). Records created
here belong by default to the organisation running the node; inline children inherit the owner of
the record they are attached to. After each save or delete the co-producers' object grants
(`dataspace.referentials.permissions`) are re-derived, as the API does.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, ClassVar

from django.contrib import admin, messages
from django.contrib.admin.options import InlineModelAdmin
from django.core.exceptions import FieldDoesNotExist
from django.db import models
from django.db.models import Count, QuerySet
from django.forms import BaseInlineFormSet
from django.http import HttpRequest
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.timezone import localtime
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from dataspace.node.services import current_identity
from dataspace.records.admin import ReadOnlyAdmin
from dataspace.referentials import models as m
from dataspace.referentials.permissions import forget_grants, performance_ids_under, refresh_grants

RECORD_READONLY = ("uri", "version", "origin", "created_at", "updated_at")
RECORD_FIELDSET: tuple[Any, Any] = (_("Enregistrement partagé"), {"fields": RECORD_READONLY, "classes": ("collapse",)})


def node_organisation_id() -> Any:
    identity = current_identity()
    return identity.organisation_id if identity else None


# ---------------------------------------------------------------------------- shared behaviour


class RecordAdmin(admin.ModelAdmin):
    """Common behaviour of every shared record: read-only record metadata, default owner."""

    readonly_fields = RECORD_READONLY
    list_per_page = 50
    save_on_top = True
    formfield_overrides: ClassVar[Mapping[type[models.Field[Any, Any]], Mapping[str, Any]]] = {
        models.URLField: {"assume_scheme": "https"}
    }

    @admin.display(description=_("URI"))
    def uri(self, obj: m.Record) -> str:
        return obj.uri if obj.pk else "—"

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, Any]:
        initial = super().get_changeform_initial_data(request)
        if "owner" in [f.name for f in self.model._meta.get_fields()]:
            initial.setdefault("owner", node_organisation_id())
        return initial

    def save_formset(self, request: HttpRequest, form: Any, formset: BaseInlineFormSet, change: bool) -> None:
        """Save inline children one by one (model save: version + change log), inheriting the owner."""
        parent = form.instance
        instances = formset.save(commit=False)
        for obj in formset.deleted_objects:
            performances = performance_ids_under(obj)
            obj.delete()
            forget_grants(performances)
        for obj in instances:
            if hasattr(obj, "owner_id") and not obj.owner_id:
                obj.owner_id = getattr(parent, "owner_id", None) or node_organisation_id()
            obj.save()
        formset.save_m2m()

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        """After the record, its many-to-many links and inlines: re-derive the co-producers' grants
        (co-producers of a production, hall of a performance, owner or operator of a venue…)."""
        super().save_related(request, form, formsets, change)
        refresh_grants(form.instance)

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        performances = performance_ids_under(obj)
        super().delete_model(request, obj)
        forget_grants(performances)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        performances = [pk for obj in queryset for pk in performance_ids_under(obj)]
        super().delete_queryset(request, queryset)
        forget_grants(performances)


class OwnedInline(InlineModelAdmin):
    """Inline children take the owner of their parent record: the field is not shown."""

    exclude = ("owner", "same_as")
    show_change_link = True


# ---------------------------------------------------------------------------- organisations


@admin.register(m.Organisation)
class OrganisationAdmin(RecordAdmin):
    list_display = ("name", "kind", "city", "region", "siret", "label", "owner", "version")
    list_filter = ("kind", "region")
    search_fields = ("name", "legal_name", "siret", "siren", "city")
    autocomplete_fields = ("owner",)
    fieldsets = (
        (None, {"fields": ("name", "legal_name", "kind", "label", "disciplines", "owner")}),
        (_("Identifiants"), {"fields": ("siret", "siren", "legal_status", "same_as")}),
        (_("Localisation"), {"fields": ("city", "postal_code", "departement", "region", "website")}),
        RECORD_FIELDSET,
    )

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, Any]:
        # A new organisation is a partner described by this structure, owned by it.
        return admin.ModelAdmin.get_changeform_initial_data(self, request) | {"owner": node_organisation_id()}


# ---------------------------------------------------------------------------- venues, halls, technical sheets


class HallInline(OwnedInline, admin.TabularInline):
    model = m.Hall
    fields = ("name", "seated_capacity", "standing_capacity", "wheelchair_places")
    extra = 0


@admin.register(m.Venue)
class VenueAdmin(RecordAdmin):
    list_display = ("name", "city", "venue_type", "operator", "hall_count", "version")
    list_filter = ("venue_type", "region", "departement")
    search_fields = ("name", "city", "postal_code", "siret", "street_address")
    autocomplete_fields = ("owner", "operator")
    inlines = (HallInline,)
    fieldsets = (
        (None, {"fields": ("name", "venue_type", "operator", "owner", "siret")}),
        (
            _("Adresse"),
            {
                "fields": (
                    "street_address",
                    "postal_code",
                    "city",
                    "departement",
                    "region",
                    "country",
                    "latitude",
                    "longitude",
                    "website",
                )
            },
        ),
        (_("Identifiants externes"), {"fields": ("same_as",), "classes": ("collapse",)}),
        RECORD_FIELDSET,
    )

    def get_queryset(self, request: HttpRequest) -> QuerySet[m.Venue]:
        return super().get_queryset(request).select_related("operator").annotate(_halls=Count("halls"))

    @admin.display(description=_("salles"), ordering="_halls")
    def hall_count(self, obj: Any) -> int:
        return obj._halls


def render_revisions(sheet: m.TechnicalSheet | None) -> SafeString:
    """The sheet's revisions, newest first, each with what changed (read-only HTML)."""
    if sheet is None or not sheet.pk:
        return format_html("<p>{}</p>", _("Aucune révision : la fiche n'est pas encore enregistrée."))
    rows = []
    for revision in sheet.revisions.order_by("-version"):
        rows.append(
            format_html(
                "<tr><td>v{}</td><td>{}</td><td>{}</td></tr>",
                revision.version,
                localtime(revision.changed_at).strftime("%d/%m/%Y %H:%M"),
                render_diff(revision.diff) or "—",
            )
        )
    return format_html(
        "<table><thead><tr><th>{}</th><th>{}</th><th>{}</th></tr></thead><tbody>{}</tbody></table>",
        _("version"),
        _("date"),
        _("modifications"),
        format_html_join("", "{}", ((row,) for row in rows)),
    )


def render_diff(diff: dict[str, Any]) -> SafeString:
    """One line per changed field: its label, the old value and the new one."""
    return format_html_join(
        "",
        "<div><code>{}</code> : {} → <strong>{}</strong></div>",
        ((_field_label(name), _short(c.get("from")), _short(c.get("to"))) for name, c in sorted(diff.items())),
    )


def _field_label(name: str) -> Any:
    try:
        return getattr(m.TechnicalSheet._meta.get_field(name), "verbose_name", name)
    except FieldDoesNotExist:  # a field removed since the revision was written keeps its raw name
        return name


def _short(value: Any) -> str:
    if value in (None, "", []):
        return "∅"
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 120 else text[:117] + "…"


class TechnicalSheetInline(admin.StackedInline):
    model = m.TechnicalSheet
    exclude = ("owner", "same_as")
    readonly_fields = ("version", "revisions")
    extra = 0
    max_num = 1
    can_delete = False
    show_change_link = True

    @admin.display(description=_("révisions"))
    def revisions(self, obj: m.TechnicalSheet) -> SafeString:
        return render_revisions(obj)


@admin.register(m.Hall)
class HallAdmin(RecordAdmin):
    list_display = ("__str__", "venue", "seated_capacity", "standing_capacity", "wheelchair_places", "version")
    list_filter = ("venue",)
    search_fields = ("name", "venue__name", "venue__city")
    autocomplete_fields = ("owner", "venue")
    list_select_related = ("venue",)
    inlines = (TechnicalSheetInline,)
    fieldsets = (
        (None, {"fields": ("venue", "name", "owner")}),
        (_("Jauges"), {"fields": ("seated_capacity", "standing_capacity", "wheelchair_places", "configurations")}),
        RECORD_FIELDSET,
    )


class TechnicalSheetRevisionInline(admin.TabularInline):
    model = m.TechnicalSheetRevision
    fields = ("version", "changed_at", "changes")
    readonly_fields = fields
    extra = 0
    max_num = 0
    can_delete = False
    ordering = ("-version",)
    verbose_name_plural = _("révisions (lecture seule)")

    @admin.display(description=_("modifications"))
    def changes(self, obj: m.TechnicalSheetRevision) -> SafeString:
        return render_diff(obj.diff)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(m.TechnicalSheet)
class TechnicalSheetAdmin(RecordAdmin):
    list_display = (
        "hall",
        "version",
        "stage_width_m",
        "stage_depth_m",
        "height_under_grid_m",
        "flying_bars",
        "updated_at",
    )
    list_filter = ("hall__venue",)
    search_fields = ("hall__name", "hall__venue__name", "hall__venue__city")
    autocomplete_fields = ("owner", "hall")
    list_select_related = ("hall__venue",)
    date_hierarchy = "updated_at"
    inlines = (TechnicalSheetRevisionInline,)
    fieldsets = (
        (None, {"fields": ("hall", "owner")}),
        (
            _("Plateau"),
            {
                "fields": (
                    ("stage_width_m", "stage_depth_m"),
                    ("proscenium_opening_m", "proscenium_height_m"),
                    "height_under_grid_m",
                    ("flying_bars", "flying_bar_max_load_kg"),
                    "floor",
                )
            },
        ),
        (_("Électricité"), {"fields": (("stage_power_kva", "lighting_power_kva", "sound_power_kva"),)}),
        (
            _("Accès et loges"),
            {"fields": ("get_in", ("get_in_door_width_m", "get_in_door_height_m"), "dressing_rooms")},
        ),
        (_("Documents et remarques"), {"fields": ("documents", "notes")}),
        RECORD_FIELDSET,
    )


@admin.register(m.TechnicalSheetRevision)
class TechnicalSheetRevisionAdmin(ReadOnlyAdmin):
    list_display = ("sheet", "version", "changed_at", "changed_fields")
    list_filter = ("sheet__hall__venue",)
    search_fields = ("sheet__hall__name", "sheet__hall__venue__name")
    date_hierarchy = "changed_at"
    list_select_related = ("sheet__hall__venue",)
    fields = ("sheet", "version", "changed_at", "changes")
    readonly_fields = fields

    @admin.display(description=_("champs modifiés"))
    def changed_fields(self, obj: m.TechnicalSheetRevision) -> str:
        return ", ".join(sorted(obj.diff)) or "—"

    @admin.display(description=_("modifications"))
    def changes(self, obj: m.TechnicalSheetRevision) -> SafeString:
        return render_diff(obj.diff)


# ---------------------------------------------------------------------------- people, works, productions


@admin.register(m.Person)
class PersonAdmin(RecordAdmin):
    list_display = ("family_name", "given_name", "credits", "version")
    search_fields = ("family_name", "given_name")
    autocomplete_fields = ("owner",)
    fields = ("given_name", "family_name", "owner", "same_as", *RECORD_READONLY)

    def get_queryset(self, request: HttpRequest) -> QuerySet[m.Person]:
        return super().get_queryset(request).annotate(_credits=Count("contributions"))

    @admin.display(description=_("contributions"), ordering="_credits")
    def credits(self, obj: Any) -> int:
        return obj._credits


class WorkContributionInline(OwnedInline, admin.TabularInline):
    model = m.Contribution
    fk_name = "work"
    fields = ("person", "role", "role_label", "position")
    autocomplete_fields = ("person",)
    extra = 0
    verbose_name_plural = _("créateurs et créatrices")


@admin.register(m.Work)
class WorkAdmin(RecordAdmin):
    list_display = ("title", "creators", "genre", "year", "language", "duration_minutes")
    list_filter = ("genre", "language")
    search_fields = ("title", "original_title", "contributions__person__family_name")
    autocomplete_fields = ("owner",)
    inlines = (WorkContributionInline,)
    fields = (
        "title",
        "original_title",
        "genre",
        "year",
        "duration_minutes",
        "language",
        "description",
        "owner",
        "same_as",
        *RECORD_READONLY,
    )

    def get_queryset(self, request: HttpRequest) -> QuerySet[m.Work]:
        return super().get_queryset(request).prefetch_related("contributions__person")

    @admin.display(description=_("créateurs"))
    def creators(self, obj: m.Work) -> str:
        return ", ".join(c.person.name for c in obj.contributions.all())


class ProductionContributionInline(OwnedInline, admin.TabularInline):
    model = m.Contribution
    fk_name = "production"
    fields = ("position", "person", "role", "role_label", "character")
    autocomplete_fields = ("person",)
    extra = 0
    verbose_name_plural = _("distribution et équipe artistique")


class PerformanceInline(OwnedInline, admin.TabularInline):
    model = m.Performance
    fields = ("start", "hall", "season", "status", "previous_start", "capacity")
    autocomplete_fields = ("hall", "season")
    extra = 0
    ordering = ("start",)


class IsRevivalFilter(admin.SimpleListFilter):
    title = _("reprise")
    parameter_name = "revival"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [("yes", _("reprises")), ("no", _("créations"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() == "yes":
            return queryset.filter(original_production__isnull=False)
        if self.value() == "no":
            return queryset.filter(original_production__isnull=True)
        return queryset


@admin.register(m.Production)
class ProductionAdmin(RecordAdmin):
    list_display = ("title", "discipline", "producer", "audience", "premiere_date", "is_revival", "performance_count")
    list_filter = ("discipline", "audience", IsRevivalFilter, "language")
    search_fields = ("title", "works__title", "producer__name", "contributions__person__family_name")
    date_hierarchy = "premiere_date"
    autocomplete_fields = ("owner", "producer", "coproducers", "works", "original_production")
    list_select_related = ("producer",)
    inlines = (ProductionContributionInline, PerformanceInline)
    fieldsets = (
        (None, {"fields": ("title", "works", "discipline", "audience", "minimum_age", "duration_minutes", "language")}),
        (_("Production"), {"fields": ("producer", "coproducers", "premiere_date", "original_production", "owner")}),
        (_("Présentation"), {"fields": ("description", "technical_rider_url", "same_as")}),
        RECORD_FIELDSET,
    )

    def get_queryset(self, request: HttpRequest) -> QuerySet[m.Production]:
        return super().get_queryset(request).annotate(_performances=Count("performances", distinct=True))

    @admin.display(description=_("reprise"), boolean=True)
    def is_revival(self, obj: m.Production) -> bool:
        return obj.original_production_id is not None

    @admin.display(description=_("représentations"), ordering="_performances")
    def performance_count(self, obj: Any) -> int:
        return obj._performances


@admin.register(m.Contribution)
class ContributionAdmin(RecordAdmin):
    list_display = ("person", "role", "character", "production", "work", "position")
    list_filter = ("role",)
    search_fields = ("person__family_name", "person__given_name", "production__title", "work__title", "character")
    autocomplete_fields = ("owner", "person", "production", "work")
    list_select_related = ("person", "production", "work")


# ---------------------------------------------------------------------------- seasons and performances


@admin.register(m.Season)
class SeasonAdmin(RecordAdmin):
    list_display = ("name", "kind", "organiser", "start_date", "end_date", "edition", "performance_count")
    list_filter = ("kind",)
    search_fields = ("name", "organiser__name")
    date_hierarchy = "start_date"
    autocomplete_fields = ("owner", "organiser")

    def get_queryset(self, request: HttpRequest) -> QuerySet[m.Season]:
        return super().get_queryset(request).select_related("organiser").annotate(_performances=Count("performances"))

    @admin.display(description=_("représentations"), ordering="_performances")
    def performance_count(self, obj: Any) -> int:
        return obj._performances


@admin.register(m.Performance)
class PerformanceAdmin(RecordAdmin):
    list_display = ("start", "production", "hall", "status", "capacity", "season")
    list_filter = ("status", "season", "hall__venue", "production__discipline")
    search_fields = ("production__title", "hall__name", "hall__venue__name", "hall__venue__city")
    date_hierarchy = "start"
    autocomplete_fields = ("owner", "production", "hall", "season")
    list_select_related = ("production", "hall__venue", "season")
    actions = ("confirm_options", "cancel_performances")
    fieldsets = (
        (None, {"fields": ("production", "hall", "season", "owner")}),
        (_("Date et statut"), {"fields": ("start", "time_zone", "status", "previous_start")}),
        (_("Public"), {"fields": ("capacity", "accessibility", "ticketing_url", "same_as")}),
        RECORD_FIELDSET,
    )

    def _set_status(
        self, request: HttpRequest, queryset: QuerySet[m.Performance], status: str, *, only_from: str | None = None
    ) -> int:
        changed = 0
        for performance in queryset:
            if performance.status == status or (only_from and performance.status != only_from):
                continue
            performance.status = status
            performance.save()  # one by one: version bump and change-feed entry for each
            changed += 1
        return changed

    @admin.action(description=_("Confirmer les options sélectionnées (→ programmée)"))
    def confirm_options(self, request: HttpRequest, queryset: QuerySet[m.Performance]) -> None:
        changed = self._set_status(
            request, queryset, m.Performance.Status.SCHEDULED, only_from=m.Performance.Status.OPTION
        )
        self.message_user(
            request, ngettext("%d option confirmée.", "%d options confirmées.", changed) % changed, messages.SUCCESS
        )

    @admin.action(description=_("Annuler les représentations sélectionnées"))
    def cancel_performances(self, request: HttpRequest, queryset: QuerySet[m.Performance]) -> None:
        changed = self._set_status(request, queryset, m.Performance.Status.CANCELLED)
        self.message_user(
            request,
            ngettext("%d représentation annulée.", "%d représentations annulées.", changed) % changed,
            messages.SUCCESS,
        )
