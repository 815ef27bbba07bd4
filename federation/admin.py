"""Admin of the federation (French): the outbox (who was notified of what, what failed, « Rejouer »),
webhook subscriptions, and membership (members to approve, trusted peers, this node's membership)."""

from __future__ import annotations

from typing import Any, cast

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from federation import membership, outbox, webhooks
from federation.models import FeedReader, Member, MembershipState, OutboxMessage, Peer, WebhookSubscription


@admin.register(OutboxMessage)
class OutboxMessageAdmin(admin.ModelAdmin):
    """Read-only: messages are written by `federation.outbox.enqueue`; operators only replay them."""

    list_display = (
        "created_at",
        "kind",
        "destination",
        "subscription",
        "state",
        "attempts",
        "next_attempt_at",
        "delivered_at",
    )
    list_filter = ("state", "kind")
    search_fields = ("kind", "destination", "url", "id")
    date_hierarchy = "created_at"
    actions = ["replay"]
    readonly_fields = (
        "id",
        "kind",
        "destination",
        "subscription",
        "url",
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


class WebhookSubscriptionForm(forms.ModelForm):
    """The subscription form, validated by `federation.webhooks` (the API's rules)."""

    url = forms.CharField(
        label=_("adresse de remise"),
        max_length=500,
        help_text=_("HTTPS ; les événements y sont envoyés signés avec la clé du nœud."),
    )
    record_types = forms.MultipleChoiceField(
        label=_("types d'enregistrements"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("Aucun coché : tous les types."),
    )
    operations = forms.MultipleChoiceField(
        label=_("opérations"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        choices=[("upsert", _("création ou modification")), ("delete", _("suppression"))],
        help_text=_("Aucune cochée : les deux."),
    )

    class Meta:
        model = WebhookSubscription
        fields = ["owner", "url", "record_types", "operations", "description", "active"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        from dataspace.records.services import record_models

        record_types = cast(forms.MultipleChoiceField, self.fields["record_types"])
        record_types.choices = [(name, name) for name in sorted(record_models())]

    def _checked(self, name: str, check: Any) -> Any:
        try:
            return check(self.cleaned_data.get(name))
        except webhooks.WebhookError as exc:
            raise forms.ValidationError(exc.errors[name]) from None

    def clean_url(self) -> str:
        return str(self._checked("url", webhooks.validate_url))

    def clean_record_types(self) -> list[str]:
        return list(self._checked("record_types", lambda value: webhooks.validate_record_types(list(value or []))))

    def clean_operations(self) -> list[str]:
        return list(self._checked("operations", lambda value: webhooks.validate_operations(list(value or []))))


@admin.register(WebhookSubscription)
class WebhookSubscriptionAdmin(admin.ModelAdmin):
    """Vendors' tools subscribed to a structure's change events; their deliveries are in the outbox."""

    form = WebhookSubscriptionForm
    list_display = ("url", "owner", "active", "types_shown", "operations_shown", "deliveries_link", "created_at")
    list_filter = ("active",)
    search_fields = ("url", "description", "owner__name", "client_id")
    readonly_fields = ("client_id", "created_at", "deliveries_link")
    actions = ["deactivate", "activate"]

    @admin.display(description=_("types"))
    def types_shown(self, obj: WebhookSubscription) -> str:
        return ", ".join(obj.record_types or []) or str(_("tous"))

    @admin.display(description=_("opérations"))
    def operations_shown(self, obj: WebhookSubscription) -> str:
        return ", ".join(obj.operations or []) or str(_("toutes"))

    @admin.display(description=_("remises"))
    def deliveries_link(self, obj: WebhookSubscription) -> str:
        if obj.pk is None:
            return "—"
        url = reverse("admin:federation_outboxmessage_changelist") + f"?subscription__id__exact={obj.pk}"
        return format_html('<a href="{}">{}</a>', url, _("voir les remises"))

    def delete_model(self, request: HttpRequest, obj: WebhookSubscription) -> None:
        webhooks.delete_subscription(obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[WebhookSubscription]) -> None:
        for subscription in queryset:
            webhooks.delete_subscription(subscription)

    @admin.action(description=_("Suspendre les abonnements choisis"))
    def deactivate(self, request: HttpRequest, queryset: QuerySet[WebhookSubscription]) -> None:
        count = 0
        for subscription in queryset.filter(active=True):
            webhooks.update_subscription(subscription, active=False)
            count += 1
        self.message_user(
            request,
            ngettext("%(count)d abonnement suspendu.", "%(count)d abonnements suspendus.", count) % {"count": count},
            messages.SUCCESS,
        )

    @admin.action(description=_("Réactiver les abonnements choisis"))
    def activate(self, request: HttpRequest, queryset: QuerySet[WebhookSubscription]) -> None:
        count = 0
        for subscription in queryset.filter(active=False):
            webhooks.update_subscription(subscription, active=True)
            count += 1
        self.message_user(
            request,
            ngettext("%(count)d abonnement réactivé.", "%(count)d abonnements réactivés.", count) % {"count": count},
            messages.SUCCESS,
        )


# ---------------------------------------------------------------------------- membership (federation.membership)


def _kids(jwks: Any) -> list[str]:
    return membership.kids_of(jwks)


@admin.register(Member)
class MemberAdmin(admin.ModelAdmin):
    """(registry) Nodes that asked to join: the operator approves, suspends or refuses them.

    Nothing is edited by hand: what a node declares (address, keys, metadata) comes from its signed
    request; the operator's decisions go through `federation.membership` (journaled, and the signed
    list, the peers and the OAuth clients follow at once)."""

    list_display = ("name", "base_url", "status", "roles_list", "requested_roles_list", "key_ids", "requested_at")
    list_filter = ("status",)
    search_fields = ("name", "base_url", "organisation_name", "contact_email")
    date_hierarchy = "requested_at"
    actions = ["approve_members", "suspend_members", "refuse_members"]
    fields = (
        "name",
        "base_url",
        "status",
        "roles_list",
        "requested_roles_list",
        "organisation_name",
        "contact_email",
        "key_ids",
        "keys_updated_at",
        "requested_at",
        "decided_at",
        "decided_by",
        "metadata",
        "jwks",
    )
    readonly_fields = fields

    @admin.display(description=_("rôles accordés"))
    def roles_list(self, obj: Member) -> str:
        return ", ".join(obj.roles or []) or "—"

    @admin.display(description=_("rôles demandés"))
    def requested_roles_list(self, obj: Member) -> str:
        return ", ".join(membership.requested_roles(obj)) or "—"

    @admin.display(description=_("empreintes des clés (à comparer avec celles que le nœud affiche)"))
    def key_ids(self, obj: Member) -> Any:
        kids = _kids(obj.jwks)
        if not kids:
            return "—"
        return format_html_join("", "<div><code>{}</code></div>", ((kid,) for kid in kids))

    def _decide(self, request: HttpRequest, queryset: QuerySet[Member], decide: Any, done: Any, skip: Any) -> None:
        count = 0
        for member in queryset:
            if skip(member):
                continue
            try:
                decide(member, by=request.user)
            except membership.MembershipError as exc:
                self.message_user(request, f"{member} : {exc.detail}", messages.ERROR)
                continue
            count += 1
        self.message_user(request, done % {"count": count}, messages.SUCCESS)

    @admin.action(
        description=_("Approuver les nœuds choisis (ils entrent dans la liste signée)"), permissions=["change"]
    )
    def approve_members(self, request: HttpRequest, queryset: QuerySet[Member]) -> None:
        self._decide(
            request,
            queryset,
            membership.approve,
            _("%(count)d nœud(s) approuvé(s) : la liste des membres est signée à nouveau."),
            lambda member: member.status == Member.Status.APPROVED,
        )

    @admin.action(description=_("Suspendre les nœuds choisis (ils sortent de la liste)"), permissions=["change"])
    def suspend_members(self, request: HttpRequest, queryset: QuerySet[Member]) -> None:
        self._decide(
            request,
            queryset,
            membership.suspend,
            _("%(count)d nœud(s) suspendu(s) : ils ne sont plus dans la liste signée."),
            lambda member: member.status == Member.Status.SUSPENDED,
        )

    @admin.action(description=_("Refuser les demandes choisies (ou mettre fin à l'adhésion)"), permissions=["change"])
    def refuse_members(self, request: HttpRequest, queryset: QuerySet[Member]) -> None:
        self._decide(
            request,
            queryset,
            membership.refuse,
            _("%(count)d demande(s) refusée(s)."),
            lambda member: member.status == Member.Status.REFUSED,
        )

    def get_actions(self, request: HttpRequest) -> Any:
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Peer)
class PeerAdmin(admin.ModelAdmin):
    """Members this node trusts, as the last verified member list names them (read-only)."""

    list_display = ("name", "base_url", "roles_list", "key_ids", "list_serial", "updated_at")
    search_fields = ("name", "base_url")
    fields = ("name", "base_url", "roles_list", "key_ids", "list_serial", "updated_at", "jwks")
    readonly_fields = fields

    @admin.display(description=_("rôles"))
    def roles_list(self, obj: Peer) -> str:
        return ", ".join(obj.roles or []) or "—"

    @admin.display(description=_("empreintes des clés"))
    def key_ids(self, obj: Peer) -> Any:
        return format_html_join("", "<div><code>{}</code></div>", ((kid,) for kid in _kids(obj.jwks))) or "—"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(MembershipState)
class MembershipStateAdmin(admin.ModelAdmin):
    """This node's membership: its registry, the pinned registry keys, the last verified list."""

    list_display = ("registry_url", "own_status", "serial", "expires_at", "refreshed_at", "last_error")
    fields = (
        "registry_url",
        "own_status",
        "registry_key_ids",
        "serial",
        "issued_at",
        "expires_at",
        "refreshed_at",
        "last_error",
        "signed_list",
    )
    readonly_fields = fields

    @admin.display(description=_("clés du registre épinglées"))
    def registry_key_ids(self, obj: MembershipState) -> Any:
        kids = _kids(obj.registry_jwks)
        return format_html_join("", "<div><code>{}</code></div>", ((kid,) for kid in kids)) or "—"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
