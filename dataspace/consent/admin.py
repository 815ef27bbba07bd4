"""Admin screens of notices and person consents (French, read-mostly).

* Notices: a structure's administrator publishes a new version (its SHA-256 is computed); a
  published notice is never changed nor deleted (consents point at it).
* Consents: read-only, with their status history inline and a link to download the signed
  receipt; the one action is withdrawing (through `services.withdraw_consent`, with its effects).
Visibility follows the staff member's membership of the controller, as for usage policies.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from rest_framework.exceptions import ValidationError as APIValidationError

from dataspace.api.permissions import staff_roles
from dataspace.consent import receipts, services
from dataspace.consent.models import ConsentEvent, ConsentRecord, Notice

ADMINISTRATOR = "administrator"


def _is_superuser(request: HttpRequest) -> bool:
    return bool(getattr(request.user, "is_superuser", False))


def _roles(request: HttpRequest) -> dict[Any, str]:
    if not getattr(request.user, "is_active", False):
        return {}
    return staff_roles(request.user)


def _sees(request: HttpRequest, controller_id: Any = None) -> bool:
    if _is_superuser(request):
        return True
    roles = _roles(request)
    return bool(roles) if controller_id is None else controller_id in roles


def _administers(request: HttpRequest, controller_id: Any = None) -> bool:
    if _is_superuser(request):
        return True
    roles = _roles(request)
    if controller_id is None:
        return ADMINISTRATOR in roles.values()
    return roles.get(controller_id) == ADMINISTRATOR


class NoticeForm(forms.ModelForm):
    class Meta:
        model = Notice
        fields = ("controller", "kind", "version", "text")


@admin.register(Notice)
class NoticeAdmin(admin.ModelAdmin):
    form = NoticeForm
    list_display = ("controller", "kind", "version", "published_at", "short_sha256")
    list_filter = ("kind",)
    search_fields = ("version", "controller__name")
    readonly_fields = ("sha256", "published_at")

    @admin.display(description=_("empreinte SHA-256"))
    def short_sha256(self, obj: Notice) -> str:
        return f"{obj.sha256[:16]}…"

    def has_module_permission(self, request: HttpRequest) -> bool:
        return _sees(request)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return _sees(request, obj.controller_id if obj is not None else None)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return _administers(request)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # a published version never changes: publish a new one

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_queryset(self, request: HttpRequest) -> QuerySet[Notice]:
        queryset = super().get_queryset(request).select_related("controller")
        return queryset if _is_superuser(request) else queryset.filter(controller_id__in=list(_roles(request)))

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "controller" and not _is_superuser(request):
            from dataspace.referentials.models import Organisation

            administered = [org for org, role in _roles(request).items() if role == ADMINISTRATOR]
            kwargs["queryset"] = Organisation.objects.filter(pk__in=administered)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_model(self, request: HttpRequest, obj: Notice, form: Any, change: bool) -> None:
        if change:
            raise PermissionDenied
        if not _administers(request, obj.controller_id):
            raise PermissionDenied
        published = services.publish_notice(
            controller=obj.controller, kind=obj.kind, version=obj.version, text=obj.text
        )
        obj.pk, obj.sha256, obj.published_at = published.pk, published.sha256, published.published_at
        obj._state.adding = False


class ConsentEventInline(admin.TabularInline):
    model = ConsentEvent
    extra = 0
    can_delete = False
    fields = ("status", "at", "by", "client_id", "note")
    readonly_fields = fields
    verbose_name = _("étape")
    verbose_name_plural = _("historique")

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(ConsentRecord)
class ConsentRecordAdmin(admin.ModelAdmin):
    list_display = ("target_type", "target_id", "controller", "status", "given_at", "expires_at", "receipt_link")
    list_filter = ("status", "target_type", "method")
    search_fields = ("=target_id", "=id")
    date_hierarchy = "given_at"
    inlines = (ConsentEventInline,)
    actions = ("withdraw_selected",)
    fields = (
        "id",
        "controller",
        "target_type",
        "target_id",
        "subject_user",
        "purposes",
        "data_categories",
        "fields",
        "recipients",
        "legal_basis",
        "notice",
        "notice_sha256",
        "method",
        "given_at",
        "expires_at",
        "status",
        "status_changed_at",
        "oauth_client",
        "verified_at",
        "receipt_link",
    )
    readonly_fields = fields

    @admin.display(description=_("reçu"))
    def receipt_link(self, obj: ConsentRecord) -> str:
        url = reverse("admin:consent_consentrecord_receipt", args=[obj.pk])
        return format_html('<a href="{}" download>{}</a>', url, _("télécharger le reçu signé"))

    def get_urls(self) -> list[URLPattern]:
        extra = [
            path(
                "<uuid:pk>/receipt/",
                self.admin_site.admin_view(self.receipt_view),
                name="consent_consentrecord_receipt",
            )
        ]
        return extra + super().get_urls()

    def receipt_view(self, request: HttpRequest, pk: Any) -> HttpResponse:
        consent = get_object_or_404(self.get_queryset(request), pk=pk)
        response = HttpResponse(receipts.receipt_for(consent), content_type=receipts.MEDIA_TYPE)
        response["Content-Disposition"] = f'attachment; filename="recu-consentement-{consent.pk}.jws"'
        return response

    @admin.action(description=_("Retirer les consentements sélectionnés"))
    def withdraw_selected(self, request: HttpRequest, queryset: QuerySet[ConsentRecord]) -> None:
        done = 0
        for consent in queryset:
            if not _administers(request, consent.controller_id):
                continue
            try:
                services.withdraw_consent(consent, by=request.user, note=str(_("retiré depuis l'administration")))
            except APIValidationError:
                continue
            done += 1
        self.message_user(request, _("%(count)d consentement(s) retiré(s).") % {"count": done}, messages.SUCCESS)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return _sees(request)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return _sees(request, obj.controller_id if obj is not None else None)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        actions = super().get_actions(request)
        if not _administers(request):
            actions.pop("withdraw_selected", None)
        return actions

    def get_queryset(self, request: HttpRequest) -> QuerySet[ConsentRecord]:
        queryset = super().get_queryset(request).select_related("controller", "notice")
        return queryset if _is_superuser(request) else queryset.filter(controller_id__in=list(_roles(request)))
