"""/api/v1/ routes of this app: /ticketing/figures/, /ticketing/figures/import, /ticketing/declarations/
(a trailing slash is optional), /indicators/catalogue (ministry node, public)."""

from django.urls import URLPattern, URLResolver, path
from rest_framework import routers

from dataspace.indicators.api import catalogue, views

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
    *router.urls,
]
