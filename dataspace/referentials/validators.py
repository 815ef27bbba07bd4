"""Validators for the sector's identifiers."""

from __future__ import annotations

import zoneinfo

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

#: La Poste's establishments share this SIREN and follow a different checksum rule (INSEE).
LA_POSTE_SIREN = "356000000"


def luhn_ok(digits: str) -> bool:
    """True when the digit string passes the Luhn checksum."""
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def validate_siren(value: str) -> None:
    if not (len(value) == 9 and value.isdigit()):
        raise ValidationError(_("Un SIREN compte exactement 9 chiffres."), code="siren_format")
    if not luhn_ok(value):
        raise ValidationError(_("Ce SIREN ne passe pas la clé de contrôle (Luhn)."), code="siren_checksum")


def validate_siret(value: str) -> None:
    if not (len(value) == 14 and value.isdigit()):
        raise ValidationError(_("Un SIRET compte exactement 14 chiffres."), code="siret_format")
    if value.startswith(LA_POSTE_SIREN):
        if sum(int(c) for c in value) % 5 != 0:
            raise ValidationError(_("Ce SIRET ne passe pas la clé de contrôle."), code="siret_checksum")
        return
    if not luhn_ok(value):
        raise ValidationError(_("Ce SIRET ne passe pas la clé de contrôle (Luhn)."), code="siret_checksum")


def validate_timezone(value: str) -> None:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValidationError(
            _("« %(value)s » n'est pas un fuseau horaire IANA (ex. Europe/Paris)."),
            code="timezone",
            params={"value": value},
        ) from None


def validate_same_as(value: object) -> None:
    """`sameAs` is a list of absolute http(s) URIs or `scheme:identifier` strings."""
    if not isinstance(value, list) or not all(isinstance(item, str) and ":" in item for item in value):
        raise ValidationError(
            _("sameAs doit être une liste d'URI (ex. https://www.wikidata.org/wiki/Q42, isni:0000000121032683)."),
            code="same_as",
        )
