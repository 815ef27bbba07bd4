"""Vocabularies of directory entries: trades (French labels), French regions, ISO 639-1 languages,
contact channels, and the DPV personal-data category of every field a consent may cover."""

from __future__ import annotations

import unicodedata

from django.db import models
from django.utils.translation import gettext_lazy as _


class Trade(models.TextChoices):
    """Artist roles and technician trades of the performing arts (codes stable, labels French)."""

    ACTOR = "comedien", _("comédien·ne")
    DANCER = "danseur", _("danseur·se")
    MUSICIAN = "musicien", _("musicien·ne")
    SINGER = "chanteur", _("chanteur·se")
    CIRCUS_ARTIST = "artiste_cirque", _("artiste de cirque")
    PUPPETEER = "marionnettiste", _("marionnettiste")
    DIRECTOR = "metteur_en_scene", _("metteur·se en scène")
    CHOREOGRAPHER = "choregraphe", _("chorégraphe")
    GENERAL_STAGE_MANAGER = "regisseur_general", _("régisseur·se général·e")
    LIGHTING_TECHNICIAN = "regisseur_lumiere", _("régisseur·se lumière")
    SOUND_TECHNICIAN = "regisseur_son", _("régisseur·se son")
    STAGE_TECHNICIAN = "regisseur_plateau", _("régisseur·se plateau")
    STAGEHAND = "machiniste", _("machiniste")
    COSTUMER = "costumier", _("costumier·e")
    PRODUCTION_MANAGER = "charge_production", _("chargé·e de production")
    TOUR_MANAGER = "charge_diffusion", _("chargé·e de diffusion")
    PROGRAMMER = "programmateur", _("programmateur·rice")


class Region(models.TextChoices):
    """The regions of France (values are their names, as organisations record them)."""

    ARA = "Auvergne-Rhône-Alpes", _("Auvergne-Rhône-Alpes")
    BFC = "Bourgogne-Franche-Comté", _("Bourgogne-Franche-Comté")
    BRE = "Bretagne", _("Bretagne")
    CVL = "Centre-Val de Loire", _("Centre-Val de Loire")
    COR = "Corse", _("Corse")
    GES = "Grand Est", _("Grand Est")
    HDF = "Hauts-de-France", _("Hauts-de-France")
    IDF = "Île-de-France", _("Île-de-France")
    NOR = "Normandie", _("Normandie")
    NAQ = "Nouvelle-Aquitaine", _("Nouvelle-Aquitaine")
    OCC = "Occitanie", _("Occitanie")
    PDL = "Pays de la Loire", _("Pays de la Loire")
    PAC = "Provence-Alpes-Côte d'Azur", _("Provence-Alpes-Côte d'Azur")
    GUA = "Guadeloupe", _("Guadeloupe")
    MTQ = "Martinique", _("Martinique")
    GUF = "Guyane", _("Guyane")
    REU = "La Réunion", _("La Réunion")
    MAY = "Mayotte", _("Mayotte")


class ContactChannel(models.TextChoices):
    EMAIL = "email", _("courriel")
    PHONE = "phone", _("téléphone")
    WEBSITE = "website", _("site web")


#: ISO 639-1 codes accepted for `languages` (the languages of Europe and the most spoken others).
LANGUAGES: frozenset[str] = frozenset(
    [
        "fr",
        "en",
        "de",
        "es",
        "it",
        "pt",
        "nl",
        "ca",
        "eu",
        "br",
        "co",
        "oc",
        "lb",
        "pl",
        "ro",
        "el",
        "sv",
        "da",
        "fi",
        "no",
        "cs",
        "sk",
        "hu",
        "hr",
        "sl",
        "bg",
        "ru",
        "uk",
        "tr",
        "ar",
        "he",
        "fa",
        "hi",
        "zh",
        "ja",
        "ko",
        "vi",
        "th",
        "sw",
        "wo",
        "ln",
        "bm",
        "ff",
        "mg",
        "ht",
        "rm",
        "ga",
        "gd",
        "cy",
        "is",
        "et",
        "lv",
        "lt",
        "sq",
        "sr",
        "bs",
        "mk",
        "mt",
    ]
)

#: Every field of a directory entry a consent may cover, with its W3C DPV personal-data category.
ENTRY_FIELD_CATEGORIES: dict[str, str] = {
    "display_name": "dpv-pd:Name",
    "trades": "dpv-pd:Professional",
    "skills": "dpv-pd:Skill",
    "languages": "dpv-pd:Language",
    "region": "dpv-pd:Location",
    "availability": "dpv-pd:Professional",
    "contact_channel": "dpv-pd:Preference",
    "contact_email": "dpv-pd:EmailAddress",
    "contact_phone": "dpv-pd:TelephoneNumber",
    "postal_address": "dpv-pd:PostalAddress",
    "links": "dpv-pd:Identifier",
    "same_as": "dpv-pd:Identifier",
}

#: Fields of an entry that are never personal data shown to others: identity of the record itself,
#: bookkeeping, and internal columns no serializer may expose (see tests/directory/test_entry_fields_consent.py).
NON_PERSONAL_FIELDS: frozenset[str] = frozenset({"id", "uri", "version", "owner", "origin", "created_at", "updated_at"})
#: Internal columns: stored for the owner's and the node's use, never serialized to anyone else.
INTERNAL_FIELDS: frozenset[str] = frozenset({"person_user", "reviewed_at", "search_index"})
#: What every reader of a published entry gets besides the consented fields.
ALWAYS_SHOWN: tuple[str, ...] = ("id", "uri", "version", "owner")


def fold(text: str) -> str:
    """Accent- and case-insensitive form of `text` (unaccent-style): NFKD, no combining marks, casefold."""
    decomposed = unicodedata.normalize("NFKD", str(text))
    stripped = "".join(char for char in decomposed if not unicodedata.combining(char))
    return " ".join(stripped.casefold().replace("·", "").split())
