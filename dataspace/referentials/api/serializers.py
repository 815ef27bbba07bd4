"""JSON representations of the referentials.

Every record exposes `id`, `uri` (its global URI), `version`, `owner`, `origin`, `same_as`,
`created_at`, `updated_at`. Related records are given and accepted by UUID. Validation runs the
model's own rules (field validators, `clean()`, constraints) through
`services.validate_record`, so every refusal is a 400 naming the field.
"""

from __future__ import annotations

import copy
import zoneinfo
from typing import Any

from django.db import models
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.relations import MANY_RELATION_KWARGS

from dataspace.referentials import services
from dataspace.referentials.models import (
    Contribution,
    Discipline,
    Hall,
    Organisation,
    Performance,
    Person,
    Production,
    Season,
    TechnicalSheet,
    TechnicalSheetRevision,
    Venue,
    Work,
)
from dataspace.referentials.validators import validate_same_as

RECORD_FIELDS = ("id", "uri", "version", "owner", "origin", "same_as", "created_at", "updated_at")

_HIDDEN_CACHE = "_referentials_hidden_ids"


def hidden_from_request(request: Any, record_type: str) -> set[Any]:
    """The ids of the records of one type hidden from the caller (`policies.controls`), one query
    per type and request, none while no record of that type is hidden."""
    from policies import enforcement
    from policies.controls import hidden_exclusion

    if request is None or record_type not in enforcement.request_index(request).hidden_types:
        return set()
    django_request = getattr(request, "_request", request)
    cache: dict[str, set[Any]] = django_request.__dict__.setdefault(_HIDDEN_CACHE, {})
    if record_type not in cache:
        from dataspace.records.services import record_models

        model = record_models()[record_type]
        exclusion = hidden_exclusion(enforcement.subject_for_request(request), record_type)
        cache[record_type] = (
            set(model._default_manager.filter(exclusion).values_list("pk", flat=True)) if exclusion else set()
        )
    return cache[record_type]


class _VisibleManyRelatedField(serializers.ManyRelatedField):
    def to_representation(self, iterable: Any) -> list[Any]:
        request = self.context.get("request")
        items = list(iterable)
        hidden = hidden_from_request(request, str(type(items[0]).record_type)) if items else set()
        return [self.child_relation.to_representation(item) for item in items if item.pk not in hidden]


class VisibleRelatedField(serializers.PrimaryKeyRelatedField):
    """UUIDs of related records (read only, many), leaving out those hidden from the caller: a
    public record never tells that a hidden one exists."""

    @classmethod
    def many_init(cls, *args: Any, **kwargs: Any) -> Any:
        list_kwargs: dict[str, Any] = {"child_relation": cls(*args, **{k: v for k, v in kwargs.items() if k != "many"})}
        for key in kwargs:
            if key in MANY_RELATION_KWARGS:
                list_kwargs[key] = kwargs[key]
        return _VisibleManyRelatedField(**list_kwargs)


class RecordSerializer(serializers.ModelSerializer):
    """Base of every record serializer: common members, owner default, model validation."""

    uri = serializers.CharField(read_only=True, help_text="Global URI of the record (its JSON-LD @id).")
    same_as = serializers.ListField(
        child=serializers.CharField(max_length=500),
        required=False,
        validators=[validate_same_as],
        help_text="External identifiers as URIs or scheme:identifier (ISNI, Wikidata, ARK BnF, Artsdata, SIRET…).",
    )
    owner = serializers.PrimaryKeyRelatedField(
        queryset=Organisation.objects.all(),
        required=False,
        help_text="UUID of the owning organisation; defaults to the organisation running this node.",
    )

    class Meta:
        model: type[models.Model]
        fields: tuple[str, ...] = RECORD_FIELDS
        #: Uniqueness is checked by the model's own constraints (services.validate_record).
        validators: list[Any] = []

    def _many_to_many_names(self) -> set[str]:
        model = self.Meta.model
        return {field.name for field in model._meta.many_to_many}

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        attrs = super().validate(attrs)
        model = self.Meta.model
        if self.instance is not None:
            services.ensure_writable(self.instance)
        if self.instance is None and "owner" not in attrs:
            owner = services.default_owner()
            owner_nullable = model._meta.get_field("owner").null
            if owner is None and not owner_nullable:
                raise serializers.ValidationError(
                    {
                        "owner": [
                            "No owner given and this node has no organisation of its own "
                            "(NodeIdentity.organisation); name the owning organisation's UUID."
                        ]
                    }
                )
            attrs["owner"] = owner
        many = self._many_to_many_names()
        candidate = copy.copy(self.instance) if self.instance is not None else model()
        for name, value in attrs.items():
            if name not in many:
                setattr(candidate, name, value)
        services.validate_record(candidate)
        return attrs

    def create(self, validated_data: dict[str, Any]) -> Any:
        many = {name: validated_data.pop(name) for name in self._many_to_many_names() if name in validated_data}
        instance = self.Meta.model(**validated_data)
        return services.save_record(instance, many)

    def update(self, instance: Any, validated_data: dict[str, Any]) -> Any:
        many = {name: validated_data.pop(name) for name in self._many_to_many_names() if name in validated_data}
        for name, value in validated_data.items():
            setattr(instance, name, value)
        return services.save_record(instance, many)


@extend_schema_field({"type": "array", "items": {"$ref": "#/components/schemas/DisciplineEnum"}})
class DisciplineListField(serializers.ListField):
    """A list of disciplines; documented with the same `DisciplineEnum` as `Production.discipline`."""

    child = serializers.ChoiceField(choices=Discipline.choices)


class OrganisationSerializer(RecordSerializer):
    owner = serializers.PrimaryKeyRelatedField(
        queryset=Organisation.objects.all(),
        required=False,
        allow_null=True,
        help_text="UUID of the owning organisation; null when the organisation describes itself.",
    )
    disciplines = DisciplineListField(required=False)

    class Meta(RecordSerializer.Meta):
        model = Organisation
        fields = (
            *RECORD_FIELDS,
            "name",
            "legal_name",
            "kind",
            "siret",
            "siren",
            "legal_status",
            "label",
            "disciplines",
            "region",
            "departement",
            "city",
            "postal_code",
            "website",
        )


class VenueSerializer(RecordSerializer):
    halls: serializers.PrimaryKeyRelatedField[Any] = VisibleRelatedField(
        many=True, read_only=True, help_text="UUIDs of the venue's halls."
    )

    class Meta(RecordSerializer.Meta):
        model = Venue
        fields = (
            *RECORD_FIELDS,
            "name",
            "venue_type",
            "operator",
            "siret",
            "street_address",
            "postal_code",
            "city",
            "departement",
            "region",
            "country",
            "latitude",
            "longitude",
            "website",
            "halls",
        )


class HallConfigurationSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    capacity = serializers.IntegerField(min_value=0)


class HallSerializer(RecordSerializer):
    configurations = HallConfigurationSerializer(many=True, required=False)
    technical_sheet = serializers.UUIDField(
        source="technical_sheet.id",
        read_only=True,
        allow_null=True,
        help_text="UUID of the hall's current technical sheet (null when it has none).",
    )

    class Meta(RecordSerializer.Meta):
        model = Hall
        fields = (
            *RECORD_FIELDS,
            "venue",
            "name",
            "seated_capacity",
            "standing_capacity",
            "configurations",
            "wheelchair_places",
            "technical_sheet",
        )


class TechnicalDocumentSerializer(serializers.Serializer):
    title = serializers.CharField(max_length=200)
    url = serializers.URLField()


class TechnicalSheetSerializer(RecordSerializer):
    documents = TechnicalDocumentSerializer(many=True, required=False)
    venue = serializers.UUIDField(source="hall.venue_id", read_only=True, help_text="UUID of the hall's venue.")

    class Meta(RecordSerializer.Meta):
        model = TechnicalSheet
        fields = (*RECORD_FIELDS, "hall", "venue", *TechnicalSheet.TRACKED_FIELDS)


class TechnicalSheetRevisionSerializer(serializers.ModelSerializer):
    class Meta:
        model = TechnicalSheetRevision
        fields = ("version", "diff", "data", "changed_at")


class PersonSerializer(RecordSerializer):
    name = serializers.CharField(read_only=True)

    class Meta(RecordSerializer.Meta):
        model = Person
        fields = (*RECORD_FIELDS, "given_name", "family_name", "name")


class WorkSerializer(RecordSerializer):
    contributions: serializers.PrimaryKeyRelatedField[Any] = VisibleRelatedField(many=True, read_only=True)

    class Meta(RecordSerializer.Meta):
        model = Work
        fields = (
            *RECORD_FIELDS,
            "title",
            "original_title",
            "genre",
            "year",
            "duration_minutes",
            "language",
            "description",
            "contributions",
        )


class ProductionSerializer(RecordSerializer):
    contributions: serializers.PrimaryKeyRelatedField[Any] = VisibleRelatedField(
        many=True, read_only=True, help_text="UUIDs of the credits."
    )
    revivals: serializers.PrimaryKeyRelatedField[Any] = VisibleRelatedField(
        many=True, read_only=True, help_text="UUIDs of the productions reviving this one."
    )

    class Meta(RecordSerializer.Meta):
        model = Production
        fields = (
            *RECORD_FIELDS,
            "title",
            "works",
            "producer",
            "coproducers",
            "discipline",
            "duration_minutes",
            "language",
            "audience",
            "minimum_age",
            "premiere_date",
            "original_production",
            "revivals",
            "contributions",
            "description",
            "technical_rider_url",
        )


class ContributionSerializer(RecordSerializer):
    class Meta(RecordSerializer.Meta):
        model = Contribution
        fields = (*RECORD_FIELDS, "production", "work", "person", "role", "role_label", "character", "position")


class SeasonSerializer(RecordSerializer):
    class Meta(RecordSerializer.Meta):
        model = Season
        fields = (*RECORD_FIELDS, "name", "kind", "organiser", "start_date", "end_date", "edition")


class PerformanceSerializer(RecordSerializer):
    """Dates are given back in the performance's own time zone (ISO 8601 with its offset)."""

    venue = serializers.UUIDField(source="hall.venue_id", read_only=True, help_text="UUID of the hall's venue.")
    accessibility = serializers.ListField(
        child=serializers.ChoiceField(choices=Performance.Accessibility.choices),
        required=False,
    )

    class Meta(RecordSerializer.Meta):
        model = Performance
        fields = (
            *RECORD_FIELDS,
            "production",
            "hall",
            "venue",
            "season",
            "start",
            "time_zone",
            "status",
            "previous_start",
            "capacity",
            "accessibility",
            "ticketing_url",
        )

    def to_representation(self, instance: Performance) -> dict[str, Any]:
        data = super().to_representation(instance)
        zone = zoneinfo.ZoneInfo(instance.time_zone)
        for name in ("start", "previous_start"):
            value = getattr(instance, name)
            if value is not None:
                data[name] = value.astimezone(zone).isoformat()
        return data
