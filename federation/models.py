"""The outbox of outbound notices (DESIGN.md §6) and the peers known to read the change feed.

* `OutboxMessage` — one notice for one destination node, written in the same transaction as the
  change it announces (`federation.outbox.enqueue`), delivered after commit by Celery, retried
  with exponential backoff until delivered or dead (at-least-once: receivers deduplicate on `id`).
* `FeedReader` — a peer node (a `private_key_jwt` client) that read this node's change feed: it
  may hold replicas, so withdrawal notices go to it too (`federation.outbox.replica_holders`).
"""

from __future__ import annotations

import uuid

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class OutboxMessage(models.Model):
    """One outbound notice for one destination."""

    class State(models.TextChoices):
        PENDING = "pending", _("en attente")
        DELIVERED = "delivered", _("remis")
        FAILED = "failed", _("en échec (nouvel essai prévu)")
        DEAD = "dead", _("abandonné")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    kind = models.CharField(_("type"), max_length=60)
    payload = models.JSONField(_("contenu"), default=dict)
    destination = models.URLField(_("destinataire"), max_length=300)
    created_at = models.DateTimeField(_("créé le"), default=timezone.now)
    state = models.CharField(_("état"), max_length=10, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveIntegerField(_("essais"), default=0)
    next_attempt_at = models.DateTimeField(_("prochain essai"), default=timezone.now)
    last_error = models.TextField(_("dernière erreur"), blank=True)
    delivered_at = models.DateTimeField(_("remis le"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("notification sortante")
        verbose_name_plural = _("notifications sortantes")
        indexes = [models.Index(fields=["state", "next_attempt_at"], name="outbox_due")]

    def __str__(self) -> str:
        return f"{self.kind} → {self.destination} ({self.get_state_display()})"


class FeedReader(models.Model):
    """A peer node that read this node's change feed (and so may hold replicas of its data)."""

    client_id = models.CharField(_("identifiant client"), max_length=100, unique=True)
    node = models.URLField(_("nœud"), max_length=300)
    last_read_at = models.DateTimeField(_("dernière lecture"))

    class Meta:
        ordering = ["node"]
        verbose_name = _("lecteur du flux de changements")
        verbose_name_plural = _("lecteurs du flux de changements")

    def __str__(self) -> str:
        return f"{self.node} ({self.client_id})"
