"""Notices received from other nodes (the receiving end of `federation.outbox`).

A notice is the JSON document an origin's outbox POSTs, signed (RFC 9421), to
``/api/v1/federation/notices``::

    {"id": "<uuid>", "kind": "changes.available", "origin": "<sender base URL>",
     "created_at": "2026-…Z", "attempt": 1, "payload": {…}}

`receive(notice, sender)` deduplicates on `id` (`ReceivedNotice`: delivery is at least once) and
dispatches to the function registered for its `kind` with ``@handler("kind")``:

    @notices.handler("consent.withdrawn")
    def drop_person(notice: dict, sender: SignedPeer) -> str | None: ...

A handler runs inside the transaction that records the notice: if it raises, nothing is recorded
and the sender retries later (its outbox backs off); schedule Celery work with
``transaction.on_commit``. Its return value (a short text) is kept as the notice's `outcome`.
A kind nobody handles is recorded as ``ignored``. Handlers live in the modules of
`HANDLER_MODULES`, imported on first use (the replication module registers its own).
"""

from __future__ import annotations

import importlib
import logging
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction

from federation.models import ReceivedNotice
from federation.signing import SignedPeer

logger = logging.getLogger("federation.notices")

Handler = Callable[[dict[str, Any], SignedPeer], "str | None"]

#: Modules that register handlers when imported (a missing one is skipped).
HANDLER_MODULES = ("federation.replication", "federation.membership", "dataspace.indicators.campaigns")

_handlers: dict[str, Handler] = {}
_loaded = False
_load_lock = threading.Lock()

ACCEPTED, DUPLICATE, IGNORED = "accepted", "duplicate", "ignored"


def handler(kind: str) -> Callable[[Handler], Handler]:
    """Register the decorated function as the handler of notices of `kind` (one per kind)."""
    if not kind:
        raise ValueError("a notice handler needs a kind")

    def register(function: Handler) -> Handler:
        _handlers[kind] = function
        return function

    return register


def _load_handlers() -> None:
    global _loaded
    if _loaded:
        return
    with _load_lock:
        if _loaded:
            return
        for name in HANDLER_MODULES:
            try:
                importlib.import_module(name)
            except ModuleNotFoundError as exc:
                if exc.name != name:
                    raise
                logger.info("notices: no handler module %s", name)
        _loaded = True


def handlers() -> dict[str, Handler]:
    """The registered handlers by kind (after importing `HANDLER_MODULES`)."""
    _load_handlers()
    return dict(_handlers)


def handle(notice: dict[str, Any], sender: SignedPeer) -> str:
    """Run the handler of the notice's kind; its outcome (``accepted`` if it returned nothing),
    or ``ignored`` when no handler knows that kind."""
    _load_handlers()
    function = _handlers.get(str(notice.get("kind", "")))
    if function is None:
        return IGNORED
    outcome = function(notice, sender)
    return str(outcome)[:200] if outcome else ACCEPTED


@dataclass(frozen=True)
class Receipt:
    """What `receive` did: `status` is accepted, ignored or duplicate; `outcome` the handler's."""

    status: str
    outcome: str


def receive(notice: dict[str, Any], sender: SignedPeer) -> Receipt:
    """Handle a (validated) notice once: a notice id already recorded is a duplicate."""
    notice_id = uuid.UUID(str(notice["id"]))
    kind = str(notice["kind"])
    if ReceivedNotice.objects.filter(pk=notice_id).exists():
        return Receipt(status=DUPLICATE, outcome="")
    _load_handlers()
    known = kind in _handlers
    try:
        with transaction.atomic():
            outcome = handle(notice, sender)
            ReceivedNotice.objects.create(id=notice_id, kind=kind[:60], origin=sender.base_url, outcome=outcome)
    except IntegrityError:
        if ReceivedNotice.objects.filter(pk=notice_id).exists():  # the same notice, delivered twice at once
            return Receipt(status=DUPLICATE, outcome="")
        raise
    return Receipt(status=ACCEPTED if known else IGNORED, outcome=outcome)
