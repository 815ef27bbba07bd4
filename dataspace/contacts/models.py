"""The structure's private contacts (CRM): spectators, partners, press, artists' agents.

A `Contact` is **not** a shared record (`dataspace.records.models.Record`): it never enters the
change feed, is never replicated to another node and no data-sharing agreement can cover it in
this version. Only the owner's staff and its own (or mandated) clients read it. Emails, phones
and postal addresses are encrypted at rest (`dataspace.node.crypto`); `email_index` is the blind
index of the email, for exact lookups. Marketing consents per purpose are `ConsentRecord`s with
`target_type = "contact"` (`dataspace.contacts.services`).
"""

from __future__ import annotations

import uuid
from typing import Any

from django.db import models
from django.utils.translation import gettext_lazy as _

from dataspace.node.crypto import EncryptedEmailField, EncryptedTextField, blind_index

#: `ConsentRecord.target_type` of a consent given by a contact.
CONTACT_TARGET = "contact"


class Contact(models.Model):
    """One person (or press desk, agency…) the structure keeps in touch with; private to the node."""

    class Kind(models.TextChoices):
        SPECTATOR = "spectator", _("spectateur ou spectatrice")
        PARTNER = "partner", _("partenaire")
        PRESS = "press", _("presse")
        AGENT = "agent", _("agent d'artistes")
        OTHER = "other", _("autre")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(
        "referentials.Organisation",
        on_delete=models.PROTECT,
        related_name="private_contacts",
        verbose_name=_("structure"),
    )
    kind = models.CharField(_("type"), max_length=20, choices=Kind.choices, default=Kind.SPECTATOR)
    given_name = models.CharField(_("prénom"), max_length=150, blank=True)
    family_name = models.CharField(_("nom"), max_length=150, blank=True)
    organisation_name = models.CharField(_("organisme"), max_length=200, blank=True)
    email = EncryptedEmailField(_("adresse électronique"), blank=True)
    #: Blind index of `email` (HMAC of the normalised address), kept by save().
    email_index = models.CharField(max_length=64, blank=True, db_index=True, editable=False)
    phone = EncryptedTextField(_("téléphone"), blank=True)
    postal_address = EncryptedTextField(_("adresse postale"), blank=True)
    notes = models.TextField(_("notes"), blank=True)
    tags = models.JSONField(_("étiquettes"), default=list, blank=True)
    #: Bumped on every save: the ETag of the API (`"<id>-<version>"`).
    version = models.PositiveIntegerField(_("version"), default=1, editable=False)
    created_at = models.DateTimeField(_("créé le"), auto_now_add=True)
    updated_at = models.DateTimeField(_("modifié le"), auto_now=True)
    #: Last time the structure checked the data with the person (review flag after CONSENT_REVIEW_DAYS).
    verified_at = models.DateTimeField(_("vérifié le"), null=True, blank=True)

    class Meta:
        verbose_name = _("contact")
        verbose_name_plural = _("contacts")
        ordering = ["family_name", "given_name", "id"]
        indexes = [models.Index(fields=["owner", "kind"])]

    def __str__(self) -> str:
        name = " ".join(part for part in (self.given_name, self.family_name) if part)
        return name or self.organisation_name or str(self.id)

    def save(self, *args: Any, **kwargs: Any) -> None:
        self.email_index = blind_index(self.email) if self.email else ""
        if not self._state.adding:
            self.version = (self.version or 0) + 1
        if kwargs.get("update_fields") is not None:
            kwargs["update_fields"] = {*kwargs["update_fields"], "email_index", "version", "updated_at"}
        super().save(*args, **kwargs)
