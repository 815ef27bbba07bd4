"""Rights of the person over the API (docs/consent.md, "Rights of the person").

For the person themself — a session, or a token acting for them with `consent:manage`, never a
machine client (`PersonOnlyPermission`); they reach every record this node holds about them:

* GET  /api/v1/me/data     — export (JSON download)
* POST /api/v1/me/rectify  — `{target_type, target_id, changes: {field: value}}`
* POST /api/v1/me/erase    — `{confirm: true}`

For a structure acting on a person's request — its administrators and editors (session or
personal key with `consent:manage`) and its depositor clients (own or mandated for
`consent:manage`); they reach only their structures' records:

* GET  /api/v1/rights/export?email=…
* POST /api/v1/rights/rectify  — `{email, target_type, target_id, changes}`
* POST /api/v1/rights/erase    — `{email, confirm: true}`
* GET  /api/v1/processing-record?organisation=…  — the record of processing (any staff role)

Nothing held about the person within reach is a 404 (rectify, erase), an empty export otherwise.
"""

from __future__ import annotations

import json
import uuid
from typing import Any, ClassVar

from django.http import HttpResponse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from dataspace.api.auth import person, token_client
from dataspace.api.mixins import JSONErrorsMixin
from dataspace.consent import rights
from dataspace.consent.api.views import (
    SCOPES,
    PersonOnlyPermission,
    SubjectOrControllerPermission,
    managed_controllers,
)
from dataspace.referentials.models import Organisation

_ERRORS = {
    400: OpenApiResponse(description="`fields` names the member (email, confirm, target_type, changes…)."),
    401: OpenApiResponse(description="No session and no access token."),
    403: OpenApiResponse(description="`insufficient_scope` (consent:manage), `person_required`, `reader_client`."),
    404: OpenApiResponse(description="Nothing held about this person within the caller's reach."),
}


class RectifySerializer(serializers.Serializer):
    target_type = serializers.CharField(help_text="`contact` or `directory-entry`.")
    target_id = serializers.UUIDField()
    changes = serializers.DictField()


class EraseSerializer(serializers.Serializer):
    confirm = serializers.BooleanField(required=True, help_text="Must be true: erasure cannot be undone.")

    def validate_confirm(self, value: bool) -> bool:
        if value is not True:
            raise serializers.ValidationError(
                "Erasure cannot be undone: send confirm=true to erase everything held about the person."
            )
        return value


class StaffRectifySerializer(RectifySerializer):
    email = serializers.EmailField()


class StaffEraseSerializer(EraseSerializer):
    email = serializers.EmailField()


def _client_id(request: Request) -> str:
    client = token_client(request)
    return str(client.client_id) if client is not None else ""


def _rights_call(function: Any, **kwargs: Any) -> Any:
    try:
        return function(**kwargs)
    except rights.RightsError as exc:
        raise exceptions.ValidationError(exc.errors) from None
    except rights.NothingHeld:
        raise exceptions.NotFound("Nothing held about this person within your reach.") from None


def _staff_rights_call(request: Request, function: Any, **kwargs: Any) -> Any:
    """A right exercised by a structure's staff: over the structures the caller may write for,
    journalled as done by the caller (and their client, if any)."""
    return _rights_call(
        function,
        owners=managed_controllers(request, write=True),
        by=person(request),
        client_id=_client_id(request),
        **kwargs,
    )


def _download(document: dict[str, Any], name: str) -> HttpResponse:
    body = json.dumps(document, ensure_ascii=False, indent=2)
    response = HttpResponse(body, content_type="application/json; charset=utf-8")
    stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
    response["Content-Disposition"] = f'attachment; filename="{name}-{stamp}.json"'
    response["Cache-Control"] = "no-store"
    return response


# ---------------------------------------------------------------------------- the person


class MyDataView(JSONErrorsMixin, APIView):
    """Everything this node holds about me (JSON download)."""

    required_scopes: ClassVar[dict[str, str]] = SCOPES
    permission_classes = [PersonOnlyPermission]

    @extend_schema(summary="Export of my data (JSON download)", responses={200: OpenApiTypes.OBJECT, **_ERRORS})
    def get(self, request: Request) -> HttpResponse:
        user = person(request)
        document = _rights_call(rights.export_person_data, user=user, by=user, client_id=_client_id(request))
        return _download(document, "mes-donnees")


class MyRectifyView(JSONErrorsMixin, APIView):
    """Rectify a field of one of my directory entries or contacts."""

    required_scopes: ClassVar[dict[str, str]] = SCOPES
    permission_classes = [PersonOnlyPermission]

    @extend_schema(
        summary="Rectify my data", request=RectifySerializer, responses={200: OpenApiTypes.OBJECT, **_ERRORS}
    )
    def post(self, request: Request) -> Response:
        body = RectifySerializer(data=request.data)
        body.is_valid(raise_exception=True)
        user = person(request)
        record = _rights_call(
            rights.rectify_person_data,
            user=user,
            by=user,
            client_id=_client_id(request),
            **body.validated_data,
        )
        return Response({"target_type": body.validated_data["target_type"], "target_id": str(record.pk)})


class MyEraseView(JSONErrorsMixin, APIView):
    """Erase everything this node holds about me (confirm=true)."""

    required_scopes: ClassVar[dict[str, str]] = SCOPES
    permission_classes = [PersonOnlyPermission]

    @extend_schema(summary="Erase my data", request=EraseSerializer, responses={200: OpenApiTypes.OBJECT, **_ERRORS})
    def post(self, request: Request) -> Response:
        EraseSerializer(data=request.data).is_valid(raise_exception=True)
        user = person(request)
        erased = _rights_call(rights.erase_person_data, user=user, by=user, client_id=_client_id(request))
        return Response({"erased": erased})


# ---------------------------------------------------------------------------- a structure, for a person


class StaffPermission(SubjectOrControllerPermission):
    """A structure's administrator/editor or depositor client (consent:manage), never anyone else."""

    def has_permission(self, request: Request, view: Any) -> bool:
        super().has_permission(request, view)
        if managed_controllers(request, write=view.needs_write_role) == set():
            raise exceptions.PermissionDenied(
                "Reserved to a structure's administrators and editors, and to its clients with consent:manage.",
                code="structure_staff_required",
            )
        return True


EMAIL = OpenApiParameter("email", OpenApiTypes.STR, OpenApiParameter.QUERY, required=True)


class StaffExportView(JSONErrorsMixin, APIView):
    """What the caller's structures hold about a person (by email)."""

    required_scopes: ClassVar[dict[str, str]] = SCOPES
    permission_classes = [StaffPermission]
    needs_write_role = True

    @extend_schema(
        summary="Export a person's data held by my structures",
        parameters=[EMAIL],
        responses={200: OpenApiTypes.OBJECT, **_ERRORS},
    )
    def get(self, request: Request) -> HttpResponse:
        raw = request.query_params.get("email", "")
        try:
            email = serializers.EmailField().run_validation(raw)
        except serializers.ValidationError as exc:
            raise exceptions.ValidationError({"email": exc.detail}) from None
        document = _staff_rights_call(request, rights.export_person_data, email=email)
        return _download(document, "donnees-personne")


class StaffRectifyView(JSONErrorsMixin, APIView):
    required_scopes: ClassVar[dict[str, str]] = SCOPES
    permission_classes = [StaffPermission]
    needs_write_role = True

    @extend_schema(
        summary="Rectify a person's data held by my structures",
        request=StaffRectifySerializer,
        responses={200: OpenApiTypes.OBJECT, **_ERRORS},
    )
    def post(self, request: Request) -> Response:
        body = StaffRectifySerializer(data=request.data)
        body.is_valid(raise_exception=True)
        record = _staff_rights_call(request, rights.rectify_person_data, **body.validated_data)
        return Response({"target_type": body.validated_data["target_type"], "target_id": str(record.pk)})


class StaffEraseView(JSONErrorsMixin, APIView):
    required_scopes: ClassVar[dict[str, str]] = SCOPES
    permission_classes = [StaffPermission]
    needs_write_role = True

    @extend_schema(
        summary="Erase a person's data held by my structures",
        request=StaffEraseSerializer,
        responses={200: OpenApiTypes.OBJECT, **_ERRORS},
    )
    def post(self, request: Request) -> Response:
        body = StaffEraseSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        erased = _staff_rights_call(request, rights.erase_person_data, email=body.validated_data["email"])
        return Response({"erased": erased})


ORGANISATION = OpenApiParameter(
    "organisation", OpenApiTypes.UUID, OpenApiParameter.QUERY, description="Needed when you manage several."
)


class ProcessingRecordView(JSONErrorsMixin, APIView):
    """The structure's record of processing activities (GDPR art. 30), generated."""

    required_scopes: ClassVar[dict[str, str]] = SCOPES
    permission_classes = [StaffPermission]
    needs_write_role = False

    @extend_schema(
        summary="Record of processing of my structure",
        parameters=[ORGANISATION],
        responses={200: OpenApiTypes.OBJECT, **_ERRORS},
    )
    def get(self, request: Request) -> Response:
        managed = managed_controllers(request, write=False)
        raw = request.query_params.get("organisation", "").strip()
        queryset = Organisation.objects.all() if managed is None else Organisation.objects.filter(pk__in=managed)
        if raw:
            try:
                ident = uuid.UUID(raw)
            except ValueError:
                raise exceptions.ValidationError({"organisation": ["A UUID is expected."]}) from None
            organisation = queryset.filter(pk=ident).first()
            if organisation is None:
                raise exceptions.NotFound("No such structure among those you manage.")
        else:
            candidates = list(queryset[:2])
            if len(candidates) != 1:
                raise exceptions.ValidationError({"organisation": ["Name the structure (you manage several)."]})
            organisation = candidates[0]
        return Response(rights.record_of_processing(organisation))
