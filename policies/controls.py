"""The DMP controls of an owner: blocks, hidden records and break-glass access (DOMAIN.md, "The DMP pattern").

Read side — called by the decision point (`policies.pdp`, `policies.enforcement`) on every guarded
request, so each costs one query at most and never one per record:

* `blocking_owner_ids(subject)` — the owners that block the subject (its account, its professional
  organisation or an organisation it acts for). One query, memoised on the subject (a `Subject` is
  built once per request) and forgotten as soon as any block is created or lifted.
* `hidden_exclusion(subject, target_type)` — a `Q` on the record model's primary key to *exclude*:
  the records of that type hidden from the subject, as one SQL subquery (no query of its own).
* `is_hidden_from(subject, target_type, target_id, owner_id)` — the same question for one record.
* `active_break_glass(subject, target_type, target_id, now=)` — the subject's emergency access to
  that record in force at `now`, if any.

Who is exempt: a superuser (the node's operator) and a subject acting for the owner (its staff, its
clients, the clients it gave a mandate) are never blocked by that owner and see its hidden records;
an organisation named as a partner of a hidden record sees it. A blocked party is refused with the
generic refusal (`REFUSED`): nothing it is told reveals the block.

Write side (verbs; views, admin and commands call them, none checks who the caller is — the API
and the admin do that first):

* `block_party(owner, user=|organisation=, note=, by=)`, `unblock(block, by=)`;
* `hide_record(owner, target_type, target_id, partners=, by=)`, `set_hidden_partners(hidden, partners, by=)`,
  `unhide(hidden, by=)`;
* `open_break_glass(subject=, target_type=, target_id=, emergency=, justification=, purpose=, now=)`:
  only a licensed professional (a current *Valide* licence on the day, `licence_standing`), for a
  named emergency, with a written justification of at least `MIN_JUSTIFICATION` characters, on a
  record that exists, is not hidden from the professional (a hidden record is answered like a
  missing one) and whose owner does not block the professional. The access lasts
  `settings.BREAK_GLASS_MINUTES`, is journaled on the `break_glass` stream in the same transaction
  and, once committed, the owner's administrators get one email (`owner_alerted_at` records it).

Every change of a block or a hidden record is journaled on the owner's `admin` stream (who, what;
the owner's journal only, never shown to the party concerned).

Errors: `django.core.exceptions.ValidationError` naming the field (the API answers 400) and
`ControlRefused` (a `PermissionDenied` carrying a stable reason code and a sentence; the API
answers 403 with them).
"""

from __future__ import annotations

import datetime as dt
import itertools
import logging
import re
import uuid
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.db.models import Model, Q
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django.utils import timezone, translation
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from dataspace.audit.services import Actor, journal
from policies.language import PURPOSES
from policies.models import GOVERNED_TYPES, Block, BreakGlassAccess, HiddenRecord
from policies.pdp import blocking_owners, subject_organisations
from policies.subject import Subject

logger = logging.getLogger(__name__)

#: Shortest written justification of a break-glass access, in characters (spaces trimmed).
MIN_JUSTIFICATION = 40
#: Record types the controls apply to (those a policy governs).
CONTROLLED_TYPES: frozenset[str] = frozenset(name for name, _label in GOVERNED_TYPES)
#: What a blocked party is told: nothing about the block.
REFUSED = _("Accès refusé.")
#: The journal stream of break-glass accesses (kept apart from ordinary accesses).
BREAK_GLASS_STREAM = "break_glass"
#: The journal stream of changes to the controls (blocks, hidden records).
ADMIN_STREAM = "admin"

_URI_PATH = re.compile(r"/id/(?P<type>[a-z][a-z-]*)/(?P<id>[0-9a-fA-F-]{32,36})/?$")


class ControlRefused(PermissionDenied):
    """A refusal with a stable reason code (`policies.decision.REASONS`) and a sentence for people."""

    def __init__(self, reason_code: str, reason: str) -> None:
        super().__init__(reason)
        self.reason_code = reason_code
        self.reason = reason


# ---------------------------------------------------------------------------- blocks (read side)

#: Bumped whenever a block is created, changed or lifted: memoised answers older than it are stale.
_block_generation = itertools.count(1)
_current_block_generation = 0
_BLOCKING_MEMO = "_policies_blocking_owner_ids"


@receiver(post_save, sender=Block, dispatch_uid="policies.controls.block_saved")
@receiver(post_delete, sender=Block, dispatch_uid="policies.controls.block_deleted")
def _blocks_changed(**_kwargs: Any) -> None:
    global _current_block_generation
    _current_block_generation = next(_block_generation)


def blocking_owner_ids(subject: Subject) -> frozenset[uuid.UUID]:
    """The owners that block the subject's account or one of its organisations (one query, memoised).

    An owner the subject acts for is left out (acting for the owner wins over a block), and a
    superuser is blocked by nobody. An anonymous subject is blocked by nobody either: it sees only
    what policies give everyone.
    """
    memo = subject.__dict__.get(_BLOCKING_MEMO)
    if memo is not None and memo[0] == _current_block_generation:
        return memo[1]
    owners = blocking_owners(subject)  # the same parties, as a subquery
    answer: frozenset[uuid.UUID] = (
        frozenset(owners.values_list("owner_id", flat=True).distinct()) if owners is not None else frozenset()
    )
    # A Subject is a frozen dataclass built for one request: the memo lives in its __dict__.
    subject.__dict__[_BLOCKING_MEMO] = (_current_block_generation, answer)
    return answer


def is_blocked_by(subject: Subject, owner_id: uuid.UUID | None) -> bool:
    """Does this owner block the subject? (`blocking_owner_ids`, memoised.)"""
    return owner_id is not None and owner_id in blocking_owner_ids(subject)


# ---------------------------------------------------------------------------- hidden records (read side)


def _hidden_from(subject: Subject, target_type: str) -> Any:
    """The HiddenRecord rows of that type that the subject may not see (a lazy queryset)."""
    hidden = HiddenRecord.objects.filter(target_type=target_type)
    if subject.acts_for:
        hidden = hidden.exclude(owner_id__in=subject.acts_for)
    organisations = subject_organisations(subject)
    if organisations:
        hidden = hidden.exclude(partners__in=organisations)
    return hidden


def hidden_exclusion(subject: Subject, target_type: str) -> Q:
    """A `Q` on the record model's `pk` to EXCLUDE: the records of that type hidden from the subject.

    Use it as `queryset.exclude(hidden_exclusion(subject, "venue"))`: it is one SQL subquery, so a
    list stays one query whatever its length. For a superuser it is an empty `Q` (excludes nothing).
    """
    if subject.is_superuser:
        return Q()
    return Q(pk__in=_hidden_from(subject, target_type).values("target_id"))


def hidden_ids(subject: Subject, target_type: str, target_ids: Iterable[uuid.UUID]) -> set[uuid.UUID]:
    """Which of these records of one type are hidden from the subject (one query; none for a superuser)."""
    ids = list(target_ids)
    if subject.is_superuser or not ids:
        return set()
    return set(_hidden_from(subject, target_type).filter(target_id__in=ids).values_list("target_id", flat=True))


def is_hidden_from(subject: Subject, target_type: str, target_id: uuid.UUID, owner_id: uuid.UUID | None) -> bool:
    """Is this record hidden from the subject? False for its owner's side and its named partners."""
    if subject.is_superuser or (owner_id is not None and owner_id in subject.acts_for):
        return False
    return bool(_hidden_from(subject, target_type).filter(target_id=target_id).exists())


# ---------------------------------------------------------------------------- break-glass (read side)


def active_break_glass(
    subject: Subject, target_type: str, target_id: uuid.UUID, *, now: dt.datetime | None = None
) -> BreakGlassAccess | None:
    """The subject's break-glass access to this record in force at `now`, or None.

    In force means opened at or before `now` and expiring after it. A block the owner sets after
    the access was opened ends it at once.
    """
    if subject.user_id is None:
        return None
    at = now or timezone.now()
    access = (
        BreakGlassAccess.objects.filter(
            user_id=subject.user_id,
            target_type=target_type,
            target_id=target_id,
            created_at__lte=at,
            expires_at__gt=at,
        )
        .order_by("-expires_at")
        .first()
    )
    if access is None or is_blocked_by(subject, access.owner_id):
        return None
    return access


# ---------------------------------------------------------------------------- records


def find_record(target_type: str, target_id: Any) -> Model | None:
    """The governed record of that type and id held on this node, or None."""
    from dataspace.records.services import record_models

    if target_type not in CONTROLLED_TYPES:
        return None
    model = record_models().get(target_type)
    if model is None:
        return None
    try:
        pk = target_id if isinstance(target_id, uuid.UUID) else uuid.UUID(str(target_id))
    except ValueError:
        return None
    return model._default_manager.filter(pk=pk).first()


def owner_id_of(record: Model) -> uuid.UUID | None:
    """The organisation whose data the record is (an organisation describing itself owns itself)."""
    from dataspace.referentials.services import owning_organisation

    owner = owning_organisation(record)  # type: ignore[arg-type]
    return owner.pk if owner is not None else None


def parse_record_reference(value: Any) -> tuple[str, uuid.UUID]:
    """(type, id) from a global URI `…/id/<type>/<uuid>` or `{"type": …, "id": …}`; 400 naming `record`."""
    target_type: Any = None
    raw_id: Any = None
    if isinstance(value, str):
        match = _URI_PATH.search(value.strip())
        if match:
            target_type, raw_id = match.group("type"), match.group("id")
    elif isinstance(value, dict):
        target_type, raw_id = value.get("type"), value.get("id")
    if not isinstance(target_type, str) or raw_id is None:
        raise ValidationError(
            {"record": [_("Indiquez l'URI de l'enregistrement (…/id/<type>/<uuid>) ou un objet {type, id}.")]}
        )
    if target_type not in CONTROLLED_TYPES:
        raise ValidationError(
            {
                "record": [
                    _("Type d'enregistrement inconnu « %(type)s » ; types possibles : %(types)s.")
                    % {"type": target_type, "types": ", ".join(sorted(CONTROLLED_TYPES))}
                ]
            }
        )
    try:
        return target_type, uuid.UUID(str(raw_id))
    except ValueError:
        raise ValidationError({"record": [_("Identifiant d'enregistrement invalide (UUID attendu).")]}) from None


# ---------------------------------------------------------------------------- journal of the controls


def _journal_change(
    action: str,
    owner_id: uuid.UUID,
    by: Any,
    *,
    record_type: str = "",
    record_ids: Iterable[uuid.UUID] = (),
    details: dict[str, Any] | None = None,
) -> None:
    """One entry on the owner's `admin` stream: who changed which control (never shown to the party)."""
    person = by if getattr(by, "pk", None) is not None else None
    actor = Actor(
        user_id=person.pk if person is not None else None,
        username=person.get_username() if person is not None else "",
        client_id=str(getattr(by, "client_id", "") or "") if person is None else "",
        node=str(settings.NODE_BASE_URL),
    )
    journal(
        actor=actor,
        action=action,
        decision="permit",
        record_type=record_type,
        record_ids=list(record_ids),
        owner_id=owner_id,
        stream=ADMIN_STREAM,
        details=details or {},
    )


# ---------------------------------------------------------------------------- blocks (services)


def _organisation_ids(organisations: Iterable[Any]) -> set[uuid.UUID]:
    ids: set[uuid.UUID] = set()
    for item in organisations:
        value = getattr(item, "pk", item)
        try:
            ids.add(value if isinstance(value, uuid.UUID) else uuid.UUID(str(value)))
        except ValueError:
            raise ValidationError(
                {"partners": [_("Identifiant d'organisation invalide : %(value)s.") % {"value": value}]}
            ) from None
    return ids


def check_block(owner: Any, *, user: Any = None, organisation: Any = None) -> None:
    """Raise `ValidationError` (naming `user` or `organisation`) unless `block_party` may block this party.

    Exactly one party; not the owner itself, nor a member of its own staff (withdraw their role
    instead); one block per party and owner.
    """
    from dataspace.node.models import StaffMembership

    if (user is None) == (organisation is None):
        raise ValidationError({"user": [_("Indiquez une personne ou une organisation à bloquer (une seule).")]})
    if organisation is not None:
        if organisation.pk == owner.pk:
            raise ValidationError({"organisation": [_("Une structure ne peut pas se bloquer elle-même.")]})
        if Block.objects.filter(owner=owner, blocked_organisation=organisation).exists():
            raise ValidationError({"organisation": [_("Cette organisation est déjà bloquée.")]})
        return
    if StaffMembership.objects.filter(user=user, organisation=owner).exists():
        raise ValidationError(
            {"user": [_("Cette personne fait partie de l'équipe de la structure : retirez-lui son rôle.")]}
        )
    if Block.objects.filter(owner=owner, blocked_user=user).exists():
        raise ValidationError({"user": [_("Cette personne est déjà bloquée.")]})


def block_party(owner: Any, *, user: Any = None, organisation: Any = None, note: str = "", by: Any = None) -> Block:
    """The owner blocks a person (account) or an organisation from all of its data (`check_block` rules).

    The party is refused from its very next request, without being told why.
    """
    check_block(owner, user=user, organisation=organisation)
    try:
        with transaction.atomic():
            block = Block.objects.create(
                owner=owner,
                blocked_user=user,
                blocked_organisation=organisation,
                note=note or "",
                created_by=by if getattr(by, "pk", None) is not None else None,
            )
            _journal_change("block", owner.pk, by, details=_block_details(block))
            return block
    except IntegrityError:  # the same block created concurrently
        field = "user" if user is not None else "organisation"
        raise ValidationError({field: [_("Cette partie est déjà bloquée.")]}) from None


def unblock(block: Block, *, by: Any = None) -> None:
    """Lift the block: the party reads again what policies allow it, from its very next request."""
    with transaction.atomic():
        details = _block_details(block)
        block.delete()
        _journal_change("unblock", block.owner_id, by, details=details)


def _block_details(block: Block) -> dict[str, Any]:
    if block.blocked_user_id is not None:
        return {
            "blocked_user_id": block.blocked_user_id,
            "blocked_username": getattr(block.blocked_user, "username", ""),
        }
    return {"blocked_organisation_id": str(block.blocked_organisation_id)}


# ---------------------------------------------------------------------------- hidden records (services)


def _partners(owner: Any, partners: Iterable[Any]) -> list[Any]:
    """The partner organisations (the owner itself left out); 400 naming `partners` for unknown ones."""
    from dataspace.referentials.models import Organisation

    wanted = _organisation_ids(partners) - {owner.pk}
    known = list(Organisation.objects.filter(pk__in=wanted))
    unknown = sorted(str(item) for item in wanted - {organisation.pk for organisation in known})
    if unknown:
        raise ValidationError({"partners": [_("Organisation(s) inconnue(s) : %(ids)s.") % {"ids": ", ".join(unknown)}]})
    return known


def check_hide(owner: Any, target_type: str, target_id: Any, partners: Iterable[Any] = ()) -> list[Any]:
    """The partner organisations, once checked that `hide_record` may hide this record.

    Raises `ValidationError` naming `record` (no such record of the owner, or already hidden) or
    `partners` (unknown organisation).
    """
    record = find_record(target_type, target_id)
    if record is None or owner_id_of(record) != owner.pk:
        raise ValidationError(
            {"record": [_("Aucun enregistrement de ce type et de cet identifiant n'appartient à votre structure.")]}
        )
    partner_list = _partners(owner, partners)
    if HiddenRecord.objects.filter(target_type=target_type, target_id=record.pk).exists():
        raise ValidationError({"record": [_("Cet enregistrement est déjà masqué : modifiez ses partenaires.")]})
    return partner_list


def hide_record(
    owner: Any, target_type: str, target_id: Any, partners: Iterable[Any] = (), *, by: Any = None
) -> HiddenRecord:
    """Hide one of the owner's records: from now on only the owner and the named partners see it."""
    partner_list = check_hide(owner, target_type, target_id, partners)
    record_id = target_id if isinstance(target_id, uuid.UUID) else uuid.UUID(str(target_id))
    try:
        with transaction.atomic():
            hidden = HiddenRecord.objects.create(
                owner=owner,
                target_type=target_type,
                target_id=record_id,
                created_by=by if getattr(by, "pk", None) is not None else None,
            )
            hidden.partners.set(partner_list)
            _journal_change(
                "hide",
                owner.pk,
                by,
                record_type=target_type,
                record_ids=[record_id],
                details={"partners": sorted(str(partner.pk) for partner in partner_list)},
            )
    except IntegrityError:
        raise ValidationError(
            {"record": [_("Cet enregistrement est déjà masqué : modifiez ses partenaires.")]}
        ) from None
    return hidden


def set_hidden_partners(hidden: HiddenRecord, partners: Iterable[Any], *, by: Any = None) -> HiddenRecord:
    """Replace the partners allowed to see a hidden record."""
    partner_list = _partners(hidden.owner, partners)
    with transaction.atomic():
        hidden.partners.set(partner_list)
        _journal_change(
            "hide_partners",
            hidden.owner_id,
            by,
            record_type=hidden.target_type,
            record_ids=[hidden.target_id],
            details={"partners": sorted(str(partner.pk) for partner in partner_list)},
        )
    return hidden


def unhide(hidden: HiddenRecord, *, by: Any = None) -> None:
    """Show the record again to whoever its policy allows."""
    with transaction.atomic():
        hidden.delete()
        _journal_change("unhide", hidden.owner_id, by, record_type=hidden.target_type, record_ids=[hidden.target_id])


# ---------------------------------------------------------------------------- break-glass (services)


def _standing(subject: Subject, day: dt.date) -> tuple[bool, str, str]:
    """(licensed, reason code, sentence) from the registry, then the terms of use on a registry node."""
    from dataspace.directory.services import licence_standing

    ok, code, sentence = licence_standing(subject.professional, day, ())
    if not ok:
        return False, str(code), str(sentence)
    from policies.pdp import terms_decision

    refused = terms_decision(subject)
    if refused is not None:
        return False, refused.reason_code, refused.reason
    return True, "", ""


def _actor(subject: Subject, licence_number: str) -> Actor:
    professional = subject.professional
    return Actor(
        user_id=subject.user_id,
        username=subject.username,
        organisation_id=subject.organisation_id,
        organisation_name=professional.organisation_name if professional is not None else "",
        licence_number=licence_number,
        client_id=subject.client_id,
        node=subject.node,
    )


def _check_request(emergency: str, justification: str, purpose: str) -> None:
    errors: dict[str, list[Any]] = {}
    if emergency not in BreakGlassAccess.Emergency.values:
        errors["emergency"] = [
            _("Urgence inconnue « %(value)s » ; urgences prévues : %(choices)s.")
            % {"value": emergency, "choices": ", ".join(BreakGlassAccess.Emergency.values)}
        ]
    if len(justification) < MIN_JUSTIFICATION:
        errors["justification"] = [
            _("Une justification écrite d'au moins %(count)d caractères est obligatoire.")
            % {"count": MIN_JUSTIFICATION}
        ]
    if purpose and purpose not in PURPOSES:
        errors["purpose"] = [
            _("Finalité inconnue « %(value)s » ; finalités prévues : %(choices)s.")
            % {"value": purpose, "choices": ", ".join(PURPOSES)}
        ]
    if errors:
        raise ValidationError(errors)


def open_break_glass(
    *,
    subject: Subject,
    target_type: str,
    target_id: Any,
    emergency: str,
    justification: str,
    purpose: str = "",
    now: dt.datetime | None = None,
) -> BreakGlassAccess:
    """Open an emergency read of one record for a licensed professional (see the module docstring).

    Raises `ValidationError` (emergency, justification, purpose, record) and `ControlRefused`
    (`not_licensed` or a licence reason from the registry; `refused` for a machine client or a
    party the owner blocked — the block itself is never named).
    """
    at = now or timezone.now()
    justification = (justification or "").strip()
    purpose = (purpose or "").strip()
    if subject.kind != "person" or subject.user_id is None:
        raise ControlRefused("refused", gettext("L'accès d'urgence est ouvert par une personne, pas par un logiciel."))
    _check_request(emergency, justification, purpose)
    record = find_record(target_type, target_id)
    owner_id = owner_id_of(record) if record is not None else None
    # A record hidden from the subject stays hidden (break-glass opens what a policy denies, not
    # what the owner hid) and is answered exactly like a missing one: its existence is not disclosed.
    # A performance under option (visible to the node's staff only) is not disclosed either.
    if (
        record is None
        or owner_id is None
        or not getattr(record, "is_public", True)
        or is_hidden_from(subject, target_type, record.pk, owner_id)
    ):
        raise ValidationError({"record": [_("Aucun enregistrement de ce type et de cet identifiant sur ce nœud.")]})
    ok, code, sentence = _standing(subject, timezone.localdate(at))
    if not ok:
        raise ControlRefused(code, sentence)
    if is_blocked_by(subject, owner_id):
        raise ControlRefused("refused", str(REFUSED))
    licences = subject.licences_in_force(timezone.localdate(at))
    licence_number = licences[0].number if licences else ""
    professional = subject.professional
    with transaction.atomic():
        access = BreakGlassAccess.objects.create(
            user_id=subject.user_id,
            organisation_id=professional.organisation_id if professional is not None else None,
            licence_number=licence_number,
            owner_id=owner_id,
            target_type=target_type,
            target_id=record.pk,
            emergency=emergency,
            justification=justification,
            purpose=purpose,
            created_at=at,
            expires_at=at + dt.timedelta(minutes=int(settings.BREAK_GLASS_MINUTES)),
        )
        journal(
            actor=_actor(subject, licence_number),
            action="break_glass",
            decision="permit",
            reason_code="break_glass",
            reason=gettext("Accès d'urgence justifié, valable jusqu'au %(until)s.")
            % {"until": timezone.localtime(access.expires_at).strftime("%d/%m/%Y %H:%M")},
            purpose=purpose,
            record_type=target_type,
            record_ids=[record.pk],
            owner_id=owner_id,
            stream=BREAK_GLASS_STREAM,
            details={
                "access": str(access.pk),
                "emergency": emergency,
                "justification": justification,
                "expires_at": access.expires_at.isoformat(),
            },
            now=at,
        )
        access_id = access.pk
        transaction.on_commit(lambda: alert_owner(access_id), robust=True)
    return access


# ---------------------------------------------------------------------------- alerting the owner


def owner_alert_recipients(owner_id: uuid.UUID | None) -> list[str]:
    """The emails of the owner's administrators (active accounts with an address)."""
    from dataspace.node.models import StaffMembership

    if owner_id is None:
        return []
    emails = (
        StaffMembership.objects.filter(
            organisation_id=owner_id, role=StaffMembership.Role.ADMINISTRATOR, user__is_active=True
        )
        .exclude(user__email="")
        .order_by("user__email")
        .values_list("user__email", flat=True)
        .distinct()
    )
    return list(emails)


def _alert_text(access: BreakGlassAccess) -> tuple[str, str]:
    record = find_record(access.target_type, access.target_id)
    uri = getattr(record, "uri", f"{settings.NODE_BASE_URL}/id/{access.target_type}/{access.target_id}")
    who = access.user.get_username()
    if access.organisation is not None:
        who = f"{who} ({access.organisation.name})"
    subject = gettext("Accès d'urgence à vos données : %(record)s") % {"record": str(record or uri)}
    lines = [
        gettext("Un accès d'urgence (bris de glace) a été ouvert sur une donnée de %(owner)s.")
        % {"owner": access.owner.name},
        "",
        gettext("Demandé par : %(who)s") % {"who": who},
        gettext("Licence : %(number)s") % {"number": access.licence_number or "—"},
        gettext("Enregistrement : %(uri)s") % {"uri": uri},
        gettext("Urgence : %(emergency)s") % {"emergency": access.get_emergency_display()},
        gettext("Finalité : %(purpose)s") % {"purpose": access.purpose or "—"},
        gettext("Ouvert le %(start)s, valable jusqu'au %(end)s.")
        % {
            "start": timezone.localtime(access.created_at).strftime("%d/%m/%Y %H:%M"),
            "end": timezone.localtime(access.expires_at).strftime("%d/%m/%Y %H:%M"),
        },
        "",
        gettext("Justification :"),
        access.justification,
        "",
        gettext("Cet accès figure dans votre journal (flux « accès d'urgence ») et dans la liste des alertes."),
    ]
    return subject, "\n".join(lines)


def alert_owner(access_id: uuid.UUID) -> bool:
    """Email the owner's administrators about one break-glass access; True when an email left.

    Runs after the access is committed (`transaction.on_commit`); `owner_alerted_at` is set only
    once the email was handed to the mail backend.
    """
    access = BreakGlassAccess.objects.select_related("owner", "user", "organisation").filter(pk=access_id).first()
    if access is None:
        return False
    recipients = owner_alert_recipients(access.owner_id)
    if not recipients:
        logger.warning("break-glass %s: no administrator with an email to alert for %s", access.pk, access.owner_id)
        return False
    with translation.override(settings.LANGUAGE_CODE):
        subject, body = _alert_text(access)
    send_mail(subject, body, None, recipients, fail_silently=False)
    BreakGlassAccess.objects.filter(pk=access.pk).update(owner_alerted_at=timezone.now())
    return True
