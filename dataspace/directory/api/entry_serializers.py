"""The representation of a directory entry: built from the person's consent.

`DirectoryEntrySerializer.to_representation` emits, for anyone but the owner, only `ALWAYS_SHOWN`
(id, uri, version, owner) and the fields the consents in force cover — nothing else, whatever
fields the class declares. A field added here without a consent mapping is therefore never shown
to others, and tests/directory/test_entry_fields_consent.py fails the build if a serializer of
`DirectoryEntry` data ever can return one.

`SERIALIZERS_BY_TYPE` gives the change feed this same representation (dataspace.records.api.serializers),
through `DirectoryEntryFeedSerializer`, which adds the scope of the consent in force (`consent`:
the fields it covers, its purposes, its expiry) so that replicas honour it (docs/federation.md).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Collection, Iterable, Mapping
from typing import Any, ClassVar

from django.db.models import Manager, QuerySet
from django.utils import timezone
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


# ---------------------------------------------------------------------------- the change feed's form

#: Attribute of an entry holding the scope of its consents in force, fetched for a whole page.
_SCOPE_CACHE = "_consent_scope"
#: Top-level members the feed's representation adds to the API's (metadata, not personal fields).
FEED_METADATA: tuple[str, ...] = ("consent",)


def _iso(moment: dt.datetime | None) -> str | None:
    return moment.astimezone(dt.UTC).isoformat().replace("+00:00", "Z") if moment is not None else None


def consent_scopes(entry_ids: Iterable[uuid.UUID], now: dt.datetime | None = None) -> dict[uuid.UUID, dict[str, Any]]:
    """Entry id → the scope of the consents in force on it, in one query; absent: none in force.

    `fields`: the fields they cover (union, only fields a consent may cover, sorted); `purposes`:
    their purposes (union: the origin's directory answers a purpose any consent in force names);
    `expires_at`: the earliest expiry among them (ISO, UTC; None when none expires) — a replica
    stops showing the entry then, whatever it has heard since.
    """
    from dataspace.consent.models import ConsentRecord
    from dataspace.consent.services import in_force_q
    from dataspace.directory.entries import DIRECTORY_ENTRY

    ids = list(entry_ids)
    if not ids:
        return {}
    moment = now or timezone.now()
    allowed = frozenset(ENTRY_FIELD_CATEGORIES)
    found: dict[uuid.UUID, dict[str, Any]] = {}
    rows = ConsentRecord.objects.filter(in_force_q(moment), target_type=DIRECTORY_ENTRY, target_id__in=ids)
    for target_id, fields, purposes, expires_at in rows.values_list("target_id", "fields", "purposes", "expires_at"):
        scope = found.setdefault(target_id, {"fields": set(), "purposes": set(), "expires": []})
        scope["fields"].update(str(name) for name in fields or () if name in allowed)
        scope["purposes"].update(str(code) for code in purposes or ())
        if expires_at is not None:
            scope["expires"].append(expires_at)
    return {
        target_id: {
            "fields": sorted(scope["fields"]),
            "purposes": sorted(scope["purposes"]),
            "expires_at": _iso(min(scope["expires"])) if scope["expires"] else None,
        }
        for target_id, scope in found.items()
        if scope["fields"]
    }


def attach_consent_scopes(entries: Iterable[DirectoryEntry]) -> None:
    """Fetch the consent scopes of several entries at once and keep them on each."""
    entries = list(entries)
    scopes = consent_scopes(entry.pk for entry in entries)
    for entry in entries:
        setattr(entry, _SCOPE_CACHE, scopes.get(entry.pk))


class _FeedListSerializer(serializers.ListSerializer):
    """A page of the feed: the consent scopes of all its entries in one query."""

    def to_representation(self, data: Any) -> list[Any]:
        items = list(data.all() if isinstance(data, (Manager, QuerySet)) else data)
        attach_consent_scopes(item for item in items if not hasattr(item, _SCOPE_CACHE))
        return super().to_representation(items)


class DirectoryEntryFeedSerializer(DirectoryEntrySerializer):
    """The change feed's form of an entry: the API's consent-built representation plus `consent`,
    the scope of the consents in force ({"fields", "purposes", "expires_at"}), shown with the
    entry whenever the entry itself is (never for an unpublished one)."""

    consent = serializers.SerializerMethodField()

    always_shown: ClassVar[tuple[str, ...]] = (*ALWAYS_SHOWN, *FEED_METADATA)

    class Meta(DirectoryEntrySerializer.Meta):
        fields = (*DirectoryEntrySerializer.Meta.fields, *FEED_METADATA)
        list_serializer_class = _FeedListSerializer

    def get_consent(self, instance: DirectoryEntry) -> dict[str, Any] | None:
        if not hasattr(instance, _SCOPE_CACHE):
            attach_consent_scopes([instance])
        scope: dict[str, Any] | None = getattr(instance, _SCOPE_CACHE)
        return scope


#: The change feed's representation of directory entries (consent-built, as in the API, plus the
#: consent's scope).
SERIALIZERS_BY_TYPE: dict[str, type[serializers.BaseSerializer]] = {
    DirectoryEntry.record_type: DirectoryEntryFeedSerializer
}
