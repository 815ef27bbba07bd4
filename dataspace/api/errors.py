"""Every API error as `{"error": code, "detail": text, "fields": {...}}` with a 4xx status.

An exception may carry an `extra` dict of additional top-level members (e.g. the tombstone of a
deleted record on a 410). Database errors that escaped the services are mapped as a last resort:
an integrity error is a 400 (the data broke a rule), a protected deletion is a 409.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError
from django.db.models import ProtectedError, RestrictedError
from django.http import Http404, HttpRequest, JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler


class PreconditionFailed(exceptions.APIException):
    status_code = status.HTTP_412_PRECONDITION_FAILED
    default_detail = "The record changed since you read it (If-Match does not match its ETag)."
    default_code = "precondition_failed"


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "Conflict."
    default_code = "conflict"


class Gone(exceptions.APIException):
    status_code = status.HTTP_410_GONE
    default_detail = "This record was deleted."
    default_code = "gone"

    def __init__(self, detail: Any = None, code: Any = None, *, extra: dict[str, Any] | None = None) -> None:
        super().__init__(detail, code)
        self.extra = extra or {}


class UnprocessableEntity(exceptions.APIException):
    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
    default_detail = "The request cannot be processed."
    default_code = "unprocessable"


def _flatten(detail: Any) -> Any:
    """DRF error details as plain strings (lists of messages, nested for nested fields)."""
    if isinstance(detail, dict):
        return {key: _flatten(value) for key, value in detail.items()}
    if isinstance(detail, list):
        return [_flatten(item) for item in detail]
    return str(detail)


def _code(exc: exceptions.APIException) -> str:
    codes = exc.get_codes()
    if isinstance(codes, str):
        return codes
    return exc.default_code if isinstance(exc.default_code, str) else "error"


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, DjangoValidationError):
        fields = exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        exc = exceptions.ValidationError(fields)
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    elif isinstance(exc, (ProtectedError, RestrictedError)):
        exc = Conflict("Other records still refer to this one; delete or re-attach them first.")
    elif isinstance(exc, IntegrityError):
        exc = exceptions.ValidationError({"non_field_errors": ["The data breaks an integrity rule of the database."]})
    response = drf_exception_handler(exc, context)
    if response is None or not isinstance(exc, exceptions.APIException):
        return response
    body: dict[str, Any]
    if isinstance(exc, exceptions.ValidationError):
        fields = _flatten(exc.detail)
        if not isinstance(fields, dict):
            fields = {"non_field_errors": fields}
        named = ", ".join(sorted(fields))
        body = {"error": "invalid", "detail": f"Invalid value(s) for: {named}.", "fields": fields}
    else:
        body = {"error": _code(exc), "detail": str(_flatten(exc.detail)), "fields": {}}
    body.update(getattr(exc, "extra", None) or {})
    response.data = body
    return response


# Plain Django handlers for /api/ paths that never reach DRF (unknown URL, server error).


def json_error(status_code: int, code: str, detail: str) -> JsonResponse:
    return JsonResponse({"error": code, "detail": detail, "fields": {}}, status=status_code)


def handler404(request: HttpRequest, exception: Exception | None = None) -> Any:
    if request.path.startswith(("/api/", "/.well-known/", "/id/")):
        return json_error(404, "not_found", f"No resource at {request.path}.")
    from django.views.defaults import page_not_found

    return page_not_found(request, exception or Http404())


def handler500(request: HttpRequest) -> Any:
    if request.path.startswith("/api/"):
        return json_error(500, "server_error", "The node failed to answer; the error was logged.")
    from django.views.defaults import server_error

    return server_error(request)
