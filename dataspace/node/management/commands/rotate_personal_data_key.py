"""python manage.py rotate_personal_data_key: rotate the key that encrypts personal data at rest.

What it guarantees (docs/operations.md, "Personal data keys"):

* a new Fernet key is put first in the key file (written 0600, atomically); when the keys come
  from the environment (`PERSONAL_DATA_KEYS`) the command prints the value to set and refuses to
  edit anything — set it, restart the node, then run it again with ``--reencrypt-only``;
* every `EncryptedTextField` column of every installed model is re-encrypted under the newest key,
  in batches, by raw SQL (no `save()`: no version bump, no change-feed entry, no signal); an update
  only applies if the row still holds the value read (a row written meanwhile is already under the
  newest key); plaintext left by an older schema is encrypted on the way;
* blind indexes (a ``<field>_index`` column beside an encrypted ``<field>``) are recomputed at the
  end, since their key derives from the oldest key still listed;
* with ``--drop-old``, once everything is re-encrypted, the older keys are removed from the file.

Values stay readable throughout: until the file changes, the old keys decrypt; after, every value
is under the new one.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet
from django.apps import apps
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection, models, transaction

from dataspace.node import crypto

DEFAULT_BATCH = 500


# ---------------------------------------------------------------------------- the columns


def _table(model: type[models.Model]) -> tuple[str, str]:
    """The model's table and primary-key column, quoted for raw SQL."""
    quote = connection.ops.quote_name
    pk_field = model._meta.pk
    if pk_field is None:
        raise CommandError(f"{model._meta.label} has no primary key")
    return quote(model._meta.db_table), quote(str(pk_field.column))


def encrypted_columns() -> Iterator[tuple[type[models.Model], list[Any]]]:
    """Every concrete model with encrypted fields, and those fields."""
    for model in apps.get_models():
        if model._meta.proxy or not model._meta.managed:
            continue
        fields = [f for f in model._meta.concrete_fields if isinstance(f, crypto.EncryptedTextField)]
        if fields:
            yield model, fields


def blind_index_field(model: type[models.Model], field: Any) -> Any:
    """The ``<field>_index`` column holding the blind index of `field`, if the model has one."""
    try:
        sibling = model._meta.get_field(f"{field.name}_index")
    except Exception:  # noqa: BLE001 - FieldDoesNotExist: no blind index for this field
        return None
    return sibling if isinstance(sibling, models.CharField) else None


def _batches(model: type[models.Model], columns: list[str], batch_size: int) -> Iterator[list[tuple[Any, ...]]]:
    """Raw rows (pk, *columns) in primary-key order, `batch_size` at a time."""
    quote = connection.ops.quote_name
    table, pk = _table(model)
    selected = ", ".join([pk, *(quote(str(c)) for c in columns)])
    last: Any = None
    while True:
        where = f" WHERE {pk} > %s" if last is not None else ""
        sql = f"SELECT {selected} FROM {table}{where} ORDER BY {pk} LIMIT %s"  # noqa: S608 - quoted names
        with connection.cursor() as cursor:
            cursor.execute(sql, [last, batch_size] if last is not None else [batch_size])
            rows = cursor.fetchall()
        if not rows:
            return
        yield rows
        last = rows[-1][0]


def reencrypt_model(model: type[models.Model], fields: list[Any], batch_size: int) -> int:
    """Re-encrypt every value of `fields` under the newest key; returns how many were rewritten."""
    quote = connection.ops.quote_name
    table, pk = _table(model)
    rewritten = 0
    for field in fields:
        column = quote(str(field.column))
        sql = f"UPDATE {table} SET {column} = %s WHERE {pk} = %s AND {column} = %s"  # noqa: S608 - quoted names
        for rows in _batches(model, [field.column], batch_size):
            updates = [(crypto.rotate(stored), key, stored) for key, stored in rows if stored]
            if not updates:
                continue
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.executemany(sql, updates)
            rewritten += len(updates)
    return rewritten


def reindex_model(model: type[models.Model], fields: list[Any], batch_size: int) -> int:
    """Recompute the blind indexes of `fields` (those that have one); returns how many rows."""
    quote = connection.ops.quote_name
    table, pk = _table(model)
    done = 0
    for field in fields:
        index = blind_index_field(model, field)
        if index is None:
            continue
        column, index_column = quote(str(field.column)), quote(index.column)
        sql = f"UPDATE {table} SET {index_column} = %s WHERE {pk} = %s AND {column} = %s"  # noqa: S608 - quoted names
        for rows in _batches(model, [field.column], batch_size):
            updates = [
                (crypto.blind_index(crypto.decrypt(stored)) if stored else "", key, stored) for key, stored in rows
            ]
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.executemany(sql, [u for u in updates if u[2] is not None])
            done += len(updates)
    return done


# ---------------------------------------------------------------------------- the key file


def keys_from_environment() -> bool:
    return bool(str(getattr(settings, "PERSONAL_DATA_KEYS", "") or "").strip())


def current_keys() -> list[str]:
    if keys_from_environment():
        return [k.strip() for k in str(settings.PERSONAL_DATA_KEYS).split(",") if k.strip()]
    crypto.encrypt("")  # creates the key file on first use
    return [line.strip() for line in crypto.key_file().read_text().splitlines() if line.strip()]


def write_key_file(keys: list[str]) -> Path:
    """Replace the key file atomically with `keys` (newest first), mode 0600 from the first byte."""
    path = crypto.key_file()
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write("".join(f"{key}\n" for key in keys))
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
    return path


class Command(BaseCommand):
    help = (
        "Rotate the key encrypting personal data at rest (emails, phones, postal addresses): put a new "
        "Fernet key first in the key file ($NODE_DATA_DIR/personal_data_keys), re-encrypt every encrypted "
        "column of every model in batches, recompute blind indexes, and with --drop-old remove the older "
        "keys once done. When the keys come from PERSONAL_DATA_KEYS, print the value to set and stop: "
        "set it, restart, then run again with --reencrypt-only. Back up the key file with the database."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--reencrypt-only",
            action="store_true",
            help="Make no new key: re-encrypt everything under the newest key configured (after "
            "updating PERSONAL_DATA_KEYS yourself) and recompute blind indexes.",
        )
        parser.add_argument(
            "--drop-old",
            action="store_true",
            help="Once every value is under the newest key, remove the older keys from the key file "
            "(with PERSONAL_DATA_KEYS: print the value to set).",
        )
        parser.add_argument(
            "--batch-size",
            type=int,
            default=DEFAULT_BATCH,
            help=f"Rows read and rewritten per transaction (default {DEFAULT_BATCH}).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        batch_size = int(options["batch_size"])
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1")
        from_env = keys_from_environment()
        try:
            keys = current_keys()
        except crypto.PersonalDataKeyError as exc:
            raise CommandError(str(exc)) from exc
        if not options["reencrypt_only"]:
            new_key = Fernet.generate_key().decode("ascii")
            if from_env:
                raise CommandError(
                    "The personal-data keys come from the environment: this command does not edit it.\n"
                    "1. Set (newest first, keep the old ones until step 2 is done):\n"
                    f"   PERSONAL_DATA_KEYS={','.join([new_key, *keys])}\n"
                    "2. Restart the node's processes, then run: "
                    "python manage.py rotate_personal_data_key --reencrypt-only\n"
                    f"3. Then keep only the new key: PERSONAL_DATA_KEYS={new_key} and run --reencrypt-only "
                    "once more (it recomputes the blind indexes)."
                )
            path = write_key_file([new_key, *keys])
            self.stdout.write(f"new key written first in {path} ({len(keys) + 1} keys); back this file up now")
        total = 0
        columns = list(encrypted_columns())
        for model, fields in columns:
            count = reencrypt_model(model, fields, batch_size)
            total += count
            names = ", ".join(f.name for f in fields)
            self.stdout.write(f"{model._meta.label}: {count} value(s) re-encrypted ({names})")
        self.stdout.write(f"{total} value(s) re-encrypted under the newest key")
        if options["drop_old"]:
            newest = current_keys()[0]
            if from_env:
                self.stdout.write(
                    f"Every value is under the newest key. Set PERSONAL_DATA_KEYS={newest}, restart, and run "
                    "--reencrypt-only once more to recompute the blind indexes."
                )
            else:
                write_key_file([newest])
                self.stdout.write(f"older keys removed from {crypto.key_file()}")
        indexed = sum(reindex_model(model, fields, batch_size) for model, fields in columns)
        self.stdout.write(f"{indexed} blind index value(s) recomputed")
