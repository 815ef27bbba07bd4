"""Shapes of the directory's API answers (also their OpenAPI schema)."""

from __future__ import annotations

from rest_framework import serializers


class TermsSerializer(serializers.Serializer[object]):
    version = serializers.CharField()
    text = serializers.CharField()
    published_at = serializers.DateTimeField()


class AcceptTermsSerializer(serializers.Serializer[object]):
    version = serializers.CharField(max_length=40, help_text="The current version, as GET /api/v1/terms gives it.")


class AcceptanceSerializer(serializers.Serializer[object]):
    version = serializers.CharField()
    accepted_at = serializers.DateTimeField()


class LicenceSerializer(serializers.Serializer[object]):
    number = serializers.CharField()
    category = serializers.IntegerField()
    status = serializers.CharField(help_text="valide, en_instruction, invalide, invalide_retire or expire")
    deposited_on = serializers.DateField(allow_null=True)
    valid_until = serializers.DateField(allow_null=True)
    in_force = serializers.BooleanField(help_text="A Valide licence in force today.")


class OrganisationRefSerializer(serializers.Serializer[object]):
    id = serializers.UUIDField()
    name = serializers.CharField()


class StandingSerializer(serializers.Serializer[object]):
    reason = serializers.CharField(help_text="'' when licensed, else a reason code of the decision point")
    detail = serializers.CharField(help_text="One sentence, in the request's language")


class TermsStateSerializer(serializers.Serializer[object]):
    current = serializers.CharField(help_text="'' when no version is published")
    accepted = serializers.CharField(help_text="the last version this person accepted ('' if none)")
    up_to_date = serializers.BooleanField()


class ProfessionalMeSerializer(serializers.Serializer[object]):
    username = serializers.CharField()
    account_id = serializers.IntegerField()
    verified = serializers.BooleanField()
    organisation = OrganisationRefSerializer()
    licences = LicenceSerializer(many=True)
    licensed_today = serializers.BooleanField()
    licence_status = serializers.CharField(help_text="valide, expiree, en_instruction, invalidee or aucune")
    standing = StandingSerializer()
    terms = TermsStateSerializer()
