"""CSV import of ticketing figures: the API endpoint and `import_ticketing`; all lines or none."""

from __future__ import annotations

import datetime as dt
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from dataspace.indicators.models import TicketingFigures
from tests.factories import PARIS, OrganisationFactory
from tests.indicators.conftest import IMPORT
from tests.indicators.factories import figures, run

pytestmark = pytest.mark.django_db

SAMPLE = Path(__file__).resolve().parents[2] / "dataspace" / "indicators" / "fixtures" / "ticketing_sample.csv"
FRENCH_HEADER = (
    "identifiant_billetterie;systeme_billetterie;spectacle;date;billets_total;billets_plein_tarif;"
    "billets_abonnement;billets_exonérés;recette_totale;recette_plein_tarif\n"
)


@pytest.fixture
def diner(theatre: Any) -> list[Any]:
    """Four performances of « Le Dîner des Créanciers » (accents: Latin-1 files must read them), 6-9 Oct 2026."""
    return run(theatre, 4, title="Le Dîner des Créanciers")


def latin1(text: str) -> bytes:
    return text.encode("latin-1")


def post_csv(api: Any, data: bytes, **extra: Any) -> Any:
    return api.post(IMPORT, data, content_type="text/csv; charset=iso-8859-1", **extra)


def test_a_latin1_semicolon_file_with_french_columns_and_comma_decimals(vendor: Any, diner: list[Any]) -> None:
    text = FRENCH_HEADER + (
        "D-1;Billetterie Exemple;le dîner des créanciers;06/10/2026 20:00;250;100;80;10;4 321,50;2 200,00\n"
        "D-SERIE;Billetterie Exemple;Le Dîner des Créanciers;2026-10-07 20:00|2026-10-08 20:00;500;0;0;20;7 200,00;0\n"
    )
    response = post_csv(vendor, latin1(text))
    assert response.status_code == 200, response.content
    assert response.json() | {"figure_ids": []} == {
        "lines": 2,
        "created": 2,
        "updated": 0,
        "unchanged": 0,
        "figure_ids": [],
    }
    single = TicketingFigures.objects.get(external_id="D-1")
    assert str(single.receipts_total) == "4321.50"
    assert single.performance == diner[0]
    series = TicketingFigures.objects.get(external_id="D-SERIE")
    assert series.performance_count == 2
    assert series.capacity == 600
    again = post_csv(vendor, latin1(text))
    assert again.json()["unchanged"] == 2
    assert TicketingFigures.objects.count() == 2


def test_a_utf8_comma_file_with_a_bom_and_performance_ids(vendor: Any, diner: list[Any]) -> None:
    text = (
        "\ufeffexternal_id,performance,tickets_total,tickets_exempt,receipts_total,capacity\n"
        f'X-1,{diner[0].pk},120,120,0,\n'
        f'X-2,"https://node.example/id/performance/{diner[1].pk}|{diner[2].pk}",300,0,"4500,00",500\n'
    )  # fmt: skip
    response = vendor.post(IMPORT, text.encode("utf-8"), content_type="text/csv")
    assert response.status_code == 200, response.content
    free = TicketingFigures.objects.get(external_id="X-1")
    assert free.average_price is None
    assert TicketingFigures.objects.get(external_id="X-2").capacity == 500


def test_bad_lines_are_all_reported_with_their_numbers_and_nothing_is_written(vendor: Any, diner: list[Any]) -> None:
    figures(diner[3], "ALREADY", tickets_total=10, receipts_total="100.00")
    text = FRENCH_HEADER + (
        "OK-1;B;Le Dîner des Créanciers;06/10/2026 20:00;250;100;80;10;4321.50;2200.00\n"  # line 2: fine
        "\n"  # line 3: empty lines are skipped
        "BAD-1;B;Le Dîner des Créanciers;07/10/2026 20:00;-4;0;0;0;0;0\n"  # line 4
        "BAD-2;B;Le Dîner des Créanciers;08/10/2026 20:00;100;200;0;0;100;0\n"  # line 5
        "BAD-3;B;Spectacle inconnu;08/10/2026 20:00;100;0;0;0;100;0\n"  # line 6
        "OK-1;B;Le Dîner des Créanciers;08/10/2026 20:00;100;0;0;0;100;0\n"  # line 7: id twice
        "BAD-4;B;Le Dîner des Créanciers;09/10/2026 20:00;10;0;0;0;douze;0\n"  # line 8
        "BAD-5;B;Le Dîner des Créanciers;2026-12-30 20:00|2027-01-02 20:00;10;0;0;0;10;0\n"  # line 9
        "BAD-6;B;Le Dîner des Créanciers;09/10/2026 20:00;10;0;0;0;10;0\n"  # line 10: declared as ALREADY
    )
    response = post_csv(vendor, latin1(text))
    assert response.status_code == 400, response.content
    document = response.json()
    found = {(line["line"], line["field"]) for line in document["lines"]}
    assert {
        (4, "tickets_total"),
        (5, "tickets_full_price"),
        (6, "start"),
        (7, "external_id"),
        (8, "receipts_total"),
        (10, "performances"),
    } <= found
    assert any(line == 9 for line, _field in found)  # no such performances (and they would straddle)
    assert not any(line == 2 for line, _field in found)
    assert document["fields"]["file"][0].startswith("ligne 4")
    assert list(TicketingFigures.objects.values_list("external_id", flat=True)) == ["ALREADY"]


def test_a_series_straddling_quarters_in_a_file_is_refused(vendor: Any, theatre: Any) -> None:
    run(theatre, 3, start=dt.datetime(2026, 12, 30, 20, 0, tzinfo=PARIS), title="Réveillon")
    text = FRENCH_HEADER + "R-1;B;Réveillon;30/12/2026 20:00|31/12/2026 20:00|01/01/2027 20:00;300;0;0;0;3000;0\n"
    response = post_csv(vendor, latin1(text))
    lines = response.json()["lines"]
    assert lines[0]["line"] == 2
    assert lines[0]["field"] == "performances"
    assert "trimestres" in lines[0]["error"]
    assert not TicketingFigures.objects.exists()


def test_unusable_files_are_refused_naming_the_file(vendor: Any, diner: list[Any]) -> None:
    missing = vendor.post(IMPORT, b"spectacle;date\nA;06/10/2026 20:00\n", content_type="text/csv")
    assert missing.status_code == 400
    assert (
        "billets_total" in missing.json()["fields"]["file"][0] or "tickets_total" in missing.json()["fields"]["file"][0]
    )
    binary = vendor.post(IMPORT, b"PK\x03\x04\x00\x00binary", content_type="text/csv")
    assert "file" in binary.json()["fields"]
    empty = vendor.post(IMPORT, b"", content_type="text/csv")
    assert "file" in empty.json()["fields"]
    as_json = vendor.post(IMPORT, {"file": "x"}, format="json")
    assert as_json.status_code == 415


def test_the_owner_parameter_limits_the_lines(vendor: Any, member: Any, theatre: Any, diner: list[Any]) -> None:
    other = OrganisationFactory(name="Autre scène")
    elsewhere = run(other, 1)[0]
    text = f"external_id;performance;tickets_total;receipts_total\nE-1;{elsewhere.pk};10;100\n"
    staff = member("editor")
    response = staff.post(f"{IMPORT}?owner={theatre.pk}", text.encode(), content_type="text/csv")
    assert response.json()["lines"][0]["field"] == "performance"
    refused = staff.post(f"{IMPORT}?owner={other.pk}", text.encode(), content_type="text/csv")
    assert refused.status_code == 403
    assert not TicketingFigures.objects.exists()


def test_idempotency_key_on_the_import(vendor: Any, diner: list[Any]) -> None:
    text = latin1(FRENCH_HEADER + "I-1;B;Le Dîner des Créanciers;06/10/2026 20:00;10;0;0;0;100;0\n")
    first = post_csv(vendor, text, HTTP_IDEMPOTENCY_KEY="import-1")
    replay = post_csv(vendor, text, HTTP_IDEMPOTENCY_KEY="import-1")
    assert replay["Idempotent-Replayed"] == "true"
    assert replay.json() == first.json()
    assert first.json()["created"] == 1


# ---------------------------------------------------------------------------- the command


def test_command_imports_the_sample_style_file_by_siret(tmp_path: Path, theatre: Any, diner: list[Any]) -> None:
    path = tmp_path / "billetterie.csv"
    path.write_bytes(latin1(FRENCH_HEADER + "C-1;B;Le Dîner des Créanciers;06/10/2026 20:00;10;0;0;0;100;0\n"))
    out = StringIO()
    call_command("import_ticketing", str(path), "--owner", "732 829 320 00074", stdout=out)
    assert "1 créées" in out.getvalue()
    call_command("import_ticketing", str(path), "--owner", str(theatre.pk), stdout=out)
    assert "1 inchangées" in out.getvalue()


def test_command_reports_bad_lines_and_writes_nothing(tmp_path: Path, theatre: Any, diner: list[Any]) -> None:
    path = tmp_path / "billetterie.csv"
    path.write_bytes(
        latin1(
            FRENCH_HEADER
            + "C-1;B;Le Dîner des Créanciers;06/10/2026 20:00;10;0;0;0;100;0\n"
            + "C-2;B;Le Dîner des Créanciers;07/10/2026 20:00;10;20;0;0;100;0\n"
        )
    )
    err = StringIO()
    with pytest.raises(CommandError, match="1 ligne"):
        call_command("import_ticketing", str(path), "--owner", theatre.siret, stderr=err)
    assert "ligne 3, tickets_full_price" in err.getvalue()
    assert not TicketingFigures.objects.exists()


def test_command_refuses_another_structures_performances(tmp_path: Path, theatre: Any) -> None:
    other = OrganisationFactory(name="Autre scène")
    elsewhere = run(other, 1)[0]
    path = tmp_path / "b.csv"
    path.write_text(f"external_id;performance;tickets_total;receipts_total\nE-1;{elsewhere.pk};10;100\n")
    err = StringIO()
    with pytest.raises(CommandError):
        call_command("import_ticketing", str(path), "--owner", theatre.siret, stderr=err)
    assert "autre structure" in err.getvalue()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["missing.csv", "--owner", "73282932000074"], "introuvable"),
        (["{sample}", "--owner", "12345678901234"], "aucune structure"),
        (["{sample}", "--owner", "pas-un-id"], "ni un SIRET"),
    ],
)
def test_command_errors_are_clear(theatre: Any, args: list[str], message: str) -> None:
    with pytest.raises(CommandError, match=message):
        call_command("import_ticketing", *[arg.format(sample=SAMPLE) for arg in args])


def test_the_sample_file_reads_against_the_demo_structure(db: Any) -> None:
    from dataspace.indicators import imports
    from dataspace.referentials.demo_data import seed_demo

    seed_demo("structure-a")
    from dataspace.node.services import current_identity

    identity = current_identity()
    assert identity is not None
    report = imports.import_ticketing(SAMPLE.read_bytes(), owner=identity.organisation)
    assert (report.lines, report.created) == (5, 5)
    series = TicketingFigures.objects.get(external_id="PP-SCOLAIRES-2026T4")
    assert series.performance_count == 2
    assert TicketingFigures.objects.get(external_id="PP-20261212").average_price is None
