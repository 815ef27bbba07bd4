"""/api/v1/: the routers of every app that exposes an API."""

from django.urls import include, path

urlpatterns = [
    path("", include("dataspace.referentials.api.urls")),
    path("", include("dataspace.records.api.urls")),
    path("", include("dataspace.oauth.api.urls")),
    path("", include("policies.api.urls")),
    path("", include("dataspace.audit.api.urls")),
    path("", include("dataspace.directory.api.urls")),
    path("", include("dataspace.consent.api.urls")),
    path("", include("dataspace.contacts.api.urls")),
    path("", include("dataspace.indicators.api.urls")),
    path("", include("federation.api.urls")),
]
