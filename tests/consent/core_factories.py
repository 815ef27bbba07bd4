"""Helpers of the consent-core tests: notices, directory entries, consents (fictitious data only)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from django.contrib.auth import get_user_model

from dataspace.consent import services
from dataspace.consent.models import ConsentRecord, Notice

DIRECTORY_FIELDS = ["display_name", "trades", "region", "contact_email"]
DIRECTORY_CATEGORIES = ["dpv-pd:Name", "dpv-pd:Professional", "dpv-pd:Location", "dpv-pd:EmailAddress"]


def notice(controller: Any, kind: str = "directory", version: str = "2026-1", text: str = "") -> Notice:
    return services.publish_notice(
        controller=controller, kind=kind, version=version, text=text or f"Notice {kind} {version} : vos données…"
    )


def _notice_of(controller: Any, kind: str) -> Notice:
    return Notice.objects.filter(controller=controller, kind=kind).first() or notice(controller, kind)


def person(username: str = "camille", email: str = "camille@example.org") -> Any:
    return get_user_model().objects.create_user(username, email=email)


def directory_entry(owner: Any, user: Any = None, name: str = "Camille Lumière") -> Any:
    from dataspace.directory.models import DirectoryEntry

    return DirectoryEntry.objects.create(
        owner=owner,
        display_name=name,
        trades=["regisseur_lumiere"],
        region="ARA",
        contact_email="camille@example.org",
        person_user=user,
    )


def grant_directory(
    controller: Any,
    entry: Any,
    *,
    user: Any = None,
    now: dt.datetime | None = None,
    expires_at: dt.datetime | None = None,
    oauth_client: Any = None,
    fields: list[str] | None = None,
    the_notice: Notice | None = None,
) -> ConsentRecord:
    return services.grant_consent(
        controller=controller,
        target_type="directory-entry",
        target_id=entry.pk,
        purposes=["professional_directory"],
        data_categories=list(DIRECTORY_CATEGORIES),
        fields=list(fields or DIRECTORY_FIELDS),
        recipients=["licensed_professionals"],
        notice=the_notice or _notice_of(controller, "directory"),
        method="portal",
        subject_user=user,
        subject_email="camille@example.org",
        expires_at=expires_at,
        oauth_client=oauth_client,
        by=user,
        now=now,
    )


def grant_contact(
    controller: Any,
    target_id: Any = None,
    *,
    purposes: list[str] | None = None,
    user: Any = None,
    oauth_client: Any = None,
    now: dt.datetime | None = None,
) -> ConsentRecord:
    return services.grant_consent(
        controller=controller,
        target_type="contact",
        target_id=target_id or uuid.uuid4(),
        purposes=purposes or ["newsletter"],
        data_categories=["dpv-pd:Name", "dpv-pd:EmailAddress"],
        fields=["name", "email"],
        recipients=["controller"],
        notice=_notice_of(controller, "contact"),
        method="web_form",
        subject_user=user,
        subject_email="spectateur@example.org",
        oauth_client=oauth_client,
        now=now,
    )
