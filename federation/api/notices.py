"""``POST /api/v1/federation/notices``: notices from other nodes' outboxes (federation.notices).

Only a request signed (RFC 9421) by a trusted member is heard (`request.signed_peer`, set by
`federation.middleware`): unsigned → 401 ``signature_required``; a bad signature is refused by the
middleware (401 ``invalid_signature``). No bearer token is needed: the signature is the credential.

Answers: 202 ``{"status": "accepted"}`` (handled), 202 ``{"status": "ignored"}`` (no handler for
that kind), 200 ``{"status": "duplicate"}`` (that `id` was already received), 400 naming the
field for a body that is not a notice, 403 ``origin_mismatch`` when `origin` is not the signer,
503 ``handler_failed`` when the handler failed (nothing recorded: the sender's outbox retries).
"""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any, ClassVar

from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import permissions, status
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from federation import notices

logger = logging.getLogger("federation.notices")


def _error(code: str, detail: str, http_status: int, fields: dict[str, list[str]] | None = None) -> Response:
    return Response({"error": code, "detail": detail, "fields": fields or {}}, status=http_status)


def _invalid(field: str, message: str) -> Response:
    return _error(
        "invalid",
        _("Valeur invalide pour : %(field)s.") % {"field": field},
        status.HTTP_400_BAD_REQUEST,
        {field: [message]},
    )


def parse_notice(raw: bytes) -> tuple[dict[str, Any] | None, Response | None]:
    """(notice, None) for a well-formed notice body, else (None, the 400 answer naming the field)."""
    try:
        notice = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None, _invalid("non_field_errors", _("Le corps doit être un document JSON."))
    if not isinstance(notice, dict):
        return None, _invalid("non_field_errors", _("Le corps doit être un objet JSON."))
    try:
        uuid.UUID(str(notice.get("id", "")))
    except ValueError:
        return None, _invalid("id", _("Un identifiant (UUID) de notification est requis."))
    kind = notice.get("kind")
    if not isinstance(kind, str) or not kind.strip() or len(kind) > 60:
        return None, _invalid("kind", _("Le type de notification est requis (60 caractères au plus)."))
    if not isinstance(notice.get("payload", {}), dict):
        return None, _invalid("payload", _("Le contenu de la notification doit être un objet JSON."))
    origin = notice.get("origin", "")
    if not isinstance(origin, str):
        return None, _invalid("origin", _("L'origine doit être l'URL de base du nœud émetteur."))
    return notice, None


class NoticesView(APIView):
    """Receive one signed notice (see the module docstring)."""

    renderer_classes = [JSONRenderer]
    # No token: the RFC 9421 signature of a trusted member is the credential (checked below).
    authentication_classes: list[Any] = []
    permission_classes: list[Any] = [permissions.AllowAny]
    # Declared for the API's scope inventory; no method asks for a token (see above).
    required_scopes: ClassVar[dict[str, str]] = {"read": "federation:sync", "write": "federation:sync"}

    @extend_schema(
        auth=[],
        request=OpenApiTypes.OBJECT,
        responses={
            200: OpenApiTypes.OBJECT,
            202: OpenApiTypes.OBJECT,
            400: OpenApiTypes.OBJECT,
            401: OpenApiTypes.OBJECT,
            403: OpenApiTypes.OBJECT,
            503: OpenApiTypes.OBJECT,
        },
    )
    def post(self, request: Request) -> Response:
        sender = getattr(request._request, "signed_peer", None)
        if sender is None:
            return _error(
                "signature_required",
                _("Une notification doit être signée (RFC 9421) par un membre de la fédération."),
                status.HTTP_401_UNAUTHORIZED,
            )
        notice, refusal = parse_notice(request._request.body)
        if refusal is not None or notice is None:
            return refusal or _invalid("non_field_errors", _("Notification illisible."))
        origin = str(notice.get("origin") or "").rstrip("/")
        if origin and origin != sender.base_url.rstrip("/"):
            return _error(
                "origin_mismatch",
                _("L'origine annoncée n'est pas le nœud qui a signé la notification."),
                status.HTTP_403_FORBIDDEN,
            )
        try:
            receipt = notices.receive(notice, sender)
        except Exception:  # a handler's failure: nothing recorded, the sender's outbox retries
            logger.exception("notices: handler of %s from %s failed", notice.get("kind"), sender.base_url)
            return _error(
                "handler_failed",
                _("La notification n'a pas pu être traitée ; elle sera renvoyée."),
                status.HTTP_503_SERVICE_UNAVAILABLE,
            )
        http_status = status.HTTP_200_OK if receipt.status == notices.DUPLICATE else status.HTTP_202_ACCEPTED
        return Response({"status": receipt.status}, status=http_status)

    def get_authenticate_header(self, request: Request) -> str:
        return 'Signature realm="federation"'
