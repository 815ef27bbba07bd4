"""Federation state (DESIGN.md §6, docs/federation.md).

Outbox and feed readers (issue 5), membership, signed calls, replication index, webhooks (issue 6):

* `Member` — (registry) a node that asked to join; the operator approves it; approved members
  make the signed member list.
* `MembershipState` — (every node) the last member list it verified, and the registry's keys it trusts.
* `Peer` — (every node) one trusted member from that list: its base URL, roles and public keys.
* `SeenNonce` — nonces of signed requests already accepted (replays are refused until expiry).
* `ReceivedNotice` — notices already handled (receivers deduplicate at-least-once delivery).
* `SyncState` — (registry) the replication cursor and health of one member's change feed.
* `IndexedRecord`, `IndexedAvailability` — (registry, and every node for its own records) the
  replicated index federated search reads: one row per record URI with its representation,
  owner, policy-relevant facts, consent scope and version.
* `WebhookSubscription` — a vendor's tool subscribed to change events; deliveries are outbox
  messages with `subscription` set.

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
    #: Webhook deliveries: the subscription (the message goes to `url`, not to a node's notice path).
    subscription = models.ForeignKey(
        "federation.WebhookSubscription",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="deliveries",
        verbose_name=_("abonnement"),
    )
    #: Full target URL when set (webhooks); empty: ``{destination}/api/v1/federation/notices``.
    url = models.URLField(_("adresse de remise"), max_length=500, blank=True)

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


# ---------------------------------------------------------------------------- membership


class Member(models.Model):
    """(registry) A node that asked to join the federation, and the operator's decision."""

    class Status(models.TextChoices):
        PENDING = "pending", _("en attente d'approbation")
        APPROVED = "approved", _("membre")
        SUSPENDED = "suspended", _("suspendu")
        REFUSED = "refused", _("refusé")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    base_url = models.URLField(_("URL de base"), max_length=300, unique=True)
    name = models.CharField(_("nom"), max_length=100)
    roles = models.JSONField(_("rôles"), default=list)
    #: The node's public keys (JWKS `keys`), as last announced with a valid signature.
    jwks = models.JSONField(_("clés publiques"), default=dict)
    #: The node's `/.well-known/dataspace-node` document as sent when it joined or last announced.
    metadata = models.JSONField(_("métadonnées"), default=dict, blank=True)
    organisation_name = models.CharField(_("structure exploitante"), max_length=200, blank=True)
    contact_email = models.EmailField(_("contact technique"), blank=True)
    status = models.CharField(_("statut"), max_length=10, choices=Status.choices, default=Status.PENDING)
    requested_at = models.DateTimeField(_("demandé le"), default=timezone.now)
    decided_at = models.DateTimeField(_("décidé le"), null=True, blank=True)
    decided_by = models.ForeignKey(
        "auth.User", on_delete=models.SET_NULL, null=True, blank=True, related_name="+", verbose_name=_("décidé par")
    )
    keys_updated_at = models.DateTimeField(_("clés mises à jour le"), null=True, blank=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("membre de la fédération")
        verbose_name_plural = _("membres de la fédération")

    def __str__(self) -> str:
        return f"{self.name} ({self.base_url})"


class MembershipState(models.Model):
    """(every node) Singleton: the registry this node trusts and the last member list it verified."""

    registry_url = models.URLField(_("registre"), max_length=300)
    #: The registry's public keys (JWKS `keys`), pinned when the node joined, updated only by a
    #: list signed with a key already trusted (rotation with overlap).
    registry_jwks = models.JSONField(_("clés du registre"), default=dict)
    serial = models.PositiveBigIntegerField(_("numéro de la liste"), default=0)
    issued_at = models.DateTimeField(_("liste émise le"), null=True, blank=True)
    expires_at = models.DateTimeField(_("liste valable jusqu'au"), null=True, blank=True)
    #: The signed list exactly as received (compact JWS), kept for audit.
    signed_list = models.TextField(_("liste signée"), blank=True)
    refreshed_at = models.DateTimeField(_("dernière mise à jour"), null=True, blank=True)
    last_error = models.TextField(_("dernière erreur"), blank=True)
    #: This node's own membership as the registry last answered (pending, approved…).
    own_status = models.CharField(_("statut de ce nœud"), max_length=10, blank=True)

    class Meta:
        verbose_name = _("adhésion à la fédération")
        verbose_name_plural = _("adhésion à la fédération")

    def __str__(self) -> str:
        return f"{self.registry_url} (liste n° {self.serial})"


class Peer(models.Model):
    """(every node) A member of the federation, as the last verified member list names it."""

    base_url = models.URLField(_("URL de base"), max_length=300, unique=True)
    name = models.CharField(_("nom"), max_length=100)
    roles = models.JSONField(_("rôles"), default=list)
    jwks = models.JSONField(_("clés publiques"), default=dict)
    #: The key ids of `jwks` (denormalised for the signature verifier's lookup).
    kids = models.JSONField(_("identifiants de clés"), default=list)
    list_serial = models.PositiveBigIntegerField(_("liste n°"), default=0)
    updated_at = models.DateTimeField(_("mis à jour le"), auto_now=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("nœud pair")
        verbose_name_plural = _("nœuds pairs")

    def __str__(self) -> str:
        return f"{self.name} ({self.base_url})"


class SeenNonce(models.Model):
    """A signed request's nonce, kept until its signature expires: a second use is a replay."""

    key_id = models.CharField(max_length=100)
    nonce = models.CharField(max_length=100)
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["key_id", "nonce"], name="one_use_per_nonce")]

    def __str__(self) -> str:
        return f"{self.key_id}/{self.nonce}"


class ReceivedNotice(models.Model):
    """A notice this node handled (by its `id`): a redelivery is acknowledged, not handled twice."""

    id = models.UUIDField(primary_key=True)
    kind = models.CharField(max_length=60)
    origin = models.URLField(max_length=300)
    received_at = models.DateTimeField(default=timezone.now, db_index=True)
    outcome = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-received_at"]
        verbose_name = _("notification reçue")
        verbose_name_plural = _("notifications reçues")

    def __str__(self) -> str:
        return f"{self.kind} {self.id} ← {self.origin}"


# ---------------------------------------------------------------------------- replication


class SyncState(models.Model):
    """(registry) Where replication of one node's change feed stands."""

    node = models.URLField(_("nœud"), max_length=300, unique=True)
    cursor = models.TextField(_("curseur"), blank=True)
    #: A run holds the lease until this instant (two workers never pull the same feed at once).
    leased_until = models.DateTimeField(null=True, blank=True)
    last_attempt_at = models.DateTimeField(_("dernière tentative"), null=True, blank=True)
    last_success_at = models.DateTimeField(_("dernière réussite"), null=True, blank=True)
    last_error = models.TextField(_("dernière erreur"), blank=True)
    applied = models.PositiveBigIntegerField(_("changements appliqués"), default=0)

    class Meta:
        ordering = ["node"]
        verbose_name = _("réplication d'un nœud")
        verbose_name_plural = _("réplication des nœuds")

    def __str__(self) -> str:
        return self.node


class IndexedRecord(models.Model):
    """One shared record as the federation index holds it (a read-only replica, DESIGN.md §3).

    `data` is the origin's public representation, exactly as its change feed served it; the other
    columns are facts extracted from it for search (`federation.index`), plus what the registry
    must honour: the owner, the origin, the version and, for a directory entry, the consent scope.
    """

    uri = models.URLField(_("URI"), max_length=300, unique=True)
    origin = models.URLField(_("nœud d'origine"), max_length=300, db_index=True)
    record_type = models.CharField(_("type"), max_length=40)
    record_id = models.UUIDField(_("identifiant"), db_index=True)
    owner_id = models.UUIDField(_("propriétaire"), null=True, blank=True)
    owner_uri = models.URLField(_("URI du propriétaire"), max_length=300, blank=True)
    owner_name = models.CharField(_("propriétaire"), max_length=200, blank=True)
    version = models.PositiveIntegerField(_("version"))
    data = models.JSONField(_("représentation"), default=dict)
    #: Directory entries: {"fields": [...], "purposes": [...], "expires_at": iso|None} of the consent in force.
    consent = models.JSONField(_("portée du consentement"), default=dict, blank=True)
    #: The record stops being shown at this instant (a consent's expiry), whatever the feed says.
    expires_at = models.DateTimeField(_("expire le"), null=True, blank=True)
    changed_at = models.DateTimeField(_("modifié à l'origine le"), null=True, blank=True)
    replicated_at = models.DateTimeField(_("répliqué le"), default=timezone.now)
    # -- facets for search (federation.index.facets)
    title = models.CharField(_("titre"), max_length=300, blank=True)
    #: Folded (lower case, no accents) text of the searchable fields, for `q`.
    text = models.TextField(blank=True, default="")
    region = models.CharField(max_length=100, blank=True)
    departement = models.CharField(max_length=3, blank=True)
    discipline = models.CharField(max_length=40, blank=True)
    #: "|code|code|" lists for exact membership tests with LIKE (trades, disciplines, venue type…).
    tags = models.TextField(blank=True, default="")
    starts_at = models.DateTimeField(null=True, blank=True)
    ends_at = models.DateTimeField(null=True, blank=True)
    #: The URI of the record this one belongs to (performance → production, hall → venue, sheet → hall).
    parent_uri = models.URLField(max_length=300, blank=True)
    #: Second link (performance → hall).
    place_uri = models.URLField(max_length=300, blank=True)
    capacity = models.PositiveIntegerField(null=True, blank=True)
    proscenium_opening_m = models.DecimalField(max_digits=6, decimal_places=2, null=True, blank=True)
    height_under_grid_m = models.DecimalField(max_digits=6, decimal_places=2, null=True, blank=True)
    stage_width_m = models.DecimalField(max_digits=6, decimal_places=2, null=True, blank=True)
    stage_depth_m = models.DecimalField(max_digits=6, decimal_places=2, null=True, blank=True)
    #: Records standing for the same thing on several nodes share it (a touring production).
    dedupe_key = models.CharField(max_length=300, blank=True, db_index=True)

    class Meta:
        ordering = ["record_type", "title", "uri"]
        verbose_name = _("enregistrement répliqué")
        verbose_name_plural = _("enregistrements répliqués")
        indexes = [
            models.Index(fields=["record_type", "region"], name="index_type_region"),
            models.Index(fields=["record_type", "starts_at"], name="index_type_start"),
            models.Index(fields=["origin", "record_type"], name="index_origin_type"),
            models.Index(fields=["parent_uri"], name="index_parent"),
        ]

    def __str__(self) -> str:
        return f"{self.record_type} {self.title or self.uri}"


class IndexedAvailability(models.Model):
    """A period when a person in the directory is available (from their consented entry)."""

    record = models.ForeignKey(IndexedRecord, on_delete=models.CASCADE, related_name="availability")
    start = models.DateField()
    end = models.DateField()

    class Meta:
        indexes = [models.Index(fields=["start", "end"], name="availability_window")]

    def __str__(self) -> str:
        return f"{self.start} → {self.end}"


# ---------------------------------------------------------------------------- webhooks


class WebhookSubscription(models.Model):
    """A vendor's tool (website, ticketing, agenda) subscribed to change events of one structure."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(
        "referentials.Organisation",
        on_delete=models.CASCADE,
        related_name="webhook_subscriptions",
        verbose_name=_("structure"),
    )
    url = models.URLField(_("adresse de remise"), max_length=500)
    #: Record types (change-feed `type`) the tool wants; empty: all of the structure's.
    record_types = models.JSONField(_("types d'enregistrements"), default=list, blank=True)
    #: Operations wanted: "upsert", "delete" (empty: both).
    operations = models.JSONField(_("opérations"), default=list, blank=True)
    description = models.CharField(_("description"), max_length=200, blank=True)
    active = models.BooleanField(_("actif"), default=True)
    #: The OAuth client that created it (a vendor's integration), if any.
    client_id = models.CharField(_("client"), max_length=100, blank=True)
    created_at = models.DateTimeField(_("créé le"), default=timezone.now)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("abonnement webhook")
        verbose_name_plural = _("abonnements webhook")

    def __str__(self) -> str:
        return f"{self.url} ({self.owner})"
