"""Saving, reading and retiring usage policies (issue 4, items 1 and 2).

Contracts for other modules (the decision point `policies.pdp` relies on the first three):

* `policy_doc(policy) -> PolicyDoc` — the stored policy in the internal form (parsed each call:
  callers cache, keyed by `policy_generation()`);
* `default_policy_doc(target_type) -> PolicyDoc` — the policy of a dataset that has none: the
  ``public`` template for every governed (referential) type, no rule at all (deny) for any other;
* `policy_generation() -> int` — changes whenever a policy is saved, changed, deactivated or
  deleted (`bump_policy_generation`, run on commit), read from the Django cache;
* `save_policy(...)`, `update_policy(...)`, `deactivate_policy(...)` — the only ways to write one.

A saved policy stores its canonical ODRL (`policies.odrl.to_odrl`): ``uid`` is the policy's URI,
``target`` the dataset's URI (`dataset_uri`) or the record's, ``assigner`` the owner's URI.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
import uuid
from typing import TYPE_CHECKING, Any

from django.apps import apps
from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from dataspace.records.services import lock_change_log
from policies.language import PolicyDoc, PolicyError
from policies.odrl import parse_odrl, to_odrl
from policies.templates import compose, public_rules, validate_templates

if TYPE_CHECKING:
    from dataspace.referentials.models import Organisation
    from policies.models import Policy

#: Cache key of the policy generation counter.
GENERATION_KEY = "policies:generation"


# ---------------------------------------------------------------------------- generation


def policy_generation() -> int:
    """The current policy generation (one cache read). Any change to any policy changes it.

    When the key is missing (first use, eviction, cache flush) it starts from the clock in
    nanoseconds, so a process never sees a generation it saw before a flush.
    """
    value = cache.get(GENERATION_KEY)
    if value is None:
        cache.add(GENERATION_KEY, time.time_ns(), timeout=None)
        value = cache.get(GENERATION_KEY)
    return int(value) if value is not None else time.time_ns()


def bump_policy_generation() -> None:
    """Make every cached decision stale (call through `transaction.on_commit`)."""
    try:
        cache.incr(GENERATION_KEY)
    except ValueError:  # missing key
        cache.set(GENERATION_KEY, time.time_ns(), timeout=None)


def bump_on_commit() -> None:
    transaction.on_commit(bump_policy_generation)


# ---------------------------------------------------------------------------- reading


def governed_types() -> tuple[str, ...]:
    from policies.models import GOVERNED_TYPES

    return tuple(name for name, _label in GOVERNED_TYPES)


def default_policy_uid(target_type: str) -> str:
    """The URI naming the default policy of a record type on this node (not a stored record)."""
    return f"{settings.NODE_BASE_URL}/id/policy/default-{target_type}"


def is_default_policy_uid(uid: str) -> bool:
    """Whether `uid` names a default policy (not a stored, resolvable one)."""
    return uid.startswith(f"{settings.NODE_BASE_URL}/id/policy/default-")


def default_policy_doc(target_type: str) -> PolicyDoc:
    """The policy of a dataset without one: ``public`` for the referentials (the programme is public).

    Any other record type gets no rule (deny by default; the owner still uses its data).
    """
    if target_type not in governed_types():
        return PolicyDoc(uid=default_policy_uid(target_type), rules=())
    return PolicyDoc(uid=default_policy_uid(target_type), rules=public_rules(), templates=({"name": "public"},))


def policy_doc(policy: Policy) -> PolicyDoc:
    """The stored policy as a `PolicyDoc` (uid = its URI, valid_from and templates from the row)."""
    doc = parse_odrl(policy.odrl)
    return dataclasses.replace(
        doc,
        uid=policy.uri,
        valid_from=policy.valid_from,
        templates=tuple(dict(t) for t in (policy.templates or ())),
    )


def dataset_uri(owner: Organisation, target_type: str) -> str:
    """The URI of a dataset: every record of one type of one owner."""
    return f"{owner.uri}/datasets/{target_type}"


def target_model(target_type: str) -> Any:
    """The model of a governed record type (its `record_type`)."""
    for model in apps.get_app_config("referentials").get_models():
        if getattr(model, "record_type", None) == target_type:
            return model
    raise PolicyError(
        "target_type",
        _("« %(type)s » n'est pas un type de fiche qu'une politique gouverne.") % {"type": target_type},
    )


def record_owner_id(record: Any) -> Any:
    owner_id = getattr(record, "owner_organisation_id", None)
    return owner_id if owner_id is not None else getattr(record, "owner_id", None)


def target_record(owner: Organisation, target_type: str, target_id: Any) -> Any:
    """The record `target_id` of `target_type`, which must exist and belong to `owner` (else PolicyError)."""
    model = target_model(target_type)
    try:
        ident = uuid.UUID(str(target_id))
    except ValueError:
        raise PolicyError("target_id", _("%(id)r n'est pas l'UUID d'une fiche.") % {"id": target_id}) from None
    record = model.objects.filter(pk=ident).first()
    if record is None:
        raise PolicyError(
            "target_id", _("Aucune fiche %(type)s %(id)s sur ce nœud.") % {"type": target_type, "id": ident}
        )
    if record_owner_id(record) != owner.pk:
        raise PolicyError(
            "target_id",
            _("La fiche %(type)s %(id)s n'appartient pas à %(owner)s.")
            % {"type": target_type, "id": ident, "owner": owner},
        )
    return record


# ---------------------------------------------------------------------------- writing


def _prefixed(error: PolicyError, prefix: str) -> PolicyError:
    field = f"{prefix}.{error.field}" if error.field else prefix
    return PolicyError(field, error.message)


def build_doc(*, templates: Any = None, odrl: Any = None, today: dt.date | None = None) -> PolicyDoc:
    """The internal form of a policy given as templates or as ODRL (exactly one), validated.

    Errors name the request member: ``templates[1].categories``, ``odrl.permission[0].action``.
    An ODRL document keeps its informative ``templates`` only when they compose to its very rules.
    """
    if (templates is None) == (odrl is None):
        raise PolicyError(
            "templates", _("Donnez soit des modèles, soit un document ODRL (odrl) : l'un des deux, pas les deux.")
        )
    if templates is not None:
        chosen = validate_templates(templates, today=today)
        return PolicyDoc(uid="", rules=compose(chosen, today=today), templates=tuple(chosen))
    try:
        doc = parse_odrl(odrl)
    except PolicyError as error:
        raise _prefixed(error, "odrl") from None
    kept: tuple[dict[str, Any], ...] = ()
    if doc.templates:
        try:
            if compose(list(doc.templates), today=today) == doc.rules:
                kept = tuple(validate_templates(list(doc.templates), today=today))
        except PolicyError:
            kept = ()
    return dataclasses.replace(doc, uid="", valid_from=None, templates=kept)


def _store(policy: Policy, doc: PolicyDoc, owner: Organisation) -> None:
    target = (
        f"{policy.origin}/id/{policy.target_type}/{policy.target_id}"
        if policy.target_id
        else dataset_uri(owner, policy.target_type)
    )
    final = dataclasses.replace(doc, uid=policy.uri, valid_from=policy.valid_from)
    policy.templates = [dict(t) for t in doc.templates]
    policy.odrl = to_odrl(final, target=target, assigner=owner.uri)


def save_policy(
    *,
    owner: Organisation,
    target_type: str,
    target_id: Any = None,
    templates: list[dict[str, Any]] | None = None,
    odrl: dict[str, Any] | None = None,
    title: str = "",
    by: Any = None,
    now: dt.datetime | None = None,
) -> Policy:
    """Save a new active policy of `owner` over a dataset (or one record), replacing the active one.

    Exactly one of `templates` / `odrl`. Raises `PolicyError` naming the member at fault. The
    previous active policy of the same target is kept as history (active=False), in the same
    transaction. `by` is the person saving (informative).
    """
    from policies.models import Policy

    if target_type not in governed_types():
        raise PolicyError(
            "target_type",
            _("« %(type)s » n'est pas un type de fiche qu'une politique gouverne.") % {"type": target_type},
        )
    now = now or timezone.now()
    doc = build_doc(templates=templates, odrl=odrl, today=timezone.localtime(now).date())
    target_id = None if target_id in (None, "") else target_record(owner, target_type, target_id).pk
    policy = Policy(
        owner=owner,
        target_type=target_type,
        target_id=target_id,
        title=(title or "").strip(),
        valid_from=now,
        active=True,
    )
    _store(policy, doc, owner)
    with transaction.atomic():
        # The change-log lock first (the records' lock order): two saves for one target then run one
        # after the other, and the second sees, and retires, the policy the first one saved.
        lock_change_log()
        previous = Policy.objects.select_for_update().filter(active=True, target_type=target_type)
        previous = (
            previous.filter(target_id=target_id) if target_id else previous.filter(owner=owner, target_id__isnull=True)
        )
        for old in previous:
            old.active = False
            old.save(update_fields=["active"])
        policy.save()
        bump_on_commit()
    return policy


def update_policy(
    policy: Policy,
    *,
    templates: list[dict[str, Any]] | None = None,
    odrl: dict[str, Any] | None = None,
    title: str | None = None,
    by: Any = None,
    now: dt.datetime | None = None,
) -> Policy:
    """Change an active policy in place (its version goes up).

    New rules (templates or ODRL) take effect now (`valid_from`); a new title alone changes nothing
    else. An inactive policy is history and is not changed.
    """
    if not policy.active:
        raise PolicyError(
            "active",
            _("Cette politique n'est plus en vigueur (historique) : enregistrez plutôt une nouvelle politique."),
        )
    now = now or timezone.now()
    owner = policy.owner
    if title is not None:
        policy.title = title.strip()
    if templates is not None or odrl is not None:
        doc = build_doc(templates=templates, odrl=odrl, today=timezone.localtime(now).date())
        policy.valid_from = now
        _store(policy, doc, owner)
    with transaction.atomic():
        policy.save()
        bump_on_commit()
    return policy


def deactivate_policy(policy: Policy, by: Any = None) -> Policy:
    """Retire a policy (kept as history); its target falls back to the dataset's or the default policy."""
    if policy.active:
        with transaction.atomic():
            policy.active = False
            policy.save(update_fields=["active"])
            bump_on_commit()
    return policy


def active_policy(owner_id: Any, target_type: str, target_id: Any = None) -> Policy | None:
    """The active policy over a dataset (target_id None) or over one record."""
    from policies.models import Policy

    query = Policy.objects.filter(active=True, target_type=target_type)
    if target_id is None:
        return query.filter(owner_id=owner_id, target_id__isnull=True).first()
    return query.filter(target_id=target_id).first()
