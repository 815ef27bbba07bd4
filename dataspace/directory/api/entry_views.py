"""/api/v1/directory/entries/: the professional directory (docs/directory.md). Thin views.

Reads (`directory:search`) go through the decision point's directory rule
(`policies.pdp.directory_entry_decision`): a licensed professional (who accepted the registry's
terms) with a purpose sees the entries with a consent in force, and only their consented fields;
everyone else sees only the entries of the structures they act for. An entry without consent is
answered as a missing one (404) to anyone but its owner. Every read of another owner's entry is
journaled for that owner, one entry per person (`subject_person_id`).

Writes (`directory:manage`): the owner's staff (administrator, editor) or its depositor clients.
"""

from __future__ import annotations

from typing import Any, ClassVar

from django.db.models import QuerySet
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import permissions as drf_permissions
from rest_framework import viewsets
from rest_framework.exceptions import ValidationError
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from dataspace.api.mixins import JSONErrorsMixin, ReplicaReadOnlyMixin
from dataspace.api.permissions import ensure_may_write_owner
from dataspace.directory.api.entry_serializers import ALL_FIELDS, OWNER_IDS, DirectoryEntrySerializer
from dataspace.directory.entries import search
from dataspace.directory.models import DirectoryEntry
from dataspace.referentials.models import Organisation
from policies import enforcement
from policies.language import PURPOSES

ENTRY_SCOPES: dict[str, str] = {"read": "directory:search", "write": "directory:manage"}

_FILTERS = [
    OpenApiParameter("purpose", OpenApiTypes.STR, description=f"Mandatory: one of {', '.join(PURPOSES)}."),
    OpenApiParameter("trade", OpenApiTypes.STR, description="A trade code (comedien, regisseur_lumiere…)."),
    OpenApiParameter("skill", OpenApiTypes.STR, description="A skill tag (accent- and case-insensitive)."),
    OpenApiParameter("region", OpenApiTypes.STR, description="A French region (Bretagne, Île-de-France…)."),
    OpenApiParameter("language", OpenApiTypes.STR, description="An ISO 639-1 code (fr, en…)."),
    OpenApiParameter("available_on", OpenApiTypes.DATE, description="A day inside one availability window."),
    OpenApiParameter("q", OpenApiTypes.STR, description="Free text over the published fields (accents ignored)."),
]
_REFUSED = {
    400: OpenApiResponse(description="`purpose` missing or unknown, or a filter it cannot read (`fields`)."),
    403: OpenApiResponse(
        description="Scope missing, or the caller is not a licensed professional (`not_licensed`, "
        "`licence_expired`, …) or has not accepted the registry's terms (`terms_not_accepted`)."
    ),
}


def _purpose_missing() -> ValidationError:
    return ValidationError(
        {
            "purpose": [
                _("Indiquez la finalité de votre recherche dans l'annuaire (paramètre purpose : %(purposes)s).")
                % {"purposes": ", ".join(PURPOSES)}
            ]
        }
    )


_LIST_SCHEMA = extend_schema(
    summary="Search the professional directory",
    parameters=_FILTERS,
    responses={200: DirectoryEntrySerializer(many=True), **_REFUSED},
)
_DETAIL_SCHEMA = extend_schema(
    summary="One directory entry (its consented fields)",
    parameters=_FILTERS[:1],
    responses={
        200: DirectoryEntrySerializer,
        404: OpenApiResponse(description="No such published entry."),
        **_REFUSED,
    },
)


@extend_schema_view(list=_LIST_SCHEMA, retrieve=_DETAIL_SCHEMA)
class DirectoryEntryViewSet(ReplicaReadOnlyMixin, JSONErrorsMixin, viewsets.ModelViewSet):
    """The directory's entries; see the module docstring."""

    required_scopes: ClassVar[dict[str, str]] = ENTRY_SCOPES
    serializer_class = DirectoryEntrySerializer
    queryset = DirectoryEntry.objects.all()
    renderer_classes = [JSONRenderer]
    lookup_value_regex = "[0-9a-fA-F-]{36}"
    policy_headers: dict[str, str] | None = None

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        if request.method in drf_permissions.SAFE_METHODS:
            enforcement.request_context(request)  # 400 naming `purpose` outside the vocabulary

    def get_queryset(self) -> QuerySet[Any]:
        queryset = DirectoryEntry.objects.select_related("owner")  # owner names for the answer headers
        if self.request.method not in drf_permissions.SAFE_METHODS:
            subject = enforcement.subject_for_request(self.request)
            if not subject.is_superuser:  # only the owner writes: others do not learn an entry exists
                queryset = queryset.filter(owner_id__in=subject.acts_for)
        return queryset

    def get_serializer_context(self) -> dict[str, Any]:
        context = dict(super().get_serializer_context())
        subject = enforcement.subject_for_request(self.request)
        context[OWNER_IDS] = frozenset(subject.acts_for)
        context[ALL_FIELDS] = subject.is_superuser
        return context

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        queryset = search(self.get_queryset(), request.query_params)
        queryset, permits = enforcement.guard_list(request, queryset, "search")
        if permits.purpose_pending and permits.default is not None:
            raise _purpose_missing()  # a licensed professional searching others' entries
        page = self.paginate_queryset(queryset)
        assert page is not None  # noqa: S101 (the collection is paginated)
        self.policy_headers = enforcement.fulfil_list(permits, page)
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    def get_object(self) -> Any:
        instance = super().get_object()
        if self.request.method in drf_permissions.SAFE_METHODS:
            _decision, self.policy_headers = enforcement.guard_read(self.request, instance, "read")
        return instance

    def finalize_response(self, request: Request, response: Any, *args: Any, **kwargs: Any) -> Any:
        response = super().finalize_response(request, response, *args, **kwargs)
        if self.policy_headers and response.status_code < 400:
            enforcement.merge_headers(response, self.policy_headers)
        response["Cache-Control"] = "private, no-store"
        return response

    # ------------------------------------------------------------------ writes

    def owning_organisation(self, instance: DirectoryEntry) -> Organisation:
        """Whose entry this is (ScopePermission checks the caller may write for it)."""
        return instance.owner

    def perform_create(self, serializer: Any) -> None:
        ensure_may_write_owner(self.request, serializer.validated_data["owner"], ENTRY_SCOPES["write"])
        serializer.save()

    def perform_update(self, serializer: Any) -> None:
        if "owner" in serializer.validated_data:
            ensure_may_write_owner(self.request, serializer.validated_data["owner"], ENTRY_SCOPES["write"])
        serializer.save()
