"""Human pages of the licence registry: the terms of use a professional accepts (/conditions/)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse_lazy
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from dataspace.directory import services


@login_required(login_url=reverse_lazy("oauth:login"))
@require_http_methods(["GET", "POST"])
def terms(request: HttpRequest) -> HttpResponse:
    """The current terms of use, whether this person accepted them, and an « J'accepte » button."""
    current = services.current_terms()
    next_url = request.POST.get("next") or request.GET.get("next") or ""
    if not url_has_allowed_host_and_scheme(next_url, allowed_hosts={request.get_host()}, require_https=False):
        next_url = ""
    if request.method == "POST":
        try:
            services.accept_terms(request.user, request.POST.get("version", ""))
        except ValueError as exc:
            messages.error(request, str(exc))
            status = 400
        else:
            messages.success(request, _("Merci : vous avez accepté les conditions d'utilisation."))
            return redirect(next_url or "directory:terms")
    else:
        status = 200
    acceptance = current.acceptances.filter(user_id=request.user.pk or 0).first() if current is not None else None
    context = {"terms": current, "acceptance": acceptance, "next": next_url}
    return render(request, "directory/terms.html", context, status=status)
