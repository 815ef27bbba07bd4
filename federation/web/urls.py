"""Human pages of the federation: /recherche/ (name `federation:search`)."""

from django.urls import URLPattern, URLResolver, path

from federation.web import views

app_name = "federation"

urlpatterns: list[URLPattern | URLResolver] = [
    path("recherche/", views.search_page, name="search"),
]
