"""Directory entries: which fields a consent covers, the search index, publication and search.

* `entry_fields()` — every field a consent may cover → its W3C DPV category (`entry_field_groups()`
  groups them by category).
* `consented_fields_of(entry)` — the fields the consents in force cover (empty: not published).
  Every evaluated queryset of entries fetches them for all its rows in one query
  (`DirectoryEntryQuerySet`), so lists and the change feed stay flat in the page size.
* `build_search_index(entry)` — folded text and tokens of the *consented* fields only, kept on
  save: filters and `q` match in SQL and never on a field the person did not publish.
* `refresh_publication(entry_id)` — re-save: the version moves and the change feed carries an
  upsert (consent in force) or a tombstone (none in force any more).
* `search(queryset, params)` — the directory's filters (trade, skill, region, language,
  available_on, q).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from django.db import models, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _
from rest_framework.exceptions import ValidationError

from dataspace.directory.vocabulary import ENTRY_FIELD_CATEGORIES, LANGUAGES, Region, Trade, fold

if TYPE_CHECKING:
    from dataspace.directory.models import DirectoryEntry

DIRECTORY_ENTRY = "directory-entry"
#: Attribute of an entry holding its consented fields, fetched with it.
_CACHE = "_consented_fields"


def entry_fields() -> dict[str, str]:
    """Every field of an entry a consent may cover → its DPV personal-data category (iterate: names)."""
    return dict(ENTRY_FIELD_CATEGORIES)


def entry_field_groups() -> dict[str, tuple[str, ...]]:
    """The same fields grouped by DPV category (category → field names, in declaration order)."""
    groups: dict[str, list[str]] = {}
    for name, category in ENTRY_FIELD_CATEGORIES.items():
        groups.setdefault(category, []).append(name)
    return {category: tuple(names) for category, names in groups.items()}


# ---------------------------------------------------------------------------- consents in force


def published_ids(now: dt.datetime | None = None) -> QuerySet[Any]:
    """Ids of the entries with a consent in force, as a subquery (`pk__in=published_ids()`)."""
    from dataspace.consent.services import active_target_ids

    return active_target_ids(DIRECTORY_ENTRY, now=now)


def consented_fields_map(
    entry_ids: Iterable[uuid.UUID], now: dt.datetime | None = None
) -> dict[uuid.UUID, frozenset[str]]:
    """Entry id → the fields the consents in force cover (union), in one query; absent: none in force.

    Only fields a consent may cover count (`entry_fields()`): anything else a consent lists is ignored.
    """
    from dataspace.consent.models import ConsentRecord
    from dataspace.consent.services import in_force_q

    ids = list(entry_ids)
    if not ids:
        return {}
    moment = now or timezone.now()
    allowed = frozenset(ENTRY_FIELD_CATEGORIES)
    found: dict[uuid.UUID, set[str]] = {}
    rows = ConsentRecord.objects.filter(in_force_q(moment), target_type=DIRECTORY_ENTRY, target_id__in=ids)
    for target_id, fields in rows.values_list("target_id", "fields"):
        found.setdefault(target_id, set()).update(str(name) for name in fields or () if name in allowed)
    return {target_id: frozenset(fields) for target_id, fields in found.items() if fields}


def attach_consented_fields(entries: Iterable[DirectoryEntry], now: dt.datetime | None = None) -> None:
    """Fetch the consented fields of several entries at once and keep them on each."""
    entries = list(entries)
    fields = consented_fields_map([entry.pk for entry in entries], now)
    for entry in entries:
        setattr(entry, _CACHE, fields.get(entry.pk, frozenset()))


def consented_fields_of(entry: DirectoryEntry, *, fresh: bool = False) -> frozenset[str]:
    """The fields of `entry` the consents in force cover (empty: not published).

    Read from what its queryset fetched with it, unless `fresh` (or never fetched).
    """
    if entry.pk is None:
        return frozenset()
    cached = None if fresh else getattr(entry, _CACHE, None)
    if cached is None:
        attach_consented_fields([entry])
        cached = getattr(entry, _CACHE)
    return frozenset(cached)


class DirectoryEntryQuerySet(models.QuerySet):
    """Entries arrive with their consented fields (one more query per evaluation, whatever its size)."""

    def _fetch_all(self) -> None:
        fetched = self._result_cache is None
        super()._fetch_all()
        if fetched and self._result_cache:
            from dataspace.directory.models import DirectoryEntry

            entries = [item for item in self._result_cache if isinstance(item, DirectoryEntry)]
            if entries:
                attach_consented_fields(entries)


# ---------------------------------------------------------------------------- search index


def _token(key: str, value: str) -> str:
    return f"{key}={value.replace('|', ' ')}"


def build_search_index(entry: DirectoryEntry) -> str:
    """`|key=value|…|` tokens of the fields the consent in force covers (folded; never encrypted ones).

    Keys: name, trade (code), tradelabel, skill, lang, region, avail (present when availability
    is published). Built on save; `refresh_publication` rebuilds it when a consent starts or ends.
    """
    if entry._state.adding:
        return ""
    fields = consented_fields_of(entry, fresh=True)
    tokens: list[str] = []
    if "display_name" in fields and entry.display_name:
        tokens.append(_token("name", fold(entry.display_name)))
    if "trades" in fields:
        labels = dict(Trade.choices)
        for code in entry.trades or ():
            tokens.append(_token("trade", str(code)))
            if code in labels:
                tokens.append(_token("tradelabel", fold(str(labels[code]))))
    if "skills" in fields:
        tokens += [_token("skill", fold(str(skill))) for skill in entry.skills or ()]
    if "languages" in fields:
        tokens += [_token("lang", str(code).lower()) for code in entry.languages or ()]
    if "region" in fields and entry.region:
        tokens.append(_token("region", fold(entry.region)))
    if "availability" in fields and entry.availability:
        tokens.append("avail")
    return "|" + "|".join(tokens) + "|" if tokens else ""


def refresh_publication(entry_id: uuid.UUID | str) -> None:
    """Re-save the entry: its version moves, its search index follows the consent in force, and the
    change feed carries an upsert (consent in force) or a tombstone (none any more).

    Called in the caller's transaction (consent granted, withdrawn, expired, erased). Nothing
    happens for an unknown entry.
    """
    from dataspace.directory.models import DirectoryEntry

    with transaction.atomic():
        entry = DirectoryEntry.objects.select_for_update().filter(pk=entry_id).first()
        if entry is None:
            return
        setattr(entry, _CACHE, None)
        entry.save()


# ---------------------------------------------------------------------------- search


def _one(params: Mapping[str, Any], name: str) -> str:
    value = params.get(name)
    return str(value).strip() if value is not None else ""


def _contains(token: str) -> Q:
    return Q(search_index__contains=f"|{token}|")


def search(queryset: QuerySet[Any], params: Mapping[str, Any]) -> QuerySet[Any]:
    """The entries of `queryset` matching the directory's filters (400 naming a filter it cannot read).

    Every filter matches the published (consented) fields only: the search index holds nothing else.
    """
    trade = _one(params, "trade")
    if trade:
        if trade not in Trade.values:
            raise ValidationError(
                {"trade": [_("Métier inconnu « %(value)s » ; métiers : %(choices)s.")
                           % {"value": trade, "choices": ", ".join(Trade.values)}]}
            )  # fmt: skip
        queryset = queryset.filter(_contains(_token("trade", trade)))
    skill = _one(params, "skill")
    if skill:
        queryset = queryset.filter(_contains(_token("skill", fold(skill))))
    language = _one(params, "language").lower()
    if language:
        if language not in LANGUAGES:
            raise ValidationError(
                {"language": [_("Code de langue ISO 639-1 inconnu « %(value)s ».") % {"value": language}]}
            )
        queryset = queryset.filter(_contains(_token("lang", language)))
    region = _one(params, "region")
    if region:
        known = {fold(value): value for value in Region.values}
        if fold(region) not in known:
            raise ValidationError(
                {"region": [_("Région inconnue « %(value)s » ; régions : %(choices)s.")
                            % {"value": region, "choices": ", ".join(Region.values)}]}
            )  # fmt: skip
        queryset = queryset.filter(_contains(_token("region", fold(region))))
    text = fold(_one(params, "q")).replace("|", " ").replace("=", " ").strip()
    if text:
        for word in text.split():
            queryset = queryset.filter(search_index__contains=word)
    raw_day = _one(params, "available_on")
    if raw_day:
        try:
            day = dt.date.fromisoformat(raw_day)
        except ValueError:
            raise ValidationError(
                {"available_on": [_("Date attendue au format AAAA-MM-JJ (ex. 2027-03-14).")]}
            ) from None
        queryset = queryset.filter(pk__in=available_ids(queryset.filter(_contains("avail")), day))
    return queryset


def window_covers(window: Any, day: dt.date) -> bool:
    """Does one availability window `{start, end}` (ISO dates, inclusive) contain `day`?"""
    if not isinstance(window, Mapping):
        return False
    try:
        start = dt.date.fromisoformat(str(window.get("start")))
        end = dt.date.fromisoformat(str(window.get("end")))
    except ValueError:
        return False
    return start <= day <= end


def available_ids(queryset: QuerySet[Any], day: dt.date) -> list[uuid.UUID]:
    """Ids of the entries of `queryset` with a window containing `day` (read in one query, matched in
    Python: a date inside a JSON list of windows is not portable SQL; the set is already narrowed)."""
    return [
        pk
        for pk, windows in queryset.order_by().values_list("pk", "availability")
        if any(window_covers(window, day) for window in windows or ())
    ]
