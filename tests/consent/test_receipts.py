"""Consent receipts: signed by the node key, checked against its published keys, current status."""

from __future__ import annotations

import base64
import datetime as dt
import json
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from joserfc import jws
from joserfc.jwk import OKPKey

from dataspace.consent import receipts, services
from dataspace.node import keys
from tests.conftest import mint_token, node_signing_key
from tests.consent.core_factories import directory_entry, grant_contact, grant_directory, notice, person

pytestmark = pytest.mark.django_db


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@pytest.fixture
def consent(structure: Any) -> Any:
    node_signing_key()
    user = person()
    return grant_directory(structure, directory_entry(structure, user), user=user)


def test_receipt_is_a_jws_signed_by_the_node_key_with_the_27560_shape(consent: Any, structure: Any) -> None:
    signed = receipts.receipt_for(consent)
    header_part, payload_part, _signature = signed.split(".")
    header = json.loads(_unb64(header_part))
    assert header == {"alg": "Ed25519", "kid": keys.signing_key().kid, "typ": "consent-receipt+jws"}
    payload = json.loads(_unb64(payload_part))
    assert payload["version"] == "ISO/IEC TS 27560:2023"
    assert payload["jurisdiction"] == "FR"
    assert isinstance(payload["iat"], int)
    assert payload["receipt_id"]
    assert payload["consent_id"] == str(consent.pk)
    assert payload["controller"] == {"name": structure.name, "uri": structure.uri, "siret": "73282932000074"}
    assert payload["subject"]["id"].startswith("urn:scene-commune:subject:")
    assert "camille" not in json.dumps(payload)  # neither the email nor the username
    assert payload["purposes"][0]["code"] == "professional_directory"
    assert payload["purposes"][0]["dpv"].startswith("dpv:")
    assert payload["purposes"][0]["label"]
    assert {c["dpv"] for c in payload["data_categories"]} >= {"dpv-pd:Name", "dpv-pd:EmailAddress"}
    assert payload["fields"] == consent.fields
    assert payload["recipients"][0]["code"] == "licensed_professionals"
    assert payload["legal_basis"] == "dpv:Consent"
    assert payload["notice"]["sha256"] == consent.notice.sha256
    assert payload["notice"]["version"] == consent.notice.version
    assert payload["method"] == "portal"
    assert payload["given_at"].endswith("Z")
    assert payload["expires_at"] is None
    assert payload["status"] == "given"
    assert [step["status"] for step in payload["status_history"]] == ["given"]


def test_a_receipt_verifies_and_tells_the_current_status(consent: Any) -> None:
    signed = receipts.receipt_for(consent)
    checked = receipts.verify_receipt(signed)
    assert checked["current_status"] == "given"
    assert checked["payload"]["consent_id"] == str(consent.pk)
    assert checked["kid"] == keys.signing_key().kid

    services.withdraw_consent(consent)
    later = receipts.verify_receipt(signed)  # the same, older receipt: authentic, but withdrawn now
    assert later["payload"]["status"] == "given"
    assert later["current_status"] == "withdrawn"
    assert receipts.verify_receipt(receipts.receipt_for(consent))["payload"]["status_history"][-1]["status"] == (
        "withdrawn"
    )


def test_a_lapsed_consent_reads_expired_before_the_task_marks_it(structure: Any) -> None:
    node_signing_key()
    now = dt.datetime.now(tz=dt.UTC)
    lapsing = grant_contact(structure, now=now - dt.timedelta(days=2))
    services.renew_consent(lapsing, expires_at=now + dt.timedelta(hours=1), now=now - dt.timedelta(days=1))
    signed = receipts.receipt_for(lapsing)
    assert receipts.verify_receipt(signed)["current_status"] == "renewed"
    assert receipts.verify_receipt(signed, now=now + dt.timedelta(hours=2))["current_status"] == "expired"


def test_an_altered_payload_is_refused(consent: Any) -> None:
    header_part, payload_part, signature = receipts.receipt_for(consent).split(".")
    payload = json.loads(_unb64(payload_part))
    payload["fields"].append("contact_phone")
    forged = ".".join([header_part, _b64(json.dumps(payload).encode()), signature])
    with pytest.raises(receipts.ReceiptError):
        receipts.verify_receipt(forged)


def _sign_with(private: Ed25519PrivateKey, kid: str, payload: dict[str, Any]) -> str:
    key = OKPKey.import_key(private, {"kid": kid})
    header = {"alg": "Ed25519", "kid": kid, "typ": "consent-receipt+jws"}
    return jws.serialize_compact(header, json.dumps(payload).encode(), key, algorithms=["Ed25519"])


def test_a_receipt_signed_by_a_foreign_key_is_refused(consent: Any) -> None:
    payload = json.loads(_unb64(receipts.receipt_for(consent).split(".")[1]))
    foreign = Ed25519PrivateKey.generate()
    for kid in (keys.signing_key().kid, "unknown-key"):  # posing as the node's key, or naming another
        with pytest.raises(receipts.ReceiptError):
            receipts.verify_receipt(_sign_with(foreign, kid, payload))
    genuine = _sign_with(keys.signing_key().private_key, keys.signing_key().kid, payload)
    assert receipts.verify_receipt(genuine)["current_status"] == "given"


def test_a_receipt_signed_before_a_key_rotation_still_verifies(consent: Any) -> None:
    old_kid = keys.signing_key().kid
    signed = receipts.receipt_for(consent)
    keys.generate_key("20991231T000000Z")  # newer file name: the new signing key
    assert keys.signing_key().kid != old_kid
    assert receipts.verify_receipt(signed)["kid"] == old_kid
    assert json.loads(_unb64(receipts.receipt_for(consent).split(".")[0]))["kid"] == keys.signing_key().kid


def test_other_signed_objects_and_garbage_are_not_receipts(consent: Any, structure: Any) -> None:
    from dataspace.oauth.models import Client

    client = Client.objects.create(client_id="c1", name="c1", owner=structure)
    access_token, _issued = mint_token(client, "referentials:read")
    for candidate in (access_token, "not.a.receipt", "abc", ""):
        with pytest.raises(receipts.ReceiptError):
            receipts.verify_receipt(candidate)


def test_a_receipt_naming_an_unknown_consent_is_authentic_but_unknown(consent: Any, structure: Any) -> None:
    notice(structure, "contact")
    payload = json.loads(_unb64(receipts.receipt_for(consent).split(".")[1]))
    payload["consent_id"] = "00000000-0000-0000-0000-000000000000"
    signed = _sign_with(keys.signing_key().private_key, keys.signing_key().kid, payload)
    assert receipts.verify_receipt(signed)["current_status"] == "unknown"


# ---------------------------------------------------------------------------- admin


def _admin_client(organisation: Any, role: str, username: str) -> Any:
    from django.test import Client as BrowserClient

    from dataspace.node.models import StaffMembership
    from tests.factories import UserFactory

    user = UserFactory(username=username, is_staff=True)
    StaffMembership.objects.create(user=user, organisation=organisation, role=role)
    browser = BrowserClient()
    browser.force_login(user)
    return browser


def test_the_admin_lists_consents_and_downloads_their_receipt(consent: Any, structure: Any) -> None:
    from tests.factories import OrganisationFactory

    browser = _admin_client(structure, "reader", "lecteur-structure")
    listing = browser.get("/admin/consent/consentrecord/")
    assert listing.status_code == 200
    url = f"/admin/consent/consentrecord/{consent.pk}/receipt/"
    assert url.encode() in listing.content
    download = browser.get(url)
    assert download.status_code == 200
    assert download["Content-Type"] == "application/jose"
    assert receipts.verify_receipt(download.content.decode())["payload"]["consent_id"] == str(consent.pk)
    assert browser.get(f"/admin/consent/consentrecord/{consent.pk}/change/").status_code == 200

    elsewhere = _admin_client(OrganisationFactory(), "administrator", "admin-ailleurs")
    assert elsewhere.get(url).status_code == 404
    assert url.encode() not in elsewhere.get("/admin/consent/consentrecord/").content


def test_a_structure_administrator_publishes_a_notice_in_the_admin(structure: Any) -> None:
    from dataspace.consent.models import Notice

    browser = _admin_client(structure, "administrator", "admin-structure-notice")
    answer = browser.post(
        "/admin/consent/notice/add/",
        {"controller": str(structure.pk), "kind": "contact", "version": "v-admin", "text": "Texte publié"},
    )
    assert answer.status_code == 302, answer.content[:2000]
    published = Notice.objects.get(version="v-admin")
    assert published.sha256 == services.notice_digest("Texte publié")
    reader = _admin_client(structure, "reader", "lecteur-notice")
    assert reader.get("/admin/consent/notice/add/").status_code == 403
