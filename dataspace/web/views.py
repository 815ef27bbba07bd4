from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from dataspace.node import services


def home(request: HttpRequest) -> HttpResponse:
    return render(request, "web/home.html", {"metadata": services.node_metadata()})
