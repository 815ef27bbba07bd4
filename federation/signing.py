"""RFC 9421 HTTP Message Signatures between nodes (DESIGN.md §5, docs/federation.md « Signed calls »).

Every node-to-node request and its response carry one signature of this profile, made and checked
with the `http-message-signatures` library (the format), with the rules below kept here (the policy):

Request (`sign_request_headers`)
    label ``sig1``, ``alg="ed25519"``, ``keyid`` = the RFC 7638 thumbprint of the node key (the
    ``kid`` of its JWKS), ``created``, ``expires`` = created + `FEDERATION_SIGNATURE_TTL`, a
    ``nonce`` (144 random bits, base64url) and ``tag="scene-commune"``. Covered components:
    ``"@method"``, ``"@target-uri"``, ``"content-digest"`` (RFC 9530, SHA-256 of the body, also
    for an empty body), plus ``"content-type"``, ``"authorization"`` and ``"on-behalf-of"``
    whenever the request has those fields.

Verification (`verify_request`, `verify_message`), in this order; the first failure is the
`SignatureRefused.code`:
    ``missing_signature`` (no ``Signature``/``Signature-Input``, or none tagged ``scene-commune``),
    ``malformed`` (unparsable fields, several signatures of the profile, a parameter missing or of
    the wrong type, another algorithm, a lifetime longer than `max_lifetime()`, a required
    component not covered), ``not_yet_valid`` (``created`` later than now + `FEDERATION_CLOCK_SKEW`),
    ``expired`` (``expires`` earlier than now − skew), ``unknown_key`` (the ``keyid`` is no key of
    a trusted member: `federation.membership.trusted_key`, which also knows this node's own keys),
    ``bad_digest`` (``Content-Digest`` does not match the bytes actually received — checked here,
    never left to the caller), ``bad_signature`` (the signature does not verify), ``replayed`` (the
    (keyid, nonce) pair was already accepted: `SeenNonce` rows, unique, kept until the signature
    expires; an insert that fails for any other reason refuses too — fail closed).

Response (`sign_response`, `verify_response`)
    Same label, tag, algorithm and key id rules, no nonce. Covered: ``"@status"``,
    ``"content-digest"`` (of the response body), ``"content-type"`` when present, and
    ``"signature";req;key="sig1"`` — the request's own signature (RFC 9421 §2.4), so a response
    cannot be replayed as the answer to another request. Streaming responses are not signed.

The `@target-uri` a node verifies is ``NODE_BASE_URL`` + the request's path and query: a request
signed for another node (or another path) does not verify here.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import http_sf
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from django.conf import settings
from django.db import DatabaseError, IntegrityError, transaction
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _
from http_message_signatures import (
    ContentDigest,
    HTTPMessageSignaturesException,
    HTTPMessageSigner,
    HTTPMessageVerifier,
    InvalidSignature,
    MappingKeyResolver,
    algorithms,
)

from federation.models import SeenNonce

if TYPE_CHECKING:
    import httpx

    from dataspace.node.keys import NodeKey

logger = logging.getLogger("federation.signing")

LABEL = "sig1"
TAG = "scene-commune"
ALGORITHM = "ed25519"
#: Always covered by a request signature.
REQUEST_COMPONENTS = ("@method", "@target-uri", "content-digest")
#: Covered by a request signature whenever the request has them.
REQUEST_FIELDS_IF_PRESENT = ("content-type", "authorization", "on-behalf-of")
#: Signature parameters of the profile (anything else is malformed).
PARAMETERS = frozenset({"alg", "created", "expires", "keyid", "nonce", "tag"})
#: Hard ceiling of a signature's lifetime, whatever the TTL setting of the signing node.
MAX_LIFETIME = 300
#: Nonce length bounds (base64url characters): ≥ 128 bits, fits `SeenNonce.nonce`.
NONCE_MIN, NONCE_MAX = 22, 100
KEYID_MAX = 100

CODES = (
    "missing_signature",
    "malformed",
    "unknown_key",
    "expired",
    "not_yet_valid",
    "replayed",
    "bad_digest",
    "bad_signature",
)

DETAILS = {
    "missing_signature": _("La requête ne porte pas de signature HTTP (RFC 9421) du profil de la fédération."),
    "malformed": _("La signature HTTP est mal formée ou ne couvre pas les éléments requis."),
    "unknown_key": _("La clé de signature n'appartient à aucun membre de confiance de la fédération."),
    "expired": _("La signature HTTP a expiré."),
    "not_yet_valid": _("La signature HTTP n'est pas encore valide (horloge du signataire en avance ?)."),
    "replayed": _("Cette signature a déjà été utilisée : le rejeu est refusé."),
    "bad_digest": _("Le corps reçu ne correspond pas à son empreinte Content-Digest."),
    "bad_signature": _("La signature HTTP ne se vérifie pas avec la clé annoncée."),
}


# ---------------------------------------------------------------------------- types


@dataclass(frozen=True)
class SignedPeer:
    """The member node whose key signed a message (this node itself when it calls itself)."""

    base_url: str
    name: str
    roles: tuple[str, ...]
    kid: str


KeyEntry = tuple[SignedPeer, Ed25519PublicKey]


class SignatureRefused(Exception):
    """A signature that does not meet the profile; `code` is one of `CODES`, `detail` is French."""

    def __init__(self, code: str, detail: str | Promise | None = None, *, keyid: str = "", node: str = "") -> None:
        if code not in CODES:
            raise ValueError(f"unknown signature refusal code {code!r}")
        self.code = code
        self.detail = str(detail) if detail is not None else str(DETAILS[code])
        #: The key id the message named ("" when unreadable) and the node it belongs to ("" if unknown).
        self.keyid = keyid
        self.node = node
        super().__init__(f"{code}: {self.detail}")


@dataclass
class _Request:
    """The message interface the library reads (method, absolute URL, headers)."""

    method: str
    url: str
    headers: dict[str, str]


@dataclass
class _Response:
    status_code: int
    headers: Any
    request: _Request


@dataclass(frozen=True)
class Verified:
    """What a verified request signature established."""

    peer: SignedPeer
    label: str
    keyid: str
    nonce: str
    covered: tuple[str, ...] = field(default_factory=tuple)


# ---------------------------------------------------------------------------- settings and keys


def ttl() -> int:
    return int(getattr(settings, "FEDERATION_SIGNATURE_TTL", 60))


def skew() -> int:
    return int(getattr(settings, "FEDERATION_CLOCK_SKEW", 30))


def max_lifetime() -> int:
    """The longest `expires - created` accepted: `MAX_LIFETIME`, or the TTL if set larger."""
    return max(MAX_LIFETIME, ttl())


def new_nonce() -> str:
    """144 random bits, base64url without padding (24 characters)."""
    return secrets.token_urlsafe(18)


def _normalise(url: str) -> str:
    return str(url or "").strip().rstrip("/")


def own_keys() -> dict[str, KeyEntry]:
    """This node's own key pairs (every key still in its key directory), as verifier entries."""
    from dataspace.node.keys import load_keys

    base = _normalise(settings.NODE_BASE_URL)
    roles = tuple(str(role) for role in settings.NODE_ROLES)
    return {
        key.kid: (SignedPeer(base_url=base, name=str(settings.NODE_NAME), roles=roles, kid=key.kid), key.public_key)
        for key in load_keys()
    }


def trusted_key(kid: str) -> KeyEntry | None:
    """The trusted member (or this node) holding `kid`, from `federation.membership.trusted_key`
    (the member list). Without that module only this node's own keys are trusted (fail closed)."""
    try:
        from federation import membership
    except ImportError:
        logger.warning("signing: federation.membership unavailable; trusting this node's own keys only")
        return own_keys().get(kid)

    entry = membership.trusted_key(kid)
    if entry is None:
        return None
    peer, public_key = entry
    if peer.kid != kid:
        peer = dataclasses.replace(peer, kid=kid)
    return peer, public_key


def _lookup(kid: str, keys: Mapping[str, KeyEntry] | None) -> KeyEntry | None:
    if keys is not None:
        return keys.get(kid)
    return trusted_key(kid)


def _key_resolver(kid: str, public_key: Ed25519PublicKey) -> MappingKeyResolver:
    return MappingKeyResolver(public_keys={kid: public_key}, private_keys={})


def _signer(key: NodeKey) -> HTTPMessageSigner:
    resolver = MappingKeyResolver(public_keys={}, private_keys={key.kid: key.private_key})
    return HTTPMessageSigner(signature_algorithm=algorithms.ED25519, key_resolver=resolver)


def _verifier(kid: str, public_key: Ed25519PublicKey) -> HTTPMessageVerifier:
    verifier = HTTPMessageVerifier(signature_algorithm=algorithms.ED25519, key_resolver=_key_resolver(kid, public_key))
    verifier.max_clock_skew = dt.timedelta(seconds=skew())  # the same tolerance as ours (checked first)
    return verifier


def _default_key(key: NodeKey | None) -> NodeKey:
    if key is not None:
        return key
    from dataspace.node.keys import signing_key

    return signing_key()


# ---------------------------------------------------------------------------- signing


_SIGNATURE_FIELDS = frozenset({"signature", "signature-input", "content-digest"})


def sign_request_headers(
    method: str,
    url: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    key: NodeKey | None = None,
    now: dt.datetime | None = None,
) -> dict[str, str]:
    """The headers to send: `headers` (minus any old signature or digest) plus ``Content-Digest``,
    ``Signature-Input`` and ``Signature`` over `method`, `url` (the exact absolute URL sent,
    query included) and `body` (the exact bytes sent). `key`: the node's signing key by default;
    `now`: the signing instant (tests)."""
    node_key = _default_key(key)
    sent = {name: str(value) for name, value in headers.items() if name.lower() not in _SIGNATURE_FIELDS}
    present = {name.lower() for name in sent}
    covered = [*REQUEST_COMPONENTS, *(name for name in REQUEST_FIELDS_IF_PRESENT if name in present)]
    created = (now or timezone.now()).replace(microsecond=0)
    message = _Request(method=method.upper(), url=url, headers=sent)
    try:
        _signer(node_key).sign(
            message,
            key_id=node_key.kid,
            created=created,
            expires=created + dt.timedelta(seconds=ttl()),
            nonce=new_nonce(),
            label=LABEL,
            tag=TAG,
            covered_component_ids=covered,
            body=bytes(body),
        )
    except HTTPMessageSignaturesException as exc:
        raise ValueError(f"cannot sign this request: {exc}") from exc
    return message.headers


def target_uri(request: HttpRequest) -> str:
    """The ``@target-uri`` a request to this node must have been signed for."""
    return f"{_normalise(settings.NODE_BASE_URL)}{request.get_full_path()}"


def sign_response(response: HttpResponse, request: HttpRequest) -> None:
    """Sign `response` in place, bound to the verified signature of `request` (see the module
    docstring). Does nothing for a request whose signature was not verified, for a streaming
    response, or when this node has no key (logged)."""
    verified: Verified | None = getattr(request, "_federation_signature", None)
    if verified is None or getattr(response, "streaming", False):
        return
    from dataspace.node.keys import KeyFileError

    try:
        node_key = _default_key(None)
    except (KeyFileError, OSError, ValueError):
        logger.warning("signing: no usable node key, response to %s left unsigned", request.path, exc_info=True)
        return
    for name in list(response.headers):
        if name.lower() in _SIGNATURE_FIELDS:
            del response.headers[name]
    try:
        sign_response_headers(
            response.headers,
            status=response.status_code,
            body=bytes(response.content),
            request_method=str(request.method),
            request_url=target_uri(request),
            request_headers=dict(request.headers),
            request_label=verified.label,
            key=node_key,
        )
    except HTTPMessageSignaturesException:
        logger.warning("signing: cannot sign the response to %s", request.path, exc_info=True)


def sign_response_headers(
    headers: Any,
    *,
    status: int,
    body: bytes,
    request_method: str,
    request_url: str,
    request_headers: Mapping[str, str],
    request_label: str,
    key: NodeKey,
) -> None:
    """Add `Content-Digest`, `Signature-Input` and `Signature` to a response's `headers` (a mutable
    mapping) in place: signed with `key` over the status, the digest, the content type if any and
    the request's signature `request_label` (``signature;req``). `sign_response` uses it for this
    node's answers; a process answering as several nodes (the campaign benchmark's light peers)
    passes each node's key."""
    covered = ["@status", "content-digest"]
    if "Content-Type" in headers:
        covered.append("content-type")
    covered.append(f'"signature";req;key="{request_label}"')
    signed_request = _Request(method=request_method, url=request_url, headers=dict(request_headers))
    message = _Response(status_code=status, headers=headers, request=signed_request)
    created = timezone.now().replace(microsecond=0)
    _signer(key).sign(
        message,
        key_id=key.kid,
        created=created,
        expires=created + dt.timedelta(seconds=ttl()),
        label=LABEL,
        tag=TAG,
        covered_component_ids=covered,
        body=body,
    )


# ---------------------------------------------------------------------------- verifying


def _lowered(headers: Mapping[str, str] | Any) -> dict[str, str]:
    return {str(name).lower(): str(value) for name, value in headers.items()}


def _parse_dictionary(value: str) -> dict[str, Any]:
    parsed = http_sf.parse(value.encode("ascii"), tltype="dictionary")
    if not isinstance(parsed, dict):
        raise ValueError("not a dictionary")
    return parsed


def _profile_signature(fields: Mapping[str, str]) -> tuple[str, list[tuple[Any, dict[str, Any]]], dict[str, Any]]:
    """(label, covered items, parameters) of the one signature tagged `TAG`."""
    raw_input, raw_signature = fields.get("signature-input", ""), fields.get("signature", "")
    if not raw_input.strip() or not raw_signature.strip():
        raise SignatureRefused("missing_signature")
    try:
        inputs = _parse_dictionary(raw_input)
        signatures = _parse_dictionary(raw_signature)
    except (ValueError, TypeError, UnicodeError):
        raise SignatureRefused("malformed", _("Les champs Signature-Input ou Signature sont illisibles.")) from None
    ours = [
        label
        for label, (member, params) in inputs.items()
        if isinstance(member, list) and isinstance(params, dict) and params.get("tag") == TAG
    ]
    if not ours:
        raise SignatureRefused("missing_signature")
    if len(ours) > 1:
        raise SignatureRefused(
            "malformed", _("Plusieurs signatures du profil de la fédération : une seule est admise.")
        )
    label = ours[0]
    member, params = inputs[label]
    if label not in signatures or not isinstance(signatures[label][0], bytes):
        raise SignatureRefused("malformed", _("Aucune valeur de signature pour l'étiquette annoncée."))
    return label, list(member), dict(params)


def _check_parameters(params: Mapping[str, Any], *, nonce_required: bool) -> tuple[str, int, int, str]:
    """(keyid, created, expires, nonce) after the profile's checks on the parameters."""
    unknown = set(params) - PARAMETERS
    if unknown:
        raise SignatureRefused(
            "malformed", _("Paramètre de signature inconnu : %(names)s.") % {"names": ", ".join(sorted(unknown))}
        )
    if params.get("alg", ALGORITHM) != ALGORITHM:
        raise SignatureRefused("malformed", _("Seul l'algorithme ed25519 est accepté."))
    keyid, created, expires, nonce = (
        params.get("keyid"),
        params.get("created"),
        params.get("expires"),
        params.get("nonce", ""),
    )
    if not isinstance(keyid, str) or not keyid or len(keyid) > KEYID_MAX:
        raise SignatureRefused("malformed", _("Le paramètre keyid manque ou est invalide."))
    if type(created) is not int or type(expires) is not int:
        raise SignatureRefused(
            "malformed", _("Les paramètres created et expires sont obligatoires (entiers)."), keyid=keyid
        )
    if not isinstance(nonce, str) or (nonce_required and not NONCE_MIN <= len(nonce) <= NONCE_MAX):
        raise SignatureRefused("malformed", _("Le paramètre nonce manque ou est invalide."), keyid=keyid)
    if expires <= created or expires - created > max_lifetime():
        raise SignatureRefused(
            "malformed",
            _("La durée de validité de la signature doit être positive et d'au plus %(seconds)d secondes.")
            % {"seconds": max_lifetime()},
            keyid=keyid,
        )
    return keyid, created, expires, nonce


def _check_times(created: int, expires: int, keyid: str, now: dt.datetime | None) -> None:
    moment = int((now or timezone.now()).timestamp())
    if created > moment + skew():
        raise SignatureRefused("not_yet_valid", keyid=keyid)
    if expires < moment - skew():
        raise SignatureRefused("expired", keyid=keyid)


def _check_coverage(covered: list[tuple[Any, dict[str, Any]]], required: list[str], keyid: str) -> None:
    plain = {str(value) for value, params in covered if isinstance(value, str) and not params}
    missing = [name for name in required if name not in plain]
    if missing:
        raise SignatureRefused(
            "malformed",
            _("La signature ne couvre pas : %(names)s.") % {"names": ", ".join(missing)},
            keyid=keyid,
        )


def _check_digest(fields: Mapping[str, str], body: bytes, keyid: str, node: str) -> None:
    """RFC 9530: the digest the signature covers must be the digest of the bytes received."""
    try:
        ContentDigest.verify(fields.get("content-digest", ""), bytes(body))
    except (InvalidSignature, HTTPMessageSignaturesException, ValueError, UnicodeError):
        raise SignatureRefused("bad_digest", keyid=keyid, node=node) from None


def _record_nonce(keyid: str, nonce: str, expires: int, node: str) -> None:
    """Remember the nonce until the signature can no longer verify; a second use is a replay.
    Fails closed: any database error refuses the request."""
    until = dt.datetime.fromtimestamp(expires + skew(), tz=dt.UTC)
    try:
        with transaction.atomic():
            SeenNonce.objects.create(key_id=keyid, nonce=nonce, expires_at=until)
    except IntegrityError:
        raise SignatureRefused("replayed", keyid=keyid, node=node) from None
    except DatabaseError:
        logger.exception("signing: cannot record the nonce of %s; request refused", keyid)
        raise SignatureRefused(
            "replayed",
            _("Le nonce de la signature n'a pas pu être enregistré : la requête est refusée par précaution."),
            keyid=keyid,
            node=node,
        ) from None


def verify_message(
    method: str,
    url: str,
    headers: Mapping[str, str] | Any,
    body: bytes,
    *,
    keys: Mapping[str, KeyEntry] | None = None,
    now: dt.datetime | None = None,
    record_nonce: bool = True,
) -> Verified:
    """Verify a received request given as its parts: `url` is the absolute target URI it must have
    been signed for, `body` the exact bytes received. `keys` (kid → (SignedPeer, public key)):
    the keys to trust instead of the member list (a joining node's proof of possession).
    Raises `SignatureRefused`; on success the nonce is recorded (unless `record_nonce` is False)."""
    fields = _lowered(headers)
    label, covered, params = _profile_signature(fields)
    keyid, created, expires, nonce = _check_parameters(params, nonce_required=True)
    required = [*REQUEST_COMPONENTS]
    required += [name for name in ("authorization", "on-behalf-of") if name in fields]
    if "content-type" in fields and body:  # a server may invent a Content-Type for an empty body (wsgiref)
        required.append("content-type")
    _check_coverage(covered, required, keyid)
    _check_times(created, expires, keyid, now)
    entry = _lookup(keyid, keys)
    if entry is None:
        raise SignatureRefused("unknown_key", keyid=keyid)
    peer, public_key = entry
    _check_digest(fields, body, keyid, peer.base_url)
    message = _Request(method=method.upper(), url=url, headers=dict(fields))
    try:
        _verifier(keyid, public_key).verify(
            message, expect_tag=TAG, max_age=None, require_components=required, body=bytes(body)
        )
    except (InvalidSignature, HTTPMessageSignaturesException):
        raise SignatureRefused("bad_signature", keyid=keyid, node=peer.base_url) from None
    if record_nonce:
        _record_nonce(keyid, nonce, expires, peer.base_url)
    if peer.kid != keyid:
        peer = dataclasses.replace(peer, kid=keyid)
    return Verified(peer=peer, label=label, keyid=keyid, nonce=nonce, covered=tuple(str(v) for v, _p in covered))


def _request_body(request: HttpRequest) -> bytes:
    from django.core.exceptions import RequestDataTooBig

    try:
        return bytes(request.body)
    except RequestDataTooBig:
        raise SignatureRefused("malformed", _("Le corps de la requête est trop volumineux.")) from None


def verify_request(request: HttpRequest, *, keys: Mapping[str, KeyEntry] | None = None) -> SignedPeer:
    """Verify the signature of a request to this node (see the module docstring for the checks)
    and return the signer, also set as ``request.signed_peer``. Marks the request so that
    `sign_response` binds its response to it. Raises `SignatureRefused`."""
    verified = verify_message(
        str(request.method), target_uri(request), request.headers, _request_body(request), keys=keys
    )
    request._federation_signature = verified  # type: ignore[attr-defined]
    request.signed_peer = verified.peer  # type: ignore[attr-defined]
    return verified.peer


def verify_response(
    response: httpx.Response,
    *,
    peer_base_url: str,
    request_headers: Mapping[str, str],
    keys: Mapping[str, KeyEntry] | None = None,
) -> None:
    """Check that `response` was signed by a key of the node `peer_base_url`, over its status, its
    body (digest checked here) and the signature of the request we sent (`request_headers`: the
    headers sent, signature included). `keys`: trust these instead of the member list (a node
    joining a registry whose keys it pinned). Raises `SignatureRefused`."""
    sent = _lowered(request_headers)
    request_label, _covered, _params = _profile_signature(sent)
    fields = _lowered(response.headers)
    _label, covered, params = _profile_signature(fields)
    keyid, created, expires, _nonce = _check_parameters(params, nonce_required=False)
    binding = f'"signature";req;key="{request_label}"'
    required = ["@status", "content-digest", *(["content-type"] if "content-type" in fields else [])]
    _check_coverage(covered, required, keyid)
    bound = any(value == "signature" and params_ == {"req": True, "key": request_label} for value, params_ in covered)
    if not bound:
        raise SignatureRefused(
            "malformed", _("La réponse n'est pas liée à la signature de la requête envoyée."), keyid=keyid
        )
    _check_times(created, expires, keyid, None)
    entry = _lookup(keyid, keys)
    if entry is None or _normalise(entry[0].base_url) != _normalise(peer_base_url):
        raise SignatureRefused("unknown_key", _("La réponse n'est pas signée par une clé du nœud appelé."), keyid=keyid)
    peer, public_key = entry
    body = bytes(response.content)
    _check_digest(fields, body, keyid, peer.base_url)
    sent_request = response.request
    message = _Response(
        status_code=response.status_code,
        headers=_HeaderList(response.headers.multi_items()),
        request=_Request(method=str(sent_request.method), url=str(sent_request.url), headers=dict(sent)),
    )
    try:
        _verifier(keyid, public_key).verify(
            message, expect_tag=TAG, max_age=None, require_components=[*required, binding], body=body
        )
    except (InvalidSignature, HTTPMessageSignaturesException):
        raise SignatureRefused("bad_signature", keyid=keyid, node=peer.base_url) from None


class _HeaderList:
    """Header field lines in wire order, exposed as the library reads them (`items()`)."""

    def __init__(self, lines: list[tuple[str, str]]) -> None:
        self._lines = list(lines)

    def items(self) -> list[tuple[str, str]]:
        return list(self._lines)


# ---------------------------------------------------------------------------- housekeeping


def purge_nonces(*, now: dt.datetime | None = None) -> int:
    """Forget nonces whose signatures have expired (they can no longer verify anyway); how many."""
    deleted, _detail = SeenNonce.objects.filter(expires_at__lt=now or timezone.now()).delete()
    return int(deleted)
