"""French labels of the journal's codes, for the /journal/ page (the API and CSV keep the codes).

Actions, purposes and emergencies are fixed vocabularies labelled here; record types are labelled
with their model's `verbose_name`; streams and decisions with `JournalEntry`'s choices. A code
without a label (an entry written by a newer version) is shown as the code itself.
"""

from __future__ import annotations

from django.apps import apps
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

#: The policy actions (policies.language.ACTIONS) and the actions of the admin stream.
ACTION_LABELS: dict[str, Promise] = {
    "read": _("consultation"),
    "search": _("recherche"),
    "export": _("export"),
    "aggregate": _("statistiques (agrégats)"),
    "redistribute": _("rediffusion"),
    "modify": _("modification"),
    "break_glass": _("accès d'urgence"),
    "block": _("blocage"),
    "unblock": _("levée d'un blocage"),
    "hide": _("masquage d'une fiche"),
    "hide_partners": _("partenaires d'une fiche masquée"),
    "unhide": _("fin du masquage d'une fiche"),
    "approve": _("approbation d'une déclaration"),
    "indicators.aggregate_answered": _("réponse à une demande d'agrégats du ministère"),
    "indicators.aggregate_approved": _("approbation d'agrégats pour le ministère"),
    "indicators.aggregate_refused": _("refus d'agrégats pour le ministère"),
    "indicators.standing_approval_given": _("approbation permanente des agrégats donnée"),
    "indicators.standing_approval_revoked": _("approbation permanente des agrégats révoquée"),
    "indicators.campaign_launched": _("lancement d'une campagne d'indicateurs"),
    "indicators.campaign_rerun": _("relance d'une campagne d'indicateurs (nœuds manquants)"),
    "indicators.campaign_published": _("publication des résultats d'une campagne"),
}

#: The purpose vocabulary (policies.language.PURPOSES).
PURPOSE_LABELS: dict[str, Promise] = {
    "programming": _("programmation"),
    "touring": _("diffusion, tournées"),
    "contracting": _("contractualisation"),
    "reporting": _("déclarations et bilans"),
    "research": _("recherche et études"),
    "communication": _("communication"),
}

#: Declared emergencies of a break-glass access (policies.models.BreakGlassAccess.Emergency).
EMERGENCY_LABELS: dict[str, Promise] = {
    "public_safety": _("sécurité du public (évacuation, jauge, incident)"),
    "rigging_safety": _("sécurité des accroches et charges (fiche technique)"),
    "medical": _("urgence médicale d'un artiste ou technicien"),
    "urgent_replacement": _("remplacement urgent avant une représentation"),
}


def record_type_labels() -> dict[str, str]:
    """Each record type (`record_type` of a model) and its model's French `verbose_name`."""
    labels: dict[str, str] = {}
    for model in apps.get_models():
        code = getattr(model, "record_type", "")
        if isinstance(code, str) and code and code not in labels:
            labels[code] = str(model._meta.verbose_name)
    return labels


def label(labels: dict[str, Promise] | dict[str, str], code: str) -> str:
    """The label of `code`, or the code itself when it has none."""
    found = labels.get(code)
    return str(found) if found is not None else code


def choices(labels: dict[str, Promise] | dict[str, str], current: str = "") -> list[tuple[str, str]]:
    """(code, label) pairs for a <select>, sorted by label; `current` kept even when unknown."""
    pairs = sorted(((code, str(text)) for code, text in labels.items()), key=lambda pair: pair[1].casefold())
    if current and current not in labels:
        pairs.append((current, current))
    return pairs
