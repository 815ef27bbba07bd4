"""GET /api/v1/indicators/campaigns/<uuid>: a campaign's progress and published results (ministry).

What the dashboard's script polls while a campaign runs: ``{"id", "title", "state", "progress",
"results"}`` (`campaigns.progress`; `results` is `Campaign.results`, null before the first
publication). A session only (the dashboard's): a superuser, or a person holding the permission
``indicators.view_campaign``; anyone else, anonymous included, 403. Bearer tokens are not read here,
so the ministry's machine tokens get nothing either. A node without the `ministry` role answers 404
`not_a_ministry_node` to everyone; an unknown id 404.
"""

from __future__ import annotations

from typing import Any, ClassVar

from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions, permissions
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from dataspace.api.auth import SessionAuthentication
from dataspace.api.mixins import JSONErrorsMixin
from dataspace.indicators import campaigns, catalogue
from dataspace.indicators.api.catalogue import NotAMinistryNode
from dataspace.indicators.models import Campaign

#: The Django permission that lets a person read campaigns.
VIEW_PERMISSION = "indicators.view_campaign"


class MayViewCampaigns(permissions.BasePermission):
    """A logged-in superuser, or a person with `indicators.view_campaign`."""

    message = _("Réservé aux personnes habilitées à consulter les campagnes d'indicateurs.")

    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        if user is None or not user.is_authenticated or not user.is_active:
            return False
        return bool(user.is_superuser or user.has_perm(VIEW_PERMISSION))


class CampaignDetailView(JSONErrorsMixin, APIView):
    """A campaign's progress and published results."""

    # Declared for the API's scope inventory; only a session is read (see the module docstring).
    required_scopes: ClassVar[dict[str, str]] = {"read": "indicators:aggregate"}
    authentication_classes = [SessionAuthentication]
    permission_classes = [MayViewCampaigns]
    renderer_classes = [JSONRenderer]

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        if not catalogue.is_ministry_node():
            raise NotAMinistryNode()
        super().initial(request, *args, **kwargs)

    @extend_schema(
        summary="A campaign's progress and published results (ministry node, dashboard session)",
        responses={
            200: OpenApiTypes.OBJECT,
            403: OpenApiResponse(description="Not a superuser nor a holder of indicators.view_campaign."),
            404: OpenApiResponse(description="Unknown campaign, or `not_a_ministry_node`."),
        },
    )
    def get(self, request: Request, pk: Any) -> Response:
        campaign = Campaign.objects.filter(pk=pk).first()
        if campaign is None:
            raise exceptions.NotFound(_("Campagne inconnue."))
        return Response(
            {
                "id": str(campaign.pk),
                "title": campaign.title,
                "state": campaign.state,
                "progress": campaigns.progress(campaign),
                "results": campaign.results,
            }
        )
