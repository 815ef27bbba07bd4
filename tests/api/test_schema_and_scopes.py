"""OpenAPI schema (drf-spectacular) and the policy declaration every /api/v1/ view must carry."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from django.core.management import call_command
from django.urls import URLPattern, URLResolver, get_resolver

from dataspace.referentials.api.urls import ROUTES

pytestmark = pytest.mark.django_db


def test_schema_lists_every_collection(client: Any) -> None:
    response = client.get("/api/schema/")
    assert response.status_code == 200
    schema = yaml.safe_load(response.content)
    paths = schema["paths"]
    for prefix, _viewset in ROUTES:
        assert f"/api/v1/{prefix}/" in paths, prefix
        assert f"/api/v1/{prefix}/{{id}}/" in paths, prefix
        assert {"get", "post"} <= set(paths[f"/api/v1/{prefix}/"])
        assert {"get", "put", "patch", "delete"} <= set(paths[f"/api/v1/{prefix}/{{id}}/"])
    assert "/api/v1/technical-sheets/{id}/revisions/" in paths
    create = paths["/api/v1/performances/"]["post"]
    assert any(p["name"] == "Idempotency-Key" and p["in"] == "header" for p in create["parameters"])
    update = paths["/api/v1/performances/{id}/"]["patch"]
    assert any(p["name"] == "If-Match" for p in update["parameters"])
    listing = paths["/api/v1/performances/"]["get"]
    names = {p["name"] for p in listing["parameters"]}
    assert {"cursor", "page_size", "ordering", "search", "start_after", "start_before", "venue", "status"} <= names


def test_docs_page_is_served(client: Any) -> None:
    response = client.get("/api/docs/")
    assert response.status_code == 200
    assert b"swagger" in response.content.lower()


def test_spectacular_validates_with_no_warning(tmp_path: Any) -> None:
    target = tmp_path / "schema.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(target))
    assert "/api/v1/performances/" in target.read_text()


def _walk(patterns: list[Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    for entry in patterns:
        if isinstance(entry, URLResolver):
            yield from _walk(entry.url_patterns, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            yield prefix + str(entry.pattern), entry.callback


def _view_class(callback: Any) -> Any:
    return getattr(callback, "cls", None) or getattr(callback, "view_class", None) or callback


def test_every_api_v1_view_declares_its_required_scopes() -> None:
    api_views = [
        (route, _view_class(cb)) for route, cb in _walk(get_resolver().url_patterns) if route.startswith("api/v1/")
    ]
    assert len(api_views) > 20
    missing = sorted(
        {
            f"{route} ({getattr(view, '__name__', view)})"
            for route, view in api_views
            if not isinstance(getattr(view, "required_scopes", None), dict) or "read" not in view.required_scopes
        }
    )
    assert not missing, f"views under /api/v1/ without required_scopes: {missing}"


def test_referential_viewsets_declare_read_and_write_scopes() -> None:
    for _prefix, viewset in ROUTES:
        assert viewset.required_scopes == {"read": "referentials:read", "write": "referentials:write"}
