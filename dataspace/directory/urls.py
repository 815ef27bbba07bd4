"""Human pages of this app."""

from django.urls import URLPattern, URLResolver, path

from dataspace.directory import views

app_name = "directory"

urlpatterns: list[URLPattern | URLResolver] = [
    path("conditions/", views.terms, name="terms"),
]
