"""seed_demo: deterministic, idempotent, realistic fictitious data for the four demo profiles."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from dataspace.node.models import NodeIdentity
from dataspace.records.models import Change
from dataspace.referentials import models as m
from dataspace.referentials.demo_data import PROFILE_SPECS, TOURING_TITLE, demo_siret, luhn_check_digit
from dataspace.referentials.validators import luhn_ok, validate_siret

pytestmark = pytest.mark.django_db
PARIS = zoneinfo.ZoneInfo("Europe/Paris")


def seed(*args: str) -> str:
    out = StringIO()
    call_command("seed_demo", *args, stdout=out)
    return out.getvalue()


def snapshot() -> dict[str, list[tuple[str, str]]]:
    """Every referential record's id and label, sorted: what must not depend on the run."""
    labels: dict[Any, str] = {
        m.Organisation: "name",
        m.Venue: "name",
        m.Hall: "name",
        m.Production: "title",
        m.Work: "title",
        m.Person: "family_name",
        m.Season: "name",
        m.Performance: "start",
        m.Contribution: "role",
    }
    return {
        model.__name__: sorted((str(pk), str(label)) for pk, label in model.objects.values_list("pk", field))
        for model, field in labels.items()
    }


# ---------------------------------------------------------------------------- identifiers


def test_luhn_check_digit_completes_a_valid_number() -> None:
    assert luhn_check_digit("73282932") == "0"  # SIREN 732829320
    for partial in ("1234567", "98765432100001", "0"):
        assert luhn_ok(partial + luhn_check_digit(partial))
    with pytest.raises(ValueError, match="digits"):
        luhn_check_digit("12a")


def test_demo_sirets_are_valid_and_deterministic() -> None:
    for key in ("structure-a", "structure-b", "registry", "x"):
        siret = demo_siret(42, key)
        validate_siret(siret)  # raises if invalid
        assert luhn_ok(siret[:9])
        assert siret == demo_siret(42, key)
    assert demo_siret(42, "structure-a") != demo_siret(43, "structure-a")


# ---------------------------------------------------------------------------- structure profiles


def test_structure_a_has_realistic_counts_and_cases() -> None:
    output = seed("--profile", "structure-a")
    assert "created" in output
    owner = m.Organisation.objects.get(owner=None)
    assert owner.name == PROFILE_SPECS["structure-a"].organisation
    assert owner.city == "Lyon"
    assert NodeIdentity.objects.get(pk=1).organisation == owner

    assert 2 <= m.Venue.objects.count() <= 3
    for venue in m.Venue.objects.all():
        assert 1 <= venue.halls.count() <= 3
    assert 12 <= m.Production.objects.count() <= 18
    assert 70 <= m.Performance.objects.count() <= 90
    for sheet in m.TechnicalSheet.objects.all():
        assert sheet.version >= 3
        assert sheet.revisions.count() == sheet.version
        assert sheet.revisions.get(version=2).diff  # the second save changed something

    revival = m.Production.objects.get(original_production__isnull=False)
    assert revival.original_production is not None
    assert revival.original_production.title == "Le Misanthrope"
    coproduction = m.Production.objects.get(title=TOURING_TITLE)
    partner = m.Organisation.objects.get(name=PROFILE_SPECS["structure-b"].organisation)
    assert partner.owner == owner  # a partner record this structure owns
    assert partner in coproduction.coproducers.all()

    statuses = m.Performance.Status
    assert m.Performance.objects.filter(status=statuses.CANCELLED).exists()
    assert m.Performance.objects.filter(status=statuses.OPTION).exists()
    postponed = m.Performance.objects.filter(status=statuses.POSTPONED)
    assert postponed.exists()
    assert all(p.previous_start and p.previous_start < p.start for p in postponed)
    for performance in m.Performance.objects.all():
        assert dt.date(2026, 9, 1) <= performance.start.astimezone(PARIS).date() <= dt.date(2027, 6, 30)
        assert performance.time_zone == "Europe/Paris"
    assert m.Season.objects.filter(kind=m.Season.Kind.SEASON).count() == 1

    roles = set(m.Contribution.objects.values_list("role", flat=True))
    assert {"author", "composer", "director", "performer"} <= roles
    assert m.Contribution.objects.exclude(character="").filter(role="performer").exists()
    assert m.Person.objects.filter(family_name="Molière").exists()


def test_every_write_went_through_the_change_log() -> None:
    seed("--profile", "structure-a")
    published = set(Change.objects.filter(record_type="performance").values_list("record_id", flat=True))
    options = set(m.Performance.objects.filter(status="option").values_list("pk", flat=True))
    others = set(m.Performance.objects.exclude(status="option").values_list("pk", flat=True))
    assert others <= published
    assert not (options & published)
    sheet = m.TechnicalSheet.objects.first()
    assert sheet is not None
    assert Change.objects.filter(record_id=sheet.pk).count() == sheet.version


def test_structure_b_differs_has_a_festival_and_shares_the_touring_title() -> None:
    seed("--profile", "structure-a")
    titles_a = set(m.Production.objects.values_list("title", flat=True))
    ids_a = set(m.Production.objects.values_list("pk", flat=True))
    seed("--profile", "structure-b", "--reset")
    owner = m.Organisation.objects.get(owner=None)
    assert owner.name == PROFILE_SPECS["structure-b"].organisation
    assert owner.city == "Nantes"
    festival = m.Season.objects.get(kind=m.Season.Kind.FESTIVAL)
    assert festival.edition
    assert festival.performances.exists()
    titles_b = set(m.Production.objects.values_list("title", flat=True))
    assert titles_a & titles_b == {TOURING_TITLE}
    assert not ids_a & set(m.Production.objects.values_list("pk", flat=True))
    touring = m.Production.objects.get(title=TOURING_TITLE)
    assert touring.producer is not None
    assert touring.producer.name == PROFILE_SPECS["structure-a"].organisation
    assert owner in touring.coproducers.all()


def test_same_seed_gives_the_same_records_and_another_seed_does_not() -> None:
    seed("--profile", "structure-a")
    first = snapshot()
    seed("--profile", "structure-a", "--reset")
    assert snapshot() == first
    seed("--profile", "structure-a", "--reset", "--seed", "7")
    other = snapshot()
    assert other["Production"] != first["Production"]  # other UUIDs
    assert sorted(t for _, t in other["Production"]) == sorted(t for _, t in first["Production"])


def test_second_run_changes_nothing_and_says_so() -> None:
    seed("--profile", "structure-a")
    before, changes = snapshot(), Change.objects.count()
    output = seed("--profile", "structure-a")
    assert "already present" in output
    assert snapshot() == before
    assert Change.objects.count() == changes


def test_foreign_data_is_not_mixed_with_demo_data() -> None:
    m.Organisation.objects.create(name="Une vraie structure")
    with pytest.raises(CommandError, match="--reset"):
        seed("--profile", "structure-a")
    seed("--profile", "structure-a", "--reset")
    assert not m.Organisation.objects.filter(name="Une vraie structure").exists()


# ---------------------------------------------------------------------------- other profiles and the CLI


@pytest.mark.parametrize(("profile", "kind"), [("registry", "other"), ("ministry", "public_body")])
def test_registry_and_ministry_get_their_organisation_only(profile: str, kind: str) -> None:
    seed("--profile", profile)
    (organisation,) = m.Organisation.objects.all()
    assert organisation.name == PROFILE_SPECS[profile].organisation
    assert organisation.kind == kind
    assert "(démo)" in organisation.name
    assert NodeIdentity.objects.get(pk=1).organisation == organisation
    assert not m.Performance.objects.exists()


def test_unknown_profile_is_a_clear_error() -> None:
    with pytest.raises(CommandError, match=r"unknown profile 'theatre'.*structure-a, structure-b, registry, ministry"):
        seed("--profile", "theatre")


def test_help_exits_zero(capsys: Any) -> None:
    with pytest.raises(SystemExit) as exit_info:
        call_command("seed_demo", "--help")
    assert exit_info.value.code == 0
    help_text = capsys.readouterr().out
    assert "--profile" in help_text
    assert "--seed" in help_text
    assert "--reset" in help_text
