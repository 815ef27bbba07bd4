"""The periodic re-import (Celery beat, daily) from settings.LICENCE_IMPORT_PATH."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from django.conf import settings as django_settings

from dataspace.directory.models import Licence, LicenceImport
from dataspace.directory.tasks import reimport_licences
from tests.directory.conftest import SAMPLE

pytestmark = pytest.mark.django_db


def test_scheduled_daily() -> None:
    entry = django_settings.CELERY_BEAT_SCHEDULE["reimport-licences"]
    assert entry == {"task": "dataspace.directory.tasks.reimport_licences", "schedule": 86400.0}
    assert reimport_licences.name == entry["task"]
    assert reimport_licences.time_limit


def test_reimports_from_the_configured_path(registry: Any) -> None:
    registry.LICENCE_IMPORT_PATH = str(SAMPLE)
    first = reimport_licences.delay().get()
    assert first["created"] == 10
    second = reimport_licences.delay().get()
    assert (second["created"], second["updated"], second["unchanged"]) == (0, 0, 10)
    assert LicenceImport.objects.count() == 2


def test_disabled_when_no_path_is_configured(registry: Any, caplog: Any) -> None:
    registry.LICENCE_IMPORT_PATH = ""
    with caplog.at_level(logging.INFO, logger="dataspace.directory"):
        assert reimport_licences() is None
    assert "LICENCE_IMPORT_PATH is empty" in caplog.text
    assert LicenceImport.objects.count() == 0


def test_skipped_on_a_node_that_is_no_registry(settings: Any, caplog: Any) -> None:
    settings.NODE_ROLES = ["structure"]
    settings.LICENCE_IMPORT_PATH = str(SAMPLE)
    with caplog.at_level(logging.WARNING, logger="dataspace.directory"):
        assert reimport_licences() is None
    assert "no 'registry' role" in caplog.text
    assert Licence.objects.count() == 0


def test_unusable_file_is_logged_not_raised(registry: Any, tmp_path: Any, caplog: Any) -> None:
    registry.LICENCE_IMPORT_PATH = str(tmp_path / "absent.csv")
    with caplog.at_level(logging.ERROR, logger="dataspace.directory"):
        result = reimport_licences()
    assert result is not None
    assert "introuvable" in result["error"]
    assert "absent.csv" in caplog.text
