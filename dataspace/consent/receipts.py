"""Consent receipts: a JWS compact signed by the node's Ed25519 key (docs/consent.md, "Receipts").

The payload follows ISO/IEC TS 27560 (consent record and receipt information structure) and the
Kantara Initiative consent receipt: version, jurisdiction, issue time, receipt id, controller,
subject (pseudonymous: never the email), purposes with their DPV terms, personal-data categories,
fields, recipients, legal basis, notice version and SHA-256, method, given/expiry dates, status and
status history. The header carries `alg: Ed25519`, `kid` (the signing key's thumbprint) and
`typ: consent-receipt+jws`, so that no other signed object of the node passes for a receipt.

`verify_receipt` checks the signature against every key the node publishes (rotated keys too),
then answers the payload with the consent's CURRENT status: a receipt of a withdrawn consent is
authentic, and says "withdrawn".
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.utils import timezone
from django.utils.translation import override

from dataspace.consent import vocabulary as vocab

if TYPE_CHECKING:
    from dataspace.consent.models import ConsentRecord

ALGORITHM = "Ed25519"
RECEIPT_TYPE = "consent-receipt+jws"
MEDIA_TYPE = "application/jose"
RECEIPT_VERSION = "ISO/IEC TS 27560:2023"
JURISDICTION = "FR"


class ReceiptError(Exception):
    """A receipt that does not verify: malformed, forged, altered, unknown key, not a receipt."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _iso(value: dt.datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def pseudonymous_subject_id(consent: ConsentRecord) -> str:
    """A stable pseudonym of the subject for this controller: a keyed hash, never the email."""
    from dataspace.node.crypto import blind_index

    if consent.subject_user_id is not None:
        basis = f"user:{consent.subject_user_id}"
    elif consent.subject_email_index:
        basis = f"email:{consent.subject_email_index}"
    else:
        basis = f"target:{consent.target_type}:{consent.target_id}"
    return f"urn:scene-commune:subject:{blind_index(f'{consent.controller_id}|{basis}')[:32]}"


def receipt_payload(consent: ConsentRecord, *, now: dt.datetime | None = None) -> dict[str, Any]:
    """The receipt's content (ISO/IEC TS 27560 / Kantara shape), labels in French."""
    from dataspace.consent.services import current_status, target_uri

    controller = consent.controller
    notice = consent.notice
    history = list(consent.events.order_by("at", "pk").values_list("status", "at"))
    moment = now or timezone.now()
    with override("fr"):
        return {
            "version": RECEIPT_VERSION,
            "jurisdiction": JURISDICTION,
            "iss": str(settings.NODE_BASE_URL),
            "iat": int(moment.timestamp()),
            "receipt_id": str(uuid.uuid4()),
            "consent_id": str(consent.pk),
            "controller": {
                "name": controller.legal_name or controller.name,
                "uri": controller.uri,
                "siret": controller.siret,
            },
            "subject": {"id": pseudonymous_subject_id(consent), "id_type": "pseudonym"},
            "target": {
                "type": consent.target_type,
                "id": str(consent.target_id),
                "uri": target_uri(consent.target_type, consent.target_id),
            },
            "purposes": [
                {
                    "code": code,
                    "label": vocab.purpose_label(code),
                    "dpv": vocab.PURPOSES[code].dpv if code in vocab.PURPOSES else "",
                }
                for code in consent.purposes
            ],
            "data_categories": [
                {"code": code, "dpv": vocab.data_category_dpv(code), "label": vocab.data_category_label(code)}
                for code in consent.data_categories
            ],
            "fields": list(consent.fields),
            "recipients": [
                {
                    "code": code,
                    "label": vocab.recipient_label(code),
                    "dpv": vocab.RECIPIENTS[code].dpv if code in vocab.RECIPIENTS else "",
                }
                for code in consent.recipients
            ],
            "legal_basis": consent.legal_basis,
            "notice": {"kind": notice.kind, "version": notice.version, "sha256": consent.notice_sha256},
            "method": consent.method,
            "given_at": _iso(consent.given_at),
            "expires_at": _iso(consent.expires_at),
            "status": current_status(consent, now=moment),
            "status_history": [{"status": status, "at": _iso(at)} for status, at in history],
        }


def receipt_for(consent: ConsentRecord, *, now: dt.datetime | None = None) -> str:
    """The consent's receipt: a JWS compact over its payload, signed with the node's current key."""
    from joserfc import jws
    from joserfc.jwk import OKPKey

    from dataspace.node.keys import signing_key

    node_key = signing_key()
    private = OKPKey.import_key(node_key.private_key, {"kid": node_key.kid})
    header = {"alg": ALGORITHM, "kid": node_key.kid, "typ": RECEIPT_TYPE}
    body = json.dumps(receipt_payload(consent, now=now), ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return str(jws.serialize_compact(header, body, private, algorithms=[ALGORITHM]))


def verify_receipt(signed: str, *, now: dt.datetime | None = None) -> dict[str, Any]:
    """Check a receipt and return `{"payload", "kid", "current_status", "status_changed_at"}`.

    Raises ReceiptError when it is not a compact JWS, its signature does not verify with any key
    the node publishes (forged, altered, or signed by a key this node never published), or it is
    not a consent receipt of this node. `current_status` is "unknown" when the consent is no longer
    held here.
    """
    from joserfc import jws
    from joserfc.errors import JoseError

    from dataspace.consent.models import ConsentRecord
    from dataspace.consent.services import current_status
    from dataspace.oauth.tokens import public_key_set

    if not isinstance(signed, str) or signed.count(".") != 2:
        raise ReceiptError("not a JWS compact serialization")
    try:
        decoded = jws.deserialize_compact(signed.strip(), public_key_set(), algorithms=[ALGORITHM])
    except (JoseError, ValueError, TypeError, KeyError) as exc:
        raise ReceiptError(f"signature not valid with the node's published keys ({exc.__class__.__name__})") from None
    headers = decoded.headers()
    if headers.get("typ") != RECEIPT_TYPE:
        raise ReceiptError("the signed object is not a consent receipt (typ)")
    try:
        payload = json.loads(decoded.payload)
    except ValueError:
        raise ReceiptError("the signed payload is not JSON") from None
    if not isinstance(payload, dict) or not isinstance(payload.get("consent_id"), str):
        raise ReceiptError("the signed payload does not name a consent")
    if payload.get("iss") != str(settings.NODE_BASE_URL):
        raise ReceiptError("receipt issued by another node")
    consent = None
    try:
        consent = ConsentRecord.objects.filter(pk=uuid.UUID(payload["consent_id"])).first()
    except ValueError:
        raise ReceiptError("the signed payload does not name a consent") from None
    return {
        "payload": payload,
        "kid": headers.get("kid", ""),
        "current_status": current_status(consent, now=now) if consent is not None else "unknown",
        "status_changed_at": _iso(consent.status_changed_at) if consent is not None else None,
    }
