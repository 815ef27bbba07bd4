"""/api/v1/ticketing/: a structure's ticketing figures, their CSV import, the quarterly declaration.

Rows are private to the structure: its staff (any role reads; administrator or editor writes) and
its own or mandated depositor clients holding `ticketing:write` (the one scope of these endpoints:
a vendor reads back what it deposits). Anyone else is refused: a token without the scope (the
ministry's `indicators:aggregate`) gets 403 `insufficient_scope`, a person with no role on any
structure 403 `ticketing_private`; a caller with a role on another structure sees none of these
rows (empty list, 404 on a detail). The ministry receives aggregates only (`..aggregate`).

* `GET/POST /ticketing/figures/` — list; POST upserts by external id (201 created, 200 updated or
  unchanged), Idempotency-Key honoured. `GET/PUT/PATCH/DELETE /ticketing/figures/{id}/` with
  ETag / If-Match. `PUT /ticketing/figures/external/{external_id}` upserts too.
* `POST /ticketing/figures/import` — a CSV body (`Content-Type: text/csv`), all lines or none.
* `GET/POST /ticketing/declarations/` — list; prepare (201 new draft, 200 refreshed draft).
  `GET …/{id}/`, `POST …/{id}/approve` (an administrator of the structure, in person),
  `GET …/{id}/download` (403 `declaration_not_approved` before approval).
"""

from __future__ import annotations

import base64
import uuid
from typing import Any, ClassVar, cast

import django_filters
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.db import transaction
from django.db.models import QuerySet
from django.http import Http404, HttpResponse
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import exceptions, mixins, parsers, status, viewsets
from rest_framework.decorators import action
from rest_framework.renderers import BrowsableAPIRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from dataspace.api.auth import bearer_token, machine_client, person
from dataspace.api.errors import Conflict, PreconditionFailed
from dataspace.api.mixins import (
    IdempotentCreateMixin,
    JSONErrorsMixin,
    conditional_read,
    if_match_fails,
    record_etag,
)
from dataspace.api.permissions import OwnerForbidden, ScopePermission, ensure_may_write_owner
from dataspace.indicators import declarations, imports, services
from dataspace.indicators.api import serializers as s
from dataspace.indicators.models import Declaration, TicketingFigures
from dataspace.indicators.ticketing_file import TicketingFileError
from dataspace.referentials.models import Organisation
from policies import enforcement

TICKETING_SCOPES: dict[str, str] = {"read": services.TICKETING_SCOPE, "write": services.TICKETING_SCOPE}
UUID_PATTERN = r"[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}"

_REFUSED = OpenApiResponse(
    description="`insufficient_scope` (the token lacks ticketing:write — the ministry's tokens always do), "
    "`ticketing_private` (a person with no role on any structure), `permission_denied` with `fields.owner` "
    "(the caller may not write for the structure owning the performances)."
)
_INVALID = OpenApiResponse(description="Invalid request: `{error, detail, fields}` names the fields.")
IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    description="A retry with the same key and body replays the first answer; another body is a 422.",
)
IF_MATCH = OpenApiParameter(
    "If-Match", OpenApiTypes.STR, OpenApiParameter.HEADER, description="ETag read before (412 when it changed)."
)


class TicketingPrivate(exceptions.PermissionDenied):
    default_code = "ticketing_private"
    default_detail = _(
        "Les chiffres de billetterie d'une structure sont privés : seuls son équipe et ses logiciels de billetterie "
        "(portée ticketing:write) les lisent ; le ministère ne reçoit que des agrégats."
    )


class NotAStructureNode(exceptions.NotFound):
    default_code = "not_a_structure_node"
    default_detail = _("Ce nœud n'a pas le rôle « structure » : il ne tient pas de chiffres de billetterie.")


class NotStructureAdministrator(exceptions.PermissionDenied):
    default_code = "not_structure_administrator"


class DeclarationNotApproved(exceptions.PermissionDenied):
    default_code = "declaration_not_approved"


class ImportRefusedError(exceptions.ValidationError):
    """400 listing every refused line (`lines`), and the same sentences under `fields.file`."""

    def __init__(self, errors: list[imports.LineError]) -> None:
        super().__init__({"file": [str(error) for error in errors]})
        self.extra = {"lines": [{"line": e.line, "field": e.field, "error": e.error} for e in errors]}


class TicketingPermission(ScopePermission):
    """ScopePermission (scope ticketing:write), on a structure node, for a caller with a standing on
    some structure: anyone else is refused outright (`ticketing_private`)."""

    def has_permission(self, request: Request, view: Any) -> bool:
        if not services.is_structure_node():
            raise NotAStructureNode()
        if bearer_token(request) is None and person(request) is not None:
            self._ensure_standing(view)  # a session: say why before the generic staff refusal
        allowed = super().has_permission(request, view)
        self._ensure_standing(view)
        return allowed

    @staticmethod
    def _ensure_standing(view: Any) -> None:
        owners = view._owners()
        if owners is not None and not owners:
            raise TicketingPrivate()


class CSVBodyParser(parsers.BaseParser):
    """`text/csv` bodies, kept as bytes (the import decodes UTF-8 or Latin-1 itself).

    The bytes travel as a Latin-1 string under `file` (a lossless mapping), so that the
    Idempotency-Key digest covers the exact body."""

    media_type = "text/csv"

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        data = stream.read() if stream is not None else b""
        return {"file": data.decode("latin-1")}


class _TicketingViewSet(viewsets.GenericViewSet):
    """Who the caller is, for every ticketing view."""

    required_scopes: ClassVar[dict[str, str]] = TICKETING_SCOPES
    permission_classes = [TicketingPermission]
    renderer_classes = [JSONRenderer, BrowsableAPIRenderer]

    def _owners(self, *, write: bool = False) -> set[uuid.UUID] | None:
        finder = services.writable_owner_ids if write else services.readable_owner_ids
        client = machine_client(self.request)
        if client is not None:
            return finder(client=client)
        return finder(user=person(self.request))

    def _actor(self) -> Any:
        return enforcement.actor_for(enforcement.subject_for_request(self.request))

    def _caller_label(self) -> str:
        client = machine_client(self.request)
        if client is not None:
            return f"client:{client.client_id}"
        user = person(self.request)
        return user.get_username() if user is not None else ""

    def _may_write(self, organisation: Organisation) -> bool:
        try:
            ensure_may_write_owner(self.request, organisation, services.TICKETING_SCOPE)
        except OwnerForbidden:
            return False
        return True

    def _default_owner(self, raw: Any) -> Organisation:
        """The structure named by `owner`, else the caller's only one; 400 naming `owner` otherwise."""
        if raw:
            found = Organisation.objects.filter(pk=raw).first()
            if found is None:
                raise exceptions.ValidationError({"owner": [_("Structure inconnue.")]})
            return found
        client = machine_client(self.request)
        if client is not None:
            return cast(Organisation, client.owner)
        owners = self._owners(write=True)
        if owners is not None and len(owners) == 1:
            return Organisation.objects.get(pk=next(iter(owners)))
        raise exceptions.ValidationError({"owner": [_("Indiquez la structure (owner).")]})


# ---------------------------------------------------------------------------- figures


class FiguresFilter(django_filters.FilterSet):
    quarter = django_filters.CharFilter(field_name="quarter")
    external_id = django_filters.CharFilter(field_name="external_id")
    ticketing_system = django_filters.CharFilter(field_name="ticketing_system")
    owner = django_filters.UUIDFilter(field_name="owner_id")
    performance = django_filters.UUIDFilter(field_name="covered__performance_id")

    class Meta:
        model = TicketingFigures
        fields = ["quarter", "external_id", "ticketing_system", "owner", "performance"]


def _figures_error(exc: services.FiguresError) -> exceptions.ValidationError:
    return exceptions.ValidationError(exc.errors)


_WRITE_RESPONSES = {
    200: s.FiguresSerializer,
    400: _INVALID,
    401: OpenApiResponse(description="No credentials."),
    403: _REFUSED,
}
_DETAIL_WRITE = {**_WRITE_RESPONSES, 404: None, 412: None}


class _FiguresViewSetBase(
    mixins.CreateModelMixin,
    mixins.RetrieveModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    mixins.ListModelMixin,
    _TicketingViewSet,
):
    """A structure's ticketing figures, per performance or per series (never shown to the ministry)."""

    serializer_class = s.FiguresSerializer
    filterset_class = FiguresFilter
    filter_backends = [DjangoFilterBackend]
    lookup_value_regex = UUID_PATTERN
    http_method_names = ["get", "post", "put", "patch", "delete", "head", "options"]

    def get_queryset(self) -> QuerySet[TicketingFigures]:
        if getattr(self, "swagger_fake_view", False):
            return TicketingFigures.objects.none()
        return services.figures_of(self._owners())

    def owning_organisation(self, instance: TicketingFigures) -> Any:
        """Whose figures they are (ScopePermission checks the caller writes for it before a change)."""
        return instance.owner

    # ------------------------------------------------------------------ helpers

    def _figures_input(
        self, attrs: dict[str, Any], *, external_id: str, instance: TicketingFigures | None = None
    ) -> services.FiguresInput:
        """The typed input of a write, completed from `instance` for the fields a PATCH leaves out."""
        ids = attrs.get("performance_list")
        if ids is None and instance is not None:
            ids = [covered.performance_id for covered in instance.covered.all()]
        found = {p.pk: p for p in services.performances_for(ids or [])}
        unknown = [str(pk) for pk in ids or [] if pk not in found]
        if unknown:
            raise exceptions.ValidationError(
                {"performances": [_("Représentation(s) inconnue(s) : %(ids)s.") % {"ids": ", ".join(unknown)}]}
            )

        def value(name: str, default: Any) -> Any:
            if name in attrs:
                return attrs[name]
            return getattr(instance, name) if instance is not None else default

        return services.FiguresInput(
            external_id=external_id,
            performances=[found[pk] for pk in ids or []],
            ticketing_system=value("ticketing_system", ""),
            tickets_total=value("tickets_total", 0),
            tickets_full_price=value("tickets_full_price", 0),
            tickets_subscription=value("tickets_subscription", 0),
            tickets_exempt=value("tickets_exempt", 0),
            receipts_total=value("receipts_total", 0),
            receipts_full_price=value("receipts_full_price", 0),
            capacity=value("capacity", None),
        )

    def _owner_for_write(self, data: services.FiguresInput) -> Organisation:
        try:
            owner = services.owner_of(data.performances)
        except services.FiguresError as exc:
            raise _figures_error(exc) from None
        ensure_may_write_owner(self.request, owner, services.TICKETING_SCOPE)
        return owner

    def _record(self, data: services.FiguresInput) -> tuple[TicketingFigures, str]:
        try:
            figures, outcome = services.record_figures(data)
        except services.FiguresError as exc:
            raise _figures_error(exc) from None
        return services.figures_of(None).get(pk=figures.pk), outcome

    def _answer(self, figures: TicketingFigures, outcome: str) -> Response:
        code = status.HTTP_201_CREATED if outcome == services.CREATED else status.HTTP_200_OK
        headers = {"ETag": record_etag(figures)}
        if outcome == services.CREATED:
            headers["Location"] = self.request.build_absolute_uri(
                reverse("ticketing-figures-detail", kwargs={"pk": str(figures.pk)})
            )
        return Response(self.get_serializer(figures).data, status=code, headers=headers)

    def _upsert(self, external_id: str, attrs: dict[str, Any]) -> Response:
        data = self._figures_input(attrs, external_id=external_id)
        owner = self._owner_for_write(data)
        with transaction.atomic():
            current = (
                TicketingFigures.objects.select_for_update()
                .filter(owner=owner, external_id=external_id.strip())
                .first()
            )
            if current is not None and if_match_fails(self.request.headers.get("If-Match"), record_etag(current)):
                raise PreconditionFailed(
                    _("Ces chiffres ont changé depuis votre lecture (ETag %(etag)s).") % {"etag": record_etag(current)}
                )
            figures, outcome = self._record(data)
        return self._answer(figures, outcome)

    # ------------------------------------------------------------------ endpoints

    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return conditional_read(request, self.get_object(), lambda obj: self.get_serializer(obj).data)

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        attrs = dict(serializer.validated_data)
        return self._upsert(str(attrs.get("external_id", "")), attrs)

    def _object_for_write(self) -> TicketingFigures:
        instance = cast(TicketingFigures, self.get_object())
        locked = services.figures_of(None).select_for_update(of=("self",)).filter(pk=instance.pk).first()
        if locked is None:
            raise Http404
        if if_match_fails(self.request.headers.get("If-Match"), record_etag(locked)):
            raise PreconditionFailed(
                _("Ces chiffres sont à la version %(version)s (ETag %(etag)s) : relisez-les et réessayez.")
                % {"version": locked.version, "etag": record_etag(locked)}
            )
        return locked

    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        partial = kwargs.pop("partial", False)
        with transaction.atomic():
            instance = self._object_for_write()
            serializer = self.get_serializer(instance, data=request.data, partial=partial)
            serializer.is_valid(raise_exception=True)
            attrs = dict(serializer.validated_data)
            external_id = str(attrs.get("external_id", instance.external_id)).strip()
            if external_id != instance.external_id:
                message = _(
                    "L'identifiant de la billetterie ne change pas : supprimez ces chiffres et déclarez-les à nouveau."
                )
                raise exceptions.ValidationError({"external_id": [message]})
            data = self._figures_input(attrs, external_id=external_id, instance=instance)
            owner = self._owner_for_write(data)
            if owner.pk != instance.owner_id:
                raise exceptions.ValidationError(
                    {"performances": [_("Ces chiffres restent à la structure qui les a déclarés.")]}
                )
            figures, outcome = self._record(data)
        return self._answer(figures, outcome)

    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        with transaction.atomic():
            services.delete_figures(self._object_for_write())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        summary="Record figures under this external id: upsert (201 created, 200 updated or unchanged)",
        request=s.FiguresSerializer,
        parameters=[IF_MATCH],
        responses={201: s.FiguresSerializer, **_WRITE_RESPONSES, 412: None},
    )
    @action(detail=False, methods=["put"], url_path=r"external/(?P<external_id>[^/]{1,200})")
    def external(self, request: Request, *args: Any, external_id: str = "", **kwargs: Any) -> Response:
        body = dict(request.data) if isinstance(request.data, dict) else {}
        body["external_id"] = external_id
        serializer = self.get_serializer(data=body)
        serializer.is_valid(raise_exception=True)
        return self._upsert(external_id, dict(serializer.validated_data))


@extend_schema_view(
    list=extend_schema(
        summary="Ticketing figures of the caller's structures",
        responses={200: s.FiguresSerializer(many=True), 403: _REFUSED},
    ),
    retrieve=extend_schema(
        summary="One row of ticketing figures",
        responses={200: s.FiguresSerializer, 304: None, 403: _REFUSED, 404: None},
    ),
    create=extend_schema(
        summary="Record figures: upsert by external id (201 created, 200 updated or unchanged)",
        parameters=[IDEMPOTENCY_KEY],
        responses={
            201: s.FiguresSerializer,
            **_WRITE_RESPONSES,
            422: OpenApiResponse(description="Idempotency-Key reused."),
        },
    ),
    update=extend_schema(summary="Replace a row of figures", parameters=[IF_MATCH], responses=_DETAIL_WRITE),
    partial_update=extend_schema(summary="Change a row of figures", parameters=[IF_MATCH], responses=_DETAIL_WRITE),
    destroy=extend_schema(
        summary="Delete a row of figures",
        parameters=[IF_MATCH],
        responses={204: None, 403: _REFUSED, 404: None, 412: None},
    ),
)
class FiguresViewSet(JSONErrorsMixin, IdempotentCreateMixin, _FiguresViewSetBase):
    """A structure's ticketing figures; Idempotency-Key on POST (the upsert)."""


# ---------------------------------------------------------------------------- CSV import


OWNER_PARAMETER = OpenApiParameter(
    "owner",
    OpenApiTypes.UUID,
    OpenApiParameter.QUERY,
    description="Only accept lines about this structure's performances.",
)


class _FiguresImportViewSetBase(_TicketingViewSet):
    """POST a CSV of figures (text/csv body): every line is checked first; one bad line refuses the
    whole file (400 listing each line, field and reason) and nothing is written."""

    parser_classes = [CSVBodyParser]
    serializer_class = s.ImportReportSerializer

    def get_queryset(self) -> QuerySet[TicketingFigures]:
        return TicketingFigures.objects.none()

    @extend_schema(
        summary="Import a CSV of ticketing figures (all lines or none)",
        request={"text/csv": OpenApiTypes.BINARY},
        parameters=[OWNER_PARAMETER, IDEMPOTENCY_KEY],
        responses={
            200: s.ImportReportSerializer,
            400: OpenApiResponse(
                description="Unusable file (`fields.file`) or bad lines (`lines`: line, field, error)."
            ),
            403: _REFUSED,
        },
    )
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        raw = request.data.get("file") if isinstance(request.data, dict) else None
        if not raw:
            raise exceptions.ValidationError(
                {"file": [_("Envoyez le fichier CSV dans le corps (Content-Type: text/csv).")]}
            )
        owner = None
        if request.query_params.get("owner"):
            try:
                owner_id = uuid.UUID(request.query_params["owner"])
            except ValueError:
                raise exceptions.ValidationError({"owner": [_("Identifiant de structure invalide.")]}) from None
            owner = self._default_owner(owner_id)
            ensure_may_write_owner(request, owner, services.TICKETING_SCOPE)
        try:
            report = imports.import_ticketing(raw.encode("latin-1"), owner=owner, may_write=self._may_write)
        except TicketingFileError as exc:
            raise exceptions.ValidationError({"file": [str(exc)]}) from None
        except imports.ImportRefused as exc:
            raise ImportRefusedError(exc.errors) from None
        return Response(s.ImportReportSerializer(report).data, status=status.HTTP_200_OK)


class FiguresImportViewSet(JSONErrorsMixin, IdempotentCreateMixin, _FiguresImportViewSetBase):
    """The CSV import; Idempotency-Key honoured (the digest covers the exact bytes)."""


# ---------------------------------------------------------------------------- declarations


class _DeclarationViewSetBase(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    _TicketingViewSet,
):
    """Quarterly SIBIL-shaped declarations: prepared here, approved by an administrator of the
    structure, only then downloadable."""

    serializer_class = s.DeclarationSerializer
    filter_backends = [DjangoFilterBackend]
    filterset_fields = ["quarter", "status"]
    lookup_value_regex = UUID_PATTERN

    def get_queryset(self) -> QuerySet[Declaration]:
        if getattr(self, "swagger_fake_view", False):
            return Declaration.objects.none()
        return cast(QuerySet[Declaration], declarations.declarations_of(self._owners()))

    def paginate_queryset(self, queryset: Any) -> Any:
        return None  # a few declarations per quarter: one page

    def get_serializer_context(self) -> dict[str, Any]:
        context = dict(super().get_serializer_context())
        context["show_rows"] = self._may_see_rows
        return context

    def _may_see_rows(self, declaration: Declaration) -> bool:
        """The structure's own people see the draft; a machine client only what was approved."""
        if declaration.is_approved:
            return True
        if machine_client(self.request) is not None:
            return False
        owners = services.readable_owner_ids(user=person(self.request))
        return owners is None or declaration.owner_id in owners

    @extend_schema(
        summary="Prepare (or refresh) the draft declaration of a quarter",
        request=s.PrepareDeclarationSerializer,
        parameters=[IDEMPOTENCY_KEY],
        responses={201: s.DeclarationSerializer, 200: s.DeclarationSerializer, 400: _INVALID, 403: _REFUSED},
    )
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        form = s.PrepareDeclarationSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        owner = self._default_owner(form.validated_data.get("owner"))
        ensure_may_write_owner(request, owner, services.TICKETING_SCOPE)
        try:
            declaration = declarations.prepare_declaration(
                owner, form.validated_data["quarter"], by=self._caller_label()
            )
        except declarations.DeclarationError as exc:
            raise exceptions.ValidationError(exc.errors) from None
        code = status.HTTP_201_CREATED if declaration.version == 1 else status.HTTP_200_OK
        return Response(self.get_serializer(declaration).data, status=code)

    @extend_schema(
        summary="Approve the draft: only an administrator of the structure, in person (journaled)",
        request=s.ApproveDeclarationSerializer,
        responses={
            200: s.DeclarationSerializer,
            403: OpenApiResponse(
                description="`not_structure_administrator`: only the structure's administrators approve."
            ),
            409: OpenApiResponse(description="Already approved, or prepared again since read (`sha256`)."),
        },
    )
    @action(detail=True, methods=["post"])
    def approve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        declaration = cast(Declaration, self.get_object())
        form = s.ApproveDeclarationSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        user = person(request)
        try:
            approved = declarations.approve_declaration(declaration, by=user, sha256=form.validated_data.get("sha256"))
        except DjangoPermissionDenied as exc:
            raise NotStructureAdministrator(str(exc)) from None
        except declarations.DeclarationConflict as exc:
            raise Conflict(" ".join(m for messages in exc.errors.values() for m in messages)) from None
        return Response(self.get_serializer(approved).data)

    @extend_schema(
        summary="Download the approved declaration (CSV); 403 before approval",
        responses={
            (200, "text/csv"): OpenApiTypes.BINARY,
            403: OpenApiResponse(description="`declaration_not_approved`: nothing leaves the node before approval."),
        },
    )
    @action(detail=True, methods=["get"])
    def download(self, request: Request, *args: Any, **kwargs: Any) -> HttpResponse:
        declaration = cast(Declaration, self.get_object())
        try:
            exported = declarations.export_declaration(declaration, actor=self._actor())
        except declarations.NotApproved as exc:
            raise DeclarationNotApproved(str(exc)) from None
        body = exported.content.encode("utf-8")
        response = HttpResponse(body, content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{exported.filename}"'
        digest = base64.b64encode(bytes.fromhex(exported.sha256)).decode("ascii")
        response["Content-Digest"] = f"sha-256=:{digest}:"  # RFC 9530
        return response


@extend_schema_view(
    list=extend_schema(
        summary="Declarations of the caller's structures",
        responses={200: s.DeclarationSerializer(many=True), 403: _REFUSED},
    ),
    retrieve=extend_schema(
        summary="One declaration (its rows once approved, or for the structure's staff)",
        responses={200: s.DeclarationSerializer, 403: _REFUSED, 404: None},
    ),
)
class DeclarationViewSet(JSONErrorsMixin, IdempotentCreateMixin, _DeclarationViewSetBase):
    """Declarations; Idempotency-Key on POST (preparing)."""
