"""The outbox through a real Celery worker and Redis (runs when REDIS_URL is set)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from django.db import transaction

from federation import outbox
from federation.models import OutboxMessage
from tests.federation.receiver import Receiver


def _worker_key_dir(worker: Any) -> Path:
    """The NODE_KEY_DIR the worker process was started with (it signs with the key found there)."""
    environ = Path(f"/proc/{worker.process.pid}/environ").read_bytes().split(b"\0")
    values = dict(item.decode().split("=", 1) for item in environ if b"=" in item)
    return Path(values["NODE_KEY_DIR"])


@pytest.mark.worker
def test_a_committed_notice_is_delivered_by_the_worker(
    transactional_db: None, celery_worker_process: Any, settings: Any
) -> None:
    from dataspace.node import keys
    from federation import signing

    settings.NODE_KEY_DIR = _worker_key_dir(celery_worker_process)
    if not keys.load_keys():
        keys.generate_key("20260101T000000Z")
    receiver = Receiver().start()
    try:
        with transaction.atomic():
            [message] = outbox.enqueue(kind="consent.withdrawn", payload={"n": 1}, destinations=[receiver.url])
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            state = OutboxMessage.objects.get(pk=message.pk).state
            if state != OutboxMessage.State.PENDING:
                break
            time.sleep(0.2)
        stored = OutboxMessage.objects.get(pk=message.pk)
        assert stored.state == OutboxMessage.State.DELIVERED, (stored.last_error, celery_worker_process.log_tail())
        [got] = receiver.received
        url = f"{receiver.url}{got.path}"
        signing.verify_message("POST", url, got.headers, got.body, keys=signing.own_keys())  # signed by the node key
        assert json.loads(got.body)["payload"] == {"n": 1}
    finally:
        receiver.stop()
