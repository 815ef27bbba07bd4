"""Shared fixtures: named personas and an isolated key directory for every test."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from rest_framework.test import APIClient

from tests.factories import OrganisationFactory, UserFactory


@pytest.fixture(autouse=True)
def _isolated_node_files(settings: Any, tmp_path: Any) -> None:
    """Each test gets its own key directory; nothing touches the developer's var/."""
    settings.NODE_KEY_DIR = tmp_path / "keys"


@pytest.fixture(autouse=True)
def _french_again() -> Any:
    """A test that switches the language (a request through LocaleMiddleware, translation.override
    left open) must not leave the next test in the same process speaking English."""
    from django.conf import settings
    from django.utils import translation

    yield
    translation.activate(settings.LANGUAGE_CODE)


@pytest.fixture(autouse=True)
def _fresh_policy_cache() -> Any:
    """Compiled policies never outlive a test: its transaction is rolled back, the per-process
    cache of compiled policies (and the generation number in the Django cache) is not."""
    from policies.pdp import forget_compiled_policies
    from policies.services import bump_policy_generation

    forget_compiled_policies()
    bump_policy_generation()
    yield
    forget_compiled_policies()


@pytest.fixture
def structure(db: Any) -> Any:
    """The structure that runs this node and owns its data."""
    return OrganisationFactory(name="Théâtre des Essais", siret="73282932000074")


@pytest.fixture
def staff_user(db: Any) -> Any:
    """The node's operator, logged in: a superuser, who writes every owner's data.

    Role-based staff (administrator / editor / reader of one structure) are built in the tests of
    dataspace.api.permissions with `StaffMembership`.
    """
    return UserFactory(username="admin-structure", is_staff=True, is_superuser=True)


@pytest.fixture
def outsider_user(db: Any) -> Any:
    """A logged-in account that is not the structure's staff."""
    return UserFactory(username="outsider", is_staff=False)


@pytest.fixture
def anon_client() -> APIClient:
    return APIClient()


@pytest.fixture
def staff_client(staff_user: Any) -> APIClient:
    client = APIClient(enforce_csrf_checks=False)
    client.force_login(staff_user)
    return client


@pytest.fixture
def outsider_client(outsider_user: Any) -> APIClient:
    client = APIClient()
    client.force_login(outsider_user)
    return client


def node_signing_key() -> Any:
    """The node's signing key in the test's key directory, created on first use."""
    from dataspace.node import keys

    existing = keys.load_keys()
    return existing[0] if existing else keys.generate_key("20260101T000000Z")


def mint_token(
    oauth_client: Any, scopes: Any, *, user: Any = None, lifetime: int | None = None, **claims: Any
) -> tuple[str, Any]:
    """A signed access token of this node for `oauth_client` and its IssuedToken row."""
    import datetime as dt

    from dataspace.oauth.models import IssuedToken
    from dataspace.oauth.tokens import build_claims, encode_access_token

    node_signing_key()
    scope_list = scopes.split() if isinstance(scopes, str) else list(scopes)
    body = build_claims(
        client_id=oauth_client.client_id,
        scopes=scope_list,
        user_id=user.pk if user is not None else None,
        lifetime=lifetime,
    )
    body.update(claims)
    issued = IssuedToken.objects.create(
        jti=body["jti"],
        client=oauth_client,
        user=user,
        scope=" ".join(scope_list),
        issued_at=dt.datetime.fromtimestamp(body["iat"], tz=dt.UTC),
        expires_at=dt.datetime.fromtimestamp(body["exp"], tz=dt.UTC),
    )
    return encode_access_token(body), issued


@pytest.fixture
def bearer_client(db: Any) -> Any:
    """Factory: `bearer_client("referentials:read", kind="reader", owner=org, user=None)`.

    Registers an OAuth client (a depositor by default, owned by a new organisation unless `owner`
    is given, bound to `user` for a personal API key), mints an access token with those scopes and
    returns an APIClient sending it. The client has `.oauth_client`, `.token`, `.issued` (the
    IssuedToken row, to revoke) and `.owner`.
    """
    import itertools

    from dataspace.oauth.models import Client

    counter = itertools.count(1)

    def make(
        scopes: Any = "referentials:read",
        *,
        kind: str = "depositor",
        owner: Any = None,
        user: Any = None,
        lifetime: int | None = None,
    ) -> APIClient:
        scope_list = scopes.split() if isinstance(scopes, str) else list(scopes)
        oauth_client = Client.objects.create(
            client_id=f"test-client-{next(counter)}",
            name="Logiciel de test",
            owner=owner or OrganisationFactory(),
            kind=kind,
            allowed_scopes=scope_list,
            grant_types=["client_credentials"],
            user=user,
        )
        token, issued = mint_token(oauth_client, scope_list, user=user, lifetime=lifetime)
        api = APIClient()
        api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        api.oauth_client = oauth_client  # type: ignore[attr-defined]
        api.token = token  # type: ignore[attr-defined]
        api.issued = issued  # type: ignore[attr-defined]
        api.owner = oauth_client.owner  # type: ignore[attr-defined]
        return api

    return make


@pytest.fixture
def sync_client(bearer_client: Any) -> APIClient:
    """A partner node reading the change feed: a reader token with `federation:sync` (and
    `referentials:read`, to compare with the API's own representations)."""
    client: APIClient = bearer_client("federation:sync referentials:read", kind="reader")
    return client


# A real Celery worker for the tests marked `worker` (started only when REDIS_URL is set).
pytest_plugins = ["tests.plugins.celery_worker"]


def fresh_throttles(monkeypatch: pytest.MonkeyPatch) -> None:
    """Throttle counters of this test's own (new key namespaces). Not `cache.clear()`: on Redis it
    flushes the counters of the tests the other xdist worker is running at the same moment."""
    from dataspace.consent import portal
    from dataspace.node import throttling

    run = uuid.uuid4().hex
    monkeypatch.setattr(portal, "_THROTTLE_PREFIX", f"portal-link:test-{run}")
    monkeypatch.setattr(throttling, "_PREFIX", f"login-throttle:test-{run}")
