"""python manage.py federation_sync: pull members' change feeds into the index now (docs/federation.md)."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from federation import replication


def _line(result: dict[str, Any]) -> str:
    node = result.get("node", "?")
    status = result.get("status", "?")
    if status == "busy":
        return f"{node} : déjà en cours de réplication par une autre tâche / already being pulled by another run"
    counts = (
        f"{result.get('upserted', 0)} écrit(s)/written, {result.get('deleted', 0)} supprimé(s)/deleted, "
        f"{result.get('unchanged', 0)} inchangé(s)/unchanged, {result.get('refused', 0)} refusé(s)/refused, "
        f"{result.get('pages', 0)} page(s)"
    )
    if status == "error":
        return f"{node} : ÉCHEC / FAILED — {result.get('error', '')} ({counts})"
    return f"{node} : ok — {counts}"


class Command(BaseCommand):
    help = (
        "Pull the members' change feeds into the federation index now / Répliquer maintenant les flux de "
        "changements des membres dans l'index. Without option: every trusted member with role structure, then "
        "this node's own records (the periodic task sync_all_nodes). --node URL: that member only (repeatable); "
        "--local: this node's own records only; --reset with --node: forget what was replicated from that member "
        "and read its feed again from the beginning. Each member resumes from its stored cursor."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--node", action="append", default=[], metavar="URL", help="a member's base URL")
        parser.add_argument("--local", action="store_true", help="index this node's own records only")
        parser.add_argument(
            "--reset", action="store_true", help="with --node: drop that member's rows and cursor first"
        )
        parser.add_argument("--json", action="store_true", help="print the outcome as JSON")

    def handle(self, *args: Any, **options: Any) -> None:
        nodes: list[str] = [replication.normalise(url) for url in options["node"] if replication.normalise(url)]
        if options["reset"] and not nodes:
            raise CommandError("--reset demande au moins un --node URL.\n--reset needs at least one --node URL.")
        results: list[dict[str, Any]] = []
        if options["local"]:
            results.append(replication.index_local())
        for node in nodes:
            if options["reset"]:
                dropped = replication.forget_node(node)
                if dropped is None:
                    raise CommandError(
                        f"{node} est en cours de réplication : réessayez plus tard.\n"
                        f"{node} is being pulled right now: try again later."
                    )
                self.stdout.write(f"{node} : {dropped} ligne(s) oubliée(s) / row(s) dropped")
            results.append(replication.sync_node(node))
        if not options["local"] and not nodes:
            outcome = replication.sync_all()
            results = [*outcome["nodes"], outcome["local"]]
        if options["json"]:
            self.stdout.write(json.dumps(results, default=str, ensure_ascii=False))
        else:
            for result in results:
                self.stdout.write(_line(result))
        failed = [str(result.get("node")) for result in results if result.get("status") == "error"]
        if failed:
            raise CommandError(
                f"Réplication en échec pour : {', '.join(failed)}.\nReplication failed for: {', '.join(failed)}."
            )
