"""Object-level grants on the referentials: a co-producer edits the performances it hosts.

The rule (issue 4, item 4): production P is owned by A and co-produced by B. A performance X of P
given in a hall of a venue that B owns or operates is *hosted* by B; B's writers may then change
X's schedule (status, start, time zone, capacity, accessibility, ticketing URL…) but nothing else
of P: not X's production, hall, owner or season, not P itself, not P's other performances, its
works or its credits; they may neither create nor delete performances of P.

Storage is django-guardian's generic `GroupObjectPermission`: one auth `Group` per organisation
(named `organisation:<uuid>`, created on demand) stands for the structure, and the permission
`referentials.change_performance` of that group on X records the grant. People are never put in
these groups: who writes for a structure is still `StaffMembership` (administrator/editor) and,
for machine clients, `dataspace.oauth.mandates.may_write_for` — the group only says *which
structure* holds the grant, so revoking a role or a mandate takes effect on the next request.

`sync_host_grants` keeps the grants exactly equal to {(X, B) | B co-produces X's production and
owns or operates X's venue}. It is called explicitly (house rule: no side effects in signals) by
`services.save_record` after every API write of a performance, production, hall or venue, and by
the admin's save hooks; `forget_grants` drops the grants of deleted performances.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.db.models import Model, QuerySet
from django.utils.translation import gettext_lazy as _
from guardian.models import GroupObjectPermission
from rest_framework import exceptions
from rest_framework.request import Request

from dataspace.referentials.models import Hall, Organisation, Performance, Production, Venue

#: Prefix of the auth group standing for one organisation (`organisation:<uuid>`).
GROUP_PREFIX = "organisation:"
#: The object permission a hosting co-producer holds on a performance.
CHANGE_PERFORMANCE = "change_performance"
#: What a hosting co-producer may change on a performance it holds the grant for (its schedule).
#: Everything else (`production`, `hall`, `owner`, `season`, `same_as`) stays the owner's.
HOST_EDITABLE_FIELDS = frozenset(
    {"start", "time_zone", "status", "previous_start", "capacity", "accessibility", "ticketing_url"}
)


class FieldForbidden(exceptions.PermissionDenied):
    """403 naming the fields the caller may not change (`fields.<name>`), like `OwnerForbidden`."""

    def __init__(self, fields: dict[str, str]) -> None:
        detail = " ".join(dict.fromkeys(fields.values()))
        super().__init__(detail, code="permission_denied")
        self.extra = {"fields": {name: [message] for name, message in fields.items()}}


# ---------------------------------------------------------------------------- groups


def group_name(organisation_id: Any) -> str:
    return f"{GROUP_PREFIX}{uuid.UUID(str(organisation_id))}"


def organisation_of_group(name: str) -> uuid.UUID | None:
    """The organisation a group stands for, or None for any other group."""
    if not name.startswith(GROUP_PREFIX):
        return None
    try:
        return uuid.UUID(name.removeprefix(GROUP_PREFIX))
    except ValueError:
        return None


def organisation_groups(organisation_ids: Iterable[Any]) -> dict[uuid.UUID, Group]:
    """The group of each organisation, created when missing (two queries when some are new)."""
    wanted = {group_name(pk): uuid.UUID(str(pk)) for pk in organisation_ids}
    if not wanted:
        return {}
    found = {group.name: group for group in Group.objects.filter(name__in=wanted)}
    missing = [Group(name=name) for name in wanted if name not in found]
    if missing:
        Group.objects.bulk_create(missing, ignore_conflicts=True)
        found = {group.name: group for group in Group.objects.filter(name__in=wanted)}
    return {wanted[name]: group for name, group in found.items()}


def _change_permission() -> Permission:
    content_type = ContentType.objects.get_for_model(Performance)  # cached by Django after the first call
    return Permission.objects.get(content_type=content_type, codename=CHANGE_PERFORMANCE)


def _grants(performance_ids: Iterable[str]) -> QuerySet[GroupObjectPermission]:
    return GroupObjectPermission.objects.filter(
        content_type=ContentType.objects.get_for_model(Performance),
        permission__codename=CHANGE_PERFORMANCE,
        object_pk__in=list(performance_ids),
        group__name__startswith=GROUP_PREFIX,
    )


# ---------------------------------------------------------------------------- keeping grants in sync


def _sync(performances: QuerySet[Performance]) -> None:
    """Make the grants on these performances exactly the hosting co-producers' (idempotent)."""
    rows = list(performances.values_list("pk", "production_id", "hall__venue__owner_id", "hall__venue__operator_id"))
    if not rows:
        return
    through = Production.coproducers.through
    coproducers: dict[Any, set[uuid.UUID]] = {}
    for production_id, organisation_id in through.objects.filter(
        production_id__in={row[1] for row in rows}
    ).values_list("production_id", "organisation_id"):
        coproducers.setdefault(production_id, set()).add(organisation_id)
    wanted: set[tuple[str, uuid.UUID]] = {
        (str(pk), host)
        for pk, production_id, venue_owner, venue_operator in rows
        for host in coproducers.get(production_id, set()) & {venue_owner, venue_operator}
    }
    existing: dict[tuple[str, uuid.UUID], int] = {}
    for grant_pk, object_pk, name in _grants(str(row[0]) for row in rows).values_list("pk", "object_pk", "group__name"):
        holder = organisation_of_group(name)
        if holder is not None:
            existing[(object_pk, holder)] = grant_pk
    stale = [grant_pk for key, grant_pk in existing.items() if key not in wanted]
    if stale:
        GroupObjectPermission.objects.filter(pk__in=stale).delete()
    missing = wanted - set(existing)
    if not missing:
        return
    groups = organisation_groups({organisation for _, organisation in missing})
    permission = _change_permission()
    GroupObjectPermission.objects.bulk_create(
        [
            GroupObjectPermission(
                group=groups[organisation],
                permission=permission,
                content_type_id=permission.content_type_id,
                object_pk=object_pk,
            )
            for object_pk, organisation in sorted(missing, key=str)
        ],
        ignore_conflicts=True,
    )


def sync_host_grants(production: Production) -> None:
    """Grants on the production's performances = {(X, B) | B co-produces it and hosts X}."""
    _sync(Performance.objects.filter(production=production))


def sync_performance_grants(performance: Performance) -> None:
    """The same, for one performance (after it was created, or moved to another hall or production)."""
    _sync(Performance.objects.filter(pk=performance.pk))


def refresh_grants(record: Model) -> None:
    """After a write of `record`: re-derive the grants it may have changed (API and admin call it).

    A performance (its hall or production changed), a production (its co-producers changed), a
    hall (moved to another venue) or a venue (another owner or operator). Other records: nothing.
    """
    if record.pk is None:
        return
    if isinstance(record, Performance):
        sync_performance_grants(record)
    elif isinstance(record, Production):
        sync_host_grants(record)
    elif isinstance(record, Hall):
        _sync(Performance.objects.filter(hall=record))
    elif isinstance(record, Venue):
        _sync(Performance.objects.filter(hall__venue=record))


def performance_ids_under(record: Model) -> list[str]:
    """The performances a deletion of `record` takes with it (to forget their grants afterwards)."""
    if isinstance(record, Performance):
        return [str(record.pk)]
    if isinstance(record, Production):
        return [str(pk) for pk in Performance.objects.filter(production=record).values_list("pk", flat=True)]
    return []  # halls and venues are protected by their performances: they cannot take any along


def forget_grants(performance_ids: Iterable[str]) -> None:
    """Drop the grants held on performances that no longer exist."""
    ids = list(performance_ids)
    if ids:
        _grants(ids).delete()


# ---------------------------------------------------------------------------- reading grants


def object_grant_holders(performance: Performance) -> set[uuid.UUID]:
    """The organisations holding the change grant on this performance (one query).

    The policy decision point gives reason code `object_grant` when a write is let through by it.
    """
    names = _grants([str(performance.pk)]).values_list("group__name", flat=True)
    return {pk for pk in (organisation_of_group(name) for name in names) if pk is not None}


def organisations_may_edit_hosted(organisation_ids: Iterable[Any], performance: Performance) -> bool:
    """Does one of these organisations hold the grant on the performance?"""
    holders = object_grant_holders(performance)
    return any(uuid.UUID(str(pk)) in holders for pk in organisation_ids if pk is not None)


def may_edit_hosted(request: Request, performance: Performance, scope: str = "referentials:write") -> bool:
    """May the caller change this performance's schedule through a co-producer's grant?

    A person: an administrator or editor (`StaffMembership`) of a structure holding the grant.
    A machine depositor client: the grant is held by its owner or by a structure that gave it an
    active mandate covering `scope`. Everything else the API checks (scope of the token, reader
    clients, If-Match, the fields that may change) is checked as for any other write.
    """
    from dataspace.api.auth import machine_client, person
    from dataspace.api.permissions import WRITE_ROLES, staff_roles
    from dataspace.oauth.mandates import may_write_for

    holders = object_grant_holders(performance)
    if not holders:
        return False
    client = machine_client(request)
    if client is not None:
        return any(
            may_write_for(client, organisation, scope) for organisation in Organisation.objects.filter(pk__in=holders)
        )
    user = person(request)
    if user is None:
        return False
    roles = staff_roles(user)
    return any(roles.get(organisation) in WRITE_ROLES for organisation in holders)


def ensure_host_change_only(performance: Performance, changes: dict[str, Any]) -> None:
    """403 naming each field a hosting co-producer may not change (unchanged values pass, for PUT)."""
    refused: dict[str, str] = {}
    for name, value in changes.items():
        if name in HOST_EDITABLE_FIELDS:
            continue
        current = getattr(performance, getattr(performance._meta.get_field(name), "attname", name))
        incoming = value.pk if isinstance(value, Model) else value
        if current != incoming:
            refused[name] = _(
                "Une structure coproductrice qui accueille cette représentation n'en modifie que le "
                "calendrier (%(fields)s) ; « %(field)s » reste du ressort du propriétaire."
            ) % {"fields": ", ".join(sorted(HOST_EDITABLE_FIELDS)), "field": name}
    if refused:
        raise FieldForbidden(refused)


def production_forbidden(production: Production) -> FieldForbidden:
    """403 naming `production`: only who writes a production's data adds performances to it."""
    return FieldForbidden(
        {
            "production": _(
                "Seule une personne ou un logiciel autorisé à modifier les données de %(owner)s ajoute "
                "des représentations à sa production « %(production)s »."
            )
            % {"owner": production.owner, "production": production}
        }
    )
