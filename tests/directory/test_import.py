"""import_licences: creation, idempotent re-import, recorded changes, links to organisations."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from dataspace.directory.models import Licence, LicenceChange, LicenceImport
from dataspace.directory.services import LicenceFileError, NotARegistry, import_licences, link_licences
from tests.directory.conftest import SAMPLE, licence_csv, licence_line
from tests.factories import OrganisationFactory

pytestmark = pytest.mark.django_db


def test_sample_import_creates_every_licence(registry: Any) -> None:
    run = import_licences(SAMPLE)
    assert (run.created, run.updated, run.unchanged, run.invalid) == (10, 0, 0, 0)
    assert run.finished_at is not None
    assert Licence.objects.count() == 10
    renewal = Licence.objects.get(number="1-PLATESV-R-2025-006001")
    assert (renewal.category, renewal.kind, renewal.status) == (1, "R", "valide")
    assert renewal.valid_until == dt.date(2030, 6, 2)
    assert renewal.siren == "672876877"


def test_reimport_is_idempotent(registry: Any) -> None:
    import_licences(SAMPLE)
    before = {licence.number: licence.updated_at for licence in Licence.objects.all()}
    run = import_licences(SAMPLE)
    assert (run.created, run.updated, run.unchanged, run.invalid) == (0, 0, 10, 0)
    assert {licence.number: licence.updated_at for licence in Licence.objects.all()} == before
    assert LicenceChange.objects.count() == 0
    assert LicenceImport.objects.count() == 2


def test_reimport_records_what_changed(registry: Any, write_csv: Any) -> None:
    first = write_csv(licence_csv(licence_line("PLATESV-D-2026-000001"), licence_line("PLATESV-D-2026-000002")))
    import_licences(first)
    second = write_csv(
        licence_csv(
            licence_line("PLATESV-D-2026-000001", status="Invalidé", holder="COMPAGNIE RENOMMÉE"),
            licence_line("PLATESV-D-2026-000002"),
            licence_line("PLATESV-D-2026-000003"),
        ),
        name="again.csv",
    )
    run = import_licences(second)
    assert (run.created, run.updated, run.unchanged) == (1, 1, 1)
    change = LicenceChange.objects.get()
    assert change.licence.number == "PLATESV-D-2026-000001"
    assert change.licence_import == run
    assert change.changes == {
        "status": ["valide", "invalide_retire"],
        "holder_name": ["COMPAGNIE FICTIVE", "COMPAGNIE RENOMMÉE"],
    }
    assert Licence.objects.get(number="PLATESV-D-2026-000001").status == "invalide_retire"


def test_changed_dates_are_recorded_as_iso_strings(registry: Any, write_csv: Any) -> None:
    import_licences(write_csv(licence_csv(licence_line(valid_until="15/01/2031"))))
    import_licences(write_csv(licence_csv(licence_line(valid_until="2031-06-30")), name="b.csv"))
    assert LicenceChange.objects.get().changes == {"valid_until": ["2031-01-15", "2031-06-30"]}


def test_licences_absent_from_a_new_file_are_kept(registry: Any, write_csv: Any) -> None:
    import_licences(write_csv(licence_csv(licence_line("PLATESV-D-2026-000001"))))
    import_licences(write_csv(licence_csv(licence_line("PLATESV-D-2026-000002")), name="b.csv"))
    assert Licence.objects.count() == 2


def test_bad_lines_are_counted_listed_and_the_rest_imported(registry: Any, write_csv: Any) -> None:
    run = import_licences(write_csv(licence_csv(licence_line("BAD-NUMBER"), licence_line("PLATESV-D-2026-000001"))))
    assert (run.created, run.invalid) == (1, 1)
    assert run.errors[0]["line"] == 2
    assert "BAD-NUMBER" in run.errors[0]["error"]
    assert LicenceImport.objects.get().errors == run.errors


def test_unusable_file_writes_nothing(registry: Any, write_csv: Any) -> None:
    with pytest.raises(LicenceFileError):
        import_licences(write_csv("numero_de_recepisse;categorie\nPLATESV-D-2026-000001;2\n"))
    assert LicenceImport.objects.count() == Licence.objects.count() == 0


def test_only_a_registry_imports(settings: Any) -> None:
    settings.NODE_ROLES = ["structure"]
    with pytest.raises(NotARegistry, match="registry"):
        import_licences(SAMPLE)
    assert LicenceImport.objects.count() == 0


def test_licences_link_to_the_organisation_of_their_siren(registry: Any, write_csv: Any) -> None:
    by_siret = OrganisationFactory(name="Par SIRET", siret="94016344700011")
    by_siren = OrganisationFactory(name="Par SIREN", siren="127522266")
    run = import_licences(
        write_csv(
            licence_csv(
                licence_line("PLATESV-D-2026-000001", siret="94016344700029"),  # another establishment, same SIREN
                licence_line("PLATESV-D-2026-000002", siret="12752226600015"),
                licence_line("PLATESV-D-2026-000003", siret="422864504"),  # nobody on this node
            )
        )
    )
    assert run.created == 3
    links = dict(Licence.objects.values_list("number", "organisation_id"))
    assert links == {
        "PLATESV-D-2026-000001": by_siret.pk,
        "PLATESV-D-2026-000002": by_siren.pk,
        "PLATESV-D-2026-000003": None,
    }


def test_link_prefers_the_local_self_described_organisation(registry: Any, write_csv: Any) -> None:
    described = OrganisationFactory(name="Décrite par un tiers", siren="127522266")
    OrganisationFactory(name="Copie d'un autre nœud", siren="127522266", origin="https://autre.example")
    described.owner = OrganisationFactory(name="Le tiers")
    described.save()
    itself = OrganisationFactory(name="Elle-même", siren="127522266")
    import_licences(write_csv(licence_csv(licence_line(siret="12752226600015"))))
    assert Licence.objects.get().organisation == itself


def test_link_licences_attaches_organisations_created_later(registry: Any) -> None:
    import_licences(SAMPLE)
    assert Licence.objects.filter(organisation__isnull=False).count() == 0
    theatre = OrganisationFactory(name="Théâtre du Petit Songe", siret="67287687700016")
    assert link_licences() == 2
    assert set(theatre.licences.values_list("number", flat=True)) == {
        "PLATESV-D-2019-000512",
        "1-PLATESV-R-2025-006001",
    }
    assert link_licences() == 0


def test_reimport_does_not_undo_a_link_made_by_hand(registry: Any) -> None:
    import_licences(SAMPLE)
    chosen = OrganisationFactory(name="Rattachée à la main")
    Licence.objects.filter(number="PLATESV-D-2024-005678").update(organisation=chosen)
    OrganisationFactory(name="Même SIREN", siret="22906984400012")
    import_licences(SAMPLE)
    link_licences()
    assert Licence.objects.get(number="PLATESV-D-2024-005678").organisation == chosen
