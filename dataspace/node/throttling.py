"""Login throttling: a password cannot be guessed by trying many of them (DESIGN.md §5, humans).

After `LOGIN_THROTTLE_ATTEMPTS` (5) failed logins for one username, or from one IP address,
within `LOGIN_THROTTLE_WINDOW` (15 minutes), every further attempt for that username or from that
address is refused for `LOGIN_THROTTLE_LOCKOUT` (15 minutes) — even with the right password, so
that a guess cannot be confirmed while locked. Attempts refused while locked are not counted (the
lock does not grow), and a successful login clears the username's failures (not the address's).

How it plugs in, for every login path at once (the admin login, the OAuth login screen, any form
calling `django.contrib.auth.authenticate`):

* `ThrottledModelBackend` is the only entry of `AUTHENTICATION_BACKENDS`. Before checking the
  password it raises `LoginThrottled` — a `ValidationError`, so that an `AuthenticationForm`
  (and the admin's) shows its French message as the form's error instead of the generic one.
  Code calling `authenticate()` outside a form must catch `LoginThrottled`.
* Failures are counted by a `user_login_failed` receiver, per username (case-insensitive) and
  per client address (`REMOTE_ADDR`: a reverse proxy must set it to the real client address).

Counters live in the Django cache (LocMem in one process without Redis; Redis when `REDIS_URL`
is set, shared by every process of the node). Counter increments are atomic (`cache.incr`); the
window and lock times are stored in the values and compared with the clock (`_now`), cache expiry only
cleans up.
"""

from __future__ import annotations

import hashlib
import math
import time
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.signals import user_login_failed
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.dispatch import receiver
from django.http import HttpRequest
from django.utils.translation import ngettext

_PREFIX = "login-throttle:v1"


def _now() -> float:
    """The clock of the throttle (a function of its own so that tests can move it)."""
    return time.time()


class LoginThrottled(ValidationError):
    """Too many failed logins: refused before the password is even checked."""

    def __init__(self, retry_after: int) -> None:
        minutes = max(1, math.ceil(retry_after / 60))
        super().__init__(
            ngettext(
                "Trop de tentatives de connexion échouées pour ce compte ou depuis cette adresse. "
                "Par sécurité, les connexions sont suspendues : réessayez dans %(minutes)d minute.",
                "Trop de tentatives de connexion échouées pour ce compte ou depuis cette adresse. "
                "Par sécurité, les connexions sont suspendues : réessayez dans %(minutes)d minutes.",
                minutes,
            )
            % {"minutes": minutes},
            code="login_throttled",
        )
        self.retry_after = retry_after


def _subject_keys(kind: str, value: str) -> tuple[str, str, str]:
    digest = hashlib.sha256(value.encode("utf-8")).hexdigest()[:32]
    base = f"{_PREFIX}:{kind}:{digest}"
    return f"{base}:start", f"{base}:count", f"{base}:lock"


def _subjects(request: HttpRequest | None, username: str | None) -> list[tuple[str, str]]:
    subjects: list[tuple[str, str]] = []
    if username:
        subjects.append(("user", username.strip().casefold()))
    address = request.META.get("REMOTE_ADDR") if request is not None else None
    if address:
        subjects.append(("ip", str(address)))
    return subjects


def retry_after(request: HttpRequest | None, username: str | None) -> int:
    """Seconds before this username or address may try again (0: not throttled)."""
    now = _now()
    longest = 0.0
    for kind, value in _subjects(request, username):
        _start, _count, lock_key = _subject_keys(kind, value)
        until = cache.get(lock_key)
        if isinstance(until, (int, float)) and until > now:
            longest = max(longest, until - now)
    return math.ceil(longest)


def register_failure(request: HttpRequest | None, username: str | None) -> None:
    """Count one failed login for the username and the address; lock those that reach the limit."""
    now = _now()
    window = int(settings.LOGIN_THROTTLE_WINDOW)
    lockout = int(settings.LOGIN_THROTTLE_LOCKOUT)
    for kind, value in _subjects(request, username):
        start_key, count_key, lock_key = _subject_keys(kind, value)
        start = cache.get(start_key)
        if not isinstance(start, (int, float)) or now - start >= window:
            cache.set(start_key, now, timeout=window + 60)
            cache.set(count_key, 0, timeout=window + 60)
        try:
            count = cache.incr(count_key)
        except ValueError:  # expired between the two calls
            cache.set(count_key, 1, timeout=window + 60)
            count = 1
        if count >= int(settings.LOGIN_THROTTLE_ATTEMPTS):
            cache.set(lock_key, now + lockout, timeout=lockout + 60)


def clear_failures(username: str | None) -> None:
    """Forget the username's failures (after a successful login); the address keeps its count."""
    for kind, value in _subjects(None, username):
        cache.delete_many(list(_subject_keys(kind, value)))


class ThrottledModelBackend(ModelBackend):
    """Django's username/password check, refused while the username or the address is throttled."""

    def authenticate(
        self, request: HttpRequest | None, username: str | None = None, password: str | None = None, **kwargs: Any
    ) -> Any:
        if username is None:
            username = kwargs.get(get_user_model().USERNAME_FIELD)
        wait = retry_after(request, username)
        if wait > 0:
            raise LoginThrottled(wait)
        user = super().authenticate(request, username=username, password=password, **kwargs)
        if user is not None:
            clear_failures(username)
        return user


@receiver(user_login_failed, dispatch_uid="dataspace.node.throttling.count_failure")
def count_failure(sender: Any, credentials: dict[str, Any], request: HttpRequest | None = None, **kwargs: Any) -> None:
    username = credentials.get(get_user_model().USERNAME_FIELD) or credentials.get("username")
    register_failure(request, str(username) if username is not None else None)
