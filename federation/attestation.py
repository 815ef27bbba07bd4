"""On-Behalf-Of attestations: the registry vouches for the professional a live search is made for.

Only the registry knows the professionals: their accounts, their organisations' licences (the
ministry's list) and whether they accepted the current terms of use. When a licensed professional
searches in live mode, the registry asks each member node over a signed request (RFC 9421) and
tells it for whom with an attestation in the `On-Behalf-Of` header — a compact JWS signed with the
registry's node key (Ed25519, the same key that signs the request):

    header  {"alg": "Ed25519", "kid": <RFC 7638 thumbprint>, "typ": "on-behalf-of+jws"}
    payload {"iss": <registry base URL>, "sub": "<username>@<registry host>",
             "licences": [{"number", "category", "status", "valid_until", "deposited_on"}],
             "organisation_name", "organisation_siret", "terms_accepted": bool,
             "purpose": <policies.language.PURPOSES>, "iat", "exp"}      (0 < exp - iat <= 60 s)

* `issue(subject, purpose=)` — (registry) the attestation of a professional `Subject`.
* `verify(token, peer)` — (any node) the verified `Attestation`, for a request whose signature was
  verified and attributed to `peer` (`request.signed_peer`): the JWS must be signed by a key of
  that same peer (`federation.membership.trusted_key`), be issued by it (`iss`), be of the right
  type and still valid (with FEDERATION_CLOCK_SKEW). Anything else raises `InvalidAttestation`
  (`code`, French `detail`); callers answer 403 and never fall back to the bare client.
* `as_subject(attestation, client_id=)` — the `Subject` the node's own decision point evaluates:
  a person of the registry's node with the attested licences; the organisation is matched to a
  local one by SIRET when the node knows it (so a policy naming a partner organisation applies).

The signature over the HTTP request covers this header (federation.signing), and its nonce makes
the pair single-use; the attestation's own short lifetime bounds what a leaked header is worth.
"""

from __future__ import annotations

import datetime as dt
import json
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from django.conf import settings
from django.utils.translation import gettext as _
from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import OKPKey

from dataspace.directory.profiles import LicenceFact, ProfessionalProfile
from dataspace.node import keys
from policies.language import PURPOSES
from policies.subject import Subject

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    from federation.signing import SignedPeer

#: The HTTP header carrying the attestation (covered by the request's RFC 9421 signature).
HEADER = "On-Behalf-Of"
#: JWS `typ` of an attestation, so that no other signed object of a node can pass for one.
TYPE = "on-behalf-of+jws"
ALGORITHM = "Ed25519"
#: Longest validity an attestation may claim (exp - iat), seconds.
MAX_LIFETIME = 60
#: Longest accepted token (a header, not a document).
MAX_LENGTH = 8192

CODES = (
    "malformed",
    "wrong_type",
    "unknown_key",
    "bad_signature",
    "wrong_issuer",
    "bad_claims",
    "too_long",
    "expired",
    "not_yet_valid",
)


class InvalidAttestation(Exception):
    """The `On-Behalf-Of` header cannot be trusted; `code` is one of `CODES`, `detail` is French."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail


@dataclass(frozen=True)
class Attestation:
    """The verified claims of an attestation."""

    issuer: str
    subject: str
    licences: tuple[LicenceFact, ...]
    organisation_name: str
    organisation_siret: str
    terms_accepted: bool
    purpose: str
    issued_at: int
    expires_at: int


# ---------------------------------------------------------------------------- issuing (registry)


def _iso(day: dt.date | None) -> str | None:
    return day.isoformat() if day is not None else None


def subject_name(subject: Subject) -> str:
    """`username@registry-host`: who the attestation speaks for, as other nodes' journals show it."""
    host = urlsplit(str(settings.NODE_BASE_URL)).netloc or str(settings.NODE_BASE_URL)
    return f"{subject.username or subject.key}@{host}"


def claims_for(subject: Subject, *, purpose: str, now: int | None = None) -> dict[str, Any]:
    """The payload of `subject`'s attestation (see the module docstring)."""
    from policies import pdp

    profile = subject.professional
    siret = ""
    if profile is not None and profile.organisation_id is not None:
        from dataspace.referentials.models import Organisation

        siret = str(
            Organisation.objects.filter(pk=profile.organisation_id).values_list("siret", flat=True).first() or ""
        )
    issued = int(now if now is not None else time.time())
    return {
        "iss": str(settings.NODE_BASE_URL),
        "sub": subject_name(subject),
        "licences": [
            {
                "number": licence.number,
                "category": licence.category,
                "status": licence.status,
                "valid_until": _iso(licence.valid_until),
                "deposited_on": _iso(licence.deposited_on),
            }
            for licence in (profile.licences if profile is not None else ())
        ],
        "organisation_name": profile.organisation_name if profile is not None else "",
        "organisation_siret": siret,
        "terms_accepted": profile is not None and pdp.terms_decision(subject) is None,
        "purpose": purpose,
        "iat": issued,
        "exp": issued + MAX_LIFETIME,
    }


def sign(claims: Mapping[str, Any], *, key: keys.NodeKey | None = None) -> str:
    """The compact JWS of `claims` with this node's signing key (or `key`)."""
    node_key = key or keys.signing_key()
    private = OKPKey.import_key(node_key.private_key, {"kid": node_key.kid})
    header = {"alg": ALGORITHM, "kid": node_key.kid, "typ": TYPE}
    payload = json.dumps(dict(claims), sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return jws.serialize_compact(header, payload, private, algorithms=[ALGORITHM])


def issue(subject: Subject, *, purpose: str, now: int | None = None, key: keys.NodeKey | None = None) -> str:
    """(registry) The attestation for `subject` (a professional) searching for `purpose`."""
    if purpose not in PURPOSES:
        raise ValueError(f"unknown purpose {purpose!r}")
    return sign(claims_for(subject, purpose=purpose, now=now), key=key)


# ---------------------------------------------------------------------------- verifying (any node)


def _refuse(code: str, detail: str) -> InvalidAttestation:
    return InvalidAttestation(code, detail)


def _date(value: Any, name: str) -> dt.date | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise _refuse("bad_claims", _("Attestation : « %(name)s » doit être une date ISO.") % {"name": name})
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise _refuse("bad_claims", _("Attestation : « %(name)s » doit être une date ISO.") % {"name": name}) from None


def _licences(value: Any) -> tuple[LicenceFact, ...]:
    if not isinstance(value, list) or len(value) > 50:
        raise _refuse("bad_claims", _("Attestation : « licences » doit être une liste."))
    facts = []
    for item in value:
        if not isinstance(item, dict):
            raise _refuse("bad_claims", _("Attestation : chaque licence est un objet."))
        number, category, status = item.get("number"), item.get("category"), item.get("status")
        if not isinstance(number, str) or not isinstance(status, str):
            raise _refuse("bad_claims", _("Attestation : une licence sans numéro ou sans statut."))
        if not isinstance(category, int) or isinstance(category, bool) or category not in (1, 2, 3):
            raise _refuse("bad_claims", _("Attestation : catégorie de licence inconnue."))
        facts.append(
            LicenceFact(
                number=number[:64],
                category=category,
                status=status,
                valid_until=_date(item.get("valid_until"), "valid_until"),
                deposited_on=_date(item.get("deposited_on"), "deposited_on"),
            )
        )
    return tuple(facts)


def _text(claims: Mapping[str, Any], name: str, *, required: bool = False, limit: int = 255) -> str:
    value = claims.get(name, "")
    if not isinstance(value, str) or (required and not value) or len(value) > limit:
        raise _refuse("bad_claims", _("Attestation : « %(name)s » manque ou n'est pas valable.") % {"name": name})
    return value


def _boolean(*values: Any) -> bool:
    return any(isinstance(value, bool) for value in values)


def _signer_key(kid: str, peer: SignedPeer) -> Ed25519PublicKey:
    from federation.membership import trusted_key

    found = trusted_key(kid)
    if found is None or found[0].base_url.rstrip("/") != peer.base_url.rstrip("/"):
        raise _refuse(
            "unknown_key",
            _("L'attestation n'est pas signée par une clé du nœud %(node)s qui a signé la requête.")
            % {"node": peer.base_url},
        )
    return found[1]


def verify(
    token: str,
    peer: SignedPeer,
    *,
    public_key: Ed25519PublicKey | None = None,
    now: float | None = None,
) -> Attestation:
    """The attestation `token`, verified for a request signed by `peer` (see the module docstring).

    `public_key`: the key to verify with (tests, or a caller that already resolved it); by default
    the key named by the JWS `kid`, which must belong to `peer` among the trusted members' keys.
    """
    if not isinstance(token, str) or not token or len(token) > MAX_LENGTH:
        raise _refuse("malformed", _("En-tête On-Behalf-Of absent ou trop long."))
    try:
        unverified = jws.extract_compact(token.encode("ascii"))
    except (JoseError, ValueError, UnicodeError):
        raise _refuse("malformed", _("L'en-tête On-Behalf-Of n'est pas un JWS compact.")) from None
    header = unverified.headers()
    if header.get("typ") != TYPE or header.get("alg") != ALGORITHM:
        raise _refuse("wrong_type", _("L'en-tête On-Behalf-Of n'est pas une attestation (typ, alg)."))
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise _refuse("unknown_key", _("L'attestation ne nomme pas sa clé (kid)."))
    key = public_key if public_key is not None else _signer_key(kid, peer)
    try:
        verified = jws.deserialize_compact(token, OKPKey.import_key(key), algorithms=[ALGORITHM])
    except (JoseError, ValueError, TypeError):
        raise _refuse("bad_signature", _("La signature de l'attestation n'est pas valable.")) from None
    try:
        claims = json.loads(verified.payload)
    except ValueError:
        raise _refuse("malformed", _("Le contenu de l'attestation n'est pas du JSON.")) from None
    if not isinstance(claims, dict):
        raise _refuse("malformed", _("Le contenu de l'attestation n'est pas un objet JSON."))
    if str(claims.get("iss", "")).rstrip("/") != peer.base_url.rstrip("/"):
        raise _refuse("wrong_issuer", _("L'attestation n'est pas émise par le nœud qui a signé la requête."))
    raw_issued, raw_expires = claims.get("iat"), claims.get("exp")
    if not (isinstance(raw_issued, int) and isinstance(raw_expires, int)) or _boolean(raw_issued, raw_expires):
        raise _refuse("bad_claims", _("Attestation : « iat » et « exp » doivent être des entiers."))
    issued, expires = int(raw_issued), int(raw_expires)
    if not 0 < expires - issued <= MAX_LIFETIME:
        raise _refuse("too_long", _("Une attestation vaut au plus %(seconds)s secondes.") % {"seconds": MAX_LIFETIME})
    moment = now if now is not None else time.time()
    skew = int(getattr(settings, "FEDERATION_CLOCK_SKEW", 30))
    if moment > expires + skew:
        raise _refuse("expired", _("L'attestation a expiré."))
    if issued > moment + skew:
        raise _refuse("not_yet_valid", _("L'attestation n'est pas encore valable (horloges décalées ?)."))
    purpose = claims.get("purpose")
    if purpose not in PURPOSES:
        raise _refuse("bad_claims", _("Attestation : finalité inconnue."))
    terms = claims.get("terms_accepted")
    if not isinstance(terms, bool):
        raise _refuse("bad_claims", _("Attestation : « terms_accepted » doit être un booléen."))
    return Attestation(
        issuer=peer.base_url.rstrip("/"),
        subject=_text(claims, "sub", required=True, limit=150),
        licences=_licences(claims.get("licences", [])),
        organisation_name=_text(claims, "organisation_name"),
        organisation_siret=_text(claims, "organisation_siret", limit=14),
        terms_accepted=terms,
        purpose=str(purpose),
        issued_at=issued,
        expires_at=expires,
    )


def as_subject(attestation: Attestation, *, client_id: str = "") -> Subject:
    """The person the attestation speaks for, as this node's decision point sees them.

    kind "person", `node` = the registry, no account and no staff role here (`acts_for` empty), the
    attested licences; the organisation is this node's organisation with the attested SIRET, if it
    has one (its id and region then feed `organisation`, `region` and block rules), else unknown.
    `client_id` (the registry's OAuth client here) keys daily counters and shows in the journal.
    """
    organisation_id: uuid.UUID | None = None
    region = ""
    if attestation.organisation_siret:
        from dataspace.referentials.models import Organisation

        row = Organisation.objects.filter(siret=attestation.organisation_siret).values_list("pk", "region").first()
        if row is not None:
            organisation_id, region = row[0], str(row[1] or "")
    marker = "attested" if attestation.terms_accepted else ""
    profile = ProfessionalProfile(
        account_id=0,
        organisation_id=organisation_id,
        organisation_name=attestation.organisation_name,
        licences=attestation.licences,
        terms_accepted=marker,
        verified=True,
        terms_current="attested",
    )
    return Subject(
        kind="person",
        username=attestation.subject,
        client_id=client_id,
        node=attestation.issuer,
        region=region,
        professional=profile,
    )
