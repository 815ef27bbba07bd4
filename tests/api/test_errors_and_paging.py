"""The shared API machinery: error documents, conditional-request helpers, cursor paging."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import IntegrityError
from django.db.models import ProtectedError
from rest_framework import exceptions
from rest_framework.test import APIClient, APIRequestFactory

from dataspace.api.errors import Gone, exception_handler
from dataspace.api.mixins import if_match_fails, if_none_match_hits, record_etag
from dataspace.api.pagination import CursorPagination
from dataspace.api.renderers import JSONLDRenderer


def test_validation_error_document_names_fields() -> None:
    response = exception_handler(exceptions.ValidationError({"siret": ["bad"], "start": ["worse"]}), {})
    assert response is not None
    assert response.status_code == 400
    assert response.data == {
        "error": "invalid",
        "detail": "Invalid value(s) for: siret, start.",
        "fields": {"siret": ["bad"], "start": ["worse"]},
    }


def test_gone_carries_extra_members() -> None:
    response = exception_handler(Gone("deleted", extra={"tombstone": {"op": "delete"}}), {})
    assert response is not None
    assert response.status_code == 410
    assert response.data == {"error": "gone", "detail": "deleted", "fields": {}, "tombstone": {"op": "delete"}}


def test_database_errors_that_escape_are_not_500() -> None:
    integrity = exception_handler(IntegrityError("UNIQUE constraint failed"), {})
    assert integrity is not None
    assert integrity.status_code == 400
    protected = exception_handler(ProtectedError("protected", set()), {})
    assert protected is not None
    assert protected.status_code == 409
    assert protected.data["error"] == "conflict"


def test_etag_comparisons() -> None:
    class Rec:
        pk = "abc"
        version = 3

    etag = record_etag(Rec())
    assert etag == '"abc-3"'
    assert if_none_match_hits(etag, etag)
    assert if_none_match_hits(f'W/{etag}, "x"', etag)
    assert if_none_match_hits("*", etag)
    assert not if_none_match_hits('"abc-2"', etag)
    assert not if_none_match_hits(None, etag)
    assert not if_match_fails(None, etag)
    assert not if_match_fails(etag, etag)
    assert not if_match_fails("*", etag)
    assert if_match_fails(f"W/{etag}", etag)
    assert if_match_fails('"abc-2"', etag)


def test_page_size_parsing() -> None:
    from rest_framework.request import Request

    paginator = CursorPagination()
    factory = APIRequestFactory()
    assert paginator.get_page_size(Request(factory.get("/x"))) == 50
    assert paginator.get_page_size(Request(factory.get("/x", {"page_size": "7"}))) == 7
    assert paginator.get_page_size(Request(factory.get("/x", {"page_size": "9999"}))) == 500
    with pytest.raises(exceptions.ValidationError):
        paginator.get_page_size(Request(factory.get("/x", {"page_size": "many"})))


def test_json_ld_renderer_renders_empty_answers_empty() -> None:
    assert JSONLDRenderer().render(None, renderer_context={}) == b""


@pytest.mark.django_db
def test_error_under_csv_format_is_json(anon_client: Any) -> None:
    response = anon_client.get("/api/v1/persons/?format=csv&cursor=bogus")
    assert response.status_code == 400
    assert response["Content-Type"].startswith("application/json")
    assert response.json()["fields"] == {"cursor": ["Invalid cursor."]}


@pytest.mark.django_db
def test_incomplete_global_uri_is_404_json(anon_client: APIClient) -> None:
    response = anon_client.get("/id/venue")
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"
