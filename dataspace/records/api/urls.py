"""/api/v1/changes."""

from django.urls import path

from dataspace.records.api.views import ChangeFeedView

urlpatterns = [
    path("changes", ChangeFeedView.as_view(), name="changes"),
]
