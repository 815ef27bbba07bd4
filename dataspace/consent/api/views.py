"""/api/v1/consents: record, list, renew and withdraw person consents; receipts and their check.

Who may do what (docs/consent.md, "API"):

* **The controller** — its staff (session, or a personal key with `consent:manage`) and its
  depositor clients (own organisation or an active mandate covering `consent:manage`) record
  (POST /consents), list (GET /consents), read, renew and withdraw the consents of their structure,
  and download their receipts. Staff with any role read; writing needs administrator or editor.
* **The person** — a session or a token acting for them (with `consent:manage` when a token) lists
  their own consents (GET /consents/mine), reads, withdraws and downloads the receipt of each
  (`SubjectOrControllerPermission`: a machine client's rules do not apply, so a person's reader
  app may withdraw their consent). Another person's consent is a 404, as is another structure's.
* **Anyone** checks a receipt (POST /consents/verify, `PublicPermission`).
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Q, QuerySet
from django.http import HttpResponse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions, permissions, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from dataspace.api.auth import bearer_token, machine_client, person, token_client
from dataspace.api.mixins import IdempotentCreateMixin, JSONErrorsMixin
from dataspace.api.permissions import (
    WRITE_ROLES,
    InsufficientScope,
    declared_scopes,
    ensure_may_write_owner,
    staff_roles,
)
from dataspace.consent import receipts, services
from dataspace.consent import vocabulary as vocab
from dataspace.consent.api import serializers as s
from dataspace.consent.models import ConsentRecord, Notice
from dataspace.referentials.models import Organisation

SCOPE = "consent:manage"
SCOPES = {"read": SCOPE, "write": SCOPE}

_ERRORS = {
    401: OpenApiResponse(description="No session and no access token."),
    403: OpenApiResponse(
        description="`insufficient_scope` (consent:manage), `reader_client`, or the caller may not write "
        "for this controller (`fields.owner`)."
    ),
}


# ---------------------------------------------------------------------------- who acts for whom


def _client_organisations(client: Any, *, write: bool) -> set[Any]:
    """Organisations a machine client manages consents for: its owner, and structures that gave it a mandate."""
    from dataspace.oauth.mandates import may_write_for
    from dataspace.oauth.models import Mandate

    now = timezone.now()
    candidates = {client.owner_id} if client.owner_id else set()
    mandates = Mandate.objects.filter(client=client, revoked_at__isnull=True).filter(
        Q(expires_at__isnull=True) | Q(expires_at__gt=now)
    )
    candidates |= {
        structure for structure, scopes in mandates.values_list("structure_id", "scopes") if SCOPE in (scopes or [])
    }
    if not write:
        return candidates
    return {org.pk for org in Organisation.objects.filter(pk__in=candidates) if may_write_for(client, org, SCOPE)}


def managed_controllers(request: Request, *, write: bool) -> set[Any] | None:
    """Controllers whose consents the caller manages (None: all of them, a superuser)."""
    token = bearer_token(request)
    if token is not None and SCOPE not in token.scopes:
        return set()
    client = machine_client(request)
    if client is not None:
        return _client_organisations(client, write=write)
    user = person(request)
    if user is None:
        return set()
    if user.is_superuser:
        return None
    roles = staff_roles(user)
    return {org for org, role in roles.items() if not write or role in WRITE_ROLES}


def _manages(request: Request, consent: ConsentRecord, *, write: bool) -> bool:
    controllers = managed_controllers(request, write=write)
    if controllers is None:
        return True
    if consent.controller_id not in controllers:
        return False
    if write:
        client = token_client(request)
        if client is not None and client.kind != "depositor" and machine_client(request) is not None:
            return False
    return True


def _subject_condition(user: Any) -> Q:
    """The consents of a person: theirs as subject, or covering one of their directory entries."""
    from dataspace.directory.models import DirectoryEntry

    entries = DirectoryEntry.objects.filter(person_user=user).values("pk")
    return Q(subject_user=user) | Q(target_type="directory-entry", target_id__in=entries)


def _is_subject(request: Request, consent: ConsentRecord) -> bool:
    user = person(request)
    if user is None:
        return False
    return ConsentRecord.objects.filter(_subject_condition(user), pk=consent.pk).exists()


def _visible(request: Request) -> QuerySet[ConsentRecord]:
    return ConsentRecord.objects.select_related("controller", "notice").prefetch_related("events")


def _get_consent(request: Request, pk: Any, *, write: bool, subject_may: bool = True) -> ConsentRecord:
    """The consent if the caller is its subject or manages its controller; 404 otherwise (no disclosure)."""
    consent = _visible(request).filter(pk=pk).first()
    if consent is None:
        raise exceptions.NotFound("No such consent.")
    if (subject_may and _is_subject(request, consent)) or _manages(request, consent, write=write):
        return consent
    raise exceptions.NotFound("No such consent.")


def _by(request: Request) -> tuple[Any, str]:
    user = person(request)
    client = token_client(request)
    return user, (client.client_id if client is not None else "")


# ---------------------------------------------------------------------------- permissions


class SubjectOrControllerPermission(permissions.BasePermission):
    """A person (session, or token acting for them with `consent:manage`), or a machine client with it.

    Which consent the caller may touch is decided per object by the view (subject, or controller
    staff/client); a machine client writes only as a depositor.
    """

    def has_permission(self, request: Request, view: Any) -> bool:
        declared_scopes(view)  # 403 unless the view declares them
        token = bearer_token(request)
        if token is not None and SCOPE not in token.scopes:
            raise InsufficientScope(SCOPE)
        if token is None and (not request.user or not request.user.is_authenticated):
            raise exceptions.NotAuthenticated(
                f"This endpoint needs a session or an access token with the scope '{SCOPE}'."
            )
        client = machine_client(request)
        if client is not None and request.method not in permissions.SAFE_METHODS and client.kind != "depositor":
            raise exceptions.PermissionDenied(
                "This client is registered as a reader: it never writes, whatever its token says.",
                code="reader_client",
            )
        return True


class PersonOnlyPermission(SubjectOrControllerPermission):
    """As above, and never a machine client (GET /consents/mine answers for a person)."""

    def has_permission(self, request: Request, view: Any) -> bool:
        super().has_permission(request, view)
        if person(request) is None:
            raise exceptions.PermissionDenied(
                "This endpoint answers for a person: use a session or a token acting for a person.",
                code="person_required",
            )
        return True


class PublicPermission(permissions.BasePermission):
    """Anyone: checking a receipt reads nothing but what the receipt itself holds, and its status."""

    def has_permission(self, request: Request, view: Any) -> bool:
        return True


# ---------------------------------------------------------------------------- views


class _ConsentCreate(APIView):
    """The creation itself (below `IdempotentCreateMixin`, which replays it on a retried key)."""

    def create(self, request: Request) -> Response:
        body = s.GrantSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        controller = Organisation.objects.filter(pk=data["controller"]).first()
        if controller is None:
            raise exceptions.ValidationError({"controller": ["Unknown organisation."]})
        ensure_may_write_owner(request, controller, SCOPE)
        kind = vocab.TARGET_TYPES.get(data["target_type"], "")
        if data.get("notice"):
            notice = Notice.objects.filter(pk=data["notice"]).first()
            if notice is None:
                raise exceptions.ValidationError({"notice": ["Unknown notice."]})
        else:
            notice = services.current_notice(controller, kind) if kind else None
        by, client_id = _by(request)
        consent = services.grant_consent(
            controller=controller,
            target_type=data["target_type"],
            target_id=data["target_id"],
            purposes=data["purposes"],
            data_categories=data["data_categories"],
            fields=data["fields"],
            recipients=data["recipients"],
            notice=notice,
            method=data["method"],
            subject_email=data["subject_email"],
            expires_at=data["expires_at"],
            oauth_client=machine_client(request),
            by=by,
            client_id=client_id,
        )
        consent = _visible(request).get(pk=consent.pk)
        return Response(s.ConsentSerializer(consent).data, status=status.HTTP_201_CREATED)


class ConsentListView(JSONErrorsMixin, IdempotentCreateMixin, _ConsentCreate):
    """GET: the consents of the structures the caller manages. POST: record a consent (`Idempotency-Key`)."""

    required_scopes = SCOPES

    @extend_schema(summary="Consents of my structures", responses={200: s.ConsentSerializer(many=True), **_ERRORS})
    def get(self, request: Request) -> Response:
        queryset = _visible(request)
        controllers = managed_controllers(request, write=False)
        if controllers is not None:
            queryset = queryset.filter(controller_id__in=controllers)
        for name in ("target_type", "status", "target_id", "controller"):
            value = request.query_params.get(name)
            if value:
                key = {"controller": "controller_id"}.get(name, name)
                try:
                    queryset = queryset.filter(**{key: value})
                except (ValueError, DjangoValidationError) as exc:
                    raise exceptions.ValidationError({name: ["Invalid value."]}) from exc
        page = list(queryset.order_by("-given_at")[:500])
        return Response({"results": [s.ConsentSerializer(consent).data for consent in page]})

    @extend_schema(
        summary="Record a consent",
        request=s.GrantSerializer,
        responses={
            201: s.ConsentSerializer,
            400: OpenApiResponse(description="`fields` names the member (purposes, data_categories, notice…)."),
            **_ERRORS,
        },
    )
    def post(self, request: Request) -> Response:
        return self.create(request)


class MyConsentsView(JSONErrorsMixin, APIView):
    """The calling person's own consents."""

    required_scopes = SCOPES
    permission_classes = [PersonOnlyPermission]

    @extend_schema(summary="My consents", responses={200: s.ConsentSerializer(many=True), **_ERRORS})
    def get(self, request: Request) -> Response:
        user = person(request)
        queryset = _visible(request).filter(_subject_condition(user)).order_by("-given_at")
        return Response({"results": [s.ConsentSerializer(consent).data for consent in queryset]})


class ConsentDetailView(JSONErrorsMixin, APIView):
    required_scopes = SCOPES
    permission_classes = [SubjectOrControllerPermission]

    @extend_schema(summary="One consent", responses={200: s.ConsentSerializer, 404: OpenApiResponse(), **_ERRORS})
    def get(self, request: Request, pk: Any) -> Response:
        return Response(s.ConsentSerializer(_get_consent(request, pk, write=False)).data)


class ConsentWithdrawView(JSONErrorsMixin, APIView):
    """The subject, or the controller's staff and clients, withdraw a consent (effects at once)."""

    required_scopes = SCOPES
    permission_classes = [SubjectOrControllerPermission]

    @extend_schema(
        summary="Withdraw a consent",
        request=s.WithdrawSerializer,
        responses={
            200: s.ConsentSerializer,
            400: OpenApiResponse(description="`fields.status`: not in force."),
            404: OpenApiResponse(),
            **_ERRORS,
        },
    )
    def post(self, request: Request, pk: Any) -> Response:
        consent = _get_consent(request, pk, write=True)
        body = s.WithdrawSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        by, client_id = _by(request)
        services.withdraw_consent(consent, by=by, client_id=client_id, note=body.validated_data["note"])
        return Response(s.ConsentSerializer(_visible(request).get(pk=consent.pk)).data)


class ConsentRenewView(JSONErrorsMixin, APIView):
    """The controller renews a consent in force (new expiry)."""

    required_scopes = SCOPES

    @extend_schema(
        summary="Renew a consent",
        request=s.RenewSerializer,
        responses={
            200: s.ConsentSerializer,
            400: OpenApiResponse(description="`fields.status` (not in force) or `fields.expires_at`."),
            404: OpenApiResponse(),
            **_ERRORS,
        },
    )
    def post(self, request: Request, pk: Any) -> Response:
        consent = _get_consent(request, pk, write=True, subject_may=False)
        body = s.RenewSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        by, client_id = _by(request)
        services.renew_consent(consent, expires_at=body.validated_data["expires_at"], by=by, client_id=client_id)
        return Response(s.ConsentSerializer(_visible(request).get(pk=consent.pk)).data)


class ConsentReceiptView(JSONErrorsMixin, APIView):
    """The consent's signed receipt: `application/jose` (a JWS compact), or `?format=json` wrapping it."""

    required_scopes = SCOPES
    permission_classes = [SubjectOrControllerPermission]

    @extend_schema(
        summary="Download a consent's signed receipt",
        responses={
            (200, receipts.MEDIA_TYPE): OpenApiTypes.STR,
            (200, "application/json"): OpenApiTypes.OBJECT,
            404: OpenApiResponse(),
            **_ERRORS,
        },
    )
    def get(self, request: Request, pk: Any) -> Any:
        consent = _get_consent(request, pk, write=False)
        signed = receipts.receipt_for(consent)
        if request.query_params.get("format") == "json":
            return Response({"consent": str(consent.pk), "media_type": receipts.MEDIA_TYPE, "receipt": signed})
        response = HttpResponse(signed, content_type=receipts.MEDIA_TYPE)
        response["Content-Disposition"] = f'attachment; filename="recu-consentement-{consent.pk}.jws"'
        return response


class VerifyReceiptView(APIView):
    """Anyone holding a receipt checks that this node signed it, and what the consent's status is now."""

    required_scopes = {"read": "referentials:read", "write": "referentials:read"}
    authentication_classes: list[Any] = []
    permission_classes = [PublicPermission]

    @extend_schema(
        summary="Verify a consent receipt",
        request=s.VerifySerializer,
        responses={
            200: OpenApiResponse(description='`{"valid": true, "payload": {...}, "current_status": "given"}`'),
            400: OpenApiResponse(description='`{"valid": false, "reason": "..."}`: forged, altered, unknown key.'),
        },
        auth=[],
    )
    def post(self, request: Request) -> Response:
        body = s.VerifySerializer(data=request.data)
        if not body.is_valid():
            reason = "a receipt (JWS compact) is expected in the member 'receipt'"
            return _invalid(reason)
        try:
            checked = receipts.verify_receipt(body.validated_data["receipt"])
        except receipts.ReceiptError as error:
            return _invalid(error.reason)
        return Response({"valid": True, **checked})


def _invalid(reason: str) -> Response:
    return Response(
        {
            "valid": False,
            "reason": reason,
            "error": "invalid_receipt",
            "detail": reason,
            "fields": {"receipt": [reason]},
        },
        status=status.HTTP_400_BAD_REQUEST,
    )
