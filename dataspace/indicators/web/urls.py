"""The ministry's indicator dashboard: /indicateurs/ (namespace `indicators`)."""

from django.urls import URLPattern, URLResolver, path

from dataspace.indicators.web import views

app_name = "indicators"

urlpatterns: list[URLPattern | URLResolver] = [
    path("indicateurs/", views.campaign_list, name="campaigns"),
    path("indicateurs/campagnes/nouvelle/", views.campaign_new, name="campaign-new"),
    path("indicateurs/campagnes/<uuid:pk>/", views.campaign_detail, name="campaign"),
    path("indicateurs/campagnes/<uuid:pk>/lancer/", views.campaign_launch, name="campaign-launch"),
    path("indicateurs/campagnes/<uuid:pk>/export.csv", views.campaign_export_csv, name="campaign-export-csv"),
    path("indicateurs/campagnes/<uuid:pk>/export.xlsx", views.campaign_export_xlsx, name="campaign-export-xlsx"),
]
