"""GET /api/v1/indicators/campaigns/<uuid>: a campaign's progress and published results (ministry).

Stub — built by the ministry-side work (see docs/indicators.md, "Campaigns")."""

from __future__ import annotations

from typing import Any

from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView


class CampaignDetailView(APIView):
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:  # pragma: no cover - stub
        raise NotImplementedError
