"""Fictitious, deterministic demo data for the four demo profiles (`seed_demo`).

Every name, address and SIRET here is invented (SIRETs are generated, Luhn-valid, from the seed).
Public-domain classics (Molière, Marivaux, Tchekhov, Mozart…) are used as works; the people who
stage and perform them are fictitious. The same seed always gives the same records, UUIDs
included: UUIDs are uuid5 of the seed and a stable name, dates are relative to the 2026-2027
season, never to today.
"""

from __future__ import annotations

import datetime as dt
import random
import uuid
import zoneinfo
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db import transaction

from dataspace.node.services import current_identity, initialise_node
from dataspace.records.models import Record
from dataspace.referentials import models as m
from dataspace.referentials.permissions import sync_host_grants
from dataspace.referentials.validators import luhn_ok

PARIS = zoneinfo.ZoneInfo("Europe/Paris")
SEASON_START = dt.date(2026, 9, 1)
SEASON_END = dt.date(2027, 6, 30)
#: Namespace of every demo UUID (uuid5 of this and "<seed>:<profile>:<type>:<key>").
DEMO_NAMESPACE = uuid.UUID("5c3e0c0d-2026-4027-8000-5c3e0c0d0001")

STRUCTURE_PROFILES = ("structure-a", "structure-b")
PROFILES = (*STRUCTURE_PROFILES, "registry", "ministry")

#: The production both demo structures programme (so federation can deduplicate it by title).
TOURING_TITLE = "Les Vagues de verre"


class DemoDataError(Exception):
    """The demo data cannot be written (unknown profile, foreign data present…)."""


# ---------------------------------------------------------------------------- identifiers


def luhn_check_digit(partial: str) -> str:
    """The digit that, appended to `partial`, makes the whole string pass the Luhn checksum."""
    if not partial.isdigit():
        raise ValueError(f"digits expected, got {partial!r}")
    for digit in "0123456789":
        if luhn_ok(partial + digit):
            return digit
    raise AssertionError("unreachable: one of ten digits always completes a Luhn sum")


def demo_siret(seed: int, key: str) -> str:
    """A deterministic, Luhn-valid SIRET (valid SIREN + establishment number) for `key`.

    The first digit is never 0 and never starts La Poste's SIREN, so the ordinary Luhn rule applies.
    """
    rng = random.Random(f"siret:{seed}:{key}")  # noqa: S311 - deterministic demo data, not crypto
    siren_body = str(rng.randint(1, 9)) + "".join(str(rng.randint(0, 9)) for _ in range(7))
    siren = siren_body + luhn_check_digit(siren_body)
    nic_body = "000" + str(rng.randint(1, 9))
    return siren + nic_body + luhn_check_digit(siren + nic_body)


def demo_uuid(seed: int, profile: str, kind: str, key: str) -> uuid.UUID:
    return uuid.uuid5(DEMO_NAMESPACE, f"{seed}:{profile}:{kind}:{key}")


# ---------------------------------------------------------------------------- static tables


@dataclass(frozen=True)
class HallSpec:
    name: str
    seated: int | None
    standing: int | None = None
    wheelchair: int = 4
    stage: tuple[str, str, str, str] = ("12.00", "10.00", "10.50", "14.00")  # width, depth, opening, grid


@dataclass(frozen=True)
class VenueSpec:
    name: str
    venue_type: str
    street: str
    postal_code: str
    city: str
    lat: str
    lon: str
    halls: tuple[HallSpec, ...]


@dataclass(frozen=True)
class ProfileSpec:
    organisation: str
    legal_name: str
    kind: str
    label: str
    legal_status: str
    city: str
    postal_code: str
    departement: str
    region: str
    website: str
    venues: tuple[VenueSpec, ...] = ()
    #: Keys into WORKS/PRODUCTIONS programmed by this structure (the touring one is always added).
    productions: tuple[str, ...] = ()
    festival: tuple[str, int, dt.date, dt.date] | None = None  # name, edition, start, end


PROFILE_SPECS: dict[str, ProfileSpec] = {
    "structure-a": ProfileSpec(
        organisation="Théâtre des Lilas imaginaires",
        legal_name="Association du Théâtre des Lilas imaginaires",
        kind=m.Organisation.Kind.THEATRE,
        label="Scène conventionnée d'intérêt national (fictive)",
        legal_status="Association loi 1901",
        city="Lyon",
        postal_code="69004",
        departement="69",
        region="Auvergne-Rhône-Alpes",
        website="https://lilas-imaginaires.example",
        venues=(
            VenueSpec(
                "Théâtre des Lilas imaginaires",
                m.Venue.VenueType.THEATRE,
                "12 rue des Lilas-Imaginaires",
                "69004",
                "Lyon",
                "45.774100",
                "4.828300",
                (
                    HallSpec("Grande salle", 620, None, 8, ("14.00", "12.00", "11.00", "16.50")),
                    HallSpec("Studio des Pentes", 120, 160, 3, ("9.00", "8.00", "8.00", "6.50")),
                ),
            ),
            VenueSpec(
                "La Fabrique du Fleuve",
                m.Venue.VenueType.MULTIPURPOSE,
                "3 quai des Songes",
                "69100",
                "Villeurbanne",
                "45.771900",
                "4.880100",
                (HallSpec("La Halle", 350, 800, 6, ("16.00", "14.00", "15.00", "9.00")),),
            ),
            VenueSpec(
                "Chapiteau des Brotteaux rêvés",
                m.Venue.VenueType.BIG_TOP,
                "Parc des Chimères",
                "69006",
                "Lyon",
                "45.767000",
                "4.856000",
                (HallSpec("Chapiteau", 450, None, 6, ("13.00", "13.00", "13.00", "11.00")),),
            ),
        ),
        productions=(
            "misanthrope-origin",
            "misanthrope",
            "fausses-confidences",
            "mouette",
            "don-giovanni",
            "berenice",
            "petit-phare",
            "lignes-de-crete",
            "haut-le-fil",
            "nuits-de-rhone",
            "dindon",
            "badine",
            "chantier-des-voix",
            "didon",
        ),
    ),
    "structure-b": ProfileSpec(
        organisation="Scène nationale des Estuaires imaginaires",
        legal_name="EPCC Scène nationale des Estuaires imaginaires",
        kind=m.Organisation.Kind.THEATRE,
        label="Scène nationale (fictive)",
        legal_status="Établissement public de coopération culturelle",
        city="Nantes",
        postal_code="44000",
        departement="44",
        region="Pays de la Loire",
        website="https://estuaires-imaginaires.example",
        venues=(
            VenueSpec(
                "Le Grand Carré des Estuaires",
                m.Venue.VenueType.THEATRE,
                "1 place des Marées-Inventées",
                "44000",
                "Nantes",
                "47.213000",
                "-1.556000",
                (
                    HallSpec("Salle Loire", 820, None, 10, ("18.00", "15.00", "14.00", "20.00")),
                    HallSpec("Salle Erdre", 260, None, 4, ("11.00", "9.00", "9.50", "8.00")),
                    HallSpec("L'Atelier", 80, 120, 2, ("8.00", "7.00", "7.00", "5.50")),
                ),
            ),
            VenueSpec(
                "La Cale aux Sons",
                m.Venue.VenueType.MUSIC_CLUB,
                "22 rue du Port-Fantôme",
                "44400",
                "Rezé",
                "47.190000",
                "-1.566000",
                (HallSpec("Le Club", None, 450, 5, ("10.00", "7.00", "9.00", "7.00")),),
            ),
        ),
        productions=(
            "tartuffe-origin",
            "tartuffe",
            "jeu-amour",
            "cerisaie",
            "flute",
            "phedre",
            "ile-aux-sirenes",
            "marees-basses",
            "cordes-raides",
            "brume",
            "fil-du-temps",
            "maison-de-bernarda",
            "echos",
            "nuit-des-rois",
        ),
        festival=("Festival Marées hautes", 12, dt.date(2027, 5, 20), dt.date(2027, 6, 6)),
    ),
    "registry": ProfileSpec(
        organisation="Registre Scène Commune (démo)",
        legal_name="Association Scène Commune — opérateur de l'espace de données (démo)",
        kind=m.Organisation.Kind.OTHER,
        label="",
        legal_status="Association loi 1901",
        city="Paris",
        postal_code="75011",
        departement="75",
        region="Île-de-France",
        website="https://registre.scene-commune.example",
    ),
    "ministry": ProfileSpec(
        organisation="Ministère de la Culture — DGCA (démo)",
        legal_name="Ministère de la Culture — Direction générale de la création artistique (démo)",
        kind=m.Organisation.Kind.PUBLIC_BODY,
        label="",
        legal_status="Administration centrale de l'État",
        city="Paris",
        postal_code="75001",
        departement="75",
        region="Île-de-France",
        website="https://culture.example",
    ),
}

#: People who created the works: (key, given name, family name, external identifiers).
CREATORS: dict[str, tuple[str, str, list[str]]] = {
    "moliere": ("", "Molière", ["https://www.wikidata.org/wiki/Q687"]),
    "marivaux": ("Pierre de", "Marivaux", ["https://www.wikidata.org/wiki/Q313000"]),
    "tchekhov": ("Anton", "Tchekhov", ["https://www.wikidata.org/wiki/Q5685"]),
    "mozart": ("Wolfgang Amadeus", "Mozart", ["https://www.wikidata.org/wiki/Q254"]),
    "da-ponte": ("Lorenzo", "Da Ponte", ["https://www.wikidata.org/wiki/Q295685"]),
    "schikaneder": ("Emanuel", "Schikaneder", []),
    "racine": ("Jean", "Racine", ["https://www.wikidata.org/wiki/Q128560"]),
    "musset": ("Alfred de", "Musset", ["https://www.wikidata.org/wiki/Q49760"]),
    "feydeau": ("Georges", "Feydeau", ["https://www.wikidata.org/wiki/Q296244"]),
    "purcell": ("Henry", "Purcell", ["https://www.wikidata.org/wiki/Q194237"]),
    "shakespeare": ("William", "Shakespeare", ["https://www.wikidata.org/wiki/Q692"]),
    "lorca": ("Federico", "García Lorca", ["https://www.wikidata.org/wiki/Q47453"]),
    # Fictitious contemporaries.
    "marchetti": ("Léonie", "Marchetti", []),
    "ferrand": ("Yanis", "Ferrand", []),
    "okafor": ("Adaeze", "Okafor-Lemaire", []),
    "villeneuve": ("Bastien", "Villeneuve-Sarr", []),
    "kerhervé": ("Maëlle", "Kerhervé", []),
    "nguyen": ("Thao", "Nguyen-Delorme", []),
}


@dataclass(frozen=True)
class WorkSpec:
    title: str
    genre: str
    year: int | None
    duration: int | None
    language: str
    creators: tuple[tuple[str, str], ...]  # (creator key, role)
    original_title: str = ""
    characters: tuple[str, ...] = ()


WORKS: dict[str, WorkSpec] = {
    "misanthrope": WorkSpec(
        "Le Misanthrope",
        m.Work.Genre.PLAY,
        1666,
        150,
        "fr",
        (("moliere", "author"),),
        characters=("Alceste", "Célimène", "Philinte", "Éliante", "Oronte", "Arsinoé"),
    ),
    "tartuffe": WorkSpec(
        "Le Tartuffe ou l'Imposteur",
        m.Work.Genre.PLAY,
        1664,
        140,
        "fr",
        (("moliere", "author"),),
        characters=("Tartuffe", "Orgon", "Elmire", "Dorine", "Mariane", "Cléante"),
    ),
    "fausses-confidences": WorkSpec(
        "Les Fausses Confidences",
        m.Work.Genre.PLAY,
        1737,
        120,
        "fr",
        (("marivaux", "author"),),
        characters=("Araminte", "Dorante", "Dubois", "Marton"),
    ),
    "jeu-amour": WorkSpec(
        "Le Jeu de l'amour et du hasard",
        m.Work.Genre.PLAY,
        1730,
        110,
        "fr",
        (("marivaux", "author"),),
        characters=("Silvia", "Dorante", "Lisette", "Arlequin"),
    ),
    "mouette": WorkSpec(
        "La Mouette",
        m.Work.Genre.PLAY,
        1896,
        160,
        "ru",
        (("tchekhov", "author"),),
        original_title="Чайка",
        characters=("Nina", "Constantin Treplev", "Arkadina", "Trigorine"),
    ),
    "cerisaie": WorkSpec(
        "La Cerisaie",
        m.Work.Genre.PLAY,
        1904,
        150,
        "ru",
        (("tchekhov", "author"),),
        original_title="Вишнёвый сад",
        characters=("Lioubov Ranevskaïa", "Lopakhine", "Varia", "Gaev"),
    ),
    "don-giovanni": WorkSpec(
        "Don Giovanni",
        m.Work.Genre.OPERA,
        1787,
        180,
        "it",
        (("mozart", "composer"), ("da-ponte", "librettist")),
        characters=("Don Giovanni", "Leporello", "Donna Anna", "Zerlina"),
    ),
    "flute": WorkSpec(
        "La Flûte enchantée",
        m.Work.Genre.OPERA,
        1791,
        165,
        "de",
        (("mozart", "composer"), ("schikaneder", "librettist")),
        original_title="Die Zauberflöte",
        characters=("Tamino", "Pamina", "Papageno", "La Reine de la Nuit"),
    ),
    "berenice": WorkSpec(
        "Bérénice",
        m.Work.Genre.PLAY,
        1670,
        105,
        "fr",
        (("racine", "author"),),
        characters=("Bérénice", "Titus", "Antiochus"),
    ),
    "phedre": WorkSpec(
        "Phèdre",
        m.Work.Genre.PLAY,
        1677,
        120,
        "fr",
        (("racine", "author"),),
        characters=("Phèdre", "Hippolyte", "Thésée", "Œnone"),
    ),
    "badine": WorkSpec(
        "On ne badine pas avec l'amour",
        m.Work.Genre.PLAY,
        1834,
        110,
        "fr",
        (("musset", "author"),),
        characters=("Perdican", "Camille", "Rosette", "Maître Blazius"),
    ),
    "dindon": WorkSpec(
        "Le Dindon",
        m.Work.Genre.PLAY,
        1896,
        140,
        "fr",
        (("feydeau", "author"),),
        characters=("Pontagnac", "Lucienne", "Rédillon", "Vatelin"),
    ),
    "didon": WorkSpec(
        "Didon et Énée",
        m.Work.Genre.OPERA,
        1689,
        60,
        "en",
        (("purcell", "composer"),),
        original_title="Dido and Aeneas",
        characters=("Didon", "Énée", "Belinda"),
    ),
    "nuit-des-rois": WorkSpec(
        "La Nuit des rois",
        m.Work.Genre.PLAY,
        1602,
        150,
        "en",
        (("shakespeare", "author"),),
        original_title="Twelfth Night",
        characters=("Viola", "Orsino", "Olivia", "Malvolio"),
    ),
    "bernarda": WorkSpec(
        "La Maison de Bernarda Alba",
        m.Work.Genre.PLAY,
        1936,
        110,
        "es",
        (("lorca", "author"),),
        original_title="La casa de Bernarda Alba",
        characters=("Bernarda", "Adela", "Poncia", "Martirio"),
    ),
    "vagues": WorkSpec(
        TOURING_TITLE,
        m.Work.Genre.PLAY,
        2025,
        95,
        "fr",
        (("marchetti", "author"),),
        characters=("Iris", "Le Verrier", "La Marée"),
    ),
    "lignes": WorkSpec("Lignes de crête", m.Work.Genre.CHOREOGRAPHY, 2026, 70, "", (("ferrand", "choreographer"),)),
    "haut-le-fil": WorkSpec("Haut le fil", m.Work.Genre.CIRCUS, 2024, 75, "", (("okafor", "author"),)),
    "petit-phare": WorkSpec(
        "Le Petit Phare",
        m.Work.Genre.PLAY,
        2023,
        45,
        "fr",
        (("kerhervé", "author"),),
        characters=("Lumi", "Le Gardien"),
    ),
    "nuits-de-rhone": WorkSpec("Nuits de Rhône", m.Work.Genre.MUSIC, 2026, 80, "fr", (("villeneuve", "composer"),)),
    "chantier": WorkSpec("Le Chantier des voix", m.Work.Genre.PLAY, 2026, 100, "fr", (("nguyen", "author"),)),
    "ile": WorkSpec(
        "L'Île aux sirènes",
        m.Work.Genre.PLAY,
        2024,
        50,
        "fr",
        (("kerhervé", "author"),),
        characters=("Nour", "La Sirène"),
    ),
    "marees": WorkSpec("Marées basses", m.Work.Genre.CHOREOGRAPHY, 2025, 60, "", (("ferrand", "choreographer"),)),
    "cordes": WorkSpec("Cordes raides", m.Work.Genre.CIRCUS, 2026, 80, "", (("okafor", "author"),)),
    "brume": WorkSpec("Brume", m.Work.Genre.MUSIC, 2025, 75, "fr", (("villeneuve", "composer"),)),
    "fil-du-temps": WorkSpec(
        "Le Fil du temps",
        m.Work.Genre.PLAY,
        2026,
        90,
        "fr",
        (("nguyen", "author"),),
        characters=("Jeanne", "Octave", "La Voix"),
    ),
    "echos": WorkSpec("Échos d'estuaire", m.Work.Genre.MUSIC, 2027, 70, "fr", (("villeneuve", "composer"),)),
}


@dataclass(frozen=True)
class ProductionSpec:
    title: str
    works: tuple[str, ...]
    discipline: str
    performances: int
    audience: str = m.Production.Audience.ALL
    minimum_age: int | None = None
    premiere: dt.date | None = None
    revival_of: str | None = None
    #: The whole run happens before the season (an original production kept for its revival).
    archived: bool = False
    coproduced_with_partner: bool = False
    touring: bool = False
    festival: bool = False
    hall_kinds: tuple[str, ...] = ()  # preferred hall names; empty = any
    month: int | None = None  # month of the season the run starts in


P = ProductionSpec
D = m.Discipline
YOUNG = m.Production.Audience.YOUNG

PRODUCTIONS: dict[str, ProductionSpec] = {
    # structure-a (Lyon)
    "misanthrope-origin": P(
        "Le Misanthrope", ("misanthrope",), D.THEATRE, 0, premiere=dt.date(2022, 11, 8), archived=True
    ),
    "misanthrope": P(
        "Le Misanthrope (reprise)",
        ("misanthrope",),
        D.THEATRE,
        6,
        revival_of="misanthrope-origin",
        hall_kinds=("Grande salle",),
        month=10,
    ),
    "fausses-confidences": P(
        "Les Fausses Confidences",
        ("fausses-confidences",),
        D.THEATRE,
        7,
        hall_kinds=("Studio des Pentes", "Grande salle"),
        month=11,
    ),
    "mouette": P("La Mouette", ("mouette",), D.THEATRE, 7, hall_kinds=("Grande salle",), month=1),
    "don-giovanni": P("Don Giovanni", ("don-giovanni",), D.OPERA, 4, hall_kinds=("Grande salle",), month=3),
    "berenice": P("Bérénice", ("berenice",), D.THEATRE, 5, hall_kinds=("Studio des Pentes",), month=2),
    "petit-phare": P(
        "Le Petit Phare",
        ("petit-phare",),
        D.THEATRE,
        8,
        audience=YOUNG,
        minimum_age=4,
        hall_kinds=("Studio des Pentes",),
        month=12,
    ),
    "lignes-de-crete": P(
        "Lignes de crête", ("lignes",), D.DANCE, 5, hall_kinds=("La Halle",), month=9, coproduced_with_partner=True
    ),
    "haut-le-fil": P("Haut le fil", ("haut-le-fil",), D.CIRCUS, 10, hall_kinds=("Chapiteau",), month=5),
    "nuits-de-rhone": P("Nuits de Rhône", ("nuits-de-rhone",), D.MUSIC, 3, hall_kinds=("La Halle",), month=4),
    "dindon": P("Le Dindon", ("dindon",), D.THEATRE, 6, hall_kinds=("Grande salle",), month=12),
    "badine": P("On ne badine pas avec l'amour", ("badine",), D.THEATRE, 5, hall_kinds=("Studio des Pentes",), month=3),
    "chantier-des-voix": P("Le Chantier des voix", ("chantier",), D.THEATRE, 5, hall_kinds=("La Halle",), month=1),
    "didon": P("Didon et Énée", ("didon",), D.OPERA, 4, hall_kinds=("Grande salle",), month=6),
    # structure-b (Nantes)
    "tartuffe-origin": P("Tartuffe", ("tartuffe",), D.THEATRE, 0, premiere=dt.date(2021, 10, 5), archived=True),
    "tartuffe": P(
        "Tartuffe (reprise)",
        ("tartuffe",),
        D.THEATRE,
        6,
        revival_of="tartuffe-origin",
        hall_kinds=("Salle Loire",),
        month=10,
    ),
    "jeu-amour": P(
        "Le Jeu de l'amour et du hasard", ("jeu-amour",), D.THEATRE, 6, hall_kinds=("Salle Erdre",), month=11
    ),
    "cerisaie": P("La Cerisaie", ("cerisaie",), D.THEATRE, 7, hall_kinds=("Salle Loire",), month=1),
    "flute": P("La Flûte enchantée", ("flute",), D.OPERA, 4, hall_kinds=("Salle Loire",), month=12),
    "phedre": P("Phèdre", ("phedre",), D.THEATRE, 5, hall_kinds=("Salle Erdre",), month=2),
    "ile-aux-sirenes": P(
        "L'Île aux sirènes", ("ile",), D.THEATRE, 10, audience=YOUNG, minimum_age=5, hall_kinds=("L'Atelier",), month=3
    ),
    "marees-basses": P(
        "Marées basses",
        ("marees",),
        D.DANCE,
        5,
        hall_kinds=("Salle Erdre",),
        month=5,
        festival=True,
        coproduced_with_partner=True,
    ),
    "cordes-raides": P("Cordes raides", ("cordes",), D.CIRCUS, 5, hall_kinds=("Salle Loire",), month=5, festival=True),
    "brume": P("Brume", ("brume",), D.MUSIC, 4, hall_kinds=("Le Club",), month=9),
    "fil-du-temps": P("Le Fil du temps", ("fil-du-temps",), D.THEATRE, 6, hall_kinds=("L'Atelier",), month=4),
    "maison-de-bernarda": P(
        "La Maison de Bernarda Alba", ("bernarda",), D.THEATRE, 5, hall_kinds=("Salle Erdre",), month=3
    ),
    "echos": P("Échos d'estuaire", ("echos",), D.MUSIC, 3, hall_kinds=("Le Club",), month=5, festival=True),
    "nuit-des-rois": P("La Nuit des rois", ("nuit-des-rois",), D.THEATRE, 7, hall_kinds=("Salle Loire",), month=2),
    # both: the touring production
    "vagues": P(
        TOURING_TITLE,
        ("vagues",),
        D.THEATRE,
        5,
        premiere=dt.date(2026, 9, 24),
        touring=True,
        coproduced_with_partner=True,
        hall_kinds=("Grande salle", "Salle Loire"),
    ),
}

GIVEN_NAMES = (
    "Camille",
    "Louise",
    "Jules",
    "Inès",
    "Hugo",
    "Maya",
    "Théo",
    "Salomé",
    "Nathan",
    "Zoé",
    "Rayan",
    "Lina",
    "Gabriel",
    "Clémence",
    "Malik",
    "Adèle",
    "Elias",
    "Sacha",
    "Margaux",
    "Idriss",
    "Jeanne",
    "Anouk",
)
FAMILY_NAMES = (
    "Aubertin",
    "Belkacem",
    "Chauvière",
    "Dumontel",
    "Esposito-Vidal",
    "Fournival",
    "Garnerin",
    "Hamelot",
    "Iribarne",
    "Jourdanet",
    "Kowalczyk",
    "Lemarquis",
    "Mabillon",
    "Nédélec",
    "Oudinet",
    "Perrichon",
    "Quintard",
    "Rocheblave",
    "Saint-Aubin",
    "Toussaint-Mbaye",
    "Valadier",
    "Weissberg",
)
DESIGN_ROLES = (
    m.Contribution.Role.SET_DESIGNER,
    m.Contribution.Role.LIGHTING_DESIGNER,
    m.Contribution.Role.COSTUME_DESIGNER,
    m.Contribution.Role.SOUND_DESIGNER,
)
PARTNERS = {
    "structure-a": (
        "Compagnie du Fil tendu",
        m.Organisation.Kind.COMPANY,
        "Lyon",
        "69001",
        "69",
        "Auvergne-Rhône-Alpes",
    ),
    "structure-b": (
        "Collectif Ressac",
        m.Organisation.Kind.COMPANY,
        "Saint-Nazaire",
        "44600",
        "44",
        "Pays de la Loire",
    ),
}


# ---------------------------------------------------------------------------- the seeding


@dataclass
class SeedReport:
    profile: str
    seed: int
    created: bool
    counts: dict[str, int] = field(default_factory=dict)
    organisation: str = ""


class _Seeder:
    """Writes one profile's records through the models' save (versions and change log)."""

    def __init__(self, profile: str, seed: int) -> None:
        self.profile = profile
        self.seed = seed
        self.spec = PROFILE_SPECS[profile]
        self.rng = random.Random(f"demo:{seed}:{profile}")  # noqa: S311 - deterministic demo data, not crypto
        self.people: dict[str, m.Person] = {}
        self.works: dict[str, m.Work] = {}
        self.halls: dict[str, m.Hall] = {}
        self.productions: dict[str, m.Production] = {}
        self.owner: m.Organisation

    def uid(self, kind: str, key: str) -> uuid.UUID:
        return demo_uuid(self.seed, self.profile, kind, key)

    def save(self, obj: Record) -> Any:
        obj.full_clean()
        obj.save()
        return obj

    # -- organisations
    def organisations(self) -> None:
        spec = self.spec
        self.owner = self.save(
            m.Organisation(
                id=self.uid("organisation", "self"),
                name=spec.organisation,
                legal_name=spec.legal_name,
                kind=spec.kind,
                siret=demo_siret(self.seed, self.profile),
                legal_status=spec.legal_status,
                label=spec.label,
                disciplines=["theatre", "dance", "music", "circus"] if self.profile in STRUCTURE_PROFILES else [],
                region=spec.region,
                departement=spec.departement,
                city=spec.city,
                postal_code=spec.postal_code,
                website=spec.website,
            )
        )
        if self.profile not in STRUCTURE_PROFILES:
            return
        other = "structure-b" if self.profile == "structure-a" else "structure-a"
        other_spec = PROFILE_SPECS[other]
        # The other demo structure, as this structure knows it: a partner record it owns itself.
        self.partner = self.save(
            m.Organisation(
                id=self.uid("organisation", f"partner:{other}"),
                owner=self.owner,
                name=other_spec.organisation,
                legal_name=other_spec.legal_name,
                kind=other_spec.kind,
                siret=demo_siret(self.seed, other),
                legal_status=other_spec.legal_status,
                label=other_spec.label,
                region=other_spec.region,
                departement=other_spec.departement,
                city=other_spec.city,
                postal_code=other_spec.postal_code,
                website=other_spec.website,
            )
        )
        name, kind, city, postal_code, departement, region = PARTNERS[self.profile]
        self.company = self.save(
            m.Organisation(
                id=self.uid("organisation", "company"),
                owner=self.owner,
                name=name,
                kind=kind,
                siret=demo_siret(self.seed, f"{self.profile}:company"),
                legal_status="Association loi 1901",
                disciplines=["theatre", "dance"],
                region=region,
                departement=departement,
                city=city,
                postal_code=postal_code,
            )
        )

    # -- venues, halls, technical sheets
    def venues(self) -> None:
        for v_index, vs in enumerate(self.spec.venues):
            venue = self.save(
                m.Venue(
                    id=self.uid("venue", vs.name),
                    owner=self.owner,
                    name=vs.name,
                    venue_type=vs.venue_type,
                    operator=self.owner,
                    siret=demo_siret(self.seed, f"{self.profile}:venue:{v_index}"),
                    street_address=vs.street,
                    postal_code=vs.postal_code,
                    city=vs.city,
                    departement=self.spec.departement,
                    region=self.spec.region,
                    latitude=Decimal(vs.lat),
                    longitude=Decimal(vs.lon),
                    website=self.spec.website,
                )
            )
            for hs in vs.halls:
                configurations = []
                if hs.seated:
                    configurations.append({"name": "frontale assise", "capacity": hs.seated})
                if hs.standing:
                    configurations.append({"name": "debout", "capacity": hs.standing})
                hall = self.save(
                    m.Hall(
                        id=self.uid("hall", f"{vs.name}/{hs.name}"),
                        owner=self.owner,
                        venue=venue,
                        name=hs.name,
                        seated_capacity=hs.seated,
                        standing_capacity=hs.standing,
                        configurations=configurations,
                        wheelchair_places=hs.wheelchair,
                    )
                )
                self.halls[hs.name] = hall
                self.technical_sheet(hall, hs)

    def technical_sheet(self, hall: m.Hall, hs: HallSpec) -> None:
        width, depth, opening, grid = (Decimal(x) for x in hs.stage)
        bars = self.rng.randint(12, 40)
        sheet = self.save(
            m.TechnicalSheet(
                id=self.uid("technical-sheet", str(hall.id)),
                owner=self.owner,
                hall=hall,
                stage_width_m=width,
                stage_depth_m=depth,
                proscenium_opening_m=opening,
                proscenium_height_m=Decimal("7.50"),
                height_under_grid_m=grid,
                flying_bars=bars,
                flying_bar_max_load_kg=self.rng.choice((250, 300, 400, 500)),
                stage_power_kva=self.rng.choice((60, 100, 150)),
                lighting_power_kva=self.rng.choice((120, 200, 250)),
                sound_power_kva=self.rng.choice((20, 36, 50)),
                floor="plancher bois noir, non traité",
                dressing_rooms=self.rng.randint(2, 8),
                get_in="quai de déchargement au niveau plateau",
                get_in_door_width_m=Decimal("2.40"),
                get_in_door_height_m=Decimal("3.20"),
                notes="Fiche établie pour la saison 2026-2027 (données fictives).",
                documents=[
                    {"title": "Plan de scène (PDF)", "url": f"{self.spec.website}/technique/{hall.id}/plan.pdf"}
                ],
            )
        )
        # Two revisions: the technical director's updates during the season.
        sheet.stage_power_kva = (sheet.stage_power_kva or 0) + 20
        sheet.notes += "\nArmoire électrique plateau remplacée (septembre 2026)."
        self.save(sheet)
        sheet.flying_bars = bars + 2
        sheet.documents = [*sheet.documents, {"title": "Plan d'accès décors", "url": f"{self.spec.website}/acces.pdf"}]
        self.save(sheet)

    # -- people and works
    def person(self, key: str, given: str, family: str, same_as: list[str] | None = None) -> m.Person:
        if key not in self.people:
            self.people[key] = self.save(
                m.Person(
                    id=self.uid("person", key),
                    owner=self.owner,
                    given_name=given,
                    family_name=family,
                    same_as=same_as or [],
                )
            )
        return self.people[key]

    def fictitious_person(self, key: str) -> m.Person:
        if key in self.people:
            return self.people[key]
        used = {(p.given_name, p.family_name) for p in self.people.values()}
        while True:
            given, family = self.rng.choice(GIVEN_NAMES), self.rng.choice(FAMILY_NAMES)
            if (given, family) not in used:
                return self.person(key, given, family)

    def work(self, key: str) -> m.Work:
        if key in self.works:
            return self.works[key]
        ws = WORKS[key]
        work = self.save(
            m.Work(
                id=self.uid("work", key),
                owner=self.owner,
                title=ws.title,
                original_title=ws.original_title,
                genre=ws.genre,
                year=ws.year,
                duration_minutes=ws.duration,
                language=ws.language,
            )
        )
        for position, (creator_key, role) in enumerate(ws.creators):
            given, family, same_as = CREATORS[creator_key]
            person = self.person(f"creator:{creator_key}", given, family, same_as)
            self.save(
                m.Contribution(
                    id=self.uid("contribution", f"work:{key}:{creator_key}:{role}"),
                    owner=self.owner,
                    work=work,
                    person=person,
                    role=role,
                    position=position,
                )
            )
        self.works[key] = work
        return work

    # -- productions and credits
    def production_keys(self) -> list[str]:
        return [*self.spec.productions, "vagues"]

    def production(self, key: str) -> m.Production:
        ps = PRODUCTIONS[key]
        works = [self.work(w) for w in ps.works]
        premiere = ps.premiere
        if premiere is None:
            premiere = dt.date(2026 if (ps.month or 9) >= 9 else 2027, ps.month or 9, 1)
        producer: m.Organisation = self.owner
        if ps.touring and self.profile == "structure-b":
            producer = self.partner  # structure-a created it; structure-b presents it
        elif ps.discipline in (D.DANCE, D.CIRCUS):
            producer = self.company
        production = self.save(
            m.Production(
                id=self.uid("production", key),
                owner=self.owner,
                title=ps.title,
                producer=producer,
                discipline=ps.discipline,
                duration_minutes=WORKS[ps.works[0]].duration,
                language=WORKS[ps.works[0]].language if ps.discipline in (D.THEATRE, D.OPERA) else "",
                audience=ps.audience,
                minimum_age=ps.minimum_age,
                premiere_date=premiere,
                original_production=self.productions.get(ps.revival_of) if ps.revival_of else None,
                description=f"{ps.title} — production fictive de démonstration ({self.spec.organisation}).",
                technical_rider_url=f"{self.spec.website}/spectacles/{key}/fiche-technique.pdf",
            )
        )
        production.works.set(works)
        if ps.coproduced_with_partner:
            coproducers = [self.owner] if producer != self.owner else [self.partner]
            if ps.touring and self.profile == "structure-a":
                coproducers = [self.partner, self.company]
            production.coproducers.set(coproducers)
            self.save(production)  # the m2m change is a new version too
        self.credits(key, production, ps)
        self.productions[key] = production
        return production

    def credits(self, key: str, production: m.Production, ps: ProductionSpec) -> None:
        role = m.Contribution.Role
        entries: list[tuple[str, str, str]] = [(f"director:{key}", role.DIRECTOR, "")]
        if ps.discipline == D.OPERA:
            entries.append((f"conductor:{key}", role.CONDUCTOR, ""))
        characters = WORKS[ps.works[0]].characters
        for index, character in enumerate(characters):
            entries.append((f"performer:{key}:{index}", role.PERFORMER, character))
        if not characters:
            entries.extend((f"performer:{key}:{index}", role.PERFORMER, "") for index in range(self.rng.randint(2, 5)))
        entries.extend((f"{design}:{key}", design, "") for design in self.rng.sample(DESIGN_ROLES, 3))
        if ps.revival_of:  # a revival keeps its original director and cast
            entries = [(k.replace(f":{key}", f":{ps.revival_of}"), r, c) for k, r, c in entries]
        translated = WORKS[ps.works[0]].language not in ("fr", "")
        director_label = "mise en scène et traduction" if translated else "mise en scène"
        for position, (person_key, contribution_role, character) in enumerate(entries):
            self.save(
                m.Contribution(
                    id=self.uid("contribution", f"production:{key}:{position}"),
                    owner=self.owner,
                    production=production,
                    person=self.fictitious_person(person_key),
                    role=contribution_role,
                    character=character,
                    position=position,
                    role_label=director_label if contribution_role == role.DIRECTOR else "",
                )
            )

    # -- seasons and performances
    def seasons(self) -> None:
        self.season = self.save(
            m.Season(
                id=self.uid("season", "2026-2027"),
                owner=self.owner,
                name=f"Saison 2026-2027 — {self.spec.organisation}",
                kind=m.Season.Kind.SEASON,
                organiser=self.owner,
                start_date=SEASON_START,
                end_date=SEASON_END,
            )
        )
        self.festival: m.Season | None = None
        if self.spec.festival:
            name, edition, start, end = self.spec.festival
            self.festival = self.save(
                m.Season(
                    id=self.uid("season", "festival"),
                    owner=self.owner,
                    name=f"{name} {start.year}",
                    kind=m.Season.Kind.FESTIVAL,
                    organiser=self.owner,
                    start_date=start,
                    end_date=end,
                    edition=edition,
                )
            )

    def performances(self) -> None:
        occupied: set[tuple[str, dt.date]] = set()
        plans: list[tuple[str, m.Production, m.Hall, dt.datetime]] = []
        for key in self.production_keys():
            ps = PRODUCTIONS[key]
            if ps.archived or ps.performances == 0:
                continue
            production = self.productions[key]
            hall_names = [h for h in ps.hall_kinds if h in self.halls] or sorted(self.halls)
            hall = self.halls[self.rng.choice(hall_names)]
            if ps.festival and self.festival is not None:
                day = self.festival.start_date + dt.timedelta(days=self.rng.randint(0, 5))
            elif ps.touring:
                day = dt.date(2026, 11, 17) if self.profile == "structure-a" else dt.date(2027, 3, 9)
            else:
                month = ps.month or self.rng.randint(1, 12)
                year = 2026 if month >= 9 else 2027
                day = dt.date(year, month, self.rng.randint(2, 12))
            count = 0
            while count < ps.performances:
                if day > SEASON_END:
                    break
                if day.weekday() == 0 or (hall.name, day) in occupied:  # Monday: relâche
                    day += dt.timedelta(days=1)
                    continue
                occupied.add((hall.name, day))
                if ps.audience == YOUNG and day.weekday() in (1, 3, 4):
                    hour, minute = (10, 0) if count % 2 == 0 else (14, 30)  # school performances
                elif ps.audience == YOUNG:
                    hour, minute = 15, 0  # family performances on Wednesdays and weekends
                elif day.weekday() == 6:
                    hour, minute = 16, 0
                elif ps.discipline == D.OPERA:
                    hour, minute = 19, 30
                else:
                    hour, minute = 20, 0
                plans.append(
                    (key, production, hall, dt.datetime(day.year, day.month, day.day, hour, minute, tzinfo=PARIS))
                )
                count += 1
                day += dt.timedelta(days=1)
        plans.sort(key=lambda plan: (plan[3], plan[0]))
        # Statuses: a few cancelled and postponed, options at the end of the season.
        indices = list(range(len(plans)))
        picked = self.rng.sample(indices[5:-10], 5)
        cancelled, postponed = set(picked[:3]), set(picked[3:])
        options = set(self.rng.sample(indices[-10:], 4))
        for index, (key, production, hall, start) in enumerate(plans):
            status = m.Performance.Status.SCHEDULED
            previous_start = None
            if index in cancelled:
                status = m.Performance.Status.CANCELLED
            elif index in postponed:
                status = m.Performance.Status.POSTPONED
                previous_start = start - dt.timedelta(days=self.rng.choice((14, 21, 28)))
            elif index in options:
                status = m.Performance.Status.OPTION
            capacity = hall.seated_capacity or hall.standing_capacity or 0
            accessibility = [m.Performance.Accessibility.WHEELCHAIR] if hall.wheelchair_places else []
            if index % 9 == 4:
                accessibility.append(m.Performance.Accessibility.AUDIO_DESCRIPTION)
            if index % 13 == 6:
                accessibility.append(m.Performance.Accessibility.LSF)
            if PRODUCTIONS[key].discipline == D.OPERA:
                accessibility.append(m.Performance.Accessibility.SURTITLES)
            festival = self.festival if (PRODUCTIONS[key].festival and self.festival) else None
            self.save(
                m.Performance(
                    id=self.uid("performance", f"{key}:{hall.id}:{start.isoformat()}"),
                    owner=self.owner,
                    production=production,
                    hall=hall,
                    season=festival or self.season,
                    start=start,
                    time_zone="Europe/Paris",
                    status=status,
                    previous_start=previous_start,
                    capacity=capacity - self.rng.choice((0, 0, 20, 40)) if capacity > 100 else capacity,
                    accessibility=accessibility,
                    ticketing_url=f"{self.spec.website}/billetterie/{key}/{start:%Y%m%d-%H%M}",
                )
            )

    def run(self) -> None:
        self.organisations()
        if self.profile in STRUCTURE_PROFILES:
            self.venues()
            for key in self.production_keys():
                self.production(key)
            self.seasons()
            self.performances()
            for production in self.productions.values():  # co-producers' grants on what they host
                sync_host_grants(production)
        _attach_identity(self.owner.pk)


def _attach_identity(organisation_id: uuid.UUID) -> None:
    """Make the organisation the one running this node (creating the node identity if missing)."""
    identity = current_identity()
    if identity is None:
        identity, _key, _created = initialise_node()
    if identity.organisation_id != organisation_id:
        identity.organisation_id = organisation_id
        identity.save(update_fields=["organisation", "updated_at"])


#: Referential models, in an order where deleting each one first never hits a PROTECT.
RESET_ORDER: tuple[Any, ...] = (
    m.Performance,
    m.Contribution,
    m.Season,
    m.Production,
    m.Work,
    m.Person,
    m.TechnicalSheet,
    m.Hall,
    m.Venue,
)


def counts() -> dict[str, int]:
    models_: tuple[Any, ...] = (*RESET_ORDER, m.Organisation)
    return {model._meta.model_name: model.objects.count() for model in models_}


def reset_referentials() -> None:
    """Delete every referential record (each deletion leaves its tombstone in the change feed)."""
    from dataspace.indicators.models import Declaration, TicketingFigures

    with transaction.atomic():
        # Ticketing figures and declarations protect the performances they cover; they go first.
        Declaration.objects.all().delete()
        TicketingFigures.objects.all().delete()
        for model in RESET_ORDER:
            model.objects.all().delete()
        m.Organisation.objects.exclude(owner=None).delete()
        m.Organisation.objects.all().delete()


def seed_demo(profile: str, seed: int = 42, *, reset: bool = False) -> SeedReport:
    """Write the demo data of `profile`. Deterministic in `seed`; a second run changes nothing.

    Raises DemoDataError for an unknown profile, or when the database holds other referential data
    (another seed or real data) and `reset` was not asked for.
    """
    if profile not in PROFILE_SPECS:
        raise DemoDataError(f"unknown profile {profile!r}; choose one of: {', '.join(PROFILES)}")
    with transaction.atomic():
        if reset:
            reset_referentials()
        own_id = demo_uuid(seed, profile, "organisation", "self")
        report = SeedReport(profile=profile, seed=seed, created=False, organisation=PROFILE_SPECS[profile].organisation)
        if m.Organisation.objects.filter(pk=own_id).exists():
            _attach_identity(own_id)
            report.counts = counts()
            return report
        if m.Organisation.objects.exists():
            raise DemoDataError(
                "the database already holds referential data that is not this profile's demo data "
                f"(profile {profile}, seed {seed}); run with --reset to wipe the referentials first"
            )
        _Seeder(profile, seed).run()
        report.created = True
        report.counts = counts()
        return report
