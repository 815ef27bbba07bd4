"""Admin of OAuth access: clients (secret shown once), secret versions, mandates, issued tokens.

Secrets never appear after the page that created them: the creation form and the "rotate" action
put the new secret in a one-time message; the database holds only its keyed digest, and no page
shows digests. Authorization codes are not shown (short-lived, single use).

Who sees what: a superuser sees everything; other staff see the clients and mandates of the
structures they administer (`StaffMembership` role `administrator`). Only those administrators
(or a superuser) grant and revoke mandates (`dataspace.oauth.mandates`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models
from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from dataspace.oauth import clients, mandates
from dataspace.oauth.models import Client, ClientSecret, IssuedToken, Mandate, RefreshToken
from dataspace.oauth.scopes import SCOPES
from dataspace.records.admin import ReadOnlyAdmin

SCOPE_CHOICES = [(name, f"{name} — {scope.label}") for name, scope in SCOPES.items()]
GRANT_CHOICES = [(name, name) for name in clients.GRANT_TYPES]
SECRET_STATUS = {
    "current": _("en vigueur"),
    "grace": _("en période de grâce"),
    "retired": _("retiré"),
    "revoked": _("révoqué"),
}


def _is_superuser(request: HttpRequest) -> bool:
    return bool(getattr(request.user, "is_superuser", False))


def _show_secret(request: HttpRequest, client: Client, secret: str, version: int | None) -> None:
    messages.warning(
        request,
        format_html(
            "Secret du client « {} » (identifiant <code>{}</code>, version {}) : <code>{}</code> — "
            "copiez-le maintenant, il ne sera plus jamais affiché (le nœud n'en garde qu'une empreinte).",
            client.name,
            client.client_id,
            version,
            secret,
        ),
    )


def _lines(value: str) -> list[str]:
    return [line.strip() for line in (value or "").splitlines() if line.strip()]


# ---------------------------------------------------------------------------- clients


class ClientForm(forms.ModelForm):
    allowed_scopes = forms.MultipleChoiceField(
        label=_("portées autorisées"), choices=SCOPE_CHOICES, widget=forms.CheckboxSelectMultiple
    )
    grant_types = forms.MultipleChoiceField(
        label=_("types d'autorisation"), choices=GRANT_CHOICES, widget=forms.CheckboxSelectMultiple
    )
    redirect_uris = forms.CharField(
        label=_("URI de redirection"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("Une adresse exacte par ligne (obligatoire pour le code d'autorisation)."),
    )
    jwks_uri = forms.URLField(
        label=_("URL des clés publiques (JWKS)"),
        required=False,
        assume_scheme="https",
        help_text=_("Pour un nœud pair : l'adresse où il publie ses clés (/.well-known/jwks.json)."),
    )

    #: Set by ClientAdmin.get_form: the person filling the form.
    request: HttpRequest | None = None

    class Meta:
        model = Client
        fields = (
            "name",
            "description",
            "owner",
            "kind",
            "allowed_scopes",
            "grant_types",
            "redirect_uris",
            "token_endpoint_auth_method",
            "jwks_uri",
            "user",
            "expires_at",
            "is_active",
        )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.initial["redirect_uris"] = "\n".join(self.instance.redirect_uris or [])

    def clean_redirect_uris(self) -> list[str]:
        uris = _lines(self.cleaned_data.get("redirect_uris", ""))
        validate = forms.URLField(assume_scheme="https").clean
        for uri in uris:
            validate(uri)
        return uris

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        instance = self.instance
        person = getattr(self.request, "user", None)
        user = data.get("user", instance.user if instance.pk else None)
        if user is not None and person is not None and not person.is_superuser and user != person:
            self.add_error("user", _("Un client personnel agit pour la personne qui l'enregistre."))
        owner = data.get("owner") or (instance.owner if instance.pk else None)
        if owner is not None and person is not None and not clients.is_structure_administrator(person, owner):
            self.add_error("owner", _("Vous n'administrez pas cette structure."))
        if self.errors:
            return data
        try:
            clients.validate_registration(
                kind=data.get("kind", instance.kind),
                scopes=list(data.get("allowed_scopes") or []),
                grant_types=list(data.get("grant_types") or []),
                redirect_uris=list(data.get("redirect_uris") or []),
                auth_method=data.get("token_endpoint_auth_method", instance.token_endpoint_auth_method),
                jwks_uri=data.get("jwks_uri", instance.jwks_uri) or "",
                expires_at=data.get("expires_at"),
                check_expiry=not instance.pk or "expires_at" in self.changed_data,
            )
        except ValidationError as exc:
            raise ValidationError(exc.message_dict) from None
        return data


class ClientSecretInline(admin.TabularInline):
    model = ClientSecret
    verbose_name = _("version du secret")
    verbose_name_plural = _("versions du secret (les secrets eux-mêmes ne sont jamais affichés)")
    fields = ("version", "created_at", "retires_at", "revoked_at", "status")
    readonly_fields = fields
    extra = 0
    can_delete = False
    ordering = ("-version",)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description=_("état"))
    def status(self, obj: ClientSecret) -> str:
        return str(SECRET_STATUS[clients.secret_status(obj)])


@admin.register(Client)
class ClientAdmin(admin.ModelAdmin):
    form = ClientForm
    list_display = ("name", "client_id", "kind", "owner", "acts_for", "is_active", "expires_at", "created_at")
    list_filter = ("kind", "is_active", "token_endpoint_auth_method", ("owner", admin.RelatedOnlyFieldListFilter))
    search_fields = ("name", "=client_id", "owner__name", "user__username")
    autocomplete_fields = ("owner", "user")
    actions = ("rotate_secrets", "disable_clients")
    inlines = (ClientSecretInline,)
    formfield_overrides: ClassVar[Mapping[type[models.Field[Any, Any]], Mapping[str, Any]]] = {
        models.URLField: {"assume_scheme": "https"}
    }
    #: Fixed once the client exists (a new registration is needed to change them).
    fixed_fields = ("client_id", "owner", "token_endpoint_auth_method", "user", "created_at", "created_by")

    def get_queryset(self, request: HttpRequest) -> QuerySet[Client]:
        queryset = super().get_queryset(request).select_related("owner", "user")
        if _is_superuser(request):
            return queryset
        return queryset.filter(owner__in=mandates.administered_structures(request.user))

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        return self.fixed_fields if obj is not None else ()

    def get_inlines(self, request: HttpRequest, obj: Any) -> Any:
        return self.inlines if obj is not None else ()

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        form = super().get_form(request, obj, change=change, **kwargs)
        setattr(form, "request", request)  # noqa: B010 - a fresh class per call (modelform_factory)
        return form

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "owner" and not _is_superuser(request):
            kwargs["queryset"] = mandates.administered_structures(request.user)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, Any]:
        initial = super().get_changeform_initial_data(request)
        owner = clients.node_organisation()
        if owner is not None:
            initial.setdefault("owner", owner.pk)
        initial.setdefault("grant_types", ["client_credentials"])
        return initial

    @admin.display(description=_("agit pour"), ordering="user__username")
    def acts_for(self, obj: Client) -> str:
        return obj.user.get_username() if obj.user else "—"

    def save_model(self, request: HttpRequest, obj: Client, form: Any, change: bool) -> None:
        data = form.cleaned_data
        if not change:
            issued = clients.create_client(
                name=data["name"],
                description=data.get("description", ""),
                owner=data["owner"],
                scopes=list(data["allowed_scopes"]),
                grant_types=list(data["grant_types"]),
                kind=data["kind"],
                redirect_uris=list(data.get("redirect_uris") or []),
                auth_method=data["token_endpoint_auth_method"],
                jwks_uri=data.get("jwks_uri") or "",
                user=data.get("user"),
                expires_at=data.get("expires_at"),
                created_by=request.user,
            )
            created = issued.client
            obj.pk, obj.client_id, obj.created_at = created.pk, created.client_id, created.created_at
            obj._state.adding = False
            obj._state.db = created._state.db
            if issued.secret:
                _show_secret(request, created, issued.secret, issued.version)
            else:
                messages.info(
                    request,
                    _("Ce client n'a pas de secret : il s'authentifie par « %(method)s ».")
                    % {"method": created.get_token_endpoint_auth_method_display()},
                )
            return
        changes = {name: data[name] for name in form.changed_data if name in clients.UPDATABLE_FIELDS}
        clients.update_client(obj, **changes)
        if "is_active" in form.changed_data:
            if data["is_active"]:
                Client.objects.filter(pk=obj.pk).update(is_active=True)
            else:
                clients.disable_client(obj, by=request.user)
                messages.info(request, _("Client désactivé : ses jetons en cours sont révoqués."))

    @admin.action(description=_("Renouveler le secret (l'ancien reste valable pendant la période de grâce)"))
    def rotate_secrets(self, request: HttpRequest, queryset: QuerySet[Client]) -> None:
        for client in queryset:
            if client.token_endpoint_auth_method in (Client.AuthMethod.PRIVATE_KEY_JWT, Client.AuthMethod.NONE):
                messages.error(request, _("« %(name)s » n'a pas de secret à renouveler.") % {"name": client.name})
                continue
            if not client.is_usable():
                messages.error(request, _("« %(name)s » est désactivé ou expiré.") % {"name": client.name})
                continue
            issued = clients.rotate_secret(client)
            _show_secret(request, client, issued.secret or "", issued.version)

    @admin.action(description=_("Désactiver (et révoquer leurs jetons)"))
    def disable_clients(self, request: HttpRequest, queryset: QuerySet[Client]) -> None:
        for client in queryset:
            clients.disable_client(client, by=request.user)
        messages.success(request, _("%(count)d client(s) désactivé(s).") % {"count": queryset.count()})


@admin.register(ClientSecret)
class ClientSecretAdmin(ReadOnlyAdmin):
    """Secret versions: dates and state only, never the digest."""

    list_display = ("client", "version", "created_at", "retires_at", "revoked_at", "status")
    list_filter = (("client__owner", admin.RelatedOnlyFieldListFilter),)
    search_fields = ("=client__client_id", "client__name")
    fields = ("client", "version", "created_at", "retires_at", "revoked_at", "status")
    readonly_fields = fields
    actions = ("revoke_secrets",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[ClientSecret]:
        queryset = super().get_queryset(request).select_related("client")
        if _is_superuser(request):
            return queryset
        return queryset.filter(client__owner__in=mandates.administered_structures(request.user))

    def has_revoke_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.has_perm("oauth.change_client"))

    @admin.display(description=_("état"))
    def status(self, obj: ClientSecret) -> str:
        return str(SECRET_STATUS[clients.secret_status(obj)])

    @admin.action(description=_("Révoquer immédiatement (sans période de grâce)"), permissions=["revoke"])
    def revoke_secrets(self, request: HttpRequest, queryset: QuerySet[ClientSecret]) -> None:
        for secret in queryset:
            clients.revoke_secret(secret)
        messages.success(request, _("%(count)d secret(s) révoqué(s).") % {"count": queryset.count()})


# ---------------------------------------------------------------------------- mandates


class MandateForm(forms.ModelForm):
    scopes = forms.MultipleChoiceField(
        label=_("portées déléguées"),
        choices=SCOPE_CHOICES,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("Parmi les portées du client ; « referentials:write » pour écrire vos référentiels."),
    )

    request: HttpRequest | None = None

    class Meta:
        model = Mandate
        fields = ("structure", "client", "scopes", "expires_at")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if self.errors:
            return data
        try:
            mandates.validate_grant(
                data["structure"],
                data["client"],
                list(data.get("scopes") or []),
                getattr(self.request, "user", None),
                data.get("expires_at"),
            )
        except PermissionDenied:
            self.add_error("structure", _("Seul·e un·e administrateur·rice de la structure accorde ses mandats."))
        except ValidationError as exc:
            raise ValidationError(exc.message_dict) from None
        return data


@admin.register(Mandate)
class MandateAdmin(admin.ModelAdmin):
    """Granted by a structure's administrator, never edited: revoke it and grant a new one."""

    form = MandateForm
    list_display = ("structure", "client", "scope_list", "granted_by", "granted_at", "expires_at", "state")
    list_filter = (("structure", admin.RelatedOnlyFieldListFilter), ("revoked_at", admin.EmptyFieldListFilter))
    search_fields = ("structure__name", "client__name", "=client__client_id")
    autocomplete_fields = ("structure", "client")
    actions = ("revoke_mandates",)
    readonly_fields = ("granted_by", "granted_at", "revoked_at", "revoked_by")

    def get_queryset(self, request: HttpRequest) -> QuerySet[Mandate]:
        queryset = super().get_queryset(request).select_related("structure", "client", "granted_by", "revoked_by")
        if _is_superuser(request):
            return queryset
        return queryset.filter(structure__in=mandates.administered_structures(request.user))

    def _administers_any(self, request: HttpRequest) -> bool:
        return _is_superuser(request) or mandates.administered_structures(request.user).exists()

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self._administers_any(request) or super().has_module_permission(request)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._administers_any(request) or super().has_view_permission(request, obj)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return self._administers_any(request)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # a mandate is revoked and granted again, never edited

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # the history of who allowed what stays

    def has_revoke_permission(self, request: HttpRequest) -> bool:
        return self._administers_any(request)

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        form = super().get_form(request, obj, change=change, **kwargs)
        setattr(form, "request", request)  # noqa: B010 - a fresh class per call (modelform_factory)
        return form

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "structure" and not _is_superuser(request):
            kwargs["queryset"] = mandates.administered_structures(request.user)
        if db_field.name == "client":
            kwargs["queryset"] = Client.objects.filter(kind=Client.Kind.DEPOSITOR, is_active=True).filter(
                Q(expires_at__isnull=True) | Q(expires_at__gt=timezone.now())
            )
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    @admin.display(description=_("portées"))
    def scope_list(self, obj: Mandate) -> str:
        return " ".join(obj.scopes or [])

    @admin.display(description=_("état"))
    def state(self, obj: Mandate) -> str:
        if obj.revoked_at is not None:
            return str(_("révoqué"))
        if obj.expires_at is not None and obj.expires_at <= timezone.now():
            return str(_("expiré"))
        return str(_("en vigueur"))

    def save_model(self, request: HttpRequest, obj: Mandate, form: Any, change: bool) -> None:
        data = form.cleaned_data
        granted = mandates.grant_mandate(
            data["structure"], data["client"], list(data["scopes"]), request.user, data.get("expires_at")
        )
        obj.pk, obj.granted_by, obj.granted_at = granted.pk, granted.granted_by, granted.granted_at
        obj._state.adding = False
        obj._state.db = granted._state.db

    @admin.action(description=_("Révoquer les mandats sélectionnés (effet immédiat)"), permissions=["revoke"])
    def revoke_mandates(self, request: HttpRequest, queryset: QuerySet[Mandate]) -> None:
        done = 0
        for mandate in queryset.filter(revoked_at__isnull=True):
            try:
                mandates.revoke_mandate(mandate, request.user)
            except PermissionDenied:
                messages.error(
                    request, _("Vous n'administrez pas « %(structure)s ».") % {"structure": mandate.structure}
                )
                continue
            done += 1
        messages.success(request, _("%(count)d mandat(s) révoqué(s).") % {"count": done})


# ---------------------------------------------------------------------------- tokens


class TokenAdmin(ReadOnlyAdmin):
    """Issued tokens, read-only, with a revocation action (takes effect at once on this node)."""

    date_hierarchy = "issued_at"
    list_per_page = 100
    show_full_result_count = False

    def has_revoke_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.has_perm("oauth.change_client"))

    @admin.display(description=_("état"))
    def state(self, obj: Any) -> str:
        if obj.revoked_at is not None:
            return str(_("révoqué"))
        if obj.expires_at <= timezone.now():
            return str(_("expiré"))
        return str(_("valide"))


@admin.register(IssuedToken)
class IssuedTokenAdmin(TokenAdmin):
    list_display = ("jti", "client", "user", "scope", "issued_at", "expires_at", "state")
    list_filter = (("client", admin.RelatedOnlyFieldListFilter), ("revoked_at", admin.EmptyFieldListFilter))
    search_fields = ("=jti", "=client__client_id", "client__name", "user__username")
    actions = ("revoke_tokens",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[IssuedToken]:
        return super().get_queryset(request).select_related("client", "user")

    @admin.action(description=_("Révoquer les jetons sélectionnés"), permissions=["revoke"])
    def revoke_tokens(self, request: HttpRequest, queryset: QuerySet[IssuedToken]) -> None:
        count = queryset.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())
        messages.success(request, _("%(count)d jeton(s) révoqué(s).") % {"count": count})


@admin.register(RefreshToken)
class RefreshTokenAdmin(TokenAdmin):
    list_display = ("family", "client", "user", "scope", "issued_at", "expires_at", "used_at", "state")
    list_filter = (("client", admin.RelatedOnlyFieldListFilter), ("revoked_at", admin.EmptyFieldListFilter))
    search_fields = ("=family", "=client__client_id", "client__name", "user__username")
    exclude = ("token_digest",)
    actions = ("revoke_families",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[RefreshToken]:
        return super().get_queryset(request).select_related("client", "user")

    @admin.action(
        description=_("Révoquer la famille entière (jetons de rafraîchissement et d'accès)"), permissions=["revoke"]
    )
    def revoke_families(self, request: HttpRequest, queryset: QuerySet[RefreshToken]) -> None:
        families = set(queryset.values_list("family", flat=True))
        now = timezone.now()
        refresh = RefreshToken.objects.filter(family__in=families, revoked_at__isnull=True).update(revoked_at=now)
        access = IssuedToken.objects.filter(family__in=families, revoked_at__isnull=True).update(revoked_at=now)
        messages.success(
            request,
            _("%(families)d famille(s) révoquée(s) : %(refresh)d jeton(s) de rafraîchissement, %(access)d d'accès.")
            % {"families": len(families), "refresh": refresh, "access": access},
        )
