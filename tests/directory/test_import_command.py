"""python manage.py import_licences FILE: registry only, clear messages, exit status."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from dataspace.directory.models import Licence
from tests.directory.conftest import SAMPLE, licence_csv, licence_line

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]


def run(*args: Any) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("import_licences", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_imports_and_prints_a_summary(registry: Any) -> None:
    out, err = run(str(SAMPLE))
    assert "10 créées, 0 modifiées, 0 inchangées, 0 lignes refusées" in out
    assert err == ""
    assert Licence.objects.count() == 10
    out, _err = run(str(SAMPLE))
    assert "0 créées, 0 modifiées, 10 inchangées" in out


def test_refused_lines_are_printed_with_their_number(registry: Any, write_csv: Any) -> None:
    path = write_csv(licence_csv(licence_line("PLATESV-D-2026-000001"), licence_line("N-IMPORTE-QUOI")))
    out, err = run(str(path))
    assert "1 créées" in out
    assert "1 lignes refusées" in out
    assert "ligne 3 refusée" in err
    assert "N-IMPORTE-QUOI" in err


def test_many_refused_lines_are_cut_at_the_default_verbosity(registry: Any, write_csv: Any) -> None:
    path = write_csv(licence_csv(*[licence_line(f"BAD-{n}") for n in range(25)]))
    _out, err = run(str(path))
    assert err.count("refusée :") == 20
    assert "et 5 autres lignes refusées" in err
    _out, err = run(str(path), "-v", "2")
    assert err.count("refusée :") == 25


def test_missing_file(registry: Any, tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="fichier introuvable"):
        run(str(tmp_path / "absent.csv"))


def test_undecodable_file(registry: Any, write_csv: Any) -> None:
    with pytest.raises(CommandError, match="pas un texte lisible"):
        run(str(write_csv(b"\x00\x01\x02\x03 not a csv")))


def test_missing_columns(registry: Any, write_csv: Any) -> None:
    with pytest.raises(CommandError, match=r"colonnes indispensables absentes.*statut_du_recepisse"):
        run(str(write_csv("numero_de_recepisse;categorie\n")))


def test_refused_on_a_node_without_the_registry_role(settings: Any) -> None:
    settings.NODE_ROLES = ["structure", "ministry"]
    with pytest.raises(CommandError, match="n'a pas le rôle « registry » \\(NODE_ROLES=structure,ministry\\)"):
        run(str(SAMPLE))
    assert Licence.objects.count() == 0


def test_exit_status_of_the_real_command(tmp_path: Path) -> None:
    """Through manage.py: 0 on success, 1 with the message on stderr when the node is not a registry."""
    env = {**os.environ, "NODE_DATA_DIR": str(tmp_path / "node"), "NODE_ROLES": "registry"}
    env.pop("DATABASE_URL", None)
    manage = [sys.executable, str(ROOT / "manage.py")]
    subprocess.run([*manage, "migrate", "-v", "0"], env=env, check=True, cwd=ROOT)  # noqa: S603 - our own manage.py
    ok = subprocess.run(  # noqa: S603 - our own manage.py
        [*manage, "import_licences", str(SAMPLE)], env=env, capture_output=True, text=True, cwd=ROOT, check=False
    )
    assert ok.returncode == 0, ok.stderr
    assert "10 créées" in ok.stdout
    refused = subprocess.run(  # noqa: S603 - our own manage.py
        [*manage, "import_licences", str(SAMPLE)],
        env={**env, "NODE_ROLES": "structure"},
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    assert refused.returncode == 1
    assert "registry" in refused.stderr


def test_help_names_the_columns() -> None:
    from dataspace.directory.management.commands.import_licences import Command

    text = Command().create_parser("manage.py", "import_licences").format_help()
    assert "numero_de_recepisse" in text
    assert "registry" in text
