"""/api/v1/ routes of this app.

Fixed paths under ``policies/`` (templates, profile, explain…) come before the router: its detail
route would otherwise take them for a policy id.
"""

from django.urls import URLPattern, URLResolver, path
from rest_framework import routers

from policies.api import controls, explain, views

router = routers.SimpleRouter()
router.register("policies", views.PolicyViewSet, basename="policy")

urlpatterns: list[URLPattern | URLResolver] = [
    path("policies/templates", views.TemplateListView.as_view(), name="policy-templates"),
    path("policies/profile", views.ProfileView.as_view(), name="policy-profile"),
    path("policies/explain", explain.ExplainView.as_view(), name="policy-explain"),
    *router.urls,
]

# DMP controls (policies.api.controls): an owner's blocks and hidden records, break-glass accesses.
urlpatterns += [
    path("blocks/", controls.BlockViewSet.as_view({"get": "list", "post": "create"}), name="policy-block-list"),
    path(
        "blocks/<int:pk>/",
        controls.BlockViewSet.as_view({"get": "retrieve", "delete": "destroy"}),
        name="policy-block-detail",
    ),
    path(
        "hidden-records/",
        controls.HiddenRecordViewSet.as_view({"get": "list", "post": "create"}),
        name="policy-hidden-record-list",
    ),
    path(
        "hidden-records/<int:pk>/",
        controls.HiddenRecordViewSet.as_view({"get": "retrieve", "patch": "partial_update", "delete": "destroy"}),
        name="policy-hidden-record-detail",
    ),
    path(
        "break-glass/",
        controls.BreakGlassViewSet.as_view({"get": "list", "post": "create"}),
        name="policy-break-glass-list",
    ),
    path(
        "break-glass/alerts/",
        controls.BreakGlassAlertViewSet.as_view({"get": "list"}),
        name="policy-break-glass-alerts",
    ),
]
