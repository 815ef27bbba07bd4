"""Where the API meets the decision point: who asks, what they may get, and the obligations.

* `subject_for_request(request)` — the `Subject` of a request, built once and cached on it:
  anonymous; a person (session, personal API key, authorization code) with staff roles (acts for
  the organisations it holds a role on), superuser flag, professional profile and region; a
  machine client acting for its owner and the structures that gave it an active mandate.
* `request_context(request)` — the `Context`: the `purpose` query parameter (400 naming
  `purpose` outside the vocabulary) and the request's instant.
* `guard_list(request, queryset, action)` — the queryset narrowed by `pdp.filter_queryset`.
  The purpose rule is then judged on the records the answer carries (`fulfil_list`): an
  identified caller without a purpose gets a 400 naming `purpose` when one of them is another
  owner's non-public data — in Python, without a query.
* `fulfil_list(request, info, records)` / `guard_read(request, record)` — the obligations of what
  is returned: one journal entry per request and per owner (ids actually returned), daily
  counters, and the answer headers (`policy_headers`).
* Records of a person (a directory entry: `record.subject_person_id`) are journaled one entry per
  record with `subject_person_id`, so that the person's portal shows who read their data; a list
  writes them together (`_journal_per_person`).
* `permit_write(request, record)` — a write the owner rules refuse may still be permitted by an
  object grant (a co-producer hosting a performance) or an ODRL ``modify`` permission; journaled.

Answer headers carrying obligations:

* ``Attribution`` — per owner whose policy asks for it: the owner's name and the attribution text
  (a quoted string; an RFC 8187 ``UTF-8''…`` value when it is not ASCII), comma separated;
* ``Link: <policy URI>; rel="license"`` (RFC 8288) for every stored policy under which data is
  delivered (not the default one), appended to any paging link;
* ``Usage-Obligations: deleteAfter=P30D`` — the shortest ``deleteAfter`` duty of the data returned.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from django.conf import settings
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _
from rest_framework import exceptions
from rest_framework.exceptions import ValidationError

from dataspace.audit.services import Actor, journal
from policies import pdp
from policies.decision import Decision, Obligation
from policies.language import PURPOSES
from policies.subject import ANONYMOUS, Subject

_SUBJECT_ATTR = "_policies_subject"
_CONTEXT_ATTR = "_policies_context"
_INDEX_ATTR = "_policies_index"


class PolicyDenied(exceptions.PermissionDenied):
    """403 `{"error": <reason code>, "detail": <sentence>}` for a deny of the decision point."""

    def __init__(self, decision: Decision) -> None:
        super().__init__(decision.reason, code=decision.reason_code)
        self.decision = decision


# ---------------------------------------------------------------------------- who asks


def _django_request(request: Any) -> Any:
    return getattr(request, "_request", request)


def _mandated_structures(client: Any, now: dt.datetime) -> set[uuid.UUID]:
    from dataspace.oauth.models import Mandate

    active = Q(revoked_at__isnull=True) & (Q(expires_at__isnull=True) | Q(expires_at__gt=now))
    return set(Mandate.objects.filter(active, client=client).values_list("structure_id", flat=True))


def _region(organisation_id: uuid.UUID | None) -> str:
    if organisation_id is None:
        return ""
    from dataspace.referentials.models import Organisation

    return str(Organisation.objects.filter(pk=organisation_id).values_list("region", flat=True).first() or "")


#: Attribute of the Django request holding the verified `federation.attestation.Attestation`.
ON_BEHALF_OF_ATTR = "on_behalf_of"


def _attested_subject(request: Any, client: Any) -> Subject | None:
    """The professional a registry's signed request is made for (header `On-Behalf-Of`), or None.

    Only for a request whose RFC 9421 signature was verified as a member's with role registry
    (`request.signed_peer`) and whose bearer token belongs to that same node; an attestation that
    does not verify is a 403 `invalid_attestation` (never a silent fall back to the bare client).
    """
    from federation.attestation import HEADER, InvalidAttestation, as_subject, verify
    from federation.outbox import node_from_jwks_uri

    django_request = _django_request(request)
    peer = getattr(django_request, "signed_peer", None)
    header = django_request.headers.get(HEADER)
    if peer is None or not header or "registry" not in tuple(peer.roles):
        return None
    if not client.jwks_uri or node_from_jwks_uri(client.jwks_uri).rstrip("/") != peer.base_url.rstrip("/"):
        return None
    try:
        attested = verify(header, peer)
    except InvalidAttestation as exc:
        raise exceptions.PermissionDenied(exc.detail, code="invalid_attestation") from None
    setattr(django_request, ON_BEHALF_OF_ATTR, attested)
    return as_subject(attested, client_id=str(client.client_id))


def build_subject(request: Any) -> Subject:
    """The subject of a request (uncached; `subject_for_request` caches it).

    A registry's signed request carrying an `On-Behalf-Of` attestation is the professional it
    vouches for (`federation.attestation.as_subject`: kind person, node = the registry).
    """
    from dataspace.api.auth import machine_client, person
    from dataspace.api.permissions import staff_roles

    node = str(settings.NODE_BASE_URL)
    needs_region = "region" in request_index(request).operands
    client = machine_client(request)
    if client is not None:
        attested = _attested_subject(request, client)
        if attested is not None:
            return attested
        acts_for = {client.owner_id} if client.owner_id is not None else set()
        from dataspace.oauth.tokens import HAS_MANDATES_ATTR

        if getattr(client, HAS_MANDATES_ATTR, True):  # known from the token check: skip when it holds none
            acts_for |= _mandated_structures(client, timezone.now())
        owner_region = _region(client.owner_id) if needs_region else ""
        if client.jwks_uri:  # a peer node (private_key_jwt): it comes from the node publishing those keys
            from federation.outbox import node_from_jwks_uri

            node = node_from_jwks_uri(client.jwks_uri) or node
        return Subject(
            kind="client", client_id=str(client.client_id), acts_for=frozenset(acts_for), node=node, region=owner_region
        )
    user = person(request)
    if user is None:
        return ANONYMOUS
    from dataspace.directory.services import professional_profile

    roles = staff_roles(user)
    profile = professional_profile(user)
    subject = Subject(
        kind="person",
        user_id=user.pk,
        username=user.get_username(),
        acts_for=frozenset(roles),
        staff_roles=roles,
        is_superuser=bool(user.is_superuser),
        node=node,
        professional=profile,
    )
    if needs_region:
        subject = dataclasses.replace(subject, region=_region(subject.organisation_id))
    return subject


def request_index(request: Any) -> pdp.PolicyIndex:
    """The compiled policies this request decides with (one cache read per request)."""
    django_request = _django_request(request)
    cached = getattr(django_request, _INDEX_ATTR, None)
    if isinstance(cached, pdp.PolicyIndex):
        return cached
    index = pdp.policy_index()
    setattr(django_request, _INDEX_ATTR, index)
    return index


def subject_for_request(request: Any) -> Subject:
    """Who asks (built once per request, cached on it)."""
    django_request = _django_request(request)
    cached = getattr(django_request, _SUBJECT_ATTR, None)
    if isinstance(cached, Subject):
        return cached
    subject = build_subject(request)
    setattr(django_request, _SUBJECT_ATTR, subject)
    return subject


def actor_for(subject: Subject, *, day: dt.date | None = None) -> Actor:
    """The journal's view of a subject: person, organisation, licence, client, node."""
    profile = subject.professional
    licence = ""
    if profile is not None and profile.licences:
        today = day or pdp.node_day(timezone.now())
        in_force = subject.licences_in_force(today)
        licence = (in_force or profile.licences)[0].number
    return Actor(
        user_id=subject.user_id,
        username=subject.username,
        organisation_id=subject.organisation_id,
        organisation_name=profile.organisation_name if profile is not None else "",
        licence_number=licence,
        client_id=subject.client_id,
        node=subject.node or str(settings.NODE_BASE_URL),
    )


# ---------------------------------------------------------------------------- the request's context


def parse_purpose(raw: Any) -> str:
    """The declared purpose ("" when none); 400 naming `purpose` outside the vocabulary."""
    if raw is None or raw == "":
        return ""
    if raw not in PURPOSES:
        raise ValidationError(
            {
                "purpose": [
                    _("Finalité inconnue « %(purpose)s » ; finalités possibles : %(purposes)s.")
                    % {"purpose": raw, "purposes": ", ".join(PURPOSES)}
                ]
            }
        )
    return str(raw)


def request_context(request: Any) -> pdp.Context:
    """The request's context (purpose parameter, instant), built once per request."""
    django_request = _django_request(request)
    cached = getattr(django_request, _CONTEXT_ATTR, None)
    if isinstance(cached, pdp.Context):
        return cached
    params = getattr(request, "query_params", None) or django_request.GET
    context = pdp.Context(
        purpose=parse_purpose(params.get("purpose")), now=timezone.now(), index=request_index(request)
    )
    setattr(django_request, _CONTEXT_ATTR, context)
    return context


def _purpose_missing() -> ValidationError:
    return ValidationError(
        {
            "purpose": [
                _(
                    "Indiquez la finalité de votre demande (paramètre purpose : %(purposes)s) pour lire les données "
                    "d'une autre structure."
                )
                % {"purpose": "", "purposes": ", ".join(PURPOSES)}
            ]
        }
    )


# ---------------------------------------------------------------------------- obligations


@dataclass
class Obligations:
    """What the answer must carry for the data it returns (built per request)."""

    attributions: dict[str, str] = field(default_factory=dict)  # owner name → text
    licences: list[str] = field(default_factory=list)  # policy URIs (rel="license")
    delete_after: dt.timedelta | None = None

    def add(self, obligations: Iterable[Obligation], owner_name: str, policy_uid: str | None) -> None:
        from policies.services import is_default_policy_uid

        # Every stored policy under which data is delivered is linked, so the recipient knows its terms.
        if policy_uid and policy_uid not in self.licences and not is_default_policy_uid(policy_uid):
            self.licences.append(policy_uid)
        for obligation in obligations:
            if obligation.action == "attribute":
                text = str(obligation.value or "").strip()
                current = self.attributions.get(owner_name, "")
                self.attributions[owner_name] = current or text
            elif (
                obligation.action == "deleteAfter"
                and isinstance(obligation.value, dt.timedelta)
                and (self.delete_after is None or obligation.value < self.delete_after)
            ):
                self.delete_after = obligation.value

    def headers(self) -> dict[str, str]:
        headers: dict[str, str] = {}
        if self.attributions:
            items = [f"{name} — {text}" if text else name for name, text in self.attributions.items() if name]
            headers["Attribution"] = ", ".join(_header_value(item) for item in items)
        if self.licences:
            headers["Link"] = ", ".join(f'<{uri}>; rel="license"' for uri in self.licences)
        if self.delete_after is not None:
            from policies.odrl import format_duration

            headers["Usage-Obligations"] = f"deleteAfter={format_duration(self.delete_after)}"
        return headers


def _header_value(text: str) -> str:
    """A quoted string when ASCII, else an RFC 8187 ext-value (`UTF-8''…`)."""
    if text.isascii() and text.isprintable():
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return "UTF-8''" + quote(text, safe="")


def merge_headers(response: Any, headers: dict[str, str]) -> None:
    """Set the obligation headers on a response; a `Link` is appended to any existing one."""
    for name, value in headers.items():
        if name == "Link" and response.has_header("Link"):
            response["Link"] = f"{response['Link']}, {value}"
        else:
            response[name] = value


def owner_name(record: Any) -> str:
    owner = getattr(record, "owner", None)
    if owner is None and getattr(record, "record_type", "") == "organisation":
        owner = record
    return str(getattr(owner, "name", "") or "")


def _journal(
    subject: Subject,
    *,
    action: str,
    decision: Decision,
    purpose: str,
    record_type: str,
    record_ids: Sequence[uuid.UUID],
    owner_id: uuid.UUID | None,
    stream: str = "access",
    subject_person_id: uuid.UUID | None = None,
) -> None:
    journal(
        actor=actor_for(subject),
        action=action,
        decision=decision.effect,
        reason_code=decision.reason_code,
        reason=decision.reason,
        purpose=purpose,
        record_type=record_type,
        record_ids=list(record_ids),
        owner_id=owner_id,
        stream=stream,
        details={"policy": decision.policy_uid} if decision.policy_uid else None,
        subject_person_id=subject_person_id,
    )


def _journal_per_person(
    subject: Subject,
    *,
    action: str,
    decision: Decision,
    purpose: str,
    record_type: str,
    records: Sequence[tuple[uuid.UUID, uuid.UUID, uuid.UUID | None]],
) -> None:
    """One journal entry per record of a person — `records` are (record id, person id, owner id) —
    with `subject_person_id` = the record's person and `owner_id` = its owner, so that
    each person's portal lists the reads of their data; written together in one transaction
    (`journal_many`: lock, head, one bulk INSERT): the cost of a list stays flat in its page size.
    The entries are exactly those `journal()` would write one by one (same fields, same hash chain)."""
    from dataspace.audit.services import journal_entry, journal_many

    if not records or not getattr(settings, "JOURNAL_ENABLED", True):
        return
    actor = actor_for(subject)
    moment = timezone.now()
    details = {"policy": decision.policy_uid} if decision.policy_uid else None
    journal_many(
        [
            journal_entry(
                actor=actor,
                action=action,
                decision=decision.effect,
                reason_code=decision.reason_code,
                reason=decision.reason,
                purpose=purpose,
                record_type=record_type,
                record_ids=[record_id],
                owner_id=owner_id,
                subject_person_id=person_id,
                details=details,
                now=moment,
            )
            for record_id, person_id, owner_id in records
        ]
    )


def _journal_stream(obligations: Iterable[Obligation]) -> str | None:
    for obligation in obligations:
        if obligation.action == "journal":
            return "break_glass" if obligation.value == "break_glass" else "access"
    return None


# ---------------------------------------------------------------------------- lists


def guard_list(request: Any, queryset: QuerySet[Any], action: str = "read") -> tuple[QuerySet[Any], pdp.PermitInfo]:
    """The records of `queryset` the caller may `action`; 400 naming `purpose` when one is needed."""
    subject = subject_for_request(request)
    context = request_context(request)
    refused = pdp.terms_decision(subject)
    if refused is not None:
        raise PolicyDenied(refused)
    return pdp.filter_queryset(subject, action, queryset, context)


def fulfil_list(info: pdp.PermitInfo, records: Iterable[Any]) -> dict[str, str]:
    """Carry out the obligations of the records actually returned; the answer headers to add.

    One journal entry per owner whose grant asks for it, listing the ids returned; daily counters
    taken once per rule. An identified caller without a purpose gets a 400 naming `purpose` when
    one of these records is another owner's non-public data: the purpose rule is judged on what
    the answer would actually carry (no query of its own).
    """
    by_owner: dict[uuid.UUID | None, list[tuple[Any, pdp.Grant]]] = defaultdict(list)
    owner_grants: dict[uuid.UUID | None, pdp.Grant | None] = {}
    for record in records:
        owner_id = pdp.owner_of(record)
        if record.pk in info.records:
            grant = info.grant_for(record.pk, owner_id)
        else:  # without an override, the grant is the owner's: computed once per owner
            if owner_id not in owner_grants:
                owner_grants[owner_id] = info.grant_for(record.pk, owner_id)
            grant = owner_grants[owner_id]
        if grant is None:
            continue
        if info.purpose_pending and grant is not pdp.OWNER_GRANT and not grant.public:
            raise _purpose_missing()
        by_owner[owner_id].append((record, grant))
    pdp.take_counts(info, {owner: [record.pk for record, _g in items] for owner, items in by_owner.items()})
    obligations = Obligations()
    personal: list[tuple[uuid.UUID, uuid.UUID, uuid.UUID | None]] = []
    personal_decision: Decision | None = None
    for owner_id, items in by_owner.items():
        journaled: list[uuid.UUID] = []
        journal_decision: Decision | None = None
        seen: set[int] = set()
        for record, grant in items:
            decision = grant.decision
            if id(grant) not in seen:
                seen.add(id(grant))
                obligations.add(decision.obligations, owner_name(record), decision.policy_uid)
            if _journal_stream(decision.obligations):
                journaled.append(record.pk)
                journal_decision = journal_decision or decision
        persons: dict[uuid.UUID, Any] = {record.pk: getattr(record, "subject_person_id", None) for record, _g in items}
        if journaled and journal_decision is not None and not info.context.dry_run and all(persons.values()):
            # personal data: one entry per person (for their portal), all written together below
            personal_decision = personal_decision or journal_decision
            personal += [(record_id, persons[record_id], owner_id) for record_id in journaled]
        elif journaled and journal_decision is not None and not info.context.dry_run:
            _journal(
                info.subject,
                action=info.action,
                decision=journal_decision,
                purpose=info.context.purpose,
                record_type=info.record_type,
                record_ids=journaled,
                owner_id=owner_id,
            )
    if personal and personal_decision is not None:
        _journal_per_person(
            info.subject,
            action=info.action,
            decision=personal_decision,
            purpose=info.context.purpose,
            record_type=info.record_type,
            records=personal,
        )
    return obligations.headers()


@dataclass(frozen=True)
class _ExportRow:
    """What the obligations of an export need of each record: id, owner and owner's name."""

    pk: uuid.UUID
    owner_id: uuid.UUID | None
    owner_label: str

    @property
    def owner(self) -> Any:
        return _Named(self.owner_label)


@dataclass(frozen=True)
class _Named:
    name: str


def export_rows(queryset: QuerySet[Any]) -> list[Any]:
    """The (id, owner, owner name) of every record of an export, in one query."""
    if getattr(queryset.model, "record_type", "") == "organisation":
        rows = queryset.values_list("pk", "owner_id", "owner__name", "name")
        return [_ExportRow(pk, owner or pk, owner_label or own_name) for pk, owner, owner_label, own_name in rows]
    return [
        _ExportRow(pk, owner, label or "") for pk, owner, label in queryset.values_list("pk", "owner_id", "owner__name")
    ]


# ---------------------------------------------------------------------------- one record


def guard_read(request: Any, record: Any, action: str = "read") -> tuple[Decision, dict[str, str]]:
    """Decide a read of one record; raise the API's answer for a deny; carry out the obligations.

    hidden → 404 (as a missing record); purpose needed → 400 naming `purpose`; any other deny → 403
    `{"error": reason code, "detail": sentence}` (a block is the generic « Accès refusé. »).
    Denied reads of another owner's data by an identified caller are journaled for the owner.
    """
    subject = subject_for_request(request)
    context = request_context(request)
    decision = pdp.decide(subject, action, record, context)
    owner_id = pdp.owner_of(record)
    record_type = str(type(record).record_type)
    if not decision.permitted:
        if decision.reason_code == "purpose_required":
            raise _purpose_missing()
        if subject.kind != "anonymous":
            _journal(
                subject,
                action=action,
                decision=decision,
                purpose=context.purpose,
                record_type=record_type,
                record_ids=[record.pk],
                owner_id=owner_id,
                subject_person_id=getattr(record, "subject_person_id", None),
            )
        if decision.reason_code == "hidden":
            raise exceptions.NotFound()
        raise PolicyDenied(decision)
    stream = _journal_stream(decision.obligations)
    if stream is not None:
        _journal(
            subject,
            action=action,
            decision=decision,
            purpose=context.purpose,
            record_type=record_type,
            record_ids=[record.pk],
            owner_id=owner_id,
            stream=stream,
            subject_person_id=getattr(record, "subject_person_id", None),
        )
    obligations = Obligations()
    obligations.add(decision.obligations, owner_name(record), decision.policy_uid)
    return decision, obligations.headers()


# ---------------------------------------------------------------------------- writes


def permit_write(request: Any, record: Any, scope: str = "referentials:write") -> Decision | None:
    """A non-owner write let through by an object grant or an ODRL ``modify`` permission, journaled.

    None when neither applies (the caller keeps its 403). Owners never reach here: their writes are
    checked by `dataspace.api.permissions.ensure_may_write_owner` as before.
    """
    subject = subject_for_request(request)
    decision = pdp.decide(subject, "modify", record, request_context(request))
    if decision.reason_code == "object_grant":
        from dataspace.referentials.models import Performance
        from dataspace.referentials.permissions import may_edit_hosted

        # The request-level check of the grant (token scope on the mandate, write roles).
        if not (isinstance(record, Performance) and may_edit_hosted(request, record, scope)):
            return None
    elif decision.reason_code != "policy_permits":
        return None
    _journal(
        subject,
        action="modify",
        decision=decision,
        purpose=request_context(request).purpose,
        record_type=str(type(record).record_type),
        record_ids=[record.pk],
        owner_id=pdp.owner_of(record),
    )
    return decision
