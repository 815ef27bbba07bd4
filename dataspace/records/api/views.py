"""GET /api/v1/changes: the node's change feed (DESIGN.md §4, §6).

Not public: it needs an access token with the `federation:sync` scope (partner nodes, the
registry) or a node staff session; without credentials it answers 401 with
`WWW-Authenticate: Bearer` (dataspace.api.permissions). A reader with a token receives only what
the owners' data-sharing agreements in force grant it (`dataspace.consent.agreements`, fail
closed). The view parses and delegates; the ordering guarantee and the cursor live in
`dataspace.records.services`.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any, ClassVar

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.exceptions import ValidationError
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from dataspace.records import services
from dataspace.records.api.serializers import current_representations


def _parse_limit(raw: str | None) -> int:
    if raw is None or raw == "":
        return services.DEFAULT_FEED_LIMIT
    try:
        limit = int(raw)
    except ValueError:
        limit = 0
    if not 1 <= limit <= services.MAX_FEED_LIMIT:
        raise ValidationError(
            {"limit": [f"An integer between 1 and {services.MAX_FEED_LIMIT} (default {services.DEFAULT_FEED_LIMIT})."]}
        )
    return limit


def _parse_types(raw: str | None) -> list[str] | None:
    if raw is None or raw.strip() == "":
        return None
    requested = [item.strip() for item in raw.split(",") if item.strip()]
    known = services.record_models()
    unknown = sorted({item for item in requested if item not in known})
    if unknown:
        raise ValidationError(
            {"types": [f"Unknown record type(s): {', '.join(unknown)}; known: {', '.join(sorted(known))}."]}
        )
    return requested


def _parse_since(raw: str | None) -> services.FeedCursor | None:
    if raw is None or raw == "":
        return None
    try:
        return services.decode_cursor(raw)
    except services.InvalidCursor as exc:
        raise ValidationError({"since": [str(exc)]}) from None


def _visible_changes(request: Request, changes: list[Any]) -> list[Any]:
    """The changes the caller may learn of: not those of a record its owner hid from the caller
    (unless the caller is a partner the owner named), nor those of an owner that blocks the caller.
    Usage policies are honoured by the replica (DESIGN.md §6); hiding and blocking are this node's
    own controls, so their records never leave it."""
    from policies.controls import blocking_owner_ids, hidden_ids
    from policies.enforcement import request_index, subject_for_request

    index = request_index(request)  # cached on the request: the subject below reads the same one
    if not changes or (not index.hidden_types and not index.any_block):
        return changes
    subject = subject_for_request(request)
    blocking = blocking_owner_ids(subject) if index.any_block else frozenset()
    by_type: dict[str, list[Any]] = defaultdict(list)
    for change in changes:
        by_type[change.record_type].append(change.record_id)
    hidden = {
        (record_type, pk)
        for record_type, ids in by_type.items()
        if record_type in index.hidden_types
        for pk in hidden_ids(subject, record_type, ids)
    }
    return [
        change
        for change in changes
        if (change.record_type, change.record_id) not in hidden and change.owner_id not in blocking
    ]


def _change_owner(change: Any) -> Any:
    """Whose data a change is: its owner, or itself for an organisation describing itself."""
    if change.owner_id is None and change.record_type == "organisation":
        return change.record_id
    return change.owner_id


def _agreed_changes(request: Request, changes: list[Any]) -> list[Any]:
    """What the reader's data-sharing agreements let leave the node (fail closed; issue 5).

    A reader with a token (a peer node, the registry, any `federation:sync` client) receives the
    upserts of the owners it acts for and of (owner, dataset) pairs under an agreement in force
    whose grantee it is; tombstones of pairs it ever had an agreement for (it may hold them).
    The node's own staff (session) read everything. A peer node (a client with a `jwks_uri`) is
    remembered as a replica holder (`federation.outbox.replica_holders`).
    """
    from dataspace.api.auth import token_client

    client = token_client(request)
    if client is None:
        return changes
    from dataspace.consent.agreements import feed_filter, reader_for_client
    from federation.outbox import record_feed_reader
    from policies.enforcement import subject_for_request

    record_feed_reader(client)
    allowed = feed_filter(reader_for_client(client, acts_for=subject_for_request(request).acts_for))
    return [change for change in changes if allowed.allows(_change_owner(change), change.record_type, change.op)]


class ChangeFeedView(APIView):
    """Every create, update and delete (tombstone) of the node's shared records, in commit order."""

    renderer_classes = [JSONRenderer]
    # Enforced by the default ScopePermission; no `public_read`. Options never reach the feed either way.
    required_scopes: ClassVar[dict[str, str]] = {"read": "federation:sync"}

    @extend_schema(
        parameters=[
            OpenApiParameter("since", OpenApiTypes.STR, description="Opaque cursor from a previous `next`."),
            OpenApiParameter("limit", OpenApiTypes.INT, description="1–1000, default 100."),
            OpenApiParameter("types", OpenApiTypes.STR, description="Comma-separated record types."),
        ],
        responses={200: OpenApiTypes.OBJECT},
    )
    def get(self, request: Request) -> Response:
        since = _parse_since(request.query_params.get("since"))
        limit = _parse_limit(request.query_params.get("limit"))
        types = _parse_types(request.query_params.get("types"))
        try:
            page = services.read_changes(since, limit=limit, types=types)
        except services.InvalidCursor as exc:
            raise ValidationError({"since": [str(exc)]}) from None
        changes = _agreed_changes(request, _visible_changes(request, page.changes))
        representations = current_representations(changes, request)
        body = {
            "changes": [
                services.change_entry(
                    change,
                    representations.get((change.record_type, change.record_id)) if change.op == "upsert" else None,
                )
                for change in changes
            ],
            "next": services.encode_cursor(page.next),
            "has_more": page.has_more,
        }
        response = Response(body)
        response["Cache-Control"] = "no-store"
        return response
