"""Typed readers for environment variables: fail fast, with the variable's name, on bad values."""

from __future__ import annotations

import os
from collections.abc import Sequence


class ImproperlyConfiguredEnv(ValueError):
    """An environment variable holds a value the node cannot use."""


def env_str(name: str, default: str) -> str:
    value = os.environ.get(name, "").strip()
    return value or default


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in {"1", "true", "yes", "on"}:
        return True
    if raw in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfiguredEnv(f"{name} must be a boolean (1/0, true/false), got {raw!r}")


def env_int(name: str, default: int, *, minimum: int | None = None) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfiguredEnv(f"{name} must be an integer, got {raw!r}") from None
    if minimum is not None and value < minimum:
        raise ImproperlyConfiguredEnv(f"{name} must be >= {minimum}, got {value}")
    return value


def env_float(name: str, default: float, *, minimum: float = 0.0) -> float:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ImproperlyConfiguredEnv(f"{name} must be a number, got {raw!r}") from None
    if value != value or value <= minimum:  # NaN, or not above the minimum
        raise ImproperlyConfiguredEnv(f"{name} must be a number above {minimum}, got {raw!r}")
    return value


def env_list(name: str, default: Sequence[str]) -> list[str]:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return list(default)
    return [item.strip() for item in raw.split(",") if item.strip()]


def env_choices(name: str, default: Sequence[str], allowed: Sequence[str]) -> list[str]:
    values = env_list(name, default)
    unknown = sorted(set(values) - set(allowed))
    if unknown:
        raise ImproperlyConfiguredEnv(
            f"{name} contains unknown value(s) {', '.join(unknown)}; allowed: {', '.join(allowed)}"
        )
    if not values:
        raise ImproperlyConfiguredEnv(f"{name} must name at least one of {', '.join(allowed)}")
    return values
