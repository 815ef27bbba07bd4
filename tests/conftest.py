"""Shared fixtures: named personas and an isolated key directory for every test."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from tests.factories import OrganisationFactory, UserFactory


@pytest.fixture(autouse=True)
def _isolated_node_files(settings: Any, tmp_path: Any) -> None:
    """Each test gets its own key directory; nothing touches the developer's var/."""
    settings.NODE_KEY_DIR = tmp_path / "keys"


@pytest.fixture
def structure(db: Any) -> Any:
    """The structure that runs this node and owns its data."""
    return OrganisationFactory(name="Théâtre des Essais", siret="73282932000074")


@pytest.fixture
def staff_user(db: Any) -> Any:
    """The structure's administrator, logged in to the node."""
    return UserFactory(username="admin-structure", is_staff=True)


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


# A real Celery worker for the tests marked `worker` (started only when REDIS_URL is set).
pytest_plugins = ["tests.plugins.celery_worker"]
