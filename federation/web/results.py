"""What the search page shows of a federated search answer, in plain French words.

`federation.search.search` answers records as their origin node published them (`record`: the
feed representation, codes and ISO dates) with their owner, origin, policy and attribution, and
one status per node. The functions here turn that into display rows — labels for codes, dates in
the performance's own time zone, node statuses as sentences (« répondu en 120 ms », « délai
dépassé », « erreur », « accès refusé ») — and never decide anything: what a result may show was
decided by the search (the policies and the person's consent) before it reached this module.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.utils import formats
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.text import capfirst
from django.utils.translation import get_language_info, gettext_lazy, ngettext, pgettext
from django.utils.translation import gettext as _

from dataspace.audit.labels import record_type_labels
from dataspace.directory.vocabulary import ContactChannel, Region, Trade
from dataspace.referentials.models import Discipline, Organisation, Performance, Production, Venue


@dataclass(frozen=True)
class Fact:
    """One labelled value of a result (« Métiers : régisseur·se lumière »)."""

    label: str
    value: str
    #: A web address the value links to ("" when it is plain text).
    href: str = ""


@dataclass(frozen=True)
class PerformanceLine:
    """One performance of a production result (all nodes merged by the search)."""

    when: str
    iso: str
    place: str
    status: str
    cancelled: bool
    origin_name: str


@dataclass(frozen=True)
class ResultView:
    anchor: str
    uri: str
    title: str
    type_label: str
    owner_name: str
    origin: str
    origin_name: str
    policy_text: str
    policy_uid: str
    attribution: str
    facts: tuple[Fact, ...]
    performances: tuple[PerformanceLine, ...] = ()
    sources: tuple[str, ...] = ()


@dataclass(frozen=True)
class NodeRow:
    """One node's part in the answer (the status table)."""

    name: str
    base_url: str
    status: str
    #: The status in words; never only a colour.
    status_text: str
    count: int | None
    as_of: str
    as_of_iso: str
    detail: str


@dataclass
class _Facts:
    items: list[Fact] = field(default_factory=list)

    def add(self, label: str, value: Any, href: str = "") -> None:
        text = _text(value)
        if text:
            self.items.append(Fact(label=label, value=text, href=href))


# ---------------------------------------------------------------------------- small helpers


def _mapping(value: Any) -> Mapping[str, Any]:
    """`value` when it is a JSON object, else an empty one (a member a node left out or garbled)."""
    return value if isinstance(value, Mapping) else {}


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list | tuple):
        return ", ".join(part for part in (_text(item) for item in value) if part)
    return str(value).strip()


def _label(choices: Any, code: Any) -> str:
    """The French label of a model choice `code` (the code itself when unknown)."""
    if code in (None, ""):
        return ""
    labels: dict[str, Any] = dict(choices.choices)
    return str(labels.get(str(code), code))


def _labels(choices: Any, codes: Any) -> list[str]:
    if not isinstance(codes, list | tuple):
        codes = [codes] if codes else []
    return [_label(choices, code) for code in codes if code]


#: ISO 639-1 codes of the directory (dataspace.directory.vocabulary.LANGUAGES) Django has no name for.
_LANGUAGE_NAMES = {
    "bm": gettext_lazy("Bambara"),
    "co": gettext_lazy("Corse"),
    "ff": gettext_lazy("Peul"),
    "ht": gettext_lazy("Créole haïtien"),
    "ln": gettext_lazy("Lingala"),
    "mg": gettext_lazy("Malgache"),
    "mt": gettext_lazy("Maltais"),
    "no": gettext_lazy("Norvégien"),
    "oc": gettext_lazy("Occitan"),
    "rm": gettext_lazy("Romanche"),
    "wo": gettext_lazy("Wolof"),
    "zh": gettext_lazy("Chinois"),
}


def language_name(code: str) -> str:
    """The name of an ISO 639-1 language in the active language (the code when nobody knows it)."""
    if code in _LANGUAGE_NAMES:
        return str(_LANGUAGE_NAMES[code])
    try:
        return str(get_language_info(code)["name_translated"])
    except KeyError:
        return code


def _metres(value: Any) -> str:
    if value in (None, ""):
        return ""
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return str(value)
    return _("%(value)s m") % {"value": formats.number_format(number.normalize(), use_l10n=True)}


def _day(value: Any) -> str:
    day = parse_date(str(value)) if value else None
    if day is None:
        return _text(value)
    return formats.date_format(day, "SHORT_DATE_FORMAT")


def _moment(value: Any, time_zone: str = "") -> tuple[str, str]:
    """(text, ISO) of a date-time, shown in `time_zone` (the performance's) or the node's."""
    moment = parse_datetime(str(value)) if value else None
    if moment is None:
        return _text(value), ""
    try:
        zone = zoneinfo.ZoneInfo(time_zone or str(settings.NODE_TIME_ZONE))
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        zone = zoneinfo.ZoneInfo("Europe/Paris")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    local = moment.astimezone(zone)
    # Translators: a Django date format (https://docs.djangoproject.com/en/5.2/ref/templates/builtins/#date).
    shown = formats.date_format(local, pgettext("date format of a performance in search results", "l j F Y à H\\hi"))
    return shown, moment.isoformat()


def _periods(value: Any) -> list[str]:
    periods: list[str] = []
    for period in value if isinstance(value, list) else []:
        if isinstance(period, Mapping):
            periods.append(
                _("du %(start)s au %(end)s") % {"start": _day(period.get("start")), "end": _day(period.get("end"))}
            )
    return periods


def _web(value: Any) -> str:
    text = _text(value)
    return text if text.startswith(("https://", "http://")) else ""


# ---------------------------------------------------------------------------- facts per record type


def _entry_facts(record: Mapping[str, Any], result: Mapping[str, Any], facts: _Facts) -> None:
    facts.add(_("Métiers"), _labels(Trade, record.get("trades")))
    facts.add(_("Compétences"), record.get("skills"))
    facts.add(_("Région"), _label(Region, record.get("region")))
    facts.add(_("Langues"), [language_name(str(code)) for code in record.get("languages") or []])
    facts.add(_("Disponibilités"), _periods(record.get("availability")))
    facts.add(_("Contact préféré"), _label(ContactChannel, record.get("contact_channel")))
    email = _text(record.get("contact_email"))
    facts.add(_("Courriel"), email, f"mailto:{email}" if email else "")
    facts.add(_("Téléphone"), record.get("contact_phone"))
    for link in record.get("links") or []:
        facts.add(_("Lien"), link, _web(link))


def _production_facts(record: Mapping[str, Any], result: Mapping[str, Any], facts: _Facts) -> None:
    facts.add(_("Discipline"), _label(Discipline, record.get("discipline")))
    minutes = record.get("duration_minutes")
    if minutes:
        facts.add(_("Durée"), _("%(minutes)s min") % {"minutes": minutes})
    facts.add(_("Public"), _label(Production.Audience, record.get("audience")))
    if record.get("minimum_age"):
        facts.add(_("Âge minimum"), _("%(age)s ans") % {"age": record["minimum_age"]})
    facts.add(_("Langue"), language_name(str(record["language"])) if record.get("language") else "")
    facts.add(_("Création"), _day(record.get("premiere_date")) if record.get("premiere_date") else "")
    facts.add(_("Fiche technique"), record.get("technical_rider_url"), _web(record.get("technical_rider_url")))


def _performance_facts(record: Mapping[str, Any], result: Mapping[str, Any], facts: _Facts) -> None:
    shown, _iso = _moment(record.get("start"), str(record.get("time_zone") or ""))
    facts.add(_("Date"), shown)
    facts.add(_("Statut"), _label(Performance.Status, record.get("status")))
    facts.add(_("Lieu"), _place(result) or _place(record))
    facts.add(_("Jauge"), record.get("capacity"))
    facts.add(_("Billetterie"), record.get("ticketing_url"), _web(record.get("ticketing_url")))


def _place_facts(record: Mapping[str, Any], result: Mapping[str, Any], facts: _Facts) -> None:
    facts.add(_("Commune"), _city(record))
    facts.add(_("Région"), record.get("region"))
    facts.add(_("Site web"), record.get("website"), _web(record.get("website")))


def _venue_facts(record: Mapping[str, Any], result: Mapping[str, Any], facts: _Facts) -> None:
    facts.add(_("Type de lieu"), _label(Venue.VenueType, record.get("venue_type")))
    _place_facts(record, result, facts)


def _hall_facts(record: Mapping[str, Any], result: Mapping[str, Any], facts: _Facts) -> None:
    facts.add(_("Lieu"), _place(result) or _place(record))
    facts.add(_("Jauge assise"), record.get("seated_capacity"))
    facts.add(_("Jauge debout"), record.get("standing_capacity"))
    facts.add(_("Places en fauteuil roulant"), record.get("wheelchair_places") or "")
    sheet = record.get("technical_sheet")
    technical: Mapping[str, Any] = sheet if isinstance(sheet, Mapping) else record
    facts.add(_("Ouverture au cadre"), _metres(technical.get("proscenium_opening_m")))
    facts.add(_("Hauteur sous gril"), _metres(technical.get("height_under_grid_m")))
    facts.add(_("Largeur du plateau"), _metres(technical.get("stage_width_m")))
    facts.add(_("Profondeur du plateau"), _metres(technical.get("stage_depth_m")))


def _organisation_facts(record: Mapping[str, Any], result: Mapping[str, Any], facts: _Facts) -> None:
    facts.add(_("Type"), _label(Organisation.Kind, record.get("kind")))
    facts.add(_("Label"), record.get("label"))
    facts.add(_("Disciplines"), _labels(Discipline, record.get("disciplines")))
    _place_facts(record, result, facts)


_FACTS = {
    "directory-entry": _entry_facts,
    "production": _production_facts,
    "performance": _performance_facts,
    "venue": _venue_facts,
    "hall": _hall_facts,
    "organisation": _organisation_facts,
}


def _city(record: Mapping[str, Any]) -> str:
    city = _text(record.get("city"))
    departement = _text(record.get("departement"))
    return f"{city} ({departement})" if city and departement else city


def _place(record: Mapping[str, Any]) -> str:
    """The place of a performance or hall when the answer names it (names, else nothing)."""
    venue = record.get("venue")
    hall = record.get("hall")
    hall_name = _text(hall.get("name")) if isinstance(hall, Mapping) else ""
    venue_name = _text(venue.get("name")) if isinstance(venue, Mapping) else ""
    if venue_name and venue_name in hall_name:  # the index names a hall « Venue — Hall »
        venue_name = ""
    city = _city(venue) if isinstance(venue, Mapping) else _city(record)
    return " — ".join(part for part in (hall_name, venue_name, city) if part)


# ---------------------------------------------------------------------------- results and nodes


def _title(result: Mapping[str, Any], record: Mapping[str, Any]) -> str:
    for value in (result.get("title"), record.get("display_name"), record.get("name"), record.get("title")):
        if _text(value):
            return _text(value)
    return _text(result.get("id"))


def _performance_line(performance: Mapping[str, Any], node_names: Mapping[str, str]) -> PerformanceLine:
    record = _mapping(performance.get("record")) or performance
    when, iso = _moment(record.get("start"), str(record.get("time_zone") or ""))
    status = str(record.get("status") or "")
    origin = str(performance.get("origin") or record.get("origin") or "")
    return PerformanceLine(
        when=when,
        iso=iso,
        place=_place(record) or _place(performance),
        status=_label(Performance.Status, status) if status and status != Performance.Status.SCHEDULED else "",
        cancelled=status == Performance.Status.CANCELLED,
        origin_name=node_names.get(origin.rstrip("/"), origin),
    )


def _type_labels() -> dict[str, str]:
    """What a professional calls each record type (the model's verbose name otherwise)."""
    labels = record_type_labels()
    labels.update(
        {
            "directory-entry": _("personne de l'annuaire"),
            "production": _("spectacle"),
            "organisation": _("structure"),
        }
    )
    return labels


def present_results(results: Iterable[Mapping[str, Any]], node_names: Mapping[str, str]) -> list[ResultView]:
    """Display rows of the answer's results, in the answer's order."""
    type_labels = _type_labels()
    views: list[ResultView] = []
    for number, result in enumerate(results, start=1):
        record = _mapping(result.get("record"))
        record_type = str(result.get("type") or "")
        facts = _Facts()
        fill = _FACTS.get(record_type)
        if fill is not None:
            fill(record, result, facts)
        owner = _mapping(result.get("owner"))
        policy = _mapping(result.get("policy"))
        origin = str(result.get("origin") or "").rstrip("/")
        performances = [item for item in result.get("performances") or [] if isinstance(item, Mapping)]
        lines = sorted((_performance_line(item, node_names) for item in performances), key=lambda line: line.iso)
        views.append(
            ResultView(
                anchor=f"resultat-{number}",
                uri=str(result.get("id") or ""),
                title=_title(result, record),
                type_label=capfirst(type_labels.get(record_type, record_type)),
                owner_name=_text(owner.get("name")) or _("structure non renseignée"),
                origin=origin,
                origin_name=node_names.get(origin, origin),
                policy_text=_text(policy.get("text")),
                policy_uid=_text(policy.get("uid")),
                attribution=_text(result.get("attribution")),
                facts=tuple(facts.items),
                performances=tuple(lines),
                sources=tuple(str(uri) for uri in result.get("sources") or []),
            )
        )
    return views


def status_text(status: str, mode: str, ms: int | None) -> str:
    """A node's status in words: « répondu en 120 ms », « délai dépassé », « erreur », « accès refusé »."""
    if status == "ok":
        if mode == "index":
            return _("index à jour")
        return _("répondu en %(ms)s ms") % {"ms": ms if ms is not None else "?"}
    words = {
        "timeout": _("délai dépassé"),
        "error": _("erreur"),
        "denied": _("accès refusé"),
    }
    return words.get(status, status)


def present_nodes(nodes: Sequence[Mapping[str, Any]], mode: str) -> list[NodeRow]:
    """One row per node of the answer, in the answer's order."""
    rows: list[NodeRow] = []
    for node in nodes:
        status = str(node.get("status") or "")
        ms = node.get("ms")
        as_of_text, as_of_iso = ("", "")
        if node.get("as_of"):
            as_of_text, as_of_iso = _moment(node["as_of"])
        count = node.get("count")
        rows.append(
            NodeRow(
                name=_text(node.get("name")) or _text(node.get("node")),
                base_url=_text(node.get("node")),
                status=status,
                status_text=status_text(status, mode, int(ms) if isinstance(ms, int | float) else None),
                count=int(count) if isinstance(count, int) and status == "ok" else None,
                as_of=as_of_text,
                as_of_iso=as_of_iso,
                detail=_text(node.get("detail")),
            )
        )
    return rows


def node_names(nodes: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """Base URL → name of the nodes of the answer (to name a result's origin)."""
    return {
        str(node.get("node") or "").rstrip("/"): _text(node.get("name")) or str(node.get("node") or "")
        for node in nodes
    }


def count_text(count: int) -> str:
    return ngettext("%(count)s résultat", "%(count)s résultats", count) % {"count": count}
