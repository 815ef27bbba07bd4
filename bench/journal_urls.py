"""Bench-only URLs (bench_journal.py): the node's URL map plus one guarded-read stand-in that
journals each read, as the policy decision point does: one hash-chained entry per request.

`GET /bench/journaled/performances/<id>/` is `GET /api/v1/performances/<id>/` (same viewset,
permission, serializer) followed by `journal(...)` for the record read, with the actor taken from
the bearer token's client. With JOURNAL_ENABLED off, `journal()` returns at once.
"""

from __future__ import annotations

from typing import Any

from django.urls import include, path
from rest_framework.request import Request

from dataspace.api.auth import token_client
from dataspace.audit.services import Actor, journal
from dataspace.referentials.api.views import PerformanceViewSet


class JournaledPerformanceViewSet(PerformanceViewSet):
    """A performance detail whose every read leaves a journal entry."""

    def get_object(self) -> Any:
        instance = super().get_object()
        self.journal_owner_id = instance.owner_id
        return instance

    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Any:
        response = super().retrieve(request, *args, **kwargs)
        client = token_client(request)
        journal(
            actor=Actor(
                client_id=client.client_id if client else "",
                organisation_id=client.owner_id if client else None,
                organisation_name=client.name if client else "",
            ),
            action="read",
            decision="permit",
            reason_code="policy_permits",
            reason="a permission of the policy applies",
            purpose=request.query_params.get("purpose", ""),
            record_type="performance",
            record_ids=[kwargs["pk"]],
            owner_id=self.journal_owner_id,
        )
        return response


urlpatterns = [
    path(
        "bench/journaled/performances/<uuid:pk>/",
        JournaledPerformanceViewSet.as_view({"get": "retrieve"}),
        name="bench-journaled-performance",
    ),
    path("", include("dataspace.urls")),
]
