"""python manage.py demo_account: create the demo federation's accounts on this node (idempotent)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from dataspace.node.models import StaffMembership
from dataspace.referentials.models import Organisation

#: What each account kind may do on a node, until the directory and OAuth apps define it further.
KINDS = {
    "staff": {"is_staff": True, "is_superuser": True},
    "analyst": {"is_staff": False, "is_superuser": False},
    "professional": {"is_staff": False, "is_superuser": False},
    "person": {"is_staff": False, "is_superuser": False},
}

#: Django permissions ("app_label.codename") each account kind gets: the ministry's analyst uses the
#: indicators dashboard (/indicateurs/: read, create and launch campaigns).
KIND_PERMISSIONS: dict[str, tuple[str, ...]] = {
    "analyst": ("indicators.view_campaign", "indicators.add_campaign", "indicators.change_campaign"),
}


def kind_permissions(kind: str) -> list[Permission]:
    """The permissions of KIND_PERMISSIONS[kind] (CommandError naming one that does not exist: not migrated)."""
    permissions = []
    for label in KIND_PERMISSIONS.get(kind, ()):
        app_label, codename = label.split(".", 1)
        permission = Permission.objects.filter(content_type__app_label=app_label, codename=codename).first()
        if permission is None:
            raise CommandError(f"permission {label} not found: run migrate first")
        permissions.append(permission)
    return permissions


def demo_accounts(path: Path, node: str) -> list[dict[str, Any]]:
    """The accounts listed for `node` in the demo's credentials file (CommandError if unreadable)."""
    try:
        accounts: list[dict[str, Any]] = json.loads(path.read_text())[node]
    except FileNotFoundError:
        raise CommandError(f"credentials file not found: {path}") from None
    except (KeyError, json.JSONDecodeError) as exc:
        raise CommandError(f"{path} has no valid entry for node {node!r}: {exc}") from None
    return accounts


class Command(BaseCommand):
    help = (
        "Create or update this node's demo accounts from a credentials file written by scripts/demo.py "
        '({"<node>": [{"username", "password", "kind"}, …]}, mode 0600). Kinds: staff (superuser of the '
        "node's admin; with a `structure`, that structure's administrator only), "
        "analyst (with the permissions of the indicators dashboard), professional, person; each non-staff "
        "account joins a group named after its "
        "kind. Idempotent: existing accounts keep their id; passwords are reset to the file's only if they differ."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--credentials", required=True, type=Path, help="path of credentials.json")
        parser.add_argument("--node", required=True, help="the node's name, a key of the credentials file")

    def handle(self, *args: Any, **options: Any) -> None:
        accounts = demo_accounts(Path(options["credentials"]), options["node"])
        user_model = get_user_model()
        with transaction.atomic():
            for account in accounts:
                kind = account.get("kind")
                if kind not in KINDS:
                    raise CommandError(f"unknown account kind {kind!r}; choose one of: {', '.join(KINDS)}")
                flags = dict(KINDS[kind])
                structure = self._structure(account) if kind == "staff" else None
                if structure is not None:
                    flags["is_superuser"] = False  # one structure's administrator, not the node's operator
                user, created = user_model.objects.get_or_create(username=account["username"], defaults=flags)
                for field, value in flags.items():
                    setattr(user, field, value)
                if created or not user.check_password(account["password"]):
                    user.set_password(account["password"])
                user.is_active = True
                user.save()
                if kind != "staff":
                    group, _ = Group.objects.get_or_create(name=kind)
                    user.groups.add(group)
                user.user_permissions.add(*kind_permissions(kind))
                if structure is not None:
                    StaffMembership.objects.update_or_create(
                        user=user, organisation=structure, defaults={"role": StaffMembership.Role.ADMINISTRATOR}
                    )
                self.stdout.write(f"account {user.username} ({kind}) {'created' if created else 'kept'}")

    @staticmethod
    def _structure(account: dict[str, Any]) -> Organisation | None:
        """The structure a staff account administers (`structure`: its name), or None for the operator."""
        name = account.get("structure")
        if not name:
            return None
        structure = Organisation.objects.filter(name=name).first()
        if structure is None:
            raise CommandError(f"account {account['username']}: no organisation named {name!r} on this node")
        return structure
