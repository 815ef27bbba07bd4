"""The scopes a node grants, in plain words (French first), and which of them write.

A scope names one kind of access to one kind of data. Clients are registered with a subset; a
token carries a subset of that; every API view declares the scope it needs (`required_scopes`).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _


@dataclass(frozen=True)
class Scope:
    name: str
    label: Promise  # one line a person understands, shown on the consent screen
    writes: bool


SCOPES: dict[str, Scope] = {
    scope.name: scope
    for scope in (
        Scope(
            "referentials:read",
            _("lire les référentiels (œuvres, productions, représentations, lieux, fiches techniques)"),
            False,
        ),
        Scope("referentials:write", _("créer et modifier les référentiels de la structure"), True),
        Scope("directory:search", _("chercher dans l'annuaire professionnel"), False),
        Scope("directory:manage", _("gérer les fiches de l'annuaire professionnel"), True),
        Scope("contacts:read", _("lire les contacts privés de la structure"), False),
        Scope("contacts:write", _("créer et modifier les contacts privés de la structure"), True),
        Scope("consent:manage", _("enregistrer et retirer des consentements"), True),
        Scope("ticketing:write", _("déposer les chiffres de billetterie"), True),
        Scope("indicators:aggregate", _("demander des agrégats d'indicateurs (jamais de lignes)"), False),
        Scope("federation:sync", _("synchroniser les données partagées entre nœuds (flux de changements)"), False),
        Scope("clients:manage", _("enregistrer et gérer les clients OAuth de la structure"), True),
        Scope("journal:read", _("consulter le journal des accès"), False),
        Scope("policies:manage", _("définir les politiques d'usage, blocages et masquages de la structure"), True),
        Scope("webhooks:manage", _("abonner les outils de la structure aux événements (webhooks)"), True),
    )
}

#: Scopes a `reader` client may hold.
READ_SCOPES = frozenset(name for name, scope in SCOPES.items() if not scope.writes)


class UnknownScope(ValueError):
    """A scope name that this node does not define."""


def parse_scopes(value: str | list[str] | tuple[str, ...] | set[str] | None) -> list[str]:
    """Scope names from a space-separated string or a list; unknown names raise UnknownScope."""
    if value is None:
        return []
    names = value.split() if isinstance(value, str) else [str(item).strip() for item in value]
    names = [name for name in names if name]
    unknown = sorted({name for name in names if name not in SCOPES})
    if unknown:
        raise UnknownScope(f"unknown scope(s): {', '.join(unknown)}; known: {', '.join(SCOPES)}")
    return sorted(set(names), key=list(SCOPES).index)
