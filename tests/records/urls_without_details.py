"""A URL conf where the API serves no detail route yet."""

from django.urls import include, path

urlpatterns = [path("id/", include("dataspace.records.id_urls"))]
