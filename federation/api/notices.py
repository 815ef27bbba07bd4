"""Stub (issue 6 in progress): replaced by the module's owner."""

from __future__ import annotations

from rest_framework.views import APIView


class NoticesView(APIView):
    pass
