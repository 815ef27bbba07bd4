"""/api/v1/webhooks/: a structure's webhook subscriptions, their deliveries, and replay.

Scope `webhooks:manage` (reading needs it too: a subscription names the structure's tools). A
caller sees and changes the subscriptions of the structures it manages
(`federation.webhooks.managed_owner_ids`): a depositor client its own organisation and the
structures whose mandate covers `webhooks:manage`; the node's staff the structures where they
hold a role (administrator or editor to change); a superuser all. Anyone else's subscription is a
404, and a person without any role on a structure is refused outright (403).

* ``GET /api/v1/webhooks/`` and ``POST`` (``owner`` optional when the caller manages one structure);
* ``GET|PUT|PATCH|DELETE /api/v1/webhooks/{id}/`` (DELETE abandons the undelivered deliveries);
* ``GET /api/v1/webhooks/{id}/deliveries`` (``?state=pending|failed|dead|delivered``) and
  ``GET /api/v1/webhooks/{id}/deliveries/{delivery_id}``;
* ``POST /api/v1/webhooks/{id}/deliveries/{delivery_id}/replay`` — a failed or dead delivery is
  queued again with a fresh attempt budget (202); any other state is a 409 ``not_replayable``.

Rules and validation live in `federation.webhooks`; a `WebhookError` is a 400 naming the field.
"""

from __future__ import annotations

import uuid
from typing import Any, ClassVar, cast

from django.db.models import Count, Q, QuerySet
from django.http import Http404
from django.urls import URLPattern, URLResolver
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, routers, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from dataspace.api.auth import machine_client, person, token_client
from dataspace.api.errors import Conflict
from dataspace.api.mixins import IdempotentCreateMixin, JSONErrorsMixin
from dataspace.api.pagination import CursorPagination
from dataspace.api.permissions import ScopePermission, ensure_may_write_owner
from dataspace.referentials.models import Organisation
from federation import webhooks
from federation.models import OutboxMessage, WebhookSubscription

SCOPES: dict[str, str] = {"read": webhooks.MANAGE_SCOPE, "write": webhooks.MANAGE_SCOPE}
STATES = tuple(OutboxMessage.State.values)


class WebhooksPrivate(exceptions.PermissionDenied):
    default_code = "webhooks_private"

    def __init__(self) -> None:
        super().__init__(
            _("Les abonnements webhook d'une structure sont réservés à son équipe et à ses propres clients."),
            code="webhooks_private",
        )


class NotReplayable(Conflict):
    default_code = "not_replayable"

    def __init__(self) -> None:
        super().__init__(_("Seules les remises en échec ou abandonnées peuvent être rejouées."), code="not_replayable")


class WebhooksPermission(ScopePermission):
    """ScopePermission, and a person must hold a role on some structure (or be the operator)."""

    def has_permission(self, request: Request, view: Any) -> bool:
        allowed = super().has_permission(request, view)
        user = person(request)
        if user is not None and not user.is_superuser and not webhooks.managed_owner_ids(user=user):
            raise WebhooksPrivate()
        return allowed


# ---------------------------------------------------------------------------- representations


class SubscriptionSerializer(serializers.ModelSerializer):
    owner = serializers.PrimaryKeyRelatedField(queryset=Organisation.objects.all(), required=False)
    url = serializers.CharField(max_length=500)
    record_types = serializers.ListField(child=serializers.CharField(max_length=40), required=False)
    operations = serializers.ListField(child=serializers.CharField(max_length=10), required=False)
    deliveries = serializers.SerializerMethodField()

    class Meta:
        model = WebhookSubscription
        fields = [
            "id",
            "owner",
            "url",
            "record_types",
            "operations",
            "description",
            "active",
            "client_id",
            "created_at",
            "deliveries",
        ]
        read_only_fields = ["id", "client_id", "created_at", "deliveries"]

    def get_deliveries(self, instance: WebhookSubscription) -> dict[str, int]:
        """How many deliveries are in each state (annotated by the view's queryset)."""
        return {state: int(getattr(instance, f"n_{state}", 0) or 0) for state in STATES}

    def _checked(self, name: str, check: Any, value: Any) -> Any:
        try:
            return check(value)
        except webhooks.WebhookError as exc:
            raise serializers.ValidationError(exc.errors[name]) from None

    def validate_url(self, value: str) -> str:
        return cast(str, self._checked("url", webhooks.validate_url, value))

    def validate_record_types(self, value: list[str]) -> list[str]:
        return cast(list[str], self._checked("record_types", webhooks.validate_record_types, value))

    def validate_operations(self, value: list[str]) -> list[str]:
        return cast(list[str], self._checked("operations", webhooks.validate_operations, value))

    def validate_owner(self, value: Organisation) -> Organisation:
        if self.instance is not None and value.pk != self.instance.owner_id:
            raise serializers.ValidationError(_("Un abonnement reste à la structure qui l'a créé."))
        return value


class DeliverySerializer(serializers.ModelSerializer):
    """One delivery of an event (an outbox message with a subscription)."""

    event = serializers.JSONField(source="payload", read_only=True)

    class Meta:
        model = OutboxMessage
        fields = [
            "id",
            "kind",
            "state",
            "url",
            "attempts",
            "created_at",
            "next_attempt_at",
            "delivered_at",
            "last_error",
            "event",
        ]
        read_only_fields = fields


STATE_PARAMETER = OpenApiParameter(
    "state", OpenApiTypes.STR, OpenApiParameter.QUERY, enum=list(STATES), description="Only deliveries in this state."
)
DELIVERY_ID = OpenApiParameter("delivery_id", OpenApiTypes.UUID, OpenApiParameter.PATH)


# ---------------------------------------------------------------------------- the viewset


class _WebhookSubscriptionViewSetBase(viewsets.ModelViewSet):
    """A structure's webhook subscriptions (see the module docstring)."""

    required_scopes: ClassVar[dict[str, str]] = SCOPES
    permission_classes = [WebhooksPermission]
    serializer_class = SubscriptionSerializer
    pagination_class = CursorPagination
    filter_backends: list[Any] = []
    queryset = WebhookSubscription.objects.none()

    # ------------------------------------------------------------------ who

    def _owners(self, *, write: bool = False) -> set[uuid.UUID] | None:
        client = machine_client(self.request)
        if client is not None:
            return webhooks.managed_owner_ids(client=client, write=write)
        return webhooks.managed_owner_ids(user=person(self.request), write=write)

    def get_queryset(self) -> QuerySet[WebhookSubscription]:
        if getattr(self, "swagger_fake_view", False):
            return WebhookSubscription.objects.none()
        counts = {
            f"n_{state}": Count("deliveries", filter=Q(deliveries__state=state), distinct=True) for state in STATES
        }
        return webhooks.subscriptions_of(self._owners()).annotate(**counts)

    def owning_organisation(self, instance: WebhookSubscription) -> Any:
        """Whose subscription it is (ScopePermission checks the caller may change it)."""
        return instance.owner

    def _default_owner(self) -> Organisation:
        client = machine_client(self.request)
        if client is not None:
            return cast(Organisation, client.owner)
        owners = self._owners(write=True)
        if owners is not None and len(owners) == 1:
            return Organisation.objects.get(pk=next(iter(owners)))
        raise ValidationError({"owner": [_("Indiquez la structure à laquelle appartient cet abonnement (owner).")]})

    # ------------------------------------------------------------------ CRUD

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        owner = data.pop("owner", None) or self._default_owner()
        ensure_may_write_owner(request, owner, webhooks.MANAGE_SCOPE)
        client = token_client(request)
        subscription = webhooks.create_subscription(
            owner=owner, client_id=str(client.client_id) if client is not None else "", **data
        )
        body = self.get_serializer(self.get_queryset().get(pk=subscription.pk)).data
        return Response(body, status=status.HTTP_201_CREATED)

    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        partial = kwargs.pop("partial", False)
        instance = cast(WebhookSubscription, self.get_object())
        serializer = self.get_serializer(instance, data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        data.pop("owner", None)
        try:
            webhooks.update_subscription(instance, **data)
        except webhooks.WebhookError as exc:
            raise ValidationError(exc.errors) from None
        return Response(self.get_serializer(self.get_queryset().get(pk=instance.pk)).data)

    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        webhooks.delete_subscription(cast(WebhookSubscription, self.get_object()))
        return Response(status=status.HTTP_204_NO_CONTENT)

    # ------------------------------------------------------------------ deliveries

    def _delivery(self, subscription: WebhookSubscription, delivery_id: str) -> OutboxMessage:
        try:
            ident = uuid.UUID(str(delivery_id))
        except ValueError:
            raise Http404 from None
        delivery = webhooks.deliveries(subscription).filter(pk=ident).first()
        if delivery is None:
            raise Http404
        return delivery

    @extend_schema(
        summary="Deliveries of a subscription, newest first",
        parameters=[STATE_PARAMETER],
        responses={200: DeliverySerializer(many=True)},
    )
    @action(detail=True, methods=["get"], url_path="deliveries")
    def deliveries(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        subscription = cast(WebhookSubscription, self.get_object())
        state = request.query_params.get("state", "")
        if state and state not in STATES:
            raise ValidationError(
                {"state": [_("État inconnu ; états possibles : %(states)s.") % {"states": ", ".join(STATES)}]}
            )
        page = self.paginate_queryset(webhooks.deliveries(subscription, state=state or None))
        return self.get_paginated_response(DeliverySerializer(page, many=True).data)

    @extend_schema(summary="One delivery", parameters=[DELIVERY_ID], responses={200: DeliverySerializer})
    @action(detail=True, methods=["get"], url_path=r"deliveries/(?P<delivery_id>[^/.]+)")
    def delivery(self, request: Request, *args: Any, delivery_id: str = "", **kwargs: Any) -> Response:
        subscription = cast(WebhookSubscription, self.get_object())
        return Response(DeliverySerializer(self._delivery(subscription, delivery_id)).data)

    @extend_schema(
        summary="Send a failed or dead delivery again (fresh attempt budget)",
        parameters=[DELIVERY_ID],
        request=None,
        responses={202: DeliverySerializer, 409: OpenApiResponse(description="Not failed nor dead.")},
    )
    @action(detail=True, methods=["post"], url_path=r"deliveries/(?P<delivery_id>[^/.]+)/replay")
    def replay(self, request: Request, *args: Any, delivery_id: str = "", **kwargs: Any) -> Response:
        subscription = cast(WebhookSubscription, self.get_object())
        delivery = self._delivery(subscription, delivery_id)
        if not webhooks.replay_delivery(delivery):
            raise NotReplayable()
        delivery.refresh_from_db()
        return Response(DeliverySerializer(delivery).data, status=status.HTTP_202_ACCEPTED)


class WebhookSubscriptionViewSet(JSONErrorsMixin, IdempotentCreateMixin, _WebhookSubscriptionViewSetBase):
    """A structure's webhook subscriptions; Idempotency-Key on creation."""


router = routers.SimpleRouter()
router.trailing_slash = "/?"
router.register("webhooks", WebhookSubscriptionViewSet, basename="webhook")

urlpatterns: list[URLPattern | URLResolver] = [*router.urls]
