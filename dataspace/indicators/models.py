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
