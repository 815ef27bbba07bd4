"""Reading the ministry's CSV: encodings, columns, dates, numbers, statuses, refused lines."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from dataspace.directory.licence_file import (
    LicenceFileError,
    decode,
    normalise_number,
    parse_licence_text,
    parse_status,
    read_licence_file,
)
from tests.directory.conftest import HEADER, SAMPLE, licence_csv, licence_line


def test_sample_file_reads_without_error() -> None:
    parsed = read_licence_file(SAMPLE)
    assert parsed.errors == []
    statuses = {row.values["status"] for row in parsed.rows}
    assert statuses == {"valide", "en_instruction", "invalide", "invalide_retire"}
    assert {row.values["kind"] for row in parsed.rows} == {"D", "R"}
    assert {row.values["category"] for row in parsed.rows} == {1, 2, 3}


@pytest.mark.parametrize(
    ("data", "encoding"),
    [
        (licence_csv(licence_line(holder="THÉÂTRE DES RÊVES")).encode("utf-8"), "utf-8"),
        (licence_csv(licence_line(holder="THÉÂTRE DES RÊVES")).encode("utf-8-sig"), "utf-8 with BOM"),
        (licence_csv(licence_line(holder="THÉÂTRE DES RÊVES")).encode("latin-1"), "latin-1"),
    ],
)
def test_encodings(write_csv: Any, data: bytes, encoding: str) -> None:
    parsed = read_licence_file(write_csv(data))
    assert parsed.errors == [], encoding
    assert [row.values["holder_name"] for row in parsed.rows] == ["THÉÂTRE DES RÊVES"]


def test_windows_apostrophe_is_read_from_cp1252() -> None:
    text = decode(licence_csv(licence_line(holder="L’ATELIER")).encode("cp1252"))
    assert "L’ATELIER" in text


def test_binary_content_is_refused(write_csv: Any) -> None:
    with pytest.raises(LicenceFileError, match="pas un texte lisible"):
        read_licence_file(write_csv(b"PK\x03\x04\x14\x00\x00\x00\x08\x00binary"))


def test_missing_file_is_refused(tmp_path: Any) -> None:
    with pytest.raises(LicenceFileError, match="fichier introuvable"):
        read_licence_file(tmp_path / "absent.csv")


def test_missing_essential_columns_are_named() -> None:
    header = HEADER.replace("statut_du_recepisse;", "").replace(
        "date_de_validite_du_recepisse_sauf_opposition_de_l_administration;", ""
    )
    with pytest.raises(LicenceFileError) as caught:
        parse_licence_text(header + "\n")
    message = str(caught.value)
    assert "statut_du_recepisse" in message
    assert "date_de_validite_du_recepisse_sauf_opposition_de_l_administration" in message
    assert "numero_de_recepisse" not in message


def test_comma_separated_file_gets_a_hint() -> None:
    with pytest.raises(LicenceFileError, match="séparateur attendu"):
        parse_licence_text(HEADER.replace(";", ",") + "\n")


def test_empty_file_is_refused() -> None:
    with pytest.raises(LicenceFileError, match="vide"):
        parse_licence_text("")


def test_header_case_unknown_columns_and_order_do_not_matter() -> None:
    columns = HEADER.split(";")
    header = ";".join(["geoloc_cp", *[column.upper() for column in reversed(columns)]])
    values = licence_line().split(";")
    line = ";".join(["69007", *reversed(values)])
    parsed = parse_licence_text(f"{header}\n{line}\n")
    assert parsed.errors == []
    assert parsed.rows[0].values["number"] == "PLATESV-D-2026-000001"
    assert parsed.rows[0].values["postal_code"] == "69007"


def test_only_essential_columns_suffice() -> None:
    header = (
        "numero_de_recepisse;statut_du_recepisse;categorie;date_de_depot_de_la_declaration_inscrite_sur_le_recepisse;"
        "date_de_validite_du_recepisse_sauf_opposition_de_l_administration"
    )
    parsed = parse_licence_text(f"{header}\nPLATESV-R-2025-000001;Valide;1;2025-06-02;02/06/2030\n")
    assert parsed.errors == []
    assert parsed.rows[0].values["kind"] == "R"
    assert parsed.rows[0].values["holder_name"] == ""


def test_both_date_forms() -> None:
    parsed = parse_licence_text(
        licence_csv(
            licence_line("PLATESV-D-2026-000001", deposited="2026-01-15", valid_until="15/01/2031"),
            licence_line("PLATESV-D-2026-000002", deposited="15/01/2026", valid_until="2031-01-15"),
            licence_line("PLATESV-D-2026-000003", deposited="2026-01-15T00:00:00+01:00", valid_until="5/1/2031"),
        )
    )
    assert parsed.errors == []
    assert [(row.values["deposited_on"], row.values["valid_until"]) for row in parsed.rows] == [
        (dt.date(2026, 1, 15), dt.date(2031, 1, 15)),
        (dt.date(2026, 1, 15), dt.date(2031, 1, 15)),
        (dt.date(2026, 1, 15), dt.date(2031, 1, 5)),
    ]


@pytest.mark.parametrize(
    ("raw", "number", "prefix", "kind"),
    [
        ("PLATESV-D-2021-013704", "PLATESV-D-2021-013704", None, "D"),
        ("  platesv-r-2021-013704 ", "PLATESV-R-2021-013704", None, "R"),
        ("2-PLATESV-R-2024-000123", "2-PLATESV-R-2024-000123", 2, "R"),
        ("3 - platesv – d - 2025 - 004212", "3-PLATESV-D-2025-004212", 3, "D"),
    ],
)
def test_number_normalisation(raw: str, number: str, prefix: int | None, kind: str) -> None:
    assert normalise_number(raw) == (number, prefix, kind)


def test_prefix_gives_the_category_when_the_column_is_empty() -> None:
    parsed = parse_licence_text(licence_csv(licence_line("1-PLATESV-D-2026-001002", category="")))
    assert parsed.errors == []
    assert parsed.rows[0].values["category"] == 1
    assert parsed.rows[0].values["number"] == "1-PLATESV-D-2026-001002"


def test_prefix_contradicting_the_column_is_a_row_error() -> None:
    parsed = parse_licence_text(
        licence_csv(licence_line("2-PLATESV-D-2026-000001", category="3"), licence_line("PLATESV-D-2026-000002"))
    )
    assert [row.number for row in parsed.rows] == ["PLATESV-D-2026-000002"]
    assert len(parsed.errors) == 1
    assert parsed.errors[0].line == 2
    assert "contredit la colonne categorie" in parsed.errors[0].error


def test_bad_rows_are_reported_with_their_line_and_skipped() -> None:
    parsed = parse_licence_text(
        licence_csv(
            licence_line("PLATESV-D-2026-000001"),  # line 2: fine
            licence_line("LICENCE-42"),  # line 3: bad number
            "",  # line 4: blank, ignored
            licence_line("PLATESV-D-2026-000004", valid_until="31/02/2031"),  # line 5: no such date
            licence_line("PLATESV-D-2026-000005", status="Suspendue"),  # line 6: unknown status
            licence_line("PLATESV-D-2026-000006", category="4"),  # line 7: no such category
            licence_line("PLATESV-D-2026-000007", category=""),  # line 8: no category at all
            licence_line("PLATESV-D-2026-000008", siret="1234"),  # line 9: not a SIREN/SIRET
            licence_line("PLATESV-R-2026-000009", kind="Première demande"),  # line 10: type contradicts number
            licence_line("platesv-d-2026-000001"),  # line 11: same number as line 2
            licence_line("PLATESV-D-2026-000012"),  # line 12: fine
        )
    )
    assert [row.number for row in parsed.rows] == ["PLATESV-D-2026-000001", "PLATESV-D-2026-000012"]
    errors = {error.line: error.error for error in parsed.errors}
    assert sorted(errors) == [3, 5, 6, 7, 8, 9, 10, 11]
    assert "LICENCE-42" in errors[3]
    assert "31/02/2031" in errors[5]
    assert "Suspendue" in errors[6]
    assert "« 4 »" in errors[7]
    assert "catégorie manquante" in errors[8]
    assert "1234" in errors[9]
    assert "contredit le numéro" in errors[10]
    assert "déjà ligne 2" in errors[11]


def test_line_numbers_count_quoted_multiline_fields() -> None:
    multiline = licence_line("PLATESV-D-2026-000001", holder='"COMPAGNIE\nSUR DEUX LIGNES"')
    parsed = parse_licence_text(licence_csv(multiline, licence_line("BAD")))
    assert parsed.rows[0].values["holder_name"] == "COMPAGNIE SUR DEUX LIGNES"
    assert [error.line for error in parsed.errors] == [4]


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        ("Valide", "valide"),
        ("VALIDE", "valide"),
        ("En instruction", "en_instruction"),
        ("EN INSTRUCTION", "en_instruction"),
        ("en_instruction", "en_instruction"),
        ("Invalide", "invalide"),
        ("INVALIDE", "invalide"),
        ("Invalidé", "invalide_retire"),
        ("INVALIDÉ", "invalide_retire"),
        ("Invalide\u0301", "invalide_retire"),  # decomposed accent
        ("invalide_retire", "invalide_retire"),
        ("Expiré", "expire"),
        ("expire", "expire"),
    ],
)
def test_statuses_tolerate_case_and_accents(raw: str, status: str) -> None:
    assert parse_status(raw) == status


def test_kind_column_accepts_the_ministry_words() -> None:
    parsed = parse_licence_text(
        licence_csv(
            licence_line("PLATESV-R-2026-000001", kind="Renouvellement"),
            licence_line("PLATESV-D-2026-000002", kind="D"),
            licence_line("PLATESV-D-2026-000003", kind=""),
        )
    )
    assert parsed.errors == []
    assert [row.values["kind"] for row in parsed.rows] == ["R", "D", "D"]
