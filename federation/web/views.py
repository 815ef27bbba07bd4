"""The professionals' search page /recherche/ (issue 6 item 7; registry only, else 404).

A plain GET form (works without JavaScript): what to look for (persons of the directory,
productions, performances, venues, halls, programmers — one link each, so the filters shown are
those of that type), free text, the filters of the type (`federation.search.FILTERS`), the
purpose (mandatory) and where to look (the registry's index, or every node live). The page calls
`federation.search.search(...)` in-process — the same function, the same policies, the same
journal as the HTTP endpoints — and shows the results with their owner and policy attribution
(« Source : … — Politique : … »), the status of every node in words, and a link to the next page.

Login required (the professional's account, through the node's login page). A person the
decision point refuses (no licence in force, terms not accepted…) gets its reason, with a link to
the terms of use when that is the reason; invalid filters come back named, next to their field.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from rest_framework.exceptions import ValidationError

from dataspace.audit.labels import PURPOSE_LABELS
from federation import search as federated
from federation.web import results
from policies.enforcement import subject_for_request
from policies.language import PURPOSES

#: Results per page (the search's `page_size`); the next page is behind the answer's cursor.
PAGE_SIZE = 20

#: Parameters the page sets itself (never taken from a type's filter list).
COMMON_PARAMETERS = ("type", "q", "purpose", "mode", "cursor", "page_size")


@dataclass(frozen=True)
class SearchType:
    """One kind of thing a professional looks for: the endpoint and its `type` parameter."""

    code: str
    endpoint: str
    label: Promise
    lead: Promise

    @property
    def referential_type(self) -> str:
        """The `type` parameter of the referentials search ("" for the directory)."""
        return self.code if self.endpoint == "referentials" else ""


SEARCH_TYPES: tuple[SearchType, ...] = (
    SearchType(
        "person",
        "directory",
        _("Personnes"),
        _("Artistes et technicien·nes de l'annuaire professionnel, par métier, compétence, région et disponibilité."),
    ),
    SearchType(
        "production",
        "referentials",
        _("Spectacles"),
        _("Les spectacles et leurs tournées : chaque spectacle une seule fois, avec toutes ses représentations."),
    ),
    SearchType(
        "performance",
        "referentials",
        _("Représentations"),
        _("Les représentations programmées, par date, région et discipline."),
    ),
    SearchType(
        "venue",
        "referentials",
        _("Lieux"),
        _("Les lieux de spectacle, par région et type de lieu."),
    ),
    SearchType(
        "hall",
        "referentials",
        _("Salles"),
        _("Les salles et leurs critères techniques : jauge, ouverture au cadre, hauteur sous gril, plateau."),
    ),
    SearchType(
        "programmer",
        "referentials",
        _("Programmateurs"),
        _("Les personnes et les structures qui programment, par discipline et région."),
    ),
)
_TYPES = {search_type.code: search_type for search_type in SEARCH_TYPES}

MODES: tuple[tuple[str, Promise, Promise], ...] = (
    (
        "index",
        _("Dans l'index du registre"),
        _("rapide ; les données des nœuds y sont recopiées en continu."),
    ),
    (
        "live",
        _("Auprès de chaque nœud, en direct"),
        _("les données les plus fraîches ; un nœud lent ou arrêté est signalé sans bloquer la réponse."),
    ),
)


@dataclass(frozen=True)
class FieldView:
    """One filter of the form, ready for the template."""

    name: str
    label: str
    kind: str
    value: str
    choices: tuple[tuple[str, str], ...]
    errors: tuple[str, ...]
    hint: str = ""

    @property
    def input_type(self) -> str:
        return {"date": "date", "decimal": "number"}.get(self.kind, "text")

    @property
    def field_id(self) -> str:
        return f"filtre-{self.name}"

    @property
    def described_by(self) -> str:
        """The ids of the field's hint and error message (`aria-describedby`)."""
        ids = ([f"aide-{self.name}"] if self.hint else []) + ([f"erreur-{self.name}"] if self.errors else [])
        return " ".join(ids)


def _filters(search_type: SearchType) -> list[Any]:
    """The filter specs of one type (`federation.search.FILTERS`), without the common parameters."""
    specs = federated.FILTERS.get(search_type.code)
    if specs is None:
        specs = federated.FILTERS.get(search_type.endpoint, [])
    return [spec for spec in specs if spec.name not in COMMON_PARAMETERS]


def _choices(spec: Any) -> tuple[tuple[str, str], ...]:
    """(value, label) pairs of a choice filter; languages (ISO 639-1 codes) by their French name."""
    pairs: list[tuple[str, str]] = []
    for choice in getattr(spec, "choices", None) or ():
        value, label = (choice[0], choice[1]) if isinstance(choice, tuple | list) and len(choice) == 2 else (choice, "")
        if str(label) in ("", str(value)) and spec.name == "language":
            label = results.language_name(str(value))
        pairs.append((str(value), str(label or value)))
    if spec.name == "language":
        pairs.sort(key=lambda pair: pair[1].casefold())
    return tuple(pairs)


def _field_views(specs: list[Any], values: Mapping[str, str], errors: Mapping[str, list[str]]) -> list[FieldView]:
    return [
        FieldView(
            name=spec.name,
            label=str(spec.label),
            kind=str(spec.kind),
            value=values.get(spec.name, ""),
            choices=_choices(spec),
            errors=tuple(errors.get(spec.name, ())),
            hint=str(getattr(spec, "help", "") or ""),
        )
        for spec in specs
    ]


def _error_lists(detail: Any) -> dict[str, list[str]]:
    """A ValidationError's detail as {field: [French messages]} (`__all__` for the others)."""
    if isinstance(detail, Mapping):
        return {
            str(name): [str(message) for message in (messages if isinstance(messages, list) else [messages])]
            for name, messages in detail.items()
        }
    if isinstance(detail, list):
        return {"__all__": [str(message) for message in detail]}
    return {"__all__": [str(detail)]}


def _error_summary(errors: Mapping[str, list[str]], specs: list[Any]) -> list[tuple[str, str, str]]:
    """(anchor of the field or "", its label or the parameter's name, the messages) per error."""
    labels: dict[str, tuple[str, str]] = {
        "q": ("champ-q", str(_("Texte libre"))),
        "purpose": ("champ-purpose", str(_("Finalité"))),
        "mode": ("champ-mode-index", str(_("Où chercher"))),
        "cursor": ("", str(_("Page de résultats"))),
    }
    labels.update({spec.name: (f"filtre-{spec.name}", str(spec.label)) for spec in specs})
    summary: list[tuple[str, str, str]] = []
    for name, messages in errors.items():
        anchor, label = labels.get(name, ("", "" if name == "__all__" else name))
        summary.append((anchor, label, " ".join(messages)))
    return summary


def _query(params: Mapping[str, str], **extra: str) -> str:
    kept = {name: value for name, value in params.items() if value}
    kept.update({name: value for name, value in extra.items() if value})
    return "?" + urlencode(kept)


@dataclass
class _Outcome:
    """What one request of the page led to: an answer, named errors, or a refusal."""

    answer: federated.SearchAnswer | None = None
    errors: dict[str, list[str]] = field(default_factory=dict)
    refusal: federated.SearchRefused | None = None

    @property
    def status(self) -> int:
        return 403 if self.refusal is not None else 400 if self.errors else 200


def _run(request: HttpRequest, search_type: SearchType, values: Mapping[str, str], mode: str) -> _Outcome:
    """The decision point's gate, then (when the form was sent) the search itself."""
    subject = subject_for_request(request)
    try:
        federated.ensure_may_search(subject)  # the reason at once, before any form is filled in
    except federated.SearchRefused as exc:
        return _Outcome(refusal=exc)
    if "purpose" not in request.GET:
        return _Outcome()
    params = {name: value for name, value in values.items() if value and name != "mode"}
    if search_type.referential_type:
        params["type"] = search_type.referential_type
    params["page_size"] = str(PAGE_SIZE)
    if request.GET.get("cursor", "").strip():
        params["cursor"] = request.GET["cursor"].strip()
    try:
        return _Outcome(answer=federated.search(search_type.endpoint, params, subject, mode=mode))
    except ValidationError as exc:
        return _Outcome(errors=_error_lists(exc.detail))
    except federated.SearchRefused as exc:
        return _Outcome(refusal=exc)


def _answer_context(answer: federated.SearchAnswer | None, form_params: Mapping[str, str]) -> dict[str, Any]:
    if answer is None:
        return {"answer": None, "results": [], "nodes": [], "next_url": ""}
    return {
        "answer": answer,
        "count_text": results.count_text(answer.count),
        "results": results.present_results(answer.results, results.node_names(answer.nodes)),
        "nodes": results.present_nodes(answer.nodes, answer.mode),
        "next_url": _query(form_params, cursor=answer.next) if answer.next else "",
    }


@never_cache
@require_GET
def search_page(request: HttpRequest) -> HttpResponse:
    """The form, and when it was sent (a `purpose` is in the query), the answer; see the module."""
    if "registry" not in settings.NODE_ROLES:
        raise Http404
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path(), login_url=reverse("oauth:login"))
    search_type = _TYPES.get(request.GET.get("type", ""), SEARCH_TYPES[0])
    specs = _filters(search_type)
    values = {name: request.GET.get(name, "").strip() for name in ("q", "purpose", "mode", *(s.name for s in specs))}
    mode = values["mode"] if values["mode"] in ("index", "live") else "index"
    outcome = _run(request, search_type, values, mode)
    form_params = {"type": search_type.code, **values, "mode": mode}
    context = {
        "search_type": search_type,
        "search_types": [
            (item, _query({"type": item.code, "purpose": values["purpose"], "mode": mode})) for item in SEARCH_TYPES
        ],
        "values": values,
        "mode": mode,
        "modes": MODES,
        "purposes": [(code, str(PURPOSE_LABELS.get(code, code))) for code in PURPOSES],
        "fields": _field_views(specs, values, outcome.errors),
        "errors": outcome.errors,
        "error_summary": _error_summary(outcome.errors, specs),
        "refusal": outcome.refusal,
        "terms_url": reverse("directory:terms") + _query({}, next=request.get_full_path()),
        "first_url": _query(form_params) if request.GET.get("cursor") else "",
        "clear_url": _query({"type": search_type.code}),
        "timeout": settings.FEDERATION_SEARCH_TIMEOUT,
        **_answer_context(outcome.answer, form_params),
    }
    return render(request, "federation/search.html", context, status=outcome.status)
