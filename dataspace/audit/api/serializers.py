"""The JSON (and CSV) form of journal entries."""

from __future__ import annotations

from rest_framework import serializers

from dataspace.audit.models import JournalEntry

#: Every field of an entry, in the order the API and the CSV export give them.
ENTRY_FIELDS: tuple[str, ...] = (
    "seq",
    "at",
    "stream",
    "action",
    "decision",
    "reason_code",
    "reason",
    "purpose",
    "record_type",
    "record_ids",
    "owner_id",
    "subject_person_id",
    "user_id",
    "username",
    "organisation_id",
    "organisation_name",
    "licence_number",
    "client_id",
    "node",
    "details",
    "prev_hash",
    "hash",
)


class JournalEntrySerializer(serializers.ModelSerializer):
    record_ids = serializers.ListField(child=serializers.UUIDField(), read_only=True)
    details = serializers.DictField(read_only=True)

    class Meta:
        model = JournalEntry
        fields = ENTRY_FIELDS
        read_only_fields = ENTRY_FIELDS
