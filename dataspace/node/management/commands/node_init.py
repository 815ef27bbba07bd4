"""python manage.py node_init: create this node's key pair and metadata."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from dataspace.node import keys, services


class Command(BaseCommand):
    help = (
        "Initialise this node: record its name, base URL and roles (from NODE_NAME, NODE_BASE_URL, "
        "NODE_ROLES) and create its Ed25519 key pair in NODE_KEY_DIR (mode 0600). Idempotent: an "
        "existing key is kept unless --rotate is given."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--rotate",
            action="store_true",
            help="Create a new signing key; older keys stay published in the JWKS until removed.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            identity, key, created = services.initialise_node(rotate=options["rotate"])
        except (keys.KeyFileError, OSError) as exc:
            raise CommandError(str(exc)) from exc
        state = "created" if created else "kept"
        self.stdout.write(
            f"node {identity.name} at {identity.base_url}, roles {', '.join(identity.roles)}; "
            f"signing key {key.kid} {state} ({key.path})"
        )
