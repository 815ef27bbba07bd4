"""Helpers of the agreement tests (and of the change-feed tests, whose reader needs agreements)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from django.contrib.auth import get_user_model

from dataspace.consent.agreements import NEVER_SHARED, sign_agreement
from dataspace.consent.models import Agreement

FIRST_DAY = dt.date(2020, 1, 1)


def node_operator() -> Any:
    """The node's operator (a superuser may sign for any structure)."""
    user_model = get_user_model()
    user = user_model.objects.filter(username="operateur-agrements").first()
    return user or user_model.objects.create_superuser("operateur-agrements", "op@example.org", None)


def federation_agreement(owner: Any, dataset: str, **terms: Any) -> Agreement:
    from tests.conftest import node_signing_key

    node_signing_key()  # the agreement is signed with the node key
    values: dict[str, Any] = {
        "grantee": Agreement.Grantee.FEDERATION,
        "purposes": ["programming"],
        "valid_from": FIRST_DAY,
        "signed_by": node_operator(),
        **terms,
    }
    return sign_agreement(owner=owner, target_type=dataset, **values)


def agree_to_everything_published(datasets: Iterable[str] | None = None) -> int:
    """A federation agreement in force for every (owner, dataset) pair the change log holds so far
    (an organisation describing itself is its own owner); returns how many were signed."""
    from dataspace.records.models import Change
    from dataspace.referentials.models import Organisation

    wanted = set(datasets) if datasets is not None else None
    pairs: set[tuple[Any, str]] = set()
    for owner_id, record_type, record_id in Change.objects.values_list("owner_id", "record_type", "record_id"):
        owner = owner_id if owner_id is not None or record_type != "organisation" else record_id
        if owner is not None and record_type not in NEVER_SHARED and (wanted is None or record_type in wanted):
            pairs.add((owner, record_type))
    existing = set(
        Agreement.objects.filter(grantee=Agreement.Grantee.FEDERATION, status="active").values_list(
            "owner_id", "target_type"
        )
    )
    organisations = Organisation.objects.in_bulk({owner for owner, _t in pairs - existing})
    signed = 0
    for owner_id, dataset in sorted(pairs - existing, key=str):
        owner = organisations.get(owner_id)
        if owner is not None:
            federation_agreement(owner, dataset)
            signed += 1
    return signed
