"""POST /api/v1/indicators/aggregates: this structure node's part of a ministry campaign
(docs/indicators.md, "The campaign protocol").

Only the ministry's node calls it: a request signed (RFC 9421) by a member whose roles include
``ministry``, with that node's bearer token carrying `indicators:aggregate`
(`federation.api.peers.MinistryPeerPermission`). The rules of what leaves are in
`dataspace.indicators.partials`; this view parses, authorizes and delegates.

Answers: 200 the partial (aggregates only, never a row); 202 `{"status": "awaiting_approval",
"request", "detail", "pending"}`; 400 naming the field; 401 unsigned or without token; 403
``refused`` (nobody may be counted), ``ministry_only`` (the signer is not the ministry),
``insufficient_scope``, ``signature_required`` (a token of another node); 404 on a node without the
structure role; 409 ``changed_request``.
"""

from __future__ import annotations

from typing import Any, ClassVar

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from dataspace.api.auth import bearer_token
from dataspace.api.mixins import JSONErrorsMixin
from dataspace.api.permissions import InsufficientScope
from dataspace.indicators import partials, services
from dataspace.indicators.api.views import NotAStructureNode
from federation.api.peers import MinistryPeerPermission
from policies.enforcement import subject_for_request

_REQUEST_EXAMPLE = {
    "campaign": "6f1c0d2e-8a4b-4c1e-9f7d-2b3a4c5d6e7f",
    "title": "Fréquentation T4 2026",
    "period": {"start": "2026-10-01", "end": "2026-12-31"},
    "dimensions": ["discipline", "region"],
    "measures": ["attendance", "capacity", "receipts", "paying_tickets"],
    "indicators": [{"code": "attendance", "version": 1, "label": "Fréquentation"}],
}


class AggregatesView(JSONErrorsMixin, APIView):
    """This node's aggregates for a ministry campaign, once its structures allow them to leave."""

    required_scopes: ClassVar[dict[str, str]] = {"read": partials.SCOPE, "write": partials.SCOPE}
    permission_classes = [MinistryPeerPermission]
    renderer_classes = [JSONRenderer]

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        if not services.is_structure_node():
            raise NotAStructureNode()
        super().initial(request, *args, **kwargs)

    @extend_schema(
        summary="A ministry campaign's request for this node's aggregates (signed, ministry node only)",
        description=(
            "Body: `campaign` (UUID), `title`, `period` {`start`, `end`} (366 days at most), `dimensions` "
            "(0 to 2 of discipline, region, departement, month, quarter, venue_type), `measures` (at least one "
            "additive measure of the local aggregate), `indicators`. The partial holds one grouping per subset "
            "of the dimensions; each cell gives the values (amounts as strings), the number of contributing "
            "structures and the largest single structure's contribution. Asking again for the same campaign "
            "returns the same partial. Scope `indicators:aggregate`."
        ),
        request=OpenApiTypes.OBJECT,
        examples=[OpenApiExample("Campaign request", value=_REQUEST_EXAMPLE, request_only=True)],
        responses={
            200: OpenApiResponse(
                OpenApiTypes.OBJECT,
                description="The partial: `{campaign, node, as_of, period, dimensions, measures, structures, "
                "groupings: [{dimensions, cells: [{key, values, contributors, largest}]}]}`.",
            ),
            202: OpenApiResponse(
                OpenApiTypes.OBJECT,
                description="`{status: awaiting_approval, request, detail, pending}`: structures must approve first; "
                "the node sends the notice `aggregate.approved` when they have decided.",
            ),
            400: OpenApiResponse(description="`fields` names `campaign`, `period.start`, `period.end`, `dimensions`…"),
            401: OpenApiResponse(description="Unsigned request (`signature_required`) or no token."),
            403: OpenApiResponse(
                description="`refused` (no structure may be counted), `ministry_only`, `insufficient_scope`, "
                "`signature_required` (the token is not the signer's)."
            ),
            404: OpenApiResponse(description="`not_a_structure_node`."),
            409: OpenApiResponse(description="`changed_request`: the campaign was asked before with another request."),
        },
    )
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        token = bearer_token(request)
        if token is None or partials.SCOPE not in token.scopes:
            raise InsufficientScope(partials.SCOPE)
        ask = partials.parse_ask(request.data)
        peer = request._request.signed_peer  # type: ignore[attr-defined]  # set by the permission's check
        result = partials.answer(ask, ministry=str(peer.base_url), subject=subject_for_request(request))
        response = Response(result.body, status=result.status)
        response["Cache-Control"] = "no-store"
        return response
