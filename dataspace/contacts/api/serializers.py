"""Representations of contacts and of their consents (JSON and CSV columns)."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from dataspace.consent.models import ConsentRecord
from dataspace.contacts import services
from dataspace.contacts.models import Contact
from dataspace.referentials.models import Organisation


class ContactSerializer(serializers.ModelSerializer):
    owner = serializers.PrimaryKeyRelatedField(queryset=Organisation.objects.all(), required=False)
    email = serializers.EmailField(required=False, allow_blank=True)
    tags = serializers.ListField(child=serializers.CharField(max_length=50), required=False)

    class Meta:
        model = Contact
        fields = [
            "id",
            "owner",
            "kind",
            "given_name",
            "family_name",
            "organisation_name",
            "email",
            "phone",
            "postal_address",
            "notes",
            "tags",
            "verified_at",
            "version",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "version", "created_at", "updated_at"]

    def validate_tags(self, value: list[str]) -> list[str]:
        try:
            return services.normalise_tags(value)
        except services.ContactError as exc:
            raise serializers.ValidationError(exc.errors["tags"]) from None

    def validate_owner(self, value: Organisation) -> Organisation:
        if self.instance is not None and value.pk != self.instance.owner_id:
            raise serializers.ValidationError(_("Un contact reste à la structure qui l'a saisi."))
        return value

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        names = ("given_name", "family_name", "organisation_name", "email")
        current = {name: attrs.get(name, getattr(self.instance, name, "")) for name in names}
        if not any(current.values()):
            raise serializers.ValidationError(
                {"family_name": [_("Un contact a au moins un nom, un organisme ou une adresse électronique.")]}
            )
        return attrs


class ReachableContactSerializer(serializers.ModelSerializer):
    """What a mailing tool needs: who, and where to write."""

    class Meta:
        model = Contact
        fields = ["id", "owner", "kind", "given_name", "family_name", "organisation_name", "email"]
        read_only_fields = fields


class ContactConsentSerializer(serializers.ModelSerializer):
    notice_version = serializers.CharField(source="notice.version", read_only=True)

    class Meta:
        model = ConsentRecord
        fields = [
            "id",
            "controller",
            "target_type",
            "target_id",
            "purposes",
            "data_categories",
            "fields",
            "recipients",
            "legal_basis",
            "notice_version",
            "notice_sha256",
            "method",
            "given_at",
            "expires_at",
            "status",
            "status_changed_at",
        ]
        read_only_fields = fields


class GrantContactConsentSerializer(serializers.Serializer):
    """POST /contacts/{id}/consents: `purpose` (or `purposes`), `notice_version`, `method`, `expires_at`."""

    purpose = serializers.CharField(required=False)
    purposes = serializers.ListField(child=serializers.CharField(), required=False)
    notice_version = serializers.CharField()
    method = serializers.ChoiceField(choices=ConsentRecord.Method.choices)
    expires_at = serializers.DateTimeField(required=False, allow_null=True)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        codes = list(attrs.get("purposes") or [])
        if attrs.get("purpose"):
            codes.append(attrs["purpose"])
        if not codes:
            raise serializers.ValidationError({"purpose": [_("Ce champ est obligatoire.")]})
        try:
            attrs["codes"] = sorted({services.check_purpose(code) for code in codes})
        except services.ContactError as exc:
            raise serializers.ValidationError(exc.errors) from None
        return attrs
