"""REST API of the referentials: /api/v1/<plural>/ (DESIGN.md §4).

Views are thin: querysets (with the joins and prefetches that keep list query counts flat in the
page size; the change feed's leaner ones in `feed_queryset`), filters, and the renderings. Rules
live in `services`, validation in the serializers (which call the model's own rules), the JSON-LD
mapping in `dataspace.referentials.jsonld`.

Renderings: JSON by default; JSON-LD on `Accept: application/ld+json` (or `?format=jsonld`);
CSV with `?format=csv&fields=a,b`. A CSV export without `cursor`/`page_size` is the whole
filtered collection, streamed, up to `csv_max_rows` rows (more is a 400 asking to filter or
page); with `page_size`/`cursor` it is one page and the next page is in the `Link` header.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, cast

from django.db.models import Prefetch, Q, QuerySet
from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import permissions as drf_permissions
from rest_framework import viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.renderers import BrowsableAPIRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from dataspace.api.auth import is_node_staff, machine_client
from dataspace.api.mixins import (
    ConditionalRecordMixin,
    CSVColumnsMixin,
    IdempotentCreateMixin,
    JSONErrorsMixin,
    record_etag,
)
from dataspace.api.permissions import OwnerForbidden, ensure_may_write_owner
from dataspace.api.renderers import JSONLDRenderer, csv_attachment, stream_csv
from dataspace.referentials import jsonld, services
from dataspace.referentials import permissions as object_grants
from dataspace.referentials.api import filters as f
from dataspace.referentials.api import serializers as s
from dataspace.referentials.models import (
    Contribution,
    Hall,
    Organisation,
    Performance,
    Person,
    Production,
    Season,
    TechnicalSheet,
    Venue,
    Work,
)
from policies import enforcement

#: The OAuth scopes each view needs (read: safe methods, write: the others); see dataspace.api.permissions.
REFERENTIAL_SCOPES: dict[str, str] = {"read": "referentials:read", "write": "referentials:write"}

_ERRORS = {
    400: OpenApiResponse(description="Invalid request: `{error, detail, fields}` names the fields."),
    401: OpenApiResponse(description="Writes need credentials; a presented token is invalid, expired or revoked."),
    403: OpenApiResponse(
        description="The token lacks the scope (`insufficient_scope`), the client is a reader, or the caller "
        "may not write data of this owner (`fields.owner`: a depositor writes for its organisation and the "
        "structures that gave it a mandate; staff need the editor or administrator role)."
    ),
}
_DETAIL_ERRORS = {
    **_ERRORS,
    404: OpenApiResponse(description="No such record (or not visible to the caller)."),
    410: OpenApiResponse(description="The record was deleted; the body carries its tombstone."),
}
IF_MATCH = OpenApiParameter(
    "If-Match",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    description="ETag read before; the write is refused with 412 when the record changed since.",
)
IF_NONE_MATCH = OpenApiParameter(
    "If-None-Match", OpenApiTypes.STR, OpenApiParameter.HEADER, description="ETag held; 304 when unchanged."
)
IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    description="Unique key of this creation: a retry with the same key and body replays the first answer "
    "(header `Idempotent-Replayed: true`); another body with the same key is a 422.",
)
CSV_FIELDS = OpenApiParameter(
    "fields",
    OpenApiTypes.STR,
    OpenApiParameter.QUERY,
    description="With `format=csv`: comma-separated columns (names of the JSON members).",
)


def documented(name: str, serializer: type[s.RecordSerializer]) -> Any:
    """The OpenAPI annotations shared by every referential viewset."""
    not_modified = OpenApiResponse(description="Not modified (If-None-Match).")
    failed = OpenApiResponse(description="If-Match does not match the current ETag.")
    return extend_schema_view(
        list=extend_schema(
            summary=f"List {name}", parameters=[CSV_FIELDS], responses={200: serializer(many=True), **_ERRORS}
        ),
        retrieve=extend_schema(
            summary=f"One of the {name}",
            parameters=[IF_NONE_MATCH],
            responses={200: serializer, 304: not_modified, **_DETAIL_ERRORS},
        ),
        create=extend_schema(
            summary=f"Create one of the {name}",
            parameters=[IDEMPOTENCY_KEY],
            responses={201: serializer, **_ERRORS, 422: OpenApiResponse(description="Idempotency-Key reused.")},
        ),
        update=extend_schema(
            summary=f"Replace one of the {name}",
            parameters=[IF_MATCH],
            responses={200: serializer, 412: failed, **_DETAIL_ERRORS},
        ),
        partial_update=extend_schema(
            summary=f"Change one of the {name}",
            parameters=[IF_MATCH],
            responses={200: serializer, 412: failed, **_DETAIL_ERRORS},
        ),
        destroy=extend_schema(
            summary=f"Delete one of the {name}",
            parameters=[IF_MATCH],
            responses={
                204: None,
                412: failed,
                **_DETAIL_ERRORS,
                409: OpenApiResponse(description="Other records still refer to it."),
            },
        ),
    )


class ReferentialViewSet(
    JSONErrorsMixin, IdempotentCreateMixin, ConditionalRecordMixin, CSVColumnsMixin, viewsets.ModelViewSet
):
    """Collection and detail of one record type; see the module docstring for renderings."""

    required_scopes: ClassVar[dict[str, str]] = REFERENTIAL_SCOPES
    #: The programme is public: anyone reads it without credentials (options stay hidden); a caller
    #: that presents a token still needs `referentials:read` (dataspace.api.permissions).
    public_read: ClassVar[bool] = True
    #: Columns of a CSV export when `fields` is not given.
    csv_default_columns: ClassVar[tuple[str, ...]] = ("id", "uri", "version")
    #: Largest CSV export streamed in one answer; beyond, filter or page with `page_size`/`cursor`.
    csv_max_rows: ClassVar[int] = 10_000
    #: Reads go through the policy decision point (`policies.enforcement`); False only for the
    #: unguarded baseline of bench/bench_guarded_list.py.
    policy_enforced: ClassVar[bool] = True
    #: Headers carrying the obligations of the data answered (attribution, licence link, deleteAfter).
    policy_headers: dict[str, str] | None = None
    #: Set by ScopePermission when a write goes through `object_grant` (the owner rules refused it).
    write_through_grant: bool = False
    #: Query parameters that match on related records, and those relations (path → model): a list
    #: filtered or searched with them only matches rows whose related records are `embeddable`.
    probing_params: ClassVar[frozenset[str]] = frozenset()
    probed_relations: ClassVar[dict[str, type[Any]]] = {}
    #: The change feed's queryset of this type (`dataspace.records.api.serializers.api_representations`):
    #: what `serializer_class` reads and nothing more — a join only for a relation it reads through
    #: (`hall.venue_id`), id-only prefetches of the id lists it emits, no ordering (the feed places
    #: each record by its change). Same representations as `queryset`, fewer queries and rows; a
    #: serializer reading more must widen it (tests/records/test_feed_querysets.py compares the two).
    #: None: the feed loads from `queryset`.
    feed_queryset: ClassVar[QuerySet[Any] | None] = None

    # ------------------------------------------------------------------ renderings

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        if getattr(request.accepted_renderer, "format", None) == "csv":
            self.csv_selected = self._requested_columns(request)
        if self.policy_enforced and request.method in drf_permissions.SAFE_METHODS:
            enforcement.request_context(request)  # 400 naming `purpose` outside the vocabulary

    def policy_action(self, request: Request) -> str:
        """The policy action of a read: `export` for a CSV rendering, else `read`."""
        return "export" if getattr(request.accepted_renderer, "format", None) == "csv" else "read"

    def jsonld(self, data: Any) -> Any:
        objects = self.rendered_objects
        if objects is None:  # a replayed answer: read the record again
            ident = data.get("id") if isinstance(data, dict) else None
            objects = list(self.get_queryset().filter(pk=ident)) if ident else []
        if self.action == "list":
            document = jsonld.graph_document(objects)
        elif not objects:
            return data
        else:
            document = jsonld.record_document(objects[0])
        if not self.policy_enforced:
            return document
        embedded = jsonld.embedded_records(document)
        return jsonld.withhold(document, self._withheld(embedded), self._hidden(embedded))

    def _hidden(self, embedded: dict[str, tuple[str, Any]]) -> set[str]:
        """The embedded records (URIs) hidden from the caller: left out of lists altogether."""
        return {
            uri for uri, (record_type, pk) in embedded.items() if pk in s.hidden_from_request(self.request, record_type)
        }

    def _withheld(self, embedded: dict[str, tuple[str, Any]]) -> set[str]:
        """The embedded records (URIs) the caller gets as a bare `@id` (see `embeddable`)."""
        from dataspace.records.services import record_models

        subject = enforcement.subject_for_request(self.request)
        if subject.is_superuser or not embedded:
            return set()
        by_type: dict[str, dict[Any, str]] = {}
        for uri, (record_type, pk) in embedded.items():
            by_type.setdefault(record_type, {})[pk] = uri
        withheld: set[str] = set()
        index = enforcement.request_index(self.request)
        for record_type, uris in by_type.items():
            model = record_models().get(record_type)
            allowed = (
                set(embeddable(subject, model, index).filter(pk__in=list(uris)).values_list("pk", flat=True))
                if model is not None
                else set()
            )
            withheld |= {uri for pk, uri in uris.items() if pk not in allowed}
        return withheld

    def filter_queryset(self, queryset: QuerySet[Any]) -> QuerySet[Any]:
        """Filters and search that look through a relation (`probed_relations`) only match rows whose
        related records the caller may see along them: probing a search term or a city must not tell
        a licensed-only production's title or a hidden venue's address."""
        queryset = super().filter_queryset(queryset)
        if not self.policy_enforced or not self.probed_relations or self.action != "list":
            return queryset
        if not self.probing_params & set(self.request.query_params):
            return queryset
        subject = enforcement.subject_for_request(self.request)
        if subject.is_superuser:
            return queryset
        index = enforcement.request_index(self.request)
        for path, model in self.probed_relations.items():
            queryset = queryset.filter(**{f"{path}__in": embeddable(subject, model, index).values("pk")})
        return queryset

    def finalize_response(self, request: Request, response: Any, *args: Any, **kwargs: Any) -> Any:
        response = super().finalize_response(request, response, *args, **kwargs)
        if (
            response.status_code == 200
            and getattr(request, "accepted_renderer", None) is not None
            and request.accepted_renderer.format == "csv"
        ):
            response["Content-Disposition"] = csv_attachment(f"{self.basename}s")
        if self.policy_headers and response.status_code < 400:
            enforcement.merge_headers(response, self.policy_headers)
        return response

    # ------------------------------------------------------------------ actions

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Any:
        queryset = self.filter_queryset(self.get_queryset())
        permits = None
        if self.policy_enforced:
            queryset, permits = enforcement.guard_list(request, queryset, self.policy_action(request))
        paging = {"cursor", "page_size"} & set(request.query_params)
        if request.accepted_renderer.format == "csv" and not paging:
            return self._csv_export(queryset, permits)
        page = self.paginate_queryset(queryset)
        assert page is not None  # noqa: S101  (every referential collection is paginated)
        self.rendered_objects = list(page)
        if permits is not None:
            self.policy_headers = enforcement.fulfil_list(permits, self.rendered_objects)
        serializer = self.get_serializer(page, many=True)
        return self.get_paginated_response(serializer.data)

    def _csv_export(self, queryset: QuerySet[Any], permits: Any = None) -> StreamingHttpResponse:
        total = queryset.count()
        if total > self.csv_max_rows:
            raise ValidationError(
                {
                    "format": [
                        f"The export would hold {total} rows, more than {self.csv_max_rows}: narrow it with filters, "
                        "or page it with page_size and follow the cursor in the Link header."
                    ]
                }
            )
        columns = self.csv_columns()
        if permits is not None:  # the obligations of the whole export, before streaming it
            self.policy_headers = enforcement.fulfil_list(permits, enforcement.export_rows(queryset))
        rows = (self.get_serializer(record).data for record in queryset.iterator(chunk_size=500))
        return stream_csv(columns, rows)

    # ------------------------------------------------------------------ who may write which owner

    def _replay(self, stored: Any, digest: str) -> Response:
        """A replayed creation is a read of the record: a caller the decision point now refuses
        (hidden from it, blocked, no longer acting for the owner) gets that refusal, not the answer."""
        response = super()._replay(stored, digest)
        body = stored.response_body
        if self.policy_enforced and isinstance(body, dict) and body.get("id"):
            model = self.get_queryset().model
            record = model._default_manager.filter(pk=body["id"]).first()
            if record is not None:
                _decision, self.policy_headers = enforcement.guard_read(self.request, record)
        return response

    def owning_organisation(self, instance: Any) -> Organisation | None:
        """Whose data the record is (ScopePermission checks it before any change)."""
        return services.owning_organisation(instance)

    def get_object(self) -> Any:
        """The record; a read of it goes through the decision point (403/404, obligations)."""
        instance = super().get_object()
        if self.policy_enforced and self.request.method in drf_permissions.SAFE_METHODS:
            _decision, self.policy_headers = enforcement.guard_read(
                self.request, instance, self.policy_action(self.request)
            )
        return instance

    def check_object_permissions(self, request: Request, obj: Any) -> None:
        """A write to a record hidden from the caller answers as to a missing one (404), before the
        owner rules would answer 403 naming its owner."""
        if (
            self.policy_enforced
            and request.method not in drf_permissions.SAFE_METHODS
            and _hidden_from_caller(request, obj)
        ):
            raise NotFound()
        super().check_object_permissions(request, obj)

    def object_grant(self, request: Request, obj: Any, scope: str) -> bool:
        """A change the owner rules refuse, permitted by the decision point (`modify`): a co-producer's
        object grant or an ODRL permission of the owner's policy; journaled for the owner."""
        if not self.policy_enforced:
            return False
        return enforcement.permit_write(request, obj, scope) is not None

    def get_serializer(self, *args: Any, **kwargs: Any) -> Any:
        """A depositor client creating without `owner` creates for its own organisation."""
        data = kwargs.get("data")
        client = machine_client(self.request) if self.action == "create" else None
        if client is not None and isinstance(data, Mapping) and "owner" not in data:
            owner = services.default_owner(client)
            kwargs["data"] = {**data, "owner": str(owner.pk) if owner is not None else None}
        return super().get_serializer(*args, **kwargs)

    def _ensure_new_owner(self, serializer: Any) -> None:
        if "owner" not in serializer.validated_data:
            return
        if self.write_through_grant and serializer.instance is not None:
            if serializer.validated_data["owner"] == services.owning_organisation(serializer.instance):
                return
            raise OwnerForbidden("A change permitted by the owner's grant or policy never hands the record over.")
        owner = serializer.validated_data["owner"]
        if serializer.instance is not None and owner is None and isinstance(serializer.instance, Organisation):
            owner = serializer.instance  # an organisation that (now) describes itself
        ensure_may_write_owner(self.request, owner, self.required_scopes["write"])

    def perform_create(self, serializer: Any) -> None:
        self._ensure_new_owner(serializer)
        serializer.save()

    def perform_update(self, serializer: Any) -> None:
        self._ensure_new_owner(serializer)
        serializer.save()

    def perform_destroy(self, instance: Any) -> None:
        services.delete_record(instance)


def _hidden_from_caller(request: Request, record: Any) -> bool:
    from policies import pdp
    from policies.controls import is_hidden_from

    record_type = str(type(record).record_type)
    if record_type not in enforcement.request_index(request).hidden_types:
        return False
    return is_hidden_from(enforcement.subject_for_request(request), record_type, record.pk, pdp.owner_of(record))


def embeddable(subject: Any, model: type[Any], index: enforcement.pdp.PolicyIndex | None = None) -> QuerySet[Any]:
    """The records of `model` another record may carry along (names, addresses in JSON-LD) or be
    found through (filters, search): those the subject acts for, and those anyone may read whose
    owner does not block the subject. A restricted record is read through its own endpoint only,
    which asks the decision point for a purpose and journals the access. `index`: the request's
    compiled policies (`enforcement.request_index`), read once per request rather than per call."""
    from policies import pdp
    from policies.subject import ANONYMOUS

    if index is None:
        index = pdp.policy_index()
    public, _permits = pdp.filter_queryset(ANONYMOUS, "read", model._default_manager.all(), pdp.Context(index=index))
    blocking = pdp.blocking_owners(subject) if index.any_block else None
    if blocking is not None:
        public = public.exclude(pdp.owned_by_subquery(model, blocking))
    condition = Q(pk__in=public.values("pk"))
    if subject.acts_for:
        condition |= pdp.owned_by(model, subject.acts_for)
    return cast(QuerySet[Any], model._default_manager.filter(condition))


# ---------------------------------------------------------------------------- the change feed's querysets


def _unordered(model: type[Any]) -> QuerySet[Any]:
    """Every row of `model`, no join, no ordering: a feed queryset whose serializer reads only the
    record's own columns (a related record's id is its foreign key column)."""
    return cast(QuerySet[Any], model._default_manager.order_by())


def _joined_only(model: type[Any], relation: str, *fields: str) -> QuerySet[Any]:
    """`model`'s rows whole, with the one-to-one or foreign-key `relation` joined for its primary key
    and `fields` only (`hall.venue_id`), no ordering."""
    own = [field.name for field in model._meta.concrete_fields]
    return _unordered(model).select_related(relation).only(*own, *(f"{relation}__{name}" for name in fields))


def _ids_of(relation: str, model: type[Any], *links: str) -> Prefetch:
    """A prefetch of `relation` loading the related records' ids only (and `links`, the foreign key
    back to the prefetching record of a reverse relation), in their model's own order: the order of
    the id list the serializer emits."""
    return Prefetch(relation, queryset=model._default_manager.only("id", *links))


# ---------------------------------------------------------------------------- the ten collections


@documented("organisations", s.OrganisationSerializer)
class OrganisationViewSet(ReferentialViewSet):
    queryset = Organisation.objects.select_related("owner")
    feed_queryset = _unordered(Organisation)
    serializer_class = s.OrganisationSerializer
    filterset_class = f.OrganisationFilter
    search_fields = ["name", "legal_name", "city", "siret"]
    ordering_fields = ["name", "created_at", "updated_at", "kind"]
    ordering = ["name"]
    csv_default_columns = ("id", "name", "legal_name", "kind", "siret", "label", "city", "postal_code", "region")


@documented("venues", s.VenueSerializer)
class VenueViewSet(ReferentialViewSet):
    queryset = Venue.objects.select_related("owner", "operator").prefetch_related("halls")
    feed_queryset = _unordered(Venue).prefetch_related(_ids_of("halls", Hall, "venue"))
    serializer_class = s.VenueSerializer
    filterset_class = f.VenueFilter
    search_fields = ["name", "city", "street_address"]
    ordering_fields = ["name", "city", "created_at", "updated_at"]
    ordering = ["name"]
    csv_default_columns = (
        "id",
        "name",
        "venue_type",
        "street_address",
        "postal_code",
        "city",
        "departement",
        "region",
        "siret",
    )


@documented("halls", s.HallSerializer)
class HallViewSet(ReferentialViewSet):
    queryset = Hall.objects.select_related("owner", "venue", "technical_sheet")
    feed_queryset = _joined_only(Hall, "technical_sheet", "hall")  # a reverse one-to-one: its key is on the sheet
    serializer_class = s.HallSerializer
    filterset_class = f.HallFilter
    search_fields = ["name", "venue__name", "venue__city"]
    ordering_fields = ["name", "created_at", "updated_at", "wheelchair_places"]
    ordering = ["name"]
    probing_params = frozenset({"search", "city"})
    probed_relations = {"venue": Venue}
    csv_default_columns = (
        "id",
        "venue",
        "name",
        "seated_capacity",
        "standing_capacity",
        "wheelchair_places",
        "technical_sheet",
    )


@documented("technical sheets", s.TechnicalSheetSerializer)
class TechnicalSheetViewSet(ReferentialViewSet):
    queryset = TechnicalSheet.objects.select_related("owner", "hall")
    feed_queryset = _joined_only(TechnicalSheet, "hall", "venue")
    serializer_class = s.TechnicalSheetSerializer
    filterset_class = f.TechnicalSheetFilter
    search_fields = ["hall__name", "hall__venue__name", "notes", "floor", "get_in"]
    ordering_fields = ["created_at", "updated_at", "version"]
    ordering = ["-updated_at"]
    probing_params = frozenset({"search", "city"})
    probed_relations = {"hall": Hall, "hall__venue": Venue}
    csv_default_columns = (
        "id",
        "hall",
        "venue",
        "version",
        "stage_width_m",
        "stage_depth_m",
        "proscenium_opening_m",
        "proscenium_height_m",
        "height_under_grid_m",
        "flying_bars",
        "flying_bar_max_load_kg",
        "stage_power_kva",
        "dressing_rooms",
    )

    @extend_schema(
        summary="Revisions of a technical sheet, newest first (version, diff, data, changed_at)",
        responses={200: s.TechnicalSheetRevisionSerializer(many=True), **_DETAIL_ERRORS},
    )
    @action(
        detail=True,
        methods=["get"],
        renderer_classes=[JSONRenderer, BrowsableAPIRenderer],
        pagination_class=None,
        filter_backends=[],
    )
    def revisions(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        sheet = self.get_object()
        revisions = sheet.revisions.order_by("-version")
        serializer = s.TechnicalSheetRevisionSerializer(revisions, many=True)
        return Response(serializer.data, headers={"ETag": record_etag(sheet)})


@documented("persons", s.PersonSerializer)
class PersonViewSet(ReferentialViewSet):
    queryset = Person.objects.select_related("owner")
    feed_queryset = _unordered(Person)
    serializer_class = s.PersonSerializer
    filterset_class = f.PersonFilter
    search_fields = ["given_name", "family_name"]
    ordering_fields = ["family_name", "given_name", "created_at", "updated_at"]
    ordering = ["family_name"]
    csv_default_columns = ("id", "given_name", "family_name", "same_as")


@documented("works", s.WorkSerializer)
class WorkViewSet(ReferentialViewSet):
    queryset = Work.objects.select_related("owner").prefetch_related("contributions__person")
    feed_queryset = _unordered(Work).prefetch_related(_ids_of("contributions", Contribution, "work"))
    serializer_class = s.WorkSerializer
    filterset_class = f.WorkFilter
    search_fields = ["title", "original_title", "description"]
    ordering_fields = ["title", "created_at", "updated_at"]
    ordering = ["title"]
    csv_default_columns = ("id", "title", "original_title", "genre", "year", "duration_minutes", "language")


@documented("productions", s.ProductionSerializer)
class ProductionViewSet(ReferentialViewSet):
    queryset = Production.objects.select_related("owner", "producer", "original_production").prefetch_related(
        "works", "coproducers", "revivals", "contributions__person"
    )
    feed_queryset = _unordered(Production).prefetch_related(
        _ids_of("works", Work),
        _ids_of("coproducers", Organisation),
        _ids_of("revivals", Production, "original_production"),
        _ids_of("contributions", Contribution, "production"),
    )
    serializer_class = s.ProductionSerializer
    filterset_class = f.ProductionFilter
    search_fields = ["title", "description"]
    ordering_fields = ["title", "created_at", "updated_at", "discipline"]
    ordering = ["title"]
    csv_default_columns = (
        "id",
        "title",
        "discipline",
        "audience",
        "producer",
        "duration_minutes",
        "language",
        "premiere_date",
        "original_production",
        "works",
    )


@documented("contributions", s.ContributionSerializer)
class ContributionViewSet(ReferentialViewSet):
    queryset = Contribution.objects.select_related("owner", "person", "production", "work")
    feed_queryset = _unordered(Contribution)
    serializer_class = s.ContributionSerializer
    filterset_class = f.ContributionFilter
    search_fields = ["person__given_name", "person__family_name", "role_label", "character"]
    ordering_fields = ["position", "role", "created_at", "updated_at"]
    ordering = ["position"]
    probing_params = frozenset({"search"})
    probed_relations = {"person": Person}
    csv_default_columns = ("id", "production", "work", "person", "role", "role_label", "character", "position")


@documented("seasons and festival editions", s.SeasonSerializer)
class SeasonViewSet(ReferentialViewSet):
    queryset = Season.objects.select_related("owner", "organiser")
    feed_queryset = _unordered(Season)
    serializer_class = s.SeasonSerializer
    filterset_class = f.SeasonFilter
    search_fields = ["name"]
    ordering_fields = ["start_date", "end_date", "name", "created_at", "updated_at"]
    ordering = ["-start_date"]
    csv_default_columns = ("id", "name", "kind", "organiser", "start_date", "end_date", "edition")


@documented("performances", s.PerformanceSerializer)
class PerformanceViewSet(ReferentialViewSet):
    """Performances under option are visible to the node's staff only (404 for anyone else)."""

    queryset = Performance.objects.select_related(
        "owner", "production", "hall", "hall__venue", "season"
    ).prefetch_related("production__works")
    feed_queryset = _joined_only(Performance, "hall", "venue")
    serializer_class = s.PerformanceSerializer
    filterset_class = f.PerformanceFilter
    search_fields = ["production__title", "hall__name", "hall__venue__name", "hall__venue__city"]
    ordering_fields = ["start", "created_at", "updated_at", "status"]
    ordering = ["start"]
    probing_params = frozenset({"search", "discipline", "audience", "city", "region", "departement"})
    probed_relations = {"production": Production, "hall": Hall, "hall__venue": Venue}
    csv_default_columns = (
        "id",
        "production",
        "hall",
        "venue",
        "start",
        "time_zone",
        "status",
        "capacity",
        "accessibility",
        "ticketing_url",
    )

    def get_queryset(self) -> QuerySet[Performance]:
        queryset = super().get_queryset()
        if getattr(self, "swagger_fake_view", False):
            return queryset
        return services.visible_performances(queryset, node_staff=is_node_staff(self.request))

    # ------------------------------------------------------------------ a co-producer's grant

    def _ensure_may_write_production(self, serializer: Any) -> None:
        """A performance is its production's: only who writes the production's data adds one to it."""
        production = serializer.validated_data.get("production")
        current = serializer.instance.production_id if serializer.instance is not None else None
        if production is None or production.pk == current:
            return
        try:
            ensure_may_write_owner(
                self.request, services.owning_organisation(production), self.required_scopes["write"]
            )
        except OwnerForbidden:
            raise object_grants.production_forbidden(production) from None

    def perform_create(self, serializer: Any) -> None:
        self._ensure_new_owner(serializer)
        self._ensure_may_write_production(serializer)
        serializer.save()

    def perform_update(self, serializer: Any) -> None:
        if self.write_through_grant:  # the schedule only; owner, production, hall… stay the owner's
            object_grants.ensure_host_change_only(serializer.instance, serializer.validated_data)
            serializer.save()
            return
        self._ensure_new_owner(serializer)
        self._ensure_may_write_production(serializer)
        serializer.save()


# ---------------------------------------------------------------------------- the JSON-LD context


class _FirstRenderer(BaseContentNegotiation):
    """The context document has one form; it is served whatever the Accept header says."""

    def select_parser(self, request: Request, parsers: Any) -> Any:
        return parsers[0] if parsers else None

    def select_renderer(self, request: Request, renderers: Any, format_suffix: str | None = None) -> Any:
        return renderers[0], renderers[0].media_type


class JSONLDContextView(APIView):
    """GET /api/v1/context.jsonld: the JSON-LD context every document of this node inlines."""

    required_scopes: ClassVar[dict[str, str]] = {"read": "referentials:read"}
    public_read: ClassVar[bool] = True
    renderer_classes = [JSONLDRenderer]
    content_negotiation_class = _FirstRenderer

    @extend_schema(summary="JSON-LD context of the node's documents", responses={200: OpenApiTypes.OBJECT})
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return Response(jsonld.context_document(), headers={"Cache-Control": "public, max-age=86400"})
