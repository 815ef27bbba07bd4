"""Data-sharing agreements of structures (issue 5, item 4): signed, revocable, enforced.

A structure shares a dataset (a record type) beyond its node only under an `Agreement` in force:
dataset × grantee (the federation, a named partner, the ministry) × purposes × period, signed by
one of its administrators. "No shared dataset leaves the node without one in force", failing
closed, in two places:

* the change feed (`feed_filter`): a reader with a token receives the upserts of an
  (owner, dataset) pair only under an agreement in force whose grantee matches it, besides the
  data of the owners it acts for; tombstones go to every reader that ever had an agreement for
  the pair (it may hold the record);
* the decision point (`policies.pdp`): a subject coming from another node (a peer client) is
  denied ``no_agreement`` unless an agreement in force covers the owner's dataset.

Who matches which grantee (`Reader`): every node reading with a token is a member of the
federation (grantee ``federation``); a node listed in `POLICY_MINISTRY_NODES` (or this node's
ministry role) is the ministry (``ministry``); the client's owner organisation is the named
partner (``partner``). An agreement naming a `grantee_node` binds only that node.

Policies (record type ``policy``) travel with the data they govern: a reader receives an
owner's policies while it has an agreement in force for any of that owner's datasets.
Contacts never leave the node: no agreement can cover them.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _
from rest_framework.exceptions import PermissionDenied, ValidationError

from dataspace.audit.services import Actor, journal
from dataspace.consent.models import Agreement, Notice

Grantee = Agreement.Grantee
SIGNATURE_TYPE = "agreement+jws"
SIGNATURE_ALGORITHM = "Ed25519"
#: Record types that follow any agreement of their owner instead of one of their own.
FOLLOWS_OWNER = frozenset({"policy"})
#: Datasets no agreement may cover (issue 5: contacts are never shared beyond the node).
NEVER_SHARED = frozenset({"contact", "policy"})


# ---------------------------------------------------------------------------- days


def _day(day: dt.date | None = None, now: dt.datetime | None = None) -> dt.date:
    if day is not None:
        return day
    from policies.pdp import node_day

    return node_day(now or timezone.now())


def in_force_q(day: dt.date) -> Q:
    """Agreements in force on `day` (active, started, not ended)."""
    return (
        Q(status=Agreement.Status.ACTIVE)
        & Q(valid_from__lte=day)
        & (Q(valid_until__isnull=True) | Q(valid_until__gte=day))
    )


# ---------------------------------------------------------------------------- who reads


@dataclass(frozen=True)
class Reader:
    """A party outside the node that data would leave to: a client and the node it speaks for."""

    client_id: str
    node: str
    organisation_id: uuid.UUID | None
    acts_for: frozenset[uuid.UUID] = frozenset()

    @functools.cached_property
    def is_ministry(self) -> bool:
        """A node named by POLICY_MINISTRY_NODES, or a member that the federation's verified member
        list gives the `ministry` role (looked up once per reader: agreement checks ask often)."""
        from federation.models import Peer
        from policies.templates import ministry_nodes

        if not self.node:
            return False
        if self.node in ministry_nodes():
            return True
        roles = Peer.objects.filter(base_url=self.node).values_list("roles", flat=True).first()
        return "ministry" in (roles or ())

    def grantee_q(self) -> Q:
        """Agreements whose grantee is this reader."""
        grantees = Q(grantee=Grantee.FEDERATION)
        if self.is_ministry:
            grantees |= Q(grantee=Grantee.MINISTRY)
        if self.organisation_id is not None:
            grantees |= Q(grantee=Grantee.PARTNER, grantee_organisation_id=self.organisation_id)
        nodes = Q(grantee_node="")
        if self.node:
            nodes |= Q(grantee_node=self.node)
        return grantees & nodes


def reader_for_client(client: Any, *, acts_for: Iterable[uuid.UUID] = ()) -> Reader:
    from federation.outbox import node_from_jwks_uri

    return Reader(
        client_id=str(client.client_id),
        node=node_from_jwks_uri(str(getattr(client, "jwks_uri", "") or "")),
        organisation_id=client.owner_id,
        acts_for=frozenset(acts_for) | ({client.owner_id} if client.owner_id else frozenset()),
    )


def peer_reader(subject: Any) -> Reader | None:
    """The `Reader` of a subject coming from another node, else None.

    A peer is a client registered with the keys of another node (`jwks_uri`: a `private_key_jwt`
    peer); `policies.enforcement.build_subject` gives it that node as `Subject.node`. A subject of
    this node costs no query.
    """
    own = str(settings.NODE_BASE_URL).rstrip("/")
    if getattr(subject, "kind", "") != "client" or not subject.node or subject.node.rstrip("/") == own:
        return None
    from dataspace.oauth.models import Client

    client = Client.objects.filter(client_id=subject.client_id).exclude(jwks_uri="").first()
    if client is None:
        return None
    return reader_for_client(client, acts_for=subject.acts_for)


# ---------------------------------------------------------------------------- what is covered


def _with_purpose(agreements: Iterable[Agreement], purpose: str) -> list[Agreement]:
    return [a for a in agreements if not purpose or purpose in (a.purposes or [])]


def agreement_in_force(
    owner_id: Any,
    target_type: str,
    *,
    grantee: str,
    organisation_id: Any = None,
    node: str = "",
    purpose: str = "",
    day: dt.date | None = None,
) -> Agreement | None:
    """The agreement (latest signed first) of `owner_id` for `target_type` in force on `day`
    for that grantee (a partner: `organisation_id`; `node`: the grantee's node, matching an
    agreement naming no node or that one) and `purpose` (""): any. None when none is."""
    if target_type in NEVER_SHARED:
        return None
    query = Agreement.objects.filter(in_force_q(_day(day)), owner_id=owner_id, target_type=target_type, grantee=grantee)
    if grantee == Grantee.PARTNER:
        if organisation_id is None:
            return None
        query = query.filter(grantee_organisation_id=organisation_id)
    node_match = Q(grantee_node="")
    if node:
        node_match |= Q(grantee_node=node.rstrip("/"))
    found = _with_purpose(query.filter(node_match).order_by("-signed_at"), purpose)
    return found[0] if found else None


def covered_owner_ids(reader: Reader, record_type: str, *, day: dt.date | None = None, purpose: str = "") -> set[Any]:
    """Owners whose `record_type` dataset `reader` may receive on `day` (one query)."""
    query = Agreement.objects.filter(in_force_q(_day(day)), reader.grantee_q())
    if record_type in FOLLOWS_OWNER:
        query = query.exclude(target_type__in=NEVER_SHARED)
    elif record_type in NEVER_SHARED:
        return set()
    else:
        query = query.filter(target_type=record_type)
    return {a.owner_id for a in _with_purpose(query.only("owner_id", "purposes"), purpose)}


def covers(reader: Reader, owner_id: Any, record_type: str, *, day: dt.date | None = None, purpose: str = "") -> bool:
    if owner_id is None:
        return False
    return owner_id in covered_owner_ids(reader, record_type, day=day, purpose=purpose)


@dataclass(frozen=True)
class FeedFilter:
    """What one reader may receive from the change feed on one day."""

    acts_for: frozenset[Any]
    #: (owner, dataset) pairs under an agreement in force; owners with any (for policies).
    in_force: frozenset[tuple[Any, str]]
    owners_in_force: frozenset[Any]
    #: (owner, dataset) pairs under an agreement ever signed for the reader (tombstones).
    ever: frozenset[tuple[Any, str]]
    owners_ever: frozenset[Any]

    def allows(self, owner_id: Any, record_type: str, op: str) -> bool:
        if owner_id is None:
            return False
        if owner_id in self.acts_for:
            return True
        if op == "delete":
            if record_type in FOLLOWS_OWNER:
                return owner_id in self.owners_ever
            return (owner_id, record_type) in self.ever
        if record_type in FOLLOWS_OWNER:
            return owner_id in self.owners_in_force
        return (owner_id, record_type) in self.in_force


def feed_filter(reader: Reader, *, day: dt.date | None = None) -> FeedFilter:
    """The reader's view of the change feed (one query)."""
    today = _day(day)
    rows = list(
        Agreement.objects.filter(reader.grantee_q())
        .exclude(target_type__in=NEVER_SHARED)
        .values_list("owner_id", "target_type", "status", "valid_from", "valid_until")
    )
    ever = {(owner, target) for owner, target, *_rest in rows}
    in_force = {
        (owner, target)
        for owner, target, status, start, end in rows
        if status == Agreement.Status.ACTIVE and start <= today and (end is None or end >= today)
    }
    return FeedFilter(
        acts_for=reader.acts_for,
        in_force=frozenset(in_force),
        owners_in_force=frozenset(owner for owner, _t in in_force),
        ever=frozenset(ever),
        owners_ever=frozenset(owner for owner, _t in ever),
    )


# ---------------------------------------------------------------------------- signing


def may_sign(user: Any, owner_id: Any) -> bool:
    """An administrator of the owner (StaffMembership role administrator), or a superuser."""
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    if user.is_superuser:
        return True
    from dataspace.node.models import StaffMembership

    return StaffMembership.objects.filter(
        user=user, organisation_id=owner_id, role=StaffMembership.Role.ADMINISTRATOR
    ).exists()


def administered_owner_ids(user: Any) -> QuerySet[Any]:
    from dataspace.node.models import StaffMembership

    return StaffMembership.objects.filter(user=user, role=StaffMembership.Role.ADMINISTRATOR).values("organisation_id")


def shareable_datasets() -> list[str]:
    """Record types an agreement may cover."""
    from dataspace.records.services import record_models

    return sorted(set(record_models()) - NEVER_SHARED)


def terms(agreement: Agreement) -> dict[str, Any]:
    """What the signature covers: the terms, the signer and when."""
    return {
        "iss": str(settings.NODE_BASE_URL),
        "agreement": str(agreement.pk),
        "owner": str(agreement.owner_id),
        "dataset": agreement.target_type,
        "grantee": agreement.grantee,
        "grantee_organisation": str(agreement.grantee_organisation_id) if agreement.grantee_organisation_id else None,
        "grantee_node": agreement.grantee_node,
        "purposes": list(agreement.purposes),
        "valid_from": agreement.valid_from.isoformat(),
        "valid_until": agreement.valid_until.isoformat() if agreement.valid_until else None,
        "notice_sha256": agreement.notice.sha256 if agreement.notice is not None else None,
        "signed_by": {"id": agreement.signed_by_id, "username": agreement.signed_by.get_username()},
        "signed_at": agreement.signed_at.astimezone(dt.UTC).isoformat().replace("+00:00", "Z"),
    }


def _sign(payload: dict[str, Any]) -> str:
    from joserfc import jws
    from joserfc.jwk import OKPKey

    from dataspace.node.keys import signing_key

    node_key = signing_key()
    private = OKPKey.import_key(node_key.private_key, {"kid": node_key.kid})
    header = {"alg": SIGNATURE_ALGORITHM, "kid": node_key.kid, "typ": SIGNATURE_TYPE}
    body = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return jws.serialize_compact(header, body, private, algorithms=[SIGNATURE_ALGORITHM])


class InvalidAgreementSignature(Exception):
    """The stored signature does not verify, or no longer matches the agreement's terms."""


def verify_agreement(agreement: Agreement) -> dict[str, Any]:
    """The signed terms, if the signature verifies with the node's published keys and matches
    the agreement as stored; raises InvalidAgreementSignature otherwise."""
    from joserfc import jws
    from joserfc.errors import JoseError

    from dataspace.oauth.tokens import public_key_set

    try:
        decoded = jws.deserialize_compact(agreement.signature, public_key_set(), algorithms=[SIGNATURE_ALGORITHM])
        signed = json.loads(decoded.payload)
    except (JoseError, ValueError, TypeError) as exc:
        raise InvalidAgreementSignature(f"signature does not verify ({exc.__class__.__name__})") from None
    if decoded.headers().get("typ") != SIGNATURE_TYPE:
        raise InvalidAgreementSignature("not an agreement signature (typ)")
    stored = terms(agreement)
    # the signer's username is evidence of who signed then; an account renamed since still matches by id
    if isinstance(signed.get("signed_by"), dict):
        stored["signed_by"] = {**stored["signed_by"], "username": signed["signed_by"].get("username")}
    if signed != stored:
        raise InvalidAgreementSignature("the stored terms differ from the signed ones")
    return dict(signed)


def _actor(user: Any) -> Actor:
    return Actor(user_id=user.pk, username=user.get_username(), node=str(settings.NODE_BASE_URL))


def _check(
    *,
    owner: Any,
    target_type: str,
    grantee: str,
    grantee_organisation: Any,
    grantee_node: str,
    purposes: Sequence[str],
    valid_from: dt.date,
    valid_until: dt.date | None,
    notice: Notice | None,
) -> None:
    from policies.language import PURPOSES

    errors: dict[str, list[str]] = {}
    if target_type in NEVER_SHARED:
        errors["target_type"] = [_("Ce jeu de données ne quitte jamais le nœud : aucun accord ne peut le couvrir.")]
    elif target_type not in shareable_datasets():
        errors["target_type"] = [
            _("Jeu de données inconnu « %(value)s » ; jeux partageables : %(choices)s.")
            % {"value": target_type, "choices": ", ".join(shareable_datasets())}
        ]
    if grantee not in Grantee.values:
        errors["grantee"] = [
            _("Bénéficiaire inconnu « %(value)s » ; bénéficiaires possibles : %(choices)s.")
            % {"value": grantee, "choices": ", ".join(Grantee.values)}
        ]
    elif grantee == Grantee.PARTNER and grantee_organisation is None:
        errors["grantee_organisation"] = [_("Un accord avec un partenaire nomme ce partenaire.")]
    elif grantee == Grantee.PARTNER and grantee_organisation.pk == owner.pk:
        errors["grantee_organisation"] = [_("Une structure n'a pas besoin d'accord avec elle-même.")]
    elif grantee != Grantee.PARTNER and grantee_organisation is not None:
        errors["grantee_organisation"] = [_("Seul un accord avec un partenaire nomme une organisation.")]
    if grantee_node and not grantee_node.startswith(("https://", "http://")):
        errors["grantee_node"] = [_("L'adresse du nœud commence par https://.")]
    if not purposes:
        errors["purposes"] = [_("Indiquez au moins une finalité.")]
    else:
        unknown = sorted({p for p in purposes if p not in PURPOSES})
        if unknown:
            errors["purposes"] = [
                _("Finalité(s) inconnue(s) : %(values)s ; finalités possibles : %(choices)s.")
                % {"values": ", ".join(unknown), "choices": ", ".join(PURPOSES)}
            ]
    if valid_until is not None and valid_until < valid_from:
        errors["valid_until"] = [_("La fin de l'accord précède son début.")]
    if notice is not None and notice.controller_id != owner.pk:
        errors["notice"] = [_("La notice doit être publiée par la structure elle-même.")]
    if errors:
        raise ValidationError(errors)


def sign_agreement(
    *,
    owner: Any,
    target_type: str,
    grantee: str,
    grantee_organisation: Any = None,
    grantee_node: str = "",
    purposes: Sequence[str],
    valid_from: dt.date,
    valid_until: dt.date | None = None,
    notice: Notice | None = None,
    signed_by: Any,
    now: dt.datetime | None = None,
) -> Agreement:
    """Record and sign (node key, over the terms and the signer) an agreement of `owner`.

    Only an administrator of the owner (or a superuser) signs: PermissionDenied otherwise;
    ValidationError naming the field for terms that cannot be. Journaled (stream admin).
    """
    if not may_sign(signed_by, owner.pk):
        raise PermissionDenied(_("Seul·e un·e administrateur·rice de la structure signe ses accords de partage."))
    grantee_node = str(grantee_node or "").strip().rstrip("/")
    purposes = list(dict.fromkeys(purposes))
    _check(
        owner=owner,
        target_type=target_type,
        grantee=grantee,
        grantee_organisation=grantee_organisation,
        grantee_node=grantee_node,
        purposes=purposes,
        valid_from=valid_from,
        valid_until=valid_until,
        notice=notice,
    )
    moment = now or timezone.now()
    with transaction.atomic():
        agreement = Agreement(
            owner=owner,
            target_type=target_type,
            grantee=grantee,
            grantee_organisation=grantee_organisation,
            grantee_node=grantee_node,
            purposes=purposes,
            valid_from=valid_from,
            valid_until=valid_until,
            notice=notice,
            signed_by=signed_by,
            signed_at=moment.replace(microsecond=0),
        )
        agreement.signature = _sign(terms(agreement))
        agreement.save()
        journal(
            actor=_actor(signed_by),
            action="agreement.signed",
            decision="permit",
            record_type="agreement",
            record_ids=[agreement.pk],
            owner_id=owner.pk,
            stream="admin",
            details={k: v for k, v in terms(agreement).items() if k not in ("iss", "signed_by")},
            now=moment,
        )
    return agreement


def revoke_agreement(agreement: Agreement, *, by: Any, now: dt.datetime | None = None) -> Agreement:
    """End an agreement now (an administrator of its owner, or a superuser). Journaled; the
    replicas (registry, peers that read the feed, the grantee's node) get an
    ``agreement.revoked`` notice through the outbox, in the same transaction."""
    if not may_sign(by, agreement.owner_id):
        raise PermissionDenied(_("Seul·e un·e administrateur·rice de la structure révoque ses accords de partage."))
    moment = now or timezone.now()
    with transaction.atomic():
        locked = Agreement.objects.select_for_update().get(pk=agreement.pk)
        if locked.status == Agreement.Status.REVOKED:
            return locked
        locked.status = Agreement.Status.REVOKED
        locked.revoked_at = moment
        locked.revoked_by = by
        locked.save(update_fields=["status", "revoked_at", "revoked_by"])
        journal(
            actor=_actor(by),
            action="agreement.revoked",
            decision="permit",
            record_type="agreement",
            record_ids=[locked.pk],
            owner_id=locked.owner_id,
            stream="admin",
            details={"dataset": locked.target_type, "grantee": locked.grantee},
            now=moment,
        )
        from federation.outbox import enqueue, replica_holders

        enqueue(
            kind="agreement.revoked",
            payload={
                "agreement": str(locked.pk),
                "owner": str(locked.owner_id),
                "dataset": locked.target_type,
                "grantee": locked.grantee,
                "grantee_organisation": str(locked.grantee_organisation_id) if locked.grantee_organisation_id else None,
                "revoked_at": moment.astimezone(dt.UTC).isoformat().replace("+00:00", "Z"),
            },
            destinations=[*replica_holders(), *([locked.grantee_node] if locked.grantee_node else [])],
        )
    return locked
