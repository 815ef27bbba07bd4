"""/api/v1/ routes of this app."""

from django.urls import URLPattern, URLResolver, path
from rest_framework.routers import SimpleRouter

from dataspace.directory.api import views
from dataspace.directory.api.entry_views import DirectoryEntryViewSet

router = SimpleRouter()
# basename = the record type, so that a global URI /id/directory-entry/<uuid> resolves to the detail.
router.register("directory/entries", DirectoryEntryViewSet, basename="directory-entry")

urlpatterns: list[URLPattern | URLResolver] = [
    path("terms", views.TermsView.as_view(), name="directory-terms"),
    path("terms/accept", views.TermsAcceptView.as_view(), name="directory-terms-accept"),
    path("professionals/me", views.ProfessionalMeView.as_view(), name="directory-professional-me"),
    *router.urls,
]
