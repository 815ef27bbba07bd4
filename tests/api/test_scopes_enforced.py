"""Scopes on /api/v1/: public reads, insufficient_scope, the change feed, failing closed."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest
from django.urls import get_resolver
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.test import APIClient, APIRequestFactory
from rest_framework.views import APIView

from dataspace.node.models import StaffMembership
from dataspace.referentials.api.urls import ROUTES
from tests.api.test_schema_and_scopes import _view_class, _walk
from tests.factories import OrganisationFactory, PerformanceFactory, UserFactory, WorkFactory

pytestmark = pytest.mark.django_db

FEED = "/api/v1/changes"


def assert_insufficient_scope(response: Any, scope: str) -> None:
    assert response.status_code == 403, response.content
    header = response["WWW-Authenticate"]
    assert header.startswith('Bearer realm="')
    assert 'error="insufficient_scope"' in header
    assert f'scope="{scope}"' in header
    body = response.json()
    assert body["error"] == "insufficient_scope"
    assert body["scope"] == scope
    assert scope in body["detail"]


# ---------------------------------------------------------------------------- the public programme


@pytest.mark.parametrize(("prefix", "_viewset"), ROUTES)
def test_public_programme_is_readable_without_credentials(anon_client: APIClient, prefix: str, _viewset: Any) -> None:
    assert anon_client.get(f"/api/v1/{prefix}/").status_code == 200


def test_public_detail_context_root_and_ical_are_readable_anonymously(anon_client: APIClient) -> None:
    performance = PerformanceFactory()
    assert anon_client.get(f"/api/v1/performances/{performance.pk}/").status_code == 200
    assert anon_client.get("/api/v1/context.jsonld").status_code == 200
    assert anon_client.get("/api/v1/").status_code == 200
    assert anon_client.get("/feeds/performances.ics").status_code == 200


def test_options_stay_hidden_from_anonymous_readers(anon_client: APIClient) -> None:
    option = PerformanceFactory(status="option")
    assert anon_client.get(f"/api/v1/performances/{option.pk}/").status_code == 404


def test_presented_token_must_carry_the_read_scope(bearer_client: Any) -> None:
    work = WorkFactory()
    refused = bearer_client("federation:sync", kind="reader")
    assert_insufficient_scope(refused.get("/api/v1/works/"), "referentials:read")
    assert_insufficient_scope(refused.get(f"/api/v1/works/{work.pk}/"), "referentials:read")
    allowed = bearer_client("referentials:read", kind="reader")
    assert allowed.get("/api/v1/works/").status_code == 200
    assert allowed.get(f"/api/v1/works/{work.pk}/").status_code == 200


def test_write_needs_the_write_scope(bearer_client: Any) -> None:
    api = bearer_client("referentials:read")
    response = api.post("/api/v1/works/", {"title": "Sans portée"}, format="json")
    assert_insufficient_scope(response, "referentials:write")
    allowed = bearer_client("referentials:write")
    assert allowed.post("/api/v1/works/", {"title": "Avec portée"}, format="json").status_code == 201


def test_only_the_programme_opts_into_anonymous_reads() -> None:
    """`public_read` is opt-in: only the referentials (with their context and root), the policy
    profile and templates (public vocabulary), the registry's terms of use, the DCAT catalog and
    the signed member list (both public by the federation protocol) and the indicator catalogue
    (public vocabulary of the ministry node) take it."""
    from dataspace.directory.api.views import TermsView
    from dataspace.indicators.api.catalogue import IndicatorCatalogueView
    from dataspace.referentials.api.urls import ScopedAPIRootView
    from dataspace.referentials.api.views import JSONLDContextView
    from federation.api.catalog import CatalogView
    from federation.api.membership import MembersView
    from policies.api.views import ProfileView, TemplateListView

    api_views = {
        _view_class(callback) for route, callback in _walk(get_resolver().url_patterns) if route.startswith("api/v1/")
    }
    public = {view for view in api_views if getattr(view, "public_read", False)}
    expected = {viewset for _prefix, viewset in ROUTES} | {
        JSONLDContextView,
        ScopedAPIRootView,
        ProfileView,
        TemplateListView,
        TermsView,
        CatalogView,
        MembersView,
        IndicatorCatalogueView,
    }
    assert public == expected, sorted(view.__name__ for view in public ^ expected)
    assert not any(getattr(view, "public_read", False) for view in api_views - expected)


# ---------------------------------------------------------------------------- the change feed


def test_feed_refuses_anonymous_readers(anon_client: APIClient) -> None:
    response = anon_client.get(FEED)
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_feed_with_federation_sync(bearer_client: Any) -> None:
    assert bearer_client("federation:sync", kind="reader").get(FEED).status_code == 200


def test_feed_refuses_a_token_without_federation_sync(bearer_client: Any) -> None:
    assert_insufficient_scope(bearer_client("referentials:read", kind="reader").get(FEED), "federation:sync")


def test_feed_is_open_to_node_staff_sessions_only(staff_client: APIClient, outsider_client: APIClient) -> None:
    assert staff_client.get(FEED).status_code == 200
    response = outsider_client.get(FEED)
    assert response.status_code == 403
    assert response.json()["error"] == "permission_denied"


def test_feed_is_open_to_a_structure_reader_role(db: Any) -> None:
    person = UserFactory(username="lectrice")
    StaffMembership.objects.create(user=person, organisation=OrganisationFactory(), role="reader")
    api = APIClient()
    api.force_login(person)
    assert api.get(FEED).status_code == 200


def test_feed_is_read_only_even_with_a_token(bearer_client: Any) -> None:
    assert bearer_client("federation:sync referentials:write").post(FEED, {}, format="json").status_code == 405


# ---------------------------------------------------------------------------- failing closed


class _Undeclared(APIView):
    def get(self, request: Request) -> Response:
        return Response({"leaked": True})


class _Declared(APIView):
    required_scopes: ClassVar[dict[str, str]] = {"read": "journal:read"}

    def get(self, request: Request) -> Response:
        return Response({"ok": True})


def test_view_without_required_scopes_refuses_everyone(staff_user: Any) -> None:
    request = APIRequestFactory().get("/api/v1/undeclared")
    response = _Undeclared.as_view()(request)
    assert response.status_code == 403
    assert response.data["error"] == "no_scope_declared"
    staff_request = APIRequestFactory().get("/api/v1/undeclared")
    from rest_framework.test import force_authenticate

    force_authenticate(staff_request, user=staff_user)
    assert _Undeclared.as_view()(staff_request).status_code == 403


def test_view_without_public_read_needs_credentials(bearer_client: Any) -> None:
    response = _Declared.as_view()(APIRequestFactory().get("/api/v1/declared"))
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer realm=")
    api = bearer_client("journal:read", kind="reader")
    request = APIRequestFactory().get("/api/v1/declared", HTTP_AUTHORIZATION=f"Bearer {api.token}")
    assert _Declared.as_view()(request).status_code == 200


def test_every_declared_scope_is_a_scope_of_the_node() -> None:
    from dataspace.oauth.scopes import SCOPES

    declared = {
        (getattr(_view_class(callback), "__name__", "?"), scope)
        for route, callback in _walk(get_resolver().url_patterns)
        if route.startswith("api/v1/")
        for scope in (getattr(_view_class(callback), "required_scopes", None) or {}).values()
    }
    assert declared
    unknown = sorted(item for item in declared if item[1] not in SCOPES)
    assert not unknown, unknown
