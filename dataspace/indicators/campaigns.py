"""Aggregation campaigns of the ministry node: create, launch, ask the structure nodes, combine,
publish under statistical secrecy (issue 7, docs/indicators.md "Campaigns").

**A campaign** (`Campaign`) is indicators (their catalogue versions, frozen at creation) × a period
× 0 to 2 dimensions. `create_campaign` checks it (`ValidationError` naming `title`, `indicators`,
`period_start`, `period_end`, `dimensions`, in French). `launch` gives it one `CampaignNode` per
trusted member with the `structure` role, journals the launch and runs it in the background:
a Celery task on commit (with Redis), or a daemon thread when Celery runs eagerly (the embedded
demo), so that the caller returns at once and the dashboard shows the progress. `rerun` is
`launch` again: only the nodes that have not answered are asked.

**A run** (`run_campaign`) holds a lease (`Campaign.running_since`, renewed while it runs; a
second run does not start while it is younger than the per-node timeout plus `LEASE_MARGIN`, and
a crashed run's lease simply expires). It asks every node not ANSWERED in parallel (a thread pool
of `INDICATORS_CAMPAIGN_CONCURRENCY`; each node has `INDICATORS_CAMPAIGN_TIMEOUT` seconds, token
included), writes each node's state from the calling thread as its answer arrives (SQLite has one
writer; progress is visible while the run goes on), then publishes. The wire protocol is
docs/indicators.md, "The campaign protocol": a signed POST to
``{node}/api/v1/indicators/aggregates`` through
`federation.client.NodeClient` (token of scope ``indicators:aggregate``, answer signature
verified). 200 → ANSWERED (the partial, its `as_of`, and the answer's `Signature-Input`,
`Signature`, `Content-Digest`); 202 → AWAITING; 403 → REFUSED; no answer in time → TIMEOUT;
anything else → ERROR (a French sentence and the technical detail).

**A partial is counted only once it passes `check_partial`**: the campaign, node, period,
dimensions and measures asked; every grouping (one per subset of the dimensions), counts as
integers and amounts as decimal strings; its margins equal the sums of its cells (what secrecy
relies on); and no structure already counted by another ANSWERED node of the campaign. Otherwise
the node is ERROR with the reason and nothing of it is counted. A node keeps one partial: an
ANSWERED node is never asked again, so re-running never double counts.

**Publishing** (`publish`) combines the ANSWERED partials (`combine`: values and contributors
summed, largest contribution = the max), builds the full table with its margins
(`secrecy.cross_table`, margins from the smaller groupings; 0 dimensions: one cell, no relation),
protects every measure the indicators need with one suppression pattern
(`secrecy.protect_jointly`), then computes each indicator: a sum is its measure's protected cell;
a ratio or share goes through `secrecy.protect_ratio` (hidden with its components) and is rounded
as the catalogue rounds it (`catalogue.evaluate`). `Campaign.results` is the only thing the
dashboard and the exports read: no hidden value, no contributor count, ever appears in it.

The structure node asks the ministry to come back through a signed outbox notice
``aggregate.approved`` once its administrators have decided (`on_aggregate_approved`): from a
trusted structure member that is a node of that campaign and has not answered, one ask of that
node is scheduled on commit (`ask_campaign_node`: the Celery task with Redis, a daemon thread when
Celery runs eagerly, so that the sender's outbox is not kept waiting while the ministry calls it
back), then the campaign is published again.

Results (`Campaign.results`), as docs/indicators.md, "Published results", gives them:
`computed_at`, `as_of` (the oldest
partial's), `campaign`, `period`, `dimensions`, `nodes` {answered, total}, `provenance` (node,
name, as_of, structures counted), `missing` (node, name, state, detail), `rules`, and per
indicator `code`, `version`, `label`, `unit` ("count", "euros" or "percent"; `unit_label` is the
catalogue's unit in words), `decimals`, `cells` [{key, value (exact decimal string or null),
status, reason}] sorted by `secrecy.sort_key`, "total" in a key for a margin.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from queue import Empty, Queue
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import DatabaseError, connections, transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.dateparse import parse_date
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from dataspace.audit.services import Actor, journal
from dataspace.indicators import catalogue, secrecy
from dataspace.indicators.aggregate import AMOUNTS, DIMENSIONS, MEASURES, combine_cells, zero_document
from dataspace.indicators.models import Campaign, CampaignNode, IndicatorDefinition
from dataspace.indicators.partials import groupings_of
from federation import notices
from federation.outbox import normalise
from federation.signing import SignedPeer

logger = logging.getLogger("dataspace.indicators.campaigns")

#: The role of the nodes a campaign asks.
STRUCTURE_ROLE = "structure"
#: Where a structure node answers a campaign (docs/indicators.md, "The campaign protocol"), and
#: the scope of the ministry's token.
AGGREGATES_PATH = "/api/v1/indicators/aggregates"
AGGREGATE_SCOPE = "indicators:aggregate"
#: The outbox notice of a structure node whose administrators have decided.
APPROVED_NOTICE = "aggregate.approved"
MAX_DIMENSIONS = 2
#: A longer period is refused by the structure nodes (docs/indicators.md, "The campaign protocol").
MAX_PERIOD_DAYS = 366
#: A run's lease lasts the per-node timeout plus this (seconds) after its last renewal.
LEASE_MARGIN = 30.0
#: How often a run renews its lease, and how often it checks for nodes past their time (seconds).
RENEW_EVERY = 2.0
POLL_EVERY = 0.25
#: A node's ask is abandoned this long after its own timeout (its thread stops by itself anyway).
ABANDON_GRACE = 1.0
#: The answer's headers kept as the RFC 9421 proof of a partial.
SIGNATURE_HEADERS: tuple[str, ...] = ("Signature-Input", "Signature", "Content-Digest")
#: An amount in a partial: a decimal string, two decimals at most.
_AMOUNT = re.compile(r"[0-9]{1,15}(\.[0-9]{1,2})?")
#: Journal record type of a campaign.
RECORD_TYPE = "indicator-campaign"

State = CampaignNode.State


class NotAMinistryNode(PermissionDenied):
    """Campaigns live on nodes with the `ministry` role only."""


def _ensure_ministry() -> None:
    if not catalogue.is_ministry_node():
        raise NotAMinistryNode(_("Ce nœud n'a pas le rôle « ministry » : il ne mène pas de campagnes."))


def _iso(moment: dt.datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


# ---------------------------------------------------------------------------- creation


def _as_date(value: Any) -> dt.date | None:
    if isinstance(value, dt.datetime):
        return None
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return parse_date(value.strip())
        except ValueError:
            return None
    return None


def _period_errors(definitions: Sequence[IndicatorDefinition], start: dt.date, end: dt.date) -> dict[str, list[str]]:
    """Which end of the period breaks an indicator's period rule (whole months or quarters)."""
    errors: dict[str, list[str]] = {}
    if end < start:
        return {"period_end": [_("La fin de la période précède son début.")]}
    if (end - start).days + 1 > MAX_PERIOD_DAYS:
        return {"period_end": [_("La période dépasse %(days)s jours.") % {"days": MAX_PERIOD_DAYS}]}
    for definition in definitions:
        if catalogue.allowed_period(definition, start, end):
            continue
        quarter = definition.period_rule == IndicatorDefinition.PeriodRule.QUARTER
        start_ok = start.day == 1 and (not quarter or start.month % 3 == 1)
        if quarter:
            message = _("« %(label)s » se calcule par trimestres civils entiers.")
        else:
            message = _("« %(label)s » se calcule par mois entiers.")
        field_name = "period_end" if start_ok else "period_start"
        errors.setdefault(field_name, []).append(message % {"label": definition.label})
    return errors


def create_campaign(
    *,
    title: Any,
    indicators: Any,
    period_start: Any,
    period_end: Any,
    dimensions: Any,
    by: Any = None,
) -> Campaign:
    """A new DRAFT campaign: the current catalogue version of each indicator code, a period that
    is a whole number of every indicator's periods (at most `MAX_PERIOD_DAYS`), at most two
    dimensions, each offered by every indicator. Raises one `ValidationError` naming every faulty
    field (`title`, `indicators`, `period_start`, `period_end`, `dimensions`), in French;
    `NotAMinistryNode` off the ministry node."""
    _ensure_ministry()
    errors: dict[str, list[str]] = {}
    name = title.strip() if isinstance(title, str) else ""
    max_title = Campaign._meta.get_field("title").max_length or 200
    if not name:
        errors["title"] = [_("Un intitulé est requis.")]
    elif len(name) > max_title:
        errors["title"] = [_("L'intitulé dépasse %(max)s caractères.") % {"max": max_title}]

    definitions: list[IndicatorDefinition] = []
    if not isinstance(indicators, list | tuple) or not indicators or not all(isinstance(c, str) for c in indicators):
        errors["indicators"] = [_("Choisissez au moins un indicateur du catalogue.")]
    else:
        unknown: list[str] = []
        for code in dict.fromkeys(code.strip() for code in indicators):
            definition = catalogue.current_definition(code)
            if definition is None:
                unknown.append(code)
            else:
                definitions.append(definition)
        if unknown:
            errors["indicators"] = [
                _("Indicateur inconnu ou retiré du catalogue : « %(code)s ».") % {"code": code} for code in unknown
            ]

    start, end = _as_date(period_start), _as_date(period_end)
    if start is None:
        errors["period_start"] = [_("Une date de début (AAAA-MM-JJ) est requise.")]
    if end is None:
        errors["period_end"] = [_("Une date de fin (AAAA-MM-JJ) est requise.")]
    if start is not None and end is not None:
        for field_name, problems in _period_errors(definitions, start, end).items():
            errors.setdefault(field_name, []).extend(problems)

    chosen: list[str] = []
    if not isinstance(dimensions, list | tuple) or not all(isinstance(d, str) for d in dimensions):
        errors["dimensions"] = [_("Une liste de dimensions est attendue.")]
    else:
        chosen = list(dict.fromkeys(name.strip() for name in dimensions if name.strip()))
        messages: list[str] = []
        if len(chosen) > MAX_DIMENSIONS:
            messages.append(_("Deux dimensions au plus."))
        for dimension in chosen:
            if dimension not in DIMENSIONS:
                messages.append(
                    _("Dimension inconnue « %(name)s » ; dimensions connues : %(known)s.")
                    % {"name": dimension, "known": ", ".join(DIMENSIONS)}
                )
                continue
            for definition in definitions:
                if dimension not in (definition.dimensions or []):
                    messages.append(
                        _("La dimension « %(dimension)s » n'est pas proposée par l'indicateur « %(label)s ».")
                        % {"dimension": catalogue.DIMENSION_LABELS[dimension], "label": definition.label}
                    )
        if messages:
            errors["dimensions"] = messages
    if errors:
        raise ValidationError(errors)
    if start is None or end is None:  # pragma: no cover - reported above
        raise ValidationError({"period_start": [_("Une date de début (AAAA-MM-JJ) est requise.")]})
    return Campaign.objects.create(
        title=name,
        indicators=[{"code": d.code, "version": d.version} for d in definitions],
        period_start=start,
        period_end=end,
        dimensions=chosen,
        created_by=by if getattr(by, "pk", None) is not None else None,
    )


def definitions_of(campaign: Campaign) -> list[IndicatorDefinition]:
    """The catalogue versions the campaign computes, in its order."""
    wanted = [(str(item["code"]), int(item["version"])) for item in campaign.indicators or []]
    found = {
        (d.code, d.version): d for d in IndicatorDefinition.objects.filter(code__in=[code for code, _version in wanted])
    }
    return [found[item] for item in wanted if item in found]


def measures_needed(definitions: Iterable[IndicatorDefinition]) -> list[str]:
    """Every additive measure the indicators combine, in `MEASURES` order."""
    needed = {measure for definition in definitions for measure in catalogue.measures_of(definition)}
    return [measure for measure in MEASURES if measure in needed]


def request_body(campaign: Campaign) -> dict[str, Any]:
    """What is POSTed to each structure node (docs/indicators.md, "The campaign protocol")."""
    definitions = definitions_of(campaign)
    return {
        "campaign": str(campaign.pk),
        "title": campaign.title,
        "period": {"start": campaign.period_start.isoformat(), "end": campaign.period_end.isoformat()},
        "dimensions": list(campaign.dimensions or []),
        "measures": measures_needed(definitions),
        "indicators": [{"code": d.code, "version": d.version, "label": d.label} for d in definitions],
    }


# ---------------------------------------------------------------------------- launching


def _lease_seconds() -> float:
    return float(settings.INDICATORS_CAMPAIGN_TIMEOUT) + LEASE_MARGIN


def _lease_held(campaign: Campaign, now: dt.datetime) -> bool:
    window = dt.timedelta(seconds=_lease_seconds())
    if campaign.running_since is not None:
        return campaign.running_since > now - window
    # Launched, its run not started yet (queued): a second click does not launch it twice.
    return (
        campaign.state == Campaign.State.RUNNING
        and campaign.launched_at is not None
        and campaign.launched_at > now - window
    )


def _actor(by: Any) -> Actor:
    if by is not None and getattr(by, "pk", None) is not None:
        return Actor(user_id=by.pk, username=by.get_username())
    return Actor(username="", node=str(settings.NODE_BASE_URL))


def launch(campaign: Campaign, *, by: Any, background: bool | None = None) -> Campaign:
    """Start (or restart) the campaign: one `CampaignNode` per trusted structure member (existing
    ones kept, ANSWERED partials included), state RUNNING, `runs` + 1, journaled, then the run.

    `background=None`: in a daemon thread started on commit when Celery runs eagerly (no Redis),
    else the Celery task `run_campaign` on commit; the call returns at once. `background=False`:
    the run happens inside this call. A campaign whose run is under way (lease held, or launched
    moments ago and not started yet) is returned unchanged: a double click launches once."""
    _ensure_ministry()
    from federation.membership import trusted_peers

    now = timezone.now()
    with transaction.atomic():
        locked = Campaign.objects.select_for_update().get(pk=campaign.pk)
        if _lease_held(locked, now):
            return locked
        rerun = locked.runs > 0
        peers = trusted_peers(STRUCTURE_ROLE)
        existing = {row.node: row for row in locked.nodes.all()}
        for peer in peers:
            url = normalise(peer.base_url)
            row = existing.get(url)
            if row is None:
                CampaignNode.objects.create(campaign=locked, node=url, name=peer.name[:100])
            elif row.name != peer.name[:100]:
                CampaignNode.objects.filter(pk=row.pk).update(name=peer.name[:100])
        locked.state = Campaign.State.RUNNING
        locked.runs += 1
        locked.launched_at = now
        locked.finished_at = None
        locked.save(update_fields=["state", "runs", "launched_at", "finished_at"])
        nodes = list(locked.nodes.values_list("node", "state"))
        journal(
            actor=_actor(by),
            action="indicators.campaign_rerun" if rerun else "indicators.campaign_launched",
            decision="permit",
            purpose="reporting",
            record_type=RECORD_TYPE,
            record_ids=[locked.pk],
            stream="admin",
            details={
                "title": locked.title,
                "run": locked.runs,
                "nodes": len(nodes),
                "to_ask": [node for node, state in nodes if state != State.ANSWERED],
            },
            now=now,
        )
        if background is not False:
            _schedule(_run_in_background, str(locked.pk))
    if background is False:
        run_campaign(locked.pk)
    locked.refresh_from_db()
    return locked


def rerun(campaign: Campaign, *, by: Any, background: bool | None = None) -> Campaign:
    """Launch again: only the nodes that have not answered are asked; answered partials stay."""
    return launch(campaign, by=by, background=background)


def _schedule(function: Callable[..., None], *args: str) -> None:
    transaction.on_commit(lambda: function(*args))


def _eager() -> bool:
    return bool(getattr(settings, "CELERY_TASK_ALWAYS_EAGER", False))


def _in_thread(name: str, function: Callable[..., Any], *args: Any) -> threading.Thread:
    """Run `function(*args)` in a daemon thread with its own database connections (closed after)."""

    def target() -> None:
        try:
            function(*args)
        except Exception:  # a background run's failure is logged; the campaign shows what was written
            logger.exception("campaigns: %s%r failed", getattr(function, "__name__", function), args)
        finally:
            connections.close_all()

    thread = threading.Thread(target=target, name=name, daemon=True)
    thread.start()
    return thread


def _run_in_background(campaign_id: str) -> None:
    if _eager():
        _in_thread(f"campaign-{campaign_id[:8]}", run_campaign, campaign_id)
        return
    from dataspace.indicators import tasks

    try:
        tasks.run_campaign.delay(campaign_id)
    except Exception:  # broker down: the lease expires and the campaign can be launched again
        logger.warning("campaigns: cannot schedule the run of %s", campaign_id, exc_info=True)


def _ask_in_background(campaign_id: str, node: str) -> None:
    if _eager():
        _in_thread(f"campaign-node-{campaign_id[:8]}", ask_campaign_node, campaign_id, node)
        return
    from dataspace.indicators import tasks

    try:
        tasks.ask_campaign_node.delay(campaign_id, node)
    except Exception:  # broker down: the node is asked again at the next run
        logger.warning("campaigns: cannot schedule asking %s for %s", node, campaign_id, exc_info=True)


# ---------------------------------------------------------------------------- the lease


def _take_lease(campaign_id: Any, now: dt.datetime) -> bool:
    expired = now - dt.timedelta(seconds=_lease_seconds())
    taken = (
        Campaign.objects.filter(pk=campaign_id)
        .filter(Q(running_since__isnull=True) | Q(running_since__lte=expired))
        .update(running_since=now)
    )
    return taken == 1


def _renew_lease(campaign_id: Any) -> None:
    Campaign.objects.filter(pk=campaign_id).update(running_since=timezone.now())


def _ended_state(campaign: Campaign) -> str:
    """DONE when every node of the campaign has answered, else PARTIAL."""
    states = list(campaign.nodes.values_list("state", flat=True))
    complete = bool(states) and all(state == State.ANSWERED for state in states)
    return Campaign.State.DONE if complete else Campaign.State.PARTIAL


def _finish(campaign_id: Any) -> str:
    """Release the lease and set the state the run ends in."""
    with transaction.atomic():
        campaign = Campaign.objects.select_for_update().get(pk=campaign_id)
        campaign.state = _ended_state(campaign)
        campaign.running_since = None
        campaign.finished_at = timezone.now()
        campaign.save(update_fields=["state", "running_since", "finished_at"])
    return str(campaign.state)


# ---------------------------------------------------------------------------- asking one node


@dataclass
class NodeAnswer:
    """What asking one node gave: the state it leads to (ANSWERED only once the partial is
    checked), a French detail, and for a 200 the partial and the answer's signature headers."""

    node: str
    state: str
    elapsed_ms: int
    detail: str = ""
    partial: Any = None
    signature: dict[str, str] = field(default_factory=dict)


def _body_detail(response: Any) -> str:
    try:
        body = response.json()
    except ValueError:
        return f"HTTP {response.status_code}"
    if isinstance(body, dict):
        parts = [str(body[name]) for name in ("error", "detail") if body.get(name)]
        fields = {key: value for key, value in body.items() if key not in ("error", "detail", "status")}
        if fields and not parts:
            parts.append(str(fields))
        if parts:
            return f"HTTP {response.status_code} : " + " — ".join(parts)[:500]
    return f"HTTP {response.status_code}"


def ask_node(base_url: str, body: Mapping[str, Any], *, timeout: float | None = None) -> NodeAnswer:
    """POST the campaign's request to one structure node and sort its answer out; never raises.

    The node has `timeout` seconds (default `INDICATORS_CAMPAIGN_TIMEOUT`) in all: the token is
    fetched first (cached per process), the call gets what is left."""
    from federation.client import NodeClient, PeerDenied, PeerError, PeerFailed, PeerTimeout, PeerUnreachable

    node = normalise(base_url)
    budget = float(settings.INDICATORS_CAMPAIGN_TIMEOUT if timeout is None else timeout)
    started = time.monotonic()

    def answer(state: str, detail: str = "", **extra: Any) -> NodeAnswer:
        return NodeAnswer(node, state, int((time.monotonic() - started) * 1000), detail, **extra)

    def late() -> NodeAnswer:
        return answer(
            State.TIMEOUT,
            _("Délai dépassé (%(seconds)s s) : le nœud n'a pas répondu à temps.") % {"seconds": f"{budget:g}"},
        )

    try:
        client = NodeClient(node, timeout=budget)
        try:
            client.access_token(AGGREGATE_SCOPE)
        except PeerDenied as exc:
            return answer(
                State.ERROR,
                _("Le nœud refuse le jeton du ministère (%(detail)s).") % {"detail": exc.detail},
            )
        remaining = budget - (time.monotonic() - started)
        if remaining <= 0:
            return late()
        response = client.post(AGGREGATES_PATH, json=dict(body), scope=AGGREGATE_SCOPE, timeout=remaining)
    except PeerTimeout:
        return late()
    except PeerDenied as exc:
        if exc.status == 403:
            return answer(State.REFUSED, _("Le nœud refuse la demande : %(detail)s") % {"detail": exc.detail})
        return answer(
            State.ERROR,
            _("Accès refusé par le nœud (signature ou jeton) : %(detail)s") % {"detail": exc.detail},
        )
    except PeerUnreachable as exc:
        return answer(State.ERROR, _("Nœud injoignable (%(detail)s).") % {"detail": exc.detail})
    except PeerFailed as exc:
        return answer(State.ERROR, _("Erreur du nœud : %(detail)s") % {"detail": exc.detail})
    except PeerError as exc:
        return answer(State.ERROR, _("Appel impossible : %(detail)s") % {"detail": exc.detail})
    except Exception as exc:  # noqa: BLE001 - a node's failure is its state, never the run's
        return answer(State.ERROR, _("Erreur inattendue : %(detail)s") % {"detail": exc.__class__.__name__})

    status = response.status_code
    if status == 200:
        try:
            partial = response.json()
        except ValueError:
            return answer(State.ERROR, _("Agrégats refusés : la réponse n'est pas un document JSON."))
        signature = {name: response.headers[name] for name in SIGNATURE_HEADERS if name in response.headers}
        return answer(State.ANSWERED, partial=partial, signature=signature)
    if status == 202:
        try:
            document = response.json()
        except ValueError:
            document = {}
        document = document if isinstance(document, dict) else {}
        pending = document.get("pending")
        if isinstance(pending, int) and not isinstance(pending, bool):
            detail = ngettext(
                "En attente de l'approbation de %(count)s structure.",
                "En attente de l'approbation de %(count)s structures.",
                pending,
            ) % {"count": pending}
        else:
            detail = _("En attente de l'approbation des structures.")
        if isinstance(document.get("detail"), str) and document["detail"]:
            detail += " " + document["detail"][:500]
        return answer(State.AWAITING, detail)
    if status == 409:
        return answer(
            State.ERROR,
            _("Le nœud a déjà reçu une autre demande pour cette campagne (%(detail)s).")
            % {"detail": _body_detail(response)},
        )
    if status == 400:
        return answer(State.ERROR, _("Demande refusée par le nœud : %(detail)s") % {"detail": _body_detail(response)})
    return answer(State.ERROR, _("Réponse inattendue du nœud : %(detail)s") % {"detail": _body_detail(response)})


def _ask_worker(
    queue: Queue[str], answers: Queue[NodeAnswer], body: Mapping[str, Any], timeout: float, starts: dict[str, float]
) -> None:
    """A fan-out thread: ask nodes from `queue` until it is empty, put each answer on `answers`,
    then close the database connections this thread opened (peer keys, nonces) — once, not after
    every node: a new connection per node cost a few milliseconds each."""
    try:
        while True:
            try:
                node = queue.get_nowait()
            except Empty:
                return
            starts[node] = time.monotonic()
            try:
                answer = ask_node(node, body, timeout=timeout)
            except Exception as exc:  # noqa: BLE001 - ask_node never raises; belt and braces
                answer = NodeAnswer(
                    node, State.ERROR, 0, _("Erreur inattendue : %(detail)s") % {"detail": exc.__class__.__name__}
                )
            answers.put(answer)
    finally:
        connections.close_all()


# ---------------------------------------------------------------------------- checking a partial


class PartialError(ValueError):
    """A partial that cannot be counted; the message is French."""


@dataclass
class CellSum:
    """A cell of one or several partials: summed values and contributors, the largest single
    structure's contribution per measure."""

    values: dict[str, int | Decimal]
    contributors: int
    largest: dict[str, int | Decimal]


#: One partial's or the combination's cells: grouping (its dimensions) -> key -> cell.
Groupings = dict[tuple[str, ...], dict[secrecy.Key, CellSum]]


def _number(measure: str, value: Any, where: str) -> int | Decimal:
    if measure in AMOUNTS:
        if not isinstance(value, str) or not _AMOUNT.fullmatch(value):
            raise PartialError(
                _("%(where)s : le montant « %(measure)s » doit être une chaîne décimale (reçu %(value)s).")
                % {"where": where, "measure": measure, "value": repr(value)[:40]}
            )
        return Decimal(value).quantize(Decimal("0.01"))
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise PartialError(
            _("%(where)s : « %(measure)s » doit être un entier positif ou nul (reçu %(value)s).")
            % {"where": where, "measure": measure, "value": repr(value)[:40]}
        )
    return value


def _measures_of_cell(document: Any, name: str, measures: Sequence[str], where: str) -> dict[str, int | Decimal]:
    values = document.get(name) if isinstance(document, dict) else None
    if not isinstance(values, dict):
        raise PartialError(_("%(where)s : « %(name)s » manque.") % {"where": where, "name": name})
    unknown = sorted(str(key) for key in values if key not in MEASURES)
    if unknown:
        raise PartialError(_("%(where)s : mesure inconnue « %(name)s ».") % {"where": where, "name": unknown[0]})
    missing = [measure for measure in measures if measure not in values]
    if missing or len(values) != len(measures):
        raise PartialError(
            _("%(where)s : les mesures de « %(name)s » ne sont pas celles demandées.") % {"where": where, "name": name}
        )
    return {measure: _number(measure, values[measure], where) for measure in measures}


def _parse_grouping(
    document: Any, dimensions: Sequence[str], measures: Sequence[str], structures: int
) -> tuple[tuple[str, ...], dict[secrecy.Key, CellSum]]:
    if not isinstance(document, dict) or not isinstance(document.get("dimensions"), list):
        raise PartialError(_("Un regroupement n'indique pas ses dimensions."))
    names = document["dimensions"]
    unknown = [name for name in names if not isinstance(name, str) or name not in DIMENSIONS]
    if unknown:
        raise PartialError(_("Dimension inconnue « %(name)s ».") % {"name": str(unknown[0])[:40]})
    grouping = tuple(str(name) for name in names)
    if grouping != tuple(name for name in dimensions if name in grouping):
        raise PartialError(_("Regroupement inattendu : %(names)s.") % {"names": ", ".join(grouping) or "total"})
    cells = document.get("cells")
    if not isinstance(cells, list):
        raise PartialError(
            _("Le regroupement %(names)s n'a pas de cellules.") % {"names": ", ".join(grouping) or "total"}
        )
    parsed: dict[secrecy.Key, CellSum] = {}
    for cell in cells:
        key_document = cell.get("key") if isinstance(cell, dict) else None
        if not isinstance(key_document, dict) or set(key_document) != set(grouping):
            raise PartialError(
                _("Une cellule du regroupement %(names)s n'a pas la clé attendue.")
                % {"names": ", ".join(grouping) or "total"}
            )
        key = tuple(key_document[name] for name in grouping)
        if any(value is not None and not isinstance(value, str) for value in key):
            raise PartialError(_("Une valeur de dimension n'est ni un texte ni null : %(key)s.") % {"key": key})
        where = _("cellule %(key)s") % {"key": "/".join("∅" if v is None else str(v) for v in key) or "total"}
        if key in parsed:
            raise PartialError(_("%(where)s : cellule en double.") % {"where": where})
        contributors = cell.get("contributors")
        if isinstance(contributors, bool) or not isinstance(contributors, int) or not 0 <= contributors <= structures:
            raise PartialError(
                _("%(where)s : nombre de structures contributrices invalide (%(value)s).")
                % {"where": where, "value": repr(contributors)[:40]}
            )
        values = _measures_of_cell(cell, "values", measures, where)
        largest = _measures_of_cell(cell, "largest", measures, where)
        try:
            for measure in measures:
                secrecy.CellFigures(values[measure], contributors, largest[measure])
        except secrecy.SecrecyError:
            raise PartialError(
                _("%(where)s : valeurs, contributeurs et plus grande contribution incohérents.") % {"where": where}
            ) from None
        if grouping and contributors == 0:
            raise PartialError(_("%(where)s : cellule sans structure contributrice.") % {"where": where})
        parsed[key] = CellSum(values=values, contributors=contributors, largest=largest)
    return grouping, parsed


def _check_margins(groupings: Groupings, measures: Sequence[str]) -> None:
    """Every margin equals the sum of its cells (the relations secrecy relies on), with at least as
    many contributors as its largest part and at most their sum."""
    for grouping, cells in groupings.items():
        for position in range(len(grouping)):
            smaller = grouping[:position] + grouping[position + 1 :]
            parts: dict[secrecy.Key, list[CellSum]] = {}
            for key, cell in cells.items():
                parts.setdefault(key[:position] + key[position + 1 :], []).append(cell)
            margins = groupings[smaller]
            label = ", ".join(smaller) or "total"
            if not smaller and not cells:
                total = margins.get(())
                if total is not None and (total.contributors or any(total.values[m] for m in measures)):
                    raise PartialError(_("Le total du nœud n'est pas nul alors qu'il n'a aucune cellule."))
                continue
            if set(parts) != set(margins):
                raise PartialError(
                    _("Les cellules du regroupement %(label)s ne correspondent pas à celles de %(full)s.")
                    % {"label": label, "full": ", ".join(grouping)}
                )
            for key, members in parts.items():
                margin = margins[key]
                sums = catalogue.combine(member.values for member in members)
                contributors = [member.contributors for member in members]
                if (
                    any(sums[measure] != margin.values[measure] for measure in measures)
                    or not max(contributors) <= margin.contributors <= sum(contributors)
                    or any(margin.largest[m] < max(member.largest[m] for member in members) for m in measures)
                ):
                    raise PartialError(
                        _("Le regroupement %(label)s n'est pas la somme de %(full)s (clé %(key)s).")
                        % {"label": label, "full": ", ".join(grouping), "key": key}
                    )


def _as_of(value: Any) -> dt.datetime:
    if isinstance(value, str):
        try:
            moment = dt.datetime.fromisoformat(value.strip())
        except ValueError:
            moment = None
        if moment is not None and moment.tzinfo is not None:
            return moment
    raise PartialError(
        _("« as_of » doit être une date et heure ISO 8601 avec fuseau (reçu %(value)s).") % {"value": repr(value)[:40]}
    )


def check_partial(
    partial: Any, *, campaign: Campaign, node: str, measures: Sequence[str]
) -> tuple[dt.datetime, Groupings]:
    """The partial's `as_of` and its parsed groupings, or `PartialError` (French) when it is not
    the answer to this campaign's request from this node, or not consistent (see the module
    docstring). The overlap with other nodes is `check_overlap`'s."""
    if not isinstance(partial, dict):
        raise PartialError(_("La réponse n'est pas un objet JSON."))
    if str(partial.get("campaign", "")) != str(campaign.pk):
        raise PartialError(
            _("Agrégats d'une autre campagne (%(campaign)s).") % {"campaign": str(partial.get("campaign"))[:60]}
        )
    if normalise(str(partial.get("node") or "")) != normalise(node):
        raise PartialError(_("Le nœud se présente comme %(node)s.") % {"node": str(partial.get("node"))[:200]})
    period = partial.get("period")
    expected_period = {"start": campaign.period_start.isoformat(), "end": campaign.period_end.isoformat()}
    if not isinstance(period, dict) or {k: period.get(k) for k in ("start", "end")} != expected_period:
        raise PartialError(_("La période des agrégats n'est pas celle demandée."))
    dimensions = list(campaign.dimensions or [])
    received = partial.get("dimensions")
    if not isinstance(received, list):
        raise PartialError(_("« dimensions » manque."))
    unknown = [name for name in received if not isinstance(name, str) or name not in DIMENSIONS]
    if unknown:
        raise PartialError(_("Dimension inconnue « %(name)s ».") % {"name": str(unknown[0])[:40]})
    if received != dimensions:
        raise PartialError(_("Les dimensions des agrégats ne sont pas celles demandées."))
    announced = partial.get("measures")
    if not isinstance(announced, list):
        raise PartialError(_("« measures » manque."))
    unknown = [name for name in announced if not isinstance(name, str) or name not in MEASURES]
    if unknown:
        raise PartialError(_("Mesure inconnue « %(name)s ».") % {"name": str(unknown[0])[:40]})
    if sorted(announced) != sorted(measures):
        raise PartialError(_("Les mesures des agrégats ne sont pas celles demandées."))
    structures = partial.get("structures")
    if (
        not isinstance(structures, list)
        or not all(isinstance(uri, str) and uri for uri in structures)
        or len(set(structures)) != len(structures)
    ):
        raise PartialError(_("« structures » doit être la liste des structures comptées, sans doublon."))
    as_of = _as_of(partial.get("as_of"))
    raw = partial.get("groupings")
    if not isinstance(raw, list):
        raise PartialError(_("« groupings » manque."))
    groupings: Groupings = {}
    for document in raw:
        grouping, cells = _parse_grouping(document, dimensions, measures, len(structures))
        if grouping in groupings:
            raise PartialError(_("Regroupement en double : %(names)s.") % {"names": ", ".join(grouping) or "total"})
        groupings[grouping] = cells
    if set(groupings) != set(groupings_of(dimensions)):
        raise PartialError(_("Il manque des regroupements (un par sous-ensemble des dimensions)."))
    if set(groupings[()]) != {()}:
        raise PartialError(_("Le total du nœud manque."))
    _check_margins(groupings, measures)
    return as_of, groupings


def check_overlap(campaign: Campaign, node: str, structures: Iterable[str]) -> None:
    """`PartialError` when a structure is already counted by another ANSWERED node of the campaign."""
    mine = set(structures)
    others = (
        CampaignNode.objects.filter(campaign=campaign, state=State.ANSWERED)
        .exclude(node=node)
        .order_by("node")
        .values_list("node", "name", "partial__structures")  # not the whole partials
    )
    for other, name, counted in others:
        shared = sorted(mine & set(counted if isinstance(counted, list) else []))
        if shared:
            raise PartialError(
                _("Structure déjà comptée par le nœud %(node)s : %(uri)s.") % {"node": name or other, "uri": shared[0]}
            )


def record_answer(campaign_id: Any, answer: NodeAnswer, *, measures: Sequence[str] | None = None) -> str:
    """Write one node's answer (from the calling thread, one transaction) and return the node's
    state: a 200's partial is checked (`check_partial`, `check_overlap`) and the node is ANSWERED,
    or ERROR with the reason and nothing counted. An ANSWERED node is left as it is (one partial
    per node: re-running never double counts). `measures`: the campaign's (computed once by a run)."""
    now = timezone.now()
    with transaction.atomic():
        campaign = Campaign.objects.select_for_update().get(pk=campaign_id)
        row = CampaignNode.objects.select_for_update().filter(campaign=campaign, node=answer.node).first()
        if row is None or row.state == State.ANSWERED:
            return str(row.state) if row is not None else ""
        row.elapsed_ms = max(0, answer.elapsed_ms)
        row.answered_at = now if answer.state != State.TIMEOUT else None
        row.partial, row.as_of, row.signature = None, None, {}
        row.state, row.detail = answer.state, answer.detail
        if answer.state == State.ANSWERED:
            if measures is None:
                measures = measures_needed(definitions_of(campaign))
            try:
                as_of, _groupings = check_partial(answer.partial, campaign=campaign, node=row.node, measures=measures)
                check_overlap(campaign, row.node, answer.partial["structures"])
            except PartialError as exc:
                row.state = State.ERROR
                row.detail = _("Agrégats refusés, non comptés : %(reason)s") % {"reason": str(exc)}
            except DatabaseError:
                raise
            except Exception as exc:  # noqa: BLE001 - whatever a node sends, it is its error, never the run's
                row.state = State.ERROR
                row.detail = _("Agrégats refusés, non comptés : réponse inexploitable (%(error)s).") % {
                    "error": exc.__class__.__name__
                }
            else:
                row.partial, row.as_of, row.signature, row.detail = answer.partial, as_of, answer.signature, ""
        row.save()
    return str(row.state)


def _mark_asked(campaign_id: Any, nodes: Sequence[str]) -> None:
    CampaignNode.objects.filter(campaign_id=campaign_id, node__in=list(nodes)).exclude(state=State.ANSWERED).update(
        state=State.ASKED, asked_at=timezone.now(), attempts=F("attempts") + 1, detail=""
    )


# ---------------------------------------------------------------------------- running


def run_campaign(campaign_id: Any) -> dict[str, Any]:
    """Ask every node of the campaign that has not answered, record each answer as it comes,
    publish, and end DONE (every node answered) or PARTIAL. Does nothing while another run holds
    the lease (see the module docstring)."""
    if not catalogue.is_ministry_node():
        return {"status": "ignored", "reason": "not a ministry node"}
    campaign = Campaign.objects.filter(pk=campaign_id).first()
    if campaign is None or campaign.state == Campaign.State.DRAFT:
        return {"status": "ignored", "reason": "unknown or not launched"}
    asked: list[str] = []
    if not _take_lease(campaign.pk, timezone.now()):
        return {"status": "busy", "campaign": str(campaign.pk)}
    from federation.membership import trusted_peers

    try:
        members = {normalise(peer.base_url) for peer in trusted_peers(STRUCTURE_ROLE)}
        to_ask = list(campaign.nodes.exclude(state=State.ANSWERED).order_by("node").values_list("node", flat=True))
        gone = [node for node in to_ask if node not in members]
        for node in gone:
            record_answer(
                campaign.pk,
                NodeAnswer(node, State.ERROR, 0, _("Ce nœud n'est plus un membre « structure » de la fédération.")),
            )
        asked = [node for node in to_ask if node in members]
        if asked:
            _mark_asked(campaign.pk, asked)
            _fan_out(campaign, asked)
        publish(campaign)
    finally:
        state = _finish(campaign.pk)
    answered = campaign.nodes.filter(state=State.ANSWERED).count()
    return {"campaign": str(campaign.pk), "state": state, "asked": len(asked), "answered": answered}


def _fan_out(campaign: Campaign, nodes: Sequence[str]) -> None:
    """Ask the nodes in parallel (INDICATORS_CAMPAIGN_CONCURRENCY threads taking nodes from a
    queue); record each answer from this thread as it arrives; a node past its time is recorded
    TIMEOUT and its thread abandoned (it stops at its own HTTP timeout)."""
    body = request_body(campaign)
    measures = measures_needed(definitions_of(campaign))
    timeout = float(settings.INDICATORS_CAMPAIGN_TIMEOUT)
    workers = max(1, min(int(settings.INDICATORS_CAMPAIGN_CONCURRENCY), len(nodes)))
    queue: Queue[str] = Queue()
    answers: Queue[NodeAnswer] = Queue()
    for node in nodes:
        queue.put(normalise(node))
    starts: dict[str, float] = {}
    for index in range(workers):
        threading.Thread(
            target=_ask_worker,
            args=(queue, answers, body, timeout, starts),
            name=f"campaign-{index}",
            daemon=True,
        ).start()
    pending = {normalise(node) for node in nodes}
    renewed = time.monotonic()
    while pending:
        try:
            answer = answers.get(timeout=POLL_EVERY)
        except Empty:
            answer = None
        if answer is not None and answer.node in pending:
            pending.discard(answer.node)
            record_answer(campaign.pk, answer, measures=measures)
        now = time.monotonic()
        for node in sorted(pending):
            started = starts.get(node)
            if started is not None and now - started > timeout + ABANDON_GRACE:
                pending.discard(node)
                detail = _("Délai dépassé (%(seconds)s s) : le nœud n'a pas répondu à temps.") % {
                    "seconds": f"{timeout:g}"
                }
                record_answer(
                    campaign.pk, NodeAnswer(node, State.TIMEOUT, int((now - started) * 1000), detail), measures=measures
                )
        if now - renewed >= RENEW_EVERY:
            _renew_lease(campaign.pk)
            renewed = now


def ask_campaign_node(campaign_id: Any, node: str) -> dict[str, Any]:
    """Ask one node of the campaign again (its administrators have decided), unless it has
    answered already; then publish again. The campaign's state is updated unless a run holds the
    lease (that run ends it)."""
    if not catalogue.is_ministry_node():
        return {"status": "ignored", "reason": "not a ministry node"}
    url = normalise(node)
    campaign = Campaign.objects.filter(pk=campaign_id).first()
    row = CampaignNode.objects.filter(campaign_id=campaign_id, node=url).first() if campaign else None
    if campaign is None or row is None:
        return {"status": "ignored", "reason": "not a node of that campaign"}
    if row.state == State.ANSWERED:
        return {"status": "ignored", "reason": "already answered", "state": row.state}
    _mark_asked(campaign.pk, [url])
    answer = ask_node(url, request_body(campaign))
    state = record_answer(campaign.pk, answer)
    publish(campaign)
    with transaction.atomic():
        locked = Campaign.objects.select_for_update().get(pk=campaign.pk)
        if locked.state != Campaign.State.DRAFT and not _lease_held(locked, timezone.now()):
            locked.state = _ended_state(locked)
            locked.finished_at = timezone.now()
            locked.save(update_fields=["state", "finished_at"])
    return {"campaign": str(campaign.pk), "node": url, "state": state}


# ---------------------------------------------------------------------------- combining


def _parse_checked(partial: Mapping[str, Any], dimensions: Sequence[str], measures: Sequence[str]) -> Groupings:
    groupings: Groupings = {}
    structures = len(partial.get("structures") or [])
    for document in partial.get("groupings") or []:
        grouping, cells = _parse_grouping(document, dimensions, measures, structures)
        groupings[grouping] = cells
    return groupings


def combine(partials: Iterable[Mapping[str, Any]], dimensions: Sequence[str], measures: Sequence[str]) -> Groupings:
    """The partials (already checked) added up per grouping and cell: values and contributors
    summed (each structure is counted by one node), the largest contribution the max."""
    combined: Groupings = {grouping: {} for grouping in groupings_of(dimensions)}
    for partial in partials:
        for grouping, cells in _parse_checked(partial, dimensions, measures).items():
            target = combined.setdefault(grouping, {})
            for key, cell in cells.items():
                known = target.get(key)
                merged = combine_cells([asdict(cell)] if known is None else [asdict(known), asdict(cell)], measures)
                target[key] = CellSum(merged["values"], merged["contributors"], merged["largest"])
    return combined


def _tables(combined: Groupings, dimensions: Sequence[str], measures: Sequence[str]) -> dict[str, secrecy.SecrecyTable]:
    """One secrecy table per measure: the full grouping's cells with the margins taken from the
    smaller groupings (TOTAL where a dimension is summed); 0 dimensions: the one cell alone."""
    full = tuple(dimensions)
    total_key: secrecy.Key = tuple(secrecy.TOTAL for _name in full)
    zero = zero_document(measures)
    total = combined.get((), {}).get(()) or CellSum(zero["values"], zero["contributors"], zero["largest"])

    def figures(cell: CellSum, measure: str) -> secrecy.CellFigures:
        return secrecy.CellFigures(cell.values[measure], cell.contributors, cell.largest[measure])

    tables: dict[str, secrecy.SecrecyTable] = {}
    inner = combined.get(full, {}) if full else {}
    for measure in measures:
        if not inner:
            tables[measure] = secrecy.SecrecyTable(cells={total_key: figures(total, measure)})
            continue
        margins: dict[secrecy.Key, secrecy.CellFigures] = {}
        for grouping, cells in combined.items():
            if len(grouping) == len(full):
                continue
            for key, cell in cells.items():
                values = dict(zip(grouping, key, strict=True))
                margin = tuple(values.get(name, secrecy.TOTAL) for name in full)
                margins[margin] = figures(cell, measure)
        cells_of_measure = {key: figures(cell, measure) for key, cell in inner.items()}
        tables[measure] = secrecy.cross_table(cells_of_measure, margins)
    return tables


# ---------------------------------------------------------------------------- publishing

#: Catalogue units -> the unit of a published table.
_UNITS: dict[str, str] = {
    str(IndicatorDefinition.Unit.PERCENT): "percent",
    str(IndicatorDefinition.Unit.EUROS): "euros",
    str(IndicatorDefinition.Unit.EUROS_PER_TICKET): "euros",
}


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value)


def _plain_key(key: secrecy.Key) -> list[Any]:
    return [value.value if isinstance(value, secrecy.Margin) else value for value in key]


def _indicator(
    definition: IndicatorDefinition, protected: Mapping[str, secrecy.ProtectedTable] | None
) -> dict[str, Any]:
    spec = catalogue.check_computation(definition.computation)
    decimals = (2 if spec["measure"] in AMOUNTS else 0) if spec["op"] == "sum" else int(spec["decimals"])
    document: dict[str, Any] = {
        "code": definition.code,
        "version": definition.version,
        "label": definition.label,
        "unit": _UNITS.get(str(definition.unit), "count"),
        "unit_label": str(definition.get_unit_display()),
        "decimals": decimals,
        "cells": [],
    }
    if protected is None:
        return document
    cells: list[dict[str, Any]] = []
    if spec["op"] == "sum":
        table = protected[spec["measure"]]
        for key in sorted(table.cells, key=secrecy.sort_key):
            cell = table.cells[key]
            value = None if cell.hidden else _text(cell.value)
            cells.append({"key": _plain_key(key), "value": value, "status": cell.status, "reason": cell.reason})
    else:
        numerator, denominator = protected[spec["num"]], protected[spec["den"]]
        ratio = secrecy.protect_ratio(numerator, denominator)
        for key in sorted(ratio.cells, key=secrecy.sort_key):
            cell = ratio.cells[key]
            value = None
            if not cell.hidden and cell.value is not None:
                value = _text(
                    catalogue.evaluate(
                        definition,
                        {spec["num"]: numerator.cells[key].value, spec["den"]: denominator.cells[key].value},
                    )
                )
            cells.append({"key": _plain_key(key), "value": value, "status": cell.status, "reason": cell.reason})
    document["cells"] = cells
    return document


def publish(campaign: Campaign) -> dict[str, Any]:
    """Combine the ANSWERED partials, apply statistical secrecy, write `campaign.results` and
    `published_at` (see the module docstring and docs/indicators.md, "Published results" for the
    document), journal it.
    Idempotent: the same answered partials give the same tables."""
    now = timezone.now()
    definitions = definitions_of(campaign)
    measures = measures_needed(definitions)
    dimensions = list(campaign.dimensions or [])
    rows = list(CampaignNode.objects.filter(campaign=campaign).order_by("name", "node"))
    answered = [row for row in rows if row.state == State.ANSWERED and row.partial]
    protected: dict[str, secrecy.ProtectedTable] | None = None
    if answered:
        combined = combine([row.partial or {} for row in answered], dimensions, measures)
        protected = secrecy.protect_jointly(_tables(combined, dimensions, measures), secrecy.DEFAULT_RULES)
    moments = [row.as_of for row in answered if row.as_of is not None]
    results: dict[str, Any] = {
        "computed_at": _iso(now),
        "as_of": _iso(min(moments)) if moments else None,
        "campaign": str(campaign.pk),
        "period": {"start": campaign.period_start.isoformat(), "end": campaign.period_end.isoformat()},
        "dimensions": dimensions,
        "nodes": {"answered": len(answered), "total": len(rows)},
        "provenance": [
            {
                "node": row.node,
                "name": row.name,
                "as_of": _iso(row.as_of),
                "structures": len((row.partial or {}).get("structures") or []),
            }
            for row in answered
        ],
        "missing": [
            {"node": row.node, "name": row.name, "state": row.state, "detail": row.detail}
            for row in rows
            if row.state != State.ANSWERED
        ],
        "rules": {
            "min_contributors": secrecy.DEFAULT_RULES.min_contributors,
            "dominance": str(secrecy.DEFAULT_RULES.dominance),
        },
        "indicators": [_indicator(definition, protected) for definition in definitions],
    }
    hidden = {
        status: sum(1 for indicator in results["indicators"] for cell in indicator["cells"] if cell["status"] == status)
        for status in (secrecy.PRIMARY, secrecy.SECONDARY)
    }
    with transaction.atomic():
        Campaign.objects.filter(pk=campaign.pk).update(results=results, published_at=now)
        journal(
            actor=_actor(None),
            action="indicators.campaign_published",
            decision="permit",
            purpose="reporting",
            record_type=RECORD_TYPE,
            record_ids=[campaign.pk],
            stream="admin",
            details={
                "title": campaign.title,
                "nodes": results["nodes"],
                "as_of": results["as_of"],
                "indicators": [f"{d.code} v{d.version}" for d in definitions],
                "hidden": hidden,
            },
            now=now,
        )
    campaign.results, campaign.published_at = results, now
    return results


# ---------------------------------------------------------------------------- progress


def progress(campaign: Campaign) -> dict[str, Any]:
    """How far the campaign is: its state, how many nodes answered out of how many, each node's
    state (in French too), detail, time taken and as-of."""
    rows = list(CampaignNode.objects.filter(campaign_id=campaign.pk).order_by("name", "node"))
    return {
        "state": campaign.state,
        "answered": sum(1 for row in rows if row.state == State.ANSWERED),
        "total": len(rows),
        "nodes": [
            {
                "node": row.node,
                "name": row.name,
                "state": row.state,
                "state_label": str(row.get_state_display()),
                "detail": row.detail,
                "elapsed_ms": row.elapsed_ms,
                "as_of": _iso(row.as_of),
            }
            for row in rows
        ],
    }


# ---------------------------------------------------------------------------- the notice


@notices.handler(APPROVED_NOTICE)
def on_aggregate_approved(notice: dict[str, Any], sender: SignedPeer) -> str:
    """A structure node's administrators have decided on a campaign's request: when the signed
    sender is a structure member and a node of that campaign that has not answered, ask it again
    once the notice is recorded. Anything else is ignored (the outcome says why)."""
    if not catalogue.is_ministry_node():
        return "ignored: not a ministry node"
    if STRUCTURE_ROLE not in (sender.roles or ()):
        return "ignored: the sender is not a structure member"
    payload = notice.get("payload") or {}
    try:
        campaign_id = uuid.UUID(str(payload.get("campaign", "")))
    except ValueError:
        return "ignored: no campaign"
    node = normalise(sender.base_url)
    row = CampaignNode.objects.filter(campaign_id=campaign_id, node=node).first()
    if row is None:
        return "ignored: not a node of that campaign"
    if row.state == State.ANSWERED:
        return "ignored: already answered"
    _schedule(_ask_in_background, str(campaign_id), node)
    return "ask scheduled"
