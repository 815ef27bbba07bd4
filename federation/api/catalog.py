"""GET /api/v1/catalog: the node's DCAT catalog with the ODRL policy of each dataset (public).

JSON-LD (`application/ld+json`) by default and on `Accept: application/ld+json`; the same document
as `application/json` on `Accept: application/json`. Credentials are ignored (the catalog is the
same for everyone): a token without `referentials:read` is not refused here. The document and its
rules live in `federation.catalog`.
"""

from __future__ import annotations

from typing import Any, ClassVar

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from dataspace.api.mixins import JSONErrorsMixin
from dataspace.api.renderers import JSONLDRenderer
from federation.catalog import CACHE_SECONDS, catalog_document


class CatalogView(JSONErrorsMixin, APIView):
    """The datasets of this node (DCAT 3) with their usage policies (ODRL), context inlined."""

    required_scopes: ClassVar[dict[str, str]] = {"read": "referentials:read"}
    public_read: ClassVar[bool] = True
    authentication_classes: list[Any] = []
    renderer_classes = [JSONLDRenderer, JSONRenderer]

    @extend_schema(
        summary="DCAT catalog of the node's datasets with their ODRL policies (JSON-LD)",
        responses={200: OpenApiTypes.OBJECT},
        auth=[],
    )
    def get(self, request: Request) -> Response:
        response = Response(catalog_document())
        response["Cache-Control"] = f"public, max-age={min(CACHE_SECONDS, 60)}"
        response["Access-Control-Allow-Origin"] = "*"
        return response
