"""A structure node's part of a ministry aggregation campaign (docs/indicators.md "Campaigns").

The ministry's node asks `POST /api/v1/indicators/aggregates` (signed, its token) for a period,
0 to 2 dimensions and some measures (`parse_ask`). This module decides what leaves (`answer`):

* **Who is counted.** Each structure holding ticketing figures on this node in the period goes
  through the decision point (`policies.pdp.decide(subject, "aggregate", ResourceRef("performance",
  owner), Context(purpose="reporting"))`: its usage policy for its performances dataset must permit
  ``aggregate`` and, the ministry being another node, a data-sharing agreement in force must cover
  it). Denied: left out (`AggregationRequest.excluded`, with the reason).
* **Its contribution** is computed once, at the ask that first finds it, and stored in
  `AggregationRequest.structures`: exactly what its administrator is shown and what will leave.
  It is never recomputed: figures that change afterwards do not change it.
* **Approval.** A `StandingApproval` in force (not revoked, `valid_until` today or later, for this
  ministry node or any) counts it at once (``standing``); otherwise it is ``pending`` until one of
  its administrators (`declarations.may_approve`) approves (``approved``) or refuses (``refused``)
  it (`approve`, `refuse`). Giving a standing approval also settles the structure's pending
  entries (`give_standing_approval`).
* **The partial.** When no structure is pending any more, the counted contributions are combined
  (`aggregate.combine_cells`: contributors = the counted structures with rows in the cell, largest
  = the largest of theirs) and stored: state ``approved``. The answer that returns it first makes
  it ``sent``; every later ask for the same (ministry, campaign) gets the same document. Deciding
  the last pending structure enqueues the notice ``aggregate.approved`` to the ministry.
* **Before it leaves** for the first time, an approved partial is checked against the decision
  point once more (an agreement revoked since the first ask takes its structure out).
* While nothing has left (state ``pending`` or ``refused``), each ask looks again at the
  structures left out by a policy or an agreement and at new holders of figures (a rerun after an
  agreement was signed counts them); the contributions already computed stay as they are.

Answers (`Answer.status`): 200 the partial; 202 awaiting approval; 403 ``refused`` (nobody may be
counted); 409 ``changed_request`` (the same campaign with another period, dimensions or measures).
Every answer is journaled per structure (action ``indicators.aggregate_answered``, stream access),
every decision too (``indicators.aggregate_approved`` / ``indicators.aggregate_refused``, stream
admin), with the structure as owner.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import json
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from dataspace.audit.services import Actor, journal, journal_entry, journal_many
from dataspace.indicators.aggregate import (
    AMOUNTS,
    DIMENSIONS,
    MEASURES,
    aggregate_per_owner,
    cell_sort_key,
    combine_cells,
    zero_document,
)
from dataspace.indicators.declarations import may_approve
from dataspace.indicators.models import AggregationRequest, StandingApproval, TicketingFigures
from dataspace.referentials.models import Organisation
from policies import pdp
from policies.subject import Subject

#: The OAuth scope of the ministry's requests.
SCOPE = "indicators:aggregate"
#: The decision point's view of a request: the structure's performances dataset, for reporting.
ACTION = "aggregate"
DATASET = "performance"
PURPOSE = "reporting"
#: The journal's record type of these requests.
RECORD_TYPE = "aggregation_request"
#: The outbox notice sent to the ministry when the last pending structure is decided.
NOTICE_KIND = "aggregate.approved"
MAX_DIMENSIONS = 2
MAX_PERIOD_DAYS = 366
MAX_TITLE = 200
MAX_INDICATORS = 50
MAX_REASON = 300

STANDING, PENDING, APPROVED, REFUSED = "standing", "pending", "approved", "refused"
#: Approvals under which a structure's contribution leaves.
COUNTED = frozenset({STANDING, APPROVED})
APPROVAL_LABELS: dict[str, Any] = {
    STANDING: gettext_lazy("approbation permanente"),
    PENDING: gettext_lazy("en attente de décision"),
    APPROVED: gettext_lazy("approuvée"),
    REFUSED: gettext_lazy("refusée"),
}

State = AggregationRequest.State


class AggregationConflict(Exception):
    """A decision that no longer applies (already decided, request no longer pending)."""


# ---------------------------------------------------------------------------- the request


@dataclass(frozen=True)
class Ask:
    """A validated request of the ministry."""

    campaign: uuid.UUID
    title: str
    period_start: dt.date
    period_end: dt.date
    dimensions: tuple[str, ...]
    measures: tuple[str, ...]
    indicators: tuple[dict[str, Any], ...] = ()

    @property
    def fingerprint(self) -> str:
        """SHA-256 of what is asked (period, dimensions, measures): another value is another request."""
        asked = {
            "period": {"start": self.period_start.isoformat(), "end": self.period_end.isoformat()},
            "dimensions": list(self.dimensions),
            "measures": list(self.measures),
        }
        return hashlib.sha256(json.dumps(asked, sort_keys=True, separators=(",", ":")).encode()).hexdigest()

    def as_json(self) -> dict[str, Any]:
        return {
            "campaign": str(self.campaign),
            "title": self.title,
            "period": {"start": self.period_start.isoformat(), "end": self.period_end.isoformat()},
            "dimensions": list(self.dimensions),
            "measures": list(self.measures),
            "indicators": [dict(item) for item in self.indicators],
        }

    def groupings(self) -> list[tuple[str, ...]]:
        return groupings_of(self.dimensions)


def groupings_of(dimensions: Sequence[str]) -> list[tuple[str, ...]]:
    """Every subset of `dimensions`: the full one first, then by decreasing size, in their order."""
    names = tuple(dimensions)
    return [combo for size in range(len(names), -1, -1) for combo in itertools.combinations(names, size)]


def _date(raw: Any, field: str, errors: dict[str, list[str]]) -> dt.date | None:
    if not isinstance(raw, str) or not raw:
        errors[field] = [_("Une date AAAA-MM-JJ est attendue.")]
        return None
    try:
        return dt.date.fromisoformat(raw)
    except ValueError:
        errors[field] = [_("« %(value)s » n'est pas une date AAAA-MM-JJ.") % {"value": raw[:40]}]
        return None


def _names(raw: Any, field: str, known: Sequence[str], errors: dict[str, list[str]]) -> list[str]:
    if not isinstance(raw, list) or not all(isinstance(item, str) for item in raw):
        errors[field] = [_("Une liste de noms est attendue.")]
        return []
    unknown = [item for item in raw if item not in known]
    if unknown:
        errors[field] = [
            _("Inconnu(s) : %(unknown)s ; connus : %(known)s.")
            % {"unknown": ", ".join(item[:40] for item in unknown), "known": ", ".join(known)}
        ]
        return []
    if len(set(raw)) != len(raw):
        errors[field] = [_("Un nom est répété.")]
        return []
    return list(raw)


def parse_ask(body: Any) -> Ask:
    """The ministry's request body, validated (docs/indicators.md, "The campaign protocol").

    Raises ValidationError naming each faulty field: `campaign`, `title`, `period.start`,
    `period.end` (before the start, or more than 366 days), `dimensions` (unknown, repeated, more
    than 2), `measures` (unknown, repeated, none), `indicators`.
    """
    errors: dict[str, list[str]] = {}
    if not isinstance(body, Mapping):
        raise ValidationError({"campaign": [_("Corps JSON attendu : {campaign, period, dimensions, measures}.")]})
    campaign: uuid.UUID | None = None
    try:
        campaign = uuid.UUID(str(body.get("campaign", "")))
    except ValueError:
        errors["campaign"] = [_("L'identifiant de la campagne (UUID) est attendu.")]
    title = body.get("title", "")
    if not isinstance(title, str) or len(title) > MAX_TITLE:
        errors["title"] = [_("Un intitulé de %(max)s caractères au plus.") % {"max": MAX_TITLE}]
        title = ""
    period = body.get("period")
    if not isinstance(period, Mapping):
        period = {}
    start = _date(period.get("start"), "period.start", errors)
    end = _date(period.get("end"), "period.end", errors)
    if start is not None and end is not None:
        if end < start:
            errors["period.end"] = [_("La période finit avant de commencer.")]
        elif (end - start).days + 1 > MAX_PERIOD_DAYS:
            errors["period.end"] = [_("Une période de %(max)s jours au plus.") % {"max": MAX_PERIOD_DAYS}]
    dimensions = _names(body.get("dimensions", []), "dimensions", list(DIMENSIONS), errors)
    if len(dimensions) > MAX_DIMENSIONS:
        errors["dimensions"] = [_("Deux dimensions au plus.")]
    measures = _names(body.get("measures"), "measures", list(MEASURES), errors)
    if "measures" not in errors and not measures:
        errors["measures"] = [_("Au moins une mesure est attendue.")]
    indicators = body.get("indicators", [])
    if (
        not isinstance(indicators, list)
        or len(indicators) > MAX_INDICATORS
        or not all(isinstance(item, Mapping) for item in indicators)
    ):
        errors["indicators"] = [_("Une liste d'indicateurs {code, version, label} est attendue.")]
        indicators = []
    if errors or campaign is None or start is None or end is None:
        raise ValidationError(errors)
    return Ask(
        campaign=campaign,
        title=title.strip(),
        period_start=start,
        period_end=end,
        dimensions=tuple(dimensions),
        measures=tuple(measures),
        indicators=tuple(
            {
                "code": str(item.get("code", ""))[:50],
                "version": item.get("version") if isinstance(item.get("version"), int) else None,
                "label": str(item.get("label", ""))[:200],
            }
            for item in indicators
        ),
    )


def ask_of(request: AggregationRequest) -> Ask:
    """The stored request as an `Ask`."""
    return parse_ask(request.request)


# ---------------------------------------------------------------------------- contributions


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _json_number(measure: str, value: Any) -> Any:
    if measure in AMOUNTS:
        return f"{Decimal(value):.2f}"
    return int(value)


def cell_json(cell: Mapping[str, Any], measures: Sequence[str]) -> dict[str, Any]:
    """A cell document restricted to `measures`, amounts as "1234.50" strings."""
    return {
        "key": dict(cell.get("key", {})),
        "values": {m: _json_number(m, cell["values"][m]) for m in measures},
        "contributors": int(cell["contributors"]),
        "largest": {m: _json_number(m, cell["largest"][m]) for m in measures},
    }


def holders(ask: Ask) -> QuerySet[Organisation]:
    """The structures holding figures on this node in the period, by name."""
    owners = TicketingFigures.objects.filter(
        first_date__gte=ask.period_start, first_date__lte=ask.period_end
    ).values_list("owner_id", flat=True)
    return Organisation.objects.filter(pk__in=owners).order_by("name", "pk")


def contributions(ask: Ask, owner_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[dict[str, Any]]]:
    """Each structure's own groupings (what `local_aggregate` gives for it alone, per subset of the
    dimensions, restricted to the measures asked): one query per grouping, whatever the number of
    structures."""
    result: dict[uuid.UUID, list[dict[str, Any]]] = {owner: [] for owner in owner_ids}
    if not owner_ids:
        return result
    for subset in ask.groupings():
        per_owner = aggregate_per_owner(ask.period_start, ask.period_end, list(subset), owner_ids=owner_ids)
        for owner in owner_ids:
            mine = per_owner.get(owner)
            if not subset:
                cells = [{"key": {}, **(mine["total"] if mine else zero_document())}]
            else:
                cells = mine["cells"] if mine else []
            result[owner].append({"dimensions": list(subset), "cells": [cell_json(c, ask.measures) for c in cells]})
    return result


def combine_groupings(ask: Ask, parts: Iterable[Sequence[Mapping[str, Any]]]) -> list[dict[str, Any]]:
    """The groupings of several structures' contributions combined, cell by cell (`combine_cells`):
    a cell is present when at least one of them has it; the total is always present."""
    parts = list(parts)
    combined: list[dict[str, Any]] = []
    for index, subset in enumerate(ask.groupings()):
        by_key: dict[tuple[Any, ...], list[Mapping[str, Any]]] = {}
        for groupings in parts:
            grouping = groupings[index]
            if list(grouping["dimensions"]) != list(subset):
                raise ValueError(f"contribution out of shape: {grouping['dimensions']} where {list(subset)} expected")
            for cell in grouping["cells"]:
                by_key.setdefault(tuple(cell["key"].get(name) for name in subset), []).append(cell)
        if not subset and not by_key:
            by_key[()] = []
        cells = [
            cell_json({"key": dict(zip(subset, key, strict=True)), **combine_cells(docs, ask.measures)}, ask.measures)
            for key, docs in sorted(by_key.items(), key=lambda item: cell_sort_key(item[0]))
        ]
        combined.append({"dimensions": list(subset), "cells": cells})
    return combined


def contribution_digest(entry: Mapping[str, Any]) -> str:
    """SHA-256 of a structure's contribution (what its administrator saw and decided on)."""
    text = json.dumps(entry.get("groupings", []), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def cell_count(entry: Mapping[str, Any]) -> int:
    return sum(len(grouping["cells"]) for grouping in entry.get("groupings", []))


def _partial(request: AggregationRequest, ask: Ask, counted: list[dict[str, Any]]) -> dict[str, Any]:
    as_of = min(entry["computed_at"] for entry in counted)
    return {
        "campaign": str(request.campaign),
        "node": str(settings.NODE_BASE_URL).rstrip("/"),
        "as_of": as_of,
        "period": {"start": ask.period_start.isoformat(), "end": ask.period_end.isoformat()},
        "dimensions": list(ask.dimensions),
        "measures": list(ask.measures),
        "structures": [entry["uri"] for entry in counted],
        "groupings": combine_groupings(ask, [entry["groupings"] for entry in counted]),
    }


# ---------------------------------------------------------------------------- standing approvals


def _same_node(a: str, b: str) -> bool:
    from federation.outbox import normalise

    return normalise(a) == normalise(b)


def standing_approval_in_force(owner_id: uuid.UUID, ministry: str, day: dt.date) -> StandingApproval | None:
    """The structure's standing approval in force on `day` for that ministry node (latest first)."""
    candidates = StandingApproval.objects.filter(owner_id=owner_id, revoked_at__isnull=True).filter(
        Q(valid_until__isnull=True) | Q(valid_until__gte=day)
    )
    for approval in candidates.order_by("-created_at"):
        if not approval.ministry or _same_node(approval.ministry, ministry):
            return approval
    return None


def in_force(approval: StandingApproval, day: dt.date | None = None) -> bool:
    """Whether the standing approval applies on `day` (today by default): not revoked, not expired."""
    today = day or pdp.node_day(timezone.now())
    return approval.revoked_at is None and (approval.valid_until is None or approval.valid_until >= today)


def check_standing_approval(*, ministry: str, valid_until: dt.date | None, today: dt.date | None = None) -> str:
    """The ministry node of a new standing approval, normalised ("" for any); ValidationError naming
    `ministry` (not an http(s) address) or `valid_until` (already past)."""
    from federation.outbox import normalise

    node = normalise(ministry)
    errors: dict[str, list[str]] = {}
    if node and not node.startswith(("https://", "http://")):
        errors["ministry"] = [_("L'adresse du nœud du ministère (https://…) est attendue.")]
    if valid_until is not None and valid_until < (today or pdp.node_day(timezone.now())):
        errors["valid_until"] = [_("La date de fin est passée.")]
    if errors:
        raise ValidationError(errors)
    return node


def administered_owner_ids(user: Any) -> set[uuid.UUID]:
    """The structures `user` holds the administrator role on (who decides for them)."""
    if user is None or not getattr(user, "is_active", False) or getattr(user, "pk", None) is None:
        return set()
    from dataspace.node.models import StaffMembership

    return set(
        StaffMembership.objects.filter(user_id=user.pk, role=StaffMembership.Role.ADMINISTRATOR).values_list(
            "organisation_id", flat=True
        )
    )


def _person(user: Any, owner: Organisation) -> Actor:
    return Actor(user_id=user.pk, username=user.get_username(), organisation_id=owner.pk, organisation_name=owner.name)


def give_standing_approval(
    owner: Organisation,
    *,
    by: Any,
    ministry: str = "",
    valid_until: dt.date | None = None,
    note: str = "",
    now: dt.datetime | None = None,
) -> StandingApproval:
    """A standing approval of `owner` (by one of its administrators), journaled; the structure's
    pending entries in requests of that ministry are settled at once (and the ministry notified
    when a request has nothing pending any more).

    Raises PermissionDenied unless `by` administers `owner`; ValidationError naming `ministry` or
    `valid_until` (in the past).
    """
    if not may_approve(by, owner):
        raise PermissionDenied(_("Seul·e un·e administrateur·rice de la structure donne une approbation permanente."))
    moment = now or timezone.now()
    node = check_standing_approval(ministry=ministry, valid_until=valid_until, today=pdp.node_day(moment))
    with transaction.atomic():
        approval = StandingApproval.objects.create(
            owner=owner,
            ministry=node,
            valid_until=valid_until,
            note=note[:300],
            created_at=moment,
            created_by=by,
        )
        journal(
            actor=_person(by, owner),
            action="indicators.standing_approval_given",
            decision="permit",
            record_type="standing_approval",
            record_ids=[approval.pk],
            owner_id=owner.pk,
            stream="admin",
            details={
                "ministry": node,
                "valid_until": valid_until.isoformat() if valid_until else None,
                "note": approval.note,
            },
            now=moment,
        )
        pending = AggregationRequest.objects.select_for_update().filter(
            state=State.PENDING, structures__icontains=str(owner.pk)
        )
        for request in pending:
            if node and not _same_node(node, request.ministry):
                continue
            entry = _entry(request, owner.pk)
            if entry is not None and entry["approval"] == PENDING:
                _record_decision(
                    request, entry, owner, by=by, approval=STANDING, reason="", moment=moment, via=approval
                )
    return approval


def revoke_standing_approval(
    approval: StandingApproval, *, by: Any, now: dt.datetime | None = None
) -> StandingApproval:
    """Revoke a standing approval (an administrator of its structure), journaled. The requests
    already answered keep what left; the next requests ask the administrator again.

    Raises PermissionDenied unless `by` administers the structure; AggregationConflict when it
    was already revoked.
    """
    if not may_approve(by, approval.owner):
        raise PermissionDenied(_("Seul·e un·e administrateur·rice de la structure révoque son approbation permanente."))
    moment = now or timezone.now()
    with transaction.atomic():
        locked = StandingApproval.objects.select_for_update().select_related("owner").get(pk=approval.pk)
        if locked.revoked_at is not None:
            raise AggregationConflict(_("Cette approbation permanente est déjà révoquée."))
        locked.revoked_at = moment
        locked.save(update_fields=["revoked_at"])
        journal(
            actor=_person(by, locked.owner),
            action="indicators.standing_approval_revoked",
            decision="permit",
            record_type="standing_approval",
            record_ids=[locked.pk],
            owner_id=locked.owner_id,
            stream="admin",
            details={"ministry": locked.ministry},
            now=moment,
        )
    return locked


# ---------------------------------------------------------------------------- answering the ministry


@dataclass(frozen=True)
class Answer:
    """What the endpoint answers: the HTTP status and its body."""

    status: int
    body: dict[str, Any]
    request: AggregationRequest


def _request_for(ask: Ask, ministry: str, moment: dt.datetime) -> tuple[AggregationRequest, bool]:
    """The stored request of (ministry, campaign), locked; created (pending) at the first ask."""
    found = AggregationRequest.objects.select_for_update().filter(ministry=ministry, campaign=ask.campaign).first()
    if found is not None:
        return found, False
    try:
        with transaction.atomic():
            created = AggregationRequest.objects.create(
                ministry=ministry,
                campaign=ask.campaign,
                title=ask.title,
                request=ask.as_json(),
                fingerprint=ask.fingerprint,
                state=State.PENDING,
                received_at=moment,
            )
            return created, True
    except IntegrityError:  # another ask of the same campaign created it meanwhile
        return AggregationRequest.objects.select_for_update().get(ministry=ministry, campaign=ask.campaign), False


def _entry(request: AggregationRequest, owner_id: Any) -> dict[str, Any] | None:
    wanted = str(owner_id)
    return next((entry for entry in request.structures if entry["id"] == wanted), None)


def _evaluate(request: AggregationRequest, ask: Ask, subject: Subject, moment: dt.datetime) -> set[str]:
    """Add the structures not looked at yet (and those a policy or an agreement left out) to the
    request, with their contribution computed now; promote pending ones a standing approval now
    covers. Contributions already stored stay as they are. Returns the ids of the structures the
    decision point permitted just now."""
    index = pdp.policy_index()
    context = pdp.Context(purpose=PURPOSE, now=moment, index=index)
    day = pdp.node_day(moment)
    known = {entry["id"] for entry in request.structures}
    excluded: list[dict[str, Any]] = []
    admitted: list[Organisation] = []
    for owner in holders(ask):
        if str(owner.pk) in known:
            continue
        decision = pdp.decide(
            subject, ACTION, pdp.ResourceRef(record_type=DATASET, record_id=None, owner_id=owner.pk), context
        )
        if not decision.permitted:
            excluded.append(
                {
                    "id": str(owner.pk),
                    "uri": owner.uri,
                    "name": owner.name,
                    "reason_code": decision.reason_code,
                    "reason": decision.reason,
                }
            )
            continue
        admitted.append(owner)
    computed = contributions(ask, [owner.pk for owner in admitted])
    for owner in admitted:
        standing = standing_approval_in_force(owner.pk, request.ministry, day)
        request.structures.append(
            {
                "id": str(owner.pk),
                "uri": owner.uri,
                "name": owner.name,
                "approval": STANDING if standing is not None else PENDING,
                "reason": "",
                "decided_by": "",
                "decided_at": _iso(moment) if standing is not None else None,
                "standing_approval": str(standing.pk) if standing is not None else None,
                "computed_at": _iso(moment),
                "groupings": computed[owner.pk],
            }
        )
    for entry in request.structures:
        if entry["approval"] == PENDING:
            standing = standing_approval_in_force(uuid.UUID(entry["id"]), request.ministry, day)
            if standing is not None:
                entry.update(approval=STANDING, decided_at=_iso(moment), standing_approval=str(standing.pk))
    request.excluded = excluded
    return {str(owner.pk) for owner in admitted}


def _settle(request: AggregationRequest, moment: dt.datetime) -> None:
    """State and partial from the structures' approvals: pending while one is; else the partial of
    the counted ones (approved), or refused when none is counted."""
    entries = request.structures
    if any(entry["approval"] == PENDING for entry in entries):
        request.state, request.partial = State.PENDING, None
        return
    counted = [entry for entry in entries if entry["approval"] in COUNTED]
    if not counted:
        request.state, request.partial = State.REFUSED, None
        return
    request.partial = _partial(request, ask_of(request), counted)
    request.state = State.APPROVED


def _recheck(request: AggregationRequest, subject: Subject, moment: dt.datetime, *, checked: set[str]) -> None:
    """Before an approved partial first leaves: counted structures (but those `checked` in this
    very ask) that the decision point now denies (an agreement revoked since the first ask…) are
    taken out, and the partial combined again from the stored contributions of the others."""
    context = pdp.Context(purpose=PURPOSE, now=moment, index=pdp.policy_index())
    kept: list[dict[str, Any]] = []
    dropped = False
    for entry in request.structures:
        if entry["approval"] in COUNTED and entry["id"] not in checked:
            ref = pdp.ResourceRef(record_type=DATASET, record_id=None, owner_id=uuid.UUID(entry["id"]))
            decision = pdp.decide(subject, ACTION, ref, context)
            if not decision.permitted:
                request.excluded = [
                    *request.excluded,
                    {
                        "id": entry["id"],
                        "uri": entry["uri"],
                        "name": entry["name"],
                        "reason_code": decision.reason_code,
                        "reason": decision.reason,
                        "approval": entry["approval"],
                    },
                ]
                dropped = True
                continue
        kept.append(entry)
    if dropped:
        request.structures = kept
        _settle(request, moment)


def _refusal_detail(request: AggregationRequest) -> str:
    refused = sum(1 for entry in request.structures if entry["approval"] == REFUSED)
    excluded = len(request.excluded)
    if not refused and not excluded:
        return _("Aucune structure de ce nœud ne détient de chiffres de billetterie sur cette période.")
    return _(
        "Aucune structure de ce nœud ne peut être comptée : %(refused)s refusée(s) par leur administrateur·rice, "
        "%(excluded)s exclue(s) par leur politique d'usage ou faute d'accord de partage en vigueur."
    ) % {"refused": refused, "excluded": excluded}


def _body(request: AggregationRequest) -> tuple[int, dict[str, Any]]:
    if request.state in (State.APPROVED, State.SENT) and request.partial is not None:
        return 200, request.partial
    if request.state == State.PENDING:
        pending = sum(1 for entry in request.structures if entry["approval"] == PENDING)
        return 202, {
            "status": "awaiting_approval",
            "request": str(request.pk),
            "detail": ngettext(
                "%(count)s structure de ce nœud doit d'abord approuver ce qui sera transmis ; "
                "le nœud préviendra le ministère dès que ce sera fait.",
                "%(count)s structures de ce nœud doivent d'abord approuver ce qui sera transmis ; "
                "le nœud préviendra le ministère dès que ce sera fait.",
                pending,
            )
            % {"count": pending},
            "pending": pending,
        }
    return 403, {"error": "refused", "detail": _refusal_detail(request), "fields": {}}


#: Why a structure's figures did not leave in an answer (journal reason codes and sentences).
_WITHHELD: dict[str, Any] = {
    PENDING: ("awaiting_approval", gettext_lazy("en attente de l'approbation de la structure")),
    REFUSED: ("refused_by_structure", gettext_lazy("refusé par l'administrateur·rice de la structure")),
    "others": ("awaiting_approval", gettext_lazy("en attente de l'approbation d'autres structures du nœud")),
}


def _journal_answer(
    request: AggregationRequest, subject: Subject, status: int, moment: dt.datetime, *, reason_code: str = ""
) -> None:
    """One entry per structure concerned by this answer (owner = the structure)."""
    from policies.enforcement import actor_for

    actor = actor_for(subject, day=pdp.node_day(moment))
    common = {"campaign": str(request.campaign), "ministry": request.ministry, "status": status}
    entries = []

    def entry(owner: Any, decision: str, code: str, reason: str, **details: Any) -> None:
        entries.append(
            journal_entry(
                actor=actor,
                action="indicators.aggregate_answered",
                decision=decision,
                reason_code=code,
                reason=reason,
                purpose=PURPOSE,
                record_type=RECORD_TYPE,
                record_ids=[request.pk],
                owner_id=uuid.UUID(str(owner)) if owner else None,
                details={**common, **details},
                now=moment,
            )
        )

    if reason_code:  # the whole request is refused (changed request)
        entry(None, "deny", reason_code, "")
    else:
        for item in request.structures:
            approval = item["approval"]
            if status == 200 and approval in COUNTED:
                entry(item["id"], "permit", approval, "", approval=approval, cells=cell_count(item))
            else:
                code, sentence = _WITHHELD.get(approval, _WITHHELD["others"])
                entry(item["id"], "deny", code, str(sentence), approval=approval)
        for item in request.excluded:
            entry(item["id"], "deny", item.get("reason_code", ""), item.get("reason", ""))
        if not request.structures and not request.excluded:
            entry(None, "deny", "no_figures", _refusal_detail(request))
    journal_many(entries)


def answer(ask: Ask, *, ministry: str, subject: Subject, now: dt.datetime | None = None) -> Answer:
    """The answer to the ministry node `ministry` (its base URL, from the request's signature) for
    `ask`, made by `subject` (the ministry peer's subject). See the module docstring."""
    from federation.outbox import normalise

    moment = now or timezone.now()
    node = normalise(ministry)
    with transaction.atomic():
        request, created = _request_for(ask, node, moment)
        if not created and request.fingerprint != ask.fingerprint:
            _journal_answer(request, subject, 409, moment, reason_code="changed_request")
            body = {
                "error": "changed_request",
                "detail": _(
                    "Cette campagne a déjà été demandée avec une autre période, d'autres dimensions ou d'autres "
                    "mesures : une demande modifiée est une nouvelle campagne."
                ),
                "fields": {},
            }
            return Answer(409, body, request)
        if not created:
            request.asks += 1
        checked: set[str] = set()
        if request.state in (State.PENDING, State.REFUSED):
            checked = _evaluate(request, ask, subject, moment)
            _settle(request, moment)
        if request.state == State.APPROVED:  # about to leave for the first time
            _recheck(request, subject, moment, checked=checked)
        if request.state == State.APPROVED:
            request.state, request.sent_at = State.SENT, moment
        request.save()
        status, body = _body(request)
        _journal_answer(request, subject, status, moment)
    return Answer(status, body, request)


# ---------------------------------------------------------------------------- the structure's decision


def _record_decision(
    request: AggregationRequest,
    entry: dict[str, Any],
    owner: Organisation,
    *,
    by: Any,
    approval: str,
    reason: str,
    moment: dt.datetime,
    via: StandingApproval | None = None,
) -> None:
    """Write one structure's decision on a locked pending request, journal it, settle the request
    and notify the ministry when nothing is pending any more."""
    entry.update(approval=approval, reason=reason, decided_by=by.get_username(), decided_at=_iso(moment))
    if via is not None:
        entry["standing_approval"] = str(via.pk)
    approved = approval in COUNTED
    details: dict[str, Any] = {
        "campaign": str(request.campaign),
        "ministry": request.ministry,
        "title": request.title,
        "cells": cell_count(entry),
        "sha256": contribution_digest(entry),
    }
    if via is not None:
        details["standing_approval"] = str(via.pk)
    journal(
        actor=_person(by, owner),
        action="indicators.aggregate_approved" if approved else "indicators.aggregate_refused",
        decision="permit" if approved else "deny",
        reason_code=approval,
        reason=reason,
        purpose=PURPOSE,
        record_type=RECORD_TYPE,
        record_ids=[request.pk],
        owner_id=owner.pk,
        stream="admin",
        details=details,
        now=moment,
    )
    _settle(request, moment)
    if request.state != State.PENDING:
        request.decided_by, request.decided_at = by, moment
        from federation.outbox import enqueue

        enqueue(
            kind=NOTICE_KIND,
            payload={"campaign": str(request.campaign), "request": str(request.pk)},
            destinations=[request.ministry],
        )
    request.save()


def _decide(
    request: AggregationRequest,
    owner: Organisation,
    *,
    by: Any,
    approval: str,
    reason: str,
    now: dt.datetime | None,
) -> AggregationRequest:
    if not may_approve(by, owner):
        raise PermissionDenied(
            _("Seul·e un·e administrateur·rice de %(structure)s décide de ce qui part pour elle.")
            % {"structure": owner.name}
        )
    moment = now or timezone.now()
    with transaction.atomic():
        locked = AggregationRequest.objects.select_for_update().get(pk=request.pk)
        entry = _entry(locked, owner.pk)
        if entry is None:
            raise AggregationConflict(
                _("%(structure)s ne figure pas parmi les structures de cette demande.") % {"structure": owner.name}
            )
        if locked.state != State.PENDING or entry["approval"] != PENDING:
            raise AggregationConflict(
                _("La part de %(structure)s est déjà décidée (%(approval)s).")
                % {"structure": owner.name, "approval": APPROVAL_LABELS.get(entry["approval"], entry["approval"])}
            )
        _record_decision(locked, entry, owner, by=by, approval=approval, reason=reason[:MAX_REASON], moment=moment)
    return locked


def approve(
    request: AggregationRequest, owner: Organisation, *, by: Any, now: dt.datetime | None = None
) -> AggregationRequest:
    """`owner`'s contribution to `request` may leave, as stored (an administrator of `owner`).

    Journaled (``indicators.aggregate_approved``, with the SHA-256 of the contribution). When no
    structure is pending any more, the partial is combined and the ministry notified. Raises
    PermissionDenied unless `by` administers `owner`; AggregationConflict when there is nothing
    to decide any more.
    """
    return _decide(request, owner, by=by, approval=APPROVED, reason="", now=now)


def refuse(
    request: AggregationRequest,
    owner: Organisation,
    *,
    by: Any,
    reason: str = "",
    now: dt.datetime | None = None,
) -> AggregationRequest:
    """`owner`'s contribution stays on the node (an administrator of `owner`); as `approve`
    otherwise (``indicators.aggregate_refused``)."""
    return _decide(request, owner, by=by, approval=REFUSED, reason=reason.strip(), now=now)


# ---------------------------------------------------------------------------- reading


def requests_for(owner_ids: set[uuid.UUID] | None) -> QuerySet[AggregationRequest]:
    """The requests concerning these structures, counted or left out (None: all)."""
    queryset = AggregationRequest.objects.all()
    if owner_ids is None:
        return queryset
    if not owner_ids:
        return queryset.none()
    concerned = Q()
    for owner in owner_ids:
        concerned |= Q(structures__icontains=str(owner)) | Q(excluded__icontains=str(owner))
    return queryset.filter(concerned)


def concerns(request: AggregationRequest, owner_ids: set[uuid.UUID] | None) -> bool:
    """Whether the request names one of these structures (None: every structure)."""
    if owner_ids is None:
        return True
    named = {item["id"] for item in [*request.structures, *request.excluded]}
    return bool(named & {str(owner) for owner in owner_ids})
