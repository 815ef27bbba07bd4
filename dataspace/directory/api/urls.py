"""/api/v1/ routes of this app."""

from django.urls import URLPattern, URLResolver, path

from dataspace.directory.api import views

urlpatterns: list[URLPattern | URLResolver] = [
    path("terms", views.TermsView.as_view(), name="directory-terms"),
    path("terms/accept", views.TermsAcceptView.as_view(), name="directory-terms-accept"),
    path("professionals/me", views.ProfessionalMeView.as_view(), name="directory-professional-me"),
]
