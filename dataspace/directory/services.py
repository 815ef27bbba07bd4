"""Licence registry, professional accounts and terms of use: the rules (docs/licences.md).

* `import_licences(path)` imports the ministry's open-data list (idempotent; records what changed).
* `link_licences()` attaches licences to this node's organisations by SIREN.
* `professional_profile(user)` is what the decision point knows about a professional (≤ 2 queries,
  cached on the user object for the request); `licence_standing(profile, day, categories)` says
  whether that professional is licensed on `day`, and if not why, in one French sentence.
* `current_terms_version()`, `publish_terms(...)`, `accept_terms(user, version)`: terms of use.
* Directory entries (`dataspace.directory.entries`, re-exported): `entry_fields()`,
  `entry_field_groups()`, `refresh_publication(entry_id)`, `search(queryset, params)`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from django.conf import settings
from django.db import connection, transaction
from django.db.models import OuterRef, Subquery
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from dataspace.directory.entries import entry_field_groups, entry_fields, refresh_publication, search
from dataspace.directory.licence_file import LicenceFileError, read_licence_file
from dataspace.directory.models import (
    Licence,
    LicenceChange,
    LicenceImport,
    ProfessionalAccount,
    TermsAcceptance,
    TermsOfUse,
)
from dataspace.directory.profiles import LicenceFact, ProfessionalProfile

__all__ = [
    "LicenceFileError",
    "NotARegistry",
    "accept_terms",
    "current_terms",
    "current_terms_version",
    "entry_field_groups",
    "entry_fields",
    "import_licences",
    "licence_standing",
    "link_licences",
    "professional_profile",
    "publish_terms",
    "refresh_publication",
    "search",
]

logger = logging.getLogger("dataspace.directory")

#: Fields of a licence that come from the ministry's file (compared on re-import).
FILE_FIELDS = (
    "category",
    "status",
    "kind",
    "deposited_on",
    "valid_until",
    "declarant_type",
    "holder_name",
    "siren_siret",
    "postal_code",
    "naf",
    "venue_name",
    "venue_postal_code",
    "region",
    "departement",
)
_PROFILE_CACHE = "_dataspace_professional_profile"
_NOT_CACHED = object()
#: Advisory-lock key of licence imports (PostgreSQL); any constant distinct from the other locks' keys.
_IMPORT_LOCK_KEY = 0x4C494345  # "LICE"
_BATCH = 500


class NotARegistry(RuntimeError):
    """The licence registry is kept only by a node with the `registry` role."""


def ensure_registry() -> None:
    """Raise NotARegistry, with a sentence an operator understands, unless this node is a registry."""
    roles = list(settings.NODE_ROLES)
    if "registry" not in roles:
        raise NotARegistry(
            _(
                "ce nœud n'a pas le rôle « registry » (NODE_ROLES=%(roles)s) : le registre des licences est tenu "
                "par le nœud registre de l'espace de données. Lancez l'import sur ce nœud, ou ajoutez « registry » "
                "à NODE_ROLES si celui-ci doit le tenir."
            )
            % {"roles": ",".join(roles)}
        )


# ---------------------------------------------------------------------------- import


def _json_value(value: Any) -> Any:
    return value.isoformat() if isinstance(value, dt.date) else value


def import_licences(path: str | Path, *, now: dt.datetime | None = None) -> LicenceImport:
    """Import the ministry's list at `path`; returns the finished `LicenceImport` with its counts.

    Idempotent: an unchanged line writes nothing; a changed one is updated and its differences are
    kept in a `LicenceChange`. Refused lines are counted and listed with their line number; the
    others are imported. Licences absent from the file are left as they are (the list is
    cumulative). Raises `NotARegistry` on another node and `LicenceFileError` for a file that
    cannot be used at all (nothing is written then).
    """
    ensure_registry()
    parsed = read_licence_file(path)
    moment = now or timezone.now()
    with transaction.atomic():
        _lock_licence_imports()
        run = LicenceImport.objects.create(source=str(path), invalid=len(parsed.errors))
        run.errors = [{"line": error.line, "error": error.error} for error in parsed.errors]
        existing = {licence.number: licence for licence in Licence.objects.all()}
        organisations = _organisations_by_siren()
        to_create: list[Licence] = []
        to_update: list[Licence] = []
        changes: list[LicenceChange] = []
        for row in parsed.rows:
            values = row.values
            licence = existing.get(row.number)
            if licence is None:
                licence = Licence(**values, organisation_id=organisations.get(values["siren_siret"][:9]))
                licence.imported_at = licence.updated_at = moment
                to_create.append(licence)
                continue
            diff = {
                name: [_json_value(getattr(licence, name)), _json_value(values[name])]
                for name in FILE_FIELDS
                if getattr(licence, name) != values[name]
            }
            if not diff:
                run.unchanged += 1
                continue
            for name in diff:
                setattr(licence, name, values[name])
            if licence.organisation_id is None:
                licence.organisation_id = organisations.get(licence.siren)
            licence.updated_at = moment
            to_update.append(licence)
            changes.append(LicenceChange(licence=licence, licence_import=run, changes=diff))
        Licence.objects.bulk_create(to_create, batch_size=_BATCH)
        Licence.objects.bulk_update(to_update, [*FILE_FIELDS, "organisation", "updated_at"], batch_size=_BATCH)
        LicenceChange.objects.bulk_create(changes, batch_size=_BATCH)
        run.created, run.updated = len(to_create), len(to_update)
        run.finished_at = timezone.now()
        run.save()
    logger.info(
        "licences imported from %s: %s created, %s updated, %s unchanged, %s refused lines",
        path, run.created, run.updated, run.unchanged, run.invalid,
    )  # fmt: skip
    return run


def _lock_licence_imports() -> None:
    """Serialise imports until the transaction ends, so two runs never create the same number twice.

    PostgreSQL: a transaction-level advisory lock. SQLite: the node opens every transaction with
    BEGIN IMMEDIATE (settings), which already holds the single write lock from the start.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_IMPORT_LOCK_KEY])


def _organisations_by_siren(sirens: Iterable[str] | None = None) -> dict[str, Any]:
    """SIREN -> id of this node's organisation with that SIREN (or a SIRET starting with it).

    When several organisations share a SIREN, the one whose master copy is on this node wins,
    then the one describing itself (no owner), then the oldest.
    """
    from dataspace.referentials.models import Organisation

    rows = (
        Organisation.objects.exclude(siren="", siret="")
        .order_by("created_at", "pk")
        .values_list("pk", "siren", "siret", "origin", "owner_id")
    )
    wanted = set(sirens) if sirens is not None else None
    best: dict[str, tuple[tuple[bool, bool], Any]] = {}
    for pk, siren, siret, origin, owner_id in rows:
        key = siren or siret[:9]
        if wanted is not None and key not in wanted:
            continue
        rank = (origin != settings.NODE_BASE_URL, owner_id is not None)
        if key not in best or rank < best[key][0]:
            best[key] = (rank, pk)
    return {key: pk for key, (_rank, pk) in best.items()}


def link_licences() -> int:
    """Attach every licence without an organisation to this node's organisation of the same SIREN.

    A licence already attached (by an import or by hand in the admin) is left alone. Returns how
    many licences were attached.
    """
    loose = list(Licence.objects.filter(organisation__isnull=True).exclude(siren_siret="").only("pk", "siren_siret"))
    organisations = _organisations_by_siren({licence.siren for licence in loose if licence.siren})
    linked = [licence for licence in loose if organisations.get(licence.siren)]
    for licence in linked:
        licence.organisation_id = organisations[licence.siren]
    Licence.objects.bulk_update(linked, ["organisation"], batch_size=_BATCH)
    return len(linked)


# ---------------------------------------------------------------------------- professionals


def professional_profile(user: Any) -> ProfessionalProfile | None:
    """The professional account of this person with its organisation's licences, or None.

    Two queries at most (the account with its organisation's name, the last accepted terms version
    and the current one; the licences), then cached on the user object for the rest of the request.
    """
    if user is None or getattr(user, "pk", None) is None or not getattr(user, "is_authenticated", False):
        return None
    cached = getattr(user, _PROFILE_CACHE, _NOT_CACHED)
    if cached is not _NOT_CACHED:
        return cast(ProfessionalProfile | None, cached)
    last_accepted = (
        TermsAcceptance.objects.filter(user_id=OuterRef("user_id"))
        .order_by("-accepted_at", "-pk")
        .values("terms__version")[:1]
    )
    current_terms = (
        TermsOfUse.objects.filter(published_at__lte=timezone.now())
        .order_by("-published_at", "-pk")
        .values("version")[:1]
    )
    account = (
        ProfessionalAccount.objects.filter(user_id=user.pk)
        .values("pk", "organisation_id", "organisation__name", "verified_at")
        .annotate(terms_accepted=Subquery(last_accepted), terms_current=Subquery(current_terms))
        .first()
    )
    profile: ProfessionalProfile | None = None
    if account is not None:
        licences = Licence.objects.filter(organisation_id=account["organisation_id"]).order_by("number")
        facts = tuple(
            LicenceFact(number=number, category=category, status=status, valid_until=until, deposited_on=deposited)
            for number, category, status, until, deposited in licences.values_list(
                "number", "category", "status", "valid_until", "deposited_on"
            )
        )
        profile = ProfessionalProfile(
            account_id=account["pk"],
            organisation_id=account["organisation_id"],
            organisation_name=account["organisation__name"],
            licences=facts,
            terms_accepted=account["terms_accepted"] or "",
            verified=account["verified_at"] is not None,
            terms_current=account["terms_current"] or "",
        )
    with contextlib.suppress(AttributeError):  # a user object that refuses attributes: no cache
        setattr(user, _PROFILE_CACHE, profile)
    return profile


def forget_professional_profile(user: Any) -> None:
    """Drop the profile cached on `user` (after a change to the account, its licences or terms)."""
    with contextlib.suppress(AttributeError):
        delattr(user, _PROFILE_CACHE)


# ---------------------------------------------------------------------------- licence standing


@dataclass(frozen=True)
class _Failure:
    code: str
    sentence: str


def _fr_date(day: dt.date) -> str:
    return day.strftime("%d/%m/%Y")


def _categories_text(categories: Iterable[int]) -> str:
    values = [str(category) for category in sorted(set(categories))]
    if len(values) <= 1:
        return "".join(values)
    return _("%(first)s ou %(last)s") % {"first": ", ".join(values[:-1]), "last": values[-1]}


def _why_not(licence: LicenceFact, day: dt.date) -> _Failure:
    """Why this licence does not make its holder licensed on `day` (it is not in force)."""
    number = licence.number
    if licence.status == Licence.Status.VALID and licence.deposited_on is not None and licence.deposited_on > day:
        return _Failure(
            "licence_pending",
            _("Votre licence %(number)s ne prend effet que le %(date)s.")
            % {"number": number, "date": _fr_date(licence.deposited_on)},
        )
    if licence.status in (Licence.Status.VALID, Licence.Status.EXPIRED):  # a Valide one not in force has expired
        if licence.valid_until is not None:
            return _Failure(
                "licence_expired",
                _("Votre licence %(number)s a expiré le %(date)s.")
                % {"number": number, "date": _fr_date(licence.valid_until)},
            )
        return _Failure("licence_expired", _("Votre licence %(number)s a expiré.") % {"number": number})
    if licence.status == Licence.Status.PENDING:
        return _Failure(
            "licence_pending",
            _("Votre licence %(number)s est en cours d'instruction : elle ne permet pas encore d'exercer.")
            % {"number": number},
        )
    if licence.status == Licence.Status.REFUSED:
        return _Failure(
            "licence_withdrawn",
            _("Votre déclaration %(number)s a été refusée par l'administration (récépissé invalide).")
            % {"number": number},
        )
    return _Failure(
        "licence_withdrawn",
        _("Votre licence %(number)s a été retirée par l'administration (récépissé invalidé).") % {"number": number},
    )


def _recency(licence: LicenceFact) -> tuple[dt.date, str]:
    """Most recent first: by deposit date, else the year in the number; then the number itself."""
    deposited = licence.deposited_on
    if deposited is None:
        year = next((part for part in licence.number.split("-") if len(part) == 4 and part.isdigit()), "1")
        deposited = dt.date(int(year), 1, 1)
    return deposited, licence.number.split("PLATESV-")[-1]


def licence_standing(
    profile: ProfessionalProfile | None, day: dt.date, categories: Iterable[int] | None = None
) -> tuple[bool, str, str]:
    """Is this professional licensed on `day` (for one of `categories`, when given)? And why not.

    Returns `(licensed, reason code, one French sentence)`. Licensed means: a verified account
    whose organisation holds at least one *Valide* licence in force on `day` (deposit date not
    after `day`, validity end date inclusive) of one of the asked categories. The reason code is
    "" when licensed, otherwise one of `policies.decision.REASONS`: `not_licensed`,
    `licence_category`, `licence_expired`, `licence_pending`, `licence_withdrawn`.

    When no licence qualifies, the sentence speaks of the holder's **most recent** licence of the
    asked categories (latest deposit): that is their current dealing with the administration, so
    a pending renewal wins over the expired licence it renews, and a withdrawal over an older
    expiry. Only when the holder has no licence of those categories at all is it
    `licence_category`, naming the categories held.
    """
    if profile is None or not profile.licences:
        return (
            False,
            "not_licensed",
            _(
                "Cet accès est réservé aux professionnels titulaires d'une licence d'entrepreneur de spectacles "
                "vivants : aucune licence n'est rattachée à votre compte."
            ),
        )
    if not profile.verified:
        return (
            False,
            "not_licensed",
            _("Votre compte professionnel n'a pas encore été vérifié par le registre : il ne vaut pas licence."),
        )
    wanted = frozenset(categories or ())
    relevant = [licence for licence in profile.licences if not wanted or licence.category in wanted]
    in_force = sorted((lic for lic in relevant if lic.in_force(day)), key=lambda lic: lic.valid_until or dt.date.max)
    if in_force:
        best = in_force[-1]  # the one valid the longest
        if best.valid_until is None:
            sentence = _("Votre licence %(number)s (catégorie %(category)s) est valide.") % {
                "number": best.number,
                "category": best.category,
            }
        else:
            sentence = _("Votre licence %(number)s (catégorie %(category)s) est valide jusqu'au %(date)s.") % {
                "number": best.number,
                "category": best.category,
                "date": _fr_date(best.valid_until),
            }
        return True, "", sentence
    if relevant:
        failure = _why_not(max(relevant, key=_recency), day)
        return False, failure.code, failure.sentence
    held = sorted({lic.category for lic in profile.licences if lic.in_force(day)})
    asked = _categories_text(wanted)
    if held:
        sentence = ngettext(
            "Licence de catégorie %(asked)s demandée ; votre licence en cours est de catégorie %(held)s.",
            "Licence de catégorie %(asked)s demandée ; vos licences en cours sont de catégories %(held)s.",
            len(held),
        ) % {"asked": asked, "held": _categories_text(held)}
    else:
        sentence = _("Licence de catégorie %(asked)s demandée ; aucune de vos licences n'est de cette catégorie.") % {
            "asked": asked
        }
    return False, "licence_category", sentence


def licence_status_label(profile: ProfessionalProfile | None, day: dt.date) -> str:
    """One word for a professional's licence state: valide, expiree, en_instruction, invalidee, aucune."""
    licensed, code, _sentence = licence_standing(profile, day)
    if licensed:
        return "valide"
    return {"licence_expired": "expiree", "licence_pending": "en_instruction", "licence_withdrawn": "invalidee"}.get(
        code, "aucune"
    )


# ---------------------------------------------------------------------------- terms of use


def current_terms(now: dt.datetime | None = None) -> TermsOfUse | None:
    """The latest version published at `now` (None when none is)."""
    return TermsOfUse.objects.filter(published_at__lte=now or timezone.now()).order_by("-published_at", "-pk").first()


def current_terms_version(now: dt.datetime | None = None) -> str:
    """The registry's current terms-of-use version ("" when none is published)."""
    version = (
        TermsOfUse.objects.filter(published_at__lte=now or timezone.now())
        .order_by("-published_at", "-pk")
        .values_list("version", flat=True)
        .first()
    )
    return version or ""


def publish_terms(version: str, text: str, *, published_at: dt.datetime | None = None) -> TermsOfUse:
    """Publish a new version (it becomes current at `published_at`, default now); every professional
    is then asked to accept it. Publishing an existing version again changes nothing."""
    terms, _created = TermsOfUse.objects.get_or_create(
        version=version, defaults={"text": text, "published_at": published_at or timezone.now()}
    )
    return terms


def accept_terms(user: Any, version: str, *, now: dt.datetime | None = None) -> TermsAcceptance:
    """Record that `user` accepts `version`, which must be the current one (else ValueError).

    Accepting the same version twice keeps the first acceptance.
    """
    moment = now or timezone.now()
    terms = current_terms(moment)
    if terms is None:
        raise ValueError(_("Aucune version des conditions d'utilisation n'est publiée."))
    if version != terms.version:
        raise ValueError(
            _("La version « %(version)s » n'est pas la version en vigueur des conditions d'utilisation (%(current)s).")
            % {"version": version, "current": terms.version}
        )
    acceptance, _created = TermsAcceptance.objects.get_or_create(
        user=user, terms=terms, defaults={"accepted_at": moment}
    )
    forget_professional_profile(user)
    return acceptance
