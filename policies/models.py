"""Usage policies and the DMP controls of an owner (DESIGN.md §5, DOMAIN.md "The DMP pattern").

* `Policy` — an ODRL document (our profile, `policies.language`) attached to a **dataset** (every
  record of one type of one owner) or, as an override, to **one record**. It is a shared record
  itself (URI = its ODRL `uid`, versioned, in the change feed) so that replicas carry it.
* `Block` — an owner refuses a person or an organisation everything; the blocked party is not told.
* `HiddenRecord` — a record visible only to its owner and to the partners the owner names.
* `BreakGlassAccess` — a justified emergency read, alerting the owner, journaled apart.
* `UsageCount` — per assignee per day counters for `count` constraints.
"""

from __future__ import annotations

import uuid
from typing import Any, ClassVar

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from dataspace.referentials.models import OwnedRecord

#: Record types a policy may govern (the shared referentials; directory entries come with consent).
GOVERNED_TYPES: tuple[tuple[str, Any], ...] = (  # (name, lazily translated label)
    ("organisation", _("organisations")),
    ("venue", _("lieux")),
    ("hall", _("salles")),
    ("technical-sheet", _("fiches techniques")),
    ("person", _("personnes (générique)")),
    ("work", _("œuvres")),
    ("production", _("productions")),
    ("contribution", _("distributions")),
    ("season", _("saisons et éditions")),
    ("performance", _("représentations")),
)


class Policy(OwnedRecord):
    """An owner's usage policy over one dataset (record type) or one record."""

    record_type: ClassVar[str] = "policy"

    title = models.CharField(_("intitulé"), max_length=200, blank=True)
    target_type = models.CharField(_("jeu de données"), max_length=40, choices=GOVERNED_TYPES)
    target_id = models.UUIDField(
        _("enregistrement visé"),
        null=True,
        blank=True,
        help_text=_(
            "Vide : la politique couvre tout le jeu de données ; sinon elle remplace celle-ci pour cet enregistrement."
        ),
    )
    #: The templates (name + parameters) the policy was composed from, for the administrator's form.
    templates = models.JSONField(_("modèles"), default=list, blank=True)
    #: The policy as ODRL 2.2 JSON-LD in our profile, validated on save (`policies.odrl`).
    odrl = models.JSONField(_("document ODRL"), default=dict, blank=True)
    valid_from = models.DateTimeField(_("en vigueur depuis"), null=True, blank=True)
    active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("politique d'usage")
        verbose_name_plural = _("politiques d'usage")
        constraints = [
            models.UniqueConstraint(
                fields=["owner", "target_type"],
                condition=Q(target_id__isnull=True, active=True),
                name="one_active_policy_per_dataset",
            ),
            models.UniqueConstraint(
                fields=["target_type", "target_id"],
                condition=Q(target_id__isnull=False, active=True),
                name="one_active_policy_per_record",
            ),
        ]

    def __str__(self) -> str:
        return self.title or f"{self.target_type} — {self.owner}"

    def clean(self) -> None:
        """The ODRL document must be in our profile (the admin shows the path and the reason)."""
        from django.core.exceptions import ValidationError

        from policies.language import PolicyError
        from policies.odrl import parse_odrl

        super().clean()
        try:
            parse_odrl(self.odrl)
        except PolicyError as error:
            message = f"{error.field}: {error.message}" if error.field else error.message
            raise ValidationError({"odrl": message}) from None

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        """Delete, and make cached decisions stale once the transaction commits."""
        from django.db import transaction

        from policies.services import bump_policy_generation

        result = super().delete(*args, **kwargs)
        transaction.on_commit(bump_policy_generation)
        return result


class Block(models.Model):
    """The owner refuses a person (account) or an organisation every access to its data."""

    owner = models.ForeignKey(
        "referentials.Organisation", on_delete=models.CASCADE, related_name="+", verbose_name=_("structure")
    )
    blocked_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("personne bloquée"),
    )
    blocked_organisation = models.ForeignKey(
        "referentials.Organisation",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("organisation bloquée"),
    )
    #: Private to the owner; never shown to the blocked party.
    note = models.TextField(_("note interne"), blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("blocage")
        verbose_name_plural = _("blocages")
        constraints = [
            models.CheckConstraint(
                condition=Q(blocked_user__isnull=False, blocked_organisation__isnull=True)
                | Q(blocked_user__isnull=True, blocked_organisation__isnull=False),
                name="block_one_party",
            ),
            models.CheckConstraint(condition=~Q(blocked_organisation=F("owner")), name="block_not_oneself"),
            models.UniqueConstraint(
                fields=["owner", "blocked_user"], condition=Q(blocked_user__isnull=False), name="block_user_once"
            ),
            models.UniqueConstraint(
                fields=["owner", "blocked_organisation"],
                condition=Q(blocked_organisation__isnull=False),
                name="block_organisation_once",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.owner} ⟂ {self.blocked_user or self.blocked_organisation}"


class HiddenRecord(models.Model):
    """A record its owner hides: visible only to the owner and the partners named here."""

    owner = models.ForeignKey(
        "referentials.Organisation", on_delete=models.CASCADE, related_name="+", verbose_name=_("structure")
    )
    target_type = models.CharField(_("type"), max_length=40, choices=GOVERNED_TYPES)
    target_id = models.UUIDField(_("enregistrement"))
    partners = models.ManyToManyField(
        "referentials.Organisation", blank=True, related_name="+", verbose_name=_("partenaires autorisés")
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("enregistrement masqué")
        verbose_name_plural = _("enregistrements masqués")
        constraints = [
            models.UniqueConstraint(fields=["target_type", "target_id"], name="hide_record_once"),
        ]

    def __str__(self) -> str:
        return f"{self.target_type}/{self.target_id}"


class BreakGlassAccess(models.Model):
    """An emergency read of one record: named emergency, written justification, owner alerted."""

    class Emergency(models.TextChoices):
        PUBLIC_SAFETY = "public_safety", _("sécurité du public (évacuation, jauge, incident)")
        RIGGING_SAFETY = "rigging_safety", _("sécurité des accroches et charges (fiche technique)")
        MEDICAL = "medical", _("urgence médicale d'un artiste ou technicien")
        URGENT_REPLACEMENT = "urgent_replacement", _("remplacement urgent avant une représentation")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("professionnel")
    )
    organisation = models.ForeignKey(
        "referentials.Organisation",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("organisation du professionnel"),
    )
    licence_number = models.CharField(_("licence"), max_length=60, blank=True)
    owner = models.ForeignKey(
        "referentials.Organisation", on_delete=models.CASCADE, related_name="+", verbose_name=_("structure")
    )
    target_type = models.CharField(_("type"), max_length=40, choices=GOVERNED_TYPES)
    target_id = models.UUIDField(_("enregistrement"))
    emergency = models.CharField(_("urgence"), max_length=30, choices=Emergency.choices)
    justification = models.TextField(_("justification"))
    purpose = models.CharField(_("finalité"), max_length=30, blank=True)
    #: Set by `policies.controls.open_break_glass` (from its `now`), so that the window is exact.
    created_at = models.DateTimeField(_("demandé le"), default=timezone.now, editable=False)
    expires_at = models.DateTimeField(_("expire le"))
    owner_alerted_at = models.DateTimeField(_("structure alertée le"), null=True, blank=True)

    class Meta:
        verbose_name = _("accès d'urgence")
        verbose_name_plural = _("accès d'urgence")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.user} → {self.target_type}/{self.target_id} ({self.get_emergency_display()})"


class UsageCount(models.Model):
    """How many times one assignee used a rule with a `count` constraint, per day."""

    policy = models.ForeignKey(Policy, on_delete=models.CASCADE, related_name="+")
    rule_index = models.PositiveSmallIntegerField(default=0)
    subject_key = models.CharField(max_length=120)
    day = models.DateField()
    count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["policy", "rule_index", "subject_key", "day"], name="one_counter_per_day"),
        ]

    def __str__(self) -> str:
        return f"{self.subject_key} {self.day}: {self.count}"
