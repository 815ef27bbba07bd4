"""The tamper-evident journal of accesses and actions (DESIGN.md §5).

Both tables are append-only through the ORM: saving an existing row, `delete()`, `QuerySet.update()`
and `QuerySet.delete()` raise `AppendOnlyError`. Nothing stops someone with SQL access to the
database from editing rows; the hash chain and the signed seals make such an edit detectable
(`python manage.py verify_journal`, `dataspace.audit.services.verify_chain`).

No foreign keys on purpose: deleting a user, an organisation or a record must never cascade into
the journal, and an entry keeps the names it had when it was written.
"""

from __future__ import annotations

from typing import Any, ClassVar

from django.db import models
from django.utils.translation import gettext_lazy as _

#: prev_hash of the first entry of the chain.
GENESIS_HASH = "0" * 64


class AppendOnlyError(RuntimeError):
    """Raised on any attempt to change or delete a journal row through the ORM."""


class AppendOnlyQuerySet(models.QuerySet):
    """A queryset that reads and inserts, never updates nor deletes."""

    def update(self, **kwargs: Any) -> int:
        raise AppendOnlyError(f"{self.model.__name__} is append-only: rows are never updated.")

    def delete(self) -> tuple[int, dict[str, int]]:
        raise AppendOnlyError(f"{self.model.__name__} is append-only: rows are never deleted.")

    def bulk_update(self, objs: Any, fields: Any, batch_size: int | None = None) -> int:
        raise AppendOnlyError(f"{self.model.__name__} is append-only: rows are never updated.")

    def update_or_create(self, *args: Any, **kwargs: Any) -> Any:
        raise AppendOnlyError(f"{self.model.__name__} is append-only: rows are never updated.")


class AppendOnlyModel(models.Model):
    """A row is written once (INSERT) and then only read."""

    objects: ClassVar[Any] = AppendOnlyQuerySet.as_manager()

    class Meta:
        abstract = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise AppendOnlyError(f"{type(self).__name__} is append-only: a written row is never changed.")
        kwargs["force_insert"] = True  # an explicit pk must not trigger Django's UPDATE-then-INSERT
        kwargs.pop("force_update", None)
        kwargs.pop("update_fields", None)
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise AppendOnlyError(f"{type(self).__name__} is append-only: rows are never deleted.")


class JournalEntry(AppendOnlyModel):
    """One access or action, hash-chained to the entry before it (see `dataspace.audit.services`)."""

    class Stream(models.TextChoices):
        ACCESS = "access", _("accès")
        BREAK_GLASS = "break_glass", _("accès d'urgence (bris de glace)")
        ADMIN = "admin", _("administration")

    class Outcome(models.TextChoices):
        PERMIT = "permit", _("autorisé")
        DENY = "deny", _("refusé")

    seq = models.BigAutoField(_("numéro"), primary_key=True)
    stream = models.CharField(_("flux"), max_length=20, choices=Stream.choices, default=Stream.ACCESS)
    at = models.DateTimeField(_("date"), db_index=True)
    # Who acted (copied, not linked: the entry keeps the names of the moment).
    user_id = models.BigIntegerField(_("identifiant de la personne"), null=True, blank=True)
    username = models.CharField(_("personne"), max_length=150, blank=True)
    organisation_id = models.UUIDField(_("identifiant de la structure de la personne"), null=True, blank=True)
    organisation_name = models.CharField(_("structure de la personne"), max_length=255, blank=True)
    licence_number = models.CharField(_("licence"), max_length=64, blank=True)
    client_id = models.CharField(_("client"), max_length=100, blank=True)
    node = models.CharField(_("nœud"), max_length=255, blank=True)
    # What was done, to what, whose data.
    action = models.CharField(_("action"), max_length=40)
    record_type = models.CharField(_("type de données"), max_length=60, blank=True)
    record_ids = models.JSONField(_("identifiants des données"), default=list, blank=True)
    owner_id = models.UUIDField(_("structure propriétaire des données"), null=True, blank=True)
    subject_person_id = models.UUIDField(_("personne concernée"), null=True, blank=True, db_index=True)
    purpose = models.CharField(_("finalité"), max_length=40, blank=True)
    decision = models.CharField(_("décision"), max_length=10, choices=Outcome.choices)
    reason_code = models.CharField(_("code du motif"), max_length=80, blank=True)
    reason = models.TextField(_("motif"), blank=True)
    details = models.JSONField(_("détails"), default=dict, blank=True)
    # The chain.
    prev_hash = models.CharField(_("empreinte précédente"), max_length=64)
    hash = models.CharField(_("empreinte"), max_length=64)

    class Meta:
        verbose_name = _("entrée du journal")
        verbose_name_plural = _("entrées du journal")
        ordering = ["-seq"]
        indexes = [models.Index(fields=["owner_id", "-seq"], name="journal_owner_seq")]

    def __str__(self) -> str:
        return f"#{self.seq} {self.at:%Y-%m-%d %H:%M} {self.action} {self.decision}"


class JournalSeal(AppendOnlyModel):
    """The chain head at `seq`, signed by the node key (a JWS compact, `dataspace.audit.services`)."""

    seq = models.BigIntegerField(_("numéro scellé"), unique=True)
    hash = models.CharField(_("empreinte scellée"), max_length=64)
    signed_at = models.DateTimeField(_("signé le"))
    kid = models.CharField(_("clé"), max_length=100)
    jws = models.TextField(_("signature (JWS)"))

    class Meta:
        verbose_name = _("sceau du journal")
        verbose_name_plural = _("sceaux du journal")
        ordering = ["-seq"]

    def __str__(self) -> str:
        return f"#{self.seq} {self.signed_at:%Y-%m-%d %H:%M}"
