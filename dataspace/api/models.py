"""Stored answers to POST requests carrying an Idempotency-Key."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class IdempotencyKey(models.Model):
    """The first answer to (caller, key); a retry with the same key gets it again."""

    key = models.CharField(max_length=200)
    caller = models.CharField(max_length=200, help_text="Who sent the request (user or client id).")
    method = models.CharField(max_length=10)
    path = models.CharField(max_length=500)
    request_hash = models.CharField(max_length=64)
    status_code = models.PositiveSmallIntegerField()
    response_body = models.JSONField(null=True)
    response_headers = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["caller", "key"], name="idempotency_key_unique")]

    def __str__(self) -> str:
        return f"{self.caller}:{self.key}"

    @staticmethod
    def ttl_hours() -> int:
        return int(settings.IDEMPOTENCY_KEY_TTL_HOURS)
