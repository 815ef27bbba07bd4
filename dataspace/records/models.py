"""The base of every shared record and the node's change log.

Every shared record carries a UUID, its owner organisation, its origin node, a monotonic version
and timestamps. Every create, update and delete of such a record appends a `Change` row in the
same transaction; deletes leave a tombstone there. `services.record_change` guarantees that rows
are numbered in commit order (see its docstring), which is what makes the change feed's cursor
safe to resume.
"""

from __future__ import annotations

import uuid
from typing import Any, ClassVar

from django.conf import settings
from django.db import models, transaction
from django.utils.translation import gettext_lazy as _


def node_origin() -> str:
    return str(settings.NODE_BASE_URL)


class Record(models.Model):
    """Abstract base of a shared record (DESIGN.md §3)."""

    #: Path segment of the record's global URI and of its change-feed `type`.
    record_type: ClassVar[str] = ""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    origin = models.URLField(
        _("nœud d'origine"),
        default=node_origin,
        editable=False,
        help_text=_("Nœud où le propriétaire a saisi la donnée ; seul ce nœud écrit la copie maîtresse."),
    )
    version = models.PositiveIntegerField(_("version"), default=1, editable=False)
    same_as = models.JSONField(
        _("identifiants externes"),
        default=list,
        blank=True,
        help_text=_("URI d'identifiants externes (ISNI, Wikidata, ARK BnF, Artsdata, SIRET…)."),
    )
    created_at = models.DateTimeField(_("créé le"), auto_now_add=True)
    updated_at = models.DateTimeField(_("modifié le"), auto_now=True)

    class Meta:
        abstract = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        """Save, bump the version and append the change to the feed, all in one transaction.

        The change-log lock is taken before the row is written (see `services` for why), and a
        partial save (`update_fields`) still stores the bumped version and timestamp.
        """
        from dataspace.records import services

        if kwargs.get("update_fields") is not None and not kwargs["update_fields"]:
            return  # Django saves nothing for an empty update_fields; nothing changed, nothing logged
        previous_version = self.version
        try:
            with transaction.atomic():
                services.lock_change_log()
                if not self._state.adding:
                    self.version = (self.version or 0) + 1
                    if kwargs.get("update_fields") is not None:
                        kwargs["update_fields"] = {*kwargs["update_fields"], "version", "updated_at"}
                super().save(*args, **kwargs)
                services.record_change(self, Change.Op.UPSERT)
        except BaseException:
            self.version = previous_version
            raise

    @property
    def uri(self) -> str:
        """The stable global URI, used as JSON-LD `@id`."""
        return f"{self.origin}/id/{self.record_type}/{self.id}"

    @property
    def is_public(self) -> bool:
        """Whether the record may leave this node at all (performances under option may not)."""
        return True


class Change(models.Model):
    """One entry of the change feed: an upsert or a tombstone, numbered in commit order."""

    class Op(models.TextChoices):
        UPSERT = "upsert", _("création ou modification")
        DELETE = "delete", _("suppression (pierre tombale)")

    seq = models.BigAutoField(primary_key=True)
    record_type = models.CharField(max_length=40, db_index=True)
    record_id = models.UUIDField(db_index=True)
    uri = models.URLField(max_length=300)
    op = models.CharField(max_length=6, choices=Op.choices)
    version = models.PositiveIntegerField()
    owner_id = models.UUIDField(null=True, blank=True)
    changed_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["seq"]
        verbose_name = _("changement")
        verbose_name_plural = _("changements")

    def __str__(self) -> str:
        return f"#{self.seq} {self.op} {self.record_type}/{self.record_id} v{self.version}"
