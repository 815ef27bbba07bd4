"""The representation of a directory entry: built from the person's consent.

`DirectoryEntrySerializer.to_representation` emits, for anyone but the owner, only `ALWAYS_SHOWN`
(id, uri, version, owner) and the fields the consents in force cover — nothing else, whatever
fields the class declares. A field added here without a consent mapping is therefore never shown
to others, and tests/directory/test_entry_fields_consent.py fails the build if a serializer of
`DirectoryEntry` data ever can return one.

`SERIALIZERS_BY_TYPE` gives the change feed this same representation (dataspace.records.api.serializers).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Mapping
from typing import Any, ClassVar

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers
from rest_framework.fields import SkipField
from rest_framework.relations import PKOnlyObject

from dataspace.directory.entries import consented_fields_of
from dataspace.directory.models import DirectoryEntry
from dataspace.directory.vocabulary import ALWAYS_SHOWN, ENTRY_FIELD_CATEGORIES, LANGUAGES, Trade
from dataspace.referentials.models import Organisation
from dataspace.referentials.validators import validate_same_as

#: Context key: the organisations the reader acts for (their entries are shown whole).
OWNER_IDS = "directory_owner_ids"
#: Context key: True for a reader who sees every entry whole (a superuser).
ALL_FIELDS = "directory_all_fields"


class AvailabilityWindowSerializer(serializers.Serializer):
    start = serializers.DateField(label=_("du"))
    end = serializers.DateField(label=_("au"))

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs["end"] < attrs["start"]:
            raise serializers.ValidationError({"end": [_("La fin de la période précède son début.")]})
        return attrs

    def to_representation(self, instance: Any) -> dict[str, Any]:
        return {"start": str(instance.get("start", "")), "end": str(instance.get("end", ""))}


class DirectoryEntrySerializer(serializers.ModelSerializer):
    """A directory entry; see the module docstring for what a reader gets."""

    uri = serializers.CharField(read_only=True)
    owner = serializers.PrimaryKeyRelatedField(queryset=Organisation.objects.all(), label=_("structure"))
    trades = serializers.ListField(child=serializers.ChoiceField(choices=Trade.choices), required=False)
    skills = serializers.ListField(child=serializers.CharField(max_length=80), required=False, max_length=50)
    languages = serializers.ListField(
        child=serializers.ChoiceField(choices=sorted(LANGUAGES)), required=False, max_length=30
    )
    availability = AvailabilityWindowSerializer(many=True, required=False)
    links = serializers.ListField(child=serializers.URLField(max_length=500), required=False, max_length=20)
    same_as = serializers.ListField(
        child=serializers.CharField(max_length=500), required=False, validators=[validate_same_as]
    )

    #: Shown to every reader of a published entry besides the consented fields.
    always_shown: ClassVar[tuple[str, ...]] = ALWAYS_SHOWN

    class Meta:
        model = DirectoryEntry
        fields = (
            "id",
            "uri",
            "version",
            "owner",
            *ENTRY_FIELD_CATEGORIES,
            "person_user",
            "reviewed_at",
            "created_at",
            "updated_at",
        )
        read_only_fields = ("id", "uri", "version", "person_user", "created_at", "updated_at")

    def validate_availability(self, value: list[dict[str, dt.date]]) -> list[dict[str, str]]:
        return [{"start": window["start"].isoformat(), "end": window["end"].isoformat()} for window in value]

    def validate_skills(self, value: list[str]) -> list[str]:
        return list(dict.fromkeys(skill.strip() for skill in value if skill.strip()))

    def validate_trades(self, value: list[str]) -> list[str]:
        return list(dict.fromkeys(value))

    def validate_languages(self, value: list[str]) -> list[str]:
        return list(dict.fromkeys(value))

    # ------------------------------------------------------------------ what a reader gets

    def visible_fields(self, instance: DirectoryEntry) -> frozenset[str] | None:
        """The fields of `instance` this reader may get (None: all, for its owner or a superuser)."""
        context: Mapping[str, Any] = self.context or {}
        owners: Collection[Any] = context.get(OWNER_IDS) or ()
        if context.get(ALL_FIELDS) is True or instance.owner_id in owners:
            return None
        published = consented_fields_of(instance) & frozenset(ENTRY_FIELD_CATEGORIES)
        if not published:
            return frozenset()  # not published: nothing at all (callers never get here for others)
        return frozenset(self.always_shown) | published

    def to_representation(self, instance: DirectoryEntry) -> dict[str, Any]:
        visible = self.visible_fields(instance)
        data: dict[str, Any] = {}
        for field in self._readable_fields:
            if visible is not None and field.field_name not in visible:
                continue
            try:
                attribute = field.get_attribute(instance)
            except SkipField:
                continue
            check = attribute.pk if isinstance(attribute, PKOnlyObject) else attribute
            data[str(field.field_name)] = None if check is None else field.to_representation(attribute)
        return data


#: The change feed's representation of directory entries (consent-built, as in the API).
SERIALIZERS_BY_TYPE: dict[str, type[serializers.BaseSerializer]] = {
    DirectoryEntry.record_type: DirectoryEntrySerializer
}
