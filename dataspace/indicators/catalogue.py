"""The ministry's indicator catalogue: versioned definitions, their validation and their evaluation.

An indicator (`IndicatorDefinition`) is computed from the **additive measures** of
`dataspace.indicators.aggregate.local_aggregate` (sums that can be added across structures and
nodes, which is what a campaign combines). Its `computation` is a small declarative spec:

* `{"op": "sum", "measure": m}` — the combined sum of one measure (attendance, receipts…);
* `{"op": "ratio", "num": m1, "den": m2, "decimals": 2}` — sum(m1) / sum(m2), rounded half up to
  `decimals` places (0 to 6, default 2): the average price is receipts / paying_tickets;
* `{"op": "share", "num": m1, "den": m2, "decimals": 1}` — 100 × sum(m1) / sum(m2), a percentage
  (default 1 decimal): the fill rate is attendance / capacity.

A ratio or share is never computed from per-structure ratios: always from the combined sums, so
that it can be added up across nodes and checked against statistical secrecy component by
component (`measures_of`). `evaluate` answers None when the denominator is 0 (a free show has no
average price), never raises a division by zero.

`check_definition` validates a definition and names the faulty field (`code`, `unit`,
`period_rule`, `dimensions`, `computation`) in a `ValidationError`, in French; it also checks that
the unit fits the computation (a share is in per cent and only a share is; a sum is in euros
exactly when its measure is an amount) and that the `month` dimension is only offered by
indicators whose period rule is the month.

Versions: `publish_definition` adds version n+1 of a code (or returns the current one when nothing
changed); an old version is never rewritten (`IndicatorDefinition.save`). The current definition of
a code is its highest active version. `seed_catalogue` installs the built-in definitions
(`BUILTIN`), idempotently: a built-in definition that some version already holds word for word is
left alone, so re-seeding neither duplicates nor reverts the ministry's later versions.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from dataspace.indicators.aggregate import AMOUNTS, DIMENSIONS, MEASURES
from dataspace.indicators.models import IndicatorDefinition

#: The node role that holds the catalogue.
MINISTRY_ROLE = "ministry"
#: Computation operators.
OPS: tuple[str, ...] = ("sum", "ratio", "share")
#: Keys each operator takes (besides "op").
_KEYS: dict[str, tuple[str, ...]] = {
    "sum": ("measure",),
    "ratio": ("num", "den", "decimals"),
    "share": ("num", "den", "decimals"),
}
#: Default rounding of a ratio (cents for a price) and of a share (one decimal of a percentage).
DEFAULT_DECIMALS: dict[str, int] = {"ratio": 2, "share": 1}
MAX_DECIMALS = 6
CODE_MAX_LENGTH = 50

#: French names of the dimensions of `local_aggregate`, in its order.
DIMENSION_LABELS: dict[str, Promise] = {
    "discipline": gettext_lazy("discipline"),
    "region": gettext_lazy("région"),
    "departement": gettext_lazy("département"),
    "month": gettext_lazy("mois"),
    "quarter": gettext_lazy("trimestre"),
    "venue_type": gettext_lazy("type de lieu"),
}
#: French names of the additive measures of `local_aggregate`, in its order.
MEASURE_LABELS: dict[str, Promise] = {
    "figures": gettext_lazy("lignes de chiffres déclarées"),
    "performances": gettext_lazy("représentations"),
    "young_audience_performances": gettext_lazy("représentations jeune public"),
    "accessible_performances": gettext_lazy("représentations accessibles"),
    "attendance": gettext_lazy("entrées (tous billets, exonérés compris)"),
    "paying_tickets": gettext_lazy("billets payants"),
    "tickets_full_price": gettext_lazy("billets plein tarif"),
    "tickets_subscription": gettext_lazy("billets abonnement / pass"),
    "tickets_exempt": gettext_lazy("billets exonérés / gratuits"),
    "receipts": gettext_lazy("recette totale (€)"),
    "receipts_full_price": gettext_lazy("recette plein tarif (€)"),
    "capacity": gettext_lazy("jauge (places offertes)"),
}


class CatalogueError(ValueError):
    """A cell that cannot be evaluated (a measure missing or not a number)."""


def is_ministry_node() -> bool:
    """The catalogue lives on nodes with the `ministry` role only."""
    return MINISTRY_ROLE in settings.NODE_ROLES


# ---------------------------------------------------------------------------- validation


def _known(names: Iterable[str]) -> str:
    return ", ".join(names)


def _check_measure(spec: Mapping[str, Any], key: str, errors: list[str]) -> str | None:
    value = spec.get(key)
    if not isinstance(value, str) or not value:
        errors.append(_("computation.%(key)s : une mesure est attendue.") % {"key": key})
        return None
    if value not in MEASURES:
        errors.append(
            _("computation.%(key)s : mesure inconnue « %(value)s » ; mesures connues : %(known)s.")
            % {"key": key, "value": value, "known": _known(MEASURES)}
        )
        return None
    return value


def check_computation(spec: Any) -> dict[str, Any]:
    """The normalised computation spec (see the module docstring); ValidationError on `computation`."""
    errors: list[str] = []
    if not isinstance(spec, Mapping):
        raise ValidationError({"computation": [_("Le calcul doit être un objet JSON avec une clé « op ».")]})
    op = spec.get("op")
    if op not in OPS:
        raise ValidationError(
            {
                "computation": [
                    _("computation.op : opération inconnue « %(op)s » ; opérations connues : %(known)s.")
                    % {"op": op, "known": _known(OPS)}
                ]
            }
        )
    unknown = sorted(str(key) for key in spec if key != "op" and key not in _KEYS[op])
    for key in unknown:
        errors.append(
            _("computation.%(key)s : clé inconnue pour l'opération « %(op)s » (clés permises : %(known)s).")
            % {"key": key, "op": op, "known": _known(_KEYS[op])}
        )
    normalised: dict[str, Any] = {"op": op}
    if op == "sum":
        normalised["measure"] = _check_measure(spec, "measure", errors)
    else:
        normalised["num"] = _check_measure(spec, "num", errors)
        normalised["den"] = _check_measure(spec, "den", errors)
        if normalised["num"] is not None and normalised["num"] == normalised["den"]:
            errors.append(_("computation.den : le dénominateur doit différer du numérateur."))
        decimals = spec.get("decimals", DEFAULT_DECIMALS[op])
        if isinstance(decimals, bool) or not isinstance(decimals, int) or not 0 <= decimals <= MAX_DECIMALS:
            errors.append(
                _("computation.decimals : un entier de 0 à %(max)s est attendu (reçu « %(value)s »).")
                % {"max": MAX_DECIMALS, "value": decimals}
            )
        normalised["decimals"] = decimals
    if errors:
        raise ValidationError({"computation": errors})
    return normalised


def check_dimensions(dimensions: Any) -> list[str]:
    """The allowed dimensions in `local_aggregate`'s order, without repeats; ValidationError on `dimensions`."""
    if not isinstance(dimensions, list | tuple) or not all(isinstance(name, str) for name in dimensions):
        raise ValidationError({"dimensions": [_("Une liste de noms de dimensions est attendue.")]})
    unknown = [name for name in dimensions if name not in DIMENSIONS]
    if unknown:
        raise ValidationError(
            {
                "dimensions": [
                    _("dimension inconnue « %(name)s » ; dimensions connues : %(known)s.")
                    % {"name": name, "known": _known(DIMENSIONS)}
                    for name in unknown
                ]
            }
        )
    return [name for name in DIMENSIONS if name in dimensions]


def check_definition(fields: Mapping[str, Any]) -> dict[str, Any]:
    """Validate a definition's `code`, `unit`, `period_rule`, `dimensions` and `computation`.

    Returns the fields with `dimensions` and `computation` normalised; raises one ValidationError
    naming every faulty field at once (French messages).
    """
    errors: dict[str, list[str]] = {}
    normalised = dict(fields)
    code = fields.get("code")
    if (
        not isinstance(code, str)
        or not code
        or len(code) > CODE_MAX_LENGTH
        or not code[0].isascii()
        or not code[0].isalpha()
        or not all(char.isascii() and (char.islower() or char.isdigit() or char == "_") for char in code)
    ):
        errors["code"] = [
            _(
                "Le code commence par une lettre et ne contient que des minuscules, des chiffres et « _ » "
                "(%(max)s caractères au plus)."
            )
            % {"max": CODE_MAX_LENGTH}
        ]
    unit = fields.get("unit")
    if unit not in IndicatorDefinition.Unit.values:
        errors["unit"] = [
            _("unité inconnue « %(value)s » ; unités connues : %(known)s.")
            % {"value": unit, "known": _known(IndicatorDefinition.Unit.values)}
        ]
    rule = fields.get("period_rule")
    if rule not in IndicatorDefinition.PeriodRule.values:
        errors["period_rule"] = [
            _("règle de période inconnue « %(value)s » ; règles connues : %(known)s.")
            % {"value": rule, "known": _known(IndicatorDefinition.PeriodRule.values)}
        ]
    for name, check in (("dimensions", check_dimensions), ("computation", check_computation)):
        try:
            normalised[name] = check(fields.get(name))
        except ValidationError as exc:
            errors.update(exc.message_dict)
    computation = normalised.get("computation") if "computation" not in errors else None
    if computation is not None and "unit" not in errors:
        message = _unit_mismatch(computation, str(unit))
        if message:
            errors["unit"] = [message]
    if "dimensions" not in errors and "month" in normalised["dimensions"] and rule == "quarter":
        errors["dimensions"] = [
            _("la dimension « mois » demande la règle de période « %(rule)s ».")
            % {"rule": IndicatorDefinition.PeriodRule.MONTH.label}
        ]
    if errors:
        raise ValidationError(errors)
    return normalised


def _unit_mismatch(computation: Mapping[str, Any], unit: str) -> str | None:
    Unit = IndicatorDefinition.Unit
    op = computation["op"]
    if op == "share" and unit != Unit.PERCENT:
        return _("une part (share) s'exprime en pour cent : unité « percent ».")
    if op != "share" and unit == Unit.PERCENT:
        return _("seule une part (share) s'exprime en pour cent.")
    if op == "sum" and (computation["measure"] in AMOUNTS) != (unit == Unit.EUROS):
        if unit == Unit.EUROS:
            return _("l'unité « euros » demande une mesure en euros (%(known)s).") % {"known": _known(sorted(AMOUNTS))}
        return _("la mesure « %(measure)s » est en euros : unité « euros ».") % {"measure": computation["measure"]}
    return None


def measures_of(definition: IndicatorDefinition | Mapping[str, Any]) -> tuple[str, ...]:
    """The additive measures an indicator combines: a ratio or share is suppressed when one is."""
    spec = _spec(definition)
    return (spec["measure"],) if spec["op"] == "sum" else (spec["num"], spec["den"])


def allowed_period(definition: IndicatorDefinition, start: dt.date, end: dt.date) -> bool:
    """Whether [start, end] (both included) is a whole number of the definition's periods
    (months for the month rule, calendar quarters for the quarter rule)."""
    if end < start or start.day != 1 or (end + dt.timedelta(days=1)).day != 1:
        return False
    if definition.period_rule == IndicatorDefinition.PeriodRule.QUARTER:
        return start.month % 3 == 1 and end.month % 3 == 0
    return True


# ---------------------------------------------------------------------------- evaluation


def _spec(definition: IndicatorDefinition | Mapping[str, Any]) -> dict[str, Any]:
    if isinstance(definition, IndicatorDefinition):
        return check_computation(definition.computation)
    return check_computation(definition)


def _number(values: Mapping[str, Any], measure: str) -> Decimal:
    if measure not in values or values[measure] is None:
        raise CatalogueError(f"the cell has no value for the measure {measure!r}")
    value = values[measure]
    if isinstance(value, bool | float):
        raise CatalogueError(f"measure {measure!r}: {value!r} is not an integer or a decimal")
    try:
        return Decimal(str(value))
    except InvalidOperation:
        raise CatalogueError(f"measure {measure!r}: {value!r} is not a number") from None


def _values(cell: Mapping[str, Any]) -> Mapping[str, Any]:
    inner = cell.get("values")
    return inner if isinstance(inner, Mapping) else cell


def combine(cells: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """The measures of several partial cells (plain `{measure: value}` mappings or cell documents
    with `values`) added up measure by measure: amounts as Decimal (two decimals), counts as int."""
    total: dict[str, Decimal] = {}
    for cell in cells:
        values = _values(cell)
        for measure in values:
            total[measure] = total.get(measure, Decimal(0)) + _number(values, measure)
    return {m: value.quantize(Decimal("0.01")) if m in AMOUNTS else int(value) for m, value in total.items()}


def evaluate(definition: IndicatorDefinition | Mapping[str, Any], cell: Mapping[str, Any]) -> int | Decimal | None:
    """The indicator's value for one cell of combined additive measures.

    `definition` is an IndicatorDefinition or a computation spec; `cell` is `{measure: sum}` or a
    cell document of `local_aggregate` (its `values` are read). A sum answers the measure (an int,
    or Decimal euros with two decimals); a ratio num/den and a share 100·num/den answer a Decimal
    rounded half up to the spec's `decimals`, and None when the denominator is 0. Raises
    CatalogueError when a measure the computation needs is missing or not a number.
    """
    spec = _spec(definition)
    values = _values(cell)
    if spec["op"] == "sum":
        measure = spec["measure"]
        total = _number(values, measure)
        return total.quantize(Decimal("0.01")) if measure in AMOUNTS else int(total)
    numerator, denominator = _number(values, spec["num"]), _number(values, spec["den"])
    if denominator == 0:
        return None
    result = numerator / denominator
    if spec["op"] == "share":
        result *= 100
    return result.quantize(Decimal(1).scaleb(-spec["decimals"]), rounding=ROUND_HALF_UP)


# ---------------------------------------------------------------------------- versions


#: What a version says (two versions saying the same are the same definition).
_CONTENT_FIELDS: tuple[str, ...] = ("label", "definition", "unit", "period_rule", "dimensions", "computation")


def _content(definition: IndicatorDefinition) -> dict[str, Any]:
    return {name: getattr(definition, name) for name in _CONTENT_FIELDS}


def current_definitions() -> list[IndicatorDefinition]:
    """The current definition of every code (its highest active version), by code."""
    current: dict[str, IndicatorDefinition] = {}
    for definition in IndicatorDefinition.objects.filter(active=True).order_by("code", "-version"):
        current.setdefault(definition.code, definition)
    return list(current.values())


def current_definition(code: str) -> IndicatorDefinition | None:
    """The highest active version of `code`, None when it has none."""
    return IndicatorDefinition.objects.filter(code=code, active=True).order_by("-version").first()


def publish_definition(
    code: str,
    *,
    label: str,
    definition: str,
    unit: str,
    period_rule: str,
    dimensions: list[str],
    computation: Mapping[str, Any],
    change_note: str = "",
    by: str = "",
) -> tuple[IndicatorDefinition, bool]:
    """Publish version n+1 of `code` (version 1 for a new code); `(definition, created)`.

    When the current version already says exactly this, it is returned unchanged (created False).
    Raises ValidationError naming the faulty fields. Older versions are left as they are.
    """
    candidate = IndicatorDefinition(
        code=code,
        label=label,
        definition=definition,
        unit=unit,
        period_rule=period_rule,
        dimensions=dimensions,  # clean() validates, then stores normalised copies
        computation=computation,
        change_note=change_note,
        created_by=by,
    )
    with transaction.atomic():
        candidate.version = IndicatorDefinition.next_version(code)
        candidate.full_clean()
        current = current_definition(code)
        if current is not None and _content(current) == _content(candidate):
            return current, False
        candidate.save()
    return candidate, True


# ---------------------------------------------------------------------------- the built-in catalogue

_ALL = list(DIMENSIONS)
_NO_MONTH = [name for name in DIMENSIONS if name != "month"]

#: The built-in definitions (version 1 of each code), in French. Codes are stable identifiers.
BUILTIN: tuple[dict[str, Any], ...] = (
    {
        "code": "attendance",
        "label": "Fréquentation",
        "definition": "Nombre d'entrées : tous les billets émis, payants et exonérés, des représentations "
        "jouées dans la période (une série compte entière dans la période de sa première représentation).",
        "unit": "tickets",
        "period_rule": "month",
        "dimensions": _ALL,
        "computation": {"op": "sum", "measure": "attendance"},
    },
    {
        "code": "receipts",
        "label": "Recettes de billetterie",
        "definition": "Recette totale TTC de billetterie, en euros, telle que déclarée à SIBIL, des représentations "
        "jouées dans le trimestre.",
        "unit": "euros",
        "period_rule": "quarter",
        "dimensions": _NO_MONTH,
        "computation": {"op": "sum", "measure": "receipts"},
    },
    {
        "code": "average_price",
        "label": "Prix moyen du billet",
        "definition": "Recette totale divisée par le nombre de billets payants (les exonérés ne comptent pas), "
        "calculée sur les sommes de toutes les structures, jamais comme moyenne de moyennes ; sans objet "
        "quand aucun billet n'est payant.",
        "unit": "euros_per_ticket",
        "period_rule": "quarter",
        "dimensions": _NO_MONTH,
        "computation": {"op": "ratio", "num": "receipts", "den": "paying_tickets", "decimals": 2},
    },
    {
        "code": "fill_rate",
        "label": "Taux de remplissage",
        "definition": "Entrées (tous billets) rapportées aux places offertes (jauge cumulée des représentations), "
        "en pour cent ; sans objet quand aucune place n'est offerte.",
        "unit": "percent",
        "period_rule": "month",
        "dimensions": _ALL,
        "computation": {"op": "share", "num": "attendance", "den": "capacity", "decimals": 1},
    },
    {
        "code": "performances",
        "label": "Nombre de représentations",
        "definition": "Représentations jouées dans la période et couvertes par des chiffres de billetterie "
        "(une série compte pour autant de représentations qu'elle en couvre).",
        "unit": "performances",
        "period_rule": "month",
        "dimensions": _ALL,
        "computation": {"op": "sum", "measure": "performances"},
    },
    {
        "code": "young_audience_share",
        "label": "Part des représentations jeune public",
        "definition": "Représentations de spectacles jeune public rapportées à l'ensemble des représentations, "
        "en pour cent.",
        "unit": "percent",
        "period_rule": "month",
        "dimensions": _ALL,
        "computation": {"op": "share", "num": "young_audience_performances", "den": "performances", "decimals": 1},
    },
    {
        "code": "accessible_share",
        "label": "Part des représentations accessibles",
        "definition": "Représentations proposant au moins un dispositif d'accessibilité (langue des signes, "
        "audiodescription, surtitrage, boucle magnétique, représentation relax, facile à lire et à comprendre) "
        "rapportées à l'ensemble des représentations, en pour cent. L'accès en fauteuil roulant seul ne suffit pas.",
        "unit": "percent",
        "period_rule": "month",
        "dimensions": _ALL,
        "computation": {"op": "share", "num": "accessible_performances", "den": "performances", "decimals": 1},
    },
)


@dataclass
class SeedReport:
    created: list[str] = field(default_factory=list)  # "code vN"
    unchanged: list[str] = field(default_factory=list)


def seed_catalogue(*, by: str = "seed_indicator_catalogue") -> SeedReport:
    """Install the built-in definitions; idempotent (see the module docstring)."""
    report = SeedReport()
    with transaction.atomic():
        for entry in BUILTIN:
            fields = check_definition(entry)
            content = {name: fields[name] for name in _CONTENT_FIELDS}
            existing = next(
                (d for d in IndicatorDefinition.objects.filter(code=entry["code"]) if _content(d) == content), None
            )
            if existing is not None:
                report.unchanged.append(f"{existing.code} v{existing.version}")
                continue
            created, _created = publish_definition(
                entry["code"], **content, change_note="Définition initiale du catalogue.", by=by
            )
            report.created.append(f"{created.code} v{created.version}")
    return report


# ---------------------------------------------------------------------------- the public document


def _iso(moment: dt.datetime) -> str:
    return timezone.localtime(moment, dt.UTC).isoformat().replace("+00:00", "Z")


def _version_document(definition: IndicatorDefinition, current_version: int | None) -> dict[str, Any]:
    return {
        "version": definition.version,
        "active": definition.active,
        "current": definition.version == current_version,
        "label": definition.label,
        "definition": definition.definition,
        "unit": definition.unit,
        "unit_label": str(definition.get_unit_display()),
        "period_rule": definition.period_rule,
        "period_rule_label": str(definition.get_period_rule_display()),
        "dimensions": list(definition.dimensions),
        "computation": dict(definition.computation),
        "measures": list(measures_of(definition)),
        "change_note": definition.change_note,
        "published_at": _iso(definition.created_at),
    }


def catalogue_document() -> dict[str, Any]:
    """What `GET /api/v1/indicators/catalogue` answers (docs/indicators.md): every current
    definition with its whole version history (newest first), the dimensions and measures with
    their French names, and `as_of` (the last change of the catalogue)."""
    versions: dict[str, list[IndicatorDefinition]] = {}
    for definition in IndicatorDefinition.objects.order_by("code", "-version"):
        versions.setdefault(definition.code, []).append(definition)
    indicators: list[dict[str, Any]] = []
    last_change: dt.datetime | None = None
    for code, history in versions.items():
        last_change = max([last_change or history[0].updated_at, *(d.updated_at for d in history)])
        current = next((d for d in history if d.active), None)
        if current is None:
            continue  # withdrawn: no active version
        entry = {"code": code, **_version_document(current, current.version)}
        entry["versions"] = [_version_document(d, current.version) for d in history]
        indicators.append(entry)
    return {
        "as_of": _iso(last_change) if last_change else None,
        "dimensions": [{"code": name, "label": str(DIMENSION_LABELS[name])} for name in DIMENSIONS],
        "measures": [{"code": name, "label": str(MEASURE_LABELS[name])} for name in MEASURES],
        "indicators": indicators,
    }


def document_etag(document: Mapping[str, Any]) -> str:
    """A strong ETag of the document's content."""
    body = json.dumps(document, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return '"' + hashlib.sha256(body.encode()).hexdigest()[:32] + '"'
