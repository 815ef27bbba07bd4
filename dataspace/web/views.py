"""Human pages. Views only gather what the templates show; French is the default language."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext

from dataspace.node import services
from dataspace.referentials.models import Performance

#: How many upcoming performances the home page lists.
UPCOMING_LIMIT = 10

#: Each role in plain words, for people who do not know the data space yet.
ROLE_DESCRIPTIONS: dict[str, tuple[Any, Any]] = {
    "structure": (
        _("Structure"),
        _(
            "Un théâtre, un opéra, un festival ou une compagnie : il saisit sa programmation une seule fois, "
            "la publie et décide qui peut l'utiliser, pour quoi faire."
        ),
    ),
    "registry": (
        _("Registre"),
        _(
            "L'opérateur neutre de l'espace de données : la liste signée des nœuds membres, les licences "
            "d'entrepreneur de spectacles, l'annuaire professionnel et l'index des référentiels partagés."
        ),
    ),
    "ministry": (
        _("Ministère"),
        _(
            "Le ministère de la Culture : il définit les indicateurs et lance des campagnes d'agrégation. "
            "Il ne reçoit que des agrégats, jamais de données personnelles."
        ),
    ),
}


def upcoming_performances(limit: int = UPCOMING_LIMIT) -> QuerySet[Performance]:
    """This node's next public performances (options never leave the structure): those anyone may
    read under the usage policies, with a production and a place anyone may read (`ics`)."""
    from dataspace.referentials.ics import anonymously_readable

    upcoming = Performance.objects.filter(origin=settings.NODE_BASE_URL, start__gte=timezone.now()).exclude(
        status=Performance.Status.OPTION
    )
    return anonymously_readable(upcoming).select_related("production", "hall__venue").order_by("start")[:limit]


def home(request: HttpRequest) -> HttpResponse:
    identity = services.current_identity()
    roles = list(settings.NODE_ROLES)
    is_structure = "structure" in roles
    context = {
        "metadata": services.node_metadata(),
        "organisation": identity.organisation if identity else None,
        "roles": [(role, *ROLE_DESCRIPTIONS[role]) for role in roles if role in ROLE_DESCRIPTIONS],
        "is_structure": is_structure,
        "performances": list(upcoming_performances()) if is_structure else [],
        # Translators: a Django date format (https://docs.djangoproject.com/en/5.2/ref/templates/builtins/#date).
        "start_format": pgettext("date format of an upcoming performance", "l j F Y à H\\hi"),
    }
    return render(request, "web/home.html", context)
