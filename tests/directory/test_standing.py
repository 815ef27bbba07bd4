"""licence_standing: what "licensed" means on a given day, and the reason given when it is not."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from dataspace.directory.profiles import LicenceFact, ProfessionalProfile
from dataspace.directory.services import licence_standing, licence_status_label
from policies.decision import REASONS

D = dt.date
TODAY = D(2026, 11, 30)
DEPOSITED = D(2026, 1, 15)
UNTIL = D(2031, 1, 15)


def lic(
    number: str = "PLATESV-D-2026-000001",
    *,
    category: int = 2,
    status: str = "valide",
    deposited: dt.date | None = DEPOSITED,
    until: dt.date | None = UNTIL,
) -> LicenceFact:
    return LicenceFact(number=number, category=category, status=status, valid_until=until, deposited_on=deposited)


def profile(*licences: LicenceFact, verified: bool = True) -> ProfessionalProfile:
    return ProfessionalProfile(
        account_id=1,
        organisation_id=uuid.uuid4(),
        organisation_name="Compagnie des Essais",
        licences=licences,
        verified=verified,
    )


def test_valid_licence_in_force() -> None:
    licensed, code, sentence = licence_standing(profile(lic()), TODAY)
    assert (licensed, code) == (True, "")
    assert sentence == "Votre licence PLATESV-D-2026-000001 (catégorie 2) est valide jusqu'au 15/01/2031."


def test_validity_end_day_is_inclusive_and_the_day_after_is_expired() -> None:
    holder = profile(lic("PLATESV-D-2021-000001", deposited=D(2021, 1, 31), until=D(2026, 1, 31)))
    assert licence_standing(holder, D(2026, 1, 31))[:2] == (True, "")
    licensed, code, sentence = licence_standing(holder, D(2026, 2, 1))
    assert (licensed, code) == (False, "licence_expired")
    assert sentence == "Votre licence PLATESV-D-2021-000001 a expiré le 31/01/2026."


def test_deposit_day_is_in_force_and_a_future_deposit_is_not() -> None:
    holder = profile(lic(deposited=D(2026, 12, 1), until=D(2031, 12, 1)))
    assert licence_standing(holder, D(2026, 12, 1))[0] is True
    licensed, code, sentence = licence_standing(holder, TODAY)
    assert (licensed, code) == (False, "licence_pending")
    assert "ne prend effet que le 01/12/2026" in sentence


def test_valid_without_dates_is_in_force() -> None:
    licensed, _code, sentence = licence_standing(profile(lic(deposited=None, until=None)), TODAY)
    assert licensed is True
    assert sentence.endswith("(catégorie 2) est valide.")


def test_pending() -> None:
    licensed, code, sentence = licence_standing(profile(lic(status="en_instruction")), TODAY)
    assert (licensed, code) == (False, "licence_pending")
    assert "en cours d'instruction" in sentence


def test_refused() -> None:
    licensed, code, sentence = licence_standing(profile(lic(status="invalide")), TODAY)
    assert (licensed, code) == (False, "licence_withdrawn")
    assert "refusée" in sentence


def test_withdrawn_even_before_its_validity_end() -> None:
    licensed, code, sentence = licence_standing(profile(lic(status="invalide_retire")), TODAY)
    assert (licensed, code) == (False, "licence_withdrawn")
    assert "retirée" in sentence


def test_expired_by_status() -> None:
    licensed, code, sentence = licence_standing(profile(lic(status="expire", until=None)), TODAY)
    assert (licensed, code) == (False, "licence_expired")
    assert sentence == "Votre licence PLATESV-D-2026-000001 a expiré."


def test_renewal_in_force_makes_the_expired_first_licence_irrelevant() -> None:
    first = lic("PLATESV-D-2019-000512", category=1, deposited=D(2019, 11, 18), until=D(2024, 11, 18))
    renewal = lic("1-PLATESV-R-2025-006001", category=1, deposited=D(2025, 6, 2), until=D(2030, 6, 2))
    licensed, code, sentence = licence_standing(profile(first, renewal), TODAY, categories=[1])
    assert (licensed, code) == (True, "")
    assert "1-PLATESV-R-2025-006001" in sentence
    # between the two, the most recent licence speaks: the renewal takes effect later
    licensed, code, sentence = licence_standing(profile(first, renewal), D(2025, 1, 10))
    assert (licensed, code) == (False, "licence_pending")
    assert "1-PLATESV-R-2025-006001 ne prend effet que le 02/06/2025" in sentence
    # without the renewal, the first licence has expired
    assert licence_standing(profile(first), D(2025, 1, 10))[1] == "licence_expired"


def test_pending_renewal_is_the_reason_rather_than_the_expired_licence_it_renews() -> None:
    first = lic("PLATESV-D-2020-001234", deposited=D(2020, 2, 12), until=D(2025, 2, 12))
    renewal = lic("2-PLATESV-R-2026-000777", status="en_instruction", deposited=D(2026, 11, 2), until=None)
    licensed, code, sentence = licence_standing(profile(first, renewal), TODAY)
    assert (licensed, code) == (False, "licence_pending")
    assert "2-PLATESV-R-2026-000777" in sentence


def test_withdrawal_after_an_older_expiry_is_the_reason() -> None:
    old = lic("PLATESV-D-2019-000001", deposited=D(2019, 10, 1), until=D(2024, 10, 1))
    recent = lic("PLATESV-D-2025-000002", status="invalide_retire", deposited=D(2025, 3, 1), until=D(2030, 3, 1))
    assert licence_standing(profile(old, recent), TODAY)[1] == "licence_withdrawn"


def test_category_asked_and_held() -> None:
    holder = profile(lic("2-PLATESV-D-2026-000211", category=2), lic("3-PLATESV-D-2026-000212", category=3))
    assert licence_standing(holder, TODAY, categories=[3])[0] is True
    assert licence_standing(holder, TODAY, categories={1, 3})[0] is True
    assert licence_standing(holder, TODAY, categories=[])[0] is True  # no category asked


def test_category_asked_but_not_held() -> None:
    holder = profile(lic("1-PLATESV-D-2026-001002", category=1))
    licensed, code, sentence = licence_standing(holder, TODAY, categories=[2, 3])
    assert (licensed, code) == (False, "licence_category")
    assert sentence == "Licence de catégorie 2 ou 3 demandée ; votre licence en cours est de catégorie 1."


def test_category_asked_and_several_held() -> None:
    holder = profile(lic("1-PLATESV-D-2026-000001", category=1), lic("3-PLATESV-D-2026-000002", category=3))
    sentence = licence_standing(holder, TODAY, categories=[2])[2]
    assert sentence == "Licence de catégorie 2 demandée ; vos licences en cours sont de catégories 1 ou 3."


def test_category_asked_none_in_force() -> None:
    holder = profile(lic(category=1, status="invalide"))
    licensed, code, sentence = licence_standing(holder, TODAY, categories=[2])
    assert (licensed, code) == (False, "licence_category")
    assert "aucune de vos licences" in sentence


def test_expired_licence_of_the_asked_category_beats_a_valid_one_of_another() -> None:
    holder = profile(
        lic("1-PLATESV-D-2026-000001", category=1),
        lic("PLATESV-D-2020-000002", category=2, deposited=D(2020, 1, 6), until=D(2025, 1, 6)),
    )
    licensed, code, sentence = licence_standing(holder, TODAY, categories=[2])
    assert (licensed, code) == (False, "licence_expired")
    assert "PLATESV-D-2020-000002 a expiré le 06/01/2025" in sentence


def test_no_profile_or_no_licence() -> None:
    assert licence_standing(None, TODAY)[:2] == (False, "not_licensed")
    assert licence_standing(profile(), TODAY)[:2] == (False, "not_licensed")


def test_unverified_account_is_not_licensed() -> None:
    licensed, code, sentence = licence_standing(profile(lic(), verified=False), TODAY)
    assert (licensed, code) == (False, "not_licensed")
    assert "vérifié" in sentence


@pytest.mark.parametrize(
    "holder",
    [
        profile(),
        profile(lic(status="en_instruction")),
        profile(lic(status="invalide")),
        profile(lic(status="invalide_retire")),
        profile(lic(until=D(2020, 1, 1))),
        profile(lic(category=1)),
    ],
)
def test_every_refusal_uses_a_stable_reason_code(holder: ProfessionalProfile) -> None:
    licensed, code, sentence = licence_standing(holder, TODAY, categories=[2, 3] if holder.licences else None)
    if holder.licences and holder.licences[0].category == 1:
        assert code == "licence_category"
    assert licensed is False
    assert code in REASONS
    assert sentence.endswith(".")


def test_sentence_carries_the_date_whatever_the_language() -> None:
    from django.utils import translation

    with translation.override("en"):
        sentence = licence_standing(profile(lic(until=D(2020, 1, 1), deposited=D(2015, 1, 1))), TODAY)[2]
    with translation.override("fr"):
        french = licence_standing(profile(lic(until=D(2020, 1, 1), deposited=D(2015, 1, 1))), TODAY)[2]
    assert "01/01/2020" in sentence
    assert french.startswith("Votre licence")


@pytest.mark.parametrize(
    ("holder", "label"),
    [
        (profile(lic()), "valide"),
        (profile(lic(until=D(2025, 2, 12))), "expiree"),
        (profile(lic(status="en_instruction")), "en_instruction"),
        (profile(lic(status="invalide_retire")), "invalidee"),
        (profile(lic(status="invalide")), "invalidee"),
        (None, "aucune"),
    ],
)
def test_status_label(holder: ProfessionalProfile | None, label: str) -> None:
    assert licence_status_label(holder, TODAY) == label
