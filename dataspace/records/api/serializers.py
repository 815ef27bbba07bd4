"""JSON representations of shared records for the change feed.

The feed embeds each record's current public representation, the same one the API serves:
- the serializer class comes from `SERIALIZERS_BY_TYPE` (record type → DRF serializer) in
  `dataspace.referentials.api.serializers` (or `dataspace.directory.api.entry_serializers`, whose
  directory entries show only their consented fields) when that mapping exists, else from the viewset
  routed for the type in `dataspace.referentials.api.urls.ROUTES`;
- the queryset comes from that viewset too (its joins and prefetches keep the feed at one query
  per record type, whatever the page size; its visibility filtering is not used: the feed applies
  `is_public` itself).
For a type the API does not serve (yet), `plain_representation` gives the model's own fields as
plain JSON, relations as UUIDs.
"""

from __future__ import annotations

import datetime as dt
import decimal
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import import_module
from typing import Any

from django.db import models
from django.db.models import QuerySet
from rest_framework.request import Request

from dataspace.records.models import Record

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


def api_representations() -> dict[str, ApiRepresentation]:
    """The API's serializer and queryset for each record type it serves."""
    found: dict[str, ApiRepresentation] = {}
    routes = _module_attribute("dataspace.referentials.api.urls", "ROUTES") or []
    for _prefix, viewset in routes:
        queryset = getattr(viewset, "queryset", None)
        if queryset is None:
            continue
        record_type = getattr(queryset.model, "record_type", "")
        if record_type:
            found[record_type] = ApiRepresentation(getattr(viewset, "serializer_class", None), queryset.all())
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
