"""Personal data encrypted at rest (DESIGN.md §5): emails, phones and postal addresses of persons.

* `EncryptedTextField` / `EncryptedEmailField` — stored as Fernet tokens (AES-128-CBC + HMAC-SHA256,
  `cryptography`'s MultiFernet): a database dump shows no plaintext. Values are encrypted with the
  newest key and decrypted with any key still listed, so keys rotate without downtime
  (`python manage.py rotate_personal_data_key`).
* `blind_index(value)` — an HMAC-SHA256 of the normalised value under a separate key, for exact
  lookups (find a contact by email) without decrypting every row.

Keys: `PERSONAL_DATA_KEYS` (comma-separated Fernet keys, newest first) from the environment, else
the file `$NODE_DATA_DIR/personal_data_keys` (one key a line, newest first, created 0600 on first
use). The blind-index key is derived from the oldest key, so that rotation keeps lookups stable.
Back these keys up with the database: without them the personal data cannot be read.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from functools import lru_cache
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models

KEY_FILE_NAME = "personal_data_keys"
#: Stored values start with this marker, so plaintext left by an older schema is recognised.
PREFIX = "enc1:"


class PersonalDataKeyError(ImproperlyConfigured):
    """The personal-data keys are missing or malformed."""


def key_file() -> Path:
    return Path(settings.NODE_DATA_DIR) / KEY_FILE_NAME


def _read_keys() -> list[bytes]:
    configured = str(getattr(settings, "PERSONAL_DATA_KEYS", "") or "")
    if configured.strip():
        raw = [item.strip() for item in configured.split(",") if item.strip()]
    else:
        path = key_file()
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:  # another process of this node created it first
                pass
            else:
                with os.fdopen(fd, "w") as handle:
                    handle.write(Fernet.generate_key().decode() + "\n")
        raw = [line.strip() for line in path.read_text().splitlines() if line.strip()]
    if not raw:
        raise PersonalDataKeyError("PERSONAL_DATA_KEYS (or the key file) holds no key")
    keys = []
    for index, item in enumerate(raw):
        try:
            Fernet(item.encode())
        except (ValueError, TypeError) as exc:
            raise PersonalDataKeyError(f"personal-data key #{index + 1} is not a Fernet key: {exc}") from None
        keys.append(item.encode())
    return keys


@lru_cache(maxsize=4)
def _ring(signature: tuple[str, str]) -> tuple[MultiFernet, bytes]:
    keys = _read_keys()
    index_key = hmac.new(base64.urlsafe_b64decode(keys[-1]), b"scene-commune blind index", hashlib.sha256).digest()
    return MultiFernet([Fernet(key) for key in keys]), index_key


def _state() -> tuple[MultiFernet, bytes]:
    """The key ring, re-read when the configured keys or the key file change."""
    configured = str(getattr(settings, "PERSONAL_DATA_KEYS", "") or "")
    path = key_file()
    stamp = ""
    if not configured.strip() and path.exists():
        stat = path.stat()
        stamp = f"{path}:{stat.st_mtime_ns}:{stat.st_size}"
    return _ring((configured, stamp or str(path)))


def encrypt(value: str) -> str:
    ring, _ = _state()
    return PREFIX + ring.encrypt(value.encode("utf-8")).decode("ascii")


def decrypt(stored: str) -> str:
    if not stored.startswith(PREFIX):
        return stored  # plaintext written before encryption: readable, re-encrypted on next save
    ring, _ = _state()
    try:
        return ring.decrypt(stored[len(PREFIX) :].encode("ascii")).decode("utf-8")
    except InvalidToken:
        raise PersonalDataKeyError(
            "a personal-data value cannot be decrypted with the configured keys (key lost or removed too early?)"
        ) from None


def rotate(stored: str) -> str:
    """The same value encrypted under the newest key (plaintext is encrypted)."""
    if not stored.startswith(PREFIX):
        return encrypt(stored)
    ring, _ = _state()
    return PREFIX + ring.rotate(stored[len(PREFIX) :].encode("ascii")).decode("ascii")


def blind_index(value: str) -> str:
    """HMAC-SHA256 (hex) of the trimmed, case-folded value: equal inputs give equal indexes."""
    _, index_key = _state()
    return hmac.new(index_key, value.strip().casefold().encode("utf-8"), hashlib.sha256).hexdigest()


class EncryptedTextField(models.TextField):
    """A text column holding a Fernet token; Python sees the plaintext. Not searchable in SQL."""

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Any:
        if value is None or value == "":
            return value
        return decrypt(value)

    def to_python(self, value: Any) -> Any:
        if isinstance(value, str) and value.startswith(PREFIX):
            return decrypt(value)
        return value

    def get_prep_value(self, value: Any) -> Any:
        value = super().get_prep_value(value)
        if value is None or value == "":
            return value
        return encrypt(str(value))


class EncryptedEmailField(EncryptedTextField):
    """An encrypted email address (validated like EmailField)."""

    default_validators = list(models.EmailField.default_validators)

    def formfield(self, **kwargs: Any) -> Any:
        from django import forms

        return super().formfield(**{"form_class": forms.EmailField, **kwargs})
