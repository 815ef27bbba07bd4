"""The demo federation's professionals on the registry node (`manage.py demo_professionals`).

The accounts themselves (username, password) come from the demo's credentials file like every
demo account (`scripts/demo.py`, `demo_account`); each professional entry also names its
organisation, its licence number in the sample list and the licence state it is meant to show
(`licence_status`: valide, expiree, en_instruction, invalidee). This module imports the sample
list, describes those organisations on the registry node, links the licences, opens the
professional accounts and publishes the terms of use — and fails loudly if a professional's
licence no longer shows the state the demo promises.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from dataspace.directory import services
from dataspace.directory.models import Licence, ProfessionalAccount

SAMPLE_FILE = Path(__file__).resolve().parent / "fixtures" / "licences_sample.csv"
TERMS_VERSION = "2026-1"
TERMS_TEXT = """Conditions d'utilisation du registre des professionnels de Scène Commune (version de démonstration).

1. Le registre ouvre la recherche dans les référentiels partagés et l'annuaire professionnel aux seuls \
titulaires d'une licence d'entrepreneur de spectacles vivants valide, pour les usages que les structures \
autorisent.
2. Vous déclarez un usage (programmation, tournée, contrat…) à chaque recherche ; chaque accès est inscrit \
au journal que les structures consultent.
3. Vous ne rediffusez pas les données reçues sans l'accord de la structure qui les a saisies.
4. Une personne inscrite à l'annuaire peut retirer son consentement à tout moment : ses données disparaissent \
alors de vos résultats.
5. Le registre peut suspendre un compte dont la licence expire, est retirée, ou qui ne respecte pas ces conditions.
"""


class DemoProfessionalsError(RuntimeError):
    """The demo's professionals cannot be set up as promised; the message says why."""


@dataclass(frozen=True)
class DemoProfessional:
    username: str
    organisation: str
    licence_number: str
    licence_status: str


def professionals_from(accounts: Iterable[Mapping[str, Any]]) -> list[DemoProfessional]:
    """The professional entries of one node's accounts in the credentials file."""
    found = []
    for account in accounts:
        if account.get("kind") != "professional":
            continue
        missing = [key for key in ("organisation", "licence_number", "licence_status") if not account.get(key)]
        if missing:
            raise DemoProfessionalsError(f"professional {account.get('username')!r} lacks {', '.join(missing)}")
        found.append(
            DemoProfessional(
                account["username"], account["organisation"], account["licence_number"], account["licence_status"]
            )
        )
    return found


def _organisation_for(licence: Licence, name: str, owner: Any) -> Any:
    """The registry's description of the licence holder (found by SIREN, else created)."""
    from dataspace.referentials.models import Organisation

    siren = licence.siren
    if not siren:
        raise DemoProfessionalsError(f"licence {licence.number} has no SIREN/SIRET to find its organisation by")
    existing = Organisation.objects.filter(siren=siren).order_by("created_at").first()
    if existing is not None:
        return existing
    organisation = Organisation(
        name=name,
        legal_name=licence.holder_name,
        kind=Organisation.Kind.COMPANY if licence.category != 1 else Organisation.Kind.THEATRE,
        siret=licence.siren_siret if len(licence.siren_siret) == 14 else "",
        siren=siren,
        region=licence.region,
        postal_code=licence.postal_code[:5],
        owner=owner,
    )
    organisation.full_clean()
    organisation.save()
    return organisation


def set_up_professionals(professionals: list[DemoProfessional], *, licences: Path = SAMPLE_FILE) -> list[str]:
    """Import `licences`, publish the terms, open each professional's account; returns report lines."""
    from dataspace.node.services import current_identity

    run = services.import_licences(licences)
    counts = f"{run.created} created, {run.updated} updated, {run.unchanged} unchanged, {run.invalid} refused"
    lines = [f"licences: {counts}"]
    identity = current_identity()
    owner = identity.organisation if identity is not None else None
    today = timezone.localdate()
    users = get_user_model()._default_manager
    with transaction.atomic():
        terms = services.publish_terms(TERMS_VERSION, TERMS_TEXT)
        lines.append(f"terms of use {terms.version} published {terms.published_at:%Y-%m-%d}")
        for professional in professionals:
            licence = Licence.objects.filter(number=professional.licence_number).first()
            if licence is None:
                raise DemoProfessionalsError(f"licence {professional.licence_number} is not in {licences}")
            organisation = _organisation_for(licence, professional.organisation, owner)
            services.link_licences()
            user = users.filter(username=professional.username).first()
            if user is None:
                raise DemoProfessionalsError(f"no account {professional.username!r}: run demo_account first")
            account, _created = ProfessionalAccount.objects.update_or_create(
                user=user, defaults={"organisation": organisation}
            )
            if account.verified_at is None:
                account.verified_at = timezone.now()
                account.save(update_fields=["verified_at"])
            services.forget_professional_profile(user)
            shown = services.licence_status_label(services.professional_profile(user), today)
            if shown != professional.licence_status:
                raise DemoProfessionalsError(
                    f"{professional.username}: licence {professional.licence_number} shows {shown!r} on {today}, "
                    f"the demo promises {professional.licence_status!r} (update the sample list's dates)"
                )
            lines.append(f"professional {professional.username}: {organisation.name}, licence {shown}")
    return lines
