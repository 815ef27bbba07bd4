"""Plain-language policy templates an administrator picks and combines (issue 4, item 2).

A template is a JSON object ``{"name": <template>, <parameters>…}``. `compose(templates)` turns a
list of them into the rules of one policy; the combination rules are:

* **granting** templates each add one permission (they are alternatives: any one may apply):
  - ``public`` — read, search, export, aggregate, redistribute for anyone; duty ``attribute``;
  - ``licensed_only`` (optional ``categories``: [1, 2, 3]) — read and search for licensed
    professionals (of those categories); duty ``journal``;
  - ``named_partners`` (``organisations``: organisation UUIDs) — read, search and export for those
    organisations; duty ``journal``;
  - ``ministry_aggregates_only`` (optional ``nodes``: the ministry's node base URLs) — aggregate,
    for the ministry only (never the rows); duty ``journal``;
* **restricting** templates add their constraint to every permission (so they need a granting one):
  - ``purpose_limited`` (``purposes``: from the vocabulary) — ``purpose isAnyOf …``;
  - ``expires_on`` (``date``: YYYY-MM-DD, today or later) — ``dateTime lteq`` the end of that day
    in the node's time zone;
* ``no_redistribution`` adds a prohibition of ``redistribute`` (it wins over ``public``).

No template at all is a private policy: only the owner (and the partners it names elsewhere) uses
the data. Each template appears at most once. Parameters are checked here (`PolicyError` naming
``templates[i].<parameter>``).
"""

from __future__ import annotations

import datetime as dt
import uuid
import zoneinfo
from typing import Any

from django.conf import settings
from django.utils.translation import gettext, pgettext_lazy
from django.utils.translation import gettext_lazy as _

from policies.language import PURPOSES, Constraint, Duty, PolicyError, Rule

GRANTING = ("public", "licensed_only", "named_partners", "ministry_aggregates_only")
RESTRICTING = ("purpose_limited", "expires_on")
PROHIBITING = ("no_redistribution",)
TEMPLATE_NAMES = (*GRANTING, *PROHIBITING, *RESTRICTING)

#: Actions each granting template permits.
GRANTS: dict[str, tuple[str, ...]] = {
    "public": ("read", "search", "export", "aggregate", "redistribute"),
    "licensed_only": ("read", "search"),
    "named_partners": ("read", "search", "export"),
    "ministry_aggregates_only": ("aggregate",),
}

#: French labels of the purposes (the fixed vocabulary), for forms and sentences.
PURPOSE_LABELS: dict[str, Any] = {
    "programming": _("la programmation"),
    "touring": _("la diffusion et les tournées"),
    "contracting": _("la contractualisation"),
    "reporting": _("les déclarations et bilans"),
    "research": _("la recherche et les études"),
    "communication": _("la communication"),
}

TEMPLATE_LABELS: dict[str, tuple[Any, Any]] = {
    "public": (
        pgettext_lazy("policy template", "Public"),
        _("Tout le monde peut lire, rechercher, exporter et rediffuser ces données, en citant la source."),
    ),
    "licensed_only": (
        _("Professionnels licenciés uniquement"),
        _(
            "Lecture et recherche réservées aux titulaires d'une licence d'entrepreneur de spectacles en cours "
            "de validité, éventuellement de certaines catégories. Chaque accès est journalisé."
        ),
    ),
    "named_partners": (
        _("Partenaires nommés"),
        _("Lecture, recherche et export réservés aux structures que vous désignez. Chaque accès est journalisé."),
    ),
    "ministry_aggregates_only": (
        _("Agrégats pour le ministère uniquement"),
        _(
            "Le ministère de la Culture peut calculer des agrégats (jamais voir les lignes). "
            "Chaque calcul est journalisé."
        ),
    ),
    "no_redistribution": (
        _("Pas de redistribution"),
        _("Personne ne peut transmettre ces données à un tiers, même s'il a le droit de les lire."),
    ),
    "purpose_limited": (
        _("Finalités limitées"),
        _("Les autorisations ne valent que pour les finalités choisies (programmation, diffusion…)."),
    ),
    "expires_on": (
        _("Jusqu'à une date"),
        _("Les autorisations cessent après la date choisie (incluse)."),
    ),
}


# ---------------------------------------------------------------------------- parameters


def _categories(value: Any, path: str) -> list[int]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise PolicyError(path, gettext("Les catégories sont une liste de 1, 2 ou 3."))
    out: list[int] = []
    for item in value:
        if isinstance(item, str) and item.strip().isdigit():
            item = int(item)
        if isinstance(item, bool) or not isinstance(item, int) or item not in (1, 2, 3):
            raise PolicyError(
                path, gettext("%(item)r n'est pas une catégorie de licence (1, 2 ou 3).") % {"item": item}
            )
        if item not in out:
            out.append(item)
    return sorted(out)


def _organisations(value: Any, path: str) -> list[str]:
    from dataspace.referentials.models import Organisation

    if not isinstance(value, list) or not value:
        raise PolicyError(path, gettext("Nommez au moins une structure partenaire (son UUID)."))
    out: list[str] = []
    for item in value:
        try:
            ident = str(uuid.UUID(str(item)))
        except ValueError:
            raise PolicyError(path, gettext("%(item)r n'est pas l'UUID d'une organisation.") % {"item": item}) from None
        if ident not in out:
            out.append(ident)
    known = {str(pk) for pk in Organisation.objects.filter(pk__in=out).values_list("pk", flat=True)}
    missing = [ident for ident in out if ident not in known]
    if missing:
        raise PolicyError(path, gettext("Organisation(s) inconnue(s) : %(missing)s.") % {"missing": ", ".join(missing)})
    return out


def ministry_nodes() -> list[str]:
    """The ministry's node base URLs by default: setting POLICY_MINISTRY_NODES, else this node if it is one."""
    configured = getattr(settings, "POLICY_MINISTRY_NODES", None)
    if configured:
        return [str(url).rstrip("/") for url in configured]
    if "ministry" in getattr(settings, "NODE_ROLES", ()):
        return [str(settings.NODE_BASE_URL).rstrip("/")]
    return []


def _nodes(value: Any, path: str) -> list[str]:
    if value is None or value == []:
        nodes = ministry_nodes()
        if not nodes:
            raise PolicyError(path, gettext("Indiquez le nœud du ministère (son adresse) : ce nœud ne la connaît pas."))
        return nodes
    if not isinstance(value, list):
        raise PolicyError(path, gettext("Les nœuds sont une liste d'adresses."))
    out: list[str] = []
    for item in value:
        if not isinstance(item, str) or not item.startswith(("http://", "https://")) or " " in item:
            raise PolicyError(
                path, gettext("%(item)r n'est pas l'adresse d'un nœud (http:// ou https://).") % {"item": item}
            )
        if item.rstrip("/") not in out:
            out.append(item.rstrip("/"))
    return out


def _purposes(value: Any, path: str) -> list[str]:
    if not isinstance(value, list) or not value:
        raise PolicyError(
            path, gettext("Choisissez au moins une finalité parmi : %(purposes)s.") % {"purposes": ", ".join(PURPOSES)}
        )
    out: list[str] = []
    for item in value:
        if item not in PURPOSES:
            raise PolicyError(
                path,
                gettext("%(item)r n'est pas une finalité du vocabulaire (%(purposes)s).")
                % {"item": item, "purposes": ", ".join(PURPOSES)},
            )
        if item not in out:
            out.append(item)
    return out


def _date(value: Any, path: str, today: dt.date) -> str:
    if isinstance(value, dt.datetime):
        value = value.date()
    if isinstance(value, str):
        try:
            value = dt.date.fromisoformat(value.strip())
        except ValueError:
            raise PolicyError(path, gettext("%(value)r n'est pas une date (AAAA-MM-JJ).") % {"value": value}) from None
    if not isinstance(value, dt.date):
        raise PolicyError(path, gettext("Donnez la date sous la forme AAAA-MM-JJ."))
    if value < today:
        raise PolicyError(path, gettext("La date du %(date)s est passée.") % {"date": value.strftime("%d/%m/%Y")})
    return value.isoformat()


_PARAMETERS: dict[str, tuple[str, ...]] = {
    "public": (),
    "licensed_only": ("categories",),
    "named_partners": ("organisations",),
    "ministry_aggregates_only": ("nodes",),
    "no_redistribution": (),
    "purpose_limited": ("purposes",),
    "expires_on": ("date",),
}


def node_today() -> dt.date:
    return dt.datetime.now(zoneinfo.ZoneInfo(str(settings.NODE_TIME_ZONE))).date()


def validate_templates(templates: Any, *, today: dt.date | None = None) -> list[dict[str, Any]]:
    """The templates checked and normalised (parameters in canonical form), or `PolicyError`."""
    if not isinstance(templates, list):
        raise PolicyError("templates", gettext("Les modèles sont une liste d'objets avec un « name »."))
    today = today or node_today()
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for i, raw in enumerate(templates):
        path = f"templates[{i}]"
        if isinstance(raw, str):
            raw = {"name": raw}
        if not isinstance(raw, dict) or not isinstance(raw.get("name"), str):
            raise PolicyError(path, gettext("Chaque modèle est un objet avec un « name »."))
        name = raw["name"]
        if name not in _PARAMETERS:
            raise PolicyError(
                f"{path}.name",
                gettext("Modèle inconnu « %(name)s » ; modèles connus : %(known)s.")
                % {"name": name, "known": ", ".join(TEMPLATE_NAMES)},
            )
        if name in seen:
            raise PolicyError(f"{path}.name", gettext("Le modèle « %(name)s » est choisi deux fois.") % {"name": name})
        seen.add(name)
        for key in raw:
            if key != "name" and key not in _PARAMETERS[name]:
                raise PolicyError(
                    f"{path}.{key}",
                    gettext("Le modèle « %(name)s » n'a pas de paramètre « %(key)s ».") % {"name": name, "key": key},
                )
        item: dict[str, Any] = {"name": name}
        if name == "licensed_only":
            categories = _categories(raw.get("categories"), f"{path}.categories")
            if categories:
                item["categories"] = categories
        elif name == "named_partners":
            item["organisations"] = _organisations(raw.get("organisations"), f"{path}.organisations")
        elif name == "ministry_aggregates_only":
            item["nodes"] = _nodes(raw.get("nodes"), f"{path}.nodes")
        elif name == "purpose_limited":
            item["purposes"] = _purposes(raw.get("purposes"), f"{path}.purposes")
        elif name == "expires_on":
            item["date"] = _date(raw.get("date"), f"{path}.date", today)
        out.append(item)
    if seen & set(RESTRICTING) and not seen & set(GRANTING):
        index = next(i for i, t in enumerate(out) if t["name"] in RESTRICTING)
        raise PolicyError(
            f"templates[{index}].name",
            gettext(
                "Un modèle qui restreint (finalités, date de fin) a besoin d'un modèle qui ouvre l'accès "
                "(public, professionnels licenciés, partenaires nommés ou agrégats pour le ministère)."
            ),
        )
    return out


def end_of_day(day: dt.date) -> dt.datetime:
    """The last second of `day` in the node's time zone (an `expires_on` date is included)."""
    zone = zoneinfo.ZoneInfo(str(settings.NODE_TIME_ZONE))
    return dt.datetime.combine(day, dt.time(23, 59, 59), tzinfo=zone)


# ---------------------------------------------------------------------------- composition


def compose(templates: list[dict[str, Any]], *, today: dt.date | None = None) -> tuple[Rule, ...]:
    """The rules of the policy made of `templates` (see the module docstring for how they combine)."""
    chosen = validate_templates(templates, today=today)
    restrictions: list[Constraint] = []
    for item in chosen:
        if item["name"] == "purpose_limited":
            restrictions.append(Constraint("purpose", "isAnyOf", tuple(item["purposes"])))
        elif item["name"] == "expires_on":
            restrictions.append(Constraint("dateTime", "lteq", end_of_day(dt.date.fromisoformat(item["date"]))))
    rules: list[Rule] = []
    for item in chosen:
        name = item["name"]
        if name not in GRANTING:
            continue
        constraints: list[Constraint] = []
        duties = (Duty("journal"),)
        if name == "public":
            duties = (Duty("attribute"),)
        elif name == "licensed_only":
            constraints.append(Constraint("licensed", "eq", True))
            if item.get("categories"):
                constraints.append(Constraint("licenceCategory", "isAnyOf", tuple(item["categories"])))
        elif name == "named_partners":
            constraints.append(Constraint("organisation", "isAnyOf", tuple(item["organisations"])))
        elif name == "ministry_aggregates_only":
            constraints.append(Constraint("node", "isAnyOf", tuple(item["nodes"])))
        rules.append(Rule("permission", GRANTS[name], (*constraints, *restrictions), duties))
    if any(item["name"] == "no_redistribution" for item in chosen):
        rules.append(Rule("prohibition", ("redistribute",)))
    return tuple(rules)


def public_rules() -> tuple[Rule, ...]:
    """The rules of the `public` template alone (the default policy of the referentials)."""
    return compose([{"name": "public"}])


# ---------------------------------------------------------------------------- description


def list_templates() -> list[dict[str, Any]]:
    """Each template: name, French label and help, what it does, its parameters (for the API and the admin)."""
    parameters: dict[str, list[dict[str, Any]]] = {
        "public": [],
        "licensed_only": [
            {
                "name": "categories",
                "label": str(_("Catégories de licence")),
                "type": "list[int]",
                "required": False,
                "choices": [
                    {"value": 1, "label": str(_("1 — exploitant de lieu"))},
                    {"value": 2, "label": str(_("2 — producteur, entrepreneur de tournées"))},
                    {"value": 3, "label": str(_("3 — diffuseur"))},
                ],
            }
        ],
        "named_partners": [
            {
                "name": "organisations",
                "label": str(_("Structures partenaires")),
                "type": "list[uuid]",
                "required": True,
            }
        ],
        "ministry_aggregates_only": [
            {
                "name": "nodes",
                "label": str(_("Nœud du ministère")),
                "type": "list[url]",
                "required": not ministry_nodes(),
                "default": ministry_nodes(),
            }
        ],
        "no_redistribution": [],
        "purpose_limited": [
            {
                "name": "purposes",
                "label": str(_("Finalités autorisées")),
                "type": "list[str]",
                "required": True,
                "choices": [{"value": p, "label": str(PURPOSE_LABELS[p])} for p in PURPOSES],
            }
        ],
        "expires_on": [{"name": "date", "label": str(_("Date de fin (incluse)")), "type": "date", "required": True}],
    }
    kinds = {
        **dict.fromkeys(GRANTING, "grant"),
        **dict.fromkeys(RESTRICTING, "restrict"),
        "no_redistribution": "prohibit",
    }
    return [
        {
            "name": name,
            "label": str(TEMPLATE_LABELS[name][0]),
            "help": str(TEMPLATE_LABELS[name][1]),
            "kind": kinds[name],
            "grants": list(GRANTS.get(name, ())),
            "parameters": parameters[name],
        }
        for name in TEMPLATE_NAMES
    ]
