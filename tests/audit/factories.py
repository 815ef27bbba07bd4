"""Helpers of the journal tests: entries written through the real `journal()`, raw SQL tampering."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from django.db import connection

from dataspace.audit.models import JournalEntry
from dataspace.audit.services import Actor, journal

BASE_TIME = dt.datetime(2026, 11, 2, 9, 0, tzinfo=dt.UTC)
TABLE = JournalEntry._meta.db_table


def write(owner: Any = None, *, minutes: int = 0, **kwargs: Any) -> JournalEntry:
    """One entry about `owner`'s data (an Organisation or a UUID), at BASE_TIME + minutes."""
    owner_id = getattr(owner, "pk", owner)
    values: dict[str, Any] = {
        "actor": Actor(
            user_id=7,
            username="camille.regie",
            organisation_id=uuid.UUID("11111111-2222-3333-4444-555555555555"),
            organisation_name="Compagnie du Fil Tendu",
            licence_number="PLATESV-R-2024-000123",
            client_id="logiciel-billetterie",
        ),
        "action": "read",
        "decision": "permit",
        "reason_code": "policy_permits",
        "reason": "Une permission de la politique s'applique.",
        "purpose": "programming",
        "record_type": "performance",
        "record_ids": [uuid.uuid4()],
        "owner_id": owner_id,
        "now": BASE_TIME + dt.timedelta(minutes=minutes),
    }
    values.update(kwargs)
    entry = journal(**values)
    assert entry is not None
    return entry


def chain(count: int, owner: Any = None) -> list[JournalEntry]:
    return [write(owner or uuid.uuid4(), minutes=index) for index in range(count)]


# ---------------------------------------------------------------------------- tampering (raw SQL)


def sql(statement: str, params: list[Any] | None = None) -> None:
    with connection.cursor() as cursor:
        cursor.execute(statement, params or [])


def columns() -> list[str]:
    return [f.column for f in JournalEntry._meta.concrete_fields if f.column != "seq"]


def raw_row(seq: int) -> list[Any]:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {', '.join(columns())} FROM {TABLE} WHERE seq = %s", [seq])  # noqa: S608
        row = cursor.fetchone()
    assert row is not None
    return list(row)


def put_row(seq: int, values: list[Any]) -> None:
    assignments = ", ".join(f"{column} = %s" for column in columns())
    sql(f"UPDATE {TABLE} SET {assignments} WHERE seq = %s", [*values, seq])  # noqa: S608


def swap(first: int, second: int) -> None:
    """Swap every column of two rows but their seq (the rows change places in the chain)."""
    a, b = raw_row(first), raw_row(second)
    put_row(first, b)
    put_row(second, a)
