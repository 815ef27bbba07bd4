"""OAuth 2 endpoints and the person-facing login and consent pages. Thin: `server` does the work."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from authlib.oauth2.rfc6749 import OAuth2Error
from django.contrib.auth.views import LoginView, redirect_to_login
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from dataspace.oauth import server
from dataspace.oauth.scopes import SCOPES


@csrf_exempt  # called by software authenticating as a client, never with a browser session
@require_POST
def token(request: HttpRequest) -> HttpResponse:
    return server.token_response(request)


@csrf_exempt
@require_POST
def introspect(request: HttpRequest) -> HttpResponse:
    return server.introspection_response(request)


@csrf_exempt
@require_POST
def revoke(request: HttpRequest) -> HttpResponse:
    return server.revocation_response(request)


@require_GET
def metadata(request: HttpRequest) -> JsonResponse:
    response = JsonResponse(server.metadata())
    response["Cache-Control"] = "public, max-age=300"
    response["Access-Control-Allow-Origin"] = "*"
    return response


@never_cache
@require_http_methods(["GET", "POST"])
def authorize(request: HttpRequest) -> HttpResponse:
    """Authorization endpoint: login, then a consent screen; the POST carries the person's decision."""
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path(), login_url=reverse("oauth:login"))
    try:
        consent = server.consent_request(request)
    except OAuth2Error as error:
        redirect = server.error_redirect(request, error)
        if redirect is not None:
            return redirect
        return render(
            request,
            "oauth/error.html",
            {"error": error.error, "description": error.description or ""},
            status=error.status_code or 400,
        )
    if request.method == "POST":
        return server.authorization_response(request, consent, allowed=request.POST.get("decision") == "allow")
    context: dict[str, Any] = {
        "client": consent.client,
        "owner": consent.client.owner,
        "scopes": [SCOPES[name] for name in consent.scopes if name in SCOPES],
        "redirect_uri": consent.redirect_uri,
        "action": request.get_full_path(),
    }
    return render(request, "oauth/consent.html", context)


class OAuthLoginView(LoginView):
    """The login page of a person (not the admin's: a person need not be staff).

    It comes before an OAuth consent, and before the other person-facing pages (the registry's
    terms of use): it says an application asks for access only when the login continues an OAuth
    authorization (`next` is the authorization endpoint).
    """

    template_name = "oauth/login.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["continues_authorization"] = continues_authorization(self.get_redirect_url())
        return context


def continues_authorization(next_url: str) -> bool:
    """Does the login go on to the OAuth authorization endpoint (an application asking for access)?"""
    return bool(next_url) and urlsplit(next_url).path == reverse("oauth:authorize")
