"""REST API of usage policies: /api/v1/policies/ (docs/policies.md, "API").

* ``/api/v1/policies/`` — list and create; ``/api/v1/policies/{id}/`` — read, change (PUT/PATCH),
  and DELETE, which **deactivates** (the policy stays as history). Scope ``policies:manage``; a
  caller sees and changes only the policies of organisations it may write for (staff with the
  administrator or editor role, a depositor client for its organisation and its mandates, a
  superuser for all).
* A policy is written as templates or as ODRL (JSON body ``{"odrl": {...}}``, or the raw ODRL
  document with ``Content-Type: application/ld+json``); ``Accept: application/ld+json`` reads the
  ODRL document itself.
* ``/api/v1/policies/templates`` and ``/api/v1/policies/profile`` are public.

Rules and validation live in `policies.services`; a `PolicyError` is a 400 naming the member
(``templates[1].categories``, ``odrl.permission[0].action``).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from typing import Any, ClassVar, TypeVar

from django.db.models import Q, QuerySet
from django.utils import timezone
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import parsers, status, viewsets
from rest_framework.exceptions import ValidationError
from rest_framework.renderers import BrowsableAPIRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from dataspace.api.auth import machine_client, person
from dataspace.api.errors import PreconditionFailed
from dataspace.api.mixins import IdempotentCreateMixin, JSONErrorsMixin, if_match_fails, record_etag
from dataspace.api.permissions import WRITE_ROLES, ensure_may_write_owner, staff_roles
from dataspace.api.renderers import JSONLDRenderer
from dataspace.referentials.models import Organisation
from policies import services
from policies.api.serializers import (
    PolicySerializer,
    PolicyUpdateSerializer,
    PolicyWriteSerializer,
    TemplateSerializer,
)
from policies.language import PolicyError
from policies.models import Policy
from policies.odrl import ODRL_CONTEXT, profile_description
from policies.templates import list_templates

#: Scope of every policy endpoint.
POLICY_SCOPE = "policies:manage"
POLICY_SCOPES: dict[str, str] = {"read": POLICY_SCOPE, "write": POLICY_SCOPE}

T = TypeVar("T")

_DATASET_TARGET = re.compile(r"/id/organisation/(?P<owner>[0-9a-fA-F-]{36})/datasets/(?P<type>[a-z-]+)$")
_RECORD_TARGET = re.compile(r"/id/(?P<type>[a-z-]+)/(?P<id>[0-9a-fA-F-]{36})$")


class JSONLDParser(parsers.JSONParser):
    """A raw ODRL policy posted as ``application/ld+json`` (the policies view only)."""

    media_type = "application/ld+json"


def policy_error(error: PolicyError) -> ValidationError:
    """A `PolicyError` as a 400 naming the member at fault."""
    return ValidationError({error.field or "non_field_errors": [error.message]})


def _checked(call: Callable[..., T], **kwargs: Any) -> T:
    try:
        return call(**kwargs)
    except PolicyError as error:
        raise policy_error(error) from None


def writable_organisations(request: Request) -> QuerySet[Organisation] | None:
    """Organisations whose policies the caller may see and change; None: every one (superuser)."""
    client = machine_client(request)
    if client is not None:
        from dataspace.oauth.mandates import may_write_for
        from dataspace.oauth.models import Mandate

        candidates = {client.owner_id} if client.owner_id else set()
        now = timezone.now()
        mandates = Mandate.objects.filter(client=client, revoked_at__isnull=True).filter(
            Q(expires_at__isnull=True) | Q(expires_at__gt=now)
        )
        candidates |= set(mandates.values_list("structure_id", flat=True))
        organisations = Organisation.objects.filter(pk__in=candidates)
        allowed = [o.pk for o in organisations if may_write_for(client, o, POLICY_SCOPE)]
        return Organisation.objects.filter(pk__in=allowed)
    user = person(request)
    if user is None:
        return Organisation.objects.none()
    if user.is_superuser:
        return None
    roles = staff_roles(user)
    return Organisation.objects.filter(pk__in=[org for org, role in roles.items() if role in WRITE_ROLES])


_ERRORS = {
    400: OpenApiResponse(description="Invalid policy: `fields` names the member (e.g. `odrl.permission[0].action`)."),
    401: OpenApiResponse(description="Credentials needed."),
    403: OpenApiResponse(description="Scope policies:manage missing, or the caller may not write for this owner."),
}


class _PolicyCreate(viewsets.ModelViewSet):
    """How a write body is read, and the creation itself (below `IdempotentCreateMixin`, which replays it)."""

    def _body(self, request: Request) -> dict[str, Any]:
        """The write's members: the JSON body, or a raw ODRL document plus query parameters."""
        if not str(request.content_type or "").startswith("application/ld+json"):
            data = request.data
            if not isinstance(data, dict):
                raise ValidationError({"non_field_errors": ["A JSON object is expected."]})
            return dict(data)
        document = request.data
        if not isinstance(document, dict):
            raise ValidationError({"odrl": ["An ODRL policy is a JSON object."]})
        params = request.query_params
        body: dict[str, Any] = {"odrl": document}
        for key in ("target_type", "target_id", "owner", "title"):
            if params.get(key):
                body[key] = params[key]
        target = document.get("target")
        if "target_type" not in body and isinstance(target, str):
            dataset = _DATASET_TARGET.search(target)
            record = _RECORD_TARGET.search(target)
            if dataset:
                body["target_type"] = dataset["type"]
                body.setdefault("owner", dataset["owner"])
            elif record:
                body["target_type"] = record["type"]
                body["target_id"] = record["id"]
        return body

    def _owner(self, request: Request, data: dict[str, Any]) -> Organisation:
        if data.get("owner") is not None:
            owner: Organisation = data["owner"]
            return owner
        if data.get("target_id"):
            model = _checked(services.target_model, target_type=data["target_type"])
            record = model.objects.filter(pk=data["target_id"]).first()
            if record is None:
                raise ValidationError({"target_id": [f"No {data['target_type']} record {data['target_id']} here."]})
            found = Organisation.objects.filter(pk=services.record_owner_id(record)).first()
            if found is not None:
                return found
        from dataspace.referentials.services import default_owner

        default = default_owner(machine_client(request))
        if default is None:
            raise ValidationError({"owner": ["Name the organisation whose policy this is (owner)."]})
        return default

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        serializer = PolicyWriteSerializer(data=self._body(request))
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        owner = self._owner(request, data)
        ensure_may_write_owner(request, owner, POLICY_SCOPE)
        policy = _checked(
            services.save_policy,
            owner=owner,
            target_type=data["target_type"],
            target_id=data.get("target_id"),
            templates=data.get("templates"),
            odrl=data.get("odrl"),
            title=data.get("title", ""),
            by=person(request),
        )
        headers = {"ETag": record_etag(policy), "Location": f"{request.path.rstrip('/')}/{policy.pk}/"}
        return Response(PolicySerializer(policy).data, status=status.HTTP_201_CREATED, headers=headers)


@extend_schema_view(
    list=extend_schema(summary="List the policies the caller manages", responses={200: PolicySerializer(many=True)}),
    retrieve=extend_schema(summary="One policy (ODRL itself with Accept: application/ld+json)"),
    create=extend_schema(
        summary="Save a policy (templates or ODRL); it replaces the target's active policy",
        request=PolicyWriteSerializer,
        responses={201: PolicySerializer, **_ERRORS},
    ),
    update=extend_schema(summary="Replace the rules or title of an active policy", request=PolicyUpdateSerializer),
    partial_update=extend_schema(
        summary="Change the rules or title of an active policy", request=PolicyUpdateSerializer
    ),
    destroy=extend_schema(summary="Deactivate a policy (kept as history)", responses={204: None, **_ERRORS}),
)
class PolicyViewSet(JSONErrorsMixin, IdempotentCreateMixin, _PolicyCreate):
    """Usage policies of the organisations the caller may write for."""

    required_scopes: ClassVar[dict[str, str]] = POLICY_SCOPES
    serializer_class = PolicySerializer
    queryset = Policy.objects.select_related("owner")
    parser_classes = [parsers.JSONParser, JSONLDParser]
    renderer_classes = [JSONRenderer, JSONLDRenderer, BrowsableAPIRenderer]
    filter_backends = ()
    http_method_names = ["get", "post", "put", "patch", "delete", "head", "options"]

    # ------------------------------------------------------------------ reading

    def get_queryset(self) -> QuerySet[Policy]:
        queryset = Policy.objects.select_related("owner")
        allowed = writable_organisations(self.request)
        if allowed is not None:
            queryset = queryset.filter(owner__in=allowed)
        params = self.request.query_params
        if params.get("active") in ("true", "false"):
            queryset = queryset.filter(active=params["active"] == "true")
        elif "active" in params:
            raise ValidationError({"active": ["Use active=true or active=false."]})
        if params.get("target_type"):
            queryset = queryset.filter(target_type=params["target_type"])
        if params.get("owner"):
            try:
                queryset = queryset.filter(owner_id=uuid.UUID(params["owner"]))
            except ValueError:
                raise ValidationError({"owner": ["An organisation UUID is expected."]}) from None
        return queryset

    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        policy = self.get_object()
        return Response(self.get_serializer(policy).data, headers={"ETag": record_etag(policy)})

    def jsonld(self, data: Any) -> Any:
        """With Accept: application/ld+json: the ODRL document (a @graph of them for a list)."""
        if isinstance(data, dict) and "odrl" in data:
            return data["odrl"]
        rows = data.get("results", data) if isinstance(data, dict) else data
        graph = []
        for row in rows if isinstance(rows, list) else []:
            document = dict(row.get("odrl") or {})
            document.pop("@context", None)
            graph.append(document)
        first_context = next((row["odrl"].get("@context") for row in rows if row.get("odrl")), [ODRL_CONTEXT])
        return {"@context": first_context, "@graph": graph}

    # ------------------------------------------------------------------ writing

    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        partial = kwargs.pop("partial", False)
        policy = self.get_object()
        ensure_may_write_owner(request, policy.owner, POLICY_SCOPE)
        if if_match_fails(request.headers.get("If-Match"), record_etag(policy)):
            raise PreconditionFailed()
        body = self._body(request)
        serializer = PolicyUpdateSerializer(data=body, partial=True)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        if not partial and ("templates" in data) == ("odrl" in data):
            raise ValidationError({"templates": ["PUT gives the rules: either templates or odrl."]})
        for key, current in (("target_type", policy.target_type), ("target_id", policy.target_id)):
            if key in data and data[key] != current:
                raise ValidationError({key: ["The target of a policy never changes: save a new policy instead."]})
        if "owner" in data and data["owner"].pk != policy.owner_id:
            raise ValidationError({"owner": ["The owner of a policy never changes."]})
        policy = _checked(
            services.update_policy,
            policy=policy,
            templates=data.get("templates"),
            odrl=data.get("odrl"),
            title=data.get("title"),
            by=person(request),
        )
        return Response(PolicySerializer(policy).data, headers={"ETag": record_etag(policy)})

    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        policy = self.get_object()
        ensure_may_write_owner(request, policy.owner, POLICY_SCOPE)
        if if_match_fails(request.headers.get("If-Match"), record_etag(policy)):
            raise PreconditionFailed()
        services.deactivate_policy(policy, by=person(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


class TemplateListView(APIView):
    """The templates an administrator picks and combines (names, French labels, parameters)."""

    required_scopes: ClassVar[dict[str, str]] = {"read": POLICY_SCOPE}
    public_read: ClassVar[bool] = True
    renderer_classes = [JSONRenderer, BrowsableAPIRenderer]

    @extend_schema(summary="Policy templates", responses={200: TemplateSerializer})
    def get(self, request: Request) -> Response:
        return Response(list_templates())


class ProfileView(APIView):
    """Our ODRL profile as JSON-LD: actions, left operands and their value types, operators, duties, purposes."""

    required_scopes: ClassVar[dict[str, str]] = {"read": POLICY_SCOPE}
    public_read: ClassVar[bool] = True
    renderer_classes = [JSONRenderer, JSONLDRenderer, BrowsableAPIRenderer]

    @extend_schema(summary="The ODRL profile of this node's policies", responses={200: dict})
    def get(self, request: Request) -> Response:
        return Response(profile_description())
