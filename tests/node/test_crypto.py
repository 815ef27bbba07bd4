"""Personal data at rest: encrypted columns, and `manage.py rotate_personal_data_key`."""

from __future__ import annotations

import io
import stat
from typing import Any

import pytest
from cryptography.fernet import Fernet, InvalidToken
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from dataspace.contacts.models import Contact
from dataspace.directory.models import DirectoryEntry
from dataspace.node import crypto
from dataspace.node.management.commands.rotate_personal_data_key import Command
from dataspace.records.models import Change
from tests.factories import OrganisationFactory

pytestmark = pytest.mark.django_db

EMAIL, PHONE, ADDRESS = "Alix.Martin@example.org", "+33 6 12 34 56 78", "12 rue des Coulisses, 69001 Lyon"


@pytest.fixture(autouse=True)
def _own_key_file(settings: Any, tmp_path: Any) -> None:
    """Each test has its own key file (not the developer's, not another test's)."""
    settings.NODE_DATA_DIR = tmp_path / "node"
    settings.PERSONAL_DATA_KEYS = ""


@pytest.fixture
def contact() -> Contact:
    return Contact.objects.create(
        owner=OrganisationFactory(), given_name="Alix", email=EMAIL, phone=PHONE, postal_address=ADDRESS
    )


@pytest.fixture
def entry() -> DirectoryEntry:
    return DirectoryEntry.objects.create(
        owner=OrganisationFactory(), display_name="Camille Lumière", contact_email="camille@example.org",
        contact_phone="+33 4 00 00 00 00", postal_address="1 place du Théâtre, 38000 Grenoble",
    )  # fmt: skip


def raw(model: Any, pk: Any, *columns: str) -> tuple[Any, ...]:
    table = connection.ops.quote_name(model._meta.db_table)
    selected = ", ".join(connection.ops.quote_name(c) for c in columns)
    with connection.cursor() as cursor:
        key = pk.hex if connection.vendor == "sqlite" else pk
        cursor.execute(f"SELECT {selected} FROM {table} WHERE id = %s", [key])  # noqa: S608
        row = cursor.fetchone()
    assert row is not None
    return tuple(row)


def dump() -> str:
    """Every text the database holds for contacts and directory entries, as a dump would show it."""
    with connection.cursor() as cursor:
        texts = []
        for model in (Contact, DirectoryEntry):
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(model._meta.db_table)}")  # noqa: S608
            texts.extend(str(value) for row in cursor.fetchall() for value in row)
    return "\n".join(texts)


def rotate(*args: str) -> str:
    out = io.StringIO()
    call_command("rotate_personal_data_key", *args, stdout=out)
    return out.getvalue()


def key_lines() -> list[str]:
    return [line for line in crypto.key_file().read_text().splitlines() if line.strip()]


# ---------------------------------------------------------------------------- at rest


def test_the_database_holds_no_plaintext(contact: Contact, entry: DirectoryEntry) -> None:
    text = dump()
    for secret in (EMAIL, PHONE, ADDRESS, "camille@example.org", "Grenoble", "Coulisses", "12 34 56"):
        assert secret not in text
    email, phone = raw(Contact, contact.pk, "email", "phone")
    assert email.startswith(crypto.PREFIX)
    assert phone.startswith(crypto.PREFIX)
    assert Contact.objects.get(pk=contact.pk).email == EMAIL
    assert stat.S_IMODE(crypto.key_file().stat().st_mode) == 0o600


# ---------------------------------------------------------------------------- rotation


def test_rotation_keeps_every_value_readable_under_a_new_key(contact: Contact, entry: DirectoryEntry) -> None:
    [old_key] = key_lines()
    before = raw(Contact, contact.pk, "email", "phone", "postal_address")
    changes_before = Change.objects.count()

    output = rotate()

    new_key, kept = key_lines()
    assert kept == old_key
    assert new_key != old_key
    assert "contacts.Contact: 3 value(s) re-encrypted" in output
    after = raw(Contact, contact.pk, "email", "phone", "postal_address")
    assert all(a != b for a, b in zip(after, before, strict=True))
    # every stored value now opens with the new key alone; none with the old one alone
    for stored in (*after, *raw(DirectoryEntry, entry.pk, "contact_email", "contact_phone", "postal_address")):
        token = stored.removeprefix(crypto.PREFIX).encode()
        assert Fernet(new_key.encode()).decrypt(token)
        with pytest.raises(InvalidToken):
            Fernet(old_key.encode()).decrypt(token)
    reloaded = Contact.objects.get(pk=contact.pk)
    assert (reloaded.email, reloaded.phone, reloaded.postal_address) == (EMAIL, PHONE, ADDRESS)
    assert DirectoryEntry.objects.get(pk=entry.pk).contact_email == "camille@example.org"
    for secret in (EMAIL, PHONE, ADDRESS, "camille@example.org"):
        assert secret not in dump()
    # raw SQL: no version bump, nothing published on the change feed
    assert DirectoryEntry.objects.get(pk=entry.pk).version == entry.version
    assert Change.objects.count() == changes_before


def test_drop_old_leaves_one_key_values_and_lookups_still_work(contact: Contact, entry: DirectoryEntry) -> None:
    from dataspace.contacts.services import with_email

    assert list(with_email(Contact.objects.all(), "alix.martin@example.org")) == [contact]
    rotate()
    rotate("--drop-old")
    assert len(key_lines()) == 1
    assert stat.S_IMODE(crypto.key_file().stat().st_mode) == 0o600
    reloaded = Contact.objects.get(pk=contact.pk)
    assert (reloaded.email, reloaded.phone, reloaded.postal_address) == (EMAIL, PHONE, ADDRESS)
    assert DirectoryEntry.objects.get(pk=entry.pk).postal_address == "1 place du Théâtre, 38000 Grenoble"
    # the blind index derives from the oldest key still listed: recomputed, lookups still find her
    assert list(with_email(Contact.objects.all(), " ALIX.martin@example.org")) == [contact]


def test_plaintext_left_by_an_older_schema_is_encrypted(contact: Contact) -> None:
    table = connection.ops.quote_name(Contact._meta.db_table)
    pk = contact.pk.hex if connection.vendor == "sqlite" else contact.pk
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {table} SET phone = %s WHERE id = %s", ["04 72 00 00 00", pk])  # noqa: S608
    assert Contact.objects.get(pk=contact.pk).phone == "04 72 00 00 00"  # readable as it is
    rotate("--reencrypt-only")
    [phone] = raw(Contact, contact.pk, "phone")
    assert phone.startswith(crypto.PREFIX)
    assert Contact.objects.get(pk=contact.pk).phone == "04 72 00 00 00"


def test_keys_from_the_environment_are_not_edited(contact: Contact, settings: Any) -> None:
    old_key = Fernet.generate_key().decode()
    settings.PERSONAL_DATA_KEYS = old_key
    contact.save()  # written again, under the environment's key
    before = raw(Contact, contact.pk, "email")

    with pytest.raises(CommandError) as refused:
        rotate()
    message = str(refused.value)
    assert "PERSONAL_DATA_KEYS=" in message
    assert message.split("PERSONAL_DATA_KEYS=")[1].split()[0].endswith(f",{old_key}")
    assert raw(Contact, contact.pk, "email") == before  # nothing re-encrypted

    # the operator sets the new value and runs it again: everything moves under the new key
    new_key = message.split("PERSONAL_DATA_KEYS=")[1].split(",")[0]
    settings.PERSONAL_DATA_KEYS = f"{new_key},{old_key}"
    rotate("--reencrypt-only")
    [email] = raw(Contact, contact.pk, "email")
    assert Fernet(new_key.encode()).decrypt(email.removeprefix(crypto.PREFIX).encode()) == EMAIL.encode()
    settings.PERSONAL_DATA_KEYS = new_key  # old key dropped from the environment
    rotate("--reencrypt-only")
    assert Contact.objects.get(pk=contact.pk).email == EMAIL


def test_a_removed_key_too_early_is_a_clear_error(contact: Contact) -> None:
    crypto.key_file().write_text(Fernet.generate_key().decode() + "\n")
    with pytest.raises(crypto.PersonalDataKeyError):
        Contact.objects.get(pk=contact.pk)


def test_help_describes_the_options() -> None:
    text = Command().create_parser("manage.py", "rotate_personal_data_key").format_help()
    for option in ("--drop-old", "--reencrypt-only", "--batch-size", "PERSONAL_DATA_KEYS"):
        assert option in text
    with pytest.raises(CommandError):
        rotate("--batch-size", "0")


def test_small_batches_cover_every_row() -> None:
    owner = OrganisationFactory()
    contacts = [Contact.objects.create(owner=owner, email=f"p{n}@example.org") for n in range(7)]
    output = rotate("--batch-size", "2")
    assert "contacts.Contact: 7 value(s) re-encrypted" in output
    assert [Contact.objects.get(pk=c.pk).email for c in contacts] == [f"p{n}@example.org" for n in range(7)]
