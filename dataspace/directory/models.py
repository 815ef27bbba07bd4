"""The licence registry, professional accounts and the registry's terms of use (DOMAIN.md, "Licence").

A `Licence` is one line of the ministry's open-data list of *récépissés* (licence d'entrepreneur de
spectacles vivants), imported by `services.import_licences`; every import is a `LicenceImport` and
every field a re-import changes is kept in a `LicenceChange`. A `ProfessionalAccount` links a person
to the organisation (structure) that holds the licences. Professionals accept the current
`TermsOfUse` version before their first query (`TermsAcceptance`).
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from dataspace.directory.entries import DirectoryEntryQuerySet
from dataspace.directory.vocabulary import ContactChannel, Region
from dataspace.node.crypto import EncryptedEmailField, EncryptedTextField
from dataspace.referentials.models import OwnedRecord

#: A normalised licence number: optional category prefix, PLATESV, kind (D first request, R renewal),
#: year, six-digit sequence. E.g. `PLATESV-D-2021-013704`, `2-PLATESV-R-2024-000123`.
LICENCE_NUMBER_RE = re.compile(r"^(?:(?P<prefix>[123])-)?PLATESV-(?P<kind>[DR])-(?P<year>\d{4})-(?P<seq>\d{6})$")


class Licence(models.Model):
    """One *récépissé de déclaration* as the ministry's open-data list describes it."""

    class Status(models.TextChoices):
        # These values are the contract of `dataspace.directory.profiles.LicenceFact.status`.
        VALID = "valide", _("Valide")
        PENDING = "en_instruction", _("En instruction")
        REFUSED = "invalide", _("Invalide (refusée)")
        WITHDRAWN = "invalide_retire", _("Invalidé (retirée)")
        #: "Expiré" when the list says so outright (otherwise expiry is read from the validity date).
        EXPIRED = "expire", _("Expiré")

    class Category(models.IntegerChoices):
        VENUE = 1, _("1 — exploitant de lieu")
        PRODUCER = 2, _("2 — producteur, entrepreneur de tournées employeur")
        PRESENTER = 3, _("3 — diffuseur, entrepreneur de tournées non employeur")

    class Kind(models.TextChoices):
        FIRST = "D", _("première demande")
        RENEWAL = "R", _("renouvellement")

    number = models.CharField(
        _("numéro de récépissé"),
        max_length=40,
        unique=True,
        help_text=_(
            "Normalisé : majuscules, sans espaces, préfixe de catégorie conservé (ex. 2-PLATESV-R-2024-000123)."
        ),
    )
    category = models.PositiveSmallIntegerField(_("catégorie"), choices=Category.choices)
    status = models.CharField(_("statut"), max_length=20, choices=Status.choices)
    kind = models.CharField(_("type"), max_length=1, choices=Kind.choices)
    deposited_on = models.DateField(_("date de dépôt"), null=True, blank=True)
    valid_until = models.DateField(_("valide jusqu'au"), null=True, blank=True)
    declarant_type = models.CharField(_("type de déclarant"), max_length=100, blank=True)
    holder_name = models.CharField(_("raison sociale ou nom"), max_length=300, blank=True)
    siren_siret = models.CharField(_("SIREN / SIRET"), max_length=14, blank=True, db_index=True)
    postal_code = models.CharField(_("code postal de l'établissement"), max_length=10, blank=True)
    naf = models.CharField(_("code NAF / APE"), max_length=200, blank=True)
    venue_name = models.CharField(_("nom du lieu"), max_length=300, blank=True)
    venue_postal_code = models.CharField(_("code postal du lieu"), max_length=10, blank=True)
    region = models.CharField(_("région"), max_length=100, blank=True)
    departement = models.CharField(_("département"), max_length=100, blank=True)
    organisation = models.ForeignKey(
        "referentials.Organisation",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="licences",
        verbose_name=_("organisation"),
        help_text=_("Reliée automatiquement quand le SIREN correspond à une organisation de ce nœud."),
    )
    imported_at = models.DateTimeField(_("importée le"), auto_now_add=True)
    updated_at = models.DateTimeField(_("modifiée le"), auto_now=True)

    class Meta:
        ordering = ["number"]
        verbose_name = _("licence d'entrepreneur de spectacles")
        verbose_name_plural = _("licences d'entrepreneur de spectacles")
        constraints = [
            models.CheckConstraint(condition=models.Q(category__in=[1, 2, 3]), name="licence_category_1_2_3"),
        ]

    def __str__(self) -> str:
        return self.number

    @property
    def siren(self) -> str:
        """The first nine digits of the SIREN/SIRET column ("" when it holds no identifier)."""
        return self.siren_siret[:9] if len(self.siren_siret) in (9, 14) and self.siren_siret.isdigit() else ""


class LicenceImport(models.Model):
    """One run of `import_licences`: what it read and what it did."""

    source = models.CharField(_("fichier"), max_length=500)
    started_at = models.DateTimeField(_("commencé le"), auto_now_add=True)
    finished_at = models.DateTimeField(_("terminé le"), null=True, blank=True)
    created = models.PositiveIntegerField(_("créées"), default=0)
    updated = models.PositiveIntegerField(_("modifiées"), default=0)
    unchanged = models.PositiveIntegerField(_("inchangées"), default=0)
    invalid = models.PositiveIntegerField(_("lignes refusées"), default=0)
    #: `[{"line": 12, "error": "…"}]`, one item per refused line (line numbers count the header as 1).
    errors = models.JSONField(_("erreurs"), default=list, blank=True)

    class Meta:
        ordering = ["-started_at", "-pk"]
        verbose_name = _("import de licences")
        verbose_name_plural = _("imports de licences")

    def __str__(self) -> str:
        return f"{self.source} ({self.started_at:%Y-%m-%d %H:%M})"


class LicenceChange(models.Model):
    """What one import changed on one licence: `{field: [old, new]}` (dates as ISO strings)."""

    licence = models.ForeignKey(Licence, on_delete=models.CASCADE, related_name="changes", verbose_name=_("licence"))
    licence_import = models.ForeignKey(
        LicenceImport, on_delete=models.CASCADE, related_name="changes", verbose_name=_("import")
    )
    changes = models.JSONField(_("changements"), default=dict)

    class Meta:
        ordering = ["pk"]
        verbose_name = _("changement de licence")
        verbose_name_plural = _("changements de licence")

    def __str__(self) -> str:
        return f"{self.licence_id}: {', '.join(sorted(self.changes))}"


class ProfessionalAccount(models.Model):
    """A person working for a structure that holds (or asked for) licences: a professional."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="professional_account",
        verbose_name=_("personne"),
    )
    organisation = models.ForeignKey(
        "referentials.Organisation",
        on_delete=models.PROTECT,
        related_name="professional_accounts",
        verbose_name=_("structure"),
        help_text=_("La structure du professionnel : ses licences sont celles de cette structure."),
    )
    verified_at = models.DateTimeField(_("vérifié le"), null=True, blank=True)
    created_at = models.DateTimeField(_("créé le"), auto_now_add=True)

    class Meta:
        verbose_name = _("compte professionnel")
        verbose_name_plural = _("comptes professionnels")

    def __str__(self) -> str:
        return f"{self.user} — {self.organisation}"


class TermsOfUse(models.Model):
    """One version of the registry's terms of use; the latest published one is current."""

    version = models.CharField(_("version"), max_length=40, unique=True)
    text = models.TextField(_("texte"))
    published_at = models.DateTimeField(_("publiée le"))

    class Meta:
        ordering = ["-published_at", "-pk"]
        get_latest_by = ["published_at", "pk"]
        verbose_name = _("conditions d'utilisation")
        verbose_name_plural = _("conditions d'utilisation")

    def __str__(self) -> str:
        return self.version


class TermsAcceptance(models.Model):
    """A person accepted one version of the terms of use."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="terms_acceptances",
        verbose_name=_("personne"),
    )
    terms = models.ForeignKey(
        TermsOfUse, on_delete=models.PROTECT, related_name="acceptances", verbose_name=_("version")
    )
    accepted_at = models.DateTimeField(_("acceptée le"))

    class Meta:
        ordering = ["-accepted_at", "-pk"]
        verbose_name = _("acceptation des conditions")
        verbose_name_plural = _("acceptations des conditions")
        constraints = [models.UniqueConstraint(fields=["user", "terms"], name="terms_acceptance_once")]

    def __str__(self) -> str:
        return f"{self.user} — {self.terms_id}"


# ---------------------------------------------------------------------------- directory entries


class DirectoryEntry(OwnedRecord):
    """A person's professional profile in the directory (docs/directory.md).

    The owner is the structure that holds the profile (the controller of the person's consent).
    Published — to licensed professionals, over the API and the change feed — only while a consent
    of the person is in force, and then only the fields that consent covers
    (`dataspace.directory.entries`). Emails, phones and postal addresses are encrypted at rest.
    """

    record_type: ClassVar[str] = "directory-entry"

    display_name = models.CharField(_("nom d'usage"), max_length=200)
    trades = models.JSONField(_("métiers"), default=list, blank=True, help_text=_("Codes du vocabulaire des métiers."))
    skills = models.JSONField(_("compétences"), default=list, blank=True, help_text=_("Mots-clés libres."))
    languages = models.JSONField(_("langues"), default=list, blank=True, help_text=_("Codes ISO 639-1 (fr, en…)."))
    region = models.CharField(_("région"), max_length=40, choices=Region.choices, blank=True)
    availability = models.JSONField(
        _("disponibilités"),
        default=list,
        blank=True,
        help_text=_("Périodes de disponibilité : [{« start » : date, « end » : date}]."),
    )
    contact_channel = models.CharField(
        _("moyen de contact préféré"), max_length=10, choices=ContactChannel.choices, blank=True
    )
    contact_email = EncryptedEmailField(_("courriel de contact"), blank=True)
    contact_phone = EncryptedTextField(_("téléphone de contact"), blank=True)
    postal_address = EncryptedTextField(_("adresse postale"), blank=True)
    links = models.JSONField(_("liens"), default=list, blank=True, help_text=_("Adresses web (site, portfolio…)."))
    person_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="directory_entries",
        verbose_name=_("compte de la personne"),
    )
    reviewed_at = models.DateTimeField(
        _("revue le"), null=True, blank=True, help_text=_("Dernière vérification des informations par la structure.")
    )
    #: Folded text and tokens of the fields the consent in force covered at the last save (never
    #: the encrypted ones): what the directory's filters and `q` match, in SQL.
    search_index = models.TextField(editable=False, blank=True, default="")

    objects = DirectoryEntryQuerySet.as_manager()

    class Meta:
        ordering = ["display_name", "id"]
        verbose_name = _("fiche de l'annuaire")
        verbose_name_plural = _("fiches de l'annuaire")

    def __str__(self) -> str:
        return self.display_name

    @property
    def is_public(self) -> bool:
        """Published only while a consent of the person is in force (else a tombstone, or nothing)."""
        from dataspace.directory.entries import consented_fields_of

        return bool(consented_fields_of(self))

    @property
    def subject_person_id(self) -> Any:
        """Whose personal data this is, for the journal (the person's portal lists reads of it)."""
        return self.pk

    def save(self, *args: Any, **kwargs: Any) -> None:
        from dataspace.directory.entries import build_search_index

        self.search_index = build_search_index(self)
        if kwargs.get("update_fields") is not None:
            kwargs["update_fields"] = {*kwargs["update_fields"], "search_index"}
        super().save(*args, **kwargs)
