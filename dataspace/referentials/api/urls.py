"""/api/v1/ routes of the referentials.

Contract for other apps: every record type is routed under its plural with basename
`record_type`, so `reverse(f"{record_type}-list")` and
`reverse(f"{record_type}-detail", kwargs={"pk": uuid})` work (names are not namespaced), e.g.
`performance-detail`, `technical-sheet-detail`, `technical-sheet-revisions`.
"""

from __future__ import annotations

from typing import ClassVar

from django.urls import path
from rest_framework import routers

from dataspace.referentials.api import views

ROUTES: list[tuple[str, type[views.ReferentialViewSet]]] = [
    ("organisations", views.OrganisationViewSet),
    ("venues", views.VenueViewSet),
    ("halls", views.HallViewSet),
    ("technical-sheets", views.TechnicalSheetViewSet),
    ("persons", views.PersonViewSet),
    ("works", views.WorkViewSet),
    ("productions", views.ProductionViewSet),
    ("contributions", views.ContributionViewSet),
    ("seasons", views.SeasonViewSet),
    ("performances", views.PerformanceViewSet),
]


class ScopedAPIRootView(routers.APIRootView):
    required_scopes: ClassVar[dict[str, str]] = {"read": "referentials:read"}
    public_read: ClassVar[bool] = True


class Router(routers.DefaultRouter):
    APIRootView = ScopedAPIRootView


router = Router()
for prefix, viewset in ROUTES:
    model = viewset.queryset.model  # type: ignore[union-attr]
    router.register(prefix, viewset, basename=model.record_type)

urlpatterns = [
    path("context.jsonld", views.JSONLDContextView.as_view(), name="jsonld-context"),
    *router.urls,
]
