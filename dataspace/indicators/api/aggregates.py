"""POST /api/v1/indicators/aggregates: this structure node's part of a ministry campaign (issue 7).

Stub — built by the node-side work (see docs/indicators.md, "Campaigns")."""

from __future__ import annotations

from typing import Any

from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView


class AggregatesView(APIView):
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:  # pragma: no cover - stub
        raise NotImplementedError
