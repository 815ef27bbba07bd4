"""The shared referentials of a structure (DOMAIN.md, "The data model").

Levels are kept apart as in CapData Opéra and schema.org: a Work is staged by a Production, which
is given as dated Performances in Halls of Venues, grouped in Seasons or festival editions.
"""

from __future__ import annotations

import decimal
from typing import Any, ClassVar

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models, transaction
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from dataspace.records.models import Record
from dataspace.referentials.validators import (
    validate_same_as,
    validate_siren,
    validate_siret,
    validate_timezone,
)


def default_time_zone() -> str:
    return str(settings.NODE_TIME_ZONE)


class Discipline(models.TextChoices):
    THEATRE = "theatre", _("théâtre")
    DANCE = "dance", _("danse")
    MUSIC = "music", _("musique")
    OPERA = "opera", _("opéra / art lyrique")
    CIRCUS = "circus", _("cirque")
    STREET_ARTS = "street_arts", _("arts de la rue")
    PUPPETRY = "puppetry", _("marionnette")
    MUSICAL = "musical", _("comédie musicale")
    MULTIDISCIPLINARY = "multidisciplinary", _("pluridisciplinaire")


class OwnedRecord(Record):
    """A record owned by an organisation (the structure that entered it)."""

    owner = models.ForeignKey(
        "referentials.Organisation",
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("propriétaire"),
        help_text=_("Structure propriétaire de la donnée (celle qui l'a saisie)."),
    )

    class Meta:
        abstract = True


# ---------------------------------------------------------------------------- organisations


class Organisation(Record):
    record_type: ClassVar[str] = "organisation"

    class Kind(models.TextChoices):
        THEATRE = "theatre", _("théâtre")
        OPERA = "opera", _("opéra")
        FESTIVAL = "festival", _("festival")
        COMPANY = "company", _("compagnie")
        MUSIC_VENUE = "music_venue", _("salle de musiques actuelles")
        PRODUCER = "producer", _("producteur / tourneur")
        PUBLIC_BODY = "public_body", _("administration / collectivité")
        OTHER = "other", _("autre")

    owner = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("propriétaire"),
        help_text=_("Vide quand la structure se décrit elle-même."),
    )
    name = models.CharField(_("nom d'usage"), max_length=200)
    legal_name = models.CharField(_("raison sociale"), max_length=200, blank=True)
    kind = models.CharField(_("type"), max_length=20, choices=Kind.choices, default=Kind.OTHER)
    siret = models.CharField(_("SIRET"), max_length=14, blank=True, validators=[validate_siret])
    siren = models.CharField(_("SIREN"), max_length=9, blank=True, validators=[validate_siren])
    legal_status = models.CharField(_("statut juridique"), max_length=100, blank=True)
    label = models.CharField(_("label"), max_length=100, blank=True, help_text=_("Scène nationale, CDN, SMAC, CCN…"))
    disciplines = models.JSONField(_("disciplines"), default=list, blank=True)
    region = models.CharField(_("région"), max_length=100, blank=True)
    departement = models.CharField(_("département"), max_length=3, blank=True)
    city = models.CharField(_("commune"), max_length=100, blank=True)
    postal_code = models.CharField(_("code postal"), max_length=5, blank=True)
    website = models.URLField(_("site web"), blank=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("organisation")
        verbose_name_plural = _("organisations")
        constraints = [
            models.UniqueConstraint(fields=["siret"], condition=~Q(siret=""), name="organisation_siret_unique"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def owner_organisation_id(self) -> Any:
        return self.owner_id or self.pk

    def clean(self) -> None:
        super().clean()
        validate_same_as(self.same_as)
        if self.siret and self.siren and not self.siret.startswith(self.siren):
            raise ValidationError({"siren": _("Le SIREN doit être les 9 premiers chiffres du SIRET.")})

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.siret and not self.siren:
            self.siren = self.siret[:9]
        super().save(*args, **kwargs)


# ---------------------------------------------------------------------------- venues


class Venue(OwnedRecord):
    """A site (building) containing one or more halls."""

    record_type: ClassVar[str] = "venue"

    class VenueType(models.TextChoices):
        # Venue types as declared to SIBIL.
        THEATRE = "theatre", _("théâtre / salle de spectacle")
        OPERA_HOUSE = "opera_house", _("opéra")
        CONCERT_HALL = "concert_hall", _("salle de concert")
        MUSIC_CLUB = "music_club", _("club / salle de musiques actuelles")
        MULTIPURPOSE = "multipurpose", _("salle polyvalente")
        BIG_TOP = "big_top", _("chapiteau")
        OPEN_AIR = "open_air", _("plein air")
        NON_DEDICATED = "non_dedicated", _("lieu non dédié")

    name = models.CharField(_("nom"), max_length=200)
    venue_type = models.CharField(
        _("type de lieu"), max_length=20, choices=VenueType.choices, default=VenueType.THEATRE
    )
    operator = models.ForeignKey(
        Organisation,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="operated_venues",
        verbose_name=_("exploitant"),
    )
    siret = models.CharField(_("SIRET de l'établissement"), max_length=14, blank=True, validators=[validate_siret])
    street_address = models.CharField(_("adresse"), max_length=200, blank=True)
    postal_code = models.CharField(_("code postal"), max_length=5, blank=True)
    city = models.CharField(_("commune"), max_length=100)
    departement = models.CharField(_("département"), max_length=3, blank=True)
    region = models.CharField(_("région"), max_length=100, blank=True)
    country = models.CharField(_("pays"), max_length=2, default="FR")
    latitude = models.DecimalField(
        _("latitude"),
        max_digits=9,
        decimal_places=6,
        null=True,
        blank=True,
        validators=[MinValueValidator(-90), MaxValueValidator(90)],
    )
    longitude = models.DecimalField(
        _("longitude"),
        max_digits=9,
        decimal_places=6,
        null=True,
        blank=True,
        validators=[MinValueValidator(-180), MaxValueValidator(180)],
    )
    website = models.URLField(_("site web"), blank=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("lieu")
        verbose_name_plural = _("lieux")

    def __str__(self) -> str:
        return f"{self.name} ({self.city})"


class Hall(OwnedRecord):
    """A hall (salle) inside a venue; performances take place in a hall."""

    record_type: ClassVar[str] = "hall"

    venue = models.ForeignKey(Venue, on_delete=models.CASCADE, related_name="halls", verbose_name=_("lieu"))
    name = models.CharField(_("nom"), max_length=200)
    seated_capacity = models.PositiveIntegerField(_("jauge assise"), null=True, blank=True)
    standing_capacity = models.PositiveIntegerField(_("jauge debout"), null=True, blank=True)
    configurations = models.JSONField(
        _("configurations"),
        default=list,
        blank=True,
        help_text=_('Jauges par configuration, ex. [{"name": "frontale", "capacity": 450}].'),
    )
    wheelchair_places = models.PositiveIntegerField(_("places PMR"), default=0)

    class Meta:
        ordering = ["venue__name", "name"]
        verbose_name = _("salle")
        verbose_name_plural = _("salles")

    def __str__(self) -> str:
        return f"{self.venue.name} — {self.name}"


class TechnicalSheet(OwnedRecord):
    """The technical sheet (fiche technique) of a hall. Every change is kept as a revision."""

    record_type: ClassVar[str] = "technical-sheet"
    #: Fields compared between versions; their values are kept in each revision.
    TRACKED_FIELDS: ClassVar[tuple[str, ...]] = (
        "stage_width_m",
        "stage_depth_m",
        "proscenium_opening_m",
        "proscenium_height_m",
        "height_under_grid_m",
        "flying_bars",
        "flying_bar_max_load_kg",
        "stage_power_kva",
        "lighting_power_kva",
        "sound_power_kva",
        "floor",
        "dressing_rooms",
        "get_in",
        "get_in_door_width_m",
        "get_in_door_height_m",
        "notes",
        "documents",
    )

    hall = models.OneToOneField(Hall, on_delete=models.CASCADE, related_name="technical_sheet", verbose_name=_("salle"))
    stage_width_m = models.DecimalField(
        _("ouverture du plateau (m)"),
        max_digits=5,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(0)],
    )
    stage_depth_m = models.DecimalField(
        _("profondeur du plateau (m)"),
        max_digits=5,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(0)],
    )
    proscenium_opening_m = models.DecimalField(
        _("ouverture au cadre (m)"),
        max_digits=5,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(0)],
    )
    proscenium_height_m = models.DecimalField(
        _("hauteur du cadre (m)"),
        max_digits=5,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(0)],
    )
    height_under_grid_m = models.DecimalField(
        _("hauteur sous gril (m)"),
        max_digits=5,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(0)],
    )
    flying_bars = models.PositiveIntegerField(_("nombre de porteuses"), null=True, blank=True)
    flying_bar_max_load_kg = models.PositiveIntegerField(_("charge max. par porteuse (kg)"), null=True, blank=True)
    stage_power_kva = models.PositiveIntegerField(_("puissance plateau (kVA)"), null=True, blank=True)
    lighting_power_kva = models.PositiveIntegerField(_("puissance lumière (kVA)"), null=True, blank=True)
    sound_power_kva = models.PositiveIntegerField(_("puissance son (kVA)"), null=True, blank=True)
    floor = models.CharField(_("sol / plancher"), max_length=200, blank=True)
    dressing_rooms = models.PositiveIntegerField(_("loges"), null=True, blank=True)
    get_in = models.CharField(_("accès décors"), max_length=300, blank=True)
    get_in_door_width_m = models.DecimalField(
        _("largeur porte décors (m)"),
        max_digits=4,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(0)],
    )
    get_in_door_height_m = models.DecimalField(
        _("hauteur porte décors (m)"),
        max_digits=4,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(0)],
    )
    notes = models.TextField(_("remarques"), blank=True)
    documents = models.JSONField(
        _("documents"), default=list, blank=True, help_text=_('Ex. [{"title": "Plan de scène", "url": "https://…"}].')
    )

    class Meta:
        verbose_name = _("fiche technique")
        verbose_name_plural = _("fiches techniques")

    def __str__(self) -> str:
        return f"{self.hall} (v{self.version})"

    def snapshot(self) -> dict[str, Any]:
        """The tracked values, JSON-ready (decimals as strings, to keep their exact value)."""
        data: dict[str, Any] = {}
        for name in self.TRACKED_FIELDS:
            field = self._meta.get_field(name)
            value = getattr(self, name)
            if isinstance(field, models.DecimalField) and value is not None:
                exponent = decimal.Decimal(1).scaleb(-field.decimal_places)
                value = str(decimal.Decimal(str(value)).quantize(exponent))
            data[name] = value
        return data

    def save(self, *args: Any, **kwargs: Any) -> None:
        """Save and keep the new version as a revision holding the diff from the previous one."""
        with transaction.atomic():
            super().save(*args, **kwargs)
            previous = self.revisions.order_by("-version").first()
            current = self.snapshot()
            before = previous.data if previous else {}
            diff = {
                name: {"from": before.get(name), "to": value}
                for name, value in current.items()
                if before.get(name) != value and (previous or value not in (None, "", []))
            }
            TechnicalSheetRevision.objects.create(sheet=self, version=self.version, data=current, diff=diff)


class TechnicalSheetRevision(models.Model):
    """One version of a technical sheet and what changed from the version before."""

    sheet = models.ForeignKey(TechnicalSheet, on_delete=models.CASCADE, related_name="revisions")
    version = models.PositiveIntegerField()
    data = models.JSONField()
    diff = models.JSONField(default=dict)
    changed_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["sheet", "-version"]
        verbose_name = _("révision de fiche technique")
        verbose_name_plural = _("révisions de fiches techniques")
        constraints = [models.UniqueConstraint(fields=["sheet", "version"], name="sheet_revision_unique")]

    def __str__(self) -> str:
        return f"{self.sheet_id} v{self.version}"


# ---------------------------------------------------------------------------- works and people


class Person(OwnedRecord):
    """A person as publicly credited (author, director, performer…). Not a directory entry."""

    record_type: ClassVar[str] = "person"

    given_name = models.CharField(_("prénom"), max_length=100, blank=True)
    family_name = models.CharField(_("nom"), max_length=100)

    class Meta:
        ordering = ["family_name", "given_name"]
        verbose_name = _("personne")
        verbose_name_plural = _("personnes")

    def __str__(self) -> str:
        return self.name

    @property
    def name(self) -> str:
        return f"{self.given_name} {self.family_name}".strip()


class Work(OwnedRecord):
    """A work (œuvre): the text, score or choreography."""

    record_type: ClassVar[str] = "work"

    class Genre(models.TextChoices):
        PLAY = "play", _("pièce de théâtre")
        OPERA = "opera", _("opéra")
        MUSIC = "music", _("œuvre musicale")
        CHOREOGRAPHY = "choreography", _("chorégraphie")
        CIRCUS = "circus", _("création de cirque")
        OTHER = "other", _("autre")

    title = models.CharField(_("titre"), max_length=300)
    original_title = models.CharField(_("titre original"), max_length=300, blank=True)
    genre = models.CharField(_("genre"), max_length=20, choices=Genre.choices, default=Genre.PLAY)
    year = models.SmallIntegerField(
        _("année de création"), null=True, blank=True, validators=[MinValueValidator(-800), MaxValueValidator(2100)]
    )
    duration_minutes = models.PositiveIntegerField(_("durée (min)"), null=True, blank=True)
    language = models.CharField(_("langue"), max_length=10, blank=True, help_text=_("Code BCP 47, ex. fr, en, it."))
    description = models.TextField(_("description"), blank=True)

    class Meta:
        ordering = ["title"]
        verbose_name = _("œuvre")
        verbose_name_plural = _("œuvres")

    def __str__(self) -> str:
        return self.title


class Production(OwnedRecord):
    """A production (spectacle): one staging of one or more works. A revival points to its original."""

    record_type: ClassVar[str] = "production"

    class Audience(models.TextChoices):
        ALL = "all", _("tout public")
        YOUNG = "young", _("jeune public")
        ADULT = "adult", _("adultes")

    title = models.CharField(_("titre"), max_length=300)
    works = models.ManyToManyField(Work, blank=True, related_name="productions", verbose_name=_("œuvres"))
    producer = models.ForeignKey(
        Organisation,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="productions",
        verbose_name=_("producteur délégué"),
    )
    coproducers = models.ManyToManyField(
        Organisation, blank=True, related_name="coproductions", verbose_name=_("coproducteurs")
    )
    discipline = models.CharField(
        _("discipline"), max_length=20, choices=Discipline.choices, default=Discipline.THEATRE
    )
    duration_minutes = models.PositiveIntegerField(_("durée (min)"), null=True, blank=True)
    language = models.CharField(_("langue"), max_length=10, blank=True)
    audience = models.CharField(_("public"), max_length=10, choices=Audience.choices, default=Audience.ALL)
    minimum_age = models.PositiveSmallIntegerField(_("âge minimum"), null=True, blank=True)
    premiere_date = models.DateField(_("date de création"), null=True, blank=True)
    original_production = models.ForeignKey(
        "self",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="revivals",
        verbose_name=_("production d'origine (reprise)"),
    )
    description = models.TextField(_("présentation"), blank=True)
    technical_rider_url = models.URLField(_("fiche technique du spectacle"), blank=True)

    class Meta:
        ordering = ["title"]
        verbose_name = _("production")
        verbose_name_plural = _("productions")

    def __str__(self) -> str:
        return self.title

    def clean(self) -> None:
        super().clean()
        if self.original_production_id and self.original_production_id == self.pk:
            raise ValidationError({"original_production": _("Une production ne peut pas être la reprise d'elle-même.")})


class Contribution(OwnedRecord):
    """A typed credit of a person on a production or a work."""

    record_type: ClassVar[str] = "contribution"

    class Role(models.TextChoices):
        AUTHOR = "author", _("auteur·rice")
        COMPOSER = "composer", _("compositeur·rice")
        LIBRETTIST = "librettist", _("librettiste")
        CHOREOGRAPHER = "choreographer", _("chorégraphe")
        TRANSLATOR = "translator", _("traducteur·rice")
        DIRECTOR = "director", _("metteur·se en scène")
        CONDUCTOR = "conductor", _("chef·fe d'orchestre")
        PERFORMER = "performer", _("interprète")
        SET_DESIGNER = "set_designer", _("scénographe")
        COSTUME_DESIGNER = "costume_designer", _("costumier·ère")
        LIGHTING_DESIGNER = "lighting_designer", _("éclairagiste")
        SOUND_DESIGNER = "sound_designer", _("créateur·rice son")
        DRAMATURG = "dramaturg", _("dramaturge")
        OTHER = "other", _("autre")

    production = models.ForeignKey(
        Production,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="contributions",
        verbose_name=_("production"),
    )
    work = models.ForeignKey(
        Work, on_delete=models.CASCADE, null=True, blank=True, related_name="contributions", verbose_name=_("œuvre")
    )
    person = models.ForeignKey(
        Person, on_delete=models.PROTECT, related_name="contributions", verbose_name=_("personne")
    )
    role = models.CharField(_("rôle"), max_length=20, choices=Role.choices)
    role_label = models.CharField(
        _("libellé tel que crédité"),
        max_length=200,
        blank=True,
        help_text=_("Ex. « mise en scène et adaptation »."),
    )
    character = models.CharField(_("personnage"), max_length=200, blank=True)
    position = models.PositiveSmallIntegerField(_("ordre"), default=0)

    class Meta:
        ordering = ["position", "role"]
        verbose_name = _("contribution")
        verbose_name_plural = _("contributions")
        constraints = [
            models.CheckConstraint(
                condition=(Q(production__isnull=False) & Q(work__isnull=True))
                | (Q(production__isnull=True) & Q(work__isnull=False)),
                name="contribution_on_production_xor_work",
                violation_error_message=_("Une contribution porte soit sur une production, soit sur une œuvre."),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.person} — {self.get_role_display()}"

    def clean(self) -> None:
        super().clean()
        if self.character and self.role != self.Role.PERFORMER:
            raise ValidationError({"character": _("Seul un·e interprète joue un personnage.")})


# ---------------------------------------------------------------------------- seasons and performances


class Season(OwnedRecord):
    """A season or a festival edition: a series grouping performances."""

    record_type: ClassVar[str] = "season"

    class Kind(models.TextChoices):
        SEASON = "season", _("saison")
        FESTIVAL = "festival_edition", _("édition de festival")

    name = models.CharField(_("nom"), max_length=200)
    kind = models.CharField(_("type"), max_length=20, choices=Kind.choices, default=Kind.SEASON)
    organiser = models.ForeignKey(
        Organisation,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="seasons",
        verbose_name=_("organisateur"),
    )
    start_date = models.DateField(_("début"))
    end_date = models.DateField(_("fin"))
    edition = models.PositiveSmallIntegerField(_("numéro d'édition"), null=True, blank=True)

    class Meta:
        ordering = ["-start_date"]
        verbose_name = _("saison ou édition de festival")
        verbose_name_plural = _("saisons et éditions de festival")
        constraints = [
            models.CheckConstraint(
                condition=Q(end_date__gte=models.F("start_date")),
                name="season_dates_ordered",
                violation_error_message=_("La fin d'une saison ne peut précéder son début."),
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Performance(OwnedRecord):
    """A performance (représentation): one dated show of a production in one hall."""

    record_type: ClassVar[str] = "performance"

    class Status(models.TextChoices):
        OPTION = "option", _("option (non confirmée)")
        SCHEDULED = "scheduled", _("programmée")
        CANCELLED = "cancelled", _("annulée")
        POSTPONED = "postponed", _("reportée")
        MOVED = "moved", _("déplacée")

    class Accessibility(models.TextChoices):
        WHEELCHAIR = "wheelchair", _("accessible en fauteuil roulant")
        LSF = "sign_language", _("interprétée en LSF")
        AUDIO_DESCRIPTION = "audio_description", _("audiodécrite")
        SURTITLES = "surtitles", _("surtitrée")
        INDUCTION_LOOP = "induction_loop", _("boucle magnétique")
        RELAXED = "relaxed", _("représentation relax")
        EASY_READ = "easy_read", _("documents FALC")

    production = models.ForeignKey(
        Production, on_delete=models.CASCADE, related_name="performances", verbose_name=_("production")
    )
    hall = models.ForeignKey(Hall, on_delete=models.PROTECT, related_name="performances", verbose_name=_("salle"))
    season = models.ForeignKey(
        Season, on_delete=models.SET_NULL, null=True, blank=True, related_name="performances", verbose_name=_("saison")
    )
    start = models.DateTimeField(_("début"))
    time_zone = models.CharField(
        _("fuseau horaire"), max_length=64, default=default_time_zone, validators=[validate_timezone]
    )
    status = models.CharField(_("statut"), max_length=10, choices=Status.choices, default=Status.SCHEDULED)
    previous_start = models.DateTimeField(_("date initiale (si reportée)"), null=True, blank=True)
    capacity = models.PositiveIntegerField(_("jauge"), null=True, blank=True)
    accessibility = models.JSONField(_("accessibilité"), default=list, blank=True)
    ticketing_url = models.URLField(_("billetterie"), blank=True)

    class Meta:
        ordering = ["start"]
        verbose_name = _("représentation")
        verbose_name_plural = _("représentations")
        constraints = [
            models.UniqueConstraint(fields=["production", "hall", "start"], name="performance_stable_key"),
        ]
        # `start` orders every listing, page and feed of performances; (status, start) serves the
        # public views, which exclude options.
        indexes = [models.Index(fields=["start"]), models.Index(fields=["status", "start"])]

    def __str__(self) -> str:
        return f"{self.production} — {self.start:%Y-%m-%d %H:%M}"

    @property
    def is_public(self) -> bool:
        return self.status != self.Status.OPTION

    def clean(self) -> None:
        super().clean()
        allowed = set(self.Accessibility.values)
        if not isinstance(self.accessibility, list) or not set(self.accessibility) <= allowed:
            raise ValidationError(
                {"accessibility": _("Valeurs admises : %(values)s.") % {"values": ", ".join(sorted(allowed))}}
            )
        if self.status == self.Status.POSTPONED and self.previous_start is None:
            raise ValidationError({"previous_start": _("Une représentation reportée garde sa date initiale.")})
