"""Which readers are the ministry (the grantee of a `ministry` agreement): the nodes the setting
names, else the members the federation's verified member list gives the `ministry` role."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import override_settings

from dataspace.consent.agreements import Reader
from federation.models import Peer

pytestmark = pytest.mark.django_db

MINISTRY = "https://ministere.example"


@pytest.fixture
def members(db: Any) -> None:
    Peer.objects.create(base_url=MINISTRY, name="Ministère", roles=["ministry"])
    Peer.objects.create(base_url="https://registre.example", name="Registre", roles=["registry"])


def reader(node: str) -> Reader:
    return Reader(client_id=node, node=node, organisation_id=None)


@override_settings(POLICY_MINISTRY_NODES=[], NODE_ROLES=["structure"])
def test_a_member_listed_with_the_ministry_role_is_the_ministry(members: None) -> None:
    assert reader(MINISTRY).is_ministry


@override_settings(POLICY_MINISTRY_NODES=[], NODE_ROLES=["structure"])
def test_a_member_with_another_role_is_not_the_ministry(members: None) -> None:
    assert not reader("https://registre.example").is_ministry
    assert not reader("https://inconnu.example").is_ministry
    assert not reader("").is_ministry


@override_settings(POLICY_MINISTRY_NODES=["https://autre-ministere.example"], NODE_ROLES=["structure"])
def test_a_node_the_setting_names_is_the_ministry_too(members: None) -> None:
    assert reader("https://autre-ministere.example").is_ministry
    assert reader(MINISTRY).is_ministry
