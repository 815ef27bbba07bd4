"""Personas of the licence registry: the registry node, licensed and unlicensed professionals."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.directory.factories import LicenceFactory, ProfessionalAccountFactory
from tests.factories import OrganisationFactory, UserFactory

SAMPLE = Path(__file__).resolve().parents[2] / "dataspace" / "directory" / "fixtures" / "licences_sample.csv"

HEADER = (
    "numero_de_recepisse;date_de_depot_de_la_declaration_inscrite_sur_le_recepisse;statut_du_recepisse;categorie;"
    "type;date_de_validite_du_recepisse_sauf_opposition_de_l_administration;type_de_declarant;"
    "raison_sociale_personne_morale_ou_nom_personne_physique;"
    "code_postal_de_l_etablissement_principal_personne_morale_ou_de_la_personne_physique;"
    "siren_personne_physique_siret_personne_morale;code_naf_ape;nom_du_lieu;code_postal_du_lieu;region;departement"
)


def licence_line(
    number: str = "PLATESV-D-2026-000001",
    deposited: str = "2026-01-15",
    status: str = "Valide",
    category: str = "2",
    kind: str = "Première demande",
    valid_until: str = "15/01/2031",
    holder: str = "COMPAGNIE FICTIVE",
    siret: str = "94016344700011",
) -> str:
    """One line of the ministry's file (the other columns filled with plausible values)."""
    return ";".join(
        [number, deposited, status, category, kind, valid_until, "Personne morale", holder, "69007", siret,
         "90.01Z - Arts du spectacle vivant", "", "", "Auvergne-Rhône-Alpes", "Rhône"]
    )  # fmt: skip


def licence_csv(*lines: str, header: str = HEADER) -> str:
    return "\n".join([header, *lines]) + "\n"


@pytest.fixture
def registry(settings: Any) -> Any:
    """This node is the data space's registry."""
    settings.NODE_ROLES = ["registry"]
    return settings


@pytest.fixture
def write_csv(tmp_path: Path) -> Any:
    """Factory: write text (or bytes) to a CSV file in the test's directory and return its path."""

    def write(content: str | bytes, name: str = "licences.csv", encoding: str = "utf-8") -> Path:
        path = tmp_path / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_bytes(content.encode(encoding))
        return path

    return write


@pytest.fixture
def licensed_professional(db: Any) -> Any:
    """A verified professional whose structure holds a Valide category-2 licence until 2031."""
    organisation = OrganisationFactory(name="Compagnie des Essais licenciée", siret="94016344700011")
    LicenceFactory(number="2-PLATESV-D-2026-000211", organisation=organisation, category=2)
    return ProfessionalAccountFactory(user=UserFactory(username="pro-licencie"), organisation=organisation).user


@pytest.fixture
def unlicensed_professional(db: Any) -> Any:
    """A verified professional whose structure's only licence expired on 12/02/2025."""
    organisation = OrganisationFactory(name="Chapiteau expiré")
    LicenceFactory(
        number="PLATESV-D-2020-001234",
        organisation=organisation,
        deposited_on="2020-02-12",
        valid_until="2025-02-12",
    )
    return ProfessionalAccountFactory(user=UserFactory(username="pro-expire"), organisation=organisation).user
