"""Federation membership: who is in the federation, and which keys this node trusts (DESIGN.md §6.1,
docs/federation.md « Membership »).

Registry side (a node with the role ``registry``)
    * A node asks to join with ``POST /api/v1/federation/members`` (`receive_join`): its
      `/.well-known/dataspace-node` document, its JWKS, the operating organisation and a technical
      contact, signed (RFC 9421) with one of the keys it sends (proof of possession). A new node
      becomes a pending `Member`; the operator decides (`approve`, `suspend`, `refuse`: admin
      actions, `federation_approve`). An approved member re-posting the same document signed with
      a key the registry already has **announces** its keys (rotation with overlap: it sends old and
      new keys). A known node signing with a key the registry does not have is refused (409).
    * The member list (`current_list`) is a compact JWS (``alg: Ed25519``, ``kid``,
      ``typ: member-list+jws``) over ``{"registry", "serial", "issued_at", "expires_at",
      "members": [{"base_url", "name", "roles", "jwks"}]}``: approved members and the registry
      itself. A new list (higher serial) is signed whenever its content changes and when half of
      its lifetime (`FEDERATION_MEMBER_LIST_TTL`) has passed. It is signed with the registry's
      **oldest** published key, so that after the registry rotates its key, nodes that pinned the
      old key verify the list that introduces the new one (see `list_signing_key`).
    * Every decision is journaled (stream ``admin``); the registry's own `Peer` rows and the OAuth
      clients of members are rebuilt at once.

Every node
    * `join` (``federation_join``) pins the registry's keys (fetched once, printed for an
      out-of-band check) and posts the signed join; `announce_keys` (``federation_announce_keys``)
      re-posts the JWKS after a key rotation, signed with the previous key.
    * `refresh_members` (Celery beat, ``federation_refresh``) fetches the list, verifies it with the
      pinned registry keys, refuses a lower serial, an expired list, a list naming another registry,
      replaces the `Peer` rows, re-pins the registry's keys from its own entry (only through a list
      verified with a key already pinned), keeps the OAuth clients of peers in step (client id = the
      peer's base URL, `private_key_jwt`, scopes by role) and never raises on network errors.

Trust rule
    `trusted_key(kid)` answers for this node's own keys and for the keys of the `Peer` rows, i.e.
    of the members named by the last verified list — nothing else. When that list has expired (the
    node could not refresh it within its lifetime), peers are no longer trusted at all (fail
    closed) until a fresh list verifies. `peer_key_set` gives `dataspace.oauth.peers` the same
    answer for `private_key_jwt` when `FEDERATION_TRUST_MEMBERS_ONLY` is on.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import logging
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.db.models import Count, Max
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _
from joserfc.jwk import KeySet, OKPKey

from dataspace.audit.services import Actor, journal
from dataspace.node import keys as node_keys
from dataspace.oauth.peers import allowed_url
from federation import notices
from federation.models import Member, MembershipState, Peer
from federation.signing import KeyEntry, SignatureRefused, SignedPeer, own_keys, verify_request

logger = logging.getLogger("federation.membership")

MEMBERS_PATH = "/api/v1/federation/members"
NODE_METADATA_PATH = "/.well-known/dataspace-node"
JWKS_PATH = "/.well-known/jwks.json"
LIST_TYPE = "member-list+jws"
#: Outbox notice the registry sends its members when the list's members or keys changed.
MEMBERS_CHANGED = "members.changed"
ALGORITHM = "Ed25519"  # RFC 9864 fully-specified name, as for tokens and receipts
#: Largest join body, member list and key set accepted (bytes).
MAX_BODY = 64 * 1024
MAX_LIST_BYTES = 2 * 1024 * 1024
#: Keys one node may publish at once (rotation overlap needs two or three).
MAX_KEYS = 10
FETCH_TIMEOUT = 5.0
#: A join or announcement may make the registry notify every member before it answers (Celery
#: eager, without Redis): its answer may take longer than a plain fetch.
JOIN_TIMEOUT = 30.0
#: A node's base URL is the client_id of its OAuth client here (`Client.client_id`: 100 characters).
MAX_BASE_URL = 100
ROLES = ("structure", "registry", "ministry")
#: Roles a member may hold in the list: "registry" belongs to the node that signs the list only.
MEMBER_ROLES = ("structure", "ministry")
#: Scopes of the OAuth client a peer gets on this node, by the peer's roles (union over its roles).
SCOPES_BY_ROLE: dict[str, tuple[str, ...]] = {
    "registry": ("federation:sync", "referentials:read", "directory:search"),
    "ministry": ("indicators:aggregate",),
    "structure": ("federation:sync",),
}
#: Marks the OAuth clients this module manages (first line of their description).
CLIENT_MARKER = "[fédération] Client d'un nœud membre, géré par la liste signée des membres."
#: Appended to the description of a client this module disabled (it re-enables only those).
CLIENT_DISABLED_NOTE = "[fédération] Désactivé : le nœud n'est plus dans la liste des membres."

Status = Member.Status


# ---------------------------------------------------------------------------- errors


class MembershipError(Exception):
    """A refused membership operation: HTTP status, error code, French detail, fields."""

    def __init__(self, status: int, code: str, detail: str, fields: Mapping[str, Any] | None = None) -> None:
        super().__init__(f"{code}: {detail}")
        self.status = status
        self.code = code
        self.detail = detail
        self.fields = dict(fields or {})

    def as_json(self) -> dict[str, Any]:
        return {"error": self.code, "detail": self.detail, "fields": self.fields}


class ListRefused(Exception):
    """A member list that does not verify; `code` says why (journaled, kept in `last_error`)."""

    CODES = ("unknown_key", "bad_signature", "malformed", "wrong_registry", "stale", "expired", "not_yet_valid")

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail


class RegistryUnreachable(Exception):
    """The registry could not be reached or answered something unusable (network, HTTP status, JSON)."""


# ---------------------------------------------------------------------------- identities


def normalise(url: str) -> str:
    """A node's base URL without trailing slash ("" for nothing)."""
    return str(url or "").strip().rstrip("/")


def own_base_url() -> str:
    return normalise(settings.NODE_BASE_URL)


def is_registry() -> bool:
    return "registry" in settings.NODE_ROLES


def registry_url() -> str:
    """The registry this node belongs to: the one it joined (`MembershipState.registry_url`), else
    `FEDERATION_REGISTRY_URL`; on the registry itself, its own base URL. "" when none is known."""
    stored = MembershipState.objects.filter(pk=1).values_list("registry_url", flat=True).first()
    if stored:
        return normalise(stored)
    configured = normalise(getattr(settings, "FEDERATION_REGISTRY_URL", ""))
    if configured:
        return configured
    return own_base_url() if is_registry() else ""


def jwks_uri_of(base_url: str) -> str:
    return f"{normalise(base_url)}{JWKS_PATH}"


def check_base_url(value: Any) -> str:
    """A node base URL fit for the federation, normalised; raises ValueError with a French reason.

    https anywhere; plain http only to a loopback address and only when this node itself runs on
    one (`OAUTH_ALLOW_INSECURE_LOOPBACK`, the demo and tests)."""
    text = normalise(value if isinstance(value, str) else "")
    if not text:
        raise ValueError(_("L'adresse de base du nœud manque."))
    parts = urlsplit(text)
    if parts.query or parts.fragment or parts.username or parts.password:
        raise ValueError(_("L'adresse de base ne doit contenir ni paramètres, ni fragment, ni identifiants."))
    if len(text) > MAX_BASE_URL:
        raise ValueError(_("L'adresse de base dépasse %(max)d caractères.") % {"max": MAX_BASE_URL})
    if not allowed_url(text):
        raise ValueError(
            _("L'adresse de base doit être en https (http n'est admis que vers 127.0.0.1 pour une démonstration).")
        )
    return text


# ---------------------------------------------------------------------------- keys


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def public_key_of(jwk: Any) -> tuple[str, Ed25519PublicKey]:
    """(kid, key) of one public Ed25519 JWK; raises ValueError (French) for anything else.

    The kid must be the key's RFC 7638 thumbprint (when given), as every node publishes it; a JWK
    carrying private material (`d`) is refused outright."""
    if not isinstance(jwk, Mapping):
        raise ValueError(_("Une clé doit être un objet JWK."))
    if "d" in jwk:
        raise ValueError(_("Une clé privée a été envoyée : seules les clés publiques doivent l'être."))
    if jwk.get("kty") != "OKP" or jwk.get("crv") != "Ed25519":
        raise ValueError(_("Seules les clés Ed25519 (kty OKP, crv Ed25519) sont acceptées."))
    raw_x = jwk.get("x")
    if not isinstance(raw_x, str):
        raise ValueError(_("La clé n'a pas de valeur x."))
    try:
        key = Ed25519PublicKey.from_public_bytes(_b64url_decode(raw_x))
    except (ValueError, binascii.Error, TypeError):
        raise ValueError(_("La valeur x de la clé n'est pas une clé publique Ed25519.")) from None
    kid = node_keys.thumbprint(key)
    if jwk.get("kid") not in (None, kid):
        raise ValueError(_("Le kid d'une clé doit être son empreinte RFC 7638 (%(kid)s).") % {"kid": kid})
    return kid, key


def parse_jwks(jwks: Any) -> dict[str, Ed25519PublicKey]:
    """kid → public key of a JWKS document ``{"keys": [...]}`` (order kept); ValueError if unusable."""
    if not isinstance(jwks, Mapping) or not isinstance(jwks.get("keys"), list):
        raise ValueError(_('Le jeu de clés doit être un objet {"keys": [...]}.'))
    items = jwks["keys"]
    if not items:
        raise ValueError(_("Le jeu de clés est vide."))
    if len(items) > MAX_KEYS:
        raise ValueError(_("Au plus %(max)d clés sont acceptées.") % {"max": MAX_KEYS})
    found: dict[str, Ed25519PublicKey] = {}
    for item in items:
        kid, key = public_key_of(item)
        found[kid] = key
    return found


def public_jwk(kid: str, key: Ed25519PublicKey) -> dict[str, Any]:
    """The canonical public JWK (the form `NodeKey.public_jwk` publishes)."""
    from cryptography.hazmat.primitives import serialization

    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return {"kty": "OKP", "crv": "Ed25519", "x": node_keys.b64url(raw), "kid": kid, "alg": ALGORITHM, "use": "sig"}


def canonical_jwks(keys: Mapping[str, Ed25519PublicKey]) -> dict[str, Any]:
    return {"keys": [public_jwk(kid, key) for kid, key in keys.items()]}


def kids_of(jwks: Any) -> list[str]:
    """The key ids of a stored (already validated) JWKS."""
    items = jwks.get("keys", []) if isinstance(jwks, Mapping) else []
    return [str(item["kid"]) for item in items if isinstance(item, Mapping) and item.get("kid")]


def own_jwks() -> dict[str, Any]:
    return {"keys": [key.public_jwk() for key in node_keys.load_keys()]}


# ---------------------------------------------------------------------------- trust


@dataclass(frozen=True)
class _TrustMap:
    stamp: tuple[Any, ...]
    #: Keys of the members of the last verified list (gated by its expiry).
    by_kid: dict[str, KeyEntry]
    by_base: dict[str, dict[str, Ed25519PublicKey]]
    expires_at: dt.datetime | None
    #: The registry's pinned keys (the root of trust: they sign the list; not gated by its expiry).
    registry: str = ""
    pinned: dict[str, KeyEntry] = field(default_factory=dict)


_trust: _TrustMap | None = None
_trust_lock = threading.Lock()


def forget_trusted_keys() -> None:
    """Drop this process's cache of trusted keys (rebuilt on next use)."""
    global _trust
    with _trust_lock:
        _trust = None


def _stamp() -> tuple[tuple[Any, ...], tuple[Any, ...] | None]:
    """(what changes whenever the trust changes, the MembershipState row it was read from).

    Every write of a `Peer` row sets its `updated_at`; the pinned registry keys and the held list's
    expiry live in `MembershipState`. Two small queries: this runs on every signed request."""
    row = Peer.objects.aggregate(last=Max("updated_at"), count=Count("pk"))
    state = MembershipState.objects.filter(pk=1).values_list("registry_url", "registry_jwks", "expires_at").first()
    pinned = json.dumps(state[1], sort_keys=True) if state is not None else ""
    return (row["last"], row["count"], state[0] if state else "", pinned, state[2] if state else None), state


def _trust_map() -> _TrustMap:
    global _trust
    stamp, state = _stamp()
    current = _trust
    if current is not None and current.stamp == stamp:
        return current
    by_kid: dict[str, KeyEntry] = {}
    by_base: dict[str, dict[str, Ed25519PublicKey]] = {}
    own = own_base_url()
    names: dict[str, tuple[str, tuple[str, ...]]] = {}
    for peer in Peer.objects.all():
        base = normalise(peer.base_url)
        if base == own:
            continue
        try:
            keys = parse_jwks(peer.jwks)
        except ValueError:
            logger.warning("membership: unusable keys for peer %s ignored", base)
            continue
        roles = tuple(str(role) for role in peer.roles or [])
        names[base] = (peer.name, roles)
        by_base[base] = keys
        for kid, key in keys.items():
            by_kid[kid] = (SignedPeer(base_url=base, name=peer.name, roles=roles, kid=kid), key)
    registry, pinned = "", {}
    if state is not None and not is_registry():
        registry = normalise(state[0])
        try:
            pinned_keys = parse_jwks(state[1])
        except ValueError:
            pinned_keys = {}
        name, roles = names.get(registry, (registry, ("registry",)))
        pinned = {
            kid: (SignedPeer(base_url=registry, name=name, roles=roles, kid=kid), key)
            for kid, key in pinned_keys.items()
        }
    built = _TrustMap(
        stamp=stamp,
        by_kid=by_kid,
        by_base=by_base,
        expires_at=state[2] if state is not None else None,
        registry=registry,
        pinned=pinned,
    )
    with _trust_lock:
        _trust = built
    return built


def _peers_trusted(trust: _TrustMap, now: dt.datetime | None = None) -> bool:
    """False once the member list this node holds has expired (fail closed). The registry's peers
    are its own decisions: they do not expire."""
    if is_registry() or trust.expires_at is None:
        return True
    return trust.expires_at > (now or timezone.now())


def trusted_key(kid: str) -> KeyEntry | None:
    """(signer, public key) for a key id this node trusts: one of its own keys, a registry key it
    pinned (the keys that sign the member list), or a key of a member named by the last verified
    member list while that list has not expired; None otherwise."""
    own = own_keys().get(kid)
    if own is not None:
        return own
    trust = _trust_map()
    pinned = trust.pinned.get(kid)
    if pinned is not None:
        return pinned
    entry = trust.by_kid.get(kid)
    if entry is None or not _peers_trusted(trust):
        return None
    return entry


def trusted_peers(role: str | None = None) -> list[Peer]:
    """The members this node trusts (never itself), optionally only those holding `role`;
    none once the member list has expired."""
    trust = _trust_map()
    if not _peers_trusted(trust):
        return []
    own = own_base_url()
    peers = [peer for peer in Peer.objects.order_by("base_url") if normalise(peer.base_url) != own]
    if role is not None:
        peers = [peer for peer in peers if role in (peer.roles or [])]
    return peers


def peer_key_set(jwks_uri: str) -> KeySet | None:
    """The joserfc KeySet of the trusted member publishing its keys at `jwks_uri`
    (``{base_url}/.well-known/jwks.json``), from the member list (and, for the registry, its pinned
    keys) — no HTTP; None for a non-member."""
    uri = str(jwks_uri or "").strip()
    if not uri.endswith(JWKS_PATH):
        return None
    base = normalise(uri[: -len(JWKS_PATH)])
    trust = _trust_map()
    keys = dict(trust.by_base.get(base, {})) if _peers_trusted(trust) else {}
    if base and base == trust.registry:
        keys.update({kid: key for kid, (_peer, key) in trust.pinned.items()})
    if not keys:
        return None
    return KeySet([OKPKey.import_key(public_jwk(kid, key)) for kid, key in keys.items()])


# ---------------------------------------------------------------------------- journal


def _operator(user: Any) -> Actor:
    if user is None or getattr(user, "pk", None) is None:
        return Actor(node=own_base_url(), extra={"via": "command"})
    return Actor(user_id=user.pk, username=user.get_username(), node=own_base_url())


def _journal(
    action: str,
    *,
    actor: Actor,
    decision: str = "permit",
    member: Member | None = None,
    reason_code: str = "",
    reason: str = "",
    details: dict[str, Any] | None = None,
    stream: str = "admin",
) -> None:
    journal(
        actor=actor,
        action=action,
        decision=decision,
        reason_code=reason_code,
        reason=reason,
        record_type="federation_member" if member is not None else "",
        record_ids=[member.pk] if member is not None else [],
        stream=stream,
        details=details or {},
    )


# ---------------------------------------------------------------------------- registry: the signed list


def list_signing_key() -> node_keys.NodeKey:
    """The key that signs the member list: the registry's **oldest** published key.

    After `node_init --rotate` the new key signs tokens and requests at once, but nodes pinned the
    old one: the lists go on being signed with the old key while they introduce the new one in the
    registry's own entry, so every node re-pins the new key through a list it can verify. Once the
    operator removes the old key file, lists are signed with the new key (docs/operations.md)."""
    loaded = node_keys.load_keys()
    if not loaded:
        raise node_keys.KeyFileError(f"no key pair in {node_keys.key_dir()}; run: python manage.py node_init")
    return loaded[-1]


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _parse_iso(value: Any) -> dt.datetime:
    if not isinstance(value, str):
        raise ValueError("not a date-time")
    parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    if timezone.is_naive(parsed):
        raise ValueError("date-time without offset")
    return parsed


def own_entry() -> dict[str, Any]:
    """The registry's own entry in the list (its keys are how nodes re-pin them)."""
    return {
        "base_url": own_base_url(),
        "name": str(settings.NODE_NAME),
        "roles": [str(role) for role in settings.NODE_ROLES],
        "jwks": own_jwks(),
    }


def member_entry(member: Member) -> dict[str, Any]:
    return {
        "base_url": normalise(member.base_url),
        "name": member.name,
        "roles": [str(role) for role in member.roles or []],
        "jwks": {"keys": list((member.jwks or {}).get("keys", []))},
    }


def list_entries() -> list[dict[str, Any]]:
    """The registry itself, then every approved member (by base URL)."""
    own = own_base_url()
    approved = Member.objects.filter(status=Status.APPROVED).order_by("base_url")
    return [own_entry(), *(member_entry(m) for m in approved if normalise(m.base_url) != own)]


def sign_member_list(payload: Mapping[str, Any], key: node_keys.NodeKey) -> str:
    """A compact JWS of `payload` (UTF-8 JSON) with `key` (header alg, kid, typ member-list+jws)."""
    from joserfc import jws

    body = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    private = OKPKey.import_key(key.private_key, {"kid": key.kid})
    header = {"alg": ALGORITHM, "kid": key.kid, "typ": LIST_TYPE}
    return str(jws.serialize_compact(header, body, private, algorithms=[ALGORITHM]))


def _unverified(compact: str) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """(header, payload) of a JWS this node stored itself, without verifying (it signed it)."""
    try:
        header_part, payload_part, _signature = compact.split(".")
        header = json.loads(_b64url_decode(header_part))
        payload = json.loads(_b64url_decode(payload_part))
    except (ValueError, binascii.Error):
        return None
    if not isinstance(header, dict) or not isinstance(payload, dict):
        return None
    return header, payload


def _registry_state() -> MembershipState:
    state, _created = MembershipState.objects.get_or_create(pk=1, defaults={"registry_url": own_base_url()})
    return state


def current_list(*, now: dt.datetime | None = None) -> tuple[str, dict[str, Any]]:
    """(compact JWS, payload) of the registry's member list, signing a new one (serial bumped) when
    the members or keys changed, the signing key changed, or half of its lifetime has passed.

    The serial never goes down: it is the larger of the last serial + 1 and the current Unix time,
    so a registry restored from an older backup still issues serials above what nodes hold."""
    if not is_registry():
        raise MembershipError(404, "not_a_registry", _("Ce nœud n'est pas le registre de la fédération."))
    moment = now or timezone.now()
    entries = list_entries()
    key = list_signing_key()
    ttl = dt.timedelta(seconds=int(settings.FEDERATION_MEMBER_LIST_TTL))
    with transaction.atomic():
        state = _registry_state()
        state = MembershipState.objects.select_for_update().get(pk=state.pk)
        stored = _unverified(state.signed_list) if state.signed_list else None
        if stored is not None and state.issued_at is not None:
            header, payload = stored
            fresh = moment < state.issued_at + ttl / 2
            if (
                fresh
                and header.get("kid") == key.kid
                and payload.get("members") == entries
                and payload.get("registry") == own_base_url()
            ):
                return state.signed_list, payload
        serial = max(int(state.serial) + 1, int(moment.timestamp()))
        issued = moment.replace(microsecond=0)
        payload = {
            "registry": own_base_url(),
            "serial": serial,
            "issued_at": _iso(issued),
            "expires_at": _iso(issued + ttl),
            "members": entries,
        }
        compact = sign_member_list(payload, key)
        state.registry_url = own_base_url()
        state.registry_jwks = own_jwks()
        state.serial = serial
        state.issued_at = issued
        state.expires_at = issued + ttl
        state.signed_list = compact
        state.refreshed_at = moment
        state.last_error = ""
        state.own_status = Status.APPROVED
        state.save()
    logger.info("membership: member list %d signed (%d entries)", serial, len(entries))
    return compact, payload


# ---------------------------------------------------------------------------- registry: joins


@dataclass(frozen=True)
class JoinRequest:
    """A validated join (or key announcement) body."""

    base_url: str
    name: str
    roles: list[str]
    metadata: dict[str, Any]
    keys: dict[str, Ed25519PublicKey]
    organisation_name: str
    contact_email: str

    @property
    def jwks(self) -> dict[str, Any]:
        return canonical_jwks(self.keys)


def parse_join(body: bytes) -> JoinRequest:
    """The join body's fields, checked; raises MembershipError 400 naming the field(s)."""
    if len(body) > MAX_BODY:
        raise MembershipError(400, "invalid", _("Le corps de la requête est trop volumineux."), {"body": ["too_large"]})
    try:
        document = json.loads(body or b"null")
    except ValueError:
        raise MembershipError(
            400, "invalid", _("Le corps de la requête n'est pas du JSON."), {"body": ["json"]}
        ) from None
    if not isinstance(document, dict):
        raise MembershipError(
            400, "invalid", _("Le corps de la requête doit être un objet JSON."), {"body": ["object"]}
        )
    errors: dict[str, list[str]] = {}
    metadata = document.get("metadata")
    base_url, name, roles = "", "", []
    if not isinstance(metadata, dict):
        errors["metadata"] = [_("Le document /.well-known/dataspace-node du nœud est requis (objet).")]
    else:
        try:
            base_url = check_base_url(metadata.get("base_url"))
        except ValueError as exc:
            errors["metadata.base_url"] = [str(exc)]
        raw_name = metadata.get("name")
        if not isinstance(raw_name, str) or not raw_name.strip() or len(raw_name.strip()) > 100:
            errors["metadata.name"] = [_("Le nom du nœud est requis (100 caractères au plus).")]
        else:
            name = raw_name.strip()
        raw_roles = metadata.get("roles")
        if (
            not isinstance(raw_roles, list)
            or not raw_roles
            or not all(isinstance(role, str) and role in ROLES for role in raw_roles)
        ):
            errors["metadata.roles"] = [
                _("Les rôles doivent être pris parmi : %(roles)s.") % {"roles": ", ".join(ROLES)}
            ]
        else:
            roles = [role for role in ROLES if role in raw_roles]
        jwks_uri = metadata.get("jwks_uri")
        if base_url and jwks_uri is not None and normalise(str(jwks_uri)) != jwks_uri_of(base_url):
            errors["metadata.jwks_uri"] = [
                _("Les clés du nœud doivent être publiées à %(uri)s.") % {"uri": jwks_uri_of(base_url)}
            ]
    keys: dict[str, Ed25519PublicKey] = {}
    try:
        keys = parse_jwks(document.get("jwks"))
    except ValueError as exc:
        errors["jwks"] = [str(exc)]
    organisation_name = document.get("organisation_name", "")
    if not isinstance(organisation_name, str) or len(organisation_name.strip()) > 200:
        errors["organisation_name"] = [_("Le nom de la structure exploitante (200 caractères au plus).")]
        organisation_name = ""
    contact_email = document.get("contact_email", "")
    if not isinstance(contact_email, str):
        contact_email = None
    elif contact_email.strip():
        try:
            validate_email(contact_email.strip())
        except ValidationError:
            contact_email = None
    if contact_email is None:
        errors["contact_email"] = [_("L'adresse du contact technique n'est pas une adresse électronique valide.")]
        contact_email = ""
    if errors:
        raise MembershipError(400, "invalid", _("La demande d'adhésion est incomplète ou invalide."), errors)
    return JoinRequest(
        base_url=base_url,
        name=name,
        roles=roles,
        metadata=dict(metadata) if isinstance(metadata, dict) else {},
        keys=keys,
        organisation_name=str(organisation_name).strip(),
        contact_email=str(contact_email).strip(),
    )


def _remote(join: JoinRequest, kid: str) -> Actor:
    return Actor(node=join.base_url, organisation_name=join.organisation_name[:200], extra={"keyid": kid})


def receive_join(request: HttpRequest, *, now: dt.datetime | None = None) -> tuple[int, dict[str, Any]]:
    """Handle ``POST /api/v1/federation/members`` on the registry: (HTTP status, JSON body).

    Proof of possession: the request must be signed (RFC 9421) with one of the keys in the body's
    JWKS. When the signature middleware already verified it against a trusted member's key
    (`request.signed_peer`), that signer must be the node the body describes and its key must be
    in the body. Raises MembershipError (400, 401, 403, 404, 409), journaled."""
    if not is_registry():
        raise MembershipError(404, "not_a_registry", _("Ce nœud n'est pas le registre de la fédération."))
    join = parse_join(bytes(request.body))
    if join.base_url == own_base_url():
        raise MembershipError(
            400,
            "invalid",
            _("Le registre ne peut pas adhérer à lui-même."),
            {"metadata.base_url": [_("C'est l'adresse du registre.")]},
        )
    signer: SignedPeer | None = getattr(request, "signed_peer", None)
    if signer is None:
        entries = {
            kid: (SignedPeer(base_url=join.base_url, name=join.name, roles=tuple(join.roles), kid=kid), key)
            for kid, key in join.keys.items()
        }
        try:
            signer = verify_request(request, keys=entries)
        except SignatureRefused as exc:
            _journal(
                "federation.member.join_refused",
                actor=_remote(join, exc.keyid),
                decision="deny",
                reason_code=exc.code,
                reason=exc.detail,
                details={"base_url": join.base_url},
                stream="access",
            )
            raise MembershipError(401, "invalid_signature", exc.detail, {"signature": [exc.code]}) from None
    elif normalise(signer.base_url) != join.base_url or signer.kid not in join.keys:
        _journal(
            "federation.member.join_refused",
            actor=_remote(join, signer.kid),
            decision="deny",
            reason_code="wrong_signer",
            details={"base_url": join.base_url, "signed_by": signer.base_url},
            stream="access",
        )
        raise MembershipError(
            403,
            "wrong_signer",
            _("La requête doit être signée par une clé du nœud qui demande l'adhésion, présente dans son jeu de clés."),
            {"signature": ["wrong_signer"]},
        )
    return decide_join(join, kid=signer.kid, now=now)


class _UnknownKey(Exception):
    def __init__(self, member: Member, known: list[str]) -> None:
        super().__init__(member.base_url)
        self.member = member
        self.known = known


def decide_join(join: JoinRequest, *, kid: str, now: dt.datetime | None = None) -> tuple[int, dict[str, Any]]:
    """The registry's answer to a join whose signature (by `kid`, one of `join.keys`) verified."""
    try:
        return _decide_join(join, kid=kid, now=now)
    except _UnknownKey as exc:  # journaled after the rollback of the refused request's transaction
        _journal(
            "federation.member.unknown_key",
            actor=_remote(join, kid),
            decision="deny",
            member=exc.member,
            reason_code="unknown_key",
            details={"base_url": exc.member.base_url, "status": exc.member.status, "known_kids": exc.known},
        )
        raise MembershipError(
            409,
            "unknown_key",
            _(
                "Ce nœud est déjà connu du registre avec d'autres clés : la demande doit être signée avec une "
                "clé déjà enregistrée. Si ces clés sont perdues, l'opérateur du registre doit refuser "
                "l'adhésion existante, puis approuver la nouvelle demande."
            ),
            {"signature": ["unknown_key"]},
        ) from None


def _decide_join(join: JoinRequest, *, kid: str, now: dt.datetime | None) -> tuple[int, dict[str, Any]]:
    moment = now or timezone.now()
    actor = _remote(join, kid)
    with transaction.atomic():
        member = Member.objects.select_for_update().filter(base_url=join.base_url).first()
        if member is None or member.status == Status.REFUSED:
            again = member is not None
            member = member or Member(base_url=join.base_url)
            _take_request(member, join, moment)
            member.status = Status.PENDING
            member.requested_at = moment
            member.decided_at = None
            member.decided_by = None
            member.roles = [role for role in join.roles if role in MEMBER_ROLES]
            member.save()
            _journal(
                "federation.member.join_requested",
                actor=actor,
                member=member,
                details={"base_url": member.base_url, "roles": join.roles, "kids": list(join.keys), "again": again},
            )
            return 202, _answer(member, _("Demande d'adhésion enregistrée : l'opérateur du registre doit l'approuver."))
        known = kids_of(member.jwks)
        if kid not in known:
            raise _UnknownKey(member, known)
        keys_changed = sorted(kids_of(member.jwks)) != sorted(join.keys)
        _take_request(member, join, moment if keys_changed else None)
        member.save()
        if member.status == Status.PENDING:
            _journal(
                "federation.member.join_renewed",
                actor=actor,
                member=member,
                details={"base_url": member.base_url, "kids": list(join.keys)},
            )
            return 202, _answer(member, _("Demande d'adhésion déjà enregistrée, en attente d'approbation."))
        if keys_changed:
            _journal(
                "federation.member.keys_announced",
                actor=actor,
                member=member,
                details={"base_url": member.base_url, "previous_kids": known, "kids": list(join.keys)},
            )
        if member.status == Status.APPROVED:
            summary = rebuild_registry(now=moment) if keys_changed else {}
            body = _answer(member, _("Membre de la fédération : clés à jour."))
            if summary.get("serial"):
                body["serial"] = summary["serial"]
            return 200, body
        return 200, _answer(member, _("L'adhésion de ce nœud est suspendue par l'opérateur du registre."))


def _take_request(member: Member, join: JoinRequest, keys_updated_at: dt.datetime | None) -> None:
    """Copy what the node sent onto its Member (roles stay the operator's decision once approved)."""
    member.name = join.name
    member.metadata = join.metadata
    member.jwks = join.jwks
    if join.organisation_name:
        member.organisation_name = join.organisation_name
    if join.contact_email:
        member.contact_email = join.contact_email
    if keys_updated_at is not None:
        member.keys_updated_at = keys_updated_at


def _answer(member: Member, detail: str) -> dict[str, Any]:
    return {
        "status": member.status,
        "detail": detail,
        "base_url": member.base_url,
        "registry": own_base_url(),
        "roles": list(member.roles or []),
        "kids": kids_of(member.jwks),
    }


# ---------------------------------------------------------------------------- registry: decisions


def requested_roles(member: Member) -> list[str]:
    """The roles the node asked for in its last document, as a member may hold them."""
    raw = (member.metadata or {}).get("roles")
    wanted = raw if isinstance(raw, list) else list(member.roles or [])
    return [role for role in MEMBER_ROLES if role in wanted]


def _decide(member: Member, status: str, action: str, *, by: Any, now: dt.datetime | None) -> Member:
    if not is_registry():
        raise MembershipError(404, "not_a_registry", _("Ce nœud n'est pas le registre de la fédération."))
    moment = now or timezone.now()
    with transaction.atomic():
        locked = Member.objects.select_for_update().get(pk=member.pk)
        previous = locked.status
        if status == Status.APPROVED:
            roles = requested_roles(locked)
            if not roles:
                raise MembershipError(
                    400,
                    "invalid",
                    _("Ce nœud ne demande aucun rôle qu'un membre puisse tenir (structure, ministère)."),
                    {"roles": ["empty"]},
                )
            try:
                parse_jwks(locked.jwks)
            except ValueError as exc:
                raise MembershipError(400, "invalid", str(exc), {"jwks": ["invalid"]}) from None
            locked.roles = roles
        locked.status = status
        locked.decided_at = moment
        locked.decided_by = by if getattr(by, "pk", None) is not None else None
        locked.save(update_fields=["status", "decided_at", "decided_by", "roles"])
        _journal(
            action,
            actor=_operator(by),
            member=locked,
            details={"base_url": locked.base_url, "from": previous, "to": status, "roles": list(locked.roles)},
        )
        rebuild_registry(now=moment)
    return locked


def approve(member: Member, *, by: Any = None, now: dt.datetime | None = None) -> Member:
    """Make the node a member (with the roles it asked for, "registry" excepted): it enters the
    signed list, gets its `Peer` row and its OAuth client here at once. Journaled."""
    return _decide(member, Status.APPROVED, "federation.member.approved", by=by, now=now)


def suspend(member: Member, *, by: Any = None, now: dt.datetime | None = None) -> Member:
    """Take the node out of the list (its Peer row goes, its OAuth client here is disabled and its
    tokens revoked) until it is approved again. Journaled."""
    return _decide(member, Status.SUSPENDED, "federation.member.suspended", by=by, now=now)


def refuse(member: Member, *, by: Any = None, now: dt.datetime | None = None) -> Member:
    """Refuse a request (or end a membership). The node may ask again later, with any key. Journaled."""
    return _decide(member, Status.REFUSED, "federation.member.refused", by=by, now=now)


def rebuild_registry(*, now: dt.datetime | None = None) -> dict[str, Any]:
    """(registry) Peers from the approved members, OAuth clients in step, the list re-signed if it
    changed — and, when its members or keys changed, a ``members.changed`` notice to every member
    (outbox, same transaction) so that they refresh at once rather than at their next beat."""
    entries = [member_entry(m) for m in Member.objects.filter(status=Status.APPROVED).order_by("base_url")]
    with transaction.atomic():
        before = _stored_members()
        replaced = replace_peers(entries, serial=0)
        _compact, payload = current_list(now=now)
        Peer.objects.update(list_serial=payload["serial"])
        clients = ensure_peer_clients()
        notified = notify_members(payload) if before != payload["members"] else 0
    forget_trusted_keys()
    return {
        "status": "ok",
        "role": "registry",
        "serial": payload["serial"],
        "peers": replaced,
        "clients": clients,
        "notified": notified,
    }


def _stored_members() -> Any:
    state = MembershipState.objects.filter(pk=1).first()
    stored = _unverified(state.signed_list) if state is not None and state.signed_list else None
    return stored[1].get("members") if stored is not None else None


def notify_members(payload: Mapping[str, Any]) -> int:
    """(registry) Enqueue a ``members.changed`` notice (the new serial) to every approved or
    suspended member; returns how many destinations."""
    from federation.outbox import enqueue

    own = own_base_url()
    destinations = [
        base
        for base in Member.objects.filter(status__in=(Status.APPROVED, Status.SUSPENDED)).values_list(
            "base_url", flat=True
        )
        if normalise(base) != own
    ]
    enqueue(
        kind=MEMBERS_CHANGED,
        payload={"registry": own, "serial": int(payload["serial"])},
        destinations=destinations,
    )
    return len(destinations)


@notices.handler(MEMBERS_CHANGED)
def on_members_changed(notice: dict[str, Any], sender: SignedPeer) -> str:
    """A ``members.changed`` notice from this node's registry: refresh the list once the notice is
    recorded (Celery; eager without Redis). From anyone else: ignored."""
    if is_registry() or normalise(sender.base_url) != registry_url():
        return "ignored: not from this node's registry"
    transaction.on_commit(_schedule_refresh)
    return "refresh scheduled"


def _schedule_refresh() -> None:
    from federation.tasks import refresh_members as refresh_task

    try:
        refresh_task.delay()
    except Exception:  # broker down: the beat refreshes the list later anyway
        logger.warning("membership: cannot schedule a refresh of the member list", exc_info=True)


# ---------------------------------------------------------------------------- peers and their clients


def replace_peers(entries: Sequence[Mapping[str, Any]], *, serial: int) -> dict[str, Any]:
    """Make the `Peer` rows exactly the listed members (this node excepted); entries with unusable
    keys or no known role are skipped (and reported). Every row written gets a new `updated_at`."""
    own = own_base_url()
    now = timezone.now()
    kept: list[str] = []
    skipped: list[str] = []
    for entry in entries:
        try:
            base = check_base_url(entry.get("base_url"))
            keys = parse_jwks(entry.get("jwks"))
        except ValueError:
            skipped.append(str(entry.get("base_url", ""))[:MAX_BASE_URL])
            continue
        if base == own or base in kept:
            continue
        roles = [role for role in ROLES if role in (entry.get("roles") or [])]
        if not roles:
            skipped.append(base)
            continue
        name = str(entry.get("name") or base)[:100]
        Peer.objects.update_or_create(
            base_url=base,
            defaults={
                "name": name,
                "roles": roles,
                "jwks": canonical_jwks(keys),
                "kids": list(keys),
                "list_serial": serial,
                "updated_at": now,
            },
        )
        kept.append(base)
    removed, _detail = Peer.objects.exclude(base_url__in=kept).delete()
    return {"count": len(kept), "removed": removed, "skipped": skipped}


def scopes_for(roles: Iterable[str]) -> list[str]:
    """The scopes of a peer's OAuth client here: the union over its roles (SCOPES_BY_ROLE)."""
    wanted: list[str] = []
    for role in ROLES:
        if role in roles:
            wanted += [scope for scope in SCOPES_BY_ROLE[role] if scope not in wanted]
    return wanted


def _peer_organisation(peer: Peer) -> Any:
    """The organisation standing for a peer's operator as owner of its OAuth client here.

    Never this node's own organisation: a client acts for its owner, and a peer acting as this
    node's structure would receive its data without any data-sharing agreement. The stand-in is
    described by this node's organisation (so it owns nothing, not even itself, and adds no
    dataset to the catalog) and marked with the peer's metadata URI in `same_as`. It is bookkeeping,
    not shared data: created without entering the change feed (bulk_create skips `Record.save`),
    so nodes do not publish an organisation per peer to the whole federation."""
    from dataspace.oauth.clients import node_organisation
    from dataspace.referentials.models import Organisation

    marker = f"{normalise(peer.base_url)}{NODE_METADATA_PATH}"
    found = Organisation.objects.filter(website=peer.base_url, same_as=[marker]).first()
    if found is not None:
        return found
    stand_in = Organisation(
        name=(_("Exploitant du nœud %(name)s") % {"name": peer.name})[:200],
        kind=Organisation.Kind.OTHER,
        website=peer.base_url,
        same_as=[marker],
        owner=node_organisation(),
    )
    Organisation.objects.bulk_create([stand_in])
    return stand_in


def ensure_peer_clients() -> dict[str, int]:
    """OAuth clients of the trusted peers in step with the member list: created (client id = the
    peer's base URL, `private_key_jwt` with its jwks_uri, reader, scopes by roles), updated when
    roles, name or keys' address changed, re-enabled if this module had disabled them, disabled
    (tokens revoked) when the peer left the list. Clients an operator disabled stay disabled."""
    from dataspace.oauth import clients as oauth_clients
    from dataspace.oauth.models import Client

    counts = {"created": 0, "updated": 0, "enabled": 0, "disabled": 0}
    own = own_base_url()
    peers = {normalise(peer.base_url): peer for peer in Peer.objects.all() if normalise(peer.base_url) != own}
    existing = {client.client_id: client for client in Client.objects.filter(client_id__in=list(peers))}
    for base, peer in peers.items():
        scopes = scopes_for(peer.roles or [])
        name = (_("Nœud membre %(name)s") % {"name": peer.name})[:200]
        client = existing.get(base)
        if client is None:
            issued = oauth_clients.create_client(
                name=name,
                owner=_peer_organisation(peer),
                scopes=scopes,
                grant_types=["client_credentials"],
                kind=Client.Kind.READER,
                auth_method=Client.AuthMethod.PRIVATE_KEY_JWT,
                jwks_uri=jwks_uri_of(base),
                description=f"{CLIENT_MARKER}\n{base}",
            )
            # The client id of a node is its base URL (its private_key_jwt assertions say iss = sub = it).
            Client.objects.filter(pk=issued.client.pk).update(client_id=base)
            counts["created"] += 1
            continue
        changes: dict[str, Any] = {}
        if list(client.allowed_scopes) != scopes:
            changes["allowed_scopes"] = scopes
        if client.jwks_uri != jwks_uri_of(base):
            changes["jwks_uri"] = jwks_uri_of(base)
        if client.name != name:
            changes["name"] = name
        if not client.description.startswith(CLIENT_MARKER):  # registered by hand before it joined: adopted
            changes["description"] = f"{CLIENT_MARKER}\n{client.description}".strip()
        if changes:
            client = oauth_clients.update_client(client, **changes)
            counts["updated"] += 1
        if not client.is_active and CLIENT_DISABLED_NOTE in client.description:
            Client.objects.filter(pk=client.pk).update(
                is_active=True, description=client.description.replace(f"\n{CLIENT_DISABLED_NOTE}", "")
            )
            counts["enabled"] += 1
    managed = Client.objects.filter(description__startswith=CLIENT_MARKER, is_active=True).exclude(
        client_id__in=list(peers)
    )
    for client in managed:
        oauth_clients.disable_client(client)
        Client.objects.filter(pk=client.pk).update(description=f"{client.description}\n{CLIENT_DISABLED_NOTE}")
        counts["disabled"] += 1
    return counts


# ---------------------------------------------------------------------------- every node: the list


def _get_json(url: str, *, limit: int = MAX_BODY) -> Any:
    """GET a public JSON document of the registry (no redirects, size-capped, FETCH_TIMEOUT)."""
    if not allowed_url(url):
        raise RegistryUnreachable(f"refusing {url}: https only (plain http to loopback only on a loopback node)")
    try:
        response = httpx.get(url, timeout=FETCH_TIMEOUT, follow_redirects=False, headers={"Accept": "application/json"})
    except httpx.HTTPError as exc:
        raise RegistryUnreachable(f"{url}: {exc.__class__.__name__}: {exc}") from None
    if response.status_code != 200:
        raise RegistryUnreachable(f"{url}: HTTP {response.status_code}")
    if len(response.content) > limit:
        raise RegistryUnreachable(f"{url}: answer too large")
    try:
        return response.json()
    except ValueError:
        raise RegistryUnreachable(f"{url}: not JSON") from None


def verify_member_list(
    compact: str,
    *,
    registry: str,
    pinned: Mapping[str, Any],
    min_serial: int = 0,
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    """The payload of a member list if `compact` verifies with one of the `pinned` registry keys
    (JWKS), names `registry`, has a serial ≥ `min_serial`, is already issued and not expired.
    Raises ListRefused (code: unknown_key, bad_signature, malformed, wrong_registry, stale,
    not_yet_valid, expired)."""
    from joserfc import jws
    from joserfc.errors import InvalidKeyIdError, JoseError

    moment = now or timezone.now()
    try:
        pinned_keys = parse_jwks(pinned)
    except ValueError:
        raise ListRefused("unknown_key", "no pinned registry key: run federation_join") from None
    key_set = KeySet([OKPKey.import_key(public_jwk(kid, key)) for kid, key in pinned_keys.items()])
    if not isinstance(compact, str) or compact.count(".") != 2:
        raise ListRefused("malformed", "not a compact JWS")
    header = (_unverified(compact) or ({}, {}))[0]
    if not header.get("kid"):
        raise ListRefused("malformed", "the list's header names no key (kid)")
    if header.get("kid") not in pinned_keys:
        raise ListRefused("unknown_key", f"signed with key {header.get('kid')!r}, not a pinned registry key")
    try:
        decoded = jws.deserialize_compact(compact, key_set, algorithms=[ALGORITHM])
    except InvalidKeyIdError:
        raise ListRefused("unknown_key", "signed with a key that is not pinned") from None
    except (JoseError, ValueError, TypeError) as exc:
        raise ListRefused("bad_signature", f"the signature does not verify ({exc.__class__.__name__})") from None
    if decoded.headers().get("typ") != LIST_TYPE:
        raise ListRefused("malformed", f"not a member list (typ {decoded.headers().get('typ')!r})")
    try:
        payload = json.loads(decoded.payload)
        if not isinstance(payload, dict):
            raise ValueError("not an object")
        serial = payload["serial"]
        issued_at = _parse_iso(payload["issued_at"])
        expires_at = _parse_iso(payload["expires_at"])
        members = payload["members"]
        if type(serial) is not int or serial < 0 or not isinstance(members, list):
            raise ValueError("serial or members")
        if not all(isinstance(entry, dict) for entry in members):
            raise ValueError("members")
    except (ValueError, KeyError, TypeError) as exc:
        raise ListRefused("malformed", f"unreadable payload ({exc})") from None
    if normalise(str(payload.get("registry", ""))) != normalise(registry):
        raise ListRefused("wrong_registry", f"list of {payload.get('registry')!r}, not of {registry}")
    if serial < min_serial:
        raise ListRefused("stale", f"serial {serial} is lower than the list already held ({min_serial})")
    skew = dt.timedelta(seconds=int(getattr(settings, "FEDERATION_CLOCK_SKEW", 30)))
    if issued_at > moment + skew:
        raise ListRefused("not_yet_valid", f"issued in the future ({payload['issued_at']})")
    if expires_at <= moment:
        raise ListRefused("expired", f"expired at {payload['expires_at']}")
    return payload


def _node_state() -> MembershipState | None:
    return MembershipState.objects.filter(pk=1).first()


def _record_error(state: MembershipState, message: str, moment: dt.datetime) -> None:
    MembershipState.objects.filter(pk=state.pk).update(last_error=message[:2000])
    logger.warning("membership: refresh from %s failed: %s", state.registry_url, message)


def refresh_members(*, now: dt.datetime | None = None) -> dict[str, Any]:
    """Bring this node's view of the federation up to date (beat task, `federation_refresh`).

    On the registry: Peers and clients from the approved members, list re-signed if needed. On any
    other node: fetch, verify and apply the registry's list (module docstring). Never raises for a
    network failure or a refused list: the outcome is returned and kept in `last_error`."""
    moment = now or timezone.now()
    if is_registry():
        return rebuild_registry(now=moment)
    url = registry_url()
    if not url:
        return {"status": "not_configured", "detail": "no registry: run federation_join REGISTRY_URL"}
    state = _node_state()
    if state is None or not kids_of(state.registry_jwks):
        return {"status": "not_joined", "registry": url, "detail": "no pinned registry key: run federation_join"}
    try:
        document = _get_json(f"{normalise(state.registry_url)}{MEMBERS_PATH}", limit=MAX_LIST_BYTES)
        compact = document.get("jws") if isinstance(document, dict) else None
        payload = verify_member_list(
            str(compact or ""),
            registry=state.registry_url,
            pinned=state.registry_jwks,
            min_serial=state.serial,
            now=moment,
        )
    except RegistryUnreachable as exc:
        _record_error(state, str(exc), moment)
        return {"status": "error", "registry": state.registry_url, "detail": str(exc)}
    except ListRefused as exc:
        _record_error(state, f"list refused ({exc.code}): {exc.detail}", moment)
        _journal(
            "federation.member_list.refused",
            actor=Actor(node=normalise(state.registry_url)),
            decision="deny",
            reason_code=exc.code,
            reason=exc.detail,
            details={"registry": state.registry_url, "held_serial": state.serial},
        )
        return {"status": "refused", "registry": state.registry_url, "code": exc.code, "detail": exc.detail}
    if payload["serial"] == state.serial and state.signed_list:
        MembershipState.objects.filter(pk=state.pk).update(refreshed_at=moment, last_error="")
        clients = ensure_peer_clients()
        return {
            "status": "unchanged",
            "registry": state.registry_url,
            "serial": state.serial,
            "own_status": state.own_status,
            "clients": clients,
        }
    return apply_member_list(state, payload, str(compact), now=moment)


def apply_member_list(
    state: MembershipState, payload: Mapping[str, Any], compact: str, *, now: dt.datetime
) -> dict[str, Any]:
    """Replace the peers with a verified list's members; re-pin the registry's keys from its own entry."""
    registry = normalise(state.registry_url)
    own = own_base_url()
    entries: list[dict[str, Any]] = list(payload["members"])
    repinned = False
    with transaction.atomic():
        locked = MembershipState.objects.select_for_update().get(pk=state.pk)
        replaced = replace_peers(entries, serial=int(payload["serial"]))
        for entry in entries:
            if normalise(str(entry.get("base_url", ""))) != registry:
                continue
            try:
                registry_keys = parse_jwks(entry.get("jwks"))
            except ValueError:
                logger.warning("membership: the registry's own entry has unusable keys; pins kept")
                break
            if sorted(registry_keys) != sorted(kids_of(locked.registry_jwks)):
                locked.registry_jwks = canonical_jwks(registry_keys)
                repinned = True
            break
        listed = any(normalise(str(entry.get("base_url", ""))) == own for entry in entries)
        if listed:
            locked.own_status = Status.APPROVED
        elif locked.own_status not in (Status.PENDING, Status.REFUSED):
            locked.own_status = "not_listed"
        locked.serial = int(payload["serial"])
        locked.issued_at = _parse_iso(payload["issued_at"])
        locked.expires_at = _parse_iso(payload["expires_at"])
        locked.signed_list = compact
        locked.refreshed_at = now
        locked.last_error = ""
        locked.save()
        forget_trusted_keys()
        clients = ensure_peer_clients()
    forget_trusted_keys()
    if repinned:
        _journal(
            "federation.registry_keys.repinned",
            actor=Actor(node=registry),
            details={"registry": registry, "kids": kids_of(locked.registry_jwks), "serial": locked.serial},
        )
    return {
        "status": "ok",
        "registry": registry,
        "serial": locked.serial,
        "own_status": locked.own_status,
        "peers": replaced,
        "clients": clients,
        "registry_keys_updated": repinned,
    }


# ---------------------------------------------------------------------------- every node: joining


@dataclass(frozen=True)
class RegistryIdentity:
    base_url: str
    name: str
    keys: dict[str, Ed25519PublicKey]


@dataclass(frozen=True)
class JoinAnswer:
    """What the registry answered to a join or an announcement."""

    http_status: int
    status: str
    detail: str
    body: dict[str, Any] = field(default_factory=dict)
    pinned: list[str] = field(default_factory=list)
    repinned: bool = False
    refresh: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        return self.http_status in (200, 202)


def fetch_registry(url: str) -> RegistryIdentity:
    """The registry's metadata and published keys (raises RegistryUnreachable / MembershipError)."""
    base = normalise(url)
    try:
        check_base_url(base)
    except ValueError as exc:
        raise MembershipError(400, "invalid", str(exc), {"registry": ["url"]}) from None
    metadata = _get_json(f"{base}{NODE_METADATA_PATH}")
    if not isinstance(metadata, dict):
        raise RegistryUnreachable(f"{base}{NODE_METADATA_PATH}: not a node metadata document")
    if normalise(str(metadata.get("base_url", ""))) != base:
        raise MembershipError(
            400,
            "wrong_registry",
            _("Ce nœud se présente sous l'adresse %(other)s, pas %(url)s.")
            % {"other": metadata.get("base_url"), "url": base},
        )
    if "registry" not in (metadata.get("roles") or []):
        raise MembershipError(400, "not_a_registry", _("Le nœud %(url)s n'a pas le rôle de registre.") % {"url": base})
    published = _get_json(jwks_uri_of(base))
    try:
        keys = parse_jwks(published)
    except ValueError as exc:
        raise MembershipError(400, "invalid", str(exc), {"jwks": ["invalid"]}) from None
    return RegistryIdentity(base_url=base, name=str(metadata.get("name", "")), keys=keys)


def pin_registry(identity: RegistryIdentity, *, repin: bool = False) -> tuple[MembershipState, bool]:
    """Pin the registry's keys (first join, or `repin`). A node already pinned to this registry keeps
    its pins (they change only through a verified list); another registry needs `repin`.
    Returns (state, whether the pins changed)."""
    with transaction.atomic():
        state = MembershipState.objects.select_for_update().filter(pk=1).first()
        if state is None:
            state = MembershipState.objects.create(
                pk=1, registry_url=identity.base_url, registry_jwks=canonical_jwks(identity.keys)
            )
            return state, True
        same_registry = normalise(state.registry_url) == identity.base_url
        if same_registry and kids_of(state.registry_jwks) and not repin:
            return state, False
        if not same_registry and kids_of(state.registry_jwks) and not repin:
            raise MembershipError(
                409,
                "other_registry",
                _("Ce nœud fait déjà confiance au registre %(url)s (utilisez --repin pour en changer).")
                % {"url": state.registry_url},
            )
        state.registry_url = identity.base_url
        state.registry_jwks = canonical_jwks(identity.keys)
        if not same_registry:
            state.serial = 0
            state.signed_list = ""
            state.issued_at = state.expires_at = None
            state.own_status = ""
        elif repin:
            state.serial = 0  # the operator re-pins (e.g. after a registry compromise): accept its new lists
        state.save()
    forget_trusted_keys()
    return state, True


def join_document(*, organisation: str = "", contact: str = "") -> dict[str, Any]:
    """The body of a join or key announcement: this node's metadata and all its current keys."""
    from dataspace.node.services import current_identity, node_metadata

    if not organisation:
        identity = current_identity()
        if identity is not None and identity.organisation is not None:
            organisation = identity.organisation.name
    return {
        "metadata": node_metadata(),
        "jwks": own_jwks(),
        "organisation_name": organisation,
        "contact_email": contact,
    }


def _registry_entries(registry: str, jwks: Any) -> dict[str, KeyEntry]:
    """The pinned registry keys as verifier entries (to check the registry's signed answers)."""
    base = normalise(registry)
    try:
        keys = parse_jwks(jwks)
    except ValueError:
        return {}
    return {kid: (SignedPeer(base_url=base, name=base, roles=("registry",), kid=kid), key) for kid, key in keys.items()}


def _post_join(registry: str, document: dict[str, Any], key: node_keys.NodeKey, pinned: Any) -> JoinAnswer:
    """POST the signed join; a 2xx answer must be signed by a pinned registry key (else unreachable:
    someone in the middle could otherwise make this node believe it was approved)."""
    from federation.client import PeerError, post_signed
    from federation.signing import verify_response

    url = f"{normalise(registry)}{MEMBERS_PATH}"
    try:
        response = post_signed(url, document, key=key, timeout=JOIN_TIMEOUT)
    except PeerError as exc:
        raise RegistryUnreachable(f"{registry}: {exc.__class__.__name__}: {exc.detail}") from None
    if 200 <= response.status_code < 300:
        try:
            verify_response(
                response,
                peer_base_url=normalise(registry),
                request_headers=dict(response.request.headers),
                keys=_registry_entries(registry, pinned),
            )
        except SignatureRefused as exc:
            raise RegistryUnreachable(
                f"{registry}: the answer is not signed by a pinned registry key ({exc.code})"
            ) from None
    try:
        body = response.json()
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    status = str(body.get("status") or body.get("error") or f"http_{response.status_code}")
    return JoinAnswer(http_status=response.status_code, status=status, detail=str(body.get("detail", "")), body=body)


def _record_answer(answer: JoinAnswer) -> None:
    if answer.ok and answer.status in Status.values:
        MembershipState.objects.filter(pk=1).update(own_status=answer.status, last_error="")
    elif not answer.ok:
        MembershipState.objects.filter(pk=1).update(
            last_error=f"join answered HTTP {answer.http_status}: {answer.status} {answer.detail}"[:2000]
        )


def join(registry: str, *, contact: str = "", organisation: str = "", repin: bool = False) -> JoinAnswer:
    """Join the federation of `registry` (idempotent): pin its keys, post the signed request, and
    refresh the member list at once if the registry already lists this node as approved."""
    identity = fetch_registry(registry)
    state, repinned = pin_registry(identity, repin=repin)
    key = node_keys.signing_key()
    document = join_document(organisation=organisation, contact=contact)
    answer = _post_join(identity.base_url, document, key, state.registry_jwks)
    _record_answer(answer)
    refreshed = refresh_members() if answer.ok and answer.status == Status.APPROVED else None
    return JoinAnswer(
        http_status=answer.http_status,
        status=answer.status,
        detail=answer.detail,
        body=answer.body,
        pinned=list(identity.keys),
        repinned=repinned,
        refresh=refreshed,
    )


def announce_keys(*, kid: str | None = None) -> JoinAnswer:
    """After a key rotation: post all current keys to the registry, signed with the previous key
    (`load_keys()[1]`, still known to the registry) or with `kid`; refresh the list when accepted."""
    url = registry_url()
    if not url or is_registry():
        raise MembershipError(
            400, "not_joined", _("Ce nœud n'a rejoint aucun registre : lancez d'abord federation_join.")
        )
    loaded = node_keys.load_keys()
    if not loaded:
        raise MembershipError(400, "no_key", _("Ce nœud n'a pas de clé : lancez node_init."))
    if kid is not None:
        chosen = next((key for key in loaded if key.kid == kid), None)
        if chosen is None:
            raise MembershipError(
                400, "no_key", _("Aucune clé %(kid)s dans le répertoire des clés du nœud.") % {"kid": kid}
            )
    else:
        chosen = loaded[1] if len(loaded) > 1 else loaded[0]
    state = _node_state()
    answer = _post_join(url, join_document(), chosen, state.registry_jwks if state is not None else {})
    _record_answer(answer)
    refreshed = refresh_members() if answer.ok and answer.status == Status.APPROVED else None
    return JoinAnswer(
        http_status=answer.http_status,
        status=answer.status,
        detail=answer.detail,
        body=answer.body,
        pinned=[chosen.kid],
        refresh=refreshed,
    )
