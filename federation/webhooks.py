"""Webhooks: vendors' tools (website, ticketing, agendas) subscribed to a structure's change events.

Contracts (DESIGN.md §6 item 6, docs/federation.md « Webhooks »):

* `on_change(change)` — called by `dataspace.records.services.record_change` inside the change's
  transaction, for every `Change` written to the feed. It enqueues one `OutboxMessage`
  (``kind`` = ``record.<op>``, ``url`` = the subscription's URL, ``subscription`` set, ``payload``
  = `event_payload(change)`) per active subscription of the change's owner whose `record_types`
  and `operations` match (empty lists match everything). The messages commit or roll back with
  the change; delivery is scheduled once it commits (`federation.outbox.schedule`). Records that
  may not leave the node (options) never reach the feed, so never produce an event; a record that
  stops being public produces a ``record.delete`` (its tombstone in the feed).
* Cheap without subscriptions: which owners have an active subscription is kept per process,
  keyed by a generation number in the Django cache (one cache read per change, no query); saving
  or deleting a subscription bumps the generation at once and again on commit
  (`_bump_now_and_on_commit`), so every process reloads the set (one query) before its next
  change; the set is also reloaded every `MEMO_SECONDS`. An owner with subscriptions costs one
  query per change (its subscriptions, to match types and operations). If the cache (Redis) is
  down, the set is read from the database on every change: a change never fails, nor loses its
  events, because of the cache.
* Delivery is the outbox's: a signed POST (RFC 9421, the node key; `federation.client.post_signed`)
  of the notice document to the subscription URL, at least once, retried with exponential backoff
  and jitter, dead after `OUTBOX_MAX_ATTEMPTS`, replayable (`replay_delivery`, the admin's
  « Rejouer »).
* Services for the API and the admin: `validate_url`, `validate_record_types`,
  `validate_operations` (raise `WebhookError` naming the field), `create_subscription`,
  `update_subscription`, `delete_subscription` (its undelivered deliveries are abandoned, kept as
  dead letters for the record), `deliveries(subscription, state=)`, `replay_delivery`,
  `managed_owner_ids(user=|client=, write=)` (whose subscriptions a caller manages).

Event body (what the receiver gets; `federation.outbox.notice_document`)::

    {"id": "<delivery uuid: dedupe on it>", "kind": "record.upsert", "origin": "<node base URL>",
     "created_at": "…Z", "attempt": 1,
     "payload": {"op": "upsert", "type": "production", "id": "<record URI>", "uuid": "…",
                 "version": 4, "owner": "<owner organisation uuid>", "changed_at": "…Z"}}
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models import Q, QuerySet
from django.db.models.signals import post_delete, post_save
from django.utils import timezone
from django.utils.translation import gettext as _

from federation.models import OutboxMessage, WebhookSubscription

if TYPE_CHECKING:
    from dataspace.records.models import Change

#: Operations a subscription may ask for (the change feed's `op`).
OPERATIONS: tuple[str, ...] = ("upsert", "delete")
#: Event kinds (the outbox message `kind`): ``record.upsert``, ``record.delete``.
KIND_PREFIX = "record."
#: Cache key of the subscription generation (any save or delete of a subscription changes it).
GENERATION_KEY = "federation:webhooks:generation"
#: `last_error` of the deliveries abandoned when their subscription is deleted.
DELETED_ERROR = "subscription deleted: delivery abandoned"
MANAGE_SCOPE = "webhooks:manage"
#: Longest time a process trusts its set of subscribed owners without reloading it (seconds).
MEMO_SECONDS = 60.0

logger = logging.getLogger("federation.webhooks")

State = OutboxMessage.State


class WebhookError(ValueError):
    """A subscription that cannot be saved; `errors` maps each field to its (French) messages."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__("; ".join(f"{name}: {' '.join(messages)}" for name, messages in errors.items()))
        self.errors = errors


# ---------------------------------------------------------------------------- the subscribed owners


def generation() -> int | None:
    """The current subscription generation (one cache read); a fresh clock value when missing;
    None when the cache cannot be read (Redis down: callers then ask the database)."""
    try:
        value = cache.get(GENERATION_KEY)
        if value is None:
            cache.add(GENERATION_KEY, time.time_ns(), timeout=None)
            value = cache.get(GENERATION_KEY)
    except Exception:  # a cache outage must never make a record change fail
        logger.warning("webhooks: cache unreadable; subscriptions read from the database", exc_info=True)
        return None
    return int(value) if value is not None else time.time_ns()


def bump_generation() -> None:
    """Make every process reload the set of subscribed owners before its next change."""
    try:
        try:
            cache.incr(GENERATION_KEY)
        except ValueError:  # missing key
            cache.set(GENERATION_KEY, time.time_ns(), timeout=None)
    except Exception:  # other processes reload anyway within MEMO_SECONDS
        logger.warning("webhooks: cannot bump the subscription generation", exc_info=True)


def _bump_now_and_on_commit(**_kwargs: Any) -> None:
    # Now: this process (and tests, which never commit) see the change at once; another process
    # reloading before the commit would not see the row yet, hence the second bump on commit.
    bump_generation()
    transaction.on_commit(bump_generation)


for _signal in (post_save, post_delete):
    _signal.connect(
        _bump_now_and_on_commit, sender="federation.WebhookSubscription", dispatch_uid=f"webhooks-{_signal}"
    )

_owners_lock = threading.Lock()
#: (generation, loaded at (monotonic seconds), owners)
_owners: tuple[int, float, frozenset[uuid.UUID]] | None = None


def _load_owners() -> frozenset[uuid.UUID]:
    return frozenset(WebhookSubscription.objects.filter(active=True).values_list("owner_id", flat=True).distinct())


def subscribed_owner_ids() -> frozenset[uuid.UUID]:
    """Owners with at least one active subscription (per process, one query per generation).

    Also reloaded after `MEMO_SECONDS` whatever the generation says (a bump lost while the cache
    was down), and read from the database at each call while the cache cannot be read."""
    global _owners  # the per-process cache of subscribed owners
    current = generation()
    if current is None:
        _owners = None
        return _load_owners()
    cached = _owners
    now = time.monotonic()
    if cached is not None and cached[0] == current and now - cached[1] < MEMO_SECONDS:
        return cached[2]
    with _owners_lock:
        owners = _load_owners()
        _owners = (current, now, owners)
    return owners


def forget_subscribed_owners() -> None:
    """Drop the per-process set (tests)."""
    global _owners  # the per-process cache of subscribed owners
    with _owners_lock:
        _owners = None


# ---------------------------------------------------------------------------- events


def change_owner(change: Change) -> uuid.UUID | None:
    """Whose data a change is: its owner, or itself for an organisation describing itself."""
    if change.owner_id is None and change.record_type == "organisation":
        return change.record_id
    return change.owner_id


def event_payload(change: Change) -> dict[str, Any]:
    """The change-feed entry of `change` without the record body (`services.change_entry`)."""
    from dataspace.records.services import change_entry

    entry = change_entry(change, None)
    entry.pop("record", None)
    return entry


def matches(subscription: WebhookSubscription, change: Change) -> bool:
    """Does the subscription want this change (empty lists: everything)?"""
    types = subscription.record_types or []
    operations = subscription.operations or []
    return (not types or change.record_type in types) and (not operations or change.op in operations)


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def on_change(change: Change) -> list[OutboxMessage]:
    """Enqueue the events of `change` for the matching subscriptions (in the caller's transaction)."""
    owner = change_owner(change)
    if owner is None or owner not in subscribed_owner_ids():
        return []
    wanted = [
        subscription
        for subscription in WebhookSubscription.objects.filter(owner_id=owner, active=True).order_by("created_at")
        if matches(subscription, change)
    ]
    if not wanted:
        return []
    payload = event_payload(change)
    now = timezone.now()
    messages = [
        OutboxMessage(
            kind=f"{KIND_PREFIX}{change.op}",
            payload=payload,
            destination=_origin(subscription.url),
            url=subscription.url,
            subscription=subscription,
            created_at=now,
            next_attempt_at=now,
        )
        for subscription in wanted
    ]
    from federation import outbox

    with transaction.atomic():
        OutboxMessage.objects.bulk_create(messages)
        ids = [str(message.pk) for message in messages]
        transaction.on_commit(lambda: outbox.schedule(ids))
    return messages


# ---------------------------------------------------------------------------- validation


def _is_private_address(host: str) -> bool:
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return bool(
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
    )


def validate_url(url: Any) -> str:
    """The subscription URL, checked: https (plain http only to a loopback address on a loopback
    node, `OAUTH_ALLOW_INSECURE_LOOPBACK`), no credentials, no fragment, and over https no literal
    private, loopback or link-local address (the node must not be made to call its own network)."""
    from dataspace.oauth.peers import allowed_url

    text = str(url or "").strip()
    if not text:
        raise WebhookError({"url": [_("Indiquez l'adresse HTTPS à laquelle envoyer les événements.")]})
    if len(text) > 500:
        raise WebhookError({"url": [_("L'adresse est trop longue (500 caractères au plus).")]})
    try:
        parts = urlsplit(text)
        host = parts.hostname or ""
        _port = parts.port
    except ValueError:
        raise WebhookError({"url": [_("Cette adresse n'est pas une URL valide.")]}) from None
    if not allowed_url(text):
        raise WebhookError(
            {
                "url": [
                    _(
                        "Adresse refusée : HTTPS obligatoire (HTTP seulement vers 127.0.0.1 quand le nœud "
                        "lui-même tourne en local)."
                    )
                ]
            }
        )
    if parts.username or parts.password:
        raise WebhookError({"url": [_("L'adresse ne doit pas contenir d'identifiants (utilisateur:mot de passe).")]})
    if parts.fragment:
        raise WebhookError({"url": [_("L'adresse ne doit pas contenir de fragment (#…).")]})
    if parts.scheme == "https" and _is_private_address(host) and not settings.OAUTH_ALLOW_INSECURE_LOOPBACK:
        raise WebhookError({"url": [_("Adresse refusée : une adresse IP privée ou locale n'est pas joignable.")]})
    return text


def validate_record_types(value: Any) -> list[str]:
    """Record types of the change feed (empty: all of them), deduplicated and sorted."""
    from dataspace.records.services import record_models

    if value in (None, ""):
        return []
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise WebhookError({"record_types": [_("Une liste de types d'enregistrements est attendue.")]})
    known = record_models()
    unknown = sorted({item for item in value if item not in known})
    if unknown:
        raise WebhookError(
            {
                "record_types": [
                    _("Type(s) inconnu(s) : %(unknown)s ; types possibles : %(known)s.")
                    % {"unknown": ", ".join(unknown), "known": ", ".join(sorted(known))}
                ]
            }
        )
    return sorted(set(value))


def validate_operations(value: Any) -> list[str]:
    """Operations among `OPERATIONS` (empty: both), deduplicated, in `OPERATIONS` order."""
    if value in (None, ""):
        return []
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise WebhookError({"operations": [_("Une liste d'opérations est attendue (upsert, delete).")]})
    unknown = sorted({item for item in value if item not in OPERATIONS})
    if unknown:
        raise WebhookError(
            {
                "operations": [
                    _("Opération(s) inconnue(s) : %(unknown)s ; opérations possibles : upsert, delete.")
                    % {"unknown": ", ".join(unknown)}
                ]
            }
        )
    return [operation for operation in OPERATIONS if operation in value]


# ---------------------------------------------------------------------------- subscriptions


def create_subscription(
    *,
    owner: Any,
    url: str,
    record_types: Any = None,
    operations: Any = None,
    description: str = "",
    active: bool = True,
    client_id: str = "",
) -> WebhookSubscription:
    """Save a new subscription of `owner` (validated; `WebhookError` naming the field)."""
    subscription = WebhookSubscription(
        owner=owner,
        url=validate_url(url),
        record_types=validate_record_types(record_types),
        operations=validate_operations(operations),
        description=str(description or "").strip()[:200],
        active=bool(active),
        client_id=str(client_id or "")[:100],
    )
    subscription.save()
    return subscription


def update_subscription(subscription: WebhookSubscription, **changes: Any) -> WebhookSubscription:
    """Change `url`, `record_types`, `operations`, `description` or `active` (validated)."""
    validators: dict[str, Callable[[Any], Any]] = {
        "url": validate_url,
        "record_types": validate_record_types,
        "operations": validate_operations,
        "description": lambda value: str(value or "").strip()[:200],
        "active": bool,
    }
    for name, value in changes.items():
        if name not in validators:
            raise WebhookError({name: [_("Ce champ ne peut pas être modifié.")]})
        setattr(subscription, name, validators[name](value))
    subscription.save()
    return subscription


def delete_subscription(subscription: WebhookSubscription) -> int:
    """Delete a subscription; its undelivered deliveries are abandoned (dead, kept for the record).

    Returns how many deliveries were abandoned."""
    with transaction.atomic():
        abandoned = OutboxMessage.objects.filter(
            subscription=subscription, state__in=(State.PENDING, State.FAILED)
        ).update(state=State.DEAD, last_error=DELETED_ERROR)
        subscription.delete()
    return abandoned


def deliveries(subscription: WebhookSubscription, *, state: str | None = None) -> QuerySet[OutboxMessage]:
    """The subscription's deliveries, newest first, optionally in one state."""
    queryset = OutboxMessage.objects.filter(subscription=subscription)
    if state:
        queryset = queryset.filter(state=state)
    return queryset.order_by("-created_at", "id")


def replay_delivery(delivery: OutboxMessage, *, now: dt.datetime | None = None) -> bool:
    """Send a failed or dead delivery again with a fresh attempt budget; False for any other state."""
    from federation import outbox

    return outbox.replay([delivery], now=now) == 1


def managed_owner_ids(*, user: Any = None, client: Any = None, write: bool = False) -> set[uuid.UUID] | None:
    """The structures whose subscriptions the caller reads (or, `write`, changes); None: all of them.

    A machine client: its owner organisation and the structures whose active mandate covers
    `webhooks:manage`. A person: a superuser manages all; others the structures where they hold a
    staff role (any role to read; administrator or editor to change).
    """
    if client is not None:
        if not client.is_usable():
            return set()
        owners = {client.owner_id} if client.owner_id else set()
        from dataspace.oauth.models import Mandate

        mandates = Mandate.objects.filter(client=client, revoked_at__isnull=True).filter(
            Q(expires_at__isnull=True) | Q(expires_at__gt=timezone.now())
        )
        owners.update(
            structure_id
            for structure_id, scopes in mandates.values_list("structure_id", "scopes")
            if MANAGE_SCOPE in (scopes or [])
        )
        return owners
    if user is None or not getattr(user, "is_active", False):
        return set()
    if user.is_superuser:
        return None
    from dataspace.api.permissions import WRITE_ROLES, staff_roles

    roles = staff_roles(user)
    return {org for org, role in roles.items() if role in WRITE_ROLES} if write else set(roles)


def subscriptions_of(owner_ids: Iterable[uuid.UUID] | None) -> QuerySet[WebhookSubscription]:
    """The subscriptions of these structures (None: all)."""
    queryset = WebhookSubscription.objects.select_related("owner")
    return queryset if owner_ids is None else queryset.filter(owner_id__in=list(owner_ids))
