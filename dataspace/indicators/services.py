"""Rules of the ticketing figures: who reads and writes them, what a valid row is, the upsert.

Who may see a structure's ticketing figures (`readable_owner_ids` / `writable_owner_ids`):

* a person with a `StaffMembership` on the structure (any role reads; administrator or editor
  writes) — a superuser (the node's operator) reads and writes every structure's;
* a usable depositor client owned by the structure, or one holding an active mandate of the
  structure covering `ticketing:write` (the scope both reads and writes: a vendor reads back
  what it deposited).

Nobody else: not the ministry (its tokens carry `indicators:aggregate` and only ever receive
aggregates, `dataspace.indicators.aggregate`), not a licensed professional, never the public.

A row (`record_figures`) is keyed by (owner, external id): sending the same external id again
updates the row, never duplicates it. The owner is the owner of the performances covered. Every
refusal is a `FiguresError` whose `errors` name the fields (French messages).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _

from dataspace.indicators.models import CoveredPerformance, TicketingFigures
from dataspace.indicators.periods import local_date, quarter_of
from dataspace.referentials.models import Organisation, Performance

#: The scope that lets a vendor's client deposit (and read back) ticketing figures.
TICKETING_SCOPE = "ticketing:write"
#: The node role that holds ticketing figures.
STRUCTURE_ROLE = "structure"

#: Ticket counts of a row, then amounts (euros, two decimals).
TICKET_FIELDS: tuple[str, ...] = ("tickets_total", "tickets_full_price", "tickets_subscription", "tickets_exempt")
PART_FIELDS: tuple[str, ...] = TICKET_FIELDS[1:]
AMOUNT_FIELDS: tuple[str, ...] = ("receipts_total", "receipts_full_price")
#: Largest amount a row holds (the column keeps 12 digits, two of them decimals).
MAX_AMOUNT = Decimal("9999999999.99")

#: Performance statuses that cannot carry ticketing figures (nothing was played).
UNPLAYED_STATUSES = frozenset({Performance.Status.OPTION, Performance.Status.CANCELLED})
#: Arrangements that make a performance count as accessible (beyond step-free access, which most
#: halls offer): sign language, audio description, surtitles, induction loop, relaxed, easy read.
ACCESSIBLE_ARRANGEMENTS = frozenset(Performance.Accessibility.values) - {Performance.Accessibility.WHEELCHAIR}


class FiguresError(ValueError):
    """Figures that cannot be recorded; `errors` maps each field to its (French) messages."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__("; ".join(f"{name}: {' '.join(messages)}" for name, messages in errors.items()))
        self.errors = errors


def is_structure_node() -> bool:
    """Ticketing figures live on nodes with the `structure` role only."""
    return STRUCTURE_ROLE in settings.NODE_ROLES


# ---------------------------------------------------------------------------- who sees which structure's figures


def _mandated_structures(client: Any, now: dt.datetime) -> set[uuid.UUID]:
    from dataspace.oauth.models import Mandate

    mandates = Mandate.objects.filter(client=client, revoked_at__isnull=True).filter(
        Q(expires_at__isnull=True) | Q(expires_at__gt=now)
    )
    return {
        structure_id
        for structure_id, scopes in mandates.values_list("structure_id", "scopes")
        if TICKETING_SCOPE in (scopes or [])
    }


def _client_owner_ids(client: Any, now: dt.datetime | None) -> set[uuid.UUID]:
    if client.kind != "depositor" or not client.is_usable():
        return set()
    owners = {client.owner_id} if client.owner_id else set()
    return owners | _mandated_structures(client, now or timezone.now())


def readable_owner_ids(
    *, user: Any = None, client: Any = None, now: dt.datetime | None = None
) -> set[uuid.UUID] | None:
    """The structures whose figures the caller reads; None means every structure (a superuser).

    `client` is a machine client (acting for nobody); `user` a person (session or personal token).
    """
    if client is not None:
        return _client_owner_ids(client, now)
    if user is None or not getattr(user, "is_active", False):
        return set()
    if user.is_superuser:
        return None
    from dataspace.api.permissions import staff_roles

    return set(staff_roles(user))


def writable_owner_ids(
    *, user: Any = None, client: Any = None, now: dt.datetime | None = None
) -> set[uuid.UUID] | None:
    """The structures whose figures the caller writes; None means every structure (a superuser)."""
    if client is not None:
        return _client_owner_ids(client, now)
    if user is None or not getattr(user, "is_active", False):
        return set()
    if user.is_superuser:
        return None
    from dataspace.api.permissions import WRITE_ROLES, staff_roles

    return {org for org, role in staff_roles(user).items() if role in WRITE_ROLES}


def figures_of(owner_ids: set[uuid.UUID] | None) -> QuerySet[TicketingFigures]:
    """The figures of these structures (None: all), with what their representation needs joined."""
    queryset = TicketingFigures.objects.select_related("owner", "production", "venue").prefetch_related("covered")
    return queryset if owner_ids is None else queryset.filter(owner_id__in=owner_ids)


# ---------------------------------------------------------------------------- what a row says


@dataclass
class FiguresInput:
    """The figures as sent (API body, CSV line), typed but not yet checked against the rules."""

    external_id: str
    performances: list[Performance]
    tickets_total: int
    receipts_total: Decimal
    tickets_full_price: int = 0
    tickets_subscription: int = 0
    tickets_exempt: int = 0
    receipts_full_price: Decimal = Decimal("0.00")
    #: None: the sum of the covered performances' capacities (performance, else hall).
    capacity: int | None = None
    ticketing_system: str = ""


@dataclass
class SeriesFacts:
    """What the covered performances say, copied onto the row."""

    owner: Organisation
    performances: list[Performance]
    production_id: uuid.UUID
    venue_id: uuid.UUID
    first_date: dt.date
    last_date: dt.date
    quarter: str
    performance_count: int
    young_audience: bool
    accessible_performances: int
    default_capacity: int | None
    errors: dict[str, list[str]] = field(default_factory=dict)


def performances_for(ids: Iterable[uuid.UUID]) -> QuerySet[Performance]:
    """Performances with what the rules read (production, hall and venue) joined."""
    return Performance.objects.select_related("production", "hall", "hall__venue", "owner").filter(pk__in=list(ids))


def performance_capacity(performance: Performance) -> int | None:
    """The performance's capacity: its own jauge, else its hall's seated, else standing capacity."""
    for value in (performance.capacity, performance.hall.seated_capacity, performance.hall.standing_capacity):
        if value:
            return int(value)
    return None


def performance_date(performance: Performance) -> dt.date:
    """The local date of a performance (in its own time zone)."""
    return local_date(performance.start, performance.time_zone)


def _day(value: dt.date) -> str:
    return date_format(value, "SHORT_DATE_FORMAT")


def owner_of(performances: Sequence[Performance]) -> Organisation:
    """The one structure owning every performance; FiguresError naming `performances` otherwise."""
    if not performances:
        raise FiguresError({"performances": [_("Indiquez au moins une représentation.")]})
    owners = {performance.owner_id for performance in performances}
    if len(owners) > 1:
        raise FiguresError(
            {"performances": [_("Les représentations d'une même série appartiennent à une seule structure.")]}
        )
    return performances[0].owner


def series_facts(performances: Sequence[Performance]) -> SeriesFacts:
    """What the covered performances say (sorted by start), with the rules they break in `errors`:
    one structure, one production, one venue, one quarter, played (not cancelled nor under option),
    each at most once."""
    owner = owner_of(performances)
    ordered = sorted(performances, key=lambda performance: (performance.start, str(performance.pk)))
    errors: list[str] = []
    seen: set[uuid.UUID] = set()
    for performance in ordered:
        if performance.pk in seen:
            errors.append(_("La représentation %(id)s est indiquée deux fois.") % {"id": performance.pk})
        seen.add(performance.pk)
        if performance.status in UNPLAYED_STATUSES:
            errors.append(
                _("La représentation du %(day)s est « %(status)s » : elle n'a pas de chiffres de billetterie.")
                % {"day": _day(performance_date(performance)), "status": performance.get_status_display()}
            )
    if len({performance.production_id for performance in ordered}) > 1:
        errors.append(_("Une série réunit des représentations d'un seul spectacle (production)."))
    if len({performance.hall.venue_id for performance in ordered}) > 1:
        errors.append(_("Une série réunit des représentations données dans un seul lieu."))
    first, last = ordered[0], ordered[-1]
    first_date, last_date = performance_date(first), performance_date(last)
    quarter = quarter_of(first_date)
    straddling = next((p for p in ordered if quarter_of(performance_date(p)) != quarter), None)
    if straddling is not None:
        other_date = performance_date(straddling)
        errors.append(
            _(
                "Une série ne peut pas chevaucher deux trimestres : la représentation du %(first)s est en "
                "%(quarter)s, celle du %(other)s en %(other_quarter)s. Déclarez une série par trimestre."
            )
            % {
                "first": _day(first_date),
                "quarter": quarter,
                "other": _day(other_date),
                "other_quarter": quarter_of(other_date),
            }
        )
    capacities = [performance_capacity(performance) for performance in ordered]
    accessible = sum(1 for performance in ordered if ACCESSIBLE_ARRANGEMENTS & set(performance.accessibility or ()))
    return SeriesFacts(
        owner=owner,
        performances=ordered,
        production_id=first.production_id,
        venue_id=first.hall.venue_id,
        first_date=first_date,
        last_date=last_date,
        quarter=quarter,
        performance_count=len(seen),
        young_audience=first.production.audience == first.production.Audience.YOUNG,
        accessible_performances=accessible,
        default_capacity=None if None in capacities else sum(c or 0 for c in capacities),
        errors={"performances": errors} if errors else {},
    )


def _add(errors: dict[str, list[str]], name: str, message: str) -> None:
    errors.setdefault(name, []).append(message)


def _check_numbers(data: FiguresInput, errors: dict[str, list[str]]) -> None:
    for name in TICKET_FIELDS:
        value = getattr(data, name)
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            _add(errors, name, _("Un nombre entier positif ou nul est attendu."))
    for name in AMOUNT_FIELDS:
        value = getattr(data, name)
        try:
            amount = Decimal(value)
        except (InvalidOperation, TypeError, ValueError):
            _add(errors, name, _("Un montant en euros est attendu (par exemple 1234.50)."))
            continue
        if not amount.is_finite() or amount < 0:
            _add(errors, name, _("Un montant positif ou nul est attendu."))
        elif amount > MAX_AMOUNT or amount != amount.quantize(Decimal("0.01")):
            _add(errors, name, _("Un montant d'au plus 9 999 999 999,99 €, au centime près, est attendu."))
    if data.capacity is not None and (
        not isinstance(data.capacity, int) or isinstance(data.capacity, bool) or data.capacity < 1
    ):
        _add(errors, "capacity", _("La jauge est un nombre entier de places, au moins 1."))


def check_figures(data: FiguresInput, *, current: TicketingFigures | None = None) -> SeriesFacts:
    """The facts of the covered performances if the figures obey every rule; FiguresError naming
    each faulty field otherwise (all of them at once).

    Rules: an external id; performances forming a valid series (`series_facts`) not already covered
    by another row (`current` is the row being updated); counts and amounts not negative; the parts
    (full price, subscription/pass, exempt) not above the total, together or alone; full-price
    receipts not above total receipts; no receipts without a paying ticket; a capacity (sent, or
    known for every performance) and no more tickets than places.
    """
    errors: dict[str, list[str]] = {}
    if not data.external_id or not data.external_id.strip():
        _add(errors, "external_id", _("L'identifiant de la billetterie est obligatoire."))
    elif len(data.external_id.strip()) > 200:
        _add(errors, "external_id", _("200 caractères au plus."))
    facts = series_facts(data.performances)
    errors.update(facts.errors)
    covered = (
        CoveredPerformance.objects.filter(performance__in=[p.pk for p in facts.performances])
        .exclude(figures=current)
        .select_related("figures")
    )
    for coverage in covered:
        _add(
            errors,
            "performances",
            _("La représentation %(id)s est déjà déclarée sous l'identifiant « %(other)s ».")
            % {"id": coverage.performance_id, "other": coverage.figures.external_id},
        )
    _check_numbers(data, errors)
    if not any(name in errors for name in TICKET_FIELDS):
        for name in PART_FIELDS:
            if getattr(data, name) > data.tickets_total:
                _add(
                    errors,
                    name,
                    _("%(value)s dépasse le total des billets (%(total)s).")
                    % {"value": getattr(data, name), "total": data.tickets_total},
                )
        parts = sum(getattr(data, name) for name in PART_FIELDS)
        if parts > data.tickets_total and not any(name in errors for name in PART_FIELDS):
            _add(
                errors,
                "tickets_total",
                _(
                    "Le total (%(total)s) est inférieur à la somme des billets plein tarif, abonnement / pass et "
                    "exonérés (%(parts)s)."
                )
                % {"total": data.tickets_total, "parts": parts},
            )
    amounts_valid = not any(name in errors for name in AMOUNT_FIELDS)
    if amounts_valid and Decimal(data.receipts_full_price) > Decimal(data.receipts_total):
        _add(
            errors,
            "receipts_full_price",
            _("La recette plein tarif (%(full)s €) dépasse la recette totale (%(total)s €).")
            % {"full": data.receipts_full_price, "total": data.receipts_total},
        )
    if amounts_valid and not any(name in errors for name in TICKET_FIELDS):
        receipts_total, receipts_full = Decimal(data.receipts_total), Decimal(data.receipts_full_price)
        if receipts_total > 0 and data.tickets_total - data.tickets_exempt <= 0:
            _add(errors, "receipts_total", _("Une recette sans aucun billet payant : vérifiez les billets exonérés."))
        if receipts_full > 0 and data.tickets_full_price == 0:
            _add(errors, "receipts_full_price", _("Une recette plein tarif sans billet plein tarif."))
    capacity = data.capacity if data.capacity is not None else facts.default_capacity
    if capacity is None:
        _add(
            errors,
            "capacity",
            _(
                "Jauge inconnue pour au moins une représentation (ni la représentation ni la salle n'en ont) : "
                "indiquez-la."
            ),
        )
    elif "capacity" not in errors and "tickets_total" not in errors and data.tickets_total > capacity:
        _add(
            errors,
            "tickets_total",
            _("%(total)s billets pour une jauge de %(capacity)s places : le total dépasse la jauge.")
            % {"total": data.tickets_total, "capacity": capacity},
        )
    if errors:
        raise FiguresError(errors)
    return facts


# ---------------------------------------------------------------------------- writes


def _values(data: FiguresInput, facts: SeriesFacts) -> dict[str, Any]:
    capacity = data.capacity if data.capacity is not None else facts.default_capacity
    return {
        "ticketing_system": (data.ticketing_system or "").strip()[:100],
        "performance": facts.performances[0],
        "production_id": facts.production_id,
        "venue_id": facts.venue_id,
        "first_date": facts.first_date,
        "last_date": facts.last_date,
        "quarter": facts.quarter,
        "performance_count": facts.performance_count,
        "young_audience": facts.young_audience,
        "accessible_performances": facts.accessible_performances,
        "capacity": capacity,
        "tickets_total": data.tickets_total,
        "tickets_full_price": data.tickets_full_price,
        "tickets_subscription": data.tickets_subscription,
        "tickets_exempt": data.tickets_exempt,
        "receipts_total": Decimal(data.receipts_total).quantize(Decimal("0.01")),
        "receipts_full_price": Decimal(data.receipts_full_price).quantize(Decimal("0.01")),
    }


#: What `record_figures` did: "created", "updated" or "unchanged".
CREATED, UPDATED, UNCHANGED = "created", "updated", "unchanged"


def _differs(current: TicketingFigures, values: dict[str, Any]) -> bool:
    """Would writing `values` change the row? (A related object is compared by its id.)"""
    for name, value in values.items():
        if isinstance(value, Performance):
            name, value = f"{name}_id", value.pk
        if getattr(current, name) != value:
            return True
    return False


def _write(data: FiguresInput, owner: Organisation) -> tuple[TicketingFigures, str]:
    external_id = data.external_id.strip()
    with transaction.atomic():
        current = TicketingFigures.objects.select_for_update().filter(owner=owner, external_id=external_id).first()
        facts = check_figures(data, current=current)
        values = _values(data, facts)
        wanted = {performance.pk for performance in facts.performances}
        if current is None:
            figures = TicketingFigures.objects.create(owner=owner, external_id=external_id, **values)
            CoveredPerformance.objects.bulk_create(
                [CoveredPerformance(figures=figures, performance_id=pk) for pk in sorted(wanted, key=str)]
            )
            return figures, CREATED
        have = set(current.covered.values_list("performance_id", flat=True))
        if have == wanted and not _differs(current, values):
            return current, UNCHANGED
        for name, value in values.items():
            setattr(current, name, value)
        current.save()
        current.covered.exclude(performance_id__in=wanted).delete()
        CoveredPerformance.objects.bulk_create(
            [CoveredPerformance(figures=current, performance_id=pk) for pk in sorted(wanted - have, key=str)]
        )
        return current, UPDATED


def record_figures(data: FiguresInput) -> tuple[TicketingFigures, str]:
    """Create or update the row of (owner, external id); returns it and CREATED, UPDATED or UNCHANGED.

    The owner is the owner of the covered performances (the caller checked it may write for it).
    Raises FiguresError naming the fields. Two senders racing on the same new external id end
    with one row: the loser of the insert retries as an update.
    """
    owner = owner_of(data.performances)
    try:
        return _write(data, owner)
    except IntegrityError:
        # A concurrent writer inserted the same external id (or covered a performance) first.
        try:
            return _write(data, owner)
        except IntegrityError:
            raise FiguresError(
                {"performances": [_("Ces représentations viennent d'être déclarées par un autre envoi ; réessayez.")]}
            ) from None


def delete_figures(figures: TicketingFigures) -> None:
    """Delete the row and free its performances (they may be declared again)."""
    with transaction.atomic():
        figures.delete()
