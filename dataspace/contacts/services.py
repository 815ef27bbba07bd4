"""Rules of the structure's private contacts: who reads and writes them, consents per purpose,
"who may I write to for this purpose".

Who may see a structure's contacts (`readable_owner_ids` / `writable_owner_ids`):

* a person with a `StaffMembership` on the structure (any role reads; administrator or editor
  writes) — a superuser (the node's operator) reads and writes every structure's;
* a machine client owned by the structure (a reader reads, a depositor also writes), or a
  depositor client holding an active mandate of the structure covering `contacts:read`
  (reading) or `contacts:write` (reading and writing).

Nobody else: not a licensed professional, not another node, never the public. Contacts never
enter the change feed and no agreement covers them.

Consents per purpose go through `dataspace.consent.services` (`grant_consent`,
`withdraw_consent`), with `target_type = "contact"`; `reachable_contacts` answers with a SQL
subquery on the consents in force, never by filtering rows in Python.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Iterable
from typing import Any

from django.db import connection, transaction
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from dataspace.audit.services import Actor, journal
from dataspace.consent import vocabulary as vocab
from dataspace.consent.models import ACTIVE_STATUSES, ConsentRecord, Notice
from dataspace.contacts.models import CONTACT_TARGET, Contact
from dataspace.node.crypto import blind_index

#: The purposes a contact may consent to (code → label), from the consent vocabulary.
CONTACT_PURPOSES: dict[str, Any] = {
    code: vocab.PURPOSES[code].label for code in sorted(vocab.PURPOSES_BY_TARGET[CONTACT_TARGET])
}

#: DPV personal-data categories a contact consent covers, the contact fields behind them, and
#: its only recipient: the structure itself.
CONTACT_DATA_CATEGORIES: tuple[str, ...] = ("dpv-pd:Name", "dpv-pd:EmailAddress")
CONTACT_CONSENT_FIELDS: tuple[str, ...] = ("given_name", "family_name", "email")
CONTACT_RECIPIENTS: tuple[str, ...] = ("controller",)

#: Scopes of a mandate that let a vendor's client read / write a structure's contacts.
READ_SCOPES = frozenset({"contacts:read", "contacts:write"})
WRITE_SCOPE = "contacts:write"


class ContactError(ValueError):
    """A request on contacts that cannot be honoured; `errors` maps each field to its messages."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__("; ".join(f"{name}: {' '.join(messages)}" for name, messages in errors.items()))
        self.errors = errors


# ---------------------------------------------------------------------------- who sees which structure's contacts


def _active_mandates(client: Any, now: dt.datetime) -> QuerySet[Any]:
    from dataspace.oauth.models import Mandate

    return Mandate.objects.filter(client=client, revoked_at__isnull=True).filter(
        Q(expires_at__isnull=True) | Q(expires_at__gt=now)
    )


def readable_owner_ids(
    *, user: Any = None, client: Any = None, now: dt.datetime | None = None
) -> set[uuid.UUID] | None:
    """The structures whose contacts the caller reads; None means every structure (a superuser).

    `client` is a machine client (acting for nobody); `user` a person (session or personal token).
    """
    if client is not None:
        if not client.is_usable():
            return set()
        owners = {client.owner_id} if client.owner_id else set()
        if client.kind == "depositor":
            for structure_id, scopes in _active_mandates(client, now or timezone.now()).values_list(
                "structure_id", "scopes"
            ):
                if READ_SCOPES & set(scopes or []):
                    owners.add(structure_id)
        return owners
    if user is None or not getattr(user, "is_active", False):
        return set()
    if user.is_superuser:
        return None
    from dataspace.api.permissions import staff_roles

    return set(staff_roles(user))


def writable_owner_ids(
    *, user: Any = None, client: Any = None, now: dt.datetime | None = None
) -> set[uuid.UUID] | None:
    """The structures whose contacts the caller writes; None means every structure (a superuser)."""
    if client is not None:
        if client.kind != "depositor" or not client.is_usable():
            return set()
        owners = {client.owner_id} if client.owner_id else set()
        for structure_id, scopes in _active_mandates(client, now or timezone.now()).values_list(
            "structure_id", "scopes"
        ):
            if WRITE_SCOPE in (scopes or []):
                owners.add(structure_id)
        return owners
    if user is None or not getattr(user, "is_active", False):
        return set()
    if user.is_superuser:
        return None
    from dataspace.api.permissions import WRITE_ROLES, staff_roles

    return {org for org, role in staff_roles(user).items() if role in WRITE_ROLES}


def contacts_of(owner_ids: set[uuid.UUID] | None) -> QuerySet[Contact]:
    """The contacts of these structures (None: all)."""
    queryset = Contact.objects.select_related("owner")
    return queryset if owner_ids is None else queryset.filter(owner_id__in=owner_ids)


# ---------------------------------------------------------------------------- lookups


def normalise_tags(tags: Iterable[Any]) -> list[str]:
    """Tags trimmed, lower-cased, deduplicated and sorted; raises ContactError on a malformed tag."""
    cleaned: set[str] = set()
    for tag in tags:
        if not isinstance(tag, str):
            raise ContactError({"tags": [str(_("Une étiquette est un texte."))]})
        text = tag.strip().casefold()
        if not text:
            continue
        if len(text) > 50 or any(ch in text for ch in '"\\,'):
            raise ContactError(
                {
                    "tags": [
                        str(_("Une étiquette fait au plus 50 caractères, sans guillemet, virgule ni barre oblique."))
                    ]
                }
            )
        cleaned.add(text)
    return sorted(cleaned)


def with_tag(queryset: QuerySet[Contact], tag: str) -> QuerySet[Contact]:
    """Contacts carrying the tag (whole tag; tags are stored case-folded).

    PostgreSQL: jsonb containment (`@>`). SQLite has no JSON containment lookup: the tag is matched
    as its JSON string inside the stored array text, escaped the way Django stores it
    (`json.dumps`, ASCII escapes), so "lyo" never matches "lyon" and "abonné" matches itself."""
    text = tag.strip().casefold()
    if connection.vendor == "postgresql":
        return queryset.filter(tags__contains=[text])
    return queryset.filter(tags__icontains=json.dumps(text))


def with_email(queryset: QuerySet[Contact], email: str) -> QuerySet[Contact]:
    """Contacts whose email is exactly `email` (case and surrounding spaces ignored), by its blind index."""
    return queryset.filter(email_index=blind_index(email)) if email.strip() else queryset.none()


def consents_in_force(purpose: str, *, now: dt.datetime | None = None) -> QuerySet[ConsentRecord]:
    """Contact consents in force at `now` covering `purpose` (a queryset: use it as a subquery)."""
    moment = now or timezone.now()
    return ConsentRecord.objects.filter(
        Q(expires_at__isnull=True) | Q(expires_at__gt=moment),
        target_type=CONTACT_TARGET,
        status__in=ACTIVE_STATUSES,
        purposes__icontains=json.dumps(purpose),
    )


def check_purpose(purpose: str | None) -> str:
    """The purpose code, or ContactError naming `purpose` when it is missing or unknown."""
    code = (purpose or "").strip()
    if code not in CONTACT_PURPOSES:
        message = _("Finalité attendue parmi : %(allowed)s ; reçu %(value)r.") % {
            "allowed": ", ".join(CONTACT_PURPOSES),
            "value": code,
        }
        raise ContactError({"purpose": [str(message)]})
    return code


def reachable_contacts(
    owner_ids: set[uuid.UUID] | None, purpose: str, *, now: dt.datetime | None = None
) -> QuerySet[Contact]:
    """Who the structure may write to for `purpose`: its contacts holding a consent in force for it,
    given to that very structure (one EXISTS subquery), with an email address."""
    code = check_purpose(purpose)
    consent = consents_in_force(code, now=now).filter(target_id=OuterRef("pk"), controller_id=OuterRef("owner_id"))
    return contacts_of(owner_ids).filter(Exists(consent)).exclude(email_index="")


# ---------------------------------------------------------------------------- writes (journaled, no personal data)


def _journal(
    action: str,
    contact: Contact,
    *,
    actor: Actor,
    details: dict[str, Any] | None = None,
    now: dt.datetime | None = None,
) -> None:
    journal(
        actor=actor,
        action=action,
        decision="permit",
        record_type=CONTACT_TARGET,
        record_ids=[contact.pk],
        owner_id=contact.owner_id,
        stream="admin",
        details=details,
        subject_person_id=contact.pk,
        now=now,
    )


def create_contact(*, actor: Actor, now: dt.datetime | None = None, **values: Any) -> Contact:
    """A new contact (tags normalised); journaled without its personal data."""
    if "tags" in values:
        values["tags"] = normalise_tags(values["tags"] or [])
    with transaction.atomic():
        contact = Contact.objects.create(**values)
        _journal("create", contact, actor=actor, now=now)
    return contact


def update_contact(contact: Contact, *, actor: Actor, now: dt.datetime | None = None, **values: Any) -> Contact:
    """Change these fields of the contact; the journal names the fields, never their values."""
    if "tags" in values:
        values["tags"] = normalise_tags(values["tags"] or [])
    with transaction.atomic():
        for name, value in values.items():
            setattr(contact, name, value)
        contact.save()
        _journal("update", contact, actor=actor, details={"fields": sorted(values)}, now=now)
    return contact


def delete_contact(contact: Contact, *, actor: Actor, now: dt.datetime | None = None) -> None:
    """Delete the contact and erase its consents (`erase_consent`); the journal keeps its id only."""
    from dataspace.consent import services as consent_services

    with transaction.atomic():
        for consent in ConsentRecord.objects.filter(target_type=CONTACT_TARGET, target_id=contact.pk).exclude(
            status=ConsentRecord.Status.ERASED
        ):
            consent_services.erase_consent(consent, by=_user(actor), now=now)
        _journal("delete", contact, actor=actor, now=now)
        contact.delete()


def _user(actor: Actor) -> Any:
    if actor.user_id is None:
        return None
    from django.contrib.auth import get_user_model

    return get_user_model()._default_manager.filter(pk=actor.user_id).first()


# ---------------------------------------------------------------------------- consents per purpose


def notice_for(contact: Contact, version: str) -> Notice:
    """The structure's contact notice of that version; ContactError naming `notice_version` otherwise."""
    notice = Notice.objects.filter(controller_id=contact.owner_id, kind=Notice.Kind.CONTACT, version=version).first()
    if notice is None:
        known = list(
            Notice.objects.filter(controller_id=contact.owner_id, kind=Notice.Kind.CONTACT).values_list(
                "version", flat=True
            )
        )
        message = _(
            "Aucune notice « contacts » de la structure dans cette version (%(version)r) ; publiées : %(known)s."
        )
        raise ContactError({"notice_version": [str(message % {"version": version, "known": ", ".join(known) or "—"})]})
    return notice


def record_contact_consent(
    contact: Contact,
    *,
    purposes: Iterable[str],
    notice: Notice,
    method: str,
    by: Any = None,
    client_id: str = "",
    oauth_client: Any = None,
    expires_at: dt.datetime | None = None,
    now: dt.datetime | None = None,
) -> ConsentRecord:
    """Record that the contact agreed to be written to by its structure for these purposes."""
    from dataspace.consent import services as consent_services

    codes = [check_purpose(code) for code in purposes]
    if not codes:
        raise ContactError({"purpose": [str(_("Au moins une finalité."))]})
    if method not in ConsentRecord.Method.values:
        raise ContactError(
            {
                "method": [
                    str(_("Mode de recueil parmi : %(allowed)s.") % {"allowed": ", ".join(ConsentRecord.Method.values)})
                ]
            }
        )
    if not contact.email:
        raise ContactError({"email": [str(_("Le contact n'a pas d'adresse électronique à laquelle écrire."))]})
    return consent_services.grant_consent(
        controller=contact.owner,
        target_type=CONTACT_TARGET,
        target_id=contact.pk,
        purposes=codes,
        data_categories=list(CONTACT_DATA_CATEGORIES),
        fields=list(CONTACT_CONSENT_FIELDS),
        recipients=list(CONTACT_RECIPIENTS),
        notice=notice,
        method=method,
        subject_email=contact.email,
        expires_at=expires_at,
        oauth_client=oauth_client,
        by=by,
        client_id=client_id,
        now=now,
    )


def contact_consents(contact: Contact) -> QuerySet[ConsentRecord]:
    """Every consent of the contact, newest first (withdrawn and expired ones included)."""
    return ConsentRecord.objects.filter(target_type=CONTACT_TARGET, target_id=contact.pk).order_by("-given_at")


def withdraw_contact_consent(
    contact: Contact,
    purpose: str,
    *,
    by: Any = None,
    client_id: str = "",
    now: dt.datetime | None = None,
    note: str = "",
) -> list[ConsentRecord]:
    """Withdraw every consent in force of the contact that covers `purpose`; ContactError when none."""
    from dataspace.consent import services as consent_services

    code = check_purpose(purpose)
    current = list(consents_in_force(code, now=now).filter(target_id=contact.pk, controller_id=contact.owner_id))
    if not current:
        message = _("Aucun consentement en vigueur pour la finalité %(purpose)r.") % {"purpose": code}
        raise ContactError({"purpose": [str(message)]})
    return [
        consent_services.withdraw_consent(consent, by=by, client_id=client_id, now=now, note=note)
        for consent in current
    ]


# ---------------------------------------------------------------------------- review


def review_cutoff(*, now: dt.datetime | None = None) -> dt.datetime:
    """Records last verified before this instant are due for review (settings.CONSENT_REVIEW_DAYS)."""
    from django.conf import settings

    days = int(getattr(settings, "CONSENT_REVIEW_DAYS", 365))
    return (now or timezone.now()) - dt.timedelta(days=days)


def review_field(model: type[Any]) -> str:
    """The model's "last verified" column: `verified_at` (contacts), `reviewed_at` (directory entries)."""
    names = {field.name for field in model._meta.get_fields()}
    for name in ("verified_at", "reviewed_at"):
        if name in names:
            return name
    raise ValueError(f"{model.__name__} has no verified_at / reviewed_at column")


def due_for_review(queryset: QuerySet[Any], *, now: dt.datetime | None = None) -> QuerySet[Any]:
    """Rows last verified before the cutoff, or never verified and created before it."""
    cutoff = review_cutoff(now=now)
    name = review_field(queryset.model)
    return queryset.filter(Q(**{f"{name}__lt": cutoff}) | Q(**{f"{name}__isnull": True, "created_at__lt": cutoff}))
