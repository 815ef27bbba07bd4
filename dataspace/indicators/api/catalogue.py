"""GET /api/v1/indicators/catalogue: the ministry's indicator catalogue (public, ministry node).

Every current definition (the highest active version of each code) with its version history, the
dimensions and measures with their French names (`dataspace.indicators.catalogue.catalogue_document`).
The catalogue is public vocabulary, the same for everyone: credentials are ignored (a token
without `indicators:aggregate` is not refused here). `ETag` / `If-None-Match` (304). A node
without the `ministry` role answers 404 `not_a_ministry_node`.
"""

from __future__ import annotations

from typing import Any, ClassVar

from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions, status
from rest_framework.renderers import BrowsableAPIRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from dataspace.api.mixins import JSONErrorsMixin, if_none_match_hits
from dataspace.indicators import catalogue

CACHE_SECONDS = 60


class NotAMinistryNode(exceptions.NotFound):
    default_code = "not_a_ministry_node"
    default_detail = _("Ce nœud n'a pas le rôle « ministry » : il ne tient pas de catalogue des indicateurs.")


class IndicatorCatalogueView(JSONErrorsMixin, APIView):
    """The indicator catalogue: current definitions and their version history."""

    required_scopes: ClassVar[dict[str, str]] = {"read": "indicators:aggregate"}
    public_read: ClassVar[bool] = True
    authentication_classes: list[Any] = []
    renderer_classes = [JSONRenderer, BrowsableAPIRenderer]

    @extend_schema(
        summary="The ministry's indicator catalogue (current definitions and their versions)",
        responses={
            200: OpenApiTypes.OBJECT,
            304: OpenApiResponse(description="`If-None-Match` matched the current ETag."),
            404: OpenApiResponse(description="`not_a_ministry_node`: this node holds no catalogue."),
        },
        auth=[],
    )
    def get(self, request: Request) -> Response:
        if not catalogue.is_ministry_node():
            raise NotAMinistryNode()
        document = catalogue.catalogue_document()
        etag = catalogue.document_etag(document)
        response = (
            Response(status=status.HTTP_304_NOT_MODIFIED)
            if if_none_match_hits(request.headers.get("If-None-Match"), etag)
            else Response(document)
        )
        response["ETag"] = etag
        response["Cache-Control"] = f"public, max-age={CACHE_SECONDS}"
        response["Access-Control-Allow-Origin"] = "*"
        return response
