"""View behaviour shared by every record API: conditional requests and idempotent creation.

* `ConditionalRecordMixin` — every detail read carries a strong `ETag` derived from the record's
  UUID and version; `If-None-Match` gives a 304. `PUT`/`PATCH`/`DELETE` honour `If-Match`: the
  record's row is locked (`select_for_update`) before the comparison, so two writers holding the
  same ETag cannot both succeed; the loser gets a 412. Writes answer with the new ETag. A detail
  of a record that was deleted answers 410 Gone with its tombstone from the change feed.
* `IdempotentCreateMixin` — a `POST` with an `Idempotency-Key` header stores its first successful
  answer (status, body, ETag/Location) under (caller, key) in the same transaction as the created
  record; a retry with the same body replays it with `Idempotent-Replayed: true`, a retry with
  another body is a 422 `idempotency_key_reused`. Failed attempts are not stored (a 4xx retried
  with the same body fails the same way; a corrected body may reuse the key).

Both expect a DRF `GenericAPIView` whose model is a `dataspace.records.models.Record`.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import timedelta
from typing import Any, ClassVar, cast

from django.conf import settings
from django.db import IntegrityError, transaction
from django.http import Http404
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import Serializer
from rest_framework.utils.encoders import JSONEncoder

from dataspace.api.auth import caller_id
from dataspace.api.errors import Conflict, Gone, PreconditionFailed, UnprocessableEntity
from dataspace.api.models import IdempotencyKey
from dataspace.records.services import change_entry, lock_change_log, tombstone_for

IDEMPOTENCY_HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
#: Response headers kept with an idempotent answer and replayed with it.
REPLAYED_HEADERS = ("ETag", "Location")
MAX_IDEMPOTENCY_KEY_LENGTH = 200


# ---------------------------------------------------------------------------- ETags


def record_etag(record: Any) -> str:
    """The strong ETag of a record's current version: `"<uuid>-<version>"`."""
    return f'"{record.pk}-{record.version}"'


def _etag_list(header: str) -> list[str]:
    return [item.strip() for item in header.split(",") if item.strip()]


def if_none_match_hits(header: str | None, etag: str) -> bool:
    """`If-None-Match` uses the weak comparison (RFC 9110 §13.1.2): `W/` prefixes are ignored."""
    if not header:
        return False
    tags = _etag_list(header)
    return "*" in tags or any(tag.removeprefix("W/") == etag for tag in tags)


def if_match_fails(header: str | None, etag: str) -> bool:
    """`If-Match` uses the strong comparison (RFC 9110 §13.1.1): a weak tag never matches."""
    if header is None:
        return False
    tags = _etag_list(header)
    return not ("*" in tags or etag in tags)


def tombstone_document(change: Any) -> dict[str, Any]:
    """The tombstone as the change feed publishes it (same form as /id/… and /api/v1/changes)."""
    return change_entry(change, None)


def conditional_read(request: Request, instance: Any, serialize: Any) -> Response:
    """A record's answer with its ETag, or 304 when `If-None-Match` already names it (`serialize`
    builds the body only when one is sent)."""
    etag = record_etag(instance)
    if if_none_match_hits(request.headers.get("If-None-Match"), etag):
        return Response(status=status.HTTP_304_NOT_MODIFIED, headers={"ETag": etag})
    return Response(serialize(instance), headers={"ETag": etag})


class ReplicaReadOnly(Conflict):
    """409: the record is a read-only replica; only its origin node writes it."""

    default_code = "replica_read_only"

    def __init__(self, origin: str) -> None:
        super().__init__(
            _(
                "Cet enregistrement est une copie en lecture seule : seul son nœud d'origine (%(origin)s) "
                "peut le modifier."
            )
            % {"origin": origin},
            "replica_read_only",
        )
        self.extra = {"origin": origin}


def replica_origin(record_type: str, pk: uuid.UUID) -> str | None:
    """The origin node of the record if this node holds it only as a replica (federation index,
    origin another node, not a tombstone), else None. One indexed query."""
    from federation.models import IndexedRecord

    own = str(settings.NODE_BASE_URL).rstrip("/")
    origin: str | None = (
        IndexedRecord.objects.filter(record_type=record_type, record_id=pk)
        .exclude(origin=own)
        .exclude(data={})
        .values_list("origin", flat=True)
        .first()
    )
    return origin


_WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class ReplicaReadOnlyMixin:
    """A write to a record this node holds only as a replica answers 409 with its origin."""

    def get_object(self) -> Any:
        try:
            return super().get_object()  # type: ignore[misc]
        except Http404:
            self.raise_if_replica()
            raise

    def raise_if_replica(self) -> None:
        """409 with the origin when a write targets a record held here only as a replica."""
        if self.request.method not in _WRITES:  # type: ignore[attr-defined]
            return
        model = self.get_queryset().model  # type: ignore[attr-defined]
        raw = self.kwargs.get(self.lookup_url_kwarg or self.lookup_field)  # type: ignore[attr-defined]
        try:
            pk = uuid.UUID(str(raw))
        except ValueError:
            return
        if model._default_manager.filter(pk=pk).exists():
            return  # a local record the caller may not write: the usual 404 stands
        origin = replica_origin(model.record_type, pk)
        if origin is not None:
            raise ReplicaReadOnly(origin)


class ConditionalRecordMixin(ReplicaReadOnlyMixin):
    """ETag / If-None-Match on reads, If-Match on writes, 410 for deleted records, 409 for replicas."""

    #: The objects the last answer was built from, for renderings other than JSON (JSON-LD).
    rendered_objects: list[Any] | None = None

    def get_object(self) -> Any:
        try:
            return super().get_object()
        except Http404:
            self.raise_gone_if_deleted()
            raise

    def raise_gone_if_deleted(self) -> None:
        """410 with the tombstone when the record was deleted; a record hidden from the caller stays 404."""
        model = self.get_queryset().model  # type: ignore[attr-defined]
        raw = self.kwargs.get(self.lookup_url_kwarg or self.lookup_field)  # type: ignore[attr-defined]
        try:
            pk = uuid.UUID(str(raw))
        except ValueError:
            return
        if model._default_manager.filter(pk=pk).exists():
            return
        change = tombstone_for(model.record_type, pk)
        if change is not None:
            raise Gone(
                f"This {model.record_type} was deleted (version {change.version}).",
                extra={"tombstone": tombstone_document(change)},
            )

    def get_object_for_write(self) -> Any:
        """The record, its row locked until the end of the transaction, after the If-Match check."""
        if not transaction.get_connection().in_atomic_block:
            raise RuntimeError("get_object_for_write must run inside a transaction")
        instance = self.get_object()
        # Lock order convention of dataspace.records.services: change-log lock first, then the row.
        lock_change_log()
        current = (
            type(instance)
            ._default_manager.select_for_update()
            .filter(pk=instance.pk)
            .values_list("version", flat=True)
            .first()
        )
        if current is None:  # deleted between the read and the lock
            raise Http404
        if current != instance.version:
            instance = self.get_object()
        if if_match_fails(self.request.headers.get("If-Match"), record_etag(instance)):  # type: ignore[attr-defined]
            raise PreconditionFailed(
                f"The record is at version {instance.version} (ETag {record_etag(instance)}); "
                "read it again and retry with the new ETag."
            )
        return instance

    def detail_location(self, instance: Any) -> str | None:
        try:
            return reverse(f"{instance.record_type}-detail", kwargs={"pk": str(instance.pk)})
        except NoReverseMatch:
            return None

    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        instance = self.get_object()
        self.rendered_objects = [instance]
        return conditional_read(request, instance, lambda obj: self.get_serializer(obj).data)  # type: ignore[attr-defined]

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        serializer = self.get_serializer(data=request.data)  # type: ignore[attr-defined]
        serializer.is_valid(raise_exception=True)
        self.perform_create(serializer)  # type: ignore[attr-defined]
        instance = serializer.instance
        self.rendered_objects = [instance]
        headers = {"ETag": record_etag(instance)}
        location = self.detail_location(instance)
        if location:
            headers["Location"] = request.build_absolute_uri(location)
        return Response(serializer.data, status=status.HTTP_201_CREATED, headers=headers)

    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        partial = kwargs.pop("partial", False)
        with transaction.atomic():
            instance = self.get_object_for_write()
            serializer = self.get_serializer(instance, data=request.data, partial=partial)  # type: ignore[attr-defined]
            serializer.is_valid(raise_exception=True)
            self.perform_update(serializer)  # type: ignore[attr-defined]
        # Many-to-many links were just set: drop what the read prefetched before answering.
        serializer.instance._prefetched_objects_cache = {}
        self.rendered_objects = [serializer.instance]
        return Response(serializer.data, headers={"ETag": record_etag(serializer.instance)})

    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        with transaction.atomic():
            instance = self.get_object_for_write()
            self.perform_destroy(instance)  # type: ignore[attr-defined]
        return Response(status=status.HTTP_204_NO_CONTENT)


class JSONErrorsMixin:
    """Errors are always the JSON error document, whatever rendering was asked (CSV, JSON-LD…)."""

    def finalize_response(self, request: Request, response: Any, *args: Any, **kwargs: Any) -> Any:
        if response.status_code >= 400 and isinstance(response, Response):
            renderer = getattr(request, "accepted_renderer", None)
            if renderer is not None and renderer.format not in ("json", "api"):
                request.accepted_renderer = JSONRenderer()
                request.accepted_media_type = JSONRenderer.media_type
        return super().finalize_response(request, response, *args, **kwargs)  # type: ignore[misc]


# ---------------------------------------------------------------------------- CSV columns


class CSVColumnsMixin:
    """The columns of a CSV rendering: `?fields=a,b` (fields of the view's serializer, in that order),
    else `csv_default_columns`. The view sets `csv_selected` (in `initial`) from `_requested_columns`."""

    csv_default_columns: ClassVar[tuple[str, ...]] = ()
    csv_selected: list[str] | None = None

    def _requested_columns(self, request: Request) -> list[str]:
        raw = request.query_params.get("fields", "")
        if not raw.strip():
            return list(self.csv_default_columns)
        requested = [name.strip() for name in raw.split(",") if name.strip()]
        serializer = cast(Serializer, self.get_serializer())  # type: ignore[attr-defined]
        allowed = list(serializer.fields)
        unknown = [name for name in requested if name not in allowed]
        if unknown:
            raise ValidationError(
                {"fields": [f"Unknown column(s): {', '.join(unknown)}; available: {', '.join(allowed)}."]}
            )
        return requested

    def csv_columns(self) -> list[str]:
        return self.csv_selected or list(self.csv_default_columns)


# ---------------------------------------------------------------------------- idempotency


def request_digest(request: Request) -> str:
    """Hash of what makes two POSTs "the same request": method, path and the parsed JSON body."""
    body = json.dumps(request.data, sort_keys=True, separators=(",", ":"), cls=JSONEncoder, ensure_ascii=False)
    material = f"{request.method}\n{request.path}\n{body}"
    return hashlib.sha256(material.encode("utf-8")).hexdigest()


def _as_json(data: Any) -> Any:
    return json.loads(json.dumps(data, cls=JSONEncoder))


class IdempotentCreateMixin:
    """`Idempotency-Key` on POST (create): the first successful answer is replayed to retries."""

    rendered_objects: list[Any] | None = None

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        key = request.headers.get(IDEMPOTENCY_HEADER)
        if key is None:
            return super().create(request, *args, **kwargs)  # type: ignore[misc]
        key = key.strip()
        if not key or len(key) > MAX_IDEMPOTENCY_KEY_LENGTH:
            raise ValidationError(
                {IDEMPOTENCY_HEADER: [f"A non-empty key of at most {MAX_IDEMPOTENCY_KEY_LENGTH} characters."]}
            )
        caller = caller_id(request)
        digest = request_digest(request)
        stored = self._stored_answer(caller, key)
        if stored is not None:
            return self._replay(stored, digest)
        try:
            with transaction.atomic():
                response = super().create(request, *args, **kwargs)  # type: ignore[misc]
                if status.is_success(response.status_code):
                    IdempotencyKey.objects.create(
                        key=key,
                        caller=caller,
                        method=request.method or "POST",
                        path=request.path,
                        request_hash=digest,
                        status_code=response.status_code,
                        response_body=_as_json(response.data),
                        response_headers={
                            name: response[name] for name in REPLAYED_HEADERS if response.has_header(name)
                        },
                    )
        except IntegrityError:
            # A concurrent request with the same key committed first: ours was rolled back whole.
            stored = self._stored_answer(caller, key)
            if stored is None:
                raise
            return self._replay(stored, digest)
        return response

    @staticmethod
    def _stored_answer(caller: str, key: str) -> IdempotencyKey | None:
        stored = IdempotencyKey.objects.filter(caller=caller, key=key).first()
        if stored is None:
            return None
        if stored.created_at < timezone.now() - timedelta(hours=IdempotencyKey.ttl_hours()):
            stored.delete()  # expired: the key is free again
            return None
        return stored

    def _replay(self, stored: IdempotencyKey, digest: str) -> Response:
        if stored.request_hash != digest:
            raise UnprocessableEntity(
                "This Idempotency-Key was already used with another request body; use a new key.",
                code="idempotency_key_reused",
            )
        headers = dict(stored.response_headers or {})
        headers[REPLAYED_HEADER] = "true"
        self.rendered_objects = None
        return Response(stored.response_body, status=stored.status_code, headers=headers)
