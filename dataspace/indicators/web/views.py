"""The ministry's indicator dashboard (stub — built by the dashboard work)."""

from __future__ import annotations

from typing import Any

from django.http import Http404, HttpRequest, HttpResponse


def _stub(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:  # pragma: no cover - stub
    raise Http404


campaign_list = campaign_new = campaign_detail = campaign_launch = _stub
campaign_export_csv = campaign_export_xlsx = _stub
