"""python manage.py oauth_client: register, list, rotate, disable OAuth clients; report old secrets."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from dataspace.oauth import clients
from dataspace.oauth.models import Client
from dataspace.oauth.scopes import SCOPES

#: Which command-line option carries each field named by a ValidationError.
OPTION_OF_FIELD = {
    "allowed_scopes": "--scopes",
    "grant_types": "--grant",
    "redirect_uris": "--redirect-uri",
    "jwks_uri": "--jwks-uri",
    "token_endpoint_auth_method": "--auth-method",
    "owner": "--owner",
    "user": "--for-user",
    "expires_at": "--expires",
    "kind": "--kind",
    "name": "--name",
}


def _error(exc: ValidationError) -> CommandError:
    if hasattr(exc, "error_dict"):
        parts = [
            f"{OPTION_OF_FIELD.get(field, field)}: {' '.join(messages)}" for field, messages in exc.message_dict.items()
        ]
        return CommandError("; ".join(parts))
    return CommandError(" ".join(exc.messages))


def _expiry(value: str | None) -> dt.datetime | None:
    """`YYYY-MM-DD`: the client is usable through that day (it expires at the next midnight, node time)."""
    if not value:
        return None
    try:
        day = dt.date.fromisoformat(value)
    except ValueError:
        raise CommandError(f"--expires: {value!r} is not a date of the form YYYY-MM-DD") from None
    expires = timezone.make_aware(dt.datetime.combine(day + dt.timedelta(days=1), dt.time.min))
    if expires <= timezone.now():
        raise CommandError(f"--expires: {value} is in the past")
    return expires


def _client(client_id: str) -> Client:
    found = Client.objects.select_related("owner", "user").filter(client_id=client_id).first()
    if found is None:
        raise CommandError(f"CLIENT_ID: no client {client_id!r} on this node (see `oauth_client list`)")
    return found


def _description(client: Client) -> dict[str, Any]:
    return {
        "client_id": client.client_id,
        "name": client.name,
        "kind": client.kind,
        "owner": str(client.owner_id),
        "owner_name": client.owner.name,
        "scopes": list(client.allowed_scopes),
        "grant_types": list(client.grant_types),
        "auth_method": client.token_endpoint_auth_method,
        "acts_for": client.user.get_username() if client.user else None,
        "active": client.is_active,
        "usable": client.is_usable(),
        "expires_at": client.expires_at.isoformat() if client.expires_at else None,
    }


class Command(BaseCommand):
    help = (
        "Manage this node's OAuth2 clients. Subcommands: create (prints the client_id and, once, the "
        "client_secret), list, rotate (new secret; the old one works for a grace period), disable (at once, "
        "with its tokens), report (secrets past the maximum age). Only a digest of each secret is stored."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="subcommand", required=True, metavar="{create,list,rotate,disable,report}")
        scope_list = ", ".join(SCOPES)

        create = sub.add_parser("create", help="register a client and print its credentials (secret shown once)")
        create.add_argument("--name", required=True, help="a name people recognise (the vendor and its software)")
        create.add_argument("--description", default="", help="what the client is for")
        create.add_argument(
            "--scopes", required=True, help=f'space-separated scopes, e.g. "referentials:read"; known: {scope_list}'
        )
        create.add_argument(
            "--grant",
            action="append",
            required=True,
            choices=clients.GRANT_TYPES,
            dest="grants",
            help="a grant type the client may use; repeat the option for several",
        )
        create.add_argument(
            "--redirect-uri",
            action="append",
            default=[],
            dest="redirect_uris",
            metavar="URI",
            help="an exact redirect URI (needed by authorization_code); repeat for several",
        )
        create.add_argument(
            "--kind",
            choices=Client.Kind.values,
            default=Client.Kind.READER,
            help="depositor: may write its owner's data (others' under a mandate); reader (default): read scopes only",
        )
        create.add_argument(
            "--owner",
            default="",
            metavar="SIRET_OR_UUID",
            help="SIRET or UUID of the owning organisation (default: the node's organisation)",
        )
        create.add_argument(
            "--for-user", default="", help="USERNAME: a personal client whose tokens act as this person"
        )
        create.add_argument(
            "--auth-method",
            choices=Client.AuthMethod.values,
            default=Client.AuthMethod.SECRET_BASIC,
            help="how the client authenticates at the token endpoint (default client_secret_basic)",
        )
        create.add_argument(
            "--jwks-uri", default="", metavar="URL", help="for private_key_jwt: where the peer publishes its keys"
        )
        create.add_argument(
            "--expires", default=None, metavar="YYYY-MM-DD", help="YYYY-MM-DD: last day the client may be used"
        )
        create.add_argument("--json", action="store_true", help="print the credentials as one JSON object")

        listing = sub.add_parser("list", help="list the clients")
        listing.add_argument("--json", action="store_true", help="print a JSON array")

        rotate = sub.add_parser("rotate", help="issue a new secret; older ones retire after the grace period")
        rotate.add_argument("client_id", metavar="CLIENT_ID")
        rotate.add_argument(
            "--grace-days",
            type=int,
            default=None,
            help="days the previous secret keeps working (default: OAUTH_SECRET_GRACE_PERIOD)",
        )
        rotate.add_argument("--json", action="store_true", help="print the new secret as JSON")

        disable = sub.add_parser("disable", help="disable a client at once and revoke its tokens")
        disable.add_argument("client_id", metavar="CLIENT_ID")

        report = sub.add_parser("report", help="list current secrets older than the maximum age (exit code 0)")
        report.add_argument(
            "--max-age-days", type=int, default=None, help="maximum age in days (default: OAUTH_SECRET_MAX_AGE_DAYS)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        handler = getattr(self, f"handle_{options['subcommand']}")
        try:
            handler(options)
        except ValidationError as exc:
            raise _error(exc) from None

    # ------------------------------------------------------------------ subcommands

    def handle_create(self, options: dict[str, Any]) -> None:
        owner = clients.resolve_owner(options["owner"])
        user = clients.resolve_user(options["for_user"])
        issued = clients.create_client(
            name=options["name"],
            description=options["description"],
            owner=owner,
            scopes=options["scopes"],
            grant_types=list(dict.fromkeys(options["grants"])),
            kind=options["kind"],
            redirect_uris=options["redirect_uris"],
            auth_method=options["auth_method"],
            jwks_uri=options["jwks_uri"],
            user=user,
            expires_at=_expiry(options["expires"]),
        )
        client = issued.client
        if options["json"]:
            document = {
                "client_id": client.client_id,
                "client_secret": issued.secret,
                "scopes": list(client.allowed_scopes),
                "grant_types": list(client.grant_types),
                "kind": client.kind,
                "owner": str(owner.pk),
                "acts_for": user.get_username() if user else None,
            }
            self.stdout.write(json.dumps(document, ensure_ascii=False))
            return
        self.stdout.write(self.style.SUCCESS(f"Client created: {client.name} ({client.get_kind_display()})"))
        self.stdout.write(f"client_id:     {client.client_id}")
        if issued.secret:
            self.stdout.write(f"client_secret: {issued.secret}")
            self.stdout.write(self.style.WARNING("The secret is shown only now: store it; the node keeps a digest."))
        else:
            self.stdout.write(f"no secret: the client authenticates with {client.token_endpoint_auth_method}")
        self.stdout.write(f"owner:         {owner.name} ({owner.pk})")
        self.stdout.write(f"scopes:        {' '.join(client.allowed_scopes)}")
        self.stdout.write(f"grant types:   {' '.join(client.grant_types)}")
        if user:
            self.stdout.write(f"acts for:      {user.get_username()}")

    def handle_list(self, options: dict[str, Any]) -> None:
        rows = [_description(client) for client in Client.objects.select_related("owner", "user").order_by("name")]
        if options["json"]:
            self.stdout.write(json.dumps(rows, ensure_ascii=False))
            return
        if not rows:
            self.stdout.write("No client registered.")
        for row in rows:
            state = "active" if row["usable"] else ("expired" if row["active"] else "disabled")
            acting = f" acts for {row['acts_for']}" if row["acts_for"] else ""
            self.stdout.write(
                f"{row['client_id']}  {row['name']}  [{row['kind']}, {state}]  owner {row['owner_name']}{acting}  "
                f"scopes: {' '.join(row['scopes'])}"
            )

    def handle_rotate(self, options: dict[str, Any]) -> None:
        grace_days = options["grace_days"]
        if grace_days is not None and grace_days < 0:
            raise CommandError("--grace-days: must be 0 or more")
        client = _client(options["client_id"])
        if client.token_endpoint_auth_method in (Client.AuthMethod.PRIVATE_KEY_JWT, Client.AuthMethod.NONE):
            raise CommandError(
                f"CLIENT_ID: {client.client_id} authenticates with {client.token_endpoint_auth_method}; "
                "it has no secret"
            )
        if not client.is_usable():
            raise CommandError(f"CLIENT_ID: {client.client_id} is disabled or expired; create a new client instead")
        issued = clients.rotate_secret(client, grace_seconds=None if grace_days is None else grace_days * 86400)
        retiring = client.secrets.filter(revoked_at__isnull=True, version__lt=issued.version or 0).values_list(
            "retires_at", flat=True
        )
        retires_at = max((when for when in retiring if when is not None), default=None)
        if options["json"]:
            document = {
                "client_id": client.client_id,
                "client_secret": issued.secret,
                "version": issued.version,
                "previous_secrets_retire_at": retires_at.isoformat() if retires_at else None,
            }
            self.stdout.write(json.dumps(document))
            return
        self.stdout.write(self.style.SUCCESS(f"New secret (version {issued.version}) for {client.client_id}"))
        self.stdout.write(f"client_secret: {issued.secret}")
        self.stdout.write(self.style.WARNING("The secret is shown only now: store it; the node keeps a digest."))
        if retires_at:
            self.stdout.write(f"previous secrets keep working until {retires_at.isoformat()}")

    def handle_disable(self, options: dict[str, Any]) -> None:
        client = clients.disable_client(_client(options["client_id"]))
        self.stdout.write(self.style.SUCCESS(f"Client {client.client_id} disabled; its tokens are revoked."))

    def handle_report(self, options: dict[str, Any]) -> None:
        days = options["max_age_days"]
        if days is not None and days < 1:
            raise CommandError("--max-age-days: must be 1 or more")
        old = clients.secrets_past_max_age(days)
        if not old:
            self.stdout.write("No client secret is past its maximum age.")
            return
        self.stdout.write(self.style.WARNING(f"{len(old)} client secret(s) past their maximum age; rotate them:"))
        for stored in old:
            self.stdout.write(
                f"{stored.client.client_id} v{stored.version}  {stored.client.name}  "
                f"created {stored.created_at:%Y-%m-%d}"
            )
