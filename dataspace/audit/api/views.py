"""GET /api/v1/journal/ (owners read their journal) and GET /api/v1/journal/verify (node staff).

Views parse and delegate: who sees which entries, the filters and the verification live in
`dataspace.audit.services`. Both need the scope `journal:read` (or a staff session); the journal
is never written through the API.
"""

from __future__ import annotations

import uuid
from typing import Any, ClassVar

from django.db.models import QuerySet
from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, generics
from rest_framework.renderers import BrowsableAPIRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from dataspace.api.auth import machine_client, person
from dataspace.api.mixins import JSONErrorsMixin
from dataspace.api.pagination import CursorPagination
from dataspace.api.renderers import CSVRenderer, stream_csv
from dataspace.audit import services
from dataspace.audit.api.serializers import ENTRY_FIELDS, JournalEntrySerializer
from dataspace.audit.models import JournalEntry

JOURNAL_SCOPES: dict[str, str] = {"read": "journal:read"}

FILTER_DOCS: dict[str, str] = {
    "since": "Entries at or after this ISO 8601 date or date-time (a date means its midnight, node time).",
    "until": "Entries up to this ISO 8601 date-time, or to the end of this date.",
    "action": "Action, e.g. read, search, export.",
    "decision": "permit or deny.",
    "stream": "access, break_glass or admin.",
    "purpose": "Declared purpose, e.g. programming, touring.",
    "actor": "Who acted: part of a username or organisation name, or a whole licence number or client_id.",
    "record_type": "Type of the records, e.g. performance.",
    "record_id": "UUID of one record: the entries that list it.",
    "owner": "UUID of one of the caller's organisations.",
}


def caller_owner_ids(request: Request) -> set[uuid.UUID] | None:
    """Whose journal the caller reads (None: every entry, for a superuser)."""
    client = machine_client(request)
    if client is not None:
        return services.visible_owner_ids(client=client)
    return services.visible_owner_ids(user=person(request))


class JournalPagination(CursorPagination):
    ordering = ("-seq",)  # type: ignore[assignment]  # one unique column is a total order


class JournalView(JSONErrorsMixin, generics.ListAPIView):
    """The journal of the organisations the caller acts for, newest first; `?format=csv` exports it."""

    required_scopes: ClassVar[dict[str, str]] = JOURNAL_SCOPES
    serializer_class = JournalEntrySerializer
    pagination_class = JournalPagination
    filter_backends = ()  # the filters are parsed by services.parse_filters
    renderer_classes = [JSONRenderer, CSVRenderer, BrowsableAPIRenderer]

    def get_queryset(self) -> QuerySet[JournalEntry]:
        try:
            filters = services.parse_filters(self.request.query_params)
        except services.FilterError as exc:
            raise exceptions.ValidationError(exc.errors) from None
        return services.journal_entries(caller_owner_ids(self.request), filters)

    def csv_columns(self) -> list[str]:
        return list(ENTRY_FIELDS)

    @extend_schema(
        summary="Read the journal of one's organisations",
        parameters=[OpenApiParameter(name, OpenApiTypes.STR, description=text) for name, text in FILTER_DOCS.items()],
        responses={
            200: JournalEntrySerializer(many=True),
            400: OpenApiResponse(description="A malformed filter: `fields` names it."),
            401: OpenApiResponse(description="No credentials, or an invalid token."),
            403: OpenApiResponse(description="The token lacks the scope journal:read."),
        },
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Any:
        return super().get(request, *args, **kwargs)

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Any:
        queryset = self.get_queryset()
        paging = {"cursor", "page_size"} & set(request.query_params)
        if request.accepted_renderer.format == "csv" and not paging:
            return self._csv_export(queryset)
        return super().list(request, *args, **kwargs)

    def _csv_export(self, queryset: QuerySet[JournalEntry]) -> StreamingHttpResponse:
        rows = (JournalEntrySerializer(entry).data for entry in queryset.iterator(chunk_size=500))
        return stream_csv(self.csv_columns(), rows, "journal")


class JournalVerifyView(APIView):
    """Verify the whole chain and its seals (the node's staff only)."""

    required_scopes: ClassVar[dict[str, str]] = JOURNAL_SCOPES
    renderer_classes = [JSONRenderer]

    @extend_schema(
        summary="Verify the journal's hash chain and seals",
        responses={
            200: OpenApiResponse(OpenApiTypes.OBJECT, description="The report: `ok`, counts, and `problems`."),
            403: OpenApiResponse(description="Reserved to the node's staff (superuser or is_staff)."),
        },
    )
    def get(self, request: Request) -> Response:
        user = person(request)
        if user is None or not (user.is_superuser or user.is_staff):
            raise exceptions.PermissionDenied("Verifying the whole journal is reserved to the node's staff.")
        response = Response(services.verify_chain().as_dict())
        response["Cache-Control"] = "no-store"
        return response
