"""The policy decision point (PDP): `decide` for one record, `filter_queryset` for a whole list.

`decide(subject, action, resource, context) -> Decision` answers in this order (the first that
applies wins):

1. the subject acts for the owner of the data, or is a superuser → permit ``owner``;
2. the owner blocks the subject or its organisation → deny ``refused`` with the generic sentence
   « Accès refusé. » (a block is never revealed);
3. the record is hidden from the subject → deny ``hidden`` (callers answer it as "not found");
4. an active break-glass access of the subject for that record (reads, not in dry runs) → permit
   ``break_glass`` with a ``journal`` obligation on the ``break_glass`` stream;
5. on a registry node, a professional who has not accepted the current terms of use → deny
   ``terms_not_accepted`` (the sentence says how to accept them);
6. an identified subject reading data of another owner that is not public without a purpose →
   deny ``purpose_required`` (the API answers 400 naming ``purpose``). Data the anonymous subject
   may read anyway (the public default) needs no purpose: asking for one would only push callers to
   drop their credentials;
7. the policy — the record's override, else the owner's active dataset policy, else the default
   (`policies.services.default_policy_doc`): a prohibition that applies → deny ``prohibited``; a
   permission that applies → permit ``policy_permits`` with its duties as obligations; otherwise
   deny with the most useful reason (licence standing, purpose, time window, daily count, else
   ``no_permission``).

A ``modify`` of a performance by a co-producer holding the django-guardian grant on it
(`dataspace.referentials.permissions`) is permitted with reason ``object_grant`` before step 7.

A subject coming from another node (a peer client: `Subject.node` is not this node) is denied
``no_agreement`` right after step 3 unless a data-sharing agreement of the owner in force covers
the dataset for it (`agreement_decision`, `dataspace.consent.agreements`); lists keep only the
owners whose agreements cover it. Fail closed: a record of nobody is never covered.

A person's directory entry (``directory-entry``) has its own rule after step 3, not the owner's
policy (`directory_entry_decision`): read only with a consent of the person in force (else
``hidden``: not found), by a licensed professional who accepted the terms, with a purpose; every
such read carries a ``journal`` obligation. Fail closed.

Counters: a permitted use under a rule with a ``count`` constraint increments `UsageCount`
(policy, rule index, subject key, day) with the row locked, so concurrent requests never exceed
the limit; dry runs (`Context.dry_run`, used by explain) read counters but never write them, never
journal and ignore break-glass.

`filter_queryset(subject, action, queryset, context)` compiles the same rules into one `Q`: the
policies' constraints are about the subject and the request, never the record's content, so the
answer is computed once per (policy, subject) and the database filters the whole queryset. The
returned `PermitInfo` says, per owner and per overridden record, which grant (obligations,
counters) let each returned record through.

Compiled policies are cached per process, keyed by `policies.services.policy_generation()`: one
cheap cache read per request, no query while no policy changed. The cache also knows which record
types have hidden records and whether any block exists, so that lists add those subqueries only
when they can exclude something; saving or deleting a block or a hidden record refreshes it at
once in this process and, through the generation bumped on commit, in the others.
"""

from __future__ import annotations

import datetime as dt
import threading
import uuid
import zoneinfo
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from django.conf import settings
from django.db import transaction
from django.db.models import Model, Q, QuerySet
from django.db.models.signals import post_delete, post_save
from django.utils import timezone
from django.utils.translation import gettext as _

from policies.decision import Decision, Obligation
from policies.language import ACTIONS, Constraint, PolicyDoc, Rule
from policies.subject import ANONYMOUS, Subject

#: Actions that read data: reading another owner's non-public data needs a purpose.
READ_ACTIONS: frozenset[str] = frozenset({"read", "search", "export", "aggregate"})
#: Roles of a staff membership that write the structure's data (as dataspace.api.permissions).
WRITE_ROLES: frozenset[str] = frozenset({"administrator", "editor"})
#: Left operands whose failure makes the licence standing the reason of a deny.
_LICENCE_OPERANDS = frozenset({"licensed", "licenceCategory"})
_TIME_OPERANDS = frozenset({"dateTime", "elapsedTime"})

PolicyScope = Literal["record", "dataset", "default"]


# ---------------------------------------------------------------------------- inputs


@dataclass(frozen=True)
class ResourceRef:
    """A record named without loading it: its type, id and owner (None: nobody's)."""

    record_type: str
    record_id: uuid.UUID | None
    owner_id: uuid.UUID | None


@dataclass(frozen=True)
class Context:
    """The request around a decision."""

    #: The declared purpose (PURPOSES), "" when none was given.
    purpose: str = ""
    #: The request's instant (aware); None means `timezone.now()`.
    now: dt.datetime | None = None
    #: Who receives the data (organisation UUID as a string), for ``redistribute``.
    recipient: str = ""
    #: Explain: no counters written, no journal, no break-glass.
    dry_run: bool = False
    #: Apply the purpose rule (step 6). Explain without a purpose turns it off to show the policy.
    require_purpose: bool = True
    #: The compiled policies to decide with (a request reads them once); None: `policy_index()`.
    index: PolicyIndex | None = field(default=None, compare=False, repr=False)

    def at(self) -> dt.datetime:
        return self.now or timezone.now()


def as_context(context: Context | Mapping[str, Any] | None) -> Context:
    """A `Context` from a `Context`, a mapping of its fields, or None (defaults)."""
    if context is None:
        return Context()
    if isinstance(context, Context):
        return context
    return Context(**dict(context))


def node_day(moment: dt.datetime) -> dt.date:
    """The calendar day of `moment` in the node's time zone (licence validity is by day)."""
    return moment.astimezone(zoneinfo.ZoneInfo(str(settings.NODE_TIME_ZONE))).date()


def owner_of(record: Any) -> uuid.UUID | None:
    """Whose data a record is: its owner, or itself for an organisation that describes itself."""
    owner_id = getattr(record, "owner_id", None)
    if owner_id is None and getattr(record, "record_type", "") == "organisation":
        return record.pk
    return owner_id


def resource_ref(resource: Any) -> ResourceRef:
    if isinstance(resource, ResourceRef):
        return resource
    return ResourceRef(record_type=str(type(resource).record_type), record_id=resource.pk, owner_id=owner_of(resource))


# ---------------------------------------------------------------------------- compiled policies


@dataclass(frozen=True)
class CompiledPolicy:
    doc: PolicyDoc
    scope: PolicyScope
    #: The `Policy` row (counters need it); None for a default document.
    policy_id: uuid.UUID | None = None
    owner_id: uuid.UUID | None = None


@dataclass
class PolicyIndex:
    """Every active policy of the node, parsed once per policy generation."""

    generation: Any
    datasets: dict[str, dict[uuid.UUID, CompiledPolicy]] = field(default_factory=dict)
    records: dict[str, dict[uuid.UUID, CompiledPolicy]] = field(default_factory=dict)
    defaults: dict[str, CompiledPolicy] = field(default_factory=dict)
    #: Left operands used by some policy (e.g. "region": the subject needs its region).
    operands: frozenset[str] = frozenset()
    #: Record types with at least one hidden record, and whether any block exists: lists add the
    #: hidden-record and block subqueries only when they can exclude something.
    hidden_types: frozenset[str] = frozenset()
    any_block: bool = False

    def default(self, record_type: str) -> CompiledPolicy:
        compiled = self.defaults.get(record_type)
        if compiled is None:
            from policies.services import default_policy_doc

            compiled = CompiledPolicy(doc=default_policy_doc(record_type), scope="default")
            self.defaults[record_type] = compiled
        return compiled

    def policy_for(self, ref: ResourceRef) -> CompiledPolicy:
        if ref.record_id is not None:
            override = self.records.get(ref.record_type, {}).get(ref.record_id)
            if override is not None:
                return override
        if ref.owner_id is not None:
            dataset = self.datasets.get(ref.record_type, {}).get(ref.owner_id)
            if dataset is not None:
                return dataset
        return self.default(ref.record_type)


_index_lock = threading.Lock()
_index: PolicyIndex | None = None
#: Set when this process saved or deleted a block or hidden record (other processes learn it from
#: the policy generation, bumped on commit).
_controls_changed = False


def _on_control_change(**_kwargs: Any) -> None:
    global _controls_changed  # the per-process cache of compiled policies
    from policies.services import bump_policy_generation

    _controls_changed = True
    transaction.on_commit(bump_policy_generation)


for _signal in (post_save, post_delete):
    for _sender in ("policies.Block", "policies.HiddenRecord"):
        _signal.connect(_on_control_change, sender=_sender, dispatch_uid=f"pdp-{_signal}-{_sender}")


def _deny_all(uid: str) -> PolicyDoc:
    return PolicyDoc(uid=uid, rules=())


def _build_index(generation: Any) -> PolicyIndex:
    from policies.language import PolicyError
    from policies.models import Policy
    from policies.services import policy_doc

    index = PolicyIndex(generation=generation)
    operands: set[str] = set()
    for policy in Policy.objects.filter(active=True).select_related("owner"):
        try:
            doc = policy_doc(policy)
        except PolicyError:
            doc = _deny_all(policy.uri)  # a stored policy outside the profile: fail closed
        for rule in doc.rules:
            operands.update(constraint.left for constraint in rule.constraints)
        if policy.target_id is None:
            compiled = CompiledPolicy(doc=doc, scope="dataset", policy_id=policy.pk, owner_id=policy.owner_id)
            index.datasets.setdefault(policy.target_type, {})[policy.owner_id] = compiled
        else:
            compiled = CompiledPolicy(doc=doc, scope="record", policy_id=policy.pk, owner_id=policy.owner_id)
            index.records.setdefault(policy.target_type, {})[policy.target_id] = compiled
    index.operands = frozenset(operands)
    from policies.models import Block, HiddenRecord

    index.hidden_types = frozenset(HiddenRecord.objects.values_list("target_type", flat=True).distinct())
    index.any_block = Block.objects.exists()
    return index


def policy_index() -> PolicyIndex:
    """The compiled policies of the current generation (rebuilt only when a policy changed)."""
    global _index  # the per-process cache of compiled policies
    from policies.services import policy_generation

    global _controls_changed  # the per-process cache of compiled policies
    generation = policy_generation()
    current = _index
    if current is not None and current.generation == generation and not _controls_changed:
        return current
    with _index_lock:
        if _index is None or _index.generation != generation or _controls_changed:
            _controls_changed = False
            _index = _build_index(generation)
        return _index


def forget_compiled_policies() -> None:
    """Drop the per-process cache (tests that rewrite policies behind the generation's back)."""
    global _index  # the per-process cache of compiled policies
    with _index_lock:
        _index = None


# ---------------------------------------------------------------------------- sentences


def _date_text(moment: dt.datetime) -> str:
    local = moment.astimezone(zoneinfo.ZoneInfo(str(settings.NODE_TIME_ZONE)))
    return f"{local:%d/%m/%Y}"


def _purpose_list(values: Iterable[str]) -> str:
    return ", ".join(values)


def _sentence(code: str, **values: Any) -> str:
    """The French sentence of a reason code (translated at decision time)."""
    if code == "owner":
        return _("Vous agissez pour la structure propriétaire de ces données.")
    if code == "refused":
        return _("Accès refusé.")
    if code == "hidden":
        return _("Enregistrement introuvable.")
    if code == "break_glass":
        return _(
            "Accès d'urgence (bris de glace) justifié : la structure est alertée et l'accès est journalisé à part."
        )
    if code == "terms_not_accepted":
        return _(
            "Acceptez d'abord les conditions d'utilisation du registre (version %(version)s) : "
            "POST /api/v1/terms/accept, ou la page /conditions/."
        ) % {"version": values.get("version", "")}
    if code == "purpose_required":
        return _(
            "Indiquez la finalité de votre demande (paramètre purpose : %(purposes)s) pour lire les données "
            "d'une autre structure."
        ) % {"purposes": values.get("purposes", "")}
    if code == "prohibited":
        return _("La politique d'usage de ces données interdit cette utilisation (%(action)s).") % values
    if code == "policy_permits":
        return _("La politique d'usage de ces données permet cette utilisation (%(action)s).") % values
    if code == "object_grant":
        return _("La structure propriétaire vous a accordé ce droit sur cet enregistrement.")
    if code == "no_agreement":
        return _(
            "Aucun accord de partage en vigueur de la structure propriétaire ne couvre ces données pour votre nœud."
        )
    if code == "not_owner":
        return _("Seule la structure propriétaire (ou une structure qu'elle y autorise) peut modifier ces données.")
    if code == "purpose_not_allowed":
        if values.get("purpose"):
            return (
                _(
                    "La finalité « %(purpose)s » n'est pas admise par la politique d'usage ; finalités admises : "
                    "%(allowed)s."
                )
                % values
            )
        return _("La politique d'usage n'admet que ces finalités : %(allowed)s (paramètre purpose).") % values
    if code == "outside_time_window":
        if values.get("until"):
            return _("La politique d'usage n'autorise plus cette utilisation depuis le %(until)s.") % values
        if values.get("since"):
            return _("La politique d'usage n'autorise cette utilisation qu'à partir du %(since)s.") % values
        return _("La politique d'usage n'autorise pas cette utilisation à cette date.")
    if code == "count_exceeded":
        return (
            _(
                "Le nombre d'utilisations par jour permis par la politique d'usage (%(limit)s) est atteint ; "
                "réessayez demain."
            )
            % values
        )
    return _("La politique d'usage de ces données ne vous permet pas cette utilisation (%(action)s).") % {
        "action": values.get("action", "")
    }


def _deny(code: str, policy_uid: str | None = None, **values: Any) -> Decision:
    return Decision(effect="deny", reason_code=code, reason=_sentence(code, **values), policy_uid=policy_uid)


# ---------------------------------------------------------------------------- constraints


def _values(right: Any) -> set[str]:
    items = right if isinstance(right, (tuple, list, set, frozenset)) else (right,)
    return {str(item).rstrip("/").lower() if isinstance(item, str) else str(item) for item in items}


def _in_set(have: set[str], operator: str, right: Any) -> bool:
    wanted = _values(right)
    found = bool({value.rstrip("/").lower() for value in have} & wanted)
    if operator in ("eq", "isAnyOf"):
        return found
    if operator in ("neq", "isNoneOf"):
        return not found
    return False


def _ordered(value: Any, operator: str, right: Any) -> bool:
    if isinstance(right, dt.datetime) and right.tzinfo is None:
        right = right.replace(tzinfo=dt.UTC)
    comparisons = {
        "lt": lambda: value < right,
        "lteq": lambda: value <= right,
        "gt": lambda: value > right,
        "gteq": lambda: value >= right,
        "eq": lambda: value == right,
        "neq": lambda: value != right,
    }
    compare = comparisons.get(operator)
    return bool(compare()) if compare is not None else False


def subject_organisations(subject: Subject) -> set[uuid.UUID]:
    """The organisations a subject speaks for: those it acts for and its professional account's."""
    organisations = set(subject.acts_for)
    if subject.professional is not None and subject.professional.organisation_id is not None:
        organisations.add(subject.professional.organisation_id)
    return organisations


def licensed_categories(subject: Subject, day: dt.date) -> set[int]:
    """Categories of the licences in force on `day` for a verified professional account (else none)."""
    profile = subject.professional
    if profile is None or not getattr(profile, "verified", True):
        return set()
    return {licence.category for licence in subject.licences_in_force(day)}


@dataclass(frozen=True)
class _Request:
    """One evaluation: the subject and request facts the constraints read."""

    subject: Subject
    action: str
    context: Context
    owner_id: uuid.UUID | None
    now: dt.datetime
    day: dt.date
    #: An identified subject that gave no purpose yet: purpose constraints of permissions count as
    #: met, so that the caller is asked for a purpose instead of being refused.
    purpose_pending: bool = False


def _holds(constraint: Constraint, request: _Request, doc: PolicyDoc, *, permission: bool) -> bool:
    left, operator, right = constraint.left, constraint.operator, constraint.right
    subject = request.subject
    if left == "licensed":
        return _ordered(bool(licensed_categories(subject, request.day)), operator, bool(right))
    if left == "licenceCategory":
        return _in_set({str(c) for c in licensed_categories(subject, request.day)}, operator, right)
    if left == "organisation":
        return _in_set({str(pk) for pk in subject_organisations(subject)}, operator, right)
    if left == "node":
        return _in_set({subject.node} if subject.node else set(), operator, right)
    if left == "staffRole":
        role = subject.staff_roles.get(request.owner_id) if request.owner_id is not None else None
        return _in_set({role} if role else set(), operator, right)
    if left == "purpose":
        if request.purpose_pending and not request.context.purpose:
            return permission  # asked for later (400); a prohibition on a purpose does not apply yet
        purpose = request.context.purpose
        return _in_set({purpose} if purpose else set(), operator, right)
    if left == "dateTime":
        return _ordered(request.now, operator, right)
    if left == "elapsedTime":
        if doc.valid_from is None:
            return False
        return _ordered(request.now - doc.valid_from, operator, right)
    if left == "recipient":
        recipient = request.context.recipient
        return _in_set({recipient} if recipient else set(), operator, right)
    if left == "region":
        return _in_set({subject.region} if subject.region else set(), operator, right)
    return False  # "count" is checked apart; anything else is outside the profile: never holds


# ---------------------------------------------------------------------------- counters


def _count_limit(constraints: Iterable[Constraint]) -> int | None:
    """The number of uses per day a rule allows (the tightest of its count constraints)."""
    limits = [int(c.right) if c.operator == "lteq" else int(c.right) - 1 for c in constraints if c.left == "count"]
    return min(limits) if limits else None


def used_today(policy_id: uuid.UUID, rule_index: int, subject_key: str, day: dt.date) -> int:
    from policies.models import UsageCount

    value = (
        UsageCount.objects.filter(policy_id=policy_id, rule_index=rule_index, subject_key=subject_key, day=day)
        .values_list("count", flat=True)
        .first()
    )
    return int(value or 0)


def count_use(policy_id: uuid.UUID, rule_index: int, subject_key: str, day: dt.date, limit: int | None) -> bool:
    """Take one use under the rule if the daily limit allows it (row locked); False when reached."""
    from policies.models import UsageCount

    with transaction.atomic():
        counter, _created = UsageCount.objects.select_for_update().get_or_create(
            policy_id=policy_id, rule_index=rule_index, subject_key=subject_key, day=day
        )
        if limit is not None and counter.count + 1 > limit:
            return False
        counter.count += 1
        counter.save(update_fields=["count"])
    return True


# ---------------------------------------------------------------------------- evaluating one policy


@dataclass(frozen=True)
class Grant:
    """A permit for one policy and subject, with what it obliges and which counters it uses."""

    decision: Decision
    #: The anonymous subject would be permitted too (no purpose needed).
    public: bool = False
    policy: CompiledPolicy | None = None
    #: (rule index, daily limit) of the count-limited rule that permitted.
    counted: tuple[tuple[int, int | None], ...] = ()


def _obligations(rule: Rule) -> tuple[Obligation, ...]:
    return tuple(Obligation(action=duty.action, value=duty.value) for duty in rule.duties)


def _most_useful_deny(
    failures: list[tuple[Rule, list[Constraint]]], request: _Request, compiled: CompiledPolicy
) -> Decision:
    uid = compiled.doc.uid
    if not failures:
        return _deny("no_permission", uid, action=request.action)

    def rank(item: tuple[Rule, list[Constraint]]) -> tuple[int, int]:
        lefts = {c.left for c in item[1]}
        kind = (
            0
            if lefts <= _LICENCE_OPERANDS
            else 1
            if lefts == {"purpose"}
            else 2
            if lefts <= _TIME_OPERANDS
            else 3
            if lefts == {"count"}
            else 4
        )
        return (kind, len(item[1]))  # what the subject can act on first (licence, purpose, date…)

    rule, failed = min(failures, key=rank)
    lefts = {c.left for c in failed}
    if lefts <= _LICENCE_OPERANDS:
        from dataspace.directory.services import licence_standing

        categories: tuple[int, ...] = ()
        for constraint in rule.constraints:
            if constraint.left == "licenceCategory" and constraint.operator in ("eq", "isAnyOf"):
                right = constraint.right if isinstance(constraint.right, (tuple, list)) else (constraint.right,)
                categories += tuple(int(value) for value in right)
        licensed, code, sentence = licence_standing(request.subject.professional, request.day, categories)
        if not licensed:
            return Decision(effect="deny", reason_code=code, reason=str(sentence), policy_uid=uid)
    if lefts == {"purpose"}:
        allowed: list[str] = []
        for constraint in failed:
            allowed += sorted(_values(constraint.right))
        return _deny("purpose_not_allowed", uid, purpose=request.context.purpose, allowed=_purpose_list(allowed))
    if lefts <= _TIME_OPERANDS:
        constraint = failed[0]
        if constraint.left == "dateTime" and constraint.operator in ("lt", "lteq"):
            return _deny("outside_time_window", uid, until=_date_text(constraint.right))
        if constraint.left == "dateTime":
            return _deny("outside_time_window", uid, since=_date_text(constraint.right))
        if compiled.doc.valid_from is not None:
            return _deny("outside_time_window", uid, until=_date_text(compiled.doc.valid_from + constraint.right))
        return _deny("outside_time_window", uid)
    if lefts == {"count"}:
        return _deny("count_exceeded", uid, limit=_count_limit(failed))
    return _deny("no_permission", uid, action=request.action)


def evaluate(compiled: CompiledPolicy, request: _Request, *, take_count: bool) -> Grant | Decision:
    """The policy's answer: a `Grant` (permit) or a deny `Decision`.

    `take_count`: a count-limited permission takes its use now (atomically); otherwise counters are
    only read and the grant lists them in `counted` for the caller to take after the answer.
    """
    doc = compiled.doc
    action = request.action
    for rule in doc.rules:
        if (
            rule.kind == "prohibition"
            and action in rule.actions
            and all(_holds(c, request, doc, permission=False) for c in rule.constraints if c.left != "count")
        ):
            limit = _count_limit(rule.constraints)
            if limit is None or compiled.policy_id is None:
                return _deny("prohibited", doc.uid, action=action)
            used = used_today(compiled.policy_id, doc.rules.index(rule), request.subject.key, request.day)
            if used + 1 > limit:
                return _deny("prohibited", doc.uid, action=action)
    failures: list[tuple[Rule, list[Constraint]]] = []
    for index, rule in enumerate(doc.rules):
        if rule.kind != "permission" or action not in rule.actions:
            continue
        failed = [c for c in rule.constraints if c.left != "count" and not _holds(c, request, doc, permission=True)]
        limit = _count_limit(rule.constraints)
        counted: tuple[tuple[int, int | None], ...] = ()
        if not failed and limit is not None:
            counts = [c for c in rule.constraints if c.left == "count"]
            if compiled.policy_id is None:
                failed = counts  # a counter needs a stored policy: fail closed
            elif take_count:
                if not count_use(compiled.policy_id, index, request.subject.key, request.day, limit):
                    failed = counts
            elif used_today(compiled.policy_id, index, request.subject.key, request.day) + 1 > limit:
                failed = counts
            else:
                counted = ((index, limit),)
        if not failed:
            decision = Decision(
                effect="permit",
                reason_code="policy_permits",
                reason=_sentence("policy_permits", action=action),
                obligations=_obligations(rule),
                policy_uid=doc.uid,
            )
            return Grant(decision=decision, policy=compiled, counted=counted)
        failures.append((rule, failed))
    return _most_useful_deny(failures, request, compiled)


def is_public(compiled: CompiledPolicy, action: str, now: dt.datetime) -> bool:
    """Would the anonymous subject, without purpose, be permitted (count-limited rules excluded)?"""
    doc = compiled.doc
    request = _Request(
        subject=ANONYMOUS, action=action, context=Context(now=now), owner_id=None, now=now, day=node_day(now)
    )
    for rule in doc.rules:
        if (
            rule.kind == "prohibition"
            and action in rule.actions
            and all(_holds(c, request, doc, permission=False) for c in rule.constraints if c.left != "count")
        ):
            return False
    return any(
        rule.kind == "permission"
        and action in rule.actions
        and _count_limit(rule.constraints) is None
        and all(_holds(c, request, doc, permission=True) for c in rule.constraints)
        for rule in doc.rules
    )


# ---------------------------------------------------------------------------- one record


def _owner_decision() -> Decision:
    return Decision(effect="permit", reason_code="owner", reason=_sentence("owner"))


def terms_decision(subject: Subject) -> Decision | None:
    """Deny `terms_not_accepted` on a registry node for a professional behind the current terms."""
    if subject.professional is None or "registry" not in getattr(settings, "NODE_ROLES", ()):
        return None
    current = subject.professional.terms_current
    if current is None:  # a profile that did not read it: ask the registry's table
        from dataspace.directory.services import current_terms_version

        current = current_terms_version()
    if current and subject.professional.terms_accepted != current:
        return _deny("terms_not_accepted", version=current)
    return None


def _object_grant(subject: Subject, resource: Any) -> Decision | None:
    """A co-producer's writer holding the django-guardian grant on a performance it hosts."""
    from dataspace.referentials.models import Performance

    if not isinstance(resource, Performance):
        return None
    from dataspace.referentials.permissions import organisations_may_edit_hosted

    if subject.kind == "person":
        writers = {org for org, role in subject.staff_roles.items() if role in WRITE_ROLES}
    else:
        writers = set(subject.acts_for)
    if writers and organisations_may_edit_hosted(writers, resource):
        return Decision(effect="permit", reason_code="object_grant", reason=_sentence("object_grant"))
    return None


def decide(
    subject: Subject,
    action: str,
    resource: Any,
    context: Context | Mapping[str, Any] | None = None,
) -> Decision:
    """Permit or deny `action` on `resource` (a record or a `ResourceRef`) for `subject`.

    See the module docstring for the order of the checks. Side effects, never in dry runs: the
    daily counter of a count-limited permission is taken. Journaling and the other obligations are
    the caller's (`policies.enforcement`).
    """
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}; one of {', '.join(ACTIONS)}")
    ctx = as_context(context)
    ref = resource_ref(resource)
    owner_id = ref.owner_id
    if subject.is_superuser or (owner_id is not None and owner_id in subject.acts_for):
        return _owner_decision()
    from policies.controls import active_break_glass, blocking_owner_ids, is_hidden_from

    index = ctx.index or policy_index()
    if index.any_block and owner_id is not None and owner_id in blocking_owner_ids(subject):
        return _deny("refused")
    if (
        ref.record_id is not None
        and ref.record_type in index.hidden_types
        and is_hidden_from(subject, ref.record_type, ref.record_id, owner_id)
    ):
        return _deny("hidden")
    refused_agreement = agreement_decision(subject, ref, ctx)
    if refused_agreement is not None:
        return refused_agreement
    if ref.record_type == DIRECTORY_ENTRY:
        return directory_entry_decision(subject, action, ref, ctx)
    if not ctx.dry_run and action == "read" and ref.record_id is not None and subject.kind != "anonymous":
        access = active_break_glass(subject, ref.record_type, ref.record_id)
        if access is not None:
            return Decision(
                effect="permit",
                reason_code="break_glass",
                reason=_sentence("break_glass"),
                obligations=(Obligation("journal", "break_glass"),),
            )
    refused_terms = terms_decision(subject)
    if refused_terms is not None:
        return refused_terms
    if action == "modify" and not isinstance(resource, ResourceRef):
        granted = _object_grant(subject, resource)
        if granted is not None:
            return granted
    compiled = index.policy_for(ref)
    now = ctx.at()
    pending = subject.kind != "anonymous" and ctx.require_purpose and not ctx.purpose and action in READ_ACTIONS
    request = _Request(
        subject=subject,
        action=action,
        context=ctx,
        owner_id=owner_id,
        now=now,
        day=node_day(now),
        purpose_pending=pending,
    )
    outcome = evaluate(compiled, request, take_count=not ctx.dry_run and not pending)
    if isinstance(outcome, Decision):
        return outcome
    if pending and not is_public(compiled, action, now):
        from policies.language import PURPOSES

        return _deny("purpose_required", compiled.doc.uid, purposes=", ".join(PURPOSES))
    return outcome.decision


# ---------------------------------------------------------------------------- agreements


def agreement_decision(subject: Subject, ref: ResourceRef, ctx: Context) -> Decision | None:
    """Deny ``no_agreement`` to a subject of another node that no agreement in force of the
    owner covers for this dataset (and the declared purpose, if any); None otherwise."""
    from dataspace.consent.agreements import covers, peer_reader

    reader = peer_reader(subject)
    if reader is None:
        return None
    if covers(reader, ref.owner_id, ref.record_type, day=node_day(ctx.at()), purpose=ctx.purpose):
        return None
    return _deny("no_agreement")


def _agreed_only(subject: Subject, queryset: QuerySet[Any], ctx: Context) -> QuerySet[Any]:
    """For a subject of another node: only the records of owners whose agreements cover it."""
    from dataspace.consent.agreements import covered_owner_ids, peer_reader

    reader = peer_reader(subject)
    if reader is None:
        return queryset
    model = queryset.model
    covered = covered_owner_ids(
        reader, str(getattr(model, "record_type", "")), day=node_day(ctx.at()), purpose=ctx.purpose
    )
    return queryset.filter(owned_by(model, covered | set(subject.acts_for)))


# ---------------------------------------------------------------------------- directory entries

#: Record type of a person's directory entry: its own rule, not the owner's usage policy (see
#: `directory_entry_decision`).
DIRECTORY_ENTRY = "directory-entry"
#: What reading a published directory entry obliges: a journal entry the person can see.
_DIRECTORY_OBLIGATIONS = (Obligation("journal", "access"),)


def _directory_permit(action: str) -> Decision:
    return Decision(
        effect="permit",
        reason_code="policy_permits",
        reason=_sentence("policy_permits", action=action),
        obligations=_DIRECTORY_OBLIGATIONS,
    )


def directory_entry_decision(subject: Subject, action: str, ref: ResourceRef, ctx: Context) -> Decision:
    """The rule of a person's directory entry, for a subject that does not act for its owner.

    Fail closed, in this order: only reads (``read``, ``search``) may be permitted; no consent of
    the person in force (or it cannot be read) → ``hidden`` (answered as a missing record: without
    consent the person cannot be found); terms of use not accepted (registry) → ``terms_not_accepted``;
    not a licensed professional on the day (a verified account of a structure holding a *Valide*
    licence in force) → the licence standing's code; no purpose → ``purpose_required``; otherwise
    permit, with a ``journal`` obligation (the person's portal lists who read the entry). The
    owner's usage policies do not widen this rule; break-glass never applies to it.
    """
    if action not in ("read", "search") or ref.record_id is None:
        return _deny("not_owner") if action == "modify" else _deny("no_permission", action=action)
    try:
        from dataspace.directory.entries import consented_fields_map

        published = bool(consented_fields_map([ref.record_id], ctx.at()))
    except Exception:  # noqa: BLE001 - anything unexpected: the entry is not published (fail closed)
        published = False
    if not published:
        return _deny("hidden")
    refused_terms = terms_decision(subject)
    if refused_terms is not None:
        return refused_terms
    from dataspace.directory.services import licence_standing

    licensed, code, sentence = licence_standing(subject.professional, node_day(ctx.at()))
    if not licensed:
        return Decision(effect="deny", reason_code=code, reason=str(sentence))
    if ctx.require_purpose and not ctx.purpose:
        from policies.language import PURPOSES

        return _deny("purpose_required", purposes=", ".join(PURPOSES))
    return _directory_permit(action)


def _filter_directory_entries(
    queryset: QuerySet[Any], info: PermitInfo, terms_ok: bool, pending: bool, index: PolicyIndex
) -> tuple[QuerySet[Any], PermitInfo]:
    """Directory entries a subject may list: its owners' own, plus — for a licensed professional who
    accepted the terms — the entries with a consent in force; minus blocking owners and hidden ones."""
    from dataspace.directory.entries import published_ids

    subject, model = info.subject, queryset.model
    condition = owned_by(model, info.acting_for)
    licensed = (
        info.action in ("read", "search")
        and terms_ok
        and bool(licensed_categories(subject, node_day(info.context.at())))
    )
    if licensed:
        info.default = Grant(decision=_directory_permit(info.action), public=False)
        others = Q(pk__in=published_ids(info.context.at()))
        blocking = blocking_owners(subject) if index.any_block else None
        if blocking is not None:
            others &= ~owned_by_subquery(model, blocking)
        from policies.controls import hidden_exclusion

        hidden = hidden_exclusion(subject, DIRECTORY_ENTRY) if DIRECTORY_ENTRY in index.hidden_types else None
        if hidden:
            others &= ~hidden
        condition |= others
    if pending and licensed:
        info.purpose_pending = True
        info.purpose_needed = ~owned_by(model, info.acting_for)
    return queryset.filter(condition), info


# ---------------------------------------------------------------------------- whole querysets


OWNER_GRANT = Grant(decision=Decision(effect="permit", reason_code="owner", reason=""), public=False)


@dataclass
class PermitInfo:
    """Which grant let each record of a filtered queryset through (obligations per owner)."""

    subject: Subject
    action: str
    record_type: str
    context: Context
    acting_for: frozenset[uuid.UUID]
    everything: bool = False
    default: Grant | None = None
    #: Owners with a dataset policy (the subject does not act for): their grant, None when denied.
    owners: dict[uuid.UUID, Grant | None] = field(default_factory=dict)
    #: Records with an override (of owners the subject does not act for): grant or None.
    records: dict[uuid.UUID, Grant | None] = field(default_factory=dict)
    #: An identified subject gave no purpose: a returned record under a non-public grant needs one.
    purpose_pending: bool = False
    #: The records of the result the purpose rule applies to, as a `Q` (None: none can be).
    purpose_needed: Q | None = None

    def grant_for(self, record_id: uuid.UUID, owner_id: uuid.UUID | None) -> Grant | None:
        if self.everything or (owner_id is not None and owner_id in self.acting_for):
            return OWNER_GRANT
        if record_id in self.records:
            return self.records[record_id]
        if owner_id is not None and owner_id in self.owners:
            return self.owners[owner_id]
        return self.default


def owned_by(model: type[Model], owner_ids: Iterable[uuid.UUID]) -> Q:
    """Records of `model` owned by these organisations (an organisation may describe itself)."""
    ids = list(owner_ids)
    if not ids:
        return Q(pk__in=[])
    if getattr(model, "record_type", "") == "organisation":
        return Q(owner_id__in=ids) | Q(owner__isnull=True, pk__in=ids)
    return Q(owner_id__in=ids)


def _grant(compiled: CompiledPolicy, request: _Request) -> Grant | None:
    outcome = evaluate(compiled, request, take_count=False)
    if isinstance(outcome, Decision):
        return None
    return replace(outcome, public=is_public(compiled, request.action, request.now))


def filter_queryset(
    subject: Subject,
    action: str,
    queryset: QuerySet[Any],
    context: Context | Mapping[str, Any] | None = None,
) -> tuple[QuerySet[Any], PermitInfo]:
    """`queryset` narrowed to the records `subject` may `action`, and the grants that allowed them.

    Each policy is evaluated once for the subject (never per record); the result is one `Q`:
    owners acting-for always, owners whose dataset policy (or the default) permits, minus record
    overrides that deny, plus overrides that permit, minus hidden records and blocking owners.
    Daily counters are read, not taken (`take_counts` does it for the records actually returned).
    """
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}; one of {', '.join(ACTIONS)}")
    ctx = as_context(context)
    model = queryset.model
    record_type = str(getattr(model, "record_type", ""))
    acting = frozenset(subject.acts_for)
    info = PermitInfo(subject=subject, action=action, record_type=record_type, context=ctx, acting_for=acting)
    if subject.is_superuser:
        info.everything = True
        return queryset, info
    queryset = _agreed_only(subject, queryset, ctx)
    refused_terms = terms_decision(subject)
    now = ctx.at()
    pending = subject.kind != "anonymous" and ctx.require_purpose and not ctx.purpose and action in READ_ACTIONS
    index = ctx.index or policy_index()
    if record_type == DIRECTORY_ENTRY:
        return _filter_directory_entries(queryset, info, refused_terms is None, pending, index)
    datasets = index.datasets.get(record_type, {})
    overrides = index.records.get(record_type, {})

    def request_for(owner_id: uuid.UUID | None) -> _Request:
        return _Request(
            subject=subject,
            action=action,
            context=ctx,
            owner_id=owner_id,
            now=now,
            day=node_day(now),
            purpose_pending=pending,
        )

    if refused_terms is None:
        info.default = _grant(index.default(record_type), request_for(None))
        for owner_id, compiled in datasets.items():
            if owner_id not in acting:
                info.owners[owner_id] = _grant(compiled, request_for(owner_id))
        for record_id, compiled in overrides.items():
            if compiled.owner_id not in acting:
                info.records[record_id] = _grant(compiled, request_for(compiled.owner_id))
    else:
        info.owners = dict.fromkeys((o for o in datasets if o not in acting), None)
        info.records = {r: None for r, c in overrides.items() if c.owner_id not in acting}

    permitted_owners = {owner for owner, grant in info.owners.items() if grant is not None}
    denied_owners = set(info.owners) - permitted_owners
    if info.default is not None:
        condition = ~owned_by(model, denied_owners) if denied_owners else Q()
    else:
        condition = owned_by(model, permitted_owners | acting)
    denied_records = [record for record, grant in info.records.items() if grant is None]
    permitted_records = [record for record, grant in info.records.items() if grant is not None]
    if denied_records:
        condition &= ~Q(pk__in=denied_records)
    if permitted_records and condition:  # (an empty Q means every record: OR-ing would narrow it)
        condition |= Q(pk__in=permitted_records)

    from policies.controls import hidden_exclusion

    blocking = blocking_owners(subject) if index.any_block else None
    if blocking is not None:
        condition &= ~owned_by_subquery(model, blocking)
    hidden = hidden_exclusion(subject, record_type) if record_type in index.hidden_types else None
    if hidden:
        condition &= ~hidden
    if pending:
        info.purpose_pending = True
        info.purpose_needed = _purpose_needed(model, info)
    return (queryset.filter(condition) if condition else queryset), info


def blocking_owners(subject: Subject) -> QuerySet[Any] | None:
    """The owners that block the subject, as a subquery (lists filter with it: no query of its own).

    Same parties as `policies.controls.blocking_owner_ids`: the subject's account, its professional
    organisation and the organisations it acts for; owners it acts for and superusers are exempt.
    """
    from policies.models import Block

    if subject.is_superuser or subject.kind == "anonymous":
        return None
    parties = Q()
    if subject.user_id is not None:
        parties |= Q(blocked_user_id=subject.user_id)
    organisations = subject_organisations(subject)
    if organisations:
        parties |= Q(blocked_organisation_id__in=organisations)
    if not parties:
        return None
    blocks = Block.objects.filter(parties)
    if subject.acts_for:
        blocks = blocks.exclude(owner_id__in=subject.acts_for)
    return blocks.values("owner_id")


def owned_by_subquery(model: type[Model], owners: QuerySet[Any]) -> Q:
    """Records of `model` whose owner is in the `owners` subquery (see `owned_by`)."""
    if getattr(model, "record_type", "") == "organisation":
        return Q(owner_id__in=owners) | Q(owner__isnull=True, pk__in=owners)
    return Q(owner_id__in=owners)


def _purpose_needed(model: type[Model], info: PermitInfo) -> Q | None:
    """The records an identified subject without a purpose may not receive: permitted, not public,
    not its own. None when no grant of this list can be non-public (no query needed)."""
    parts: list[Q] = []
    restricted_owners = [owner for owner, grant in info.owners.items() if grant is not None and not grant.public]
    if restricted_owners:
        parts.append(owned_by(model, restricted_owners))
    if info.default is not None and not info.default.public:
        parts.append(~owned_by(model, set(info.owners) | info.acting_for))
    restricted_records = [record for record, grant in info.records.items() if grant is not None and not grant.public]
    public_records = [record for record, grant in info.records.items() if grant is not None and grant.public]
    if not parts and not restricted_records:
        return None
    condition = Q(pk__in=[])
    for part in parts:
        condition |= part
    if public_records:
        condition &= ~Q(pk__in=public_records)
    if restricted_records:
        condition |= Q(pk__in=restricted_records)
    return condition


def take_counts(info: PermitInfo, owners_returned: Mapping[uuid.UUID | None, Iterable[uuid.UUID]]) -> None:
    """Take one use of each count-limited grant that let records through (not in dry runs).

    Lists read counters when filtering and take them here, once per request and per rule, for
    the records actually returned. The limit is re-checked under the row lock.
    """
    if info.context.dry_run:
        return
    seen: set[tuple[uuid.UUID, int]] = set()
    day = node_day(info.context.at())
    for owner_id, record_ids in owners_returned.items():
        for record_id in record_ids:
            grant = info.grant_for(record_id, owner_id)
            if grant is None or grant.policy is None or grant.policy.policy_id is None:
                continue
            for rule_index, limit in grant.counted:
                key = (grant.policy.policy_id, rule_index)
                if key not in seen:
                    seen.add(key)
                    count_use(grant.policy.policy_id, rule_index, info.subject.key, day, limit)
