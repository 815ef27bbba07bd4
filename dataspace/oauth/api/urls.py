"""/api/v1/clients/ routes (names `oauth-client-list`, `oauth-client-detail`, `oauth-client-rotate`,
`oauth-client-disable`; the actions have no trailing slash: `/api/v1/clients/{client_id}/rotate`)."""

from __future__ import annotations

from django.urls import path

from dataspace.oauth.api.views import ClientViewSet

ID = "<str:client_id>"

urlpatterns = [
    path("clients/", ClientViewSet.as_view({"get": "list", "post": "create"}), name="oauth-client-list"),
    path(
        f"clients/{ID}/",
        ClientViewSet.as_view({"get": "retrieve", "patch": "partial_update", "delete": "destroy"}),
        name="oauth-client-detail",
    ),
    path(f"clients/{ID}/rotate", ClientViewSet.as_view({"post": "rotate"}), name="oauth-client-rotate"),
    path(f"clients/{ID}/disable", ClientViewSet.as_view({"post": "disable"}), name="oauth-client-disable"),
]
