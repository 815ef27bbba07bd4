"""/api/v1/terms, /api/v1/terms/accept and /api/v1/professionals/me (docs/licences.md). Thin views."""

from __future__ import annotations

from typing import Any

from django.utils import timezone
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from dataspace.api.auth import person
from dataspace.directory import services
from dataspace.directory.api import serializers as s
from dataspace.directory.api.permissions import PersonPermission
from dataspace.directory.profiles import ProfessionalProfile

_PERSON_ERRORS = {
    401: OpenApiResponse(description="No session and no access token."),
    403: OpenApiResponse(
        description="The token lacks the scope (`insufficient_scope`) or belongs to a machine client "
        "(`person_required`: this endpoint answers for a person)."
    ),
}


class TermsView(APIView):
    """The registry's current terms of use (public)."""

    required_scopes = {"read": "referentials:read"}
    public_read = True

    @extend_schema(
        summary="Current terms of use of the registry",
        responses={200: s.TermsSerializer, 404: OpenApiResponse(description="No version is published yet.")},
    )
    def get(self, request: Request) -> Response:
        terms = services.current_terms()
        if terms is None:
            raise exceptions.NotFound("No version of the terms of use is published on this node.")
        return Response(s.TermsSerializer(terms).data)


class TermsAcceptView(APIView):
    """A person accepts the current version of the terms of use."""

    required_scopes = {"read": "directory:search", "write": "directory:search"}
    permission_classes = [PersonPermission]

    @extend_schema(
        summary="Accept the current terms of use",
        request=s.AcceptTermsSerializer,
        responses={
            200: s.AcceptanceSerializer,
            400: OpenApiResponse(description="`fields.version`: not the current version (or none is published)."),
            **_PERSON_ERRORS,
        },
    )
    def post(self, request: Request) -> Response:
        body = s.AcceptTermsSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            acceptance = services.accept_terms(person(request), body.validated_data["version"])
        except ValueError as exc:
            raise exceptions.ValidationError({"version": [str(exc)]}) from None
        return Response({"version": acceptance.terms.version, "accepted_at": acceptance.accepted_at})


class ProfessionalMeView(APIView):
    """The calling person's professional account: organisation, licences, licensed today, terms."""

    required_scopes = {"read": "directory:search"}
    permission_classes = [PersonPermission]

    @extend_schema(
        summary="My professional account",
        responses={
            200: s.ProfessionalMeSerializer,
            404: OpenApiResponse(description="`not_professional`: this person has no professional account."),
            **_PERSON_ERRORS,
        },
    )
    def get(self, request: Request) -> Response:
        user = person(request)
        profile = services.professional_profile(user)
        if profile is None:
            raise exceptions.NotFound("This person has no professional account on this node.", code="not_professional")
        return Response(professional_document(user, profile))


def professional_document(user: Any, profile: ProfessionalProfile) -> dict[str, Any]:
    """What /professionals/me answers for `user` (its licence state today, in the node's time zone)."""
    today = timezone.localdate()
    licensed, reason, detail = services.licence_standing(profile, today)
    current = services.current_terms_version()
    return {
        "username": user.get_username(),
        "account_id": profile.account_id,
        "verified": profile.verified,
        "organisation": {"id": profile.organisation_id, "name": profile.organisation_name},
        "licences": [
            {
                "number": licence.number,
                "category": licence.category,
                "status": licence.status,
                "deposited_on": licence.deposited_on,
                "valid_until": licence.valid_until,
                "in_force": licence.in_force(today),
            }
            for licence in profile.licences
        ],
        "licensed_today": licensed,
        "licence_status": services.licence_status_label(profile, today),
        "standing": {"reason": reason, "detail": detail},
        "terms": {
            "current": current,
            "accepted": profile.terms_accepted,
            "up_to_date": bool(current) and profile.terms_accepted == current,
        },
    }
