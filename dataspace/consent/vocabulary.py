"""The fixed vocabulary of person consents: target types, purposes, data categories, recipients.

Every code a consent record may hold is listed here, with its French label (shown to the person,
in receipts and in the portal) and its W3C Data Privacy Vocabulary term (DPV 2.x: `dpv:` is
https://w3id.org/dpv#, `dpv-pd:` is https://w3id.org/dpv/pd#). `dataspace.consent.services`
refuses anything else with a 400 naming the field.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

DPV = "https://w3id.org/dpv#"
DPV_PD = "https://w3id.org/dpv/pd#"


@dataclass(frozen=True)
class Term:
    """One code of the vocabulary: its French label and its DPV term (a CURIE)."""

    code: str
    label: Promise
    dpv: str


#: What a consent may cover: a directory entry (publication to licensed professionals) or a
#: contact of the structure's CRM (a marketing purpose). Value: the Notice.Kind it needs.
TARGET_TYPES: dict[str, str] = {"directory-entry": "directory", "contact": "contact"}

#: Target types whose data leaves the node (replicas): their end is notified through the outbox.
FEDERATED_TARGET_TYPES = frozenset({"directory-entry"})

PURPOSES: dict[str, Term] = {
    term.code: term
    for term in (
        Term(
            "professional_directory",
            _("publication dans l'annuaire professionnel (professionnels licenciés)"),
            "dpv:CommunicationManagement",
        ),
        Term("newsletter", _("lettre d'information"), "dpv:DirectMarketing"),
        Term("post_show_survey", _("enquête après le spectacle"), "dpv:CustomerSatisfactionMeasurement"),
        Term("season_offers", _("offres de saison"), "dpv:Marketing"),
        Term("event_invitations", _("invitations aux événements"), "dpv:DirectMarketing"),
    )
}

#: The purposes each target type may carry.
PURPOSES_BY_TARGET: dict[str, frozenset[str]] = {
    "directory-entry": frozenset({"professional_directory"}),
    "contact": frozenset({"newsletter", "post_show_survey", "season_offers", "event_invitations"}),
}

DATA_CATEGORIES: dict[str, Term] = {
    term.code: term
    for term in (
        Term("dpv-pd:Name", _("nom"), "dpv-pd:Name"),
        Term("dpv-pd:EmailAddress", _("adresse électronique"), "dpv-pd:EmailAddress"),
        Term("dpv-pd:TelephoneNumber", _("numéro de téléphone"), "dpv-pd:TelephoneNumber"),
        Term("dpv-pd:PhysicalAddress", _("adresse postale"), "dpv-pd:PhysicalAddress"),
        # Not a DPV-PD term: DPV names a postal address `PhysicalAddress`. Accepted (the directory's
        # field map uses it) and mapped to the DPV term in receipts.
        Term("dpv-pd:PostalAddress", _("adresse postale"), "dpv-pd:PhysicalAddress"),
        Term("dpv-pd:Preference", _("préférences (moyen de contact)"), "dpv-pd:Preference"),
        Term(
            "dpv-pd:Professional", _("informations professionnelles (métiers, disponibilités)"), "dpv-pd:Professional"
        ),
        Term("dpv-pd:Skill", _("compétences"), "dpv-pd:Skill"),
        Term("dpv-pd:Language", _("langues"), "dpv-pd:Language"),
        Term("dpv-pd:Location", _("localisation (région)"), "dpv-pd:Location"),
        Term("dpv-pd:Identifier", _("identifiants (ISNI…)"), "dpv-pd:Identifier"),
        Term("dpv-pd:SocialMedia", _("liens et profils en ligne"), "dpv-pd:SocialMedia"),
    )
}

#: Codes that name the same DPV term (a consent covering one covers the other).
EQUIVALENT_CATEGORIES: dict[str, str] = {"dpv-pd:PostalAddress": "dpv-pd:PhysicalAddress"}

RECIPIENTS: dict[str, Term] = {
    term.code: term
    for term in (
        Term(
            "licensed_professionals",
            _("les professionnels licenciés de la fédération"),
            "dpv:Recipient",
        ),
        Term("controller", _("la structure responsable seulement"), "dpv:DataController"),
    )
}

RECIPIENTS_BY_TARGET: dict[str, frozenset[str]] = {
    "directory-entry": frozenset({"licensed_professionals"}),
    "contact": frozenset({"controller"}),
}

LEGAL_BASIS = "dpv:Consent"


def purpose_label(code: str) -> str:
    term = PURPOSES.get(code)
    return str(term.label) if term is not None else code


def data_category_label(code: str) -> str:
    term = DATA_CATEGORIES.get(code)
    return str(term.label) if term is not None else code


def data_category_dpv(code: str) -> str:
    term = DATA_CATEGORIES.get(code)
    return term.dpv if term is not None else code


def recipient_label(code: str) -> str:
    term = RECIPIENTS.get(code)
    return str(term.label) if term is not None else code
