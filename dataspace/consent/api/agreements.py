"""/api/v1/agreements/: a structure's data-sharing agreements (docs/consent.md, "Agreements").

Scope ``policies:manage``. Signing and revoking are a person's act: an administrator of the
owner (or a superuser); a machine client may not sign (403). The list holds the agreements of
the structures the caller administers (all of them for a superuser). Rules live in
`dataspace.consent.agreements`.

* ``GET /api/v1/agreements/`` — list (``?owner=<uuid>``, ``?status=active|revoked``);
* ``POST /api/v1/agreements/`` — sign;
* ``GET /api/v1/agreements/{id}/`` — read (with ``signature_valid``);
* ``POST /api/v1/agreements/{id}/revoke`` — revoke.
"""

from __future__ import annotations

import uuid
from typing import Any, ClassVar

from django.db.models import QuerySet
from django.http import Http404
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from dataspace.api.auth import person
from dataspace.consent import agreements
from dataspace.consent.models import Agreement, Notice
from dataspace.referentials.models import Organisation

AGREEMENT_SCOPES: dict[str, str] = {"read": "policies:manage", "write": "policies:manage"}


class AgreementSerializer(serializers.ModelSerializer):
    signed_by = serializers.CharField(source="signed_by.get_username", read_only=True)
    revoked_by = serializers.CharField(source="revoked_by.get_username", read_only=True, default=None)

    class Meta:
        model = Agreement
        fields = [
            "id",
            "owner",
            "target_type",
            "grantee",
            "grantee_organisation",
            "grantee_node",
            "purposes",
            "valid_from",
            "valid_until",
            "notice",
            "status",
            "signed_by",
            "signed_at",
            "signature",
            "revoked_at",
            "revoked_by",
        ]
        read_only_fields = fields


class AgreementWriteSerializer(serializers.Serializer):
    owner = serializers.PrimaryKeyRelatedField(queryset=Organisation.objects.all())
    target_type = serializers.CharField(max_length=40)
    grantee = serializers.CharField(max_length=20)
    grantee_organisation = serializers.PrimaryKeyRelatedField(
        queryset=Organisation.objects.all(), required=False, allow_null=True
    )
    grantee_node = serializers.URLField(required=False, allow_blank=True, default="")
    purposes = serializers.ListField(child=serializers.CharField(max_length=40), allow_empty=True)
    valid_from = serializers.DateField()
    valid_until = serializers.DateField(required=False, allow_null=True)
    notice = serializers.PrimaryKeyRelatedField(queryset=Notice.objects.all(), required=False, allow_null=True)


def _signer(request: Request) -> Any:
    user = person(request)
    if user is None:
        raise PermissionDenied(_("Un accord de partage est signé par une personne, pas par un logiciel."))
    return user


def visible_agreements(user: Any) -> QuerySet[Agreement]:
    queryset = Agreement.objects.select_related("signed_by", "revoked_by", "notice").order_by("-signed_at")
    if user.is_superuser:
        return queryset
    return queryset.filter(owner_id__in=agreements.administered_owner_ids(user))


class AgreementListView(APIView):
    """The caller's structures' agreements; sign a new one."""

    required_scopes: ClassVar[dict[str, str]] = AGREEMENT_SCOPES

    @extend_schema(responses={200: AgreementSerializer(many=True)})
    def get(self, request: Request) -> Response:
        queryset = visible_agreements(_signer(request))
        owner = request.query_params.get("owner")
        if owner:
            try:
                queryset = queryset.filter(owner_id=uuid.UUID(owner))
            except ValueError:
                raise ValidationError({"owner": [_("Identifiant de structure invalide.")]}) from None
        state = request.query_params.get("status")
        if state:
            if state not in Agreement.Status.values:
                raise ValidationError({"status": [_("État inconnu ; états possibles : active, revoked.")]})
            queryset = queryset.filter(status=state)
        return Response(AgreementSerializer(queryset, many=True).data)

    @extend_schema(request=AgreementWriteSerializer, responses={201: AgreementSerializer})
    def post(self, request: Request) -> Response:
        user = _signer(request)
        form = AgreementWriteSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        data = form.validated_data
        agreement = agreements.sign_agreement(
            owner=data["owner"],
            target_type=data["target_type"],
            grantee=data["grantee"],
            grantee_organisation=data.get("grantee_organisation"),
            grantee_node=data.get("grantee_node", ""),
            purposes=data["purposes"],
            valid_from=data["valid_from"],
            valid_until=data.get("valid_until"),
            notice=data.get("notice"),
            signed_by=user,
        )
        return Response(AgreementSerializer(agreement).data, status=status.HTTP_201_CREATED)


def _get(request: Request, pk: uuid.UUID) -> Agreement:
    agreement = visible_agreements(_signer(request)).filter(pk=pk).first()
    if agreement is None:
        raise Http404
    return agreement


class AgreementDetailView(APIView):
    """One agreement, with whether its signature still verifies."""

    required_scopes: ClassVar[dict[str, str]] = AGREEMENT_SCOPES

    @extend_schema(responses={200: AgreementSerializer})
    def get(self, request: Request, pk: uuid.UUID) -> Response:
        agreement = _get(request, pk)
        body = dict(AgreementSerializer(agreement).data)
        try:
            agreements.verify_agreement(agreement)
            body["signature_valid"] = True
        except agreements.InvalidAgreementSignature:
            body["signature_valid"] = False
        return Response(body)


class AgreementRevokeView(APIView):
    """End an agreement now."""

    required_scopes: ClassVar[dict[str, str]] = AGREEMENT_SCOPES

    @extend_schema(request=None, responses={200: AgreementSerializer})
    def post(self, request: Request, pk: uuid.UUID) -> Response:
        agreement = _get(request, pk)
        revoked = agreements.revoke_agreement(agreement, by=_signer(request))
        return Response(AgreementSerializer(revoked).data)
