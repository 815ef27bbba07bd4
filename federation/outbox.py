"""The outbox: the project's one mechanism for outbound notices (DESIGN.md §6).

Guarantees
----------
* `enqueue(kind=, payload=, destinations=)` writes one `OutboxMessage` per destination **in the
  caller's transaction**: a rolled-back change leaves no notice, a committed one always has its
  notices. Delivery is scheduled with `transaction.on_commit` (Celery task `deliver_outbox`);
  if Redis or the receiver is down at that moment, the periodic task `deliver_due_outbox` picks
  the message up later. Nothing is sent before commit.
* Delivery is **at least once**: an HTTP POST of the notice (JSON) to
  ``{destination}/api/v1/federation/notices`` with a timeout. A 2xx answer marks it delivered;
  anything else (connection refused, timeout, 4xx, 5xx) schedules another attempt after an
  exponential backoff with jitter (`OUTBOX_BACKOFF_BASE` seconds × 2^(attempts−1), capped at
  `OUTBOX_BACKOFF_MAX`, then drawn uniformly in its upper half), until `OUTBOX_MAX_ATTEMPTS`
  attempts have failed: the message is then ``dead`` and waits for an operator's replay (admin
  action « Rejouer »). Receivers deduplicate on the notice `id` (also the `Notice-Id` header).
* A message is claimed before it is sent (a conditional UPDATE moving its `next_attempt_at` past
  the send's timeout), so the on-commit task and the periodic task never send it twice at once.

Signature
---------
Each delivery is a new request signed with the node key as RFC 9421 HTTP Message Signatures
(`federation.client.post_signed` → `federation.signing`): method, target URI and
``Content-Digest`` of the exact body, ``created``/``expires``, a fresh nonce, ``tag="scene-commune"``,
``keyid`` = the kid of the key in the node's ``/.well-known/jwks.json``. Node receivers check it
in `federation.middleware`; a vendor's webhook receiver checks it with the node's published keys
(docs/federation.md). Messages with `url` set (webhooks) go to that URL, signed the same way;
the others go to ``{destination}/api/v1/federation/notices``.

Body sent::

    {"id": "<uuid>", "kind": "consent.withdrawn", "origin": "<this node's base URL>",
     "created_at": "2026-…Z", "attempt": 1, "payload": {…}}
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import random
import uuid
from collections.abc import Iterable, Sequence
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from dataspace.oauth.peers import allowed_url
from federation.models import FeedReader, OutboxMessage

logger = logging.getLogger("federation.outbox")

NOTICES_PATH = "/api/v1/federation/notices"
#: How many due messages one run of the periodic task sends at most.
DUE_BATCH = 200
#: How often a feed reader's `last_read_at` is refreshed at most (a read is not worth a write each time).
FEED_READER_REFRESH = dt.timedelta(minutes=5)

State = OutboxMessage.State


# ---------------------------------------------------------------------------- settings


def max_attempts() -> int:
    return int(getattr(settings, "OUTBOX_MAX_ATTEMPTS", 10))


def send_timeout() -> float:
    return float(getattr(settings, "OUTBOX_TIMEOUT", 5.0))


def backoff_base() -> float:
    return float(getattr(settings, "OUTBOX_BACKOFF_BASE", 30.0))


def backoff_max() -> float:
    return float(getattr(settings, "OUTBOX_BACKOFF_MAX", 6 * 3600.0))


# ---------------------------------------------------------------------------- destinations


def normalise(url: str) -> str:
    """A node's base URL without trailing slash ("" for nothing usable)."""
    return str(url or "").strip().rstrip("/")


def node_from_jwks_uri(jwks_uri: str) -> str:
    """A peer node's base URL from where it publishes its keys (``…/.well-known/jwks.json``)."""
    parts = urlsplit(str(jwks_uri or "").strip())
    if not parts.scheme or not parts.netloc:
        return ""
    path = parts.path
    marker = "/.well-known/"
    prefix = path[: path.index(marker)] if marker in path else ""
    return normalise(f"{parts.scheme}://{parts.netloc}{prefix}")


def replica_holders() -> list[str]:
    """Base URLs of the nodes that may hold replicas of this node's data: the registry
    (`membership.registry_url()`: the one this node joined, else `FEDERATION_REGISTRY_URL`) and
    every peer node that read the change feed.
    This node itself is never one."""
    from federation.membership import registry_url

    own = normalise(settings.NODE_BASE_URL)
    holders: list[str] = []
    for url in [registry_url(), *FeedReader.objects.values_list("node", flat=True)]:
        base = normalise(url)
        if base and base != own and base not in holders:
            holders.append(base)
    return holders


def record_feed_reader(client: Any, *, now: dt.datetime | None = None) -> FeedReader | None:
    """Remember that a peer node (a client with a `jwks_uri`) read the change feed; None for
    any other client. Written at most every FEED_READER_REFRESH per client."""
    jwks_uri = str(getattr(client, "jwks_uri", "") or "")
    node = node_from_jwks_uri(jwks_uri)
    if not node:
        return None
    moment = now or timezone.now()
    client_id = str(client.client_id)
    reader = FeedReader.objects.filter(client_id=client_id).first()
    if reader is not None and reader.node == node and moment - reader.last_read_at < FEED_READER_REFRESH:
        return reader
    reader, _created = FeedReader.objects.update_or_create(
        client_id=client_id, defaults={"node": node, "last_read_at": moment}
    )
    return reader


# ---------------------------------------------------------------------------- enqueuing


def enqueue(*, kind: str, payload: dict[str, Any], destinations: Sequence[str]) -> list[OutboxMessage]:
    """Write one pending notice per distinct destination, in the caller's transaction, and
    schedule their delivery once it commits (nothing is sent if it rolls back)."""
    if not kind:
        raise ValueError("an outbox notice needs a kind")
    json.dumps(payload)  # fail now, in the caller's transaction, on a payload that is not JSON
    now = timezone.now()
    seen: list[str] = []
    for destination in destinations:
        base = normalise(destination)
        if base and base not in seen:
            seen.append(base)
    messages = [
        OutboxMessage(kind=kind, payload=payload, destination=base, created_at=now, next_attempt_at=now)
        for base in seen
    ]
    if not messages:
        return []
    with transaction.atomic():
        OutboxMessage.objects.bulk_create(messages)
        ids = [str(message.pk) for message in messages]
        transaction.on_commit(lambda: schedule(ids))
    return messages


def schedule(ids: Iterable[str]) -> None:
    """Hand the messages to Celery now; if the broker is unreachable, the periodic task will."""
    from federation.tasks import deliver_outbox

    wanted = [str(pk) for pk in ids]
    if not wanted:
        return
    try:
        deliver_outbox.delay(wanted)
    except Exception:  # broker down (or an eager run failing): the periodic task retries them
        logger.warning("outbox: cannot schedule %d message(s); the periodic task will", len(wanted), exc_info=True)


def replay(messages: Iterable[OutboxMessage], *, now: dt.datetime | None = None) -> int:
    """Put failed or dead messages back in the queue with a fresh attempt budget; returns how many."""
    moment = now or timezone.now()
    ids = [m.pk for m in messages if m.state in (State.FAILED, State.DEAD)]
    if not ids:
        return 0
    with transaction.atomic():
        count = OutboxMessage.objects.filter(pk__in=ids, state__in=(State.FAILED, State.DEAD)).update(
            state=State.PENDING, attempts=0, next_attempt_at=moment
        )
        transaction.on_commit(lambda: schedule(str(pk) for pk in ids))
    return count


# ---------------------------------------------------------------------------- the notice


def notice_document(message: OutboxMessage, attempt: int) -> dict[str, Any]:
    """The JSON document POSTed for `message` (serialised by `federation.client.json_body`)."""
    return {
        "id": str(message.pk),
        "kind": message.kind,
        "origin": normalise(settings.NODE_BASE_URL),
        "created_at": message.created_at.astimezone(dt.UTC).isoformat().replace("+00:00", "Z"),
        "attempt": attempt,
        "payload": message.payload,
    }


def notice_body(message: OutboxMessage, attempt: int) -> bytes:
    """The exact bytes POSTed for `message` (what the signature's Content-Digest covers)."""
    from federation.client import json_body

    return json_body(notice_document(message, attempt))


def target_url(message: OutboxMessage) -> str:
    """Where `message` goes: its `url` (a webhook), else the destination node's notice endpoint."""
    return message.url or f"{message.destination}{NOTICES_PATH}"


# ---------------------------------------------------------------------------- delivering


def backoff(attempts: int, *, rng: random.Random | None = None) -> dt.timedelta:
    """The wait before the next attempt after `attempts` failed ones: exponential, capped, with
    "equal jitter" (uniform in the upper half) so that many failed messages do not retry in step."""
    ceiling = min(backoff_max(), backoff_base() * (2 ** max(attempts - 1, 0)))
    draw = (rng or random).uniform(ceiling / 2, ceiling)
    return dt.timedelta(seconds=draw)


def _claim(pk: Any, now: dt.datetime) -> bool:
    """Take the message for one send (other senders see it as not due until the lease ends)."""
    lease = now + dt.timedelta(seconds=send_timeout() * 2 + 30)
    due = Q(pk=pk, state__in=(State.PENDING, State.FAILED), next_attempt_at__lte=now)
    return OutboxMessage.objects.filter(due).update(next_attempt_at=lease) == 1


def _post(message: OutboxMessage, attempt: int) -> str:
    """Send once, signed (RFC 9421); "" on success, else what went wrong (kept in `last_error`)."""
    from federation.client import PeerError, post_signed

    url = target_url(message)
    if not allowed_url(url):
        return f"destination refused (https only; plain http to loopback only on a loopback node): {url}"
    try:
        response = post_signed(
            url, notice_document(message, attempt), timeout=send_timeout(), headers={"Notice-Id": str(message.pk)}
        )
    except PeerError as exc:  # down, timeout; or no key pair yet / unreadable key file ("cannot sign"): retried
        return exc.detail[:500]
    if 200 <= response.status_code < 300:
        return ""
    return f"HTTP {response.status_code}: {response.text[:300]}"


def deliver(pk: Any, *, now: dt.datetime | None = None) -> str | None:
    """Try to send one message if it is due; returns its new state, or None when it was not due
    (already delivered, dead, waiting for its backoff, or being sent by another worker)."""
    moment = now or timezone.now()
    if not _claim(pk, moment):
        return None
    message = OutboxMessage.objects.get(pk=pk)
    attempt = message.attempts + 1
    error = _post(message, attempt)
    finished = timezone.now() if now is None else moment
    if not error:
        OutboxMessage.objects.filter(pk=pk).update(
            state=State.DELIVERED, attempts=attempt, delivered_at=finished, last_error=""
        )
        return State.DELIVERED
    refused = error.startswith("destination refused")
    if refused or attempt >= max_attempts():
        OutboxMessage.objects.filter(pk=pk).update(state=State.DEAD, attempts=attempt, last_error=error)
        logger.error("outbox: %s to %s dead after %d attempts: %s", message.kind, message.destination, attempt, error)
        return State.DEAD
    OutboxMessage.objects.filter(pk=pk).update(
        state=State.FAILED, attempts=attempt, last_error=error, next_attempt_at=finished + backoff(attempt)
    )
    logger.warning("outbox: %s to %s failed (attempt %d): %s", message.kind, message.destination, attempt, error)
    return State.FAILED


def deliver_many(ids: Iterable[Any], *, now: dt.datetime | None = None) -> dict[str, int]:
    """`deliver` each id; counts of the resulting states (``skipped``: not due)."""
    counts: dict[str, int] = {}
    for pk in ids:
        state = deliver(pk, now=now) or "skipped"
        counts[state] = counts.get(state, 0) + 1
    return counts


def due_ids(*, now: dt.datetime | None = None, limit: int = DUE_BATCH) -> list[uuid.UUID]:
    """Pending or failed messages whose next attempt is due, oldest first."""
    moment = now or timezone.now()
    return list(
        OutboxMessage.objects.filter(state__in=(State.PENDING, State.FAILED), next_attempt_at__lte=moment)
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )


def deliver_due(*, now: dt.datetime | None = None) -> dict[str, int]:
    """Send every message whose next attempt is due (the periodic task)."""
    return deliver_many(due_ids(now=now), now=now)
