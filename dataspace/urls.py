"""URL map of a node (DESIGN.md §4). Each app owns its own url module."""

from django.contrib import admin
from django.urls import include, path
from django.views.i18n import set_language
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

urlpatterns = [
    path("", include("dataspace.node.urls")),
    path("", include("dataspace.web.urls")),
    path("", include("dataspace.oauth.urls")),
    path("", include("dataspace.audit.urls")),
    path("", include("dataspace.directory.urls")),
    path("", include("dataspace.consent.urls")),
    path("", include("policies.urls")),
    path("", include("federation.web.urls")),
    path("", include("dataspace.indicators.web.urls")),
    path("api/v1/", include("dataspace.api.urls")),
    path("feeds/", include("dataspace.referentials.feeds_urls")),
    path("id/", include("dataspace.records.id_urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("i18n/setlang/", set_language, name="set_language"),
    path("admin/", admin.site.urls),
]

handler404 = "dataspace.api.errors.handler404"
handler500 = "dataspace.api.errors.handler500"
