"""The build fails if any serializer exposing directory-entry data can return a field the consent
does not cover (issue 5, item 1).

Every serializer class of the project (every module of `dataspace`, `policies` and `federation` is
imported) whose `Meta.model` is `DirectoryEntry` — or that declares `exposes_directory_entries =
True` — is serialized, for a reader who does not act for the owner, under consents over many
subsets of `entry_fields()`: its output may hold `id`, `uri`, `version`, `owner` and the consented
fields, nothing else (the change feed's form adds `consent`, the scope of the consent in force:
the names of the fields it covers, its purposes and expiry, never a value), and no value of a
field outside the consent may appear anywhere in it (not even under another name). Every model
field must be either a field a consent may cover or listed as non-personal / internal, so that a
new column is classified before it can ship.
"""

from __future__ import annotations

import importlib
import json
import pkgutil
import random
from collections.abc import Iterator
from typing import Any

import pytest
from rest_framework import serializers

from dataspace.directory.api.entry_serializers import FEED_METADATA
from dataspace.directory.models import DirectoryEntry
from dataspace.directory.services import entry_field_groups, entry_fields
from dataspace.directory.vocabulary import ALWAYS_SHOWN, INTERNAL_FIELDS, NON_PERSONAL_FIELDS
from tests.directory.factories import DirectoryEntryFactory, grant_entry_consent

PACKAGES = ("dataspace", "policies", "federation")
SEED = 20261130
RANDOM_CONSENTS = 25

#: A value of each personal field that can only come from that field (searched in the output).
SENTINELS: dict[str, Any] = {
    "display_name": "Sentinelle Nomdusage",
    "trades": ["regisseur_lumiere"],
    "skills": ["sentinelle-competence"],
    "languages": ["mt"],
    "region": "Mayotte",
    "availability": [{"start": "2031-07-19", "end": "2031-07-23"}],
    "contact_channel": "phone",
    "contact_email": "sentinelle.courriel@exemple.test",
    "contact_phone": "+33 6 98 76 54 32",
    "postal_address": "7 impasse Sentinelle, 97600 Mamoudzou",
    "links": ["https://sentinelle-lien.exemple.test/"],
    "same_as": ["isni:0000000412345678"],
}
#: The text searched for, per field (short codes such as "mt" are checked by key only).
NEEDLES: dict[str, tuple[str, ...]] = {
    "display_name": ("Sentinelle Nomdusage",),
    "trades": ("regisseur_lumiere",),
    "skills": ("sentinelle-competence",),
    "region": ("Mayotte",),
    "availability": ("2031-07-19", "2031-07-23"),
    "contact_email": ("sentinelle.courriel",),
    "contact_phone": ("98 76 54 32",),
    "postal_address": ("impasse Sentinelle", "Mamoudzou"),
    "links": ("sentinelle-lien",),
    "same_as": ("0000000412345678",),
}


def _import_project_modules() -> None:
    for package_name in PACKAGES:
        package = importlib.import_module(package_name)
        for module in pkgutil.walk_packages(package.__path__, prefix=f"{package_name}."):
            if ".migrations" in module.name or module.name.endswith((".settings", ".wsgi", ".asgi")):
                continue
            importlib.import_module(module.name)


def _all_subclasses(cls: type) -> Iterator[type]:
    for subclass in cls.__subclasses__():
        yield subclass
        yield from _all_subclasses(subclass)


def exposes_entries(cls: type) -> bool:
    meta = getattr(cls, "Meta", None)
    return getattr(meta, "model", None) is DirectoryEntry or getattr(cls, "exposes_directory_entries", False) is True


def entry_serializers() -> list[type[serializers.BaseSerializer]]:  # type: ignore[type-arg]
    """Every serializer class of the project that exposes directory-entry data."""
    _import_project_modules()
    found = {
        cls
        for cls in _all_subclasses(serializers.BaseSerializer)
        if exposes_entries(cls) and not cls.__module__.startswith("tests.")
    }
    return sorted(found, key=lambda cls: f"{cls.__module__}.{cls.__qualname__}")


def consent_subsets() -> list[tuple[str, ...]]:
    """Every single field, all of them, and random subsets (fixed seed: reproducible)."""
    names = list(entry_fields())
    chooser = random.Random(SEED)
    subsets = [(name,) for name in names] + [tuple(names)]
    for _ in range(RANDOM_CONSENTS):
        subsets.append(tuple(sorted(chooser.sample(names, chooser.randint(1, len(names) - 1)))))
    return subsets


def leaks(serializer_class: Any, consents: list[tuple[DirectoryEntry, tuple[str, ...]]]) -> list[str]:
    """What the serializer returns outside the consents, for a reader who is not the owner."""
    problems: list[str] = []
    outputs = [serializer_class(entry).data for entry, _fields in consents]
    many = serializer_class([entry for entry, _fields in consents], many=True).data
    for (entry, fields), one, listed in zip(consents, outputs, many, strict=True):
        allowed = set(ALWAYS_SHOWN) | set(fields)
        for output in (one, listed):
            extra = sorted(set(output) - allowed - set(FEED_METADATA))
            if extra:
                problems.append(f"{serializer_class.__name__} under consent {fields} returned {extra}")
            scope = output.get("consent")
            block_ok = isinstance(scope, dict) and set(scope) == {"fields", "purposes", "expires_at"}
            if "consent" in output and not (block_ok and set(scope["fields"]) == set(fields)):
                problems.append(f"{serializer_class.__name__} under consent {fields} gave the consent block {scope}")
            text = json.dumps(output, ensure_ascii=False, default=str)
            for name, needles in NEEDLES.items():
                if name not in fields and any(needle in text for needle in needles):
                    problems.append(f"{serializer_class.__name__} under consent {fields} leaked {name}")
        assert entry.pk is not None
    return problems


@pytest.fixture
def consented_entries(db: Any) -> list[tuple[DirectoryEntry, tuple[str, ...]]]:
    made = []
    for fields in consent_subsets():
        entry = DirectoryEntryFactory(**SENTINELS)
        grant_entry_consent(entry, list(fields))
        made.append((DirectoryEntry.objects.get(pk=entry.pk), fields))
    return made


def test_the_walk_finds_the_api_serializer_and_the_feed_uses_one_of_them() -> None:
    from dataspace.directory.api.entry_serializers import DirectoryEntrySerializer
    from dataspace.records.api.serializers import api_representations

    found = entry_serializers()
    assert DirectoryEntrySerializer in found
    feed = api_representations()["directory-entry"].serializer_class
    assert feed in found  # never the plain representation (every column) of the change feed


def test_no_serializer_of_directory_entries_returns_a_field_outside_the_consent(
    consented_entries: list[tuple[DirectoryEntry, tuple[str, ...]]],
) -> None:
    problems: list[str] = []
    for serializer_class in entry_serializers():
        problems += leaks(serializer_class, consented_entries)
    assert problems == []


def test_the_check_fails_for_a_serializer_without_consent_mapping(
    consented_entries: list[tuple[DirectoryEntry, tuple[str, ...]]],
) -> None:
    """The guard itself: a plain ModelSerializer (every column) and one that renames a field are caught."""

    class EveryColumn(serializers.ModelSerializer):  # type: ignore[type-arg]
        class Meta:
            model = DirectoryEntry
            fields = "__all__"

    from dataspace.directory.api.entry_serializers import DirectoryEntrySerializer

    class Renamed(DirectoryEntrySerializer):
        always_shown = (*ALWAYS_SHOWN, "email")
        email = serializers.CharField(source="contact_email", read_only=True)

        class Meta(DirectoryEntrySerializer.Meta):
            fields = (*DirectoryEntrySerializer.Meta.fields, "email")

    assert exposes_entries(EveryColumn)
    assert exposes_entries(Renamed)
    sample = consented_entries[:3]  # display_name, trades, skills alone
    assert any("contact_email" in problem for problem in leaks(EveryColumn, sample))
    assert any("leaked contact_email" in problem for problem in leaks(Renamed, sample))


def test_every_model_field_is_classified() -> None:
    names = {field.name for field in DirectoryEntry._meta.get_fields() if not field.auto_created or field.concrete}
    consentable = set(entry_fields())
    unclassified = names - consentable - NON_PERSONAL_FIELDS - INTERNAL_FIELDS
    assert unclassified == set(), (
        f"Classify {sorted(unclassified)}: add to ENTRY_FIELD_CATEGORIES (a consent may cover it) or to "
        "NON_PERSONAL_FIELDS / INTERNAL_FIELDS in dataspace/directory/vocabulary.py."
    )
    assert not consentable & (NON_PERSONAL_FIELDS | INTERNAL_FIELDS)
    assert set(SENTINELS) == consentable  # this test fills every field a consent may cover


def test_entry_fields_are_grouped_by_dpv_category() -> None:
    groups = entry_field_groups()
    assert groups["dpv-pd:EmailAddress"] == ("contact_email",)
    assert groups["dpv-pd:TelephoneNumber"] == ("contact_phone",)
    assert groups["dpv-pd:PostalAddress"] == ("postal_address",)
    assert groups["dpv-pd:Identifier"] == ("links", "same_as")
    assert groups["dpv-pd:Name"] == ("display_name",)
    assert sorted(name for names in groups.values() for name in names) == sorted(entry_fields())
