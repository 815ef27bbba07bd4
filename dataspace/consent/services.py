"""Person consents: notices, grant, renewal, withdrawal, expiry, erasure (docs/consent.md).

Rules
-----
* A consent needs a notice the controller published for that kind of target; its SHA-256 is copied
  onto the consent (the receipt proves which text was agreed to).
* Purposes, data categories and recipients come from `dataspace.consent.vocabulary`; anything else
  is a `ValidationError` naming the field (a 400 through the API).
* Status: given → renewed (new expiry, any number of times) → withdrawn | expired | erased (final;
  an ended consent may still be erased, which scrubs who the subject was).
* Every transition writes a `ConsentEvent` and a journal entry (stream "admin", owner = controller,
  subject_person_id = target id, action "consent.<status>") in the same transaction.
* `active_consent()` counts a consent while its status is given/renewed AND its expiry has not
  passed: an expired-by-date consent stops counting at once, before `expire_consents` marks it.
* When a consent ends (withdrawn, expired, erased while in force), in the SAME transaction:
  the directory entry's publication is recomputed (`refresh_publication`: tombstone on the change
  feed), a "consent.withdrawn" notice for the registry and every replica holder is written to the
  outbox (federated target types only: contacts never leave the node), and the access and refresh
  tokens of `consent.oauth_client` acting for `consent.subject_user` are revoked.
* Granting a consent on a target ends (as withdrawn, note "remplacé par …", without the effects
  of an end: the target stays covered) the consents of the same controller in force on the same
  target whose purposes the new one all covers. A directory entry thus has one consent in force.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _
from rest_framework.exceptions import ValidationError

from dataspace.audit.services import Actor, journal
from dataspace.consent import vocabulary as vocab
from dataspace.consent.models import ACTIVE_STATUSES, ConsentEvent, ConsentRecord, Notice

# Receipts live in their own module; re-exported here as the contract names them.
from dataspace.consent.receipts import ReceiptError, receipt_for, verify_receipt
from dataspace.node.crypto import blind_index

__all__ = [
    "ReceiptError",
    "active_consent",
    "active_consents",
    "active_target_ids",
    "consented_fields",
    "erase_consent",
    "expire_consents",
    "grant_consent",
    "in_force_q",
    "publish_notice",
    "receipt_for",
    "renew_consent",
    "verify_receipt",
    "withdraw_consent",
]

Status = ConsentRecord.Status
FINAL_STATUSES = (Status.WITHDRAWN, Status.EXPIRED, Status.ERASED)
#: Default validity of a renewal when no expiry is given (days; CNIL: re-ask every 3 years).
DEFAULT_RENEWAL_DAYS = 3 * 365
ADMIN_STREAM = "admin"


# ---------------------------------------------------------------------------- helpers


def _now(now: dt.datetime | None) -> dt.datetime:
    return now or timezone.now()


def _fail(field: str, message: str) -> ValidationError:
    return ValidationError({field: [message]})


def target_uri(target_type: str, target_id: Any) -> str:
    """The global URI of the record a consent covers (same form as OwnedRecord.uri)."""
    return f"{settings.NODE_BASE_URL}/id/{target_type}/{target_id}"


def _actor(by: Any, client_id: str) -> Actor:
    user = _user_or_none(by)
    return Actor(
        user_id=user.pk if user is not None else None,
        username=user.get_username() if user is not None else "",
        client_id=client_id or str(getattr(by, "client_id", "") or ""),
        node=str(settings.NODE_BASE_URL),
    )


def _user_or_none(by: Any) -> Any:
    return by if getattr(by, "pk", None) is not None and not getattr(by, "client", None) else None


def _record_event(
    consent: ConsentRecord,
    status: str,
    *,
    at: dt.datetime,
    by: Any,
    client_id: str,
    note: str = "",
    details: dict[str, Any] | None = None,
) -> ConsentEvent:
    """The ConsentEvent and its journal entry (call inside the transaction of the change)."""
    event = ConsentEvent.objects.create(
        consent=consent, status=status, at=at, by=_user_or_none(by), client_id=client_id or "", note=note
    )
    journal(
        actor=_actor(by, client_id),
        action=f"consent.{status}",
        decision="permit",
        record_type="consent",
        record_ids=[consent.pk],
        owner_id=consent.controller_id,
        subject_person_id=consent.target_id,
        stream=ADMIN_STREAM,
        details={
            "target_type": consent.target_type,
            "purposes": list(consent.purposes),
            "expires_at": consent.expires_at,
            "note": note,
            **(details or {}),
        },
        now=at,
    )
    return event


def _clean_codes(field: str, values: Any, allowed: Iterable[str], *, required: bool = True) -> list[str]:
    if not isinstance(values, list | tuple) or not all(isinstance(v, str) for v in values):
        raise _fail(field, _("Une liste de codes est attendue."))
    cleaned: list[str] = []
    allowed_set = set(allowed)
    for value in values:
        code = value
        if code not in allowed_set:
            raise _fail(
                field,
                _("Code inconnu « %(value)s » ; codes prévus : %(choices)s.")
                % {"value": value, "choices": ", ".join(sorted(allowed_set))},
            )
        if code not in cleaned:
            cleaned.append(code)
    if required and not cleaned:
        raise _fail(field, _("Au moins une valeur est requise."))
    return cleaned


def _field_categories(target_type: str) -> dict[str, str]:
    """Field name → DPV category of the fields a consent on this target type may cover ({}: any)."""
    if target_type == "directory-entry":
        from dataspace.directory.services import entry_fields

        return dict(entry_fields())
    return {}


def _allowed_fields(target_type: str) -> frozenset[str] | None:
    """The field names a consent on this target type may cover (None: not checked here)."""
    categories = _field_categories(target_type)
    return frozenset(categories) if categories else None


# ---------------------------------------------------------------------------- notices


def notice_digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def publish_notice(*, controller: Any, kind: str, version: str, text: str) -> Notice:
    """Publish a version of the controller's notice of `kind` (its SHA-256 computed here)."""
    if kind not in Notice.Kind.values:
        raise _fail("kind", _("Type de notice inconnu « %(value)s ».") % {"value": kind})
    if not (version or "").strip():
        raise _fail("version", _("La version est requise."))
    if not (text or "").strip():
        raise _fail("text", _("Le texte de la notice est requis."))
    if Notice.objects.filter(controller=controller, kind=kind, version=version).exists():
        raise _fail("version", _("Cette version de la notice est déjà publiée."))
    return Notice.objects.create(
        controller=controller, kind=kind, version=version.strip(), text=text, sha256=notice_digest(text)
    )


def current_notice(controller: Any, kind: str) -> Notice | None:
    """The controller's latest published notice of `kind`."""
    return Notice.objects.filter(controller=controller, kind=kind).order_by("-published_at", "-pk").first()


# ---------------------------------------------------------------------------- in force


def in_force_q(now: dt.datetime) -> Q:
    """Consents in force at `now`: status given/renewed, not past expiry."""
    return Q(status__in=ACTIVE_STATUSES) & (Q(expires_at__isnull=True) | Q(expires_at__gt=now))


def is_in_force(consent: ConsentRecord, *, now: dt.datetime | None = None) -> bool:
    moment = _now(now)
    return consent.status in ACTIVE_STATUSES and (consent.expires_at is None or consent.expires_at > moment)


def active_consents(
    target_type: str, target_id: Any, *, purpose: str = "", now: dt.datetime | None = None
) -> QuerySet[ConsentRecord]:
    """The consents in force on a target (newest first), optionally for one purpose."""
    queryset = ConsentRecord.objects.filter(in_force_q(_now(now)), target_type=target_type, target_id=target_id)
    if purpose:
        queryset = queryset.filter(purposes__icontains=f'"{purpose}"')
    return queryset.order_by("-given_at", "-pk")


def active_consent(
    target_type: str, target_id: Any, *, purpose: str = "", now: dt.datetime | None = None
) -> ConsentRecord | None:
    """The newest consent in force on a target (None when none is): status given/renewed, not past expiry."""
    return active_consents(target_type, target_id, purpose=purpose, now=now).first()


def active_target_ids(target_type: str, *, purpose: str = "", now: dt.datetime | None = None) -> QuerySet[Any]:
    """The ids of the targets with a consent in force (a subquery: `filter(id__in=active_target_ids(...))`)."""
    queryset = ConsentRecord.objects.filter(in_force_q(_now(now)), target_type=target_type)
    if purpose:
        queryset = queryset.filter(purposes__icontains=f'"{purpose}"')
    return queryset.values("target_id")


def consented_fields(target_type: str, target_id: Any, *, now: dt.datetime | None = None) -> frozenset[str]:
    """The fields the consents in force on a target cover (empty when none is in force)."""
    fields: set[str] = set()
    for covered in active_consents(target_type, target_id, now=now).values_list("fields", flat=True):
        fields.update(str(name) for name in covered or ())
    return frozenset(fields)


# ---------------------------------------------------------------------------- grant, renew


def grant_consent(
    *,
    controller: Any,
    target_type: str,
    target_id: Any,
    purposes: Sequence[str],
    data_categories: Sequence[str],
    fields: Sequence[str],
    recipients: Sequence[str],
    notice: Notice | None,
    method: str,
    subject_user: Any = None,
    subject_email: str = "",
    expires_at: dt.datetime | None = None,
    oauth_client: Any = None,
    by: Any = None,
    client_id: str = "",
    now: dt.datetime | None = None,
) -> ConsentRecord:
    """Record a consent given now (status "given"), with its event and journal entry."""
    moment = _now(now)
    if target_type not in vocab.TARGET_TYPES:
        raise _fail(
            "target_type",
            _("Objet inconnu « %(value)s » ; objets prévus : %(choices)s.")
            % {"value": target_type, "choices": ", ".join(vocab.TARGET_TYPES)},
        )
    try:
        target_uuid = target_id if isinstance(target_id, uuid.UUID) else uuid.UUID(str(target_id))
    except (TypeError, ValueError):
        raise _fail("target_id", _("Identifiant d'enregistrement invalide.")) from None
    purpose_codes = _clean_codes("purposes", list(purposes), vocab.PURPOSES_BY_TARGET[target_type])
    categories = _clean_codes("data_categories", list(data_categories), vocab.DATA_CATEGORIES)
    recipient_codes = _clean_codes("recipients", list(recipients), vocab.RECIPIENTS_BY_TARGET[target_type])
    field_names = list(fields) if isinstance(fields, list | tuple) else None
    if field_names is None or not all(isinstance(name, str) and name for name in field_names):
        raise _fail("fields", _("Une liste de noms de champs est attendue."))
    if not field_names:
        raise _fail("fields", _("Au moins un champ est requis."))
    allowed = _allowed_fields(target_type)
    if allowed is not None:
        unknown = sorted(set(field_names) - allowed)
        if unknown:
            raise _fail(
                "fields",
                _("Champs inconnus : %(value)s ; champs prévus : %(choices)s.")
                % {"value": ", ".join(unknown), "choices": ", ".join(sorted(allowed))},
            )
    field_names = list(dict.fromkeys(field_names))
    field_categories = _field_categories(target_type)
    if field_categories:
        declared = {vocab.data_category_dpv(code) for code in categories}
        missing = sorted(
            {
                field_categories[name]
                for name in field_names
                if name in field_categories and vocab.data_category_dpv(field_categories[name]) not in declared
            }
        )
        if missing:
            raise _fail(
                "data_categories",
                _("Catégories manquantes pour les champs couverts : %(value)s.") % {"value": ", ".join(missing)},
            )
    if method not in ConsentRecord.Method.values:
        raise _fail(
            "method",
            _("Mode de recueil inconnu « %(value)s » ; modes prévus : %(choices)s.")
            % {"value": method, "choices": ", ".join(ConsentRecord.Method.values)},
        )
    if notice is None:
        raise _fail("notice", _("Une notice d'information publiée par le responsable est requise."))
    if notice.controller_id != getattr(controller, "pk", None):
        raise _fail("notice", _("Cette notice n'a pas été publiée par ce responsable."))
    if notice.kind != vocab.TARGET_TYPES[target_type]:
        raise _fail("notice", _("Cette notice ne porte pas sur ce type de consentement."))
    if expires_at is not None and expires_at <= moment:
        raise _fail("expires_at", _("La date d'expiration doit être dans le futur."))
    email = (subject_email or "").strip()
    with transaction.atomic():
        consent = ConsentRecord.objects.create(
            subject_user=subject_user,
            subject_email=email,
            subject_email_index=blind_index(email) if email else "",
            controller=controller,
            target_type=target_type,
            target_id=target_uuid,
            purposes=purpose_codes,
            data_categories=categories,
            fields=field_names,
            recipients=recipient_codes,
            legal_basis=vocab.LEGAL_BASIS,
            notice=notice,
            notice_sha256=notice.sha256,
            method=method,
            given_at=moment,
            expires_at=expires_at,
            status=Status.GIVEN,
            status_changed_at=moment,
            oauth_client=oauth_client,
            verified_at=moment,
        )
        superseded = [
            older
            for older in ConsentRecord.objects.select_for_update()
            .filter(in_force_q(moment), target_type=target_type, target_id=target_uuid, controller=controller)
            .exclude(pk=consent.pk)
            if set(older.purposes) <= set(purpose_codes)
        ]
        for older in superseded:
            older.status = Status.WITHDRAWN
            older.status_changed_at = moment
            older.save(update_fields=["status", "status_changed_at"])
            _record_event(
                older,
                Status.WITHDRAWN,
                at=moment,
                by=by,
                client_id=client_id,
                note=f"remplacé par {consent.pk}",
                details={"superseded_by": str(consent.pk)},
            )
        _record_event(consent, Status.GIVEN, at=moment, by=by, client_id=client_id, details={"fields": field_names})
        if target_type == "directory-entry":
            _refresh_publication(target_uuid)
    return consent


def _locked(consent: ConsentRecord) -> ConsentRecord:
    return ConsentRecord.objects.select_for_update().select_related("controller").get(pk=consent.pk)


def _copy_state(source: ConsentRecord, into: ConsentRecord) -> ConsentRecord:
    for name in ("status", "status_changed_at", "expires_at", "subject_email", "subject_email_index"):
        setattr(into, name, getattr(source, name))
    into.subject_user_id = source.subject_user_id
    return into


def renew_consent(
    consent: ConsentRecord,
    *,
    expires_at: dt.datetime | None = None,
    by: Any = None,
    client_id: str = "",
    now: dt.datetime | None = None,
) -> ConsentRecord:
    """Renew a consent in force: a new expiry (default: DEFAULT_RENEWAL_DAYS from now)."""
    moment = _now(now)
    new_expiry = expires_at or moment + dt.timedelta(
        days=int(getattr(settings, "CONSENT_RENEWAL_DAYS", DEFAULT_RENEWAL_DAYS))
    )
    if new_expiry <= moment:
        raise _fail("expires_at", _("La date d'expiration doit être dans le futur."))
    with transaction.atomic():
        current = _locked(consent)
        if not is_in_force(current, now=moment):
            raise _fail("status", _("Seul un consentement en vigueur peut être renouvelé."))
        current.status = Status.RENEWED
        current.status_changed_at = moment
        current.expires_at = new_expiry
        current.save(update_fields=["status", "status_changed_at", "expires_at"])
        _record_event(current, Status.RENEWED, at=moment, by=by, client_id=client_id)
    return _copy_state(current, consent)


# ---------------------------------------------------------------------------- ending


def withdraw_consent(
    consent: ConsentRecord, *, by: Any = None, client_id: str = "", now: dt.datetime | None = None, note: str = ""
) -> ConsentRecord:
    """Withdraw a consent in force; its effects (publication, outbox, tokens) happen in the same transaction."""
    moment = _now(now)
    with transaction.atomic():
        current = _locked(consent)
        if current.status not in ACTIVE_STATUSES:
            raise _fail("status", _("Ce consentement n'est plus en vigueur : il ne peut pas être retiré."))
        _end(current, Status.WITHDRAWN, at=moment, by=by, client_id=client_id, note=note)
    return _copy_state(current, consent)


def erase_consent(consent: ConsentRecord, *, by: Any = None, now: dt.datetime | None = None) -> ConsentRecord:
    """Erase a consent: it ends (effects as a withdrawal if it was in force) and forgets who the subject was.

    What remains is a minimal tombstone: controller, target, purposes, dates and the status history.
    """
    moment = _now(now)
    with transaction.atomic():
        current = _locked(consent)
        if current.status == Status.ERASED:
            raise _fail("status", _("Ce consentement est déjà effacé."))
        _end(current, Status.ERASED, at=moment, by=by, client_id="", note="", effects=current.status in ACTIVE_STATUSES)
        current.subject_email = ""
        current.subject_email_index = ""
        current.subject_user = None
        current.save(update_fields=["subject_email", "subject_email_index", "subject_user"])
    return _copy_state(current, consent)


def expire_consents(*, now: dt.datetime | None = None) -> int:
    """Mark "expired" every consent whose expiry has passed, each with its effects; returns how many."""
    moment = _now(now)
    ids = list(
        ConsentRecord.objects.filter(status__in=ACTIVE_STATUSES, expires_at__lte=moment).values_list("pk", flat=True)
    )
    count = 0
    for pk in ids:
        with transaction.atomic():
            current = ConsentRecord.objects.select_for_update().select_related("controller").filter(pk=pk).first()
            if current is None or current.status not in ACTIVE_STATUSES or current.expires_at is None:
                continue
            if current.expires_at > moment:  # renewed meanwhile
                continue
            _end(current, Status.EXPIRED, at=moment, by=None, client_id="", note="")
            count += 1
    return count


def _end(
    consent: ConsentRecord,
    status: str,
    *,
    at: dt.datetime,
    by: Any,
    client_id: str,
    note: str,
    effects: bool = True,
) -> None:
    """Move a locked consent to a final status with its event, journal entry and effects (caller's transaction)."""
    consent.status = status
    consent.status_changed_at = at
    consent.save(update_fields=["status", "status_changed_at"])
    details: dict[str, Any] = {}
    if effects:
        details = ending_effects(consent, at=at)
    _record_event(consent, status, at=at, by=by, client_id=client_id, note=note, details=details)


def ending_effects(consent: ConsentRecord, *, at: dt.datetime) -> dict[str, Any]:
    """What a consent's end does, in the caller's transaction: publication, outbox notice, tokens."""
    details: dict[str, Any] = {}
    if consent.target_type == "directory-entry":
        _refresh_publication(consent.target_id)
    if consent.target_type in vocab.FEDERATED_TARGET_TYPES:
        details["outbox"] = _notify_federation(consent, at=at)
    details["tokens_revoked"] = _revoke_tokens(consent, now=at)
    return details


def _refresh_publication(entry_id: uuid.UUID) -> None:
    from dataspace.directory.services import refresh_publication

    refresh_publication(entry_id)


def _notify_federation(consent: ConsentRecord, *, at: dt.datetime) -> int:
    from federation.outbox import enqueue, replica_holders

    payload = {
        "consent": str(consent.pk),
        "target": target_uri(consent.target_type, consent.target_id),
        "target_type": consent.target_type,
        "target_id": str(consent.target_id),
        "controller": consent.controller.uri,
        "status": consent.status,
        "at": at.astimezone(dt.UTC).isoformat().replace("+00:00", "Z"),
    }
    return len(enqueue(kind="consent.withdrawn", payload=payload, destinations=replica_holders()))


def _revoke_tokens(consent: ConsentRecord, *, now: dt.datetime) -> int:
    """Revoke the access and refresh tokens of the consent's client acting for its subject (whole families)."""
    from dataspace.oauth.models import IssuedToken, RefreshToken

    if consent.oauth_client_id is None or consent.subject_user_id is None:
        return 0
    issued = IssuedToken.objects.filter(client_id=consent.oauth_client_id, user_id=consent.subject_user_id)
    refresh = RefreshToken.objects.filter(client_id=consent.oauth_client_id, user_id=consent.subject_user_id)
    families = {f for f in issued.values_list("family", flat=True) if f is not None}
    families |= {f for f in refresh.values_list("family", flat=True) if f is not None}
    count = issued.filter(revoked_at__isnull=True).update(revoked_at=now)
    count += refresh.filter(revoked_at__isnull=True).update(revoked_at=now)
    if families:
        count += IssuedToken.objects.filter(family__in=families, revoked_at__isnull=True).update(revoked_at=now)
        count += RefreshToken.objects.filter(family__in=families, revoked_at__isnull=True).update(revoked_at=now)
    return count


def current_status(consent: ConsentRecord, *, now: dt.datetime | None = None) -> str:
    """The status as it stands now: an active consent past its expiry reads "expired" already."""
    if consent.status in ACTIVE_STATUSES and not is_in_force(consent, now=now):
        return Status.EXPIRED.value
    return str(consent.status)
