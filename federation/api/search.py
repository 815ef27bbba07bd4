"""Federated search over HTTP (DESIGN.md §4 registry paths; docs/federation.md "Federated search").

* `GET /api/v1/directory/search` and `GET /api/v1/referentials/search` — on a node with role
  registry only (404 elsewhere): a licensed professional, through a session or a token acting for
  them with the scope `directory:search` / `referentials:read`. Parameters and answer:
  `federation.search`. 400 names the parameter at fault; 403 carries the decision point's reason
  (`not_licensed`, `licence_expired`, `terms_not_accepted`…).
* `POST /api/v1/federation/search` — on every node: a registry's live fan-out. The request must be
  signed (RFC 9421) by a member with role registry (`request.signed_peer`, else 401
  `signature_required` / 403 `registry_only`), carry that registry's bearer token
  (`federation.api.peers.RegistryPeerPermission`) with the scope of the endpoint asked, and an
  `On-Behalf-Of` attestation (`federation.attestation`; missing 403 `on_behalf_of_required`,
  invalid 403 `invalid_attestation`) whose purpose is the one searched.
  Body `{"endpoint": "directory" | "referentials", "params": {...}}`; answer
  `{"results", "count", "next"}` over this node's own records under its own policies and the
  owners' data-sharing agreements with the registry.
"""

from __future__ import annotations

from typing import Any, ClassVar

from django.conf import settings
from django.http import Http404
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, permissions
from rest_framework.exceptions import ValidationError
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from dataspace.api.auth import bearer_token, token_client
from dataspace.api.mixins import JSONErrorsMixin
from dataspace.api.permissions import InsufficientScope
from federation import search
from federation.api.peers import RegistryPeerPermission
from policies.enforcement import ON_BEHALF_OF_ATTR, subject_for_request
from policies.language import PURPOSES


class SearchRefusedError(exceptions.PermissionDenied):
    """403 `{"error": <reason code>, "detail": <sentence>}` for a subject that may not search."""

    def __init__(self, refused: search.SearchRefused) -> None:
        super().__init__(refused.detail, code=refused.code)


# ---------------------------------------------------------------------------- registry endpoints


class ProfessionalSearchPermission(permissions.BasePermission):
    """A session, or a token with the view's read scope; who may search is decided by the view
    (a licensed professional, `federation.search.refusal`)."""

    def has_permission(self, request: Request, view: Any) -> bool:
        if "registry" not in tuple(settings.NODE_ROLES):
            raise Http404  # the registry's search only
        needed = view.required_scopes["read"]
        token = bearer_token(request)
        if token is not None:
            if needed not in token.scopes:
                raise InsufficientScope(needed)
            return True
        if request.user is None or not request.user.is_authenticated:
            raise exceptions.NotAuthenticated(
                _("Identifiez-vous (session ou jeton d'accès portant %(scope)s) pour chercher.") % {"scope": needed}
            )
        return True


_COMMON_PARAMETERS = [
    OpenApiParameter("purpose", OpenApiTypes.STR, required=True, description=f"One of {', '.join(PURPOSES)}."),
    OpenApiParameter("mode", OpenApiTypes.STR, description="index (default: the registry's replicated index) | live."),
    OpenApiParameter("q", OpenApiTypes.STR, description="Free text, accent- and case-insensitive."),
    OpenApiParameter("page_size", OpenApiTypes.INT, description=f"1–{search.MAX_PAGE_SIZE}."),
    OpenApiParameter("cursor", OpenApiTypes.STR, description="Opaque cursor from a previous `next`."),
]
_RESPONSES = {
    200: OpenApiResponse(description="`{mode, type, count, results, nodes, next}` (docs/federation.md)."),
    400: OpenApiResponse(description="A parameter it cannot read (`fields` names it), `purpose` missing."),
    401: OpenApiResponse(description="No credentials."),
    403: OpenApiResponse(description="Not a licensed professional (`not_licensed`, `licence_expired`…), terms."),
    404: OpenApiResponse(description="Not a registry node."),
}


class _SearchView(JSONErrorsMixin, APIView):
    endpoint: ClassVar[str] = ""
    permission_classes = [ProfessionalSearchPermission]
    renderer_classes = [JSONRenderer]

    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        subject = subject_for_request(request)
        try:
            answer = search.search(self.endpoint, request.query_params, subject)
        except search.SearchRefused as refused:
            raise SearchRefusedError(refused) from None
        response = Response(answer.as_json())
        response["Cache-Control"] = "private, no-store"
        return response


class DirectorySearchView(_SearchView):
    """GET /api/v1/directory/search: persons of the directory across the federation."""

    endpoint = "directory"
    required_scopes: ClassVar[dict[str, str]] = {"read": search.SCOPES["directory"]}

    @extend_schema(
        summary="Federated search of the professional directory (registry)",
        parameters=[
            *_COMMON_PARAMETERS,
            *[
                OpenApiParameter(f.name, OpenApiTypes.STR, description=str(f.label))
                for f in search.FILTERS["directory"]
                if f.name != "q"
            ],
        ],
        responses=_RESPONSES,
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


class ReferentialsSearchView(_SearchView):
    """GET /api/v1/referentials/search: productions, performances, venues, halls, programmers."""

    endpoint = "referentials"
    required_scopes: ClassVar[dict[str, str]] = {"read": search.SCOPES["referentials"]}

    @extend_schema(
        summary="Federated search of the shared referentials (registry)",
        parameters=[
            OpenApiParameter("type", OpenApiTypes.STR, required=True, description=" | ".join(search.REFERENTIAL_TYPES)),
            *_COMMON_PARAMETERS,
            *[
                OpenApiParameter(name, OpenApiTypes.STR, description=str(search._ALL_FILTERS[name].label))
                for name in sorted(search._ENDPOINT_FILTERS["referentials"] - {"q"})
            ],
        ],
        responses=_RESPONSES,
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


# ---------------------------------------------------------------------------- every node: the registry's fan-out


class NodeSearchView(JSONErrorsMixin, APIView):
    """POST /api/v1/federation/search: this node's part of a registry's live search."""

    required_scopes: ClassVar[dict[str, str]] = {"read": "directory:search", "write": "directory:search"}
    permission_classes = [RegistryPeerPermission]
    renderer_classes = [JSONRenderer]

    @extend_schema(
        summary="This node's part of a registry's live federated search (signed, On-Behalf-Of)",
        request=OpenApiTypes.OBJECT,
        responses={
            200: OpenApiResponse(description="`{results, count, next}` over this node's own records."),
            400: OpenApiResponse(description="Malformed body or parameter (`fields` names it)."),
            401: OpenApiResponse(description="Unsigned request or no token."),
            403: OpenApiResponse(description="Not the registry, wrong scope, attestation missing or invalid."),
        },
    )
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        body = request.data if isinstance(request.data, dict) else None
        if body is None:
            raise ValidationError({"endpoint": [_("Corps JSON attendu : {endpoint, params}.")]})
        endpoint = body.get("endpoint")
        if endpoint not in search.ENDPOINTS:
            raise ValidationError({"endpoint": [_("« directory » ou « referentials ».")]})
        params = body.get("params", {})
        if not isinstance(params, dict) or not all(isinstance(v, (str, int, float)) for v in params.values()):
            raise ValidationError({"params": [_("Un objet de paramètres (valeurs texte).")]})
        token = bearer_token(request)
        scope = search.SCOPES[endpoint]
        if token is None or scope not in token.scopes:
            raise InsufficientScope(scope)
        subject = subject_for_request(request)
        attested = getattr(request._request, ON_BEHALF_OF_ATTR, None)
        if attested is None:
            raise exceptions.PermissionDenied(
                _("Attestation On-Behalf-Of du registre exigée : pour qui cette recherche ?"),
                code="on_behalf_of_required",
            )
        if str(params.get("purpose", "")) != attested.purpose:
            raise exceptions.PermissionDenied(
                _("La finalité demandée n'est pas celle que le registre atteste."), code="purpose_mismatch"
            )
        from dataspace.consent.agreements import reader_for_client

        client = token_client(request)
        reader = reader_for_client(client) if client is not None else None
        try:
            answer = search.search_node(endpoint, {k: str(v) for k, v in params.items()}, subject, reader=reader)
        except search.SearchRefused as refused:
            raise SearchRefusedError(refused) from None
        response = Response(answer)
        response["Cache-Control"] = "no-store"
        return response
