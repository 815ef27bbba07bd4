"""The quarterly ticketing declaration (SIBIL-shaped): prepared by the node, approved by an
administrator of the structure, only then downloadable.

* `prepare_declaration(owner, quarter)` builds the file from the structure's figures of that
  quarter: one line per row of figures (a performance, or a series inside the quarter and one
  venue), `;`-separated UTF-8, columns `DECLARATION_COLUMNS`. Preparing again while the
  declaration is a draft refreshes it; after approval it starts a new draft (a corrective
  declaration: SIBIL updates a line sent again with the same external id).
* `approve_declaration(declaration, by=user)` — only a person holding the `administrator` role
  (`StaffMembership`) on the structure; the content is frozen and the approval journaled
  (stream "admin", action "approve", with the file's SHA-256).
* `export_declaration(declaration, actor=…)` hands out the approved content and journals each
  download (stream "admin", action "export"); refused (`NotApproved`) before approval. Nothing is
  ever sent by the node itself: the structure (or its ticketing vendor) uploads the file.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
from decimal import Decimal
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from dataspace.api.renderers import csv_cell
from dataspace.audit.services import Actor, journal
from dataspace.indicators.models import Declaration, TicketingFigures
from dataspace.indicators.periods import InvalidQuarter, normalise_quarter
from dataspace.referentials.models import Organisation

#: Columns of the declaration file, in order, and what each holds.
DECLARATION_COLUMNS: tuple[tuple[str, str], ...] = (
    ("identifiant_billetterie", "the ticketing system's id of the performance or series"),
    ("systeme_billetterie", "name of the ticketing software"),
    ("siret_declarant", "SIRET of the declaring structure"),
    ("spectacle", "title of the show (production)"),
    ("date_premiere", "local date of the (first) performance, yyyy-mm-dd"),
    ("date_derniere", "local date of the last performance of a series, yyyy-mm-dd"),
    ("nombre_representations", "performances covered (1 for a single performance)"),
    ("lieu", "venue name"),
    ("siret_lieu", "venue SIRET"),
    ("code_postal_lieu", "venue postal code"),
    ("commune_lieu", "venue town"),
    ("type_lieu", "SIBIL venue type (code of Venue.VenueType)"),
    ("domaine", "domain (code of Discipline)"),
    ("jeune_public", "oui / non"),
    ("jauge", "places offered over the performances covered"),
    ("billets_total", "tickets, all rates and exempt"),
    ("billets_plein_tarif", "full-price tickets"),
    ("billets_abonnement", "subscription / pass tickets"),
    ("billets_exoneres", "exempt (free) tickets"),
    ("recette_totale", "receipts in euros, two decimals with a point"),
    ("recette_plein_tarif", "full-price receipts in euros"),
    ("prix_moyen", "receipts per paying ticket; empty for a free show"),
    ("prix_moyen_plein_tarif", "full-price receipts per full-price ticket; empty without one"),
)
COLUMN_NAMES: tuple[str, ...] = tuple(name for name, _description in DECLARATION_COLUMNS)
DELIMITER = ";"
#: Sums carried in `Declaration.totals` (field of TicketingFigures -> key).
TOTALS: tuple[str, ...] = (
    "performance_count",
    "capacity",
    "tickets_total",
    "tickets_full_price",
    "tickets_subscription",
    "tickets_exempt",
    "receipts_total",
    "receipts_full_price",
)


class DeclarationError(ValueError):
    """A request on a declaration that cannot be honoured (400); `errors` names the fields."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__("; ".join(f"{name}: {' '.join(messages)}" for name, messages in errors.items()))
        self.errors = errors


class DeclarationConflict(DeclarationError):
    """The declaration is not in the state the request expects (409): already approved, changed."""


class NotApproved(PermissionError):
    """The declaration cannot leave the node: no administrator of the structure approved it."""


# ---------------------------------------------------------------------------- the file


def _amount(value: Decimal | None) -> str:
    return "" if value is None else f"{value:.2f}"


def declaration_row(figures: TicketingFigures) -> dict[str, str]:
    """One line of the declaration for one row of figures."""
    values: dict[str, Any] = {
        "identifiant_billetterie": figures.external_id,
        "systeme_billetterie": figures.ticketing_system,
        "siret_declarant": figures.owner.siret,
        "spectacle": figures.production.title,
        "date_premiere": figures.first_date.isoformat(),
        "date_derniere": figures.last_date.isoformat(),
        "nombre_representations": figures.performance_count,
        "lieu": figures.venue.name,
        "siret_lieu": figures.venue.siret,
        "code_postal_lieu": figures.venue.postal_code,
        "commune_lieu": figures.venue.city,
        "type_lieu": figures.venue.venue_type,
        "domaine": figures.production.discipline,
        "jeune_public": "oui" if figures.young_audience else "non",
        "jauge": figures.capacity,
        "billets_total": figures.tickets_total,
        "billets_plein_tarif": figures.tickets_full_price,
        "billets_abonnement": figures.tickets_subscription,
        "billets_exoneres": figures.tickets_exempt,
        "recette_totale": _amount(figures.receipts_total),
        "recette_plein_tarif": _amount(figures.receipts_full_price),
        "prix_moyen": _amount(figures.average_price),
        "prix_moyen_plein_tarif": _amount(figures.average_full_price),
    }
    return {name: csv_cell(values[name]) for name in COLUMN_NAMES}


def render_declaration(rows: list[dict[str, str]]) -> str:
    """The CSV text: a header line, then one line per row (`;`, CRLF, UTF-8 once encoded)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=DELIMITER)
    writer.writerow(COLUMN_NAMES)
    for row in rows:
        writer.writerow([row[name] for name in COLUMN_NAMES])
    return buffer.getvalue()


def read_declaration(content: str) -> list[dict[str, str]]:
    """The rows of a declaration's content (for previews and checks)."""
    return list(csv.DictReader(io.StringIO(content, newline=""), delimiter=DELIMITER))


def content_sha256(content: str) -> str:
    return hashlib.sha256(content.encode("utf-8")).hexdigest()


def figures_for_quarter(owner: Organisation, quarter: str) -> Any:
    return (
        TicketingFigures.objects.select_related("owner", "production", "venue")
        .filter(owner=owner, quarter=quarter)
        .order_by("first_date", "external_id")
    )


def _totals(queryset: Any) -> dict[str, Any]:
    sums = queryset.order_by().aggregate(**{name: Sum(name) for name in TOTALS})
    totals: dict[str, Any] = {"lines": queryset.count()}
    for name in TOTALS:
        value = sums[name]
        if name.startswith("receipts"):
            totals[name] = _amount(Decimal(value or 0))
        else:
            totals[name] = int(value or 0)
    return totals


def _quarter(quarter: str) -> str:
    try:
        return normalise_quarter(quarter)
    except InvalidQuarter:
        raise DeclarationError(
            {"quarter": [_("Trimestre attendu sous la forme AAAA-TN, par exemple 2026-T4 ; reçu « %(value)s ».")
                         % {"value": quarter}]}
        ) from None  # fmt: skip


# ---------------------------------------------------------------------------- the steps


def prepare_declaration(
    owner: Organisation, quarter: str, *, by: str = "", now: dt.datetime | None = None
) -> Declaration:
    """The structure's draft declaration of the quarter, built from its figures now. A new draft
    has version 1; refreshing the existing draft bumps its version. Raises DeclarationError naming
    `quarter` for a malformed quarter."""
    quarter = _quarter(quarter)
    queryset = figures_for_quarter(owner, quarter)
    content = render_declaration([declaration_row(figures) for figures in queryset])
    values = {
        "prepared_at": now or timezone.now(),
        "prepared_by": by[:200],
        "content": content,
        "sha256": content_sha256(content),
        "line_count": queryset.count(),
        "totals": _totals(queryset),
    }
    with transaction.atomic():
        draft = (
            Declaration.objects.select_for_update()
            .filter(owner=owner, quarter=quarter, status=Declaration.Status.DRAFT)
            .first()
        )
        if draft is None:
            return Declaration.objects.create(owner=owner, quarter=quarter, **values)
        for name, value in values.items():
            setattr(draft, name, value)
        draft.save()
        return draft


def may_approve(user: Any, owner: Organisation) -> bool:
    """Only a person holding the `administrator` role on the structure approves its declarations
    (the node's operator, a superuser, does not speak for the structure)."""
    if user is None or not getattr(user, "is_authenticated", False) or not getattr(user, "is_active", False):
        return False
    if getattr(user, "pk", None) is None:
        return False
    from dataspace.node.models import StaffMembership

    return StaffMembership.objects.filter(
        user_id=user.pk, organisation_id=owner.pk, role=StaffMembership.Role.ADMINISTRATOR
    ).exists()


def approve_declaration(
    declaration: Declaration, *, by: Any, sha256: str | None = None, now: dt.datetime | None = None
) -> Declaration:
    """Approve the draft as it stands: it may now leave the node. Journaled (stream "admin").

    Raises PermissionDenied unless `by` administers the structure; DeclarationConflict when it is
    no longer a draft, or when `sha256` (what the administrator saw) differs from its content.
    """
    if not may_approve(by, declaration.owner):
        raise PermissionDenied(_("Seul·e un·e administrateur·rice de la structure approuve ses déclarations."))
    moment = now or timezone.now()
    with transaction.atomic():
        locked = Declaration.objects.select_for_update().select_related("owner").get(pk=declaration.pk)
        if locked.status != Declaration.Status.DRAFT:
            raise DeclarationConflict(
                {"status": [_("Cette déclaration est déjà « %(status)s ».") % {"status": locked.get_status_display()}]}
            )
        if sha256 is not None and sha256.strip().lower() != locked.sha256:
            raise DeclarationConflict(
                {
                    "sha256": [
                        _(
                            "La déclaration a été préparée à nouveau depuis votre lecture : "
                            "relisez-la avant d'approuver."
                        )
                    ]
                }
            )
        locked.status = Declaration.Status.APPROVED
        locked.approved_by = by
        locked.approved_at = moment
        locked.save()
        journal(
            actor=Actor(
                user_id=by.pk,
                username=by.get_username(),
                organisation_id=locked.owner_id,
                organisation_name=locked.owner.name,
            ),
            action="approve",
            decision="permit",
            record_type=Declaration.record_type,
            record_ids=[locked.pk],
            owner_id=locked.owner_id,
            stream="admin",
            details={"quarter": locked.quarter, "sha256": locked.sha256, "lines": locked.line_count},
            now=moment,
        )
    declaration.refresh_from_db()
    return declaration


def export_declaration(declaration: Declaration, *, actor: Actor, now: dt.datetime | None = None) -> Declaration:
    """The approved declaration, marked exported (first download) and the download journaled.

    Raises NotApproved while it is a draft: nothing leaves the node before an administrator approves.
    """
    if not declaration.is_approved:
        raise NotApproved(
            _(
                "Cette déclaration n'a pas été approuvée par un·e administrateur·rice de la structure : "
                "elle ne sort pas du nœud."
            )
        )
    moment = now or timezone.now()
    with transaction.atomic():
        locked = Declaration.objects.select_for_update().get(pk=declaration.pk)
        if locked.status == Declaration.Status.APPROVED:
            locked.status = Declaration.Status.EXPORTED
            locked.exported_at = moment
            who = actor.username or (f"client:{actor.client_id}" if actor.client_id else "")
            locked.exported_by = who[:200]
            locked.save()
        journal(
            actor=actor,
            action="export",
            decision="permit",
            record_type=Declaration.record_type,
            record_ids=[locked.pk],
            owner_id=locked.owner_id,
            stream="admin",
            details={"quarter": locked.quarter, "sha256": locked.sha256, "lines": locked.line_count},
            now=moment,
        )
    return locked


def declarations_of(owner_ids: set[Any] | None) -> Any:
    """The declarations of these structures (None: all)."""
    queryset = Declaration.objects.select_related("owner", "approved_by")
    return queryset if owner_ids is None else queryset.filter(owner_id__in=owner_ids)
