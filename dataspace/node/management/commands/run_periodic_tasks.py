"""`run_periodic_tasks`: the node's periodic tasks without Redis, in the foreground.

With Redis, Celery beat schedules `CELERY_BEAT_SCHEDULE` and a worker runs the tasks. A node
without Redis (the embedded default, `make demo`) runs its tasks eagerly, in-process, and has no
beat: this command is its beat. It runs every scheduled task at its interval, one at a time, in this
process, and never stops on a task's failure (it logs it and tries again at the next interval).
"""

from __future__ import annotations

import signal
import threading
import time
import traceback
from dataclasses import dataclass
from typing import Any

from celery import current_app
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import close_old_connections


@dataclass
class Scheduled:
    name: str
    task: str
    every: float
    due: float


def schedule(now: float, *, only: list[str] | None = None, first_delay: float = 0.0) -> list[Scheduled]:
    """The beat schedule as (name, task, interval) entries, first run `first_delay` seconds from `now`."""
    entries = []
    beat: dict[str, dict[str, Any]] = settings.CELERY_BEAT_SCHEDULE
    for name, entry in sorted(beat.items()):
        if only and name not in only:
            continue
        every = float(entry["schedule"])
        entries.append(Scheduled(name=name, task=str(entry["task"]), every=every, due=now + first_delay))
    return entries


def run_due(entries: list[Scheduled], now: float, *, out: Any = None) -> int:
    """Run every entry whose time has come; returns how many ran."""
    ran = 0
    for entry in entries:
        if entry.due > now:
            continue
        entry.due = now + entry.every
        try:
            current_app.tasks[entry.task].apply(throw=True)
        except Exception:  # noqa: BLE001 - a failing task must not stop the others
            if out is not None:
                out.write(f"{entry.name}: {traceback.format_exc(limit=3)}")
        ran += 1
    return ran


class Command(BaseCommand):
    help = (
        "Exécute les tâches périodiques du nœud sans Redis (remplace Celery beat), au premier plan. / "
        "Runs the node's periodic tasks without Redis (stands in for Celery beat), in the foreground."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--once", action="store_true", help="run every task once, then exit")
        parser.add_argument(
            "--only", action="append", default=[], metavar="NAME", help="a CELERY_BEAT_SCHEDULE entry (repeatable)"
        )
        parser.add_argument(
            "--first-delay", type=float, default=0.0, metavar="SECONDS", help="wait before the first round"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        current_app.loader.import_default_modules()
        unknown = sorted(set(options["only"]) - set(settings.CELERY_BEAT_SCHEDULE))
        if unknown:
            raise CommandError(
                f"Tâche(s) inconnue(s) / unknown entr(y/ies): {', '.join(unknown)}; "
                f"connues / known: {', '.join(sorted(settings.CELERY_BEAT_SCHEDULE))}"
            )
        entries = schedule(time.monotonic(), only=options["only"] or None, first_delay=options["first_delay"])
        if options["once"]:
            run_due(entries, time.monotonic() + options["first_delay"], out=self.stderr)
            return
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        signal.signal(signal.SIGINT, lambda *_: stop.set())
        if stop.wait(options["first_delay"]):
            return
        while not stop.is_set():
            close_old_connections()  # a long-lived process: drop connections the database closed
            run_due(entries, time.monotonic(), out=self.stderr)
            next_due = min((entry.due for entry in entries), default=time.monotonic() + 60)
            stop.wait(max(0.5, next_due - time.monotonic()))
