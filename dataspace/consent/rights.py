"""Rights of the person (GDPR art. 15-17, 30): export, rectification, erasure, record of processing,
and the review flags of records not re-verified for a while (docs/consent.md, "Rights of the person").

A person is known to this node by their account (`user`, the portal's sign-in) and by their email
address, matched through blind indexes, never by decrypting rows:

* directory entries — `person_user`, a `contact_email_index` column when the model has one, and
  the entries their consents (by `subject_user` / `subject_email_index`) cover;
* contacts — `Contact.email_index`;
* consents — `subject_user`, `subject_email_index`, and every consent covering one of the above;
* journal entries — `subject_person_id` is the id of one of their entries or contacts.

Every function takes `owners`: the structures whose data the caller may act on (None: every
structure — the person themself, or the node's operator). A structure's staff acting for a
person by email thus never reaches another structure's data.

* `export_person_data(...)` — everything held about them, as a JSON-ready dict.
* `rectify_person_data(...)` — change fields of one of their directory entries or contacts.
* `erase_person_data(...)` — erase them: consents erased (`erase_consent`: a minimal tombstone of
  the consent remains), directory entries deleted (the records machinery leaves its tombstone on
  the change feed), contacts deleted; a journal entry without personal data records each erasure.
* `record_of_processing(organisation)` — the generated record of processing activities (art. 30).
* `flagged_for_review(owner)` / `review_counts()` — records whose last verification is older
  than `settings.CONSENT_REVIEW_DAYS`.

Every rectification, erasure and export is journaled (stream "admin", `subject_person_id` = the
record's id), naming fields, never values.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import models, transaction
from django.db.models import Count, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from dataspace.audit.models import JournalEntry
from dataspace.audit.services import Actor, journal
from dataspace.consent import vocabulary as vocab
from dataspace.consent.models import ConsentRecord
from dataspace.contacts import services as contact_services
from dataspace.contacts.models import CONTACT_TARGET, Contact
from dataspace.node.crypto import blind_index

DIRECTORY_TARGET = "directory-entry"
#: Streams of the journal that record someone reading the person's data.
ACCESS_STREAMS = ("access", "break_glass")
#: Fields of a contact the person may have rectified.
CONTACT_RECTIFIABLE: tuple[str, ...] = (
    "given_name",
    "family_name",
    "organisation_name",
    "email",
    "phone",
    "postal_address",
)
#: Fields of a directory entry the person may have rectified, beyond those a consent may cover.
ENTRY_RECTIFIABLE_EXTRA: tuple[str, ...] = ("display_name", "contact_email", "contact_phone", "postal_address")


class RightsError(ValueError):
    """A request that cannot be honoured; `errors` maps each field to its messages (a 400)."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__("; ".join(f"{name}: {' '.join(messages)}" for name, messages in errors.items()))
        self.errors = errors


class NothingHeld(LookupError):
    """No record of the person within the caller's reach (a 404: nothing disclosed)."""


# ---------------------------------------------------------------------------- finding the person's data


def directory_entry_model() -> type[models.Model] | None:
    """The directory entry model, when the directory app defines it."""
    try:
        from dataspace.directory.models import DirectoryEntry
    except ImportError:  # pragma: no cover - the directory app always defines it since issue 5
        return None
    return DirectoryEntry


def _field_names(model: type[models.Model]) -> set[str]:
    return {field.name for field in model._meta.get_fields()}


@dataclass(frozen=True)
class PersonKey:
    """How the node recognises a person: their account and the blind index of their email."""

    user: Any
    email: str
    email_index: str

    @property
    def user_id(self) -> Any:
        return getattr(self.user, "pk", None)


def person_key(*, email: str | None = None, user: Any = None) -> PersonKey:
    """The person's key; RightsError naming `email` when neither an address nor an account is given."""
    address = (email or "").strip() or (getattr(user, "email", "") or "").strip()
    if user is None and not address:
        raise RightsError({"email": [_("L'adresse électronique de la personne est requise.")]})
    return PersonKey(user=user, email=address, email_index=blind_index(address) if address else "")


def _owned(queryset: QuerySet[Any], owners: set[uuid.UUID] | None, field: str = "owner_id") -> QuerySet[Any]:
    return queryset if owners is None else queryset.filter(**{f"{field}__in": owners})


def _subject_consents_q(key: PersonKey) -> Q:
    condition = Q(pk__in=[])
    if key.user_id is not None:
        condition |= Q(subject_user_id=key.user_id)
    if key.email_index:
        condition |= Q(subject_email_index=key.email_index)
    return condition


def person_entries(key: PersonKey, owners: set[uuid.UUID] | None = None) -> QuerySet[Any]:
    """The person's directory entries within `owners`."""
    model = directory_entry_model()
    if model is None:
        return Contact.objects.none()
    names = _field_names(model)
    condition = Q(
        pk__in=ConsentRecord.objects.filter(_subject_consents_q(key), target_type=DIRECTORY_TARGET).values("target_id")
    )
    if key.user_id is not None and "person_user" in names:
        condition |= Q(person_user_id=key.user_id)
    if key.email_index and "contact_email_index" in names:
        condition |= Q(contact_email_index=key.email_index)
    return _owned(model._default_manager.filter(condition), owners)


def person_contacts(key: PersonKey, owners: set[uuid.UUID] | None = None) -> QuerySet[Contact]:
    """The contacts holding the person's email within `owners`."""
    if not key.email_index:
        return Contact.objects.none()
    return _owned(Contact.objects.select_related("owner").filter(email_index=key.email_index), owners)


def person_consents(
    key: PersonKey, owners: set[uuid.UUID] | None, entry_ids: Iterable[Any], contact_ids: Iterable[Any]
) -> QuerySet[ConsentRecord]:
    """Consents given by the person, or covering one of their entries or contacts, within `owners`."""
    condition = (
        _subject_consents_q(key)
        | Q(target_type=DIRECTORY_TARGET, target_id__in=list(entry_ids))
        | Q(target_type=CONTACT_TARGET, target_id__in=list(contact_ids))
    )
    queryset = ConsentRecord.objects.filter(condition).select_related("notice", "controller")
    return _owned(queryset, owners, "controller_id").prefetch_related("events").order_by("given_at", "pk")


def person_journal(record_ids: Iterable[Any], owners: set[uuid.UUID] | None) -> QuerySet[JournalEntry]:
    """Journal entries about the person's records (their `subject_person_id`), oldest first."""
    ids = list(record_ids)
    if not ids:
        return JournalEntry.objects.none()
    return _owned(JournalEntry.objects.filter(subject_person_id__in=ids), owners).order_by("seq")


# ---------------------------------------------------------------------------- renderings


def _plain(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, models.Model):
        return str(value.pk)
    return value


def _row(instance: models.Model, exclude: Iterable[str] = ()) -> dict[str, Any]:
    """Every concrete column of a row (encrypted ones decrypted), foreign keys as ids."""
    skipped = set(exclude)
    row: dict[str, Any] = {}
    for field in instance._meta.concrete_fields:
        if field.name in skipped:
            continue
        key = field.name
        value = getattr(instance, field.attname)
        row[key] = _plain(value)
    return row


def _consent_row(consent: ConsentRecord) -> dict[str, Any]:
    row = _row(consent, exclude=("subject_email_index",))
    row["notice_version"] = consent.notice.version
    row["controller_name"] = str(consent.controller)
    row["purpose_labels"] = [vocab.purpose_label(code) for code in consent.purposes or []]
    row["events"] = [
        {"status": event.status, "at": _plain(event.at), "by": event.by_id, "client_id": event.client_id}
        for event in consent.events.all()
    ]
    return row


def _journal_row(entry: JournalEntry) -> dict[str, Any]:
    return {
        "seq": entry.seq,
        "at": _plain(entry.at),
        "stream": entry.stream,
        "action": entry.action,
        "decision": entry.decision,
        "purpose": entry.purpose,
        "record_type": entry.record_type,
        "record_ids": entry.record_ids,
        "who": entry.username,
        "organisation": entry.organisation_name,
        "licence_number": entry.licence_number,
        "client_id": entry.client_id,
        "node": entry.node,
    }


def _journal_each(
    records: Iterable[tuple[str, Any, Any]],
    *,
    action: str,
    actor: Actor,
    details: dict[str, Any] | None = None,
    now: dt.datetime | None = None,
) -> None:
    """One journal entry per (record type, record id, owner id): the person's portal lists them."""
    for record_type, record_id, owner_id in records:
        journal(
            actor=actor,
            action=action,
            decision="permit",
            record_type=record_type,
            record_ids=[record_id],
            owner_id=owner_id,
            stream="admin",
            details=details,
            subject_person_id=record_id,
            now=now,
        )


def actor_of(by: Any = None, client_id: str = "") -> Actor:
    """The journal's actor for a person (or a client) acting."""
    if by is None:
        return Actor(client_id=client_id)
    return Actor(user_id=by.pk, username=by.get_username(), client_id=client_id)


# ---------------------------------------------------------------------------- export (art. 15, 20)


def export_person_data(
    *,
    email: str | None = None,
    user: Any = None,
    owners: set[uuid.UUID] | None = None,
    by: Any = None,
    client_id: str = "",
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    """Everything this node holds about the person, within `owners` (None: all), as JSON-ready data.

    The export itself is journaled on each record it covers.
    """
    key = person_key(email=email, user=user)
    moment = now or timezone.now()
    entries = list(person_entries(key, owners))
    contacts = list(person_contacts(key, owners))
    entry_ids = [entry.pk for entry in entries]
    contact_ids = [contact.pk for contact in contacts]
    consents = list(person_consents(key, owners, entry_ids, contact_ids))
    journal_rows = list(person_journal([*entry_ids, *contact_ids], owners))
    document = {
        "generated_at": moment.isoformat(),
        "node": str(settings.NODE_BASE_URL),
        "person": {"email": key.email, "account": key.user.get_username() if key.user is not None else None},
        "directory_entries": [_row(entry, exclude=("search_index",)) for entry in entries],
        "contacts": [_row(contact, exclude=("email_index",)) for contact in contacts],
        "consents": [_consent_row(consent) for consent in consents],
        "journal": [_journal_row(row) for row in journal_rows],
        "accesses": [_journal_row(row) for row in journal_rows if row.stream in ACCESS_STREAMS],
    }
    records = [(DIRECTORY_TARGET, entry.pk, getattr(entry, "owner_id", None)) for entry in entries]
    records += [(CONTACT_TARGET, contact.pk, contact.owner_id) for contact in contacts]
    _journal_each(records, action="export", actor=actor_of(by, client_id), now=moment)
    return document


# ---------------------------------------------------------------------------- rectification (art. 16)


def rectifiable_fields(target_type: str) -> tuple[str, ...]:
    """The fields of a record of this type that a rectification may change."""
    if target_type == CONTACT_TARGET:
        return CONTACT_RECTIFIABLE
    if target_type == DIRECTORY_TARGET:
        model = directory_entry_model()
        if model is None:
            return ()
        from dataspace.directory import services as directory_services

        covered = tuple(getattr(directory_services, "entry_fields", dict)())
        editable = {field.name for field in model._meta.concrete_fields if field.editable}
        return tuple(name for name in dict.fromkeys((*ENTRY_RECTIFIABLE_EXTRA, *covered)) if name in editable)
    return ()


def _find_record(key: PersonKey, owners: set[uuid.UUID] | None, target_type: str, target_id: Any) -> models.Model:
    try:
        ident = uuid.UUID(str(target_id))
    except ValueError:
        raise RightsError({"target_id": [_("Un identifiant (UUID) est attendu.")]}) from None
    if target_type == CONTACT_TARGET:
        found = person_contacts(key, owners).filter(pk=ident).first()
    elif target_type == DIRECTORY_TARGET:
        found = person_entries(key, owners).filter(pk=ident).first()
    else:
        raise RightsError(
            {"target_type": [_("Type attendu : %(choices)s.") % {"choices": f"{CONTACT_TARGET}, {DIRECTORY_TARGET}"}]}
        )
    if found is None:
        raise NothingHeld(f"no {target_type} {ident} of this person within reach")
    return found


def rectify_person_data(
    *,
    target_type: str,
    target_id: Any,
    changes: Mapping[str, Any],
    email: str | None = None,
    user: Any = None,
    owners: set[uuid.UUID] | None = None,
    by: Any = None,
    client_id: str = "",
    now: dt.datetime | None = None,
) -> models.Model:
    """Change fields of one of the person's directory entries or contacts; journaled (field names only).

    Raises RightsError naming the field for an unknown or invalid field, NothingHeld when the
    record is not theirs (or not within `owners`). The record counts as verified now.
    """
    key = person_key(email=email, user=user)
    if not isinstance(changes, Mapping) or not changes:
        raise RightsError({"changes": [_("Au moins un champ à rectifier est attendu.")]})
    allowed = rectifiable_fields(target_type)
    unknown = sorted(name for name in changes if name not in allowed)
    if unknown and target_type in (CONTACT_TARGET, DIRECTORY_TARGET):
        message = _("Champs non rectifiables : %(names)s ; champs prévus : %(allowed)s.")
        raise RightsError({"changes": [message % {"names": ", ".join(unknown), "allowed": ", ".join(allowed)}]})
    moment = now or timezone.now()
    with transaction.atomic():
        record = _find_record(key, owners, target_type, target_id)
        errors: dict[str, list[str]] = {}
        for name, value in changes.items():
            field = record._meta.get_field(name)
            try:
                cleaned = field.clean(value, record)  # type: ignore[union-attr]
            except DjangoValidationError as exc:
                errors[name] = [str(message) for message in exc.messages]
                continue
            setattr(record, name, cleaned)
        if errors:
            raise RightsError(errors)
        review = contact_services.review_field(type(record))
        setattr(record, review, moment)
        record.save()
        _journal_each(
            [(target_type, record.pk, getattr(record, "owner_id", None))],
            action="rectify",
            actor=actor_of(by, client_id),
            details={"fields": sorted(changes)},
            now=moment,
        )
    return record


# ---------------------------------------------------------------------------- erasure (art. 17)


def erase_person_data(
    *,
    email: str | None = None,
    user: Any = None,
    owners: set[uuid.UUID] | None = None,
    by: Any = None,
    client_id: str = "",
    now: dt.datetime | None = None,
) -> dict[str, int]:
    """Erase what the node holds about the person within `owners`; returns how much of each kind.

    In one transaction: every consent is erased (`erase_consent`: it ends with its effects —
    tombstone, outbox notice, tokens revoked — and forgets its subject), every directory entry is
    deleted (the change feed keeps the records machinery's tombstone: type, id, version), every
    contact is deleted; one journal entry per record (type, id, owner; no personal data) remains.
    The person's account, if any, is left for the node's operator (it signs them in to the portal).
    Raises NothingHeld when nothing is held within reach.
    """
    from dataspace.consent import services as consent_services

    key = person_key(email=email, user=user)
    moment = now or timezone.now()
    actor = actor_of(by, client_id)
    with transaction.atomic():
        entries = list(person_entries(key, owners))
        contacts = list(person_contacts(key, owners))
        consents = list(
            person_consents(key, owners, [e.pk for e in entries], [c.pk for c in contacts]).exclude(
                status=ConsentRecord.Status.ERASED
            )
        )
        if not (entries or contacts or consents):
            raise NothingHeld("nothing held about this person within reach")
        for consent in consents:
            consent_services.erase_consent(consent, by=by, now=moment)
        records = [(DIRECTORY_TARGET, entry.pk, getattr(entry, "owner_id", None)) for entry in entries]
        records += [(CONTACT_TARGET, contact.pk, contact.owner_id) for contact in contacts]
        _journal_each(records, action="erase", actor=actor, now=moment)
        for entry in entries:
            entry.delete()
        for contact in contacts:
            contact.delete()
    return {"directory_entries": len(entries), "contacts": len(contacts), "consents": len(consents)}


# ---------------------------------------------------------------------------- record of processing (art. 30)


def _purposes(codes: Iterable[str]) -> list[dict[str, str]]:
    return [
        {"code": code, "label": vocab.purpose_label(code), "dpv": vocab.PURPOSES[code].dpv}
        for code in sorted(set(codes))
        if code in vocab.PURPOSES
    ]


def _categories(codes: Iterable[str]) -> list[dict[str, str]]:
    return [{"code": code, "label": vocab.data_category_label(code)} for code in codes]


def record_of_processing(organisation: Any, *, now: dt.datetime | None = None) -> dict[str, Any]:
    """The structure's record of processing activities (GDPR art. 30), generated from what the node
    holds: per dataset holding personal data, its purposes, data categories, recipients, retention,
    legal basis, and how many records it holds today."""
    moment = now or timezone.now()
    owner_id = organisation.pk
    entry_model = directory_entry_model()
    entries = entry_model._default_manager.filter(owner_id=owner_id).count() if entry_model is not None else 0
    consents = ConsentRecord.objects.filter(controller_id=owner_id)
    used_contact_purposes = {
        code
        for purposes in consents.filter(target_type=CONTACT_TARGET).values_list("purposes", flat=True)
        for code in purposes or []
    }
    renewal_days = int(getattr(settings, "CONSENT_RENEWAL_DAYS", 3 * 365))
    review_days = int(getattr(settings, "CONSENT_REVIEW_DAYS", 365))
    entry_categories: list[str] = []
    if entry_model is not None:
        from dataspace.directory import services as directory_services

        entry_categories = list(dict.fromkeys(getattr(directory_services, "entry_fields", dict)().values()))
    activities = [
        {
            "dataset": DIRECTORY_TARGET,
            "name": _("Annuaire professionnel"),
            "records": entries,
            "purposes": _purposes(vocab.PURPOSES_BY_TARGET[DIRECTORY_TARGET]),
            "data_categories": _categories(entry_categories),
            "data_subjects": _("professionnels du spectacle vivant inscrits à l'annuaire"),
            "recipients": [
                vocab.recipient_label(code) for code in sorted(vocab.RECIPIENTS_BY_TARGET[DIRECTORY_TARGET])
            ],
            "legal_basis": vocab.LEGAL_BASIS,
            "retention": _(
                "Publiée tant qu'un consentement est en vigueur (renouvelé tous les %(days)d jours au plus) ; "
                "effacée sur demande de la personne (seule demeure une pierre tombale sans donnée personnelle)."
            )
            % {"days": renewal_days},
            "transfers": _("Nœuds de la fédération (répliques), seulement les champs consentis ; aucun hors UE."),
        },
        {
            "dataset": CONTACT_TARGET,
            "name": _("Contacts de la structure"),
            "records": Contact.objects.filter(owner_id=owner_id).count(),
            "purposes": _purposes(vocab.PURPOSES_BY_TARGET[CONTACT_TARGET]),
            "purposes_in_use": _purposes(used_contact_purposes),
            "data_categories": _categories(
                ["dpv-pd:Name", "dpv-pd:EmailAddress", "dpv-pd:TelephoneNumber", "dpv-pd:PhysicalAddress"]
            ),
            "data_subjects": _("spectateurs, partenaires, presse, agents d'artistes"),
            "recipients": [vocab.recipient_label(code) for code in sorted(vocab.RECIPIENTS_BY_TARGET[CONTACT_TARGET])],
            "legal_basis": vocab.LEGAL_BASIS,
            "retention": _("Tant que la relation dure ; à revérifier tous les %(days)d jours ; effacés sur demande.")
            % {"days": review_days},
            "transfers": _("Aucun : les contacts ne quittent jamais le nœud."),
        },
        {
            "dataset": "consent",
            "name": _("Preuves de consentement"),
            "records": consents.count(),
            "purposes": [
                {"code": "proof", "label": _("preuve du consentement (RGPD art. 7.1)"), "dpv": "dpv:LegalCompliance"}
            ],
            "data_categories": _categories(["dpv-pd:EmailAddress"]),
            "data_subjects": _("personnes ayant donné un consentement"),
            "recipients": [vocab.recipient_label("controller"), _("la personne elle-même (reçu signé)")],
            "legal_basis": "dpv:LegalObligation",
            "retention": _(
                "Tant que le consentement est en vigueur puis comme preuve ; à l'effacement, seule une trace "
                "minimale demeure (responsable, objet, finalités, dates, historique ; ni adresse ni compte)."
            ),
            "transfers": _("Aucun ; un avis de retrait sans donnée personnelle part vers les nœuds répliquant."),
        },
        {
            "dataset": "journal",
            "name": _("Journal des accès"),
            "records": JournalEntry.objects.filter(owner_id=owner_id).count(),
            "purposes": [
                {
                    "code": "accountability",
                    "label": _("traçabilité des accès et sécurité"),
                    "dpv": "dpv:ServiceSecurity",
                }
            ],
            "data_categories": _categories(["dpv-pd:Identifier"]),
            "data_subjects": _("professionnels consultant les données ; personnes dont la fiche est consultée"),
            "recipients": [vocab.recipient_label("controller"), _("la personne pour les accès à ses données")],
            "legal_basis": "dpv:LegitimateInterest",
            "retention": _(
                "Chaîné et scellé, non modifiable ; identifiants seulement (aucune donnée de contact), "
                "conservé selon la politique d'archivage du nœud."
            ),
            "transfers": _("Aucun."),
        },
    ]
    return {
        "controller": {"id": str(owner_id), "name": str(organisation)},
        "node": str(settings.NODE_BASE_URL),
        "generated_at": moment.isoformat(),
        "activities": [{key: _plain_text(value) for key, value in activity.items()} for activity in activities],
    }


def _plain_text(value: Any) -> Any:
    """Lazy translations and nested structures as plain JSON values."""
    if isinstance(value, list):
        return [_plain_text(item) for item in value]
    if isinstance(value, dict):
        return {key: _plain_text(item) for key, item in value.items()}
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)


# ---------------------------------------------------------------------------- review flags


def flagged_for_review(owner: Any, *, now: dt.datetime | None = None) -> dict[str, QuerySet[Any]]:
    """The structure's directory entries and contacts not verified for CONSENT_REVIEW_DAYS (by type)."""
    owner_id = getattr(owner, "pk", owner)
    flagged: dict[str, QuerySet[Any]] = {
        CONTACT_TARGET: contact_services.due_for_review(Contact.objects.filter(owner_id=owner_id), now=now)
    }
    entry_model = directory_entry_model()
    if entry_model is not None:
        flagged[DIRECTORY_TARGET] = contact_services.due_for_review(
            entry_model._default_manager.filter(owner_id=owner_id), now=now
        )
    return flagged


def review_counts(*, now: dt.datetime | None = None) -> dict[str, int]:
    """{structure id: number of its records due for review}, structures with none left out."""
    counts: dict[str, int] = {}
    querysets: list[QuerySet[Any]] = [contact_services.due_for_review(Contact.objects.all(), now=now)]
    entry_model = directory_entry_model()
    if entry_model is not None:
        querysets.append(contact_services.due_for_review(entry_model._default_manager.all(), now=now))
    for queryset in querysets:
        for row in queryset.order_by().values("owner_id").annotate(due=Count("pk")):
            counts[str(row["owner_id"])] = counts.get(str(row["owner_id"]), 0) + row["due"]
    return counts
