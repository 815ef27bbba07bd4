"""A URL conf with stand-in API detail routes, so /id/ resolution is tested on its own."""

from django.http import HttpRequest, HttpResponse
from django.urls import include, path


def _detail(request: HttpRequest, pk: str) -> HttpResponse:
    return HttpResponse(pk)


TYPES = [
    "organisation",
    "venue",
    "hall",
    "technical-sheet",
    "person",
    "work",
    "production",
    "contribution",
    "season",
    "performance",
]

urlpatterns = [
    path("id/", include("dataspace.records.id_urls")),
    *[path(f"api/v1/{name}s/<str:pk>", _detail, name=f"{name}-detail") for name in TYPES],
]
