"""/id/<type>/<uuid>: a record's global URI (DESIGN.md §3) resolves on its origin node.

- the record exists and may be seen → 303 See Other to its API detail; the client follows with
  the same `Accept` header, so JSON and JSON-LD consumers each get their form from the API;
- unknown type, unknown record, or a local-only record (an option) for anyone but the node's
  staff → 404 JSON error (the existence of an option is not disclosed);
- a deleted record → 410 Gone with its tombstone, as the change feed published it;
- a record the owner hid from the caller (`policies.controls`) → the same 404 as a missing one:
  resolving never discloses a hidden record's existence before the API detail would.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.http import HttpResponse
from django.urls import NoReverseMatch, reverse
from rest_framework import permissions
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.parsers import BaseParser
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from dataspace.api.auth import is_node_staff
from dataspace.records import services


class _AnyAccept(BaseContentNegotiation):
    """Answer JSON whatever the Accept header: the redirect target honours Accept, not us."""

    def select_parser(self, request: Request, parsers: Iterable[BaseParser]) -> BaseParser | None:
        return next(iter(parsers), None)

    def select_renderer(
        self, request: Request, renderers: Iterable[BaseRenderer], format_suffix: str | None = None
    ) -> tuple[BaseRenderer, str]:
        renderer = next(iter(renderers))
        return renderer, renderer.media_type


def _error(status: int, code: str, detail: str, **extra: Any) -> Response:
    response = Response({"error": code, "detail": detail, "fields": {}, **extra}, status=status)
    response["Cache-Control"] = "no-cache"
    return response


def _hidden(request: Request, record_type: str, found: services.Resolution) -> bool:
    """Is the record (or its tombstone) hidden from the caller? Then it resolves like a missing one."""
    from policies.controls import is_hidden_from
    from policies.enforcement import subject_for_request
    from policies.pdp import policy_index

    if found.record is not None:
        record_id, owner_id = found.record.pk, getattr(found.record, "owner_id", None)
        if owner_id is None and record_type == "organisation":
            owner_id = found.record.pk
    elif found.tombstone is not None:
        record_id, owner_id = found.tombstone.record_id, found.tombstone.owner_id
    else:
        return False
    if record_type not in policy_index().hidden_types:
        return False
    return is_hidden_from(subject_for_request(request), record_type, record_id, owner_id)


class ResolveRecordView(APIView):
    """Global URI → 303 to the API detail (outside /api/, so not part of the OpenAPI schema)."""

    schema = None
    permission_classes = [permissions.AllowAny]  # resolution is public; the API detail applies its own rules
    renderer_classes = [JSONRenderer]
    content_negotiation_class = _AnyAccept

    def get(self, request: Request, record_type: str, record_id: str) -> HttpResponse:
        found = services.resolve_record(record_type, record_id, include_local=is_node_staff(request))
        if found.outcome == "unknown_type":
            known = ", ".join(sorted(services.record_models()))
            return _error(404, "not_found", f"Unknown record type {record_type!r}; known types: {known}.")
        if _hidden(request, record_type, found):
            return _error(404, "not_found", f"No {record_type} {record_id} on this node.")
        if found.outcome == "gone" and found.tombstone is not None:
            return _error(
                410,
                "gone",
                "This record was deleted; its tombstone follows.",
                tombstone=services.change_entry(found.tombstone, None),
            )
        if found.outcome != "found" or found.record is None:
            return _error(404, "not_found", f"No {record_type} {record_id} on this node.")
        try:
            target = reverse(f"{record_type}-detail", args=[str(found.record.pk)])
        except NoReverseMatch:
            return _error(404, "not_found", f"This node does not serve {record_type} records over its API yet.")
        response = HttpResponse(status=303)
        response["Location"] = request.build_absolute_uri(target)
        response["Vary"] = "Cookie, Authorization"
        response["Cache-Control"] = "private, no-cache"
        return response
