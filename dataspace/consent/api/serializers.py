"""Request bodies and answers of /api/v1/consents (docs/consent.md). Thin: rules live in services."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from dataspace.consent import services
from dataspace.consent import vocabulary as vocab
from dataspace.consent.models import ConsentRecord


class GrantSerializer(serializers.Serializer):
    """POST /api/v1/consents: a consent the controller collected."""

    controller = serializers.UUIDField()
    target_type = serializers.CharField()
    target_id = serializers.UUIDField()
    purposes = serializers.ListField(child=serializers.CharField())
    data_categories = serializers.ListField(child=serializers.CharField())
    # DRF's metaclass moves declared fields into `_declared_fields`: this one does not shadow `.fields`.
    fields = serializers.ListField(child=serializers.CharField())  # type: ignore[assignment]
    recipients = serializers.ListField(child=serializers.CharField())
    notice = serializers.UUIDField(required=False, allow_null=True)
    method = serializers.CharField(required=False, default=ConsentRecord.Method.API)
    subject_email = serializers.EmailField(required=False, allow_blank=True, default="")
    expires_at = serializers.DateTimeField(required=False, allow_null=True, default=None)


class RenewSerializer(serializers.Serializer):
    expires_at = serializers.DateTimeField(required=False, allow_null=True, default=None)


class WithdrawSerializer(serializers.Serializer):
    note = serializers.CharField(required=False, allow_blank=True, default="", max_length=500)


class VerifySerializer(serializers.Serializer):
    receipt = serializers.CharField(max_length=20000, trim_whitespace=True)


class ConsentSerializer(serializers.Serializer):
    """A consent as the API shows it (the subject's email only to the controller and the subject)."""

    def to_representation(self, consent: ConsentRecord) -> dict[str, Any]:
        controller = consent.controller
        return {
            "id": str(consent.pk),
            "controller": {"id": str(controller.pk), "name": controller.name, "uri": controller.uri},
            "target_type": consent.target_type,
            "target_id": str(consent.target_id),
            "target": services.target_uri(consent.target_type, consent.target_id),
            "subject_email": consent.subject_email,
            "purposes": [{"code": code, "label": vocab.purpose_label(code)} for code in consent.purposes],
            "data_categories": list(consent.data_categories),
            "fields": list(consent.fields),
            "recipients": [{"code": code, "label": vocab.recipient_label(code)} for code in consent.recipients],
            "legal_basis": consent.legal_basis,
            "notice": {
                "id": str(consent.notice_id),
                "version": consent.notice.version,
                "sha256": consent.notice_sha256,
            },
            "method": consent.method,
            "given_at": consent.given_at,
            "expires_at": consent.expires_at,
            "status": services.current_status(consent),
            "recorded_status": consent.status,
            "in_force": services.is_in_force(consent),
            "status_changed_at": consent.status_changed_at,
            "events": [{"status": event.status, "at": event.at, "note": event.note} for event in consent.events.all()],
            "receipt": f"/api/v1/consents/{consent.pk}/receipt",
        }
