"""/api/v1/ routes of this app: /ticketing/figures/, /ticketing/figures/import, /ticketing/declarations/
(a trailing slash is optional), /indicators/catalogue (ministry node, public),
/indicators/aggregates (structure node: a ministry campaign's signed request), /indicators/campaigns/<id>
(ministry node: progress and results)."""

from django.urls import URLPattern, URLResolver, path
from rest_framework import routers

from dataspace.indicators.api import aggregates, campaigns, catalogue, views

router = routers.SimpleRouter()
router.trailing_slash = "/?"
router.register("ticketing/figures", views.FiguresViewSet, basename="ticketing-figures")
router.register("ticketing/declarations", views.DeclarationViewSet, basename="ticketing-declarations")

urlpatterns: list[URLPattern | URLResolver] = [
    path(
        "ticketing/figures/import",
        views.FiguresImportViewSet.as_view({"post": "create"}),
        name="ticketing-figures-import",
    ),
    path("indicators/catalogue", catalogue.IndicatorCatalogueView.as_view(), name="indicators-catalogue"),
    path("indicators/aggregates", aggregates.AggregatesView.as_view(), name="indicators-aggregates"),
    path("indicators/campaigns/<uuid:pk>", campaigns.CampaignDetailView.as_view(), name="indicators-campaign"),
    *router.urls,
]
