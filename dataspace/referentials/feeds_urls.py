"""/feeds/: public machine-readable feeds of the programme."""

from django.urls import path

from dataspace.referentials.ics import performances_ics

urlpatterns = [
    path("performances.ics", performances_ics, name="performances-ics"),
]
