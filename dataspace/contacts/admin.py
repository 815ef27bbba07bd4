"""Admin of the structure's private contacts: each staff member sees their structures' only."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from dataspace.contacts import services
from dataspace.contacts.models import Contact


class DueForReviewFilter(admin.SimpleListFilter):
    """« à revérifier »: rows not verified for CONSENT_REVIEW_DAYS (contacts, directory entries)."""

    title = _("vérification")
    parameter_name = "review"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [("due", _("à revérifier")), ("ok", _("vérifié récemment"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() == "due":
            return services.due_for_review(queryset)
        if self.value() == "ok":
            return queryset.exclude(pk__in=services.due_for_review(queryset).values("pk"))
        return queryset


@admin.register(Contact)
class ContactAdmin(admin.ModelAdmin):
    list_display = ("__str__", "organisation_name", "kind", "owner", "verified_at", "updated_at")
    list_filter = ("kind", DueForReviewFilter)
    search_fields = ("given_name", "family_name", "organisation_name")
    readonly_fields = ("id", "version", "created_at", "updated_at")
    fields = (
        "owner",
        "kind",
        "given_name",
        "family_name",
        "organisation_name",
        "email",
        "phone",
        "postal_address",
        "notes",
        "tags",
        "verified_at",
        "id",
        "version",
        "created_at",
        "updated_at",
    )

    def get_queryset(self, request: HttpRequest) -> QuerySet[Contact]:
        return services.contacts_of(services.readable_owner_ids(user=request.user))

    def _may_write(self, request: HttpRequest, obj: Contact | None) -> bool:
        owners = services.writable_owner_ids(user=request.user)
        if owners is None:
            return True
        return bool(owners) if obj is None else obj.owner_id in owners

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        owners = services.readable_owner_ids(user=request.user)
        return owners is None or (bool(owners) and (obj is None or obj.owner_id in owners))

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self.has_view_permission(request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return self._may_write(request, None)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._may_write(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._may_write(request, obj)

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "owner":
            from dataspace.referentials.models import Organisation

            owners = services.writable_owner_ids(user=request.user)
            queryset = Organisation.objects.all()
            kwargs["queryset"] = queryset if owners is None else queryset.filter(pk__in=owners)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def delete_model(self, request: HttpRequest, obj: Contact) -> None:
        services.delete_contact(obj, actor=_actor(request))

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Contact]) -> None:
        for contact in queryset:
            services.delete_contact(contact, actor=_actor(request))


def _actor(request: HttpRequest) -> Any:
    from dataspace.audit.services import Actor

    user = request.user
    return Actor(user_id=user.pk, username=user.get_username())
