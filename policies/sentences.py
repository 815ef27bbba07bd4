"""Any policy of the profile as one sentence a theatre administrator understands (French first).

`sentence(doc, owner_name=)` renders templated and imported policies alike: one clause per
permission (what, for whom, on which conditions), then the prohibitions, then the duties shared by
every permission; clauses are separated by « ; » and the sentence ends with a full stop, e.g.

    Lecture et recherche réservées aux professionnels titulaires d'une licence d'entrepreneur de
    spectacles en cours de validité (catégorie 2 ou 3), pour la programmation ou la diffusion,
    jusqu'au 31 décembre 2027 ; toute redistribution est interdite ; chaque accès est journalisé.

Strings are French source strings under Django i18n; other languages come from the catalogue.
"""

from __future__ import annotations

import datetime as dt
import uuid
import zoneinfo
from collections.abc import Iterable, Sequence
from typing import Any

from django.conf import settings
from django.utils import formats
from django.utils.translation import get_language, gettext_lazy
from django.utils.translation import gettext as _

from policies.language import Constraint, Duty, PolicyDoc, Rule

#: Each action as a noun, with its grammatical gender in French (f: feminine, m: masculine).
ACTION_NOUNS: dict[str, tuple[Any, str]] = {
    "read": (gettext_lazy("lecture"), "f"),
    "search": (gettext_lazy("recherche"), "f"),
    "export": (gettext_lazy("export"), "m"),
    "aggregate": (gettext_lazy("calcul d'agrégats"), "m"),
    "redistribute": (gettext_lazy("redistribution"), "f"),
    "modify": (gettext_lazy("modification"), "f"),
}

#: The purposes as they read after « pour » in a sentence.
PURPOSE_PHRASES: dict[str, Any] = {
    "programming": gettext_lazy("la programmation"),
    "touring": gettext_lazy("la diffusion"),
    "contracting": gettext_lazy("la contractualisation"),
    "reporting": gettext_lazy("les déclarations et bilans"),
    "research": gettext_lazy("la recherche et les études"),
    "communication": gettext_lazy("la communication"),
}

ROLE_NAMES: dict[str, Any] = {
    "administrator": gettext_lazy("administrateur"),
    "editor": gettext_lazy("éditeur"),
    "reader": gettext_lazy("lecteur"),
}

AUDIENCE_OPERANDS = ("licensed", "licenceCategory", "organisation", "node", "staffRole", "region", "recipient")


# ---------------------------------------------------------------------------- small helpers


def _join(items: Sequence[str], word: str) -> str:
    """« a, b et c » / « a, b ou c »."""
    items = [str(item) for item in items]
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + f" {word} " + items[-1]


def _and(items: Sequence[str]) -> str:
    return _join(items, _("et"))


def _or(items: Sequence[str]) -> str:
    return _join(items, _("ou"))


def _capitalised(text: str) -> str:
    return text[:1].upper() + text[1:]


def _gender_number(actions: Sequence[str]) -> tuple[str, bool]:
    genders = {ACTION_NOUNS[a][1] for a in actions}
    return ("f" if genders == {"f"} else "m"), len(actions) > 1


def _action_nouns(actions: Sequence[str]) -> str:
    return _and([str(ACTION_NOUNS[a][0]) for a in actions])


def _local(moment: dt.datetime) -> dt.datetime:
    return moment.astimezone(zoneinfo.ZoneInfo(str(settings.NODE_TIME_ZONE)))


def format_day(day: dt.date) -> str:
    """« 31 décembre 2027 », « 1er mars 2027 » (the active language's month names)."""
    text = formats.date_format(day, "j F Y")
    if day.day == 1 and (get_language() or "fr").startswith("fr"):
        text = "1er" + text[1:]
    return text


def format_moment(moment: dt.datetime) -> str:
    """A day, plus the time when it is not the end of the day."""
    local = _local(moment)
    if local.time() == dt.time(23, 59, 59) or local.time() == dt.time(0, 0):
        return format_day(local.date())
    return _("%(day)s à %(time)s") % {"day": format_day(local.date()), "time": local.strftime("%H:%M")}


def format_duration(delta: dt.timedelta) -> str:
    days = delta.days
    hours = delta.seconds // 3600
    if delta.seconds == 0 and days:
        return _("%(n)d jour") % {"n": days} if days == 1 else _("%(n)d jours") % {"n": days}
    total_hours = days * 24 + hours
    return _("%(n)d heure") % {"n": total_hours} if total_hours == 1 else _("%(n)d heures") % {"n": total_hours}


def _organisation_names(idents: Iterable[str]) -> list[str]:
    """Names of organisations by UUID (the UUID itself when unknown here)."""
    idents = list(idents)
    names: dict[str, str] = {}
    try:
        from dataspace.referentials.models import Organisation

        valid = [str(uuid.UUID(i)) for i in idents]
        names = {str(pk): name for pk, name in Organisation.objects.filter(pk__in=valid).values_list("pk", "name")}
    except Exception:  # noqa: BLE001 - a sentence never fails for want of a name (no database, bad id)
        names = {}
    return [names.get(i, i) for i in idents]


def _is_ministry(nodes: Sequence[str], declared: Sequence[str] = ()) -> bool:
    """Nodes known as the ministry's (settings, or named so by a `ministry_aggregates_only` template)."""
    from policies.templates import ministry_nodes

    known = {*ministry_nodes(), *declared}
    return bool(known) and set(nodes) <= known


# ---------------------------------------------------------------------------- constraints


def _categories(constraint: Constraint) -> str:
    values = [str(v) for v in constraint.right]
    if constraint.operator in ("isNoneOf", "neq"):
        return _("hors catégorie %(list)s") % {"list": _or(values)}
    return _("catégorie %(list)s") % {"list": _or(values)}


def _audience(constraints: Sequence[Constraint], ministry: Sequence[str] = ()) -> list[str]:
    """Who may (« aux professionnels … », « aux structures suivantes : … »), one phrase per constraint."""
    phrases: list[str] = []
    by_left = {c.left: c for c in constraints}
    licensed = by_left.get("licensed")
    category = by_left.get("licenceCategory")
    if licensed is not None and licensed.right is True:
        text = _("aux professionnels titulaires d'une licence d'entrepreneur de spectacles en cours de validité")
        if category is not None:
            text += f" ({_categories(category)})"
        phrases.append(text)
    elif licensed is not None:
        phrases.append(_("aux personnes sans licence d'entrepreneur de spectacles en cours de validité"))
        if category is not None:
            phrases.append(_("aux titulaires d'une licence (%(cat)s)") % {"cat": _categories(category)})
    elif category is not None:
        phrases.append(_("aux titulaires d'une licence (%(cat)s)") % {"cat": _categories(category)})
    for constraint in constraints:
        left, operator, right = constraint.left, constraint.operator, constraint.right
        negative = operator in ("neq", "isNoneOf")
        if left == "organisation":
            names = _and(_organisation_names(right)) if not negative else _or(_organisation_names(right))
            phrases.append(
                _("à toutes les structures sauf %(names)s") % {"names": names}
                if negative
                else (
                    _("à la structure %(names)s") % {"names": names}
                    if len(right) == 1
                    else _("aux structures %(names)s") % {"names": names}
                )
            )
        elif left == "node":
            if not negative and _is_ministry(right, ministry):
                phrases.append(_("au ministère de la Culture"))
            else:
                nodes = _or(list(right))
                phrases.append(
                    _("aux utilisateurs de tous les nœuds sauf %(nodes)s") % {"nodes": nodes}
                    if negative
                    else _("aux utilisateurs du nœud %(nodes)s") % {"nodes": nodes}
                )
        elif left == "staffRole":
            roles = _or([str(ROLE_NAMES.get(r, r)) for r in right])
            phrases.append(
                _("aux membres de l'équipe de la structure sauf le rôle %(roles)s") % {"roles": roles}
                if negative
                else _("aux membres de l'équipe de la structure ayant le rôle %(roles)s") % {"roles": roles}
            )
        elif left == "region":
            regions = _or(list(right))
            phrases.append(
                _("aux structures hors de la région %(regions)s") % {"regions": regions}
                if negative
                else _("aux structures de la région %(regions)s") % {"regions": regions}
            )
        elif left == "recipient":
            names = _or(_organisation_names(right))
            phrases.append(
                _("vers toute structure sauf %(names)s") % {"names": names}
                if negative
                else _("vers %(names)s uniquement") % {"names": names}
            )
    return phrases


def _conditions(constraints: Sequence[Constraint]) -> list[str]:
    """For what and when (« pour la programmation », « jusqu'au 31 décembre 2027 »…)."""
    phrases: list[str] = []
    for constraint in constraints:
        left, operator, right = constraint.left, constraint.operator, constraint.right
        if left == "purpose":
            purposes = _or([str(PURPOSE_PHRASES.get(p, p)) for p in right])
            negative = operator in ("neq", "isNoneOf")
            phrases.append(
                _("sauf pour %(purposes)s") % {"purposes": purposes}
                if negative
                else _("pour %(purposes)s") % {"purposes": purposes}
            )
        elif left == "dateTime":
            when = format_moment(right)
            phrases.append(
                {
                    "lteq": _("jusqu'au %(when)s"),
                    "lt": _("avant le %(when)s"),
                    "gteq": _("à partir du %(when)s"),
                    "gt": _("après le %(when)s"),
                }[operator]
                % {"when": when}
            )
        elif left == "elapsedTime":
            phrases.append(
                _("pendant %(duration)s à compter de l'entrée en vigueur de la politique")
                % {"duration": format_duration(right)}
            )
        elif left == "count":
            limit = right if operator == "lteq" else right - 1
            phrases.append(
                _("dans la limite de %(n)d utilisation par jour et par personne") % {"n": limit}
                if limit == 1
                else _("dans la limite de %(n)d utilisations par jour et par personne") % {"n": limit}
            )
    return phrases


# ---------------------------------------------------------------------------- rules

_RESERVED = {
    ("f", False): gettext_lazy("%(actions)s réservée %(audience)s"),
    ("f", True): gettext_lazy("%(actions)s réservées %(audience)s"),
    ("m", False): gettext_lazy("%(actions)s réservé %(audience)s"),
    ("m", True): gettext_lazy("%(actions)s réservés %(audience)s"),
}
_OPEN = {
    ("f", False): gettext_lazy("%(actions)s ouverte à tous"),
    ("f", True): gettext_lazy("%(actions)s ouvertes à tous"),
    ("m", False): gettext_lazy("%(actions)s ouvert à tous"),
    ("m", True): gettext_lazy("%(actions)s ouverts à tous"),
}
_FORBIDDEN = {
    ("f", False): gettext_lazy("%(actions)s est interdite"),
    ("f", True): gettext_lazy("%(actions)s sont interdites"),
    ("m", False): gettext_lazy("%(actions)s est interdit"),
    ("m", True): gettext_lazy("%(actions)s sont interdits"),
}
_ANY_ACTION: dict[str, Any] = {
    "f": gettext_lazy("toute %(noun)s"),
    "m": gettext_lazy("tout %(noun)s"),
}


def _duty_inline(duty: Duty, owner_name: str) -> str:
    """A duty of one permission only, as it reads inside that permission's clause."""
    if duty.action == "journal":
        return _("avec journalisation de chaque accès")
    if duty.action == "attribute":
        if duty.value:
            return _("en citant la source (« %(text)s »)") % {"text": duty.value}
        if owner_name:
            return _("en citant la source (%(owner)s)") % {"owner": owner_name}
        return _("en citant la source")
    return _("avec suppression des données reçues au bout de %(duration)s") % {"duration": format_duration(duty.value)}


def _duty_phrase(duty: Duty, owner_name: str) -> str:
    if duty.action == "journal":
        return _("chaque accès est journalisé")
    if duty.action == "attribute":
        if duty.value:
            return _("la source doit être citée (« %(text)s »)") % {"text": duty.value}
        if owner_name:
            return _("la source doit être citée (%(owner)s)") % {"owner": owner_name}
        return _("la source doit être citée")
    return _("les données reçues doivent être supprimées au bout de %(duration)s") % {
        "duration": format_duration(duty.value)
    }


def _permission(rule: Rule, shared: set[Duty], owner_name: str, ministry: Sequence[str]) -> str:
    gender, plural = _gender_number(rule.actions)
    audience = _audience(rule.constraints, ministry)
    actions = _action_nouns(rule.actions)
    if audience:
        text = str(_RESERVED[(gender, plural)]) % {"actions": actions, "audience": audience[0]}
        for extra in audience[1:]:
            text += ", " + _("et seulement %(audience)s") % {"audience": extra}
    else:
        text = str(_OPEN[(gender, plural)]) % {"actions": actions}
    for condition in _conditions(rule.constraints):
        text += ", " + condition
    for duty in rule.duties:
        if duty not in shared:
            text += ", " + _duty_inline(duty, owner_name)
    return text


def _prohibition(rule: Rule, ministry: Sequence[str]) -> str:
    gender, plural = _gender_number(rule.actions)
    nouns = _and([str(_ANY_ACTION[ACTION_NOUNS[a][1]]) % {"noun": ACTION_NOUNS[a][0]} for a in rule.actions])
    text = str(_FORBIDDEN[(gender, plural)]) % {"actions": nouns}
    audience = _audience(rule.constraints, ministry)
    if audience:
        text += " " + _and(audience)
    for condition in _conditions(rule.constraints):
        text += ", " + condition
    return text


def sentence(doc: PolicyDoc, *, owner_name: str = "") -> str:
    """One sentence, in the active language (French by default), saying what `doc` allows and forbids."""
    permissions = [r for r in doc.rules if r.kind == "permission"]
    prohibitions = [r for r in doc.rules if r.kind == "prohibition"]
    shared: set[Duty] = set(permissions[0].duties) if permissions else set()
    for rule in permissions[1:]:
        shared &= set(rule.duties)
    ministry = [n for t in doc.templates if t.get("name") == "ministry_aggregates_only" for n in t.get("nodes", ())]
    clauses: list[str] = []
    if permissions:
        clauses.extend(_permission(rule, shared, owner_name, ministry) for rule in permissions)
    elif owner_name:
        clauses.append(
            _("Données réservées à leur propriétaire (%(owner)s) : personne d'autre ne peut les utiliser")
            % {"owner": owner_name}
        )
    else:
        clauses.append(_("Données réservées à leur propriétaire : personne d'autre ne peut les utiliser"))
    clauses.extend(_prohibition(rule, ministry) for rule in prohibitions)
    ordered = [d for rule in permissions[:1] for d in rule.duties if d in shared]
    clauses.extend(_duty_phrase(d, owner_name) for d in ordered)
    return _capitalised(" ; ".join(clauses)) + "."
