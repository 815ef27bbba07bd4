"""JSON representations of shared records for the change feed.

The feed embeds each record's current public representation, the same one the API serves:
- the serializer class comes from `SERIALIZERS_BY_TYPE` (record type → DRF serializer) in
  `dataspace.referentials.api.serializers` (or `dataspace.directory.api.entry_serializers`, whose
  directory entries show only their consented fields) when that mapping exists, else from the viewset
  routed for the type in `dataspace.referentials.api.urls.ROUTES`;
- the queryset comes from that viewset too: its `feed_queryset` when it has one (only the joins
  and id-only prefetches the serializer reads, no ordering), else its `queryset` (the API's joins
  and prefetches, more than the feed needs). Either keeps the feed at one query per record type
  plus its prefetches, whatever the page size, and gives the same representations; its visibility
  filtering is not used: the feed applies `is_public` itself.
For a type the API does not serve (yet), `plain_representation` gives the model's own fields as
plain JSON, relations as UUIDs.
"""

from __future__ import annotations

import datetime as dt
import decimal
import uuid
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import import_module
from typing import Any

from django.db import models
from django.db.models import QuerySet
from rest_framework.request import Request

from dataspace.records import services
from dataspace.records.models import Change, Record

#: Modules whose `SERIALIZERS_BY_TYPE` (record type → serializer) the feed uses. A record type with
#: personal data (a directory entry: only its consented fields) must be listed here, never left to
#: `plain_representation`.
_SERIALIZER_MODULES = (
    "dataspace.referentials.api.serializers",
    "dataspace.directory.api.entry_serializers",
)


@dataclass(frozen=True)
class ApiRepresentation:
    serializer_class: Any | None
    queryset: QuerySet[Any] | None


def _module_attribute(module_name: str, attribute: str) -> Any:
    try:
        module = import_module(module_name)
    except ImportError:
        return None
    return getattr(module, attribute, None)


def api_representations(*, lean: bool = True) -> dict[str, ApiRepresentation]:
    """The API's serializer for each record type it serves, and the queryset the feed loads it from.

    `lean` (the feed's): the viewset's `feed_queryset` when it has one; False: the viewset's own
    `queryset` (the API's joins), which gives the same representations with more queries and rows
    (tests/records/test_feed_querysets.py compares the two).
    """
    found: dict[str, ApiRepresentation] = {}
    routes = _module_attribute("dataspace.referentials.api.urls", "ROUTES") or []
    for _prefix, viewset in routes:
        queryset = getattr(viewset, "queryset", None)
        if queryset is None:
            continue
        feed_queryset = getattr(viewset, "feed_queryset", None) if lean else None
        record_type = getattr(queryset.model, "record_type", "")
        if record_type:
            chosen = feed_queryset if feed_queryset is not None else queryset
            found[record_type] = ApiRepresentation(getattr(viewset, "serializer_class", None), chosen.all())
    for module_name in _SERIALIZER_MODULES:
        by_type = _module_attribute(module_name, "SERIALIZERS_BY_TYPE")
        if isinstance(by_type, Mapping):
            for record_type, serializer_class in by_type.items():
                queryset = found[record_type].queryset if record_type in found else None
                found[record_type] = ApiRepresentation(serializer_class, queryset)
    return found


def _json_value(value: Any) -> Any:
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


def plain_representation(record: Record) -> dict[str, Any]:
    """The record's concrete fields as JSON values; relations as the related records' UUIDs.

    Many-to-many relations are read from the prefetch cache when present (see `represent`).
    """
    data: dict[str, Any] = {"uri": record.uri}
    for field in record._meta.concrete_fields:
        if field.is_relation:
            data[field.name] = _json_value(getattr(record, field.attname))
        else:
            data[field.name] = _json_value(field.value_from_object(record))
    for field in record._meta.many_to_many:
        data[field.name] = sorted(str(related.pk) for related in getattr(record, field.name).all())
    return data


def represent(
    records: Sequence[Record], serializer_class: Any | None, request: Request | None
) -> dict[uuid.UUID, dict[str, Any]]:
    """The representations of several records of one type, by primary key, in bulk."""
    if not records:
        return {}
    if serializer_class is not None:
        data = serializer_class(list(records), many=True, context={"request": request}).data
        return {record.pk: dict(item) for record, item in zip(records, data, strict=True)}
    many_to_many = [field.name for field in type(records[0])._meta.many_to_many]
    if many_to_many:
        models.prefetch_related_objects(list(records), *many_to_many)
    return {record.pk: plain_representation(record) for record in records}


def current_representations(
    changes: Sequence[Change],
    request: Request | None,
    sources: Mapping[str, ApiRepresentation] | None = None,
) -> dict[tuple[str, uuid.UUID], dict[str, Any]]:
    """The current representation of each record upserted in `changes` that may leave the node, by
    (record type, primary key): one query per record type plus its queryset's prefetches, whatever
    the number of changes. `sources`: `api_representations()` unless given."""
    if sources is None:
        sources = api_representations()
    querysets = {name: source.queryset for name, source in sources.items() if source.queryset is not None}
    by_type: dict[str, list[Record]] = defaultdict(list)
    for (record_type, _pk), record in services.load_current_records(changes, querysets).items():
        by_type[record_type].append(record)
    representations: dict[tuple[str, uuid.UUID], dict[str, Any]] = {}
    for record_type, instances in by_type.items():
        source = sources.get(record_type)
        serializer_class = source.serializer_class if source is not None else None
        for pk, data in represent(instances, serializer_class, request).items():
            representations[(record_type, pk)] = data
    return representations
