"""Admin of the licence registry: licences (read-only but their organisation), imports and what they
changed, professional accounts, terms of use and their acceptances; directory entries."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from dataspace.directory.models import (
    DirectoryEntry,
    Licence,
    LicenceChange,
    LicenceImport,
    ProfessionalAccount,
    TermsAcceptance,
    TermsOfUse,
)
from dataspace.directory.services import FILE_FIELDS
from dataspace.records.admin import ReadOnlyAdmin

#: Every field of a licence comes from the ministry's list, except the organisation it is attached to.
#: (The number identifies it, the file's own fields are compared on re-import, the dates are the import's.)
LICENCE_FILE_FIELDS = ("number", *FILE_FIELDS, "imported_at", "updated_at")


class LicenceChangeInline(admin.TabularInline):
    model = LicenceChange
    fields = ("licence_import", "changes")
    readonly_fields = fields
    extra = 0
    can_delete = False
    verbose_name_plural = _("changements apportés par les imports")

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Licence)
class LicenceAdmin(admin.ModelAdmin):
    list_display = ("number", "holder_name", "category", "status", "kind", "valid_until", "organisation")
    list_filter = ("status", "category", "kind")
    search_fields = ("number", "holder_name", "siren_siret")
    readonly_fields = LICENCE_FILE_FIELDS
    fields = (*LICENCE_FILE_FIELDS[:9], "organisation", *LICENCE_FILE_FIELDS[9:])
    autocomplete_fields = ("organisation",)
    inlines = (LicenceChangeInline,)
    list_select_related = ("organisation",)
    show_full_result_count = False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # licences come from the ministry's list (import_licences)


class ImportChangeInline(admin.TabularInline):
    model = LicenceChange
    fields = ("licence", "changes")
    readonly_fields = fields
    extra = 0
    can_delete = False
    verbose_name_plural = _("licences modifiées par cet import")

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(LicenceImport)
class LicenceImportAdmin(ReadOnlyAdmin):
    list_display = ("started_at", "source", "created", "updated", "unchanged", "invalid", "finished_at")
    fields = ("source", "started_at", "finished_at", "created", "updated", "unchanged", "invalid", "errors")
    readonly_fields = fields
    inlines = (ImportChangeInline,)
    date_hierarchy = "started_at"


@admin.register(ProfessionalAccount)
class ProfessionalAccountAdmin(admin.ModelAdmin):
    list_display = ("user", "organisation", "verified_at", "created_at")
    list_filter = ("verified_at",)
    search_fields = ("user__username", "user__email", "organisation__name", "organisation__siren")
    autocomplete_fields = ("organisation",)
    raw_id_fields = ("user",)
    readonly_fields = ("created_at",)
    list_select_related = ("user", "organisation")


class TermsAcceptanceInline(admin.TabularInline):
    model = TermsAcceptance
    fields = ("user", "accepted_at")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(TermsOfUse)
class TermsOfUseAdmin(admin.ModelAdmin):
    list_display = ("version", "published_at")
    search_fields = ("version",)
    inlines = (TermsAcceptanceInline,)

    def get_readonly_fields(self, request: HttpRequest, obj: TermsOfUse | None = None) -> tuple[str, ...]:
        # A version people may have accepted never changes: publish a new one instead.
        if obj is not None and obj.acceptances.exists():
            return ("version", "text", "published_at")
        return ()


@admin.register(TermsAcceptance)
class TermsAcceptanceAdmin(ReadOnlyAdmin):
    list_display = ("user", "terms", "accepted_at")
    list_filter = ("terms",)
    search_fields = ("user__username",)
    list_select_related = ("user", "terms")


@admin.register(DirectoryEntry)
class DirectoryEntryAdmin(admin.ModelAdmin):
    """Directory entries as their owner's staff keep them: every field (contact fields decrypted for
    the node's staff), and which of them a consent in force publishes."""

    list_display = ("display_name", "owner", "region", "published_fields", "reviewed_at", "updated_at")
    list_filter = ("region", "contact_channel")
    search_fields = ("display_name",)
    list_select_related = ("owner",)
    raw_id_fields = ("owner", "person_user")
    readonly_fields = ("id", "uri", "origin", "version", "published_fields", "created_at", "updated_at")
    fieldsets = (
        (None, {"fields": ("owner", "display_name", "person_user", "reviewed_at")}),
        (_("Profil professionnel"), {"fields": ("trades", "skills", "languages", "region", "availability")}),
        (
            _("Contact (chiffré en base)"),
            {"fields": ("contact_channel", "contact_email", "contact_phone", "postal_address")},
        ),
        (_("Liens et identifiants"), {"fields": ("links", "same_as")}),
        (
            _("Publication"),
            {"fields": ("published_fields", "id", "uri", "origin", "version", "created_at", "updated_at")},
        ),
    )

    @admin.display(description=_("URI"))
    def uri(self, obj: DirectoryEntry) -> str:
        return obj.uri if obj.pk else "—"

    @admin.display(description=_("champs publiés (consentement en vigueur)"))
    def published_fields(self, obj: DirectoryEntry) -> str:
        from dataspace.directory.entries import consented_fields_of

        fields = consented_fields_of(obj) if obj.pk else frozenset()
        return ", ".join(sorted(fields)) if fields else str(_("non publiée (aucun consentement en vigueur)"))
