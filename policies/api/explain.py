"""POST /api/v1/policies/explain: who could do what with this record, and why (issue 4, item 3).

Body::

    {"record": "<global URI>" | {"type": "venue", "id": "<uuid>"},
     "action": "read",                       # optional: one of ACTIONS (default: every action)
     "purpose": "programming",               # optional: the purpose to decide for
     "subject": {...} | "me",                # optional: one subject (see below), or the caller itself
     "subjects": "samples"}                  # optional (the default without `subject`)

A `subject` object describes a hypothetical caller: ``licensed`` (bool), ``licence_categories``
([1, 2, 3]; a licensed subject without categories holds all three), ``organisation`` (UUID),
``node`` (base URL), ``staff_role`` (its role on the record's owner: it then acts for the owner),
``region``. The samples are: anonymous, licensed professionals of categories 1, 2 and 3, an
unlicensed professional, a professional whose licence expired, each partner the policy names,
the ministry (when the policy or the node knows its node), the owner's staff.

Answer: the record and its owner, the policy that governs it (URI, scope — record override,
dataset or default — and its French sentence), then for each subject and each action the
decision, reason code, sentence and obligations. Nothing is touched: decisions are dry runs (no
counter taken, no journal entry, break-glass ignored). Without `purpose`, the purpose rule is not
applied and purpose-limited permissions show as ``purpose_not_allowed``.

Who may ask (`ExplainPermission` instead of `ScopePermission`, because this POST reads and
writes nothing — `ScopePermission` would refuse reader clients on any unsafe method):

* the owner's staff in a session, a superuser, or a token carrying ``policies:manage`` that acts
  for the owner (its staff's personal key, the owner's client, a mandated client): any subject;
* any other authenticated caller whose token carries ``referentials:read`` (or a session): only
  ``"subject": "me"`` — its own decisions, where a block shows as the generic ``refused`` and a
  hidden record as 404, exactly as the API itself would answer.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, ClassVar

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions, permissions
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from dataspace.api.auth import bearer_token
from dataspace.api.mixins import JSONErrorsMixin
from dataspace.api.permissions import InsufficientScope
from dataspace.directory.profiles import LicenceFact, ProfessionalProfile
from policies import pdp
from policies.decision import Decision
from policies.enforcement import parse_purpose, subject_for_request
from policies.language import ACTIONS
from policies.subject import ANONYMOUS, Subject

READ_SCOPE = "referentials:read"
MANAGE_SCOPE = "policies:manage"
STAFF_ROLES = ("administrator", "editor", "reader")


class ExplainPermission(permissions.BasePermission):
    """Any authenticated caller; a token must carry `referentials:read` or `policies:manage`.

    What the caller may ask about (any subject, or itself only) is decided by the view once the
    record's owner is known.
    """

    def has_permission(self, request: Request, view: Any) -> bool:
        token = bearer_token(request)
        if token is not None:
            if not ({READ_SCOPE, MANAGE_SCOPE} & set(token.scopes)):
                raise InsufficientScope(READ_SCOPE)
            return True
        if request.user is None or not request.user.is_authenticated:
            raise exceptions.NotAuthenticated(
                _("Identifiez-vous (session ou jeton d'accès) pour demander une explication.")
            )
        return True


# ---------------------------------------------------------------------------- subjects


def _licence(category: int, *, valid_until: dt.date, number: str) -> LicenceFact:
    return LicenceFact(number=number, category=category, status="valide", valid_until=valid_until, deposited_on=None)


def _professional(
    label: str,
    categories: tuple[int, ...],
    *,
    day: dt.date,
    expired: bool = False,
    organisation: uuid.UUID | None = None,
    node: str = "",
    region: str = "",
) -> tuple[str, Subject]:
    until = day - dt.timedelta(days=1) if expired else day + dt.timedelta(days=365)
    licences = tuple(
        _licence(category, valid_until=until, number=f"{category}-PLATESV-D-2000-{index:06d}")
        for index, category in enumerate(categories, start=1)
    )
    profile = ProfessionalProfile(
        account_id=0,
        organisation_id=organisation or uuid.uuid4(),
        organisation_name="",
        licences=licences,
    )
    return label, Subject(kind="person", node=node or str(settings.NODE_BASE_URL), region=region, professional=profile)


def _organisation_names(ids: list[uuid.UUID]) -> dict[uuid.UUID, str]:
    from dataspace.referentials.models import Organisation

    return dict(Organisation.objects.filter(pk__in=ids).values_list("pk", "name"))


def _named_in(compiled: pdp.CompiledPolicy, left: str) -> list[str]:
    values: list[str] = []
    for rule in compiled.doc.rules:
        for constraint in rule.constraints:
            if rule.kind == "permission" and constraint.left == left and constraint.operator in ("eq", "isAnyOf"):
                right = constraint.right if isinstance(constraint.right, (tuple, list)) else (constraint.right,)
                values += [str(value) for value in right if str(value) not in values]
    return values


def sample_subjects(
    compiled: pdp.CompiledPolicy, owner_id: uuid.UUID | None, day: dt.date
) -> list[tuple[str, Subject]]:
    """The sample subjects of an explanation, each with a French label."""
    from policies.templates import ministry_nodes

    samples: list[tuple[str, Subject]] = [(_("Visiteur anonyme"), ANONYMOUS)]
    for category in (1, 2, 3):
        samples.append(
            _professional(
                _("Professionnel licencié (catégorie %(category)s)") % {"category": category}, (category,), day=day
            )
        )
    samples.append(_professional(_("Professionnel sans licence"), (), day=day))
    samples.append(_professional(_("Professionnel dont la licence a expiré"), (2,), day=day, expired=True))
    partners = []
    for value in _named_in(compiled, "organisation"):
        try:
            partners.append(uuid.UUID(value))
        except ValueError:
            continue
    names = _organisation_names(partners)
    for partner in partners:
        label = _("Partenaire nommé : %(name)s") % {"name": names.get(partner, str(partner))}
        samples.append((label, Subject(kind="client", acts_for=frozenset({partner}), node=str(settings.NODE_BASE_URL))))
    ministry = (_named_in(compiled, "node") or ministry_nodes())[:1]
    if ministry:
        samples.append((_("Le ministère de la Culture"), Subject(kind="client", node=ministry[0])))
    if owner_id is not None:
        samples.append(
            (
                _("Personnel de la structure propriétaire"),
                Subject(
                    kind="person",
                    acts_for=frozenset({owner_id}),
                    staff_roles={owner_id: "administrator"},
                    node=str(settings.NODE_BASE_URL),
                ),
            )
        )
    return samples


def _uuid_field(value: Any, name: str) -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise ValidationError({name: [_("UUID attendu.")]}) from None


def described_subject(spec: Any, owner_id: uuid.UUID | None, day: dt.date) -> tuple[str, Subject]:
    """The hypothetical subject of a `subject` object (400 naming `subject.<member>` when malformed)."""
    if not isinstance(spec, dict):
        raise ValidationError({"subject": [_("Un objet décrivant le sujet, ou « me ».")]})
    known = {"licensed", "licence_categories", "organisation", "node", "staff_role", "region"}
    unknown = sorted(set(spec) - known)
    if unknown:
        raise ValidationError(
            {f"subject.{unknown[0]}": [_("Membre inconnu ; membres possibles : %s.") % ", ".join(sorted(known))]}
        )
    licensed = spec.get("licensed", False)
    if not isinstance(licensed, bool):
        raise ValidationError({"subject.licensed": [_("true ou false.")]})
    categories_raw = spec.get("licence_categories", [])
    if not isinstance(categories_raw, list) or any(c not in (1, 2, 3) or isinstance(c, bool) for c in categories_raw):
        raise ValidationError({"subject.licence_categories": [_("Une liste de catégories parmi 1, 2 et 3.")]})
    organisation = _uuid_field(spec["organisation"], "subject.organisation") if spec.get("organisation") else None
    node = spec.get("node") or str(settings.NODE_BASE_URL)
    if not isinstance(node, str):
        raise ValidationError({"subject.node": [_("L'URL de base d'un nœud.")]})
    region = spec.get("region") or ""
    if not isinstance(region, str):
        raise ValidationError({"subject.region": [_("Un nom de région.")]})
    role = spec.get("staff_role")
    if role is not None and role not in STAFF_ROLES:
        raise ValidationError({"subject.staff_role": [_("Un rôle parmi : %s.") % ", ".join(STAFF_ROLES)]})
    if role is not None and owner_id is not None:
        subject = Subject(
            kind="person", acts_for=frozenset({owner_id}), staff_roles={owner_id: role}, node=node, region=region
        )
        return _("Personnel de la structure propriétaire (%(role)s)") % {"role": role}, subject
    categories = tuple(sorted(set(categories_raw))) or ((1, 2, 3) if licensed else ())
    label, subject = _professional(
        _("Sujet décrit"), categories if licensed else (), day=day, organisation=organisation, node=node, region=region
    )
    return label, subject


# ---------------------------------------------------------------------------- the view


def _decision_json(action: str, decision: Decision) -> dict[str, Any]:
    from policies.odrl import format_duration

    def value(raw: Any) -> Any:
        return format_duration(raw) if isinstance(raw, dt.timedelta) else raw

    return {
        "action": action,
        "effect": decision.effect,
        "reason_code": decision.reason_code,
        "reason": decision.reason,
        "obligations": [{"action": o.action, "value": value(o.value)} for o in decision.obligations],
    }


def may_explain_everyone(request: Request, subject: Subject, owner_id: uuid.UUID | None) -> bool:
    """The owner's staff (session), a superuser, or a token with `policies:manage` acting for the owner."""
    acting = subject.is_superuser or (owner_id is not None and owner_id in subject.acts_for)
    if not acting:
        return False
    token = bearer_token(request)
    return token is None or MANAGE_SCOPE in token.scopes


class ExplainView(JSONErrorsMixin, APIView):
    """POST /api/v1/policies/explain (see the module docstring)."""

    required_scopes: ClassVar[dict[str, str]] = {"read": READ_SCOPE, "write": READ_SCOPE}
    permission_classes = [ExplainPermission]

    @extend_schema(
        summary="Explain who could do what with a record, and why (no data touched)",
        description="Body: `record` (global URI or {type, id}), optional `action`, `purpose`, and `subject` "
        '(an object describing a caller, or "me") or `subjects: "samples"`. The owner\'s staff and tokens with '
        '`policies:manage` of the owner may ask about any subject; anyone authenticated about "me" only.',
        request=OpenApiTypes.OBJECT,
        responses={
            200: OpenApiTypes.OBJECT,
            400: OpenApiResponse(description="Malformed body: `fields` names the member."),
            401: OpenApiResponse(description="No credentials."),
            403: OpenApiResponse(
                description='Only "subject": "me" is open to callers that do not manage the owner\'s policies.'
            ),
            404: OpenApiResponse(description="No such record (or hidden from the caller)."),
        },
    )
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        from policies.controls import find_record, parse_record_reference
        from policies.sentences import sentence

        body = request.data if isinstance(request.data, dict) else {}
        if "record" not in body:
            raise ValidationError({"record": [_("Indiquez l'enregistrement (URI ou {type, id}).")]})
        target_type, target_id = parse_record_reference(body["record"])
        action = body.get("action")
        if action is not None and action not in ACTIONS:
            raise ValidationError({"action": [_("Une action parmi : %s.") % ", ".join(ACTIONS)]})
        actions = (action,) if action else ACTIONS
        purpose = parse_purpose(body.get("purpose"))
        record = find_record(target_type, target_id)
        if record is None:
            raise exceptions.NotFound()
        owner_id = pdp.owner_of(record)
        caller = subject_for_request(request)
        now = timezone.now()
        day = pdp.node_day(now)
        context = pdp.Context(purpose=purpose, now=now, dry_run=True, require_purpose=bool(purpose))
        spec = body.get("subject")
        full = may_explain_everyone(request, caller, owner_id)
        if not full and _unseen(request, caller, record, context):
            raise exceptions.NotFound()  # before any other answer: a hidden record or an option is not disclosed
        if spec == "me":
            subjects = [(_("Vous"), caller)]
        elif not full:
            raise exceptions.PermissionDenied(
                _(
                    "Seuls le personnel de la structure propriétaire et les jetons portant policies:manage pour elle "
                    "peuvent interroger pour d'autres sujets ; demandez « subject »: « me » pour vous-même."
                ),
                code="explain_own_only",
            )
        elif spec is not None:
            subjects = [described_subject(spec, owner_id, day)]
        else:
            if body.get("subjects", "samples") != "samples":
                raise ValidationError({"subjects": [_("Seule la valeur « samples » est possible.")]})
            subjects = sample_subjects(pdp.policy_index().policy_for(pdp.resource_ref(record)), owner_id, day)
        compiled = pdp.policy_index().policy_for(pdp.resource_ref(record))
        owner_name = getattr(getattr(record, "owner", None), "name", "") or getattr(record, "name", "")
        answers = []
        for label, subject in subjects:
            decisions = [_decision_json(name, pdp.decide(subject, name, record, context)) for name in actions]
            answers.append({"subject": _subject_json(label, subject, me=spec == "me"), "decisions": decisions})
        return Response(
            {
                "record": {
                    "uri": getattr(record, "uri", ""),
                    "type": target_type,
                    "id": str(target_id),
                    "owner": {"id": str(owner_id) if owner_id else None, "name": owner_name},
                },
                "policy": {
                    "uid": compiled.doc.uid,
                    "scope": compiled.scope,
                    "sentence": sentence(compiled.doc, owner_name=owner_name),
                },
                "purpose": purpose or None,
                "answers": answers,
            }
        )


def _unseen(request: Request, caller: Subject, record: Any, context: pdp.Context) -> bool:
    """Is the record one the caller may not know of: hidden from it, or a performance under option
    (visible to the node's staff only)? The API answers both 404, so explain does too."""
    from dataspace.api.auth import is_node_staff
    from dataspace.referentials.models import Performance

    if isinstance(record, Performance) and record.status == Performance.Status.OPTION and not is_node_staff(request):
        return True
    return pdp.decide(caller, "read", record, context).reason_code == "hidden"


def _subject_json(label: str, subject: Subject, *, me: bool) -> dict[str, Any]:
    out: dict[str, Any] = {"label": label, "kind": subject.kind}
    if me:
        out["key"] = subject.key
    if subject.professional is not None:
        out["licence_categories"] = sorted({licence.category for licence in subject.professional.licences})
        out["licence_valid_until"] = max(
            (licence.valid_until.isoformat() for licence in subject.professional.licences if licence.valid_until),
            default=None,
        )
    if subject.node:
        out["node"] = subject.node
    if subject.region:
        out["region"] = subject.region
    organisations = sorted(str(pk) for pk in subject.acts_for)
    if organisations:
        out["acts_for"] = organisations
    if subject.staff_roles:
        out["staff_roles"] = {str(k): v for k, v in subject.staff_roles.items()}
    return out
