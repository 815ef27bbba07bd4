"""The ministry's indicator dashboard: /indicateurs/ (French; English through Django i18n).

Pages (ministry node only, else 404; anonymous visitors go to the login page; a 403 page for
anyone without the permission):

* `/indicateurs/` — the campaigns (title, period, indicators, state in words, « n nœuds sur N
  ont répondu », publication) and a link to a new one (read: `indicators.view_campaign`);
* `/indicateurs/campagnes/nouvelle/` — the form (title, indicators of the current catalogue,
  period, 0 to 2 dimensions) calling `campaigns.create_campaign`; its ValidationError comes back
  next to each field (`indicators.add_campaign`);
* `/indicateurs/campagnes/<id>/` — state, the nodes' progress while running (the page refreshes
  itself: a small script re-reads the page every 2 s and swaps the progress in place, reloading when
  the state changes; without JavaScript a meta refresh does it), then the published tables
  (`dataspace.indicators.exports.published_tables`): as-of, provenance, missing nodes, secrecy
  rules, per indicator a table (one figure, a list with its total and an SVG bar chart, or a cross
  table with its totals), hidden cells marked « s » / « (s) » with their reason and a legend;
* `…/lancer/` (POST) — `campaigns.launch` (draft) or `campaigns.rerun` (finished with nodes
  missing), then back to the campaign (`indicators.add_campaign`);
* `…/export.csv`, `…/export.xlsx` — the published tables as files (`exports.results_csv`,
  `exports.results_xlsx`), as attachments (`indicators.view_campaign`).

Views parse, authorize and delegate: campaigns are created and launched by
`dataspace.indicators.campaigns` only; the pages read `Campaign.results` only (never a partial).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from functools import wraps
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import ValidationError
from django.db.models import Count, Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import content_disposition_header
from django.utils.text import slugify
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from dataspace.indicators import campaigns, catalogue, exports
from dataspace.indicators.models import Campaign, CampaignNode, IndicatorDefinition

VIEW_PERMISSION = "indicators.view_campaign"
ADD_PERMISSION = "indicators.add_campaign"
#: Seconds between two refreshes of a running campaign's page.
REFRESH_SECONDS = 2
#: Form fields `campaigns.create_campaign` names in its ValidationError.
FORM_FIELDS = ("title", "indicators", "period_start", "period_end", "dimensions")

View = Callable[..., HttpResponse]


# ---------------------------------------------------------------------------- access


def dashboard_view(permission: str) -> Callable[[View], View]:
    """Ministry node only (404), signed in (else the login page), `permission` (else a 403 page)."""

    def decorate(view: View) -> View:
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if not catalogue.is_ministry_node():
                raise Http404
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path(), login_url=reverse("oauth:login"))
            if not request.user.has_perm(permission):
                return render(
                    request,
                    "indicators/forbidden.html",
                    {"may_read": request.user.has_perm(VIEW_PERMISSION)},
                    status=403,
                )
            return view(request, *args, **kwargs)

        return wrapped

    return decorate


def answered_text(answered: int, total: int) -> str:
    """« 1 nœud sur 2 a répondu », « 2 nœuds sur 3 ont répondu », « aucun nœud sur 3 n'a répondu »."""
    if answered == 0:
        return _("aucun nœud sur %(total)d n'a répondu") % {"total": total}
    return ngettext(
        "%(answered)d nœud sur %(total)d a répondu",
        "%(answered)d nœuds sur %(total)d ont répondu",
        answered,
    ) % {"answered": answered, "total": total}


def _definition_labels(campaign_list: Sequence[Campaign]) -> dict[tuple[str, int], str]:
    wanted = Q(pk__in=[])
    for campaign in campaign_list:
        for item in campaign.indicators or []:
            if isinstance(item, Mapping) and "code" in item and "version" in item:
                wanted |= Q(code=item["code"], version=item["version"])
    return {
        (d.code, d.version): d.label
        for d in IndicatorDefinition.objects.filter(wanted).only("code", "version", "label")
    }


def _indicator_labels(campaign: Campaign, labels: Mapping[tuple[str, int], str]) -> list[str]:
    found: list[str] = []
    for item in campaign.indicators or []:
        if isinstance(item, Mapping):
            code, version = str(item.get("code", "")), item.get("version")
            found.append(labels.get((code, version), code) if isinstance(version, int) else code)
    return found


# ---------------------------------------------------------------------------- the list


def _answered_of(campaign: Campaign) -> str:
    total = int(getattr(campaign, "node_total", 0))
    return answered_text(int(getattr(campaign, "node_answered", 0)), total) if total else ""


@never_cache
@dashboard_view(VIEW_PERMISSION)
@require_http_methods(["GET", "HEAD"])
def campaign_list(request: HttpRequest) -> HttpResponse:
    """The campaigns, newest first, with their progress in words."""
    answered = CampaignNode.State.ANSWERED
    rows = list(
        Campaign.objects.annotate(
            node_total=Count("nodes"), node_answered=Count("nodes", filter=Q(nodes__state=answered))
        ).order_by("-created_at")
    )
    labels = _definition_labels(rows)
    items = [
        {
            "campaign": campaign,
            "period": exports.period_text(None, campaign),
            "indicators": _indicator_labels(campaign, labels),
            "answered": _answered_of(campaign),
        }
        for campaign in rows
    ]
    context = {"items": items, "may_create": request.user.has_perm(ADD_PERMISSION)}
    return render(request, "indicators/campaign_list.html", context)


# ---------------------------------------------------------------------------- the form


class CampaignForm(forms.Form):
    """What the form reads; the rules themselves are `campaigns.create_campaign`'s."""

    title = forms.CharField(label=gettext_lazy("Intitulé"), max_length=200)
    indicators = forms.MultipleChoiceField(label=gettext_lazy("Indicateurs"), widget=forms.CheckboxSelectMultiple)
    period_start = forms.DateField(label=gettext_lazy("Début de la période"))
    period_end = forms.DateField(label=gettext_lazy("Fin de la période"))
    dimensions = forms.MultipleChoiceField(
        label=gettext_lazy("Dimensions"), required=False, widget=forms.CheckboxSelectMultiple
    )

    def __init__(self, *args: Any, definitions: list[IndicatorDefinition], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        indicators = self.fields["indicators"]
        dimensions = self.fields["dimensions"]
        assert isinstance(indicators, forms.MultipleChoiceField)  # noqa: S101 - declared just above
        assert isinstance(dimensions, forms.MultipleChoiceField)  # noqa: S101 - declared just above
        indicators.choices = [(d.code, d.label) for d in definitions]
        dimensions.choices = [(name, str(label)) for name, label in catalogue.DIMENSION_LABELS.items()]
        self.fields["indicators"].error_messages["required"] = _("Choisissez au moins un indicateur.")


@dataclass(frozen=True)
class IndicatorChoice:
    code: str
    label: str
    definition: str
    unit: str
    period_rule: str
    dimensions: str
    checked: bool


def _form_context(form: CampaignForm, definitions: list[IndicatorDefinition]) -> dict[str, Any]:
    chosen = set(form["indicators"].value() or [])
    dimensions_chosen = set(form["dimensions"].value() or [])
    errors = {name: [str(message) for message in form.errors.get(name, [])] for name in FORM_FIELDS}
    summary = [
        (name, str(form.fields[name].label), " ".join(messages_)) for name, messages_ in errors.items() if messages_
    ]
    summary += [("", "", str(message)) for message in form.non_field_errors()]
    return {
        "form": form,
        "errors": errors,
        "error_summary": summary,
        "values": {name: form[name].value() or "" for name in ("title", "period_start", "period_end")},
        "indicator_choices": [
            IndicatorChoice(
                code=d.code,
                label=d.label,
                definition=d.definition,
                unit=exports.unit_label(d.unit),
                period_rule=str(d.get_period_rule_display()),
                dimensions=", ".join(exports.dimension_label(name) for name in d.dimensions),
                checked=d.code in chosen,
            )
            for d in definitions
        ],
        "dimension_choices": [
            (name, str(label), name in dimensions_chosen) for name, label in catalogue.DIMENSION_LABELS.items()
        ],
    }


def _date_value(value: Any) -> str:
    """A date field's value as the date input expects it (yyyy-mm-dd)."""
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value or "")


@never_cache
@dashboard_view(ADD_PERMISSION)
@require_http_methods(["GET", "HEAD", "POST"])
def campaign_new(request: HttpRequest) -> HttpResponse:
    """The new campaign's form; on POST, `campaigns.create_campaign` and on to the campaign."""
    definitions = catalogue.current_definitions()
    if request.method != "POST":
        form = CampaignForm(definitions=definitions)
        return render(request, "indicators/campaign_form.html", _form_context(form, definitions))
    form = CampaignForm(request.POST, definitions=definitions)
    if form.is_valid():
        data = form.cleaned_data
        try:
            campaign = campaigns.create_campaign(
                title=data["title"],
                indicators=list(data["indicators"]),
                period_start=data["period_start"],
                period_end=data["period_end"],
                dimensions=list(data["dimensions"]),
                by=request.user,
            )
        except ValidationError as exc:
            _add_errors(form, exc)
        else:
            messages.success(request, _("Campagne créée. Vérifiez-la, puis lancez-la."))
            return redirect("indicators:campaign", pk=campaign.pk)
    context = _form_context(form, definitions)
    context["values"]["period_start"] = _date_value(form["period_start"].value())
    context["values"]["period_end"] = _date_value(form["period_end"].value())
    return render(request, "indicators/campaign_form.html", context, status=400)


def _add_errors(form: CampaignForm, exc: ValidationError) -> None:
    if hasattr(exc, "error_dict"):
        for name, errors in exc.message_dict.items():
            form.add_error(name if name in FORM_FIELDS else None, errors)
    else:
        form.add_error(None, exc.messages)


# ---------------------------------------------------------------------------- the campaign


@dataclass(frozen=True)
class NodeRow:
    name: str
    node: str
    state: str
    state_label: str
    detail: str
    elapsed: str
    as_of: str
    as_of_iso: str


def _node_rows(progress: Mapping[str, Any]) -> list[NodeRow]:
    """The nodes of `campaigns.progress`, in words."""
    rows: list[NodeRow] = []
    for node in progress.get("nodes") or []:
        elapsed = ""
        if isinstance(node.get("elapsed_ms"), int):
            seconds = Decimal(node["elapsed_ms"]) / 1000
            elapsed = _("%(seconds)s s") % {"seconds": exports.format_number(seconds, "", 1)}
        rows.append(
            NodeRow(
                name=str(node.get("name") or node.get("node") or ""),
                node=str(node.get("node") or ""),
                state=str(node.get("state") or ""),
                state_label=str(node.get("state_label") or exports.node_state_label(str(node.get("state") or ""))),
                detail=str(node.get("detail") or ""),
                elapsed=elapsed,
                as_of=exports.moment_text(node.get("as_of")),
                as_of_iso=str(node.get("as_of") or ""),
            )
        )
    return rows


@dataclass(frozen=True)
class Bar:
    """One row of a 1-D table's bar chart (SVG user units)."""

    label: str
    y: int
    width: int
    text: str
    hidden: bool
    undefined: bool

    @property
    def text_y(self) -> int:
        return self.y + 15

    @property
    def value_x(self) -> int:
        return Chart.BAR_X + (Chart.PLACEHOLDER if self.hidden else self.width) + 8


@dataclass(frozen=True)
class Chart:
    """A horizontal bar chart of a 1-D table's rows (not its total). A hidden cell is a hatched
    placeholder of one fixed width with its marker: nothing in the drawing depends on its value."""

    BAR_X = 210
    BAR_WIDTH = 330
    PLACEHOLDER = 36
    ROW = 26

    bars: list[Bar]
    pattern_id: str
    title: str

    @property
    def height(self) -> int:
        return len(self.bars) * self.ROW + 8

    @property
    def label_x(self) -> int:
        return self.BAR_X - 8

    @staticmethod
    def of(table: exports.Table) -> Chart | None:
        if len(table.dimensions) != 1 or not table.rows:
            return None
        shown = [table.cell(value) for value, _label in table.rows]
        largest = max((cell.value for cell in shown if not cell.hidden and cell.value is not None), default=None)
        bars: list[Bar] = []
        for index, ((_value, label), cell) in enumerate(zip(table.rows, shown, strict=True)):
            width = 0
            if not cell.hidden and cell.value is not None and largest:
                width = max(1, round(Chart.BAR_WIDTH * cell.value / largest)) if cell.value > 0 else 0
            bars.append(
                Bar(
                    label=label,
                    y=4 + index * Chart.ROW,
                    width=width,
                    text=(f"{cell.marker} — {cell.status_text}" if cell.hidden else table.text(cell)),
                    hidden=cell.hidden,
                    undefined=cell.undefined,
                )
            )
        title = _("%(label)s par %(dimension)s : graphique en barres (les valeurs sont dans le tableau)") % {
            "label": table.label,
            "dimension": table.dimension_labels[0],
        }
        return Chart(bars=bars, pattern_id=f"hachures-{slugify(table.code) or 'indicateur'}", title=title)


@dataclass(frozen=True)
class ShownCell:
    text: str
    explanation: str
    status: str
    hidden: bool
    undefined: bool
    total: bool


def _shown(table: exports.Table, cell: exports.Cell, *, total: bool = False) -> ShownCell:
    return ShownCell(
        text=table.text(cell),
        explanation=cell.explanation,
        status=cell.status,
        hidden=cell.hidden,
        undefined=table.text(cell) == exports.UNDEFINED,
        total=total,
    )


@dataclass
class IndicatorView:
    """One indicator's table, ready for the template."""

    table: exports.Table
    caption: str
    header: str
    figure: ShownCell | None
    rows: list[tuple[str, list[ShownCell]]]
    total: list[ShownCell] | None
    columns: list[str]
    chart: Chart | None
    statuses: set[str]
    anchor: str


def _indicator_view(table: exports.Table, period: str) -> IndicatorView:
    TOTAL = exports.TOTAL_KEY
    header = exports.column_header(table)
    figure = None
    rows: list[tuple[str, list[ShownCell]]] = []
    total: list[ShownCell] | None = None
    columns: list[str] = []
    dimensions = table.dimension_labels
    if not dimensions:
        figure = _shown(table, table.cell())
        caption = _("%(label)s, %(period)s") % {"label": table.label, "period": period}
    elif len(dimensions) == 1:
        caption = _("%(label)s par %(dimension)s, %(period)s") % {
            "label": table.label,
            "dimension": dimensions[0],
            "period": period,
        }
        rows = [(label, [_shown(table, table.cell(value))]) for value, label in table.rows]
        if table.has(TOTAL):
            total = [_shown(table, table.cell(TOTAL), total=True)]
    else:
        caption = _("%(label)s par %(rows)s (lignes) et %(columns)s (colonnes), %(period)s") % {
            "label": table.label,
            "rows": dimensions[0],
            "columns": dimensions[1],
            "period": period,
        }
        columns = [label for _value, label in table.columns]
        for value, label in table.rows:
            line = [_shown(table, table.cell(value, column)) for column, _label in table.columns]
            line.append(_shown(table, table.cell(value, TOTAL), total=True))
            rows.append((label, line))
        total = [_shown(table, table.cell(TOTAL, column), total=True) for column, _label in table.columns]
        total.append(_shown(table, table.cell(TOTAL, TOTAL), total=True))
    return IndicatorView(
        table=table,
        caption=caption,
        header=header,
        figure=figure,
        rows=rows,
        total=total,
        columns=columns,
        chart=Chart.of(table),
        statuses=table.statuses,
        anchor=f"indicateur-{slugify(table.code) or 'sans-code'}",
    )


def _results_context(campaign: Campaign) -> dict[str, Any]:
    results = campaign.results
    if not results:
        return {"results": None}
    period = exports.period_text(results, campaign)
    raw_nodes = results.get("nodes")
    nodes: Mapping[str, Any] = raw_nodes if isinstance(raw_nodes, Mapping) else {}
    answered, total = nodes.get("answered"), nodes.get("total")
    return {
        "results": results,
        "as_of": exports.moment_text(results.get("as_of")),
        "as_of_iso": results.get("as_of") or "",
        "computed_at": exports.moment_text(results.get("computed_at")),
        "results_answered": answered_text(answered, total)
        if isinstance(answered, int) and isinstance(total, int)
        else "",
        "sources": [
            (source, exports.moment_text(source.as_of), exports.structures_text(source.structures))
            for source in exports.sources(results)
        ],
        "missing": exports.missing_nodes(results),
        "rules": exports.rules(results),
        "indicator_views": [_indicator_view(table, period) for table in exports.published_tables(results)],
    }


@never_cache
@dashboard_view(VIEW_PERMISSION)
@require_http_methods(["GET", "HEAD"])
def campaign_detail(request: HttpRequest, pk: Any) -> HttpResponse:
    """The campaign: its progress while it runs, then its published tables."""
    campaign = get_object_or_404(Campaign, pk=pk)
    progress = campaigns.progress(campaign)
    running = campaign.state == Campaign.State.RUNNING
    labels = _definition_labels([campaign])
    may_launch = request.user.has_perm(ADD_PERMISSION)
    context = {
        "campaign": campaign,
        "period": exports.period_text(None, campaign),
        "indicators": _indicator_labels(campaign, labels),
        "dimensions": [exports.dimension_label(str(name)) for name in campaign.dimensions or []],
        "running": running,
        "refresh_seconds": REFRESH_SECONDS,
        "answered_text": answered_text(progress["answered"], progress["total"]) if progress["total"] else "",
        "node_rows": _node_rows(progress),
        "may_launch": may_launch and campaign.state == Campaign.State.DRAFT,
        "may_rerun": may_launch and campaign.state == Campaign.State.PARTIAL,
        **_results_context(campaign),
    }
    return render(request, "indicators/campaign_detail.html", context)


@never_cache
@dashboard_view(ADD_PERMISSION)
@require_POST
def campaign_launch(request: HttpRequest, pk: Any) -> HttpResponse:
    """Launch a draft, or ask the missing nodes of a finished campaign again; back to the page."""
    campaign = get_object_or_404(Campaign, pk=pk)
    try:
        if campaign.state == Campaign.State.DRAFT:
            campaigns.launch(campaign, by=request.user)
            messages.success(request, _("Campagne lancée : les nœuds sont interrogés."))
        elif campaign.state == Campaign.State.PARTIAL:
            campaigns.rerun(campaign, by=request.user)
            messages.success(request, _("Les nœuds manquants sont interrogés à nouveau."))
        elif campaign.state == Campaign.State.RUNNING:
            messages.info(request, _("La campagne est déjà en cours."))
        else:
            messages.info(request, _("Tous les nœuds ont répondu : il n'y a rien à relancer."))
    except ValidationError as exc:
        for message in exc.messages:
            messages.error(request, message)
    return redirect("indicators:campaign", pk=campaign.pk)


# ---------------------------------------------------------------------------- exports


def _file_name(campaign: Campaign, extension: str) -> str:
    """« frequentation-t4-2026-2026-10-01-2026-12-31.csv »: readable, ASCII."""
    stem = slugify(campaign.title)[:80].strip("-") or f"campagne-{campaign.pk.hex[:8]}"
    return f"{stem}-{campaign.period_start.isoformat()}-{campaign.period_end.isoformat()}.{extension}"


def _export(request: HttpRequest, pk: Any, extension: str) -> HttpResponse:
    campaign = get_object_or_404(Campaign, pk=pk)
    if not campaign.results:
        return render(request, "indicators/no_results.html", {"campaign": campaign}, status=404)
    if extension == "csv":
        response = HttpResponse(exports.results_csv(campaign).encode("utf-8"), content_type="text/csv; charset=utf-8")
    else:
        response = HttpResponse(
            exports.results_xlsx(campaign),
            content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        )
    response["Content-Disposition"] = content_disposition_header(True, _file_name(campaign, extension))
    return response


@never_cache
@dashboard_view(VIEW_PERMISSION)
@require_http_methods(["GET", "HEAD"])
def campaign_export_csv(request: HttpRequest, pk: Any) -> HttpResponse:
    return _export(request, pk, "csv")


@never_cache
@dashboard_view(VIEW_PERMISSION)
@require_http_methods(["GET", "HEAD"])
def campaign_export_xlsx(request: HttpRequest, pk: Any) -> HttpResponse:
    return _export(request, pk, "xlsx")
