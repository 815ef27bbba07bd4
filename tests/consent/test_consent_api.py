"""/api/v1/consents: the controller records, lists, renews, withdraws; the person withdraws their own;
anyone verifies a receipt. Each allowed case sits beside its refused one."""

from __future__ import annotations

import json
from typing import Any

import pytest
from rest_framework.test import APIClient

from dataspace.consent import receipts
from dataspace.consent.models import ConsentRecord
from dataspace.node.models import StaffMembership
from tests.conftest import node_signing_key
from tests.consent.core_factories import (
    DIRECTORY_CATEGORIES,
    DIRECTORY_FIELDS,
    directory_entry,
    grant_directory,
    notice,
    person,
)
from tests.factories import OrganisationFactory, UserFactory

pytestmark = pytest.mark.django_db

LIST = "/api/v1/consents"


@pytest.fixture(autouse=True)
def _keys() -> None:
    node_signing_key()


def _staff(organisation: Any, role: str = "editor", username: str = "") -> APIClient:
    user = UserFactory(username=username or f"{role}-{organisation.pk.hex[:6]}")
    StaffMembership.objects.create(user=user, organisation=organisation, role=role)
    api = APIClient()
    api.force_login(user)
    return api


def _as_person(user: Any) -> APIClient:
    api = APIClient()
    api.force_login(user)
    return api


def _body(structure: Any, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "controller": str(structure.pk),
        "target_type": "directory-entry",
        "target_id": str(directory_entry(structure).pk),
        "purposes": ["professional_directory"],
        "data_categories": DIRECTORY_CATEGORIES,
        "fields": DIRECTORY_FIELDS,
        "recipients": ["licensed_professionals"],
        "method": "paper",
        "subject_email": "camille@example.org",
    }
    body.update(changes)
    return body


# ---------------------------------------------------------------------------- recording


def test_the_structures_editor_records_a_consent_with_its_current_notice(structure: Any) -> None:
    the_notice = notice(structure)
    answer = _staff(structure).post(LIST, _body(structure), format="json")
    assert answer.status_code == 201, answer.content
    data = answer.json()
    assert data["status"] == "given"
    assert data["in_force"] is True
    assert data["notice"]["sha256"] == the_notice.sha256
    assert data["events"][0]["status"] == "given"
    assert ConsentRecord.objects.get(pk=data["id"]).method == "paper"


def test_a_retried_recording_with_the_same_idempotency_key_records_once(structure: Any, bearer_client: Any) -> None:
    notice(structure)
    api = bearer_client("consent:manage", owner=structure)
    body = _body(structure)
    first = api.post(LIST, body, format="json", HTTP_IDEMPOTENCY_KEY="recueil-42")
    again = api.post(LIST, body, format="json", HTTP_IDEMPOTENCY_KEY="recueil-42")
    assert first.status_code == again.status_code == 201
    assert again.json()["id"] == first.json()["id"]
    assert ConsentRecord.objects.count() == 1
    assert (
        api.get(LIST, {"status": "given", "target_type": "directory-entry"}).json()["results"][0]["id"]
        == (first.json()["id"])
    )
    bad_filter = api.get(LIST, {"target_id": "not-a-uuid"})
    assert bad_filter.status_code == 400
    assert "target_id" in bad_filter.json()["fields"]


def test_a_reader_of_the_structure_may_not_record(structure: Any) -> None:
    notice(structure)
    answer = _staff(structure, role="reader").post(LIST, _body(structure), format="json")
    assert answer.status_code == 403
    assert not ConsentRecord.objects.exists()


def test_an_invalid_consent_is_a_400_naming_the_field(structure: Any) -> None:
    notice(structure)
    answer = _staff(structure).post(LIST, _body(structure, purposes=["newsletter"]), format="json")
    assert answer.status_code == 400
    assert "purposes" in answer.json()["fields"]
    without_notice = OrganisationFactory()  # a structure that published no notice
    answer = _staff(without_notice).post(LIST, _body(without_notice), format="json")
    assert answer.status_code == 400
    assert "notice" in answer.json()["fields"]


def test_recording_for_another_structure_is_refused(structure: Any) -> None:
    other = OrganisationFactory()
    notice(other)
    answer = _staff(structure).post(LIST, _body(other), format="json")
    assert answer.status_code == 403
    assert "owner" in answer.json()["fields"]


def test_a_depositor_client_records_and_lists_only_its_structures_consents(structure: Any, bearer_client: Any) -> None:
    notice(structure)
    api = bearer_client("consent:manage", owner=structure)
    answer = api.post(LIST, _body(structure), format="json")
    assert answer.status_code == 201, answer.content
    other = OrganisationFactory()
    grant_directory(other, directory_entry(other))
    listed = api.get(LIST).json()["results"]
    assert [c["id"] for c in listed] == [answer.json()["id"]]


def test_no_scope_no_token_and_reader_clients_are_refused(structure: Any, bearer_client: Any) -> None:
    notice(structure)
    without_scope = bearer_client("referentials:read referentials:write", owner=structure)
    answer = without_scope.post(LIST, _body(structure), format="json")
    assert answer.status_code == 403
    assert answer.json()["error"] == "insufficient_scope"
    assert without_scope.get(LIST).status_code == 403
    assert APIClient().get(LIST).status_code == 401
    assert APIClient().post(LIST, _body(structure), format="json").status_code == 401
    reader = bearer_client("consent:manage", kind="reader", owner=structure)
    assert reader.post(LIST, _body(structure), format="json").status_code == 403
    assert not ConsentRecord.objects.exists()


# ---------------------------------------------------------------------------- the controller's other routes


def test_the_controller_renews_and_withdraws_another_structure_gets_404(structure: Any) -> None:
    consent = grant_directory(structure, directory_entry(structure))
    outsider = _staff(OrganisationFactory(), username="editor-elsewhere")
    assert outsider.post(f"{LIST}/{consent.pk}/renew", {}, format="json").status_code == 404
    assert outsider.post(f"{LIST}/{consent.pk}/withdraw", {}, format="json").status_code == 404
    assert outsider.get(f"{LIST}/{consent.pk}").status_code == 404
    assert outsider.get(LIST).json()["results"] == []

    editor = _staff(structure)
    renewed = editor.post(f"{LIST}/{consent.pk}/renew", {"expires_at": "2099-01-01T00:00:00Z"}, format="json")
    assert renewed.status_code == 200
    assert renewed.json()["status"] == "renewed"
    withdrawn = editor.post(f"{LIST}/{consent.pk}/withdraw", {"note": "demande écrite"}, format="json")
    assert withdrawn.status_code == 200
    assert withdrawn.json()["status"] == "withdrawn"
    again = editor.post(f"{LIST}/{consent.pk}/withdraw", {}, format="json")
    assert again.status_code == 400
    assert "status" in again.json()["fields"]


# ---------------------------------------------------------------------------- the person


def test_a_person_lists_and_withdraws_their_own_consents_only(structure: Any) -> None:
    camille = person()
    dominique = person("dominique", "dominique@example.org")
    mine = grant_directory(structure, directory_entry(structure, camille), user=camille)
    theirs = grant_directory(structure, directory_entry(structure, dominique, "Dominique"), user=dominique)
    api = _as_person(camille)

    assert [c["id"] for c in api.get(f"{LIST}/mine").json()["results"]] == [str(mine.pk)]
    assert api.post(f"{LIST}/{theirs.pk}/withdraw", {}, format="json").status_code == 404
    assert api.get(f"{LIST}/{theirs.pk}").status_code == 404
    assert api.get(f"{LIST}/{theirs.pk}/receipt").status_code == 404
    theirs.refresh_from_db()
    assert theirs.status == "given"

    assert api.post(f"{LIST}/{mine.pk}/renew", {}, format="json").status_code == 403  # the controller renews
    answer = api.post(f"{LIST}/{mine.pk}/withdraw", {}, format="json")
    assert answer.status_code == 200
    mine.refresh_from_db()
    assert mine.status == "withdrawn"
    assert api.get(LIST).status_code == 403  # not the structure's staff: the list is theirs, not the person's


def test_a_consent_recorded_on_paper_for_the_persons_entry_is_theirs(structure: Any) -> None:
    camille = person()
    entry = directory_entry(structure, camille)
    on_paper = grant_directory(structure, entry)  # recorded by the structure: no account on the consent
    api = _as_person(camille)
    assert [c["id"] for c in api.get(f"{LIST}/mine").json()["results"]] == [str(on_paper.pk)]
    assert api.post(f"{LIST}/{on_paper.pk}/withdraw", {}, format="json").status_code == 200
    assert _as_person(person("dominique", "d@example.org")).get(f"{LIST}/mine").json()["results"] == []


def test_a_persons_reader_app_withdraws_for_them_without_being_a_depositor(structure: Any, bearer_client: Any) -> None:
    camille = person()
    consent = grant_directory(structure, directory_entry(structure, camille), user=camille)
    app = bearer_client("consent:manage", kind="reader", owner=structure, user=camille)
    assert app.get(f"{LIST}/mine").status_code == 200
    assert app.post(f"{LIST}/{consent.pk}/withdraw", {}, format="json").status_code == 200
    without_scope = bearer_client("directory:search", kind="reader", user=person("dominique", "d@example.org"))
    assert without_scope.get(f"{LIST}/mine").status_code == 403


def test_a_machine_client_has_no_consents_of_its_own(bearer_client: Any) -> None:
    assert bearer_client("consent:manage").get(f"{LIST}/mine").status_code == 403
    assert APIClient().get(f"{LIST}/mine").status_code == 401


# ---------------------------------------------------------------------------- receipts


def test_the_person_downloads_their_receipt_as_jose_or_json(structure: Any) -> None:
    camille = person()
    consent = grant_directory(structure, directory_entry(structure, camille), user=camille)
    api = _as_person(camille)
    answer = api.get(f"{LIST}/{consent.pk}/receipt")
    assert answer.status_code == 200
    assert answer["Content-Type"] == "application/jose"
    signed = answer.content.decode()
    assert receipts.verify_receipt(signed)["payload"]["consent_id"] == str(consent.pk)
    wrapped = api.get(f"{LIST}/{consent.pk}/receipt?format=json")
    assert wrapped.status_code == 200
    assert wrapped.json()["media_type"] == "application/jose"
    assert receipts.verify_receipt(wrapped.json()["receipt"])["current_status"] == "given"
    assert _staff(structure, role="reader").get(f"{LIST}/{consent.pk}/receipt").status_code == 200
    assert APIClient().get(f"{LIST}/{consent.pk}/receipt").status_code == 401


def test_anyone_verifies_a_receipt_and_forgeries_are_400(structure: Any) -> None:
    consent = grant_directory(structure, directory_entry(structure))
    signed = receipts.receipt_for(consent)
    anonymous = APIClient()
    answer = anonymous.post(f"{LIST}/verify", {"receipt": signed}, format="json")
    assert answer.status_code == 200
    assert answer.json()["valid"] is True
    assert answer.json()["current_status"] == "given"
    assert answer.json()["payload"]["consent_id"] == str(consent.pk)

    header, payload, signature = signed.split(".")
    tampered = ".".join([header, payload[:-4] + ("AAAA" if payload[-4:] != "AAAA" else "BBBB"), signature])
    for bad in (tampered, "garbage", json.dumps({"x": 1})):
        refused = anonymous.post(f"{LIST}/verify", {"receipt": bad}, format="json")
        assert refused.status_code == 400
        assert refused.json()["valid"] is False
        assert refused.json()["reason"]
    assert anonymous.post(f"{LIST}/verify", {}, format="json").status_code == 400

    _staff(structure).post(f"{LIST}/{consent.pk}/withdraw", {}, format="json")
    after = anonymous.post(f"{LIST}/verify", {"receipt": signed}, format="json").json()
    assert after["valid"] is True
    assert after["current_status"] == "withdrawn"
