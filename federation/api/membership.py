"""``/api/v1/federation/members`` (registry only; `federation.membership`, docs/federation.md).

* ``GET`` — public: ``{"jws": <compact JWS of the member list>, "list": <its payload, decoded for
  humans>}``. Nodes verify ``jws`` with the registry keys they pinned; ``list`` is a convenience.
* ``POST`` — a node asks to join, or a member announces its keys: body ``{"metadata": <its
  /.well-known/dataspace-node>, "jwks": {"keys": [...]}, "organisation_name", "contact_email"}``,
  signed (RFC 9421) with a key of that ``jwks`` (the view verifies it itself: the signature
  middleware leaves this route alone, see `federation.middleware.SELF_VERIFYING_ROUTES`).
  202 ``{"status": "pending"}`` (new or renewed request), 200 ``{"status": "approved"}`` (a
  member's keys, announced with a key the registry has), 200 ``{"status": "suspended"}``,
  400 naming the field, 401 ``invalid_signature`` (``fields.signature`` = the refusal code),
  403 ``wrong_signer``, 409 ``unknown_key`` (a known node signing with a key the registry does not
  have: the operator must refuse the old membership and approve the new request).

Both answer 404 ``not_a_registry`` on a node without the registry role.
"""

from __future__ import annotations

from typing import Any, ClassVar

from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import permissions
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from dataspace.node.keys import KeyFileError
from federation import membership


def _error(exc: membership.MembershipError) -> Response:
    return Response(exc.as_json(), status=exc.status)


class MembersView(APIView):
    """The registry's signed member list, and the door to join it."""

    renderer_classes = [JSONRenderer]
    # No token: the list is public, and a join is authenticated by its own signature.
    authentication_classes: list[Any] = []
    permission_classes: list[Any] = [permissions.AllowAny]
    # Declared for the API's scope inventory; neither method asks for a token (see above).
    required_scopes: ClassVar[dict[str, str]] = {"read": "federation:sync", "write": "federation:sync"}
    public_read = True
    #: The signature middleware leaves this view's requests to the view (proof of possession).
    signature_verified_by_view = True

    @extend_schema(auth=[], responses={200: OpenApiTypes.OBJECT, 404: OpenApiTypes.OBJECT})
    def get(self, request: Request) -> Response:
        try:
            compact, payload = membership.current_list()
        except membership.MembershipError as exc:
            return _error(exc)
        except KeyFileError:
            return Response(
                {"error": "no_key", "detail": _("Le registre n'a pas encore de clé de signature."), "fields": {}},
                status=503,
            )
        response = Response({"jws": compact, "list": payload})
        response["Cache-Control"] = "no-cache"
        return response

    @extend_schema(
        auth=[],
        request=OpenApiTypes.OBJECT,
        responses={
            200: OpenApiTypes.OBJECT,
            202: OpenApiTypes.OBJECT,
            400: OpenApiTypes.OBJECT,
            401: OpenApiTypes.OBJECT,
            403: OpenApiTypes.OBJECT,
            404: OpenApiTypes.OBJECT,
            409: OpenApiTypes.OBJECT,
        },
    )
    def post(self, request: Request) -> Response:
        try:
            http_status, body = membership.receive_join(request._request)
        except membership.MembershipError as exc:
            return _error(exc)
        return Response(body, status=http_status)
