"""manage.py demo_professionals: the demo's professionals on the registry node (idempotent)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from dataspace.directory.models import Licence, ProfessionalAccount, TermsOfUse
from dataspace.directory.services import professional_profile
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

PROFESSIONALS = {
    "pro-valide": ("Compagnie des Horizons fictifs", "2-PLATESV-D-2026-000211", "valide"),
    "pro-expiree": ("Le Chapiteau imaginaire", "PLATESV-D-2020-001234", "expiree"),
    "pro-instruction": ("Tournées de la Lune rousse", "2-PLATESV-D-2026-008877", "en_instruction"),
    "pro-invalidee": ("Association Tréteaux inventés", "PLATESV-D-2023-003456", "invalidee"),
}


def write_credentials(tmp_path: Path, professionals: dict[str, tuple[str, str, str]]) -> Path:
    accounts = [{"username": "admin", "password": "x" * 16, "kind": "staff"}]
    for username, (organisation, number, status) in professionals.items():
        UserFactory(username=username)
        accounts.append(
            {
                "username": username,
                "password": "y" * 16,
                "kind": "professional",
                "organisation": organisation,
                "licence_number": number,
                "licence_status": status,
            }
        )
    path = tmp_path / "credentials.json"
    path.write_text(json.dumps({"registry": accounts}))
    return path


def test_sets_up_the_four_professionals_once(registry: Any, tmp_path: Path) -> None:
    credentials = write_credentials(tmp_path, PROFESSIONALS)
    call_command("demo_professionals", credentials=str(credentials), node="registry", verbosity=0)
    assert Licence.objects.count() == 10
    assert TermsOfUse.objects.get().version == "2026-1"
    for username, (organisation, number, _status) in PROFESSIONALS.items():
        account = ProfessionalAccount.objects.get(user__username=username)
        assert account.organisation.name == organisation
        assert account.verified_at is not None
        assert number in account.organisation.licences.values_list("number", flat=True)
    valid = professional_profile(ProfessionalAccount.objects.get(user__username="pro-valide").user)
    assert valid is not None
    assert {licence.category for licence in valid.licences} == {2, 3}
    call_command("demo_professionals", credentials=str(credentials), node="registry", verbosity=0)
    assert ProfessionalAccount.objects.count() == 4
    assert TermsOfUse.objects.count() == 1


def test_refuses_a_promise_the_sample_does_not_keep(registry: Any, tmp_path: Path) -> None:
    credentials = write_credentials(tmp_path, {"pro-x": ("Le Chapiteau imaginaire", "PLATESV-D-2020-001234", "valide")})
    with pytest.raises(CommandError, match=r"shows 'expiree'.*promises 'valide'"):
        call_command("demo_professionals", credentials=str(credentials), node="registry", verbosity=0)


def test_refuses_an_unknown_licence(registry: Any, tmp_path: Path) -> None:
    credentials = write_credentials(tmp_path, {"pro-x": ("Inconnue", "PLATESV-D-2026-999999", "valide")})
    with pytest.raises(CommandError, match="PLATESV-D-2026-999999 is not in"):
        call_command("demo_professionals", credentials=str(credentials), node="registry", verbosity=0)


def test_only_on_a_registry(settings: Any, tmp_path: Path) -> None:
    settings.NODE_ROLES = ["structure"]
    credentials = write_credentials(tmp_path, PROFESSIONALS)
    with pytest.raises(CommandError, match="registry"):
        call_command("demo_professionals", credentials=str(credentials), node="registry", verbosity=0)
