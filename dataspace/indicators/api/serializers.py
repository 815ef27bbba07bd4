"""Representations of ticketing figures and declarations (JSON)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from dataspace.indicators import declarations, services
from dataspace.indicators.models import Declaration, TicketingFigures
from dataspace.referentials.models import Performance

ZERO = Decimal("0.00")


class PerformanceIdsField(serializers.ListField):
    """The ids of the performances a row covers (read from `covered`, prefetched), sorted."""

    child = serializers.UUIDField()

    def get_attribute(self, instance: Any) -> Any:
        return sorted(str(covered.performance_id) for covered in instance.covered.all())

    def to_representation(self, data: Any) -> Any:
        return list(data)


class FiguresSerializer(serializers.ModelSerializer):
    """A row of figures. Write with `performance` (one) or `performances` (a series), the counts and
    the receipts; everything about the performances (production, venue, dates, quarter…) and the
    average prices are computed."""

    performance = serializers.PrimaryKeyRelatedField(
        queryset=Performance.objects.all(), required=False, help_text="The performance (single performance)."
    )
    performances = PerformanceIdsField(
        required=False,
        allow_empty=False,
        help_text="The performances covered: a series (one production, one venue, one quarter), or one.",
    )
    tickets_total = serializers.IntegerField(min_value=0)
    tickets_full_price = serializers.IntegerField(min_value=0, required=False, default=0)
    tickets_subscription = serializers.IntegerField(min_value=0, required=False, default=0)
    tickets_exempt = serializers.IntegerField(min_value=0, required=False, default=0)
    receipts_total = serializers.DecimalField(max_digits=12, decimal_places=2, min_value=ZERO)
    receipts_full_price = serializers.DecimalField(
        max_digits=12, decimal_places=2, min_value=ZERO, required=False, default=ZERO
    )
    capacity = serializers.IntegerField(
        min_value=1, required=False, allow_null=True, help_text="Places over the performances; default: theirs."
    )
    production_title = serializers.CharField(source="production.title", read_only=True)
    venue_name = serializers.CharField(source="venue.name", read_only=True)
    venue_type = serializers.CharField(source="venue.venue_type", read_only=True)
    discipline = serializers.CharField(source="production.discipline", read_only=True)
    paying_tickets = serializers.IntegerField(read_only=True)
    average_price = serializers.DecimalField(max_digits=12, decimal_places=2, read_only=True, allow_null=True)
    average_full_price = serializers.DecimalField(max_digits=12, decimal_places=2, read_only=True, allow_null=True)

    class Meta:
        model = TicketingFigures
        fields = [
            "id",
            "owner",
            "external_id",
            "ticketing_system",
            "performance",
            "performances",
            "performance_count",
            "production",
            "production_title",
            "discipline",
            "venue",
            "venue_name",
            "venue_type",
            "first_date",
            "last_date",
            "quarter",
            "young_audience",
            "accessible_performances",
            "capacity",
            "tickets_total",
            "tickets_full_price",
            "tickets_subscription",
            "tickets_exempt",
            "paying_tickets",
            "receipts_total",
            "receipts_full_price",
            "average_price",
            "average_full_price",
            "version",
            "created_at",
            "updated_at",
        ]
        read_only_fields = [
            "id",
            "owner",
            "performance_count",
            "production",
            "venue",
            "first_date",
            "last_date",
            "quarter",
            "young_audience",
            "accessible_performances",
            "version",
            "created_at",
            "updated_at",
        ]

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        single = attrs.pop("performance", None)
        many = attrs.pop("performances", None)
        if single is not None and many is not None and [single.pk] != list(many):
            raise serializers.ValidationError(
                {"performances": [_("Indiquez soit « performance », soit « performances », pas les deux.")]}
            )
        if single is not None:
            attrs["performance_list"] = [single.pk]
        elif many is not None:
            attrs["performance_list"] = list(many)
        elif self.instance is None:
            raise serializers.ValidationError(
                {"performance": [_("Indiquez la représentation (performance) ou les représentations d'une série.")]}
            )
        return attrs


class FiguresWriteResult(serializers.Serializer):
    """How an upsert answered: 201 created, 200 updated or unchanged (`outcome`)."""

    outcome = serializers.ChoiceField(choices=[services.CREATED, services.UPDATED, services.UNCHANGED])


class ImportLineErrorSerializer(serializers.Serializer):
    line = serializers.IntegerField()
    field = serializers.CharField()
    error = serializers.CharField()


class ImportReportSerializer(serializers.Serializer):
    lines = serializers.IntegerField()
    created = serializers.IntegerField()
    updated = serializers.IntegerField()
    unchanged = serializers.IntegerField()
    figure_ids = serializers.ListField(child=serializers.UUIDField())


class DeclarationSerializer(serializers.ModelSerializer):
    """A declaration's state and totals; `rows` (the lines of the file) are shown to the structure's
    staff, and to its clients once approved (before that, nothing leaves the node)."""

    owner_name = serializers.CharField(source="owner.name", read_only=True)
    approved_by = serializers.SerializerMethodField()
    rows = serializers.SerializerMethodField()

    class Meta:
        model = Declaration
        fields = [
            "id",
            "owner",
            "owner_name",
            "quarter",
            "status",
            "prepared_at",
            "prepared_by",
            "sha256",
            "line_count",
            "totals",
            "approved_by",
            "approved_at",
            "exported_at",
            "exported_by",
            "version",
            "rows",
        ]
        read_only_fields = fields

    @extend_schema_field(OpenApiTypes.STR)
    def get_approved_by(self, obj: Declaration) -> str | None:
        return obj.approved_by.get_username() if obj.approved_by is not None else None

    @extend_schema_field(serializers.ListField(child=serializers.DictField(child=serializers.CharField())))
    def get_rows(self, obj: Declaration) -> list[dict[str, str]] | None:
        show = self.context.get("show_rows")
        if show is None or not show(obj):
            return None
        return declarations.read_declaration(obj.content)


class PrepareDeclarationSerializer(serializers.Serializer):
    """POST /ticketing/declarations/: the quarter (and the structure, for staff of several)."""

    quarter = serializers.CharField(help_text="YYYY-TN, e.g. 2026-T4.")
    owner = serializers.UUIDField(required=False, help_text="The structure; default: the caller's only one.")


class ApproveDeclarationSerializer(serializers.Serializer):
    """POST …/approve: optionally the SHA-256 of the content the administrator read."""

    sha256 = serializers.CharField(required=False, max_length=64)
