"""/api/v1/ routes of this app: /contacts/ (a trailing slash is optional)."""

from django.urls import URLPattern, URLResolver
from rest_framework import routers

from dataspace.contacts.api import views

router = routers.SimpleRouter()
router.trailing_slash = "/?"
router.register("contacts", views.ContactViewSet, basename="contact")

urlpatterns: list[URLPattern | URLResolver] = [*router.urls]
