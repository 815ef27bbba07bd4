"""Shared API machinery: authentication seam, errors, pagination, renderers, idempotency."""
