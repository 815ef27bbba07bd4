"""/api/v1/ routes of the DMP controls: blocks, hidden records, break-glass (docs/policies.md, "DMP controls").

* `/api/v1/blocks/` and `/api/v1/hidden-records/` — an owner's controls, scope `policies:manage`
  (read and write). A caller sees the controls of the structures it works for (a person: its
  `StaffMembership`s; a machine client: its owner and the structures whose active mandate covers
  `policies:manage`; a superuser: all) and changes them where `ensure_may_write_owner` allows
  (administrator or editor role, depositor client for its owner or under a mandate). Another
  structure's control is a 404, as if it did not exist.
* `/api/v1/break-glass/` — a **person** opens an emergency read (`POST`) and lists their own
  (`GET`). Scope `referentials:read` both ways: opening one reads a record and writes no shared
  data, so the depositor rule of `ScopePermission` (which guards writes of shared records) does
  not apply; `PersonOnly` replaces it for this view. A machine client (no person) is refused 403
  `person_required`. Licence, emergency, justification and blocks are checked by
  `policies.controls.open_break_glass`.
* `/api/v1/break-glass/alerts/` — the owner's in-app view of the break-glass accesses to its
  data (scope `policies:manage`, read), newest first, `?owner=<uuid>` to narrow.

Views are thin: they parse, find whose data it is, authorize and call `policies.controls`.
"""

from __future__ import annotations

import re
import uuid
from typing import Any, ClassVar

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import exceptions, mixins, permissions, serializers, status, viewsets
from rest_framework.request import Request
from rest_framework.response import Response

from dataspace.api.auth import bearer_token, machine_client, person
from dataspace.api.mixins import JSONErrorsMixin
from dataspace.api.permissions import WRITE_ROLES, InsufficientScope, ensure_may_write_owner, staff_roles
from policies import controls
from policies.language import PURPOSES
from policies.models import Block, BreakGlassAccess, HiddenRecord

MANAGE_SCOPE = "policies:manage"
READ_SCOPE = "referentials:read"

_ORGANISATION_URI = re.compile(r"/id/organisation/(?P<id>[0-9a-fA-F-]{32,36})/?$")

_ERRORS = {
    400: OpenApiResponse(description="Invalid request: `{error, detail, fields}` names the fields."),
    401: OpenApiResponse(description="No credentials, or an invalid token."),
    403: OpenApiResponse(
        description="The token lacks the scope, or the caller may not change this structure's controls "
        "(`fields.owner`)."
    ),
}
_DETAIL_ERRORS = {**_ERRORS, 404: OpenApiResponse(description="No such control among the caller's structures'.")}


# ---------------------------------------------------------------------------- whose controls


def readable_owner_ids(request: Request) -> frozenset[uuid.UUID] | None:
    """The structures whose controls the caller sees (None: every structure, for a superuser)."""
    client = machine_client(request)
    if client is not None:
        from dataspace.oauth.models import Mandate

        now = timezone.now()
        mandates = Mandate.objects.filter(client=client, revoked_at__isnull=True).filter(
            Q(expires_at__isnull=True) | Q(expires_at__gt=now)
        )
        mandated = {
            structure
            for structure, scopes in mandates.values_list("structure_id", "scopes")
            if MANAGE_SCOPE in (scopes or [])
        }
        return frozenset({client.owner_id, *mandated})
    user = person(request)
    if user is None:
        return frozenset()
    if user.is_superuser:
        return None
    return frozenset(staff_roles(user))


def _visible(queryset: QuerySet[Any], request: Request) -> QuerySet[Any]:
    owners = readable_owner_ids(request)
    return queryset if owners is None else queryset.filter(owner_id__in=owners)


def _organisation_id(value: Any, field: str) -> uuid.UUID:
    """An organisation's UUID from a UUID or its global URI; 400 naming `field`."""
    text = str(value or "").strip()
    match = _ORGANISATION_URI.search(text)
    try:
        return uuid.UUID(match.group("id") if match else text)
    except ValueError:
        raise exceptions.ValidationError({field: [_("UUID ou URI d'organisation attendu.")]}) from None


def _organisation(value: Any, field: str) -> Any:
    from dataspace.referentials.models import Organisation

    found = Organisation.objects.filter(pk=_organisation_id(value, field)).first()
    if found is None:
        raise exceptions.ValidationError({field: [_("Organisation inconnue sur ce nœud.")]})
    return found


def _default_owner(request: Request, given: Any) -> Any:
    """The structure a new block is for: `owner` if given, else the only one the caller manages."""
    if given:
        return _organisation(given, "owner")
    client = machine_client(request)
    if client is not None:
        return client.owner
    user = person(request)
    roles = staff_roles(user) if user is not None else {}
    writable = [organisation for organisation, role in roles.items() if role in WRITE_ROLES]
    if len(writable) != 1:
        raise exceptions.ValidationError({"owner": [_("Précisez la structure (owner) pour laquelle vous agissez.")]})
    return _organisation(writable[0], "owner")


def _drf_error(exc: DjangoValidationError) -> exceptions.ValidationError:
    return exceptions.ValidationError(
        exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
    )


def _refusal(exc: controls.ControlRefused) -> exceptions.PermissionDenied:
    return exceptions.PermissionDenied(exc.reason, code=exc.reason_code)


# ---------------------------------------------------------------------------- serializers


class BlockSerializer(serializers.ModelSerializer[Block]):
    """A block as its owner sees it."""

    owner = serializers.UUIDField(source="owner_id", read_only=True)
    owner_name = serializers.CharField(source="owner.name", read_only=True)
    user = serializers.SerializerMethodField(help_text="username of the blocked person (null for an organisation)")
    organisation = serializers.UUIDField(source="blocked_organisation_id", read_only=True, allow_null=True)
    organisation_name = serializers.SerializerMethodField()
    created_by = serializers.SerializerMethodField(help_text="username of who blocked")

    class Meta:
        model = Block
        fields = (
            "id",
            "owner",
            "owner_name",
            "user",
            "organisation",
            "organisation_name",
            "note",
            "created_at",
            "created_by",
        )
        read_only_fields = fields

    def get_user(self, obj: Block) -> str | None:
        return obj.blocked_user.get_username() if obj.blocked_user is not None else None

    def get_organisation_name(self, obj: Block) -> str | None:
        return obj.blocked_organisation.name if obj.blocked_organisation is not None else None

    def get_created_by(self, obj: Block) -> str | None:
        return obj.created_by.get_username() if obj.created_by is not None else None


class BlockCreateSerializer(serializers.Serializer[Any]):
    owner = serializers.CharField(required=False, help_text="UUID or URI of the blocking structure (default: yours)")
    user = serializers.CharField(required=False, help_text="username of the person to block")
    organisation = serializers.CharField(required=False, help_text="UUID or URI of the organisation to block")
    note = serializers.CharField(required=False, allow_blank=True, default="", help_text="private to the owner")


class RecordReferenceField(serializers.JSONField):
    """A record: its global URI (`…/id/<type>/<uuid>`) or `{"type": …, "id": …}`."""


class HiddenRecordSerializer(serializers.ModelSerializer[HiddenRecord]):
    """A hidden record with the partners allowed to see it."""

    owner = serializers.UUIDField(source="owner_id", read_only=True)
    owner_name = serializers.CharField(source="owner.name", read_only=True)
    record = serializers.SerializerMethodField()
    partners = serializers.SerializerMethodField(help_text="UUIDs of the organisations that still see it")
    created_by = serializers.SerializerMethodField()

    class Meta:
        model = HiddenRecord
        fields = ("id", "owner", "owner_name", "record", "partners", "created_at", "created_by")
        read_only_fields = fields

    def get_record(self, obj: HiddenRecord) -> dict[str, str]:
        return {"type": obj.target_type, "id": str(obj.target_id)}

    def get_partners(self, obj: HiddenRecord) -> list[str]:
        return [str(partner.pk) for partner in obj.partners.all()]

    def get_created_by(self, obj: HiddenRecord) -> str | None:
        return obj.created_by.get_username() if obj.created_by is not None else None


class HiddenRecordCreateSerializer(serializers.Serializer[Any]):
    record = RecordReferenceField(help_text='global URI of the record, or {"type": …, "id": …}')
    partners = serializers.ListField(
        child=serializers.CharField(), required=False, default=list, help_text="UUIDs or URIs of organisations"
    )


class HiddenRecordUpdateSerializer(serializers.Serializer[Any]):
    partners = serializers.ListField(child=serializers.CharField(), help_text="UUIDs or URIs of organisations")


class BreakGlassRequestSerializer(serializers.Serializer[Any]):
    record = RecordReferenceField(help_text='global URI of the record, or {"type": …, "id": …}')
    emergency = serializers.ChoiceField(choices=BreakGlassAccess.Emergency.choices)
    justification = serializers.CharField(
        help_text=f"why this emergency needs this record (at least {controls.MIN_JUSTIFICATION} characters)"
    )
    purpose = serializers.ChoiceField(choices=list(PURPOSES), required=False, allow_blank=True, default="")


class BreakGlassAccessSerializer(serializers.ModelSerializer[BreakGlassAccess]):
    """One break-glass access: who, which record, why, until when, whether the owner was alerted."""

    user = serializers.CharField(source="user.username", read_only=True)
    organisation = serializers.UUIDField(source="organisation_id", read_only=True, allow_null=True)
    owner = serializers.UUIDField(source="owner_id", read_only=True)
    owner_name = serializers.CharField(source="owner.name", read_only=True)
    record = serializers.SerializerMethodField()
    emergency_label = serializers.CharField(source="get_emergency_display", read_only=True)
    active = serializers.SerializerMethodField(help_text="in force now")

    class Meta:
        model = BreakGlassAccess
        fields = (
            "id",
            "user",
            "organisation",
            "licence_number",
            "owner",
            "owner_name",
            "record",
            "emergency",
            "emergency_label",
            "justification",
            "purpose",
            "created_at",
            "expires_at",
            "active",
            "owner_alerted_at",
        )
        read_only_fields = fields

    def get_record(self, obj: BreakGlassAccess) -> dict[str, str]:
        return {"type": obj.target_type, "id": str(obj.target_id)}

    def get_active(self, obj: BreakGlassAccess) -> bool:
        now = timezone.now()
        return bool(obj.created_at <= now < obj.expires_at)


# ---------------------------------------------------------------------------- blocks


@extend_schema_view(
    list=extend_schema(summary="List your structures' blocks", responses={200: BlockSerializer(many=True), **_ERRORS}),
    retrieve=extend_schema(summary="One block", responses={200: BlockSerializer, **_DETAIL_ERRORS}),
    create=extend_schema(
        summary="Block a person or an organisation (it is refused everything, without being told why)",
        request=BlockCreateSerializer,
        responses={201: BlockSerializer, **_ERRORS},
    ),
    destroy=extend_schema(summary="Lift a block", responses={204: None, **_DETAIL_ERRORS}),
)
class BlockViewSet(
    JSONErrorsMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin, viewsets.GenericViewSet
):
    required_scopes: ClassVar[dict[str, str]] = {"read": MANAGE_SCOPE, "write": MANAGE_SCOPE}
    serializer_class = BlockSerializer
    queryset = Block.objects.none()  # per caller: get_queryset

    def get_queryset(self) -> QuerySet[Block]:
        queryset = Block.objects.select_related("owner", "blocked_user", "blocked_organisation", "created_by")
        return _visible(queryset, self.request)

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        from django.contrib.auth import get_user_model

        incoming = BlockCreateSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        data = incoming.validated_data
        owner = _default_owner(request, data.get("owner"))
        ensure_may_write_owner(request, owner, MANAGE_SCOPE)
        user = None
        if data.get("user"):
            user = get_user_model()._default_manager.filter(username=data["user"]).first()
            if user is None:
                raise exceptions.ValidationError({"user": [_("Aucun compte de ce nom sur ce nœud.")]})
        organisation = _organisation(data["organisation"], "organisation") if data.get("organisation") else None
        try:
            block = controls.block_party(
                owner, user=user, organisation=organisation, note=data["note"], by=request.user
            )
        except DjangoValidationError as exc:
            raise _drf_error(exc) from None
        return Response(BlockSerializer(self.get_queryset().get(pk=block.pk)).data, status=status.HTTP_201_CREATED)

    def perform_destroy(self, instance: Block) -> None:
        ensure_may_write_owner(self.request, instance.owner, MANAGE_SCOPE)
        controls.unblock(instance, by=self.request.user)


# ---------------------------------------------------------------------------- hidden records


@extend_schema_view(
    list=extend_schema(
        summary="List your structures' hidden records",
        parameters=[OpenApiParameter("type", str, description="only records of this type")],
        responses={200: HiddenRecordSerializer(many=True), **_ERRORS},
    ),
    retrieve=extend_schema(summary="One hidden record", responses={200: HiddenRecordSerializer, **_DETAIL_ERRORS}),
    create=extend_schema(
        summary="Hide one of your records (only you and the named partners see it)",
        request=HiddenRecordCreateSerializer,
        responses={201: HiddenRecordSerializer, **_ERRORS},
    ),
    partial_update=extend_schema(
        summary="Replace the partners of a hidden record",
        request=HiddenRecordUpdateSerializer,
        responses={200: HiddenRecordSerializer, **_DETAIL_ERRORS},
    ),
    destroy=extend_schema(summary="Show the record again", responses={204: None, **_DETAIL_ERRORS}),
)
class HiddenRecordViewSet(
    JSONErrorsMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin, viewsets.GenericViewSet
):
    required_scopes: ClassVar[dict[str, str]] = {"read": MANAGE_SCOPE, "write": MANAGE_SCOPE}
    serializer_class = HiddenRecordSerializer
    queryset = HiddenRecord.objects.none()  # per caller: get_queryset

    def get_queryset(self) -> QuerySet[HiddenRecord]:
        queryset = HiddenRecord.objects.select_related("owner", "created_by").prefetch_related("partners")
        wanted = self.request.query_params.get("type")
        if wanted:
            queryset = queryset.filter(target_type=wanted)
        return _visible(queryset, self.request)

    @staticmethod
    def _partners(values: list[str]) -> list[uuid.UUID]:
        return [_organisation_id(value, "partners") for value in values]

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        incoming = HiddenRecordCreateSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        data = incoming.validated_data
        try:
            target_type, target_id = controls.parse_record_reference(data["record"])
        except DjangoValidationError as exc:
            raise _drf_error(exc) from None
        record = controls.find_record(target_type, target_id)
        owners = readable_owner_ids(request)
        owner_id = controls.owner_id_of(record) if record is not None else None
        if record is None or (owners is not None and owner_id not in owners):
            # Someone else's record is answered like a missing one: its existence is not disclosed.
            raise exceptions.ValidationError(
                {"record": [_("Aucun enregistrement de ce type et de cet identifiant n'appartient à votre structure.")]}
            )
        owner = _organisation(owner_id, "record")
        ensure_may_write_owner(request, owner, MANAGE_SCOPE)
        try:
            hidden = controls.hide_record(
                owner, target_type, target_id, self._partners(data["partners"]), by=request.user
            )
        except DjangoValidationError as exc:
            raise _drf_error(exc) from None
        return Response(
            HiddenRecordSerializer(self.get_queryset().get(pk=hidden.pk)).data, status=status.HTTP_201_CREATED
        )

    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        hidden = self.get_object()
        ensure_may_write_owner(request, hidden.owner, MANAGE_SCOPE)
        incoming = HiddenRecordUpdateSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        try:
            controls.set_hidden_partners(hidden, self._partners(incoming.validated_data["partners"]), by=request.user)
        except DjangoValidationError as exc:
            raise _drf_error(exc) from None
        return Response(HiddenRecordSerializer(self.get_queryset().get(pk=hidden.pk)).data)

    def perform_destroy(self, instance: HiddenRecord) -> None:
        ensure_may_write_owner(self.request, instance.owner, MANAGE_SCOPE)
        controls.unhide(instance, by=self.request.user)


# ---------------------------------------------------------------------------- break-glass


class PersonOnly(permissions.BasePermission):
    """A person, through a session or a token acting for them that carries the view's read scope.

    Used instead of `ScopePermission` where a person's unsafe request reads rather than writes
    shared data (break-glass): no depositor client, no staff role needed; a machine client is
    refused 403 `person_required`, a token without the scope 403 `insufficient_scope`.
    """

    def has_permission(self, request: Request, view: Any) -> bool:
        declared = getattr(view, "required_scopes", None)
        if not isinstance(declared, dict) or not declared.get("read"):
            raise exceptions.PermissionDenied("This endpoint declares no required scopes.", code="no_scope_declared")
        needed = declared["read"] if request.method in permissions.SAFE_METHODS else declared.get("write", "")
        token = bearer_token(request)
        if token is not None and needed not in token.scopes:
            raise InsufficientScope(needed)
        if machine_client(request) is not None:
            raise exceptions.PermissionDenied(
                _(
                    "L'accès d'urgence est demandé par une personne (session ou jeton agissant pour elle), "
                    "pas par un logiciel."
                ),
                code="person_required",
            )
        if person(request) is None:
            raise exceptions.NotAuthenticated()
        return True


def _subject(request: Request) -> Any:
    from policies.enforcement import subject_for_request

    return subject_for_request(request)


@extend_schema_view(
    list=extend_schema(
        summary="Your own break-glass accesses, newest first",
        responses={200: BreakGlassAccessSerializer(many=True), **_ERRORS},
    ),
    create=extend_schema(
        summary="Open a break-glass (emergency) read of one record",
        description="A licensed professional only, for a named emergency, with a written justification; the "
        "record's owner is alerted and the access is journaled apart. 403 carries the reason code (e.g. "
        "`licence_expired`) and a sentence.",
        request=BreakGlassRequestSerializer,
        responses={201: BreakGlassAccessSerializer, **_ERRORS},
    ),
)
class BreakGlassViewSet(JSONErrorsMixin, mixins.ListModelMixin, viewsets.GenericViewSet):
    required_scopes: ClassVar[dict[str, str]] = {"read": READ_SCOPE, "write": READ_SCOPE}
    permission_classes = [PersonOnly]
    serializer_class = BreakGlassAccessSerializer
    queryset = BreakGlassAccess.objects.none()  # per caller: get_queryset

    def get_queryset(self) -> QuerySet[BreakGlassAccess]:
        user = person(self.request)
        if user is None:
            return BreakGlassAccess.objects.none()
        return BreakGlassAccess.objects.select_related("owner", "user").filter(user_id=user.pk)

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        incoming = BreakGlassRequestSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        data = incoming.validated_data
        try:
            target_type, target_id = controls.parse_record_reference(data["record"])
            access = controls.open_break_glass(
                subject=_subject(request),
                target_type=target_type,
                target_id=target_id,
                emergency=data["emergency"],
                justification=data["justification"],
                purpose=data["purpose"],
            )
        except DjangoValidationError as exc:
            raise _drf_error(exc) from None
        except controls.ControlRefused as exc:
            raise _refusal(exc) from None
        body = BreakGlassAccessSerializer(self.get_queryset().get(pk=access.pk)).data
        return Response(body, status=status.HTTP_201_CREATED)


@extend_schema_view(
    list=extend_schema(
        summary="Break-glass accesses to your structures' data (alerts), newest first",
        parameters=[OpenApiParameter("owner", uuid.UUID, description="only this structure's")],
        responses={200: BreakGlassAccessSerializer(many=True), **_ERRORS},
    ),
)
class BreakGlassAlertViewSet(JSONErrorsMixin, mixins.ListModelMixin, viewsets.GenericViewSet):
    required_scopes: ClassVar[dict[str, str]] = {"read": MANAGE_SCOPE}
    serializer_class = BreakGlassAccessSerializer
    queryset = BreakGlassAccess.objects.none()  # per caller: get_queryset

    def get_queryset(self) -> QuerySet[BreakGlassAccess]:
        queryset = _visible(BreakGlassAccess.objects.select_related("owner", "user"), self.request)
        wanted = self.request.query_params.get("owner")
        if wanted:
            queryset = queryset.filter(owner_id=_organisation_id(wanted, "owner"))
        return queryset


__all__ = [
    "BlockViewSet",
    "BreakGlassAlertViewSet",
    "BreakGlassViewSet",
    "HiddenRecordViewSet",
    "PersonOnly",
    "readable_owner_ids",
]
