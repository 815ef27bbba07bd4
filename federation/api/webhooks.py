"""Stub (issue 6 in progress): replaced by the module's owner."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver

urlpatterns: list[URLPattern | URLResolver] = []
