"""Signed node-to-node calls at the edge of every request (federation.signing, docs/federation.md).

`SignatureMiddleware`:

* a request without ``Signature-Input`` passes untouched, with ``request.signed_peer = None``
  (one header lookup: the rest of the node pays nothing for the federation);
* a request carrying ``Signature-Input`` is verified before its view runs
  (`federation.signing.verify_request`). Refused → 401
  ``{"error": "invalid_signature", "detail": …, "fields": {"signature": [code]}}`` and one journal
  entry (stream ``access``, action ``federation.signature_refused``, decision ``deny``, reason
  code = the refusal code, details: path, method, keyid, claimed node). Accepted →
  ``request.signed_peer`` is the `SignedPeer` and the response is signed, bound to the request.
* a view that checks a signature itself with keys of its own (a node joining the registry proves
  possession of keys nobody trusts yet) is listed in `SELF_VERIFYING_ROUTES` or has the attribute
  ``signature_verified_by_view = True``: the middleware leaves it alone, and still signs the
  response when the view's own `verify_request` accepted the request.

The rule that a peer node's bearer token is only good on a request signed by that node lives in
`dataspace.api.auth.BearerTokenAuthentication` (it needs the token's client).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse

from federation.signing import SignatureRefused, sign_response, verify_request

logger = logging.getLogger("federation.signing")

#: The Django META key of the one header looked at on every request.
SIGNATURE_INPUT = "HTTP_SIGNATURE_INPUT"
#: URL names whose views verify signatures themselves (`verify_request(request, keys=…)`).
SELF_VERIFYING_ROUTES = frozenset({"federation-members"})


def refusal_response(refused: SignatureRefused) -> JsonResponse:
    """The 401 answer to a refused signature."""
    return JsonResponse(
        {"error": "invalid_signature", "detail": refused.detail, "fields": {"signature": [refused.code]}},
        status=401,
    )


def journal_refusal(request: HttpRequest, refused: SignatureRefused) -> None:
    """One `access` journal entry for a refused signature (never raises: the refusal stands)."""
    from dataspace.audit.services import Actor, journal

    try:
        journal(
            actor=Actor(username=f"keyid:{refused.keyid}" if refused.keyid else "", node=refused.node or "unknown"),
            action="federation.signature_refused",
            decision="deny",
            reason_code=refused.code,
            reason=refused.detail,
            details={
                "path": request.path,
                "method": request.method,
                "keyid": refused.keyid,
                "claimed_node": refused.node,
            },
        )
    except Exception:  # the journal failing must not turn a refusal into an acceptance or a 500
        logger.exception("signing: cannot journal the refusal of a signature on %s", request.path)


def _verified_by_view(view_func: Callable[..., Any], request: HttpRequest) -> bool:
    if getattr(view_func, "signature_verified_by_view", False):
        return True
    if getattr(getattr(view_func, "cls", None), "signature_verified_by_view", False):
        return True
    match = getattr(request, "resolver_match", None)
    return match is not None and match.url_name in SELF_VERIFYING_ROUTES


class SignatureMiddleware:
    """Verifies RFC 9421 signatures of incoming node-to-node requests and signs their responses."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request.signed_peer = None  # type: ignore[attr-defined]
        if SIGNATURE_INPUT not in request.META:
            return self.get_response(request)
        response = self.get_response(request)
        sign_response(response, request)  # only if a signature was verified (here or by the view)
        return response

    def process_view(
        self, request: HttpRequest, view_func: Callable[..., Any], view_args: Any, view_kwargs: Any
    ) -> HttpResponse | None:
        if SIGNATURE_INPUT not in request.META or _verified_by_view(view_func, request):
            return None
        try:
            request.signed_peer = verify_request(request)  # type: ignore[attr-defined]
        except SignatureRefused as refused:
            journal_refusal(request, refused)
            return refusal_response(refused)
        return None
