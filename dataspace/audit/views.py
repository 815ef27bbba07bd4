"""The French page /journal/: a structure's staff read who accessed their data, when and why.

Login required (anonymous visitors go to the admin login, as everywhere on the site); a person
without any StaffMembership, and who is not a superuser, gets a 403. The page shows the same
entries as GET /api/v1/journal/ with the same filters; break-glass accesses come first, apart.
"""

from __future__ import annotations

import dataclasses
from typing import Any
from urllib.parse import urlencode

from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse

from dataspace.audit import labels, services
from dataspace.audit.models import JournalEntry

#: Entries per page (older ones behind a "before" link), and break-glass entries shown at the top.
PAGE_SIZE = 100
BREAK_GLASS_LIMIT = 50
BREAK_GLASS = JournalEntry.Stream.BREAK_GLASS.value


def _query(params: dict[str, str], **extra: Any) -> str:
    kept = {name: value for name, value in params.items() if value}
    kept.update({name: value for name, value in extra.items() if value not in (None, "")})
    return urlencode(kept)


def _organisations(owners: set[Any] | None) -> list[tuple[str, str]]:
    from dataspace.referentials.models import Organisation

    queryset = Organisation.objects.order_by("name")
    if owners is not None:
        queryset = queryset.filter(pk__in=owners)
    return [(str(pk), name) for pk, name in queryset.values_list("pk", "name")[:500]]


def journal_page(request: HttpRequest) -> HttpResponse:
    user = request.user
    if not user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    owners = services.visible_owner_ids(user=user)
    if owners is not None and not owners:
        return render(request, "audit/forbidden.html", status=403)
    params = {name: request.GET.get(name, "").strip() for name in services.FILTER_PARAMETERS}
    errors: dict[str, list[str]] = {}
    try:
        filters = services.parse_filters({**params, "before": request.GET.get("before", "")})
    except services.FilterError as exc:
        errors, filters = exc.errors, None
    entries: list[JournalEntry] = []
    break_glass: list[JournalEntry] = []
    older = ""
    if filters is not None:
        if filters.stream in ("", BREAK_GLASS):
            urgent = dataclasses.replace(filters, stream=BREAK_GLASS, before=None)
            break_glass = list(services.journal_entries(owners, urgent)[:BREAK_GLASS_LIMIT])
        if filters.stream != BREAK_GLASS:
            rows = list(services.journal_entries(owners, filters).exclude(stream=BREAK_GLASS)[: PAGE_SIZE + 1])
            entries = rows[:PAGE_SIZE]
            if len(rows) > PAGE_SIZE:
                older = "?" + _query(params, before=entries[-1].seq)
    organisations = _organisations(owners)
    names = dict(organisations)
    record_types = labels.record_type_labels()
    for entry in (*break_glass, *entries):
        # French labels of the codes (the API and the CSV keep the codes).
        entry.owner_name = names.get(str(entry.owner_id), "")  # type: ignore[attr-defined]
        entry.action_label = labels.label(labels.ACTION_LABELS, entry.action)  # type: ignore[attr-defined]
        entry.purpose_label = labels.label(labels.PURPOSE_LABELS, entry.purpose)  # type: ignore[attr-defined]
        entry.record_type_label = labels.label(record_types, entry.record_type)  # type: ignore[attr-defined]
        emergency = str((entry.details or {}).get("emergency") or "")
        entry.emergency_label = labels.label(labels.EMERGENCY_LABELS, emergency)  # type: ignore[attr-defined]
    context = {
        "params": params,
        "errors": errors,
        "entries": entries,
        "break_glass": break_glass,
        "older_url": older,
        "newest_url": "?" + _query(params) if request.GET.get("before") else "",
        "csv_url": reverse("journal-list") + "?" + _query(params, format="csv"),
        "organisations": organisations,
        "streams": JournalEntry.Stream.choices,
        "decisions": JournalEntry.Outcome.choices,
        "actions": labels.choices(labels.ACTION_LABELS, params["action"]),
        "purposes": labels.choices(labels.PURPOSE_LABELS, params["purpose"]),
        "record_types": labels.choices(record_types, params["record_type"]),
        "all_owners": owners is None,
    }
    return render(request, "audit/journal.html", context)
