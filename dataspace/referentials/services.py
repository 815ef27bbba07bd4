"""Business rules of the referentials API, as plain functions the views and serializers call.

* who may see what: a performance under option never leaves the node (`visible_performances`);
* who owns a new record: the node's own organisation unless the caller names one, or the client's
  organisation for a depositor client (`default_owner`); whose data a record is (`owning_organisation`);
* whether a record may be written here at all: only the origin node writes the master copy;
* validation: the model's `clean()` rules, field validators and database constraints, reported
  field by field (`validate_record`) so that the API answers 400 naming the fields, never 500;
* saving and deleting inside one transaction, database errors mapped to 400 / 409; the
  co-producers' object grants (`dataspace.referentials.permissions`) follow every save and delete.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

from django.conf import settings
from django.core.exceptions import NON_FIELD_ERRORS
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, router, transaction
from django.db.models import Model, ProtectedError, QuerySet, RestrictedError
from rest_framework.exceptions import ValidationError
from rest_framework.settings import api_settings

from dataspace.api.errors import Conflict
from dataspace.records.models import Record
from dataspace.referentials.models import Organisation, Performance
from dataspace.referentials.permissions import forget_grants, performance_ids_under, refresh_grants

if TYPE_CHECKING:
    from dataspace.oauth.models import Client

M = TypeVar("M", bound=Model)

#: Database constraints whose violation is best reported on other fields than Django would pick.
CONSTRAINT_FIELDS: dict[str, tuple[str, ...]] = {
    "contribution_on_production_xor_work": ("production", "work"),
    "season_dates_ordered": ("end_date",),
    "organisation_siret_unique": ("siret",),
    "performance_stable_key": ("start",),
}
#: Clearer messages than Django's generic "Constraint … is violated".
CONSTRAINT_MESSAGES: dict[str, str] = {
    "organisation_siret_unique": "Une organisation portant ce SIRET existe déjà.",
    "performance_stable_key": "Cette production est déjà programmée dans cette salle à cette heure "
    "(production + salle + début identiques).",
}


# ---------------------------------------------------------------------------- visibility


def visible_performances(queryset: QuerySet[Performance], *, node_staff: bool) -> QuerySet[Performance]:
    """Performances the caller may see: options (unconfirmed holds) only for the node's staff."""
    if node_staff:
        return queryset
    return queryset.exclude(status=Performance.Status.OPTION)


# ---------------------------------------------------------------------------- ownership


def default_owner(client: Client | None = None) -> Organisation | None:
    """Who owns a record created without naming its owner.

    For everyone but machine clients (staff sessions, personal API keys): the organisation that
    runs this node (`NodeIdentity.organisation`), if it is set. For a machine `depositor` client:
    that same organisation when the client may write for it (a vendor depositing on a structure's
    node under the structure's mandate deposits the structure's data), else the client's own
    organisation — never an organisation it may not write for.
    """
    from dataspace.node.services import current_identity
    from dataspace.oauth.mandates import may_write_for

    identity = current_identity()
    node_organisation = identity.organisation if identity is not None else None
    if client is None:
        return node_organisation
    if node_organisation is not None and may_write_for(client, node_organisation):
        return node_organisation
    return client.owner


def owning_organisation(record: Record) -> Organisation | None:
    """The organisation whose data the record is: its owner, or itself for an organisation
    that describes itself (`owner` empty). Write rights are checked against it."""
    owner = getattr(record, "owner", None)
    if owner is None and isinstance(record, Organisation) and record.pk is not None:
        return record
    return owner


def ensure_writable(record: Record) -> None:
    """Only the origin node writes the master copy; a replica held here is read-only."""
    if record.origin.rstrip("/") != str(settings.NODE_BASE_URL).rstrip("/"):
        raise Conflict(
            f"This record is a replica of {record.origin}; only its origin node may change it.",
            code="read_only_replica",
        )


# ---------------------------------------------------------------------------- validation


def _fields_of_constraint(constraint: Any) -> tuple[str, ...]:
    if constraint.name in CONSTRAINT_FIELDS:
        return CONSTRAINT_FIELDS[constraint.name]
    fields = tuple(getattr(constraint, "fields", ()) or ())
    return (fields[-1],) if fields else (NON_FIELD_ERRORS,)


def _drf_errors(errors: dict[str, list[str]]) -> ValidationError:
    renamed = {
        (api_settings.NON_FIELD_ERRORS_KEY if name == NON_FIELD_ERRORS else name): messages
        for name, messages in errors.items()
    }
    return ValidationError(renamed)


def _add(errors: dict[str, list[str]], name: str, messages: list[str]) -> None:
    bucket = errors.setdefault(name, [])
    bucket.extend(message for message in messages if message not in bucket)


def validate_record(instance: Model, *, exclude: set[str] | None = None) -> None:
    """Run the model's validation (fields, `clean()`, uniqueness, constraints); 400 naming the fields."""
    exclude = set(exclude or ())
    errors: dict[str, list[str]] = {}
    try:
        instance.full_clean(exclude=exclude, validate_constraints=False)
    except DjangoValidationError as exc:
        for name, messages in exc.message_dict.items():
            _add(errors, name, messages)
    skip = exclude | {name for name in errors if name != NON_FIELD_ERRORS}
    using = router.db_for_write(type(instance), instance=instance)
    for model_class, constraints in instance.get_constraints():
        for constraint in constraints:
            try:
                constraint.validate(model_class, instance, exclude=skip, using=using)
            except DjangoValidationError as exc:
                message = CONSTRAINT_MESSAGES.get(constraint.name)
                for name in _fields_of_constraint(constraint):
                    _add(errors, name, [message] if message else exc.messages)
    if errors:
        raise _drf_errors(errors)


# ---------------------------------------------------------------------------- writes


def _integrity_error(exc: IntegrityError) -> ValidationError:
    text = str(exc)
    for name, fields in CONSTRAINT_FIELDS.items():
        if name in text:
            message = CONSTRAINT_MESSAGES.get(name, f"Règle « {name} » non respectée.")
            return ValidationError({key: [message] for key in fields})
    message = "Ces données contredisent une règle d'intégrité (doublon ou lien invalide)."
    return ValidationError({api_settings.NON_FIELD_ERRORS_KEY: [message]})


def save_record(instance: M, many_to_many: dict[str, list[Any]] | None = None) -> M:
    """Save the record (version bump and change-log entry included) and set its many-to-many links."""
    with transaction.atomic():
        try:
            with transaction.atomic():
                instance.save()
        except IntegrityError as exc:  # a concurrent write won the race past validate_record
            raise _integrity_error(exc) from None
        for name, values in (many_to_many or {}).items():
            getattr(instance, name).set(values)
        # After the many-to-many links: a production's co-producers decide the grants too.
        refresh_grants(instance)
    return instance


def delete_record(instance: Record) -> None:
    """Delete the record (tombstones for it and its cascade); 409 when other records protect it."""
    ensure_writable(instance)
    try:
        with transaction.atomic():
            performances = performance_ids_under(instance)
            instance.delete()
            forget_grants(performances)
    except (ProtectedError, RestrictedError) as exc:
        blocking = exc.protected_objects if isinstance(exc, ProtectedError) else exc.restricted_objects
        blockers = sorted({str(type(obj)._meta.verbose_name_plural) for obj in blocking})
        raise Conflict(
            f"Other records still refer to this one ({', '.join(blockers)}); delete or re-attach them first.",
            code="protected",
        ) from None
