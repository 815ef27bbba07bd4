"""Ticketing figures and the quarterly declaration of a structure (DOMAIN.md, "Ticketing reporting").

`TicketingFigures` are **not** shared records (`dataspace.records.models.Record`): they never enter
the change feed, are never replicated and no agreement covers them. Only the owner's staff and its
own (or mandated) `ticketing:write` clients read a row; the ministry only ever receives aggregates
(`dataspace.indicators.aggregate`).

One row covers one performance or a **series**: several performances of one production in one
venue within one quarter (`CoveredPerformance`, where a performance appears at most once, so no
performance is ever counted twice). What the row says about its performances — production, venue,
dates, quarter, young-audience flag, accessible performances — is copied from them when the
figures are written (`dataspace.indicators.services.record_figures`): a declaration describes the
performances as they were declared; re-sending the same external id refreshes it.
"""

from __future__ import annotations

import uuid
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, ClassVar

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

CENT = Decimal("0.01")


def per_ticket(amount: Decimal, tickets: int) -> Decimal | None:
    """`amount / tickets` rounded to the cent (half up); None when there is no ticket (never a division by zero)."""
    if tickets <= 0:
        return None
    return (Decimal(amount) / Decimal(tickets)).quantize(CENT, rounding=ROUND_HALF_UP)


class TicketingFigures(models.Model):
    """The ticketing figures of one performance, or of one series inside a quarter and a venue."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(
        "referentials.Organisation",
        on_delete=models.PROTECT,
        related_name="ticketing_figures",
        verbose_name=_("structure"),
        help_text=_("La structure propriétaire des représentations (celle qui déclare)."),
    )
    external_id = models.CharField(
        _("identifiant billetterie"),
        max_length=200,
        help_text=_("Identifiant de la représentation ou de la série dans le logiciel de billetterie."),
    )
    ticketing_system = models.CharField(_("logiciel de billetterie"), max_length=100, blank=True)
    #: The first performance covered (the only one for a single performance).
    performance = models.ForeignKey(
        "referentials.Performance",
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("représentation"),
    )
    performances = models.ManyToManyField(
        "referentials.Performance",
        through="CoveredPerformance",
        related_name="ticketing_figures",
        verbose_name=_("représentations couvertes"),
    )
    # What the covered performances were when the figures were written.
    production = models.ForeignKey(
        "referentials.Production", on_delete=models.PROTECT, related_name="+", verbose_name=_("spectacle")
    )
    venue = models.ForeignKey("referentials.Venue", on_delete=models.PROTECT, related_name="+", verbose_name=_("lieu"))
    first_date = models.DateField(_("première date"))
    last_date = models.DateField(_("dernière date"))
    quarter = models.CharField(_("trimestre"), max_length=7, db_index=True, help_text=_("Par exemple 2026-T4."))
    performance_count = models.PositiveIntegerField(_("nombre de représentations"), default=1)
    young_audience = models.BooleanField(_("jeune public"), default=False)
    accessible_performances = models.PositiveIntegerField(_("représentations accessibles"), default=0)
    # The figures.
    capacity = models.PositiveIntegerField(
        _("jauge"), help_text=_("Places offertes sur l'ensemble des représentations couvertes.")
    )
    tickets_total = models.PositiveIntegerField(_("billets (total)"))
    tickets_full_price = models.PositiveIntegerField(_("billets plein tarif"), default=0)
    tickets_subscription = models.PositiveIntegerField(_("billets abonnement / pass"), default=0)
    tickets_exempt = models.PositiveIntegerField(_("billets exonérés / gratuits"), default=0)
    receipts_total = models.DecimalField(_("recette totale (€)"), max_digits=12, decimal_places=2)
    receipts_full_price = models.DecimalField(
        _("recette plein tarif (€)"), max_digits=12, decimal_places=2, default=Decimal("0.00")
    )
    #: Bumped on every save: the ETag of the API (`"<id>-<version>"`).
    version = models.PositiveIntegerField(_("version"), default=1, editable=False)
    created_at = models.DateTimeField(_("créé le"), auto_now_add=True)
    updated_at = models.DateTimeField(_("modifié le"), auto_now=True)

    class Meta:
        verbose_name = _("chiffres de billetterie")
        verbose_name_plural = _("chiffres de billetterie")
        ordering = ["first_date", "external_id"]
        constraints = [
            models.UniqueConstraint(fields=["owner", "external_id"], name="ticketing_external_id_per_owner"),
            models.CheckConstraint(
                condition=Q(
                    tickets_total__gte=models.F("tickets_full_price")
                    + models.F("tickets_subscription")
                    + models.F("tickets_exempt")
                ),
                name="ticketing_parts_within_total",
            ),
            models.CheckConstraint(
                condition=Q(receipts_total__gte=0)
                & Q(receipts_full_price__gte=0)
                & Q(receipts_full_price__lte=models.F("receipts_total")),
                name="ticketing_receipts_consistent",
            ),
        ]
        indexes = [models.Index(fields=["owner", "quarter"]), models.Index(fields=["first_date"])]

    def __str__(self) -> str:
        return f"{self.external_id} — {self.quarter}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            self.version = (self.version or 0) + 1
        if kwargs.get("update_fields") is not None:
            kwargs["update_fields"] = {*kwargs["update_fields"], "version", "updated_at"}
        super().save(*args, **kwargs)

    @property
    def paying_tickets(self) -> int:
        """Tickets that were paid for: all but the exempt (free) ones."""
        return max(self.tickets_total - self.tickets_exempt, 0)

    @property
    def average_price(self) -> Decimal | None:
        """Receipts per paying ticket; None for a free show."""
        return per_ticket(self.receipts_total, self.paying_tickets)

    @property
    def average_full_price(self) -> Decimal | None:
        """Full-price receipts per full-price ticket; None without full-price tickets."""
        return per_ticket(self.receipts_full_price, self.tickets_full_price)


class CoveredPerformance(models.Model):
    """A performance covered by figures; a performance is covered by one row of figures at most."""

    figures = models.ForeignKey(TicketingFigures, on_delete=models.CASCADE, related_name="covered")
    performance = models.OneToOneField(
        "referentials.Performance",
        on_delete=models.PROTECT,
        related_name="ticketing_coverage",
        verbose_name=_("représentation"),
    )

    class Meta:
        verbose_name = _("représentation couverte")
        verbose_name_plural = _("représentations couvertes")

    def __str__(self) -> str:
        return str(self.performance_id)


class Declaration(models.Model):
    """A quarterly SIBIL-shaped declaration file of one structure, held on the node until approved.

    `draft` (prepared, may be prepared again) → `approved` (by an administrator of the structure:
    the content is frozen, its SHA-256 journaled) → `exported` (downloaded at least once). Nothing
    can be downloaded before approval.
    """

    #: Code of declarations in the journal (not a shared record: no URI, no change feed).
    record_type: ClassVar[str] = "ticketing_declaration"

    class Status(models.TextChoices):
        DRAFT = "draft", _("brouillon (à approuver)")
        APPROVED = "approved", _("approuvée")
        EXPORTED = "exported", _("exportée")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(
        "referentials.Organisation",
        on_delete=models.PROTECT,
        related_name="ticketing_declarations",
        verbose_name=_("structure"),
    )
    quarter = models.CharField(_("trimestre"), max_length=7)
    status = models.CharField(_("statut"), max_length=10, choices=Status.choices, default=Status.DRAFT)
    prepared_at = models.DateTimeField(_("préparée le"))
    prepared_by = models.CharField(_("préparée par"), max_length=200, blank=True)
    content = models.TextField(_("contenu (CSV)"))
    sha256 = models.CharField(_("empreinte SHA-256"), max_length=64)
    line_count = models.PositiveIntegerField(_("lignes"), default=0)
    totals = models.JSONField(_("totaux"), default=dict, blank=True)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("approuvée par"),
    )
    approved_at = models.DateTimeField(_("approuvée le"), null=True, blank=True)
    exported_at = models.DateTimeField(_("exportée le"), null=True, blank=True)
    exported_by = models.CharField(_("exportée par"), max_length=200, blank=True)
    version = models.PositiveIntegerField(_("version"), default=1, editable=False)

    class Meta:
        verbose_name = _("déclaration de billetterie")
        verbose_name_plural = _("déclarations de billetterie")
        ordering = ["-quarter", "-prepared_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["owner", "quarter"], condition=Q(status="draft"), name="one_draft_declaration_per_quarter"
            ),
            models.CheckConstraint(
                condition=Q(status="draft") | (Q(approved_by__isnull=False) & Q(approved_at__isnull=False)),
                name="declaration_approved_by_someone",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.owner} — {self.quarter} ({self.get_status_display()})"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            self.version = (self.version or 0) + 1
        if kwargs.get("update_fields") is not None:
            kwargs["update_fields"] = {*kwargs["update_fields"], "version"}
        super().save(*args, **kwargs)

    @property
    def is_approved(self) -> bool:
        return self.status in (self.Status.APPROVED, self.Status.EXPORTED)

    @property
    def filename(self) -> str:
        return f"sibil-{self.quarter}-{str(self.owner_id)[:8]}.csv"


class IndicatorDefinition(models.Model):
    """One version of an indicator of the ministry's catalogue (`dataspace.indicators.catalogue`).

    A definition says what an indicator is (French label and definition text), its unit, its period
    rule, the dimensions it may be broken down by, and its computation: a small declarative spec
    over the additive measures of `local_aggregate` (`{"op": "sum", "measure": m}`,
    `{"op": "ratio", "num": m, "den": m, "decimals": 2}` or `{"op": "share", "num": m, "den": m,
    "decimals": 1}`, the share in per cent). `clean()` validates and normalises it.

    Versions are never rewritten: (code, version) is unique, and once saved only `active` (and
    `updated_at`) may change — anything else raises ValidationError; a change of meaning is a new
    version (`catalogue.publish_definition`). The *current* definition of a code is its highest
    active version. Versions are never deleted (published figures name the version they used).
    """

    class Unit(models.TextChoices):
        TICKETS = "tickets", _("entrées (billets)")
        PERFORMANCES = "performances", _("représentations")
        EUROS = "euros", _("euros (€)")
        EUROS_PER_TICKET = "euros_per_ticket", _("euros par billet payant")
        PERCENT = "percent", _("pour cent (%)")

    class PeriodRule(models.TextChoices):
        MONTH = "month", _("mois civil de la première représentation")
        QUARTER = "quarter", _("trimestre civil de la première représentation")

    #: Fields a saved version never changes.
    FROZEN_FIELDS: ClassVar[tuple[str, ...]] = (
        "code",
        "version",
        "label",
        "definition",
        "unit",
        "period_rule",
        "dimensions",
        "computation",
        "change_note",
        "created_at",
        "created_by",
    )

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    code = models.SlugField(
        _("code"),
        max_length=50,
        allow_unicode=False,
        help_text=_("Identifiant stable de l'indicateur, commun à toutes ses versions (par exemple fill_rate)."),
    )
    version = models.PositiveIntegerField(_("version"), default=0, editable=False)
    label = models.CharField(_("libellé"), max_length=200)
    definition = models.TextField(_("définition"))
    unit = models.CharField(_("unité"), max_length=20, choices=Unit.choices)
    period_rule = models.CharField(_("règle de période"), max_length=10, choices=PeriodRule.choices)
    dimensions = models.JSONField(
        _("dimensions autorisées"), default=list, blank=True, help_text=_("Ventilations permises pour cet indicateur.")
    )
    computation = models.JSONField(_("calcul"))
    active = models.BooleanField(
        _("active"),
        default=True,
        help_text=_("Une version désactivée n'est plus proposée ; la version courante est la plus haute active."),
    )
    change_note = models.TextField(_("note de version"), blank=True, help_text=_("Ce qui change dans cette version."))
    created_at = models.DateTimeField(_("publiée le"), auto_now_add=True)
    created_by = models.CharField(_("publiée par"), max_length=200, blank=True)
    updated_at = models.DateTimeField(_("modifiée le"), auto_now=True)

    class Meta:
        verbose_name = _("définition d'indicateur")
        verbose_name_plural = _("catalogue des indicateurs")
        ordering = ["code", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["code", "version"], name="indicator_code_version_unique"),
            models.CheckConstraint(condition=Q(version__gte=1), name="indicator_version_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.code} v{self.version} — {self.label}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self._state.adding:
            if not self.version:
                self.version = IndicatorDefinition.next_version(self.code)
        else:
            stored = IndicatorDefinition.objects.filter(pk=self.pk).values(*self.FROZEN_FIELDS).first()
            if stored is not None:
                changed = [name for name in self.FROZEN_FIELDS if stored[name] != getattr(self, name)]
                if changed:
                    message = _("une version publiée ne change pas : publiez une nouvelle version.")
                    raise ValidationError({name: [message] for name in changed})
        super().save(*args, **kwargs)

    def clean(self) -> None:
        """Validate and normalise a new version (errors name the fields, in French); a published
        version is frozen and not validated again."""
        from dataspace.indicators.catalogue import check_definition

        if not self._state.adding:
            return
        normalised = check_definition(
            {
                "code": self.code,
                "unit": self.unit,
                "period_rule": self.period_rule,
                "dimensions": self.dimensions,
                "computation": self.computation,
            }
        )
        self.dimensions = normalised["dimensions"]
        self.computation = normalised["computation"]

    @staticmethod
    def next_version(code: str) -> int:
        """The number the next version of `code` gets (1 for a new code)."""
        latest = IndicatorDefinition.objects.filter(code=code).aggregate(latest=models.Max("version"))["latest"]
        return int(latest or 0) + 1


# ---------------------------------------------------------------------------- campaigns (issue 7)
#
# Structure nodes: `AggregationRequest` (one campaign's request and exactly what this node answered)
# and `StandingApproval` (a structure answers the ministry's requests without being asked each time).
# Ministry node: `Campaign` (indicators × period × dimensions) and `CampaignNode` (one structure
# node's part: state, the signed partial it returned). See docs/indicators.md, "Campaigns".


class StandingApproval(models.Model):
    """(structure node) A structure's standing approval: the ministry's aggregation requests are
    answered for this structure without asking its administrator each time, until revoked or
    `valid_until` (included)."""

    #: Code of standing approvals in the journal (not a shared record).
    record_type: ClassVar[str] = "standing_approval"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(
        "referentials.Organisation",
        on_delete=models.CASCADE,
        related_name="standing_aggregation_approvals",
        verbose_name=_("structure"),
    )
    #: The ministry node it is given to (base URL); empty: any node the federation lists as ministry.
    ministry = models.URLField(_("nœud du ministère"), max_length=300, blank=True)
    valid_until = models.DateField(_("valable jusqu'au"), null=True, blank=True)
    note = models.CharField(_("note"), max_length=300, blank=True)
    created_at = models.DateTimeField(_("donnée le"), default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("donnée par"),
    )
    revoked_at = models.DateTimeField(_("révoquée le"), null=True, blank=True)

    class Meta:
        verbose_name = _("approbation permanente (agrégats)")
        verbose_name_plural = _("approbations permanentes (agrégats)")
        ordering = ["owner__name", "-created_at"]

    def __str__(self) -> str:
        return f"{self.owner} → {self.ministry or _('ministère')}"


class AggregationRequest(models.Model):
    """(structure node) One campaign's aggregation request from the ministry, and what left.

    `pending` (computed, waiting for an administrator: `partial` is exactly what would leave) →
    `approved` (frozen; sent at the ministry's next ask) → `sent`; or `refused`. With a standing
    approval of every structure counted, the request goes straight to `sent`. The ministry asking
    again for the same campaign gets the same `partial` (never recomputed once approved).
    """

    #: Code of aggregation requests in the journal (not a shared record).
    record_type: ClassVar[str] = "aggregation_request"

    class State(models.TextChoices):
        PENDING = "pending", _("en attente d'approbation")
        APPROVED = "approved", _("approuvée (envoi au prochain appel)")
        SENT = "sent", _("envoyée")
        REFUSED = "refused", _("refusée")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    ministry = models.URLField(_("nœud du ministère"), max_length=300)
    campaign = models.UUIDField(_("campagne"))
    title = models.CharField(_("intitulé"), max_length=200, blank=True)
    #: The request as received (period, dimensions, measures, indicators).
    request = models.JSONField(_("demande"), default=dict)
    #: SHA-256 of what is asked (period, dimensions, measures): a changed request is a new one.
    fingerprint = models.CharField(_("empreinte"), max_length=64)
    #: The partial document this node answers (exactly what leaves), once computed.
    partial = models.JSONField(_("agrégats envoyés"), null=True, blank=True)
    #: Structures counted: [{"id", "uri", "name", "approval": "standing" | "request"}].
    structures = models.JSONField(_("structures comptées"), default=list, blank=True)
    #: Structures left out and why: [{"id", "name", "reason"}] (policy, agreement, refusal).
    excluded = models.JSONField(_("structures non comptées"), default=list, blank=True)
    state = models.CharField(_("état"), max_length=10, choices=State.choices, default=State.PENDING)
    received_at = models.DateTimeField(_("reçue le"), default=timezone.now)
    asks = models.PositiveIntegerField(_("appels reçus"), default=1)
    decided_at = models.DateTimeField(_("décidée le"), null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("décidée par"),
    )
    sent_at = models.DateTimeField(_("envoyée le"), null=True, blank=True)

    class Meta:
        verbose_name = _("demande d'agrégats du ministère")
        verbose_name_plural = _("demandes d'agrégats du ministère")
        ordering = ["-received_at"]
        constraints = [
            models.UniqueConstraint(fields=["ministry", "campaign"], name="one_request_per_campaign"),
        ]

    def __str__(self) -> str:
        return f"{self.title or self.campaign} ({self.get_state_display()})"


class Campaign(models.Model):
    """(ministry node) An aggregation campaign: indicators × period × dimensions over the structure
    nodes of the federation. `draft` → `running` → `done` (every node answered) or `partial`
    (finished with nodes missing: re-running asks only those)."""

    #: Code of campaigns in the journal (not a shared record).
    record_type: ClassVar[str] = "indicator-campaign"

    class State(models.TextChoices):
        DRAFT = "draft", _("prête à lancer")
        RUNNING = "running", _("en cours")
        DONE = "done", _("terminée")
        PARTIAL = "partial", _("terminée, nœuds manquants")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    title = models.CharField(_("intitulé"), max_length=200)
    #: [{"code", "version"}]: the catalogue versions the campaign computes (frozen at creation).
    indicators = models.JSONField(_("indicateurs"), default=list)
    period_start = models.DateField(_("début de la période"))
    period_end = models.DateField(_("fin de la période"))
    dimensions = models.JSONField(_("dimensions"), default=list, blank=True)
    state = models.CharField(_("état"), max_length=10, choices=State.choices, default=State.DRAFT)
    created_at = models.DateTimeField(_("créée le"), default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("créée par"),
    )
    launched_at = models.DateTimeField(_("lancée le"), null=True, blank=True)
    finished_at = models.DateTimeField(_("terminée le"), null=True, blank=True)
    runs = models.PositiveIntegerField(_("exécutions"), default=0)
    #: When a run took the campaign (a lease: a second run does not start while this is recent).
    running_since = models.DateTimeField(_("exécution en cours depuis"), null=True, blank=True)
    #: The published tables (after statistical secrecy), as `campaigns.publish` writes them.
    results = models.JSONField(_("résultats publiés"), null=True, blank=True)
    published_at = models.DateTimeField(_("publiés le"), null=True, blank=True)

    class Meta:
        verbose_name = _("campagne d'indicateurs")
        verbose_name_plural = _("campagnes d'indicateurs")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.title


class CampaignNode(models.Model):
    """(ministry node) One structure node's part in a campaign."""

    class State(models.TextChoices):
        PENDING = "pending", _("en attente")
        ASKED = "asked", _("interrogé")
        ANSWERED = "answered", _("a répondu")
        AWAITING = "awaiting", _("en attente d'approbation par la structure")
        REFUSED = "refused", _("refus")
        TIMEOUT = "timeout", _("délai dépassé")
        ERROR = "error", _("erreur")

    id = models.BigAutoField(primary_key=True)
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="nodes", verbose_name=_("campagne"))
    node = models.URLField(_("nœud"), max_length=300)
    name = models.CharField(_("nom"), max_length=100, blank=True)
    state = models.CharField(_("état"), max_length=10, choices=State.choices, default=State.PENDING)
    detail = models.TextField(_("détail"), blank=True)
    attempts = models.PositiveIntegerField(_("essais"), default=0)
    asked_at = models.DateTimeField(_("interrogé le"), null=True, blank=True)
    answered_at = models.DateTimeField(_("réponse le"), null=True, blank=True)
    elapsed_ms = models.PositiveIntegerField(_("durée (ms)"), null=True, blank=True)
    #: The partial the node returned (its answer's body), kept as received.
    partial = models.JSONField(_("agrégats reçus"), null=True, blank=True)
    #: When the node computed its partial (the partial's `as_of`).
    as_of = models.DateTimeField(_("données au"), null=True, blank=True)
    #: The answer's RFC 9421 proof: Signature-Input, Signature, Content-Digest as received.
    signature = models.JSONField(_("signature de la réponse"), default=dict, blank=True)

    class Meta:
        verbose_name = _("nœud d'une campagne")
        verbose_name_plural = _("nœuds d'une campagne")
        ordering = ["campaign", "name", "node"]
        constraints = [models.UniqueConstraint(fields=["campaign", "node"], name="one_part_per_node")]

    def __str__(self) -> str:
        return f"{self.name or self.node} — {self.get_state_display()}"
