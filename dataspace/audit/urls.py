"""Human pages of this app: /journal/ (name `audit:journal`)."""

from django.urls import URLPattern, URLResolver, path

from dataspace.audit import views

app_name = "audit"

urlpatterns: list[URLPattern | URLResolver] = [
    path("journal/", views.journal_page, name="journal"),
]
