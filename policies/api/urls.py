"""/api/v1/ routes of this app.

Fixed paths under ``policies/`` (templates, profile, explain…) come before the router: its detail
route would otherwise take them for a policy id.
"""

from django.urls import URLPattern, URLResolver, path
from rest_framework import routers

from policies.api import views

router = routers.SimpleRouter()
router.register("policies", views.PolicyViewSet, basename="policy")

urlpatterns: list[URLPattern | URLResolver] = [
    path("policies/templates", views.TemplateListView.as_view(), name="policy-templates"),
    path("policies/profile", views.ProfileView.as_view(), name="policy-profile"),
    *router.urls,
]
