"""ODRL 2.2 JSON-LD import and export in our profile (`policies.language` is the internal form).

* `parse_odrl(document)` reads an ODRL policy written in our profile and returns a `PolicyDoc`;
  anything outside the profile raises `PolicyError(field, message)` where `field` is a path such
  as ``permission[0].constraint[1].operator``.
* `to_odrl(doc, target=, assigner=)` writes the canonical document: the ODRL context IRI plus an
  inline context for our own terms, ``"@type": "Set"``, ``profile`` = `PROFILE_IRI`.
* `profile_description()` is the profile itself as JSON-LD (served at /api/v1/policies/profile).

Contexts are recognised by their IRI, never fetched. Round trip: ``parse_odrl(to_odrl(doc)) == doc``
for every document in the profile. The profile is documented in docs/policies.md.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Callable
from typing import Any

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from policies.language import (
    ACTIONS,
    DUTIES,
    LEFT_OPERANDS,
    OPERATORS,
    PURPOSES,
    Constraint,
    Duty,
    PolicyDoc,
    PolicyError,
    Rule,
    RuleKind,
)

#: The IRI of our ODRL profile (an example domain: it names the profile, nothing is fetched there).
PROFILE_IRI = "https://scene-commune.example/odrl/profile/v1"
#: Namespace of the profile's own terms (`sc:search`, `sc:licensed`…).
PROFILE_NS = PROFILE_IRI + "#"
ODRL_CONTEXT = "http://www.w3.org/ns/odrl.jsonld"
ODRL_NS = "http://www.w3.org/ns/odrl/2/"
XSD_NS = "http://www.w3.org/2001/XMLSchema#"
#: Policy types accepted on import (a Set is written on export).
POLICY_TYPES = ("Set", "Offer", "Agreement", "Policy")

#: Terms of the ODRL vocabulary we use as they are; every other term of the profile is ours (sc:).
ODRL_TERMS = frozenset(
    {"read", "modify", "aggregate", "attribute", "purpose", "dateTime", "elapsedTime", "count", "recipient", *OPERATORS}
)
#: Profile terms that are not actions, operands, operators or duties: members of our documents.
PROFILE_MEMBERS = ("attributionText", "templates", "validFrom")

#: Staff roles known to `staffRole` (dataspace.node.models.StaffMembership).
STAFF_ROLES = ("administrator", "editor", "reader")
LICENCE_CATEGORIES = (1, 2, 3)

#: Operators each left operand accepts.
SET_OPERATORS = ("eq", "neq", "isAnyOf", "isNoneOf")
OPERAND_OPERATORS: dict[str, tuple[str, ...]] = {
    "licensed": ("eq",),
    "licenceCategory": SET_OPERATORS,
    "organisation": SET_OPERATORS,
    "node": SET_OPERATORS,
    "staffRole": SET_OPERATORS,
    "purpose": SET_OPERATORS,
    "dateTime": ("lt", "lteq", "gt", "gteq"),
    "elapsedTime": ("lt", "lteq"),
    "count": ("lt", "lteq"),
    "recipient": SET_OPERATORS,
    "region": SET_OPERATORS,
}
#: The value type of each left operand's right operand, as named in the profile description.
OPERAND_TYPES: dict[str, str] = {
    "licensed": "xsd:boolean",
    "licenceCategory": "xsd:integer (1, 2 or 3), one or a list",
    "organisation": "organisation UUID, one or a list",
    "node": "node base URL, one or a list",
    "staffRole": "administrator | editor | reader, one or a list",
    "purpose": "one or a list of: " + ", ".join(PURPOSES),
    "dateTime": "xsd:dateTime with a time zone",
    "elapsedTime": "xsd:duration (ISO 8601, days and times: P30D, PT12H)",
    "count": "xsd:nonNegativeInteger (uses per assignee per day)",
    "recipient": "organisation UUID, one or a list",
    "region": "region name, one or a list",
}

_DURATION = re.compile(
    r"^P(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?"
    r"(?:T(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+(?:\.\d+)?)S)?)?$"
)


# ---------------------------------------------------------------------------- terms


def term_iri(name: str) -> str:
    """The full IRI of a term of the profile (ODRL's own for ODRL terms, ours otherwise)."""
    return (ODRL_NS if name in ODRL_TERMS else PROFILE_NS) + name


def _term(value: Any, allowed: tuple[str, ...], path: str, what: str) -> str:
    # `what` names the kind of term, in French (translated by the caller).
    """A term given as `name`, `odrl:name` / `sc:name` or its full IRI; refused if not in `allowed`."""
    if isinstance(value, dict) and set(value) == {"@id"}:
        value = value["@id"]
    if not isinstance(value, str) or not value:
        raise PolicyError(
            path,
            _("Attendu (%(what)s) : une chaîne parmi %(allowed)s.") % {"what": what, "allowed": ", ".join(allowed)},
        )
    name = value
    for prefix, namespace in (("odrl:", ODRL_NS), (ODRL_NS, ODRL_NS), ("sc:", PROFILE_NS), (PROFILE_NS, PROFILE_NS)):
        if value.startswith(prefix):
            name = value[len(prefix) :]
            if name in allowed and term_iri(name) != namespace + name:
                other = _("de notre profil (sc:)") if namespace == ODRL_NS else _("du vocabulaire ODRL (odrl:)")
                raise PolicyError(
                    path,
                    _("« %(name)s » est un terme %(other)s : écrivez « %(name)s » ou « %(iri)s ».")
                    % {"name": name, "other": other, "iri": term_iri(name)},
                )
            break
    if name not in allowed:
        raise PolicyError(
            path,
            _("« %(value)s » n'est pas admis par le profil (%(what)s) ; valeurs admises : %(allowed)s.")
            % {"value": value, "what": what, "allowed": ", ".join(allowed)},
        )
    return name


def _listed(value: Any, path: str, what: str) -> list[Any]:
    """A JSON-LD set: a list, or one object standing for a list of one."""
    if isinstance(value, dict):
        return [value]
    if not isinstance(value, list):
        raise PolicyError(
            path,
            _("« %(member)s » doit être une liste (%(what)s).") % {"member": path.rsplit(".", 1)[-1], "what": what},
        )
    return value


def _object(value: Any, path: str, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise PolicyError(path, _("Chaque élément (%(what)s) doit être un objet JSON.") % {"what": what})
    return value


def _refuse_unknown(obj: dict[str, Any], allowed: set[str], path: str, hints: dict[str, Any]) -> None:
    for key in obj:
        if key in allowed:
            continue
        where = f"{path}.{key}" if path else key
        hint = hints.get(key)
        raise PolicyError(
            where, str(hint) if hint else _("« %(key)s » n'est pas un membre du profil ici.") % {"key": key}
        )


# ---------------------------------------------------------------------------- values


def _unwrap(value: Any, path: str, types: tuple[str, ...]) -> Any:
    """A JSON-LD value object {"@value", "@type"} as its value; its type must be one of `types`."""
    if isinstance(value, dict):
        if "@value" not in value or set(value) - {"@value", "@type"}:
            raise PolicyError(path, _('Une valeur typée s\'écrit {"@value": …, "@type": …}.'))
        declared = value.get("@type")
        if declared is not None:
            full = {f"xsd:{t}" for t in types} | {XSD_NS + t for t in types}
            if declared not in full:
                raise PolicyError(
                    path,
                    _("Le type de la valeur doit être xsd:%(types)s, pas « %(declared)s ».")
                    % {"types": _(" ou xsd:").join(types), "declared": declared},
                )
        return value["@value"]
    return value


def parse_datetime(value: Any, path: str) -> dt.datetime:
    raw = _unwrap(value, path, ("dateTime",))
    if not isinstance(raw, str):
        raise PolicyError(
            path, _("Une date et heure est une chaîne xsd:dateTime, par exemple 2027-12-31T23:59:59+01:00.")
        )
    try:
        parsed = dt.datetime.fromisoformat(raw.replace("Z", "+00:00") if raw.endswith("Z") else raw)
    except ValueError:
        raise PolicyError(
            path, _("« %(raw)s » n'est pas un xsd:dateTime (par exemple 2027-12-31T23:59:59+01:00).") % {"raw": raw}
        ) from None
    if parsed.tzinfo is None or "T" not in raw:
        raise PolicyError(
            path,
            _(
                "« %(raw)s » doit avoir une date, une heure et un fuseau horaire "
                "(par exemple 2027-12-31T23:59:59+01:00)."
            )
            % {"raw": raw},
        )
    return parsed


def format_datetime(value: dt.datetime) -> str:
    return value.isoformat()


def parse_duration(value: Any, path: str) -> dt.timedelta:
    """An ISO 8601 duration in weeks, days and times (months and years have no fixed length: refused)."""
    raw = _unwrap(value, path, ("duration", "dayTimeDuration"))
    match = _DURATION.match(raw) if isinstance(raw, str) else None
    if match is None or raw in ("P", "PT") or raw.endswith("T"):
        raise PolicyError(
            path,
            _(
                "« %(raw)s » n'est pas une durée ISO 8601 en semaines, jours ou heures "
                "(par exemple P30D, PT12H ; ni mois ni années)."
            )
            % {"raw": raw},
        )
    parts = {key: float(val) for key, val in match.groupdict().items() if val is not None}
    return dt.timedelta(**parts)


def format_duration(value: dt.timedelta) -> str:
    """The ISO 8601 form of a duration: P30D, PT12H, P1DT2H30M."""
    total = value.total_seconds()
    if total < 0:
        raise ValueError("negative duration")
    days, rest = divmod(int(total), 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    fraction = total - int(total)
    text = "P" + (f"{days}D" if days else "")
    clock = (f"{hours}H" if hours else "") + (f"{minutes}M" if minutes else "")
    if seconds or fraction:
        clock += f"{seconds + fraction:g}S"
    if clock:
        text += "T" + clock
    return text if text != "P" else "PT0S"


def _scalars(value: Any, operator: str, path: str) -> list[Any]:
    items = value if isinstance(value, list) else [value]
    if not items:
        raise PolicyError(path, _("La liste des valeurs ne doit pas être vide."))
    if operator in ("eq", "neq") and len(items) != 1:
        raise PolicyError(
            path,
            _("L'opérateur « %(operator)s » prend une seule valeur ; pour une liste, utilisez isAnyOf ou isNoneOf.")
            % {"operator": operator},
        )
    return items


def _dedup(items: list[Any]) -> tuple[Any, ...]:
    return tuple(dict.fromkeys(items))


def _category(value: Any, path: str) -> int:
    raw = _unwrap(value, path, ("integer", "int", "nonNegativeInteger", "positiveInteger"))
    if isinstance(raw, bool) or not isinstance(raw, int) or raw not in LICENCE_CATEGORIES:
        raise PolicyError(path, _("Une catégorie de licence est l'entier 1, 2 ou 3, pas %(raw)r.") % {"raw": raw})
    return raw


def _uuid(value: Any, path: str) -> str:
    try:
        return str(uuid.UUID(str(value))) if isinstance(value, str) else _bad_uuid(value, path)
    except ValueError:
        return _bad_uuid(value, path)


def _bad_uuid(value: Any, path: str) -> str:
    raise PolicyError(path, _("%(value)r n'est pas l'UUID d'une organisation.") % {"value": value})


def _node(value: Any, path: str) -> str:
    if not isinstance(value, str) or not re.match(r"^https?://[^\s/]+", value):
        raise PolicyError(path, _("%(value)r n'est pas l'adresse d'un nœud (http:// ou https://).") % {"value": value})
    return value.rstrip("/")


def _one_of(allowed: tuple[str, ...], what: Any) -> Callable[[Any, str], str]:
    def check(value: Any, path: str) -> str:
        if not isinstance(value, str) or value not in allowed:
            raise PolicyError(
                path,
                _("%(value)r n'est pas admis (%(what)s) ; valeurs admises : %(allowed)s.")
                % {"value": value, "what": what, "allowed": ", ".join(allowed)},
            )
        return value

    return check


def _region(value: Any, path: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise PolicyError(path, _("Une région est un nom non vide (par exemple Bretagne)."))
    return value.strip()


_SET_ITEMS: dict[str, Callable[[Any, str], Any]] = {
    "licenceCategory": _category,
    "organisation": _uuid,
    "recipient": _uuid,
    "node": _node,
    "staffRole": _one_of(STAFF_ROLES, gettext_lazy("rôle dans la structure")),
    "purpose": _one_of(PURPOSES, gettext_lazy("finalité du vocabulaire")),
    "region": _region,
}


def _right_operand(left: str, operator: str, value: Any, path: str) -> Any:
    if left in _SET_ITEMS:
        check = _SET_ITEMS[left]
        items = _scalars(value, operator, path)
        many = isinstance(value, list)
        values = []
        for i, item in enumerate(items):
            where = f"{path}[{i}]" if many else path
            if isinstance(item, dict) and left != "licenceCategory":
                item = _unwrap(item, where, ("string", "anyURI", "token"))
            values.append(check(item, where))
        return _dedup(values)
    if left == "licensed":
        raw = _unwrap(value, path, ("boolean",))
        if isinstance(raw, str) and raw in ("true", "false"):
            raw = raw == "true"
        if not isinstance(raw, bool):
            raise PolicyError(path, _("« licensed » prend la valeur true ou false."))
        return raw
    if left == "dateTime":
        return parse_datetime(value, path)
    if left == "elapsedTime":
        return parse_duration(value, path)
    # count
    raw = _unwrap(value, path, ("integer", "int", "nonNegativeInteger", "positiveInteger"))
    if isinstance(raw, bool) or not isinstance(raw, int) or raw < 0:
        raise PolicyError(
            path, _("« count » prend un entier positif ou nul (utilisations par bénéficiaire et par jour).")
        )
    return raw


def _right_to_odrl(constraint: Constraint) -> Any:
    left, right = constraint.left, constraint.right
    if left in _SET_ITEMS:
        values = list(right)
        return values[0] if constraint.operator in ("eq", "neq") and len(values) == 1 else values
    if left == "dateTime":
        return {"@value": format_datetime(right), "@type": "xsd:dateTime"}
    if left == "elapsedTime":
        return {"@value": format_duration(right), "@type": "xsd:duration"}
    return right


# ---------------------------------------------------------------------------- parse

# Hints for members outside the profile (French, translated when the error is raised).
_CONSTRAINT_HINTS: dict[str, Any] = {
    "and": gettext_lazy(
        "Les contraintes logiques (and, or, xone, andSequence) ne font pas partie du profil : listez les "
        "contraintes (toutes doivent être remplies) ou écrivez des permissions distinctes (alternatives)."
    ),
    "unit": gettext_lazy("Les unités ne font pas partie du profil."),
    "dataType": gettext_lazy('dataType ne fait pas partie du profil : utilisez une valeur typée {"@value", "@type"}.'),
    "rightOperandReference": gettext_lazy(
        "rightOperandReference ne fait pas partie du profil : donnez la valeur elle-même."
    ),
    "status": gettext_lazy("status ne fait pas partie du profil."),
}
for _logical in ("or", "xone", "andSequence"):
    _CONSTRAINT_HINTS[_logical] = _CONSTRAINT_HINTS["and"]

_RULE_HINTS: dict[str, Any] = {
    "assignee": gettext_lazy(
        "Les parties bénéficiaires (assignee) ne font pas partie du profil : contraignez plutôt le "
        "bénéficiaire (leftOperand organisation, node, licensed, licenceCategory, staffRole)."
    ),
    "assigner": gettext_lazy("assigner doit être l'IRI de l'organisation propriétaire (une chaîne)."),
    "refinement": gettext_lazy("Les raffinements ne font pas partie du profil : mettez des contraintes sur la règle."),
    "remedy": gettext_lazy("Les remèdes (remedy) ne font pas partie du profil."),
    "consequence": gettext_lazy("Les conséquences (consequence) ne font pas partie du profil."),
    "failure": gettext_lazy("Les manquements (failure) ne font pas partie du profil."),
    "uid": gettext_lazy("Les règles n'ont pas d'uid dans le profil."),
}

_POLICY_HINTS: dict[str, Any] = {
    "obligation": gettext_lazy(
        "Les obligations de premier niveau ne font pas partie du profil : attachez les devoirs à une permission."
    ),
    "assignee": _RULE_HINTS["assignee"],
    "inheritFrom": gettext_lazy("L'héritage de politiques ne fait pas partie du profil."),
    "conflict": gettext_lazy(
        "La stratégie de conflit du profil est fixe : les interdictions l'emportent (« prohibit »)."
    ),
}


def _constraint(raw: Any, path: str) -> Constraint:
    obj = _object(raw, path, _("contrainte"))
    _refuse_unknown(obj, {"leftOperand", "operator", "rightOperand", "@type"}, path, _CONSTRAINT_HINTS)
    if obj.get("@type", "Constraint") not in ("Constraint", "odrl:Constraint", ODRL_NS + "Constraint"):
        raise PolicyError(f"{path}.@type", _("Le @type d'une contrainte, s'il est donné, est Constraint."))
    for member in ("leftOperand", "operator", "rightOperand"):
        if member not in obj:
            raise PolicyError(f"{path}.{member}", _("Une contrainte doit avoir « %(member)s ».") % {"member": member})
    left = _term(obj["leftOperand"], LEFT_OPERANDS, f"{path}.leftOperand", _("opérande de gauche"))
    operator = _term(obj["operator"], OPERATORS, f"{path}.operator", _("opérateur"))
    if operator not in OPERAND_OPERATORS[left]:
        raise PolicyError(
            f"{path}.operator",
            _("L'opérateur « %(operator)s » ne s'applique pas à « %(left)s » ; utilisez l'un de : %(allowed)s.")
            % {"operator": operator, "left": left, "allowed": ", ".join(OPERAND_OPERATORS[left])},
        )
    return Constraint(left, operator, _right_operand(left, operator, obj["rightOperand"], f"{path}.rightOperand"))


def _duty(raw: Any, path: str) -> Duty:
    obj = _object(raw, path, _("devoir"))
    if "action" not in obj:
        raise PolicyError(
            f"{path}.action", _("Un devoir doit avoir une « action » (journal, attribute ou deleteAfter).")
        )
    action = _term(obj["action"], DUTIES, f"{path}.action", _("devoir"))
    allowed = {"action", "@type"}
    if action == "attribute":
        allowed.add("attributionText")
    if action == "deleteAfter":
        allowed.add("constraint")
    hints: dict[str, Any] = {
        "constraint": _("Seul un devoir deleteAfter prend une contrainte (elapsedTime eq une durée)."),
        "attributionText": _("Seul un devoir attribute prend un attributionText."),
        **_RULE_HINTS,
    }
    _refuse_unknown(obj, allowed, path, hints)
    if action == "journal":
        return Duty("journal")
    if action == "attribute":
        text = obj.get("attributionText")
        if text is None:
            return Duty("attribute")
        if not isinstance(text, str) or not text.strip():
            raise PolicyError(f"{path}.attributionText", _("Le texte d'attribution doit être une chaîne non vide."))
        return Duty("attribute", text.strip())
    constraints = _listed(obj.get("constraint"), f"{path}.constraint", _("contraintes"))
    where = f"{path}.constraint"
    if len(constraints) != 1:
        raise PolicyError(
            where, _("Un devoir deleteAfter prend exactement une contrainte : elapsedTime eq une durée (P30D).")
        )
    item = _object(constraints[0], f"{where}[0]", _("contrainte"))
    _refuse_unknown(item, {"leftOperand", "operator", "rightOperand", "@type"}, f"{where}[0]", _CONSTRAINT_HINTS)
    if item.get("leftOperand") not in ("elapsedTime", "odrl:elapsedTime", ODRL_NS + "elapsedTime"):
        raise PolicyError(f"{where}[0].leftOperand", _("Un devoir deleteAfter est contraint par elapsedTime."))
    if item.get("operator") not in ("eq", "odrl:eq", ODRL_NS + "eq"):
        raise PolicyError(f"{where}[0].operator", _("Un devoir deleteAfter utilise l'opérateur eq."))
    return Duty("deleteAfter", parse_duration(item.get("rightOperand"), f"{where}[0].rightOperand"))


def _rule(raw: Any, kind: RuleKind, path: str) -> Rule:
    obj = _object(raw, path, _("règle"))
    allowed = {"action", "constraint", "target", "assigner", "@type"}
    if kind == "permission":
        allowed.add("duty")
    hints = dict(_RULE_HINTS)
    hints["duty"] = _("Une interdiction n'a pas de devoirs dans le profil.")
    _refuse_unknown(obj, allowed, path, hints)
    expected_type = "Permission" if kind == "permission" else "Prohibition"
    if obj.get("@type", expected_type) not in (expected_type, f"odrl:{expected_type}", ODRL_NS + expected_type):
        raise PolicyError(
            f"{path}.@type", _("Le @type de cette règle, s'il est donné, est %(type)s.") % {"type": expected_type}
        )
    for member in ("target", "assigner"):
        if member in obj and not isinstance(obj[member], str):
            raise PolicyError(
                f"{path}.{member}", _("« %(member)s » doit être une IRI (une chaîne).") % {"member": member}
            )
    if "action" not in obj:
        raise PolicyError(f"{path}.action", _("Une règle doit avoir une « action »."))
    raw_actions = obj["action"]
    if isinstance(raw_actions, dict) and set(raw_actions) != {"@id"}:
        raise PolicyError(
            f"{path}.action",
            _("Les actions raffinées ne font pas partie du profil : donnez des noms d'actions."),
        )
    listed = raw_actions if isinstance(raw_actions, list) else [raw_actions]
    if not listed:
        raise PolicyError(f"{path}.action", _("Une règle doit avoir au moins une action."))
    many = isinstance(raw_actions, list)
    actions = _dedup(
        [
            _term(a, ACTIONS, f"{path}.action[{i}]" if many else f"{path}.action", _("action"))
            for i, a in enumerate(listed)
        ]
    )
    constraints = tuple(
        _constraint(item, f"{path}.constraint[{i}]")
        for i, item in enumerate(_listed(obj.get("constraint", []), f"{path}.constraint", _("contraintes")))
    )
    duties = tuple(
        _duty(item, f"{path}.duty[{i}]")
        for i, item in enumerate(_listed(obj.get("duty", []), f"{path}.duty", _("devoirs")))
    )
    return Rule(kind, actions, constraints, duties)


def _check_context(context: Any) -> None:
    """The ODRL context IRI and/or inline contexts; an inline context may not redefine our terms."""
    entries = context if isinstance(context, list) else [context]
    if not entries:
        raise PolicyError("@context", _("Le @context doit nommer le contexte ODRL %(iri)s.") % {"iri": ODRL_CONTEXT})
    for i, entry in enumerate(entries):
        path = f"@context[{i}]" if isinstance(context, list) else "@context"
        if isinstance(entry, str):
            if entry.rstrip("/") not in (ODRL_CONTEXT, ODRL_CONTEXT.replace("http://", "https://")):
                raise PolicyError(
                    path,
                    _("Seul le contexte ODRL %(iri)s est reconnu par son IRI (rien n'est téléchargé).")
                    % {"iri": ODRL_CONTEXT},
                )
            continue
        if not isinstance(entry, dict):
            raise PolicyError(path, _("Un contexte est l'IRI du contexte ODRL ou un objet en ligne."))
        prefixes = {"odrl": ODRL_NS, "sc": PROFILE_NS, "xsd": XSD_NS}
        for key, value in entry.items():
            if key in prefixes:
                if value != prefixes[key]:
                    raise PolicyError(
                        f"{path}.{key}",
                        _("Le préfixe « %(key)s » doit désigner %(iri)s.") % {"key": key, "iri": prefixes[key]},
                    )
                continue
            known = (*ACTIONS, *LEFT_OPERANDS, *DUTIES, *OPERATORS, *PROFILE_MEMBERS)
            if key not in known:
                continue  # a term the document does not use as a member is harmless
            iri = value.get("@id") if isinstance(value, dict) else value
            expanded = _expand(iri)
            if expanded != term_iri(key):
                raise PolicyError(
                    f"{path}.{key}",
                    _("Le terme « %(key)s » doit désigner %(iri)s dans le profil.")
                    % {"key": key, "iri": term_iri(key)},
                )


def _expand(iri: Any) -> Any:
    if isinstance(iri, str):
        for prefix, namespace in (("odrl:", ODRL_NS), ("sc:", PROFILE_NS)):
            if iri.startswith(prefix):
                return namespace + iri[len(prefix) :]
    return iri


def _templates(value: Any) -> tuple[dict[str, Any], ...]:
    items = _listed(value, "templates", _("modèles"))
    out = []
    for i, item in enumerate(items):
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            raise PolicyError(f"templates[{i}]", _("Chaque modèle est un objet avec un « name »."))
        out.append(dict(item))
    return tuple(out)


def parse_odrl(document: Any) -> PolicyDoc:
    """The policy `document` (ODRL 2.2 JSON-LD in our profile) as a `PolicyDoc`.

    Raises `PolicyError` naming the first member outside the profile. The document's `uid` is kept
    ("" when absent); its `target` and `assigner` are not part of the internal form (they are where
    the policy is attached and who saved it).
    """
    if not isinstance(document, dict):
        raise PolicyError("", _("Une politique ODRL est un objet JSON."))
    allowed = {"@context", "@type", "uid", "@id", "profile", "permission", "prohibition", "target", "assigner"}
    allowed |= {"templates", "validFrom"}
    _refuse_unknown(document, allowed, "", _POLICY_HINTS)
    if "@context" not in document:
        raise PolicyError(
            "@context", _("Une politique JSON-LD doit avoir un @context nommant %(iri)s.") % {"iri": ODRL_CONTEXT}
        )
    _check_context(document["@context"])
    kind = document.get("@type", "Set")
    kind = kind[5:] if isinstance(kind, str) and kind.startswith("odrl:") else kind
    if kind not in POLICY_TYPES:
        raise PolicyError(
            "@type", _("Le type de la politique doit être l'un de : %(types)s.") % {"types": ", ".join(POLICY_TYPES)}
        )
    if document.get("profile") != PROFILE_IRI:
        raise PolicyError(
            "profile", _('La politique doit déclarer notre profil : "profile": "%(iri)s".') % {"iri": PROFILE_IRI}
        )
    uid = document.get("uid", document.get("@id", ""))
    if not isinstance(uid, str):
        raise PolicyError("uid", _("L'uid doit être une IRI (une chaîne)."))
    for member in ("target", "assigner"):
        if member in document and not isinstance(document[member], str):
            raise PolicyError(member, _("« %(member)s » doit être une IRI (une chaîne).") % {"member": member})
    rules: list[Rule] = []
    for kind_name in ("permission", "prohibition"):
        rule_kind: RuleKind = "permission" if kind_name == "permission" else "prohibition"
        items = _listed(document.get(kind_name, []), kind_name, _("règles"))
        rules.extend(_rule(item, rule_kind, f"{kind_name}[{i}]") for i, item in enumerate(items))
    valid_from = parse_datetime(document["validFrom"], "validFrom") if "validFrom" in document else None
    templates = _templates(document["templates"]) if "templates" in document else ()
    return PolicyDoc(uid=uid, rules=tuple(rules), valid_from=valid_from, templates=templates)


# ---------------------------------------------------------------------------- export


def inline_context() -> dict[str, Any]:
    """Our inline JSON-LD context: the profile's own terms (ODRL terms come from the ODRL context)."""
    context: dict[str, Any] = {"sc": PROFILE_NS, "xsd": XSD_NS}
    for name in (*ACTIONS, *LEFT_OPERANDS, *DUTIES, *PROFILE_MEMBERS):
        if name not in ODRL_TERMS:
            context[name] = f"sc:{name}"
    context["templates"] = {"@id": "sc:templates", "@type": "@json"}
    context["validFrom"] = {"@id": "sc:validFrom", "@type": "xsd:dateTime"}
    return context


def _constraint_to_odrl(constraint: Constraint) -> dict[str, Any]:
    return {
        "leftOperand": constraint.left,
        "operator": constraint.operator,
        "rightOperand": _right_to_odrl(constraint),
    }


def _duty_to_odrl(duty: Duty) -> dict[str, Any]:
    out: dict[str, Any] = {"action": duty.action}
    if duty.action == "attribute" and duty.value:
        out["attributionText"] = duty.value
    if duty.action == "deleteAfter":
        out["constraint"] = [
            {
                "leftOperand": "elapsedTime",
                "operator": "eq",
                "rightOperand": {"@value": format_duration(duty.value), "@type": "xsd:duration"},
            }
        ]
    return out


def _rule_to_odrl(rule: Rule, target: str, assigner: str) -> dict[str, Any]:
    out: dict[str, Any] = {"target": target}
    if assigner:
        out["assigner"] = assigner
    out["action"] = rule.actions[0] if len(rule.actions) == 1 else list(rule.actions)
    if rule.constraints:
        out["constraint"] = [_constraint_to_odrl(c) for c in rule.constraints]
    if rule.duties:
        out["duty"] = [_duty_to_odrl(d) for d in rule.duties]
    return out


def to_odrl(doc: PolicyDoc, *, target: str, assigner: str) -> dict[str, Any]:
    """The canonical ODRL 2.2 JSON-LD document of `doc` in our profile (a Set)."""
    document: dict[str, Any] = {
        "@context": [ODRL_CONTEXT, inline_context()],
        "@type": "Set",
        "uid": doc.uid,
        "profile": PROFILE_IRI,
        "target": target,
    }
    if assigner:
        document["assigner"] = assigner
    permissions = [_rule_to_odrl(r, target, assigner) for r in doc.rules if r.kind == "permission"]
    prohibitions = [_rule_to_odrl(r, target, assigner) for r in doc.rules if r.kind == "prohibition"]
    if permissions:
        document["permission"] = permissions
    if prohibitions:
        document["prohibition"] = prohibitions
    if doc.valid_from is not None:
        document["validFrom"] = format_datetime(doc.valid_from)
    if doc.templates:
        document["templates"] = [dict(t) for t in doc.templates]
    return document


# ---------------------------------------------------------------------------- the profile


def profile_description() -> dict[str, Any]:
    """The profile as a JSON-LD document: its actions, left operands (value types), operators, duties, purposes."""
    return {
        "@context": [ODRL_CONTEXT, inline_context(), {"dct": "http://purl.org/dc/terms/"}],
        "@id": PROFILE_IRI,
        "@type": "odrl:Profile",
        "dct:title": "Scène Commune ODRL 2.2 profile",
        "dct:description": (
            "Usage policies of the Scène Commune data space. Deny by default: a permission applies when the "
            "request's action is one of its actions and all its constraints hold; a prohibition that applies "
            "wins over any permission. Constraints are about the assignee and the request, never the record."
        ),
        "policyTypes": list(POLICY_TYPES),
        "actions": [{"@id": term_iri(a), "name": a} for a in ACTIONS],
        "leftOperands": [
            {
                "@id": term_iri(left),
                "name": left,
                "valueType": OPERAND_TYPES[left],
                "operators": list(OPERAND_OPERATORS[left]),
            }
            for left in LEFT_OPERANDS
        ],
        "operators": [{"@id": term_iri(o), "name": o} for o in OPERATORS],
        "duties": [
            {"@id": term_iri("journal"), "name": "journal", "description": "the access is journaled"},
            {
                "@id": term_iri("attribute"),
                "name": "attribute",
                "description": "the answer names the source; optional member attributionText "
                "(without it, the owner's name)",
            },
            {
                "@id": term_iri("deleteAfter"),
                "name": "deleteAfter",
                "description": "the recipient deletes the data after a duration: one constraint "
                "{leftOperand: elapsedTime, operator: eq, rightOperand: an xsd:duration such as P30D}",
            },
        ],
        "purposes": [{"@id": PROFILE_NS + p, "name": p} for p in PURPOSES],
        "staffRoles": list(STAFF_ROLES),
        "licenceCategories": list(LICENCE_CATEGORIES),
        "conflict": "prohibit",
    }
