"""/id/<type>/<uuid>: global record URIs (DESIGN.md §3)."""

from django.urls import path

from dataspace.records.views import ResolveRecordView

urlpatterns = [
    path("<str:record_type>/<str:record_id>", ResolveRecordView.as_view(), name="record-uri"),
]
