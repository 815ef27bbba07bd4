"""/api/v1/ routes of the journal: `journal-list` and `journal-verify`."""

from django.urls import URLPattern, URLResolver, path

from dataspace.audit.api.views import JournalVerifyView, JournalView

urlpatterns: list[URLPattern | URLResolver] = [
    path("journal/", JournalView.as_view(), name="journal-list"),
    path("journal/verify", JournalVerifyView.as_view(), name="journal-verify"),
]
