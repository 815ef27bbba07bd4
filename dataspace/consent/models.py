"""Consent as a record (issue 5): person consents, notices, data-sharing agreements, login links.

* `Notice` — the versioned text a person (or a structure) was shown; its SHA-256 is kept with the
  consent so a receipt proves which text was agreed to.
* `ConsentRecord` — shaped on ISO/IEC TS 27560 with W3C DPV terms: who (subject), for whom
  (controller), why (purposes), what (personal-data categories and the exact fields), to whom
  (recipients), on which legal basis, after which notice, how and when, until when; its status
  moves through `ConsentEvent`s (given, renewed, withdrawn, expired, erased), each journaled.
  `target_type`/`target_id` name what it covers: a directory entry (publication to licensed
  professionals) or a contact (a marketing purpose).
* `Agreement` — a structure's data-sharing agreement: dataset × grantee (the federation, a named
  partner, the ministry) × purposes × period, signed by one of its administrators. No shared
  dataset leaves the node without one in force.
* `LoginLink` — a one-time sign-in link of the person's portal (only a digest is stored).
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from dataspace.node.crypto import EncryptedEmailField


class Notice(models.Model):
    """A versioned information notice, shown before a consent or an agreement is given."""

    class Kind(models.TextChoices):
        DIRECTORY = "directory", _("annuaire professionnel")
        CONTACT = "contact", _("contacts et communication")
        AGREEMENT = "agreement", _("accord de partage de données")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    controller = models.ForeignKey(
        "referentials.Organisation", on_delete=models.PROTECT, related_name="+", verbose_name=_("responsable")
    )
    kind = models.CharField(_("type"), max_length=20, choices=Kind.choices)
    version = models.CharField(_("version"), max_length=40)
    text = models.TextField(_("texte"))
    sha256 = models.CharField(_("empreinte SHA-256"), max_length=64, editable=False)
    published_at = models.DateTimeField(_("publiée le"), auto_now_add=True)

    class Meta:
        verbose_name = _("notice d'information")
        verbose_name_plural = _("notices d'information")
        constraints = [
            models.UniqueConstraint(fields=["controller", "kind", "version"], name="one_notice_version"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.version}"


class ConsentRecord(models.Model):
    """One consent of one person (ISO/IEC TS 27560 shape, DPV vocabulary)."""

    class Status(models.TextChoices):
        GIVEN = "given", _("donné")
        RENEWED = "renewed", _("renouvelé")
        WITHDRAWN = "withdrawn", pgettext_lazy("consent status", "retiré")
        EXPIRED = "expired", _("expiré")
        ERASED = "erased", _("effacé")

    class Method(models.TextChoices):
        PORTAL = "portal", _("portail de la personne")
        WEB_FORM = "web_form", _("formulaire en ligne")
        PAPER = "paper", _("formulaire papier (saisi par la structure)")
        API = "api", _("logiciel de la structure (API)")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    #: The person's account on this node (portal sign-in), when they have one.
    subject_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="consents",
        verbose_name=_("personne (compte)"),
    )
    subject_email = EncryptedEmailField(_("adresse de la personne"), blank=True)
    #: Blind index of subject_email (dataspace.node.crypto.blind_index), for the portal's sign-in.
    subject_email_index = models.CharField(max_length=64, blank=True, db_index=True, editable=False)
    controller = models.ForeignKey(
        "referentials.Organisation", on_delete=models.PROTECT, related_name="+", verbose_name=_("responsable")
    )
    #: What it covers: "directory-entry" or "contact", and that record's id.
    target_type = models.CharField(_("objet"), max_length=40)
    target_id = models.UUIDField(_("enregistrement"))
    purposes = models.JSONField(_("finalités"), default=list)
    data_categories = models.JSONField(_("catégories de données (DPV)"), default=list)
    fields = models.JSONField(_("champs couverts"), default=list)
    recipients = models.JSONField(_("destinataires"), default=list)
    legal_basis = models.CharField(_("base légale"), max_length=60, default="dpv:Consent")
    notice = models.ForeignKey(Notice, on_delete=models.PROTECT, related_name="+", verbose_name=_("notice"))
    notice_sha256 = models.CharField(_("empreinte de la notice"), max_length=64)
    method = models.CharField(_("recueilli par"), max_length=20, choices=Method.choices)
    given_at = models.DateTimeField(_("donné le"))
    expires_at = models.DateTimeField(_("expire le"), null=True, blank=True)
    status = models.CharField(_("état"), max_length=12, choices=Status.choices, default=Status.GIVEN)
    status_changed_at = models.DateTimeField(_("état depuis"))
    #: The application through which it was given, if any: its tokens acting for the person are
    #: revoked when the consent ends.
    oauth_client = models.ForeignKey("oauth.Client", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    #: Last time the structure re-verified the data it covers (review flag after CONSENT_REVIEW_DAYS).
    verified_at = models.DateTimeField(_("vérifié le"), null=True, blank=True)

    class Meta:
        verbose_name = _("consentement")
        verbose_name_plural = _("consentements")
        ordering = ["-given_at"]
        indexes = [models.Index(fields=["target_type", "target_id", "status"])]

    def __str__(self) -> str:
        return f"{self.target_type}/{self.target_id} — {self.get_status_display()}"


#: Statuses under which a consent is in force (until its `expires_at`).
ACTIVE_STATUSES = (ConsentRecord.Status.GIVEN, ConsentRecord.Status.RENEWED)


class ConsentEvent(models.Model):
    """One step of a consent's history."""

    consent = models.ForeignKey(ConsentRecord, on_delete=models.CASCADE, related_name="events")
    status = models.CharField(max_length=12, choices=ConsentRecord.Status.choices)
    at = models.DateTimeField()
    by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    client_id = models.CharField(max_length=100, blank=True)
    note = models.TextField(blank=True)

    class Meta:
        ordering = ["at", "pk"]
        verbose_name = _("étape de consentement")
        verbose_name_plural = _("historique des consentements")

    def __str__(self) -> str:
        return f"{self.consent_id} {self.status} {self.at:%Y-%m-%d %H:%M}"


class Agreement(models.Model):
    """A structure's data-sharing agreement for one dataset."""

    class Grantee(models.TextChoices):
        FEDERATION = "federation", _("la fédération (registre et nœuds membres)")
        PARTNER = "partner", _("un partenaire nommé")
        MINISTRY = "ministry", _("le ministère de la Culture")

    class Status(models.TextChoices):
        ACTIVE = "active", _("en vigueur")
        REVOKED = "revoked", _("révoqué")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(
        "referentials.Organisation", on_delete=models.PROTECT, related_name="+", verbose_name=_("structure")
    )
    target_type = models.CharField(_("jeu de données"), max_length=40)
    grantee = models.CharField(_("bénéficiaire"), max_length=20, choices=Grantee.choices)
    grantee_organisation = models.ForeignKey(
        "referentials.Organisation",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("partenaire"),
    )
    grantee_node = models.URLField(_("nœud du bénéficiaire"), blank=True)
    purposes = models.JSONField(_("finalités"), default=list)
    valid_from = models.DateField(_("du"))
    valid_until = models.DateField(_("au"), null=True, blank=True)
    notice = models.ForeignKey(Notice, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    signed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("signé par")
    )
    signed_at = models.DateTimeField(_("signé le"))
    #: JWS (node key) over the agreement's terms and signer: evidence of what was signed.
    signature = models.TextField(_("signature"), blank=True)
    status = models.CharField(_("état"), max_length=10, choices=Status.choices, default=Status.ACTIVE)
    revoked_at = models.DateTimeField(_("révoqué le"), null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        verbose_name = _("accord de partage")
        verbose_name_plural = _("accords de partage")
        constraints = [
            models.CheckConstraint(
                condition=~Q(grantee="partner") | Q(grantee_organisation__isnull=False),
                name="partner_agreement_names_partner",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.owner} — {self.target_type} → {self.get_grantee_display()}"


class LoginLink(models.Model):
    """A one-time sign-in link of the person's portal: only its digest is stored."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    digest = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("lien de connexion")
        verbose_name_plural = _("liens de connexion")

    def __str__(self) -> str:
        return f"{self.user} {self.created_at:%Y-%m-%d %H:%M}"
