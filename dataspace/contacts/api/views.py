"""/api/v1/contacts/: the structure's private contacts, their consents, and who may be written to.

Only the owner's staff and its own (or mandated) clients see a contact (`dataspace.contacts.services`);
anyone else gets 404 on a detail and an empty list, and a person without any role on a structure
(a licensed professional, say) is refused outright (403 `contacts_private`). Never `public_read`.

Renderings: JSON, and CSV with `?format=csv` (`fields=a,b` picks columns): without `cursor` or
`page_size` the whole filtered collection is streamed. ETag / If-None-Match on a detail,
If-Match on writes (412 when the contact changed), Idempotency-Key on creation.
"""

from __future__ import annotations

import uuid
from typing import Any, ClassVar, cast

import django_filters
from django.db import transaction
from django.db.models import QuerySet
from django.http import Http404
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.filters import SearchFilter
from rest_framework.request import Request
from rest_framework.response import Response

from dataspace.api.auth import machine_client, person, token_client
from dataspace.api.errors import PreconditionFailed
from dataspace.api.mixins import (
    CSVColumnsMixin,
    IdempotentCreateMixin,
    JSONErrorsMixin,
    conditional_read,
    if_match_fails,
    record_etag,
)
from dataspace.api.permissions import ScopePermission, ensure_may_write_owner
from dataspace.api.renderers import stream_csv
from dataspace.contacts import services
from dataspace.contacts.api import serializers as s
from dataspace.contacts.models import Contact
from policies import enforcement

CONTACT_SCOPES: dict[str, str] = {"read": "contacts:read", "write": "contacts:write"}


class ContactsPrivate(exceptions.PermissionDenied):
    default_code = "contacts_private"
    default_detail = "A structure's contacts are private: only its staff and its own (or mandated) clients read them."


class ContactsPermission(ScopePermission):
    """ScopePermission, and a person must hold a role on some structure (or be the operator)."""

    def has_permission(self, request: Request, view: Any) -> bool:
        allowed = super().has_permission(request, view)
        user = person(request)
        if user is not None and not user.is_superuser and not services.readable_owner_ids(user=user):
            raise ContactsPrivate()
        return allowed


class ContactFilter(django_filters.FilterSet):
    kind = django_filters.ChoiceFilter(choices=Contact.Kind.choices)
    tag = django_filters.CharFilter(method="filter_tag")
    email = django_filters.CharFilter(method="filter_email")
    owner = django_filters.UUIDFilter(field_name="owner_id")

    class Meta:
        model = Contact
        fields = ["kind", "tag", "email", "owner"]

    def filter_tag(self, queryset: QuerySet[Contact], name: str, value: str) -> QuerySet[Contact]:
        return services.with_tag(queryset, value)

    def filter_email(self, queryset: QuerySet[Contact], name: str, value: str) -> QuerySet[Contact]:
        return services.with_email(queryset, value)


PURPOSE = OpenApiParameter(
    "purpose",
    OpenApiTypes.STR,
    OpenApiParameter.QUERY,
    required=True,
    description="Purpose of the mailing: " + ", ".join(services.CONTACT_PURPOSES) + ".",
)


class _ContactViewSetBase(CSVColumnsMixin, viewsets.ModelViewSet):
    """The structure's private contacts (never shared beyond the node)."""

    required_scopes: ClassVar[dict[str, str]] = CONTACT_SCOPES
    permission_classes = [ContactsPermission]
    serializer_class = s.ContactSerializer
    filterset_class = ContactFilter
    search_fields = ["given_name", "family_name", "organisation_name"]
    csv_default_columns: ClassVar[tuple[str, ...]] = (
        "id",
        "kind",
        "given_name",
        "family_name",
        "organisation_name",
        "email",
        "phone",
        "tags",
    )

    filter_backends = [DjangoFilterBackend, SearchFilter]

    # ------------------------------------------------------------------ who

    def _owners(self, *, write: bool = False) -> set[uuid.UUID] | None:
        finder = services.writable_owner_ids if write else services.readable_owner_ids
        client = machine_client(self.request)
        if client is not None:
            return finder(client=client)
        return finder(user=person(self.request))

    def get_queryset(self) -> QuerySet[Contact]:
        if getattr(self, "swagger_fake_view", False):
            return Contact.objects.none()
        return services.contacts_of(self._owners())

    def owning_organisation(self, instance: Contact) -> Any:
        """Whose contact it is (ScopePermission checks the caller may write it before any change)."""
        return instance.owner

    def _actor(self) -> Any:
        return enforcement.actor_for(enforcement.subject_for_request(self.request))

    # ------------------------------------------------------------------ CSV

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        if self._wants_csv(request):
            self.csv_selected = self._requested_columns(request)

    @staticmethod
    def _wants_csv(request: Request) -> bool:
        return getattr(getattr(request, "accepted_renderer", None), "format", None) == "csv"

    def _listed(self, queryset: QuerySet[Any], serializer_class: Any, name: str) -> Any:
        request = self.request
        if self._wants_csv(request) and not {"cursor", "page_size"} & set(request.query_params):
            rows = (serializer_class(row).data for row in queryset.iterator(chunk_size=500))
            return stream_csv(self.csv_columns(), rows, name)
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(serializer_class(page, many=True).data)

    # ------------------------------------------------------------------ CRUD

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Any:
        return self._listed(self.filter_queryset(self.get_queryset()), s.ContactSerializer, "contacts")

    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return conditional_read(request, self.get_object(), lambda obj: self.get_serializer(obj).data)

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        owner = data.pop("owner", None) or self._default_owner()
        ensure_may_write_owner(request, owner, self.required_scopes["write"])
        contact = services.create_contact(actor=self._actor(), owner=owner, **data)
        body = self.get_serializer(contact).data
        return Response(body, status=status.HTTP_201_CREATED, headers={"ETag": record_etag(contact)})

    def _default_owner(self) -> Any:
        from dataspace.referentials.models import Organisation

        client = machine_client(self.request)
        if client is not None:
            return client.owner
        owners = self._owners(write=True)
        if owners is not None and len(owners) == 1:
            return Organisation.objects.get(pk=next(iter(owners)))
        raise ValidationError({"owner": ["Name the structure this contact belongs to (owner)."]})

    def _object_for_write(self) -> Contact:
        instance = cast(Contact, self.get_object())
        locked = Contact.objects.select_for_update().filter(pk=instance.pk).first()
        if locked is None:
            raise Http404
        if if_match_fails(self.request.headers.get("If-Match"), record_etag(locked)):
            raise PreconditionFailed(
                f"The contact is at version {locked.version} (ETag {record_etag(locked)}); "
                "read it again and retry with the new ETag."
            )
        return locked

    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        partial = kwargs.pop("partial", False)
        with transaction.atomic():
            instance = self._object_for_write()
            serializer = self.get_serializer(instance, data=request.data, partial=partial)
            serializer.is_valid(raise_exception=True)
            data = dict(serializer.validated_data)
            data.pop("owner", None)
            contact = services.update_contact(instance, actor=self._actor(), **data)
        return Response(self.get_serializer(contact).data, headers={"ETag": record_etag(contact)})

    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        with transaction.atomic():
            instance = self._object_for_write()
            services.delete_contact(instance, actor=self._actor())
        return Response(status=status.HTTP_204_NO_CONTENT)

    # ------------------------------------------------------------------ consents per purpose

    @extend_schema(
        summary="Consents of a contact (GET) or record one for purposes (POST)",
        request=s.GrantContactConsentSerializer,
        responses={200: s.ContactConsentSerializer(many=True), 201: s.ContactConsentSerializer},
    )
    @action(detail=True, methods=["get", "post"], pagination_class=None, filter_backends=[])
    def consents(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        contact = cast(Contact, self.get_object())
        if request.method == "GET":
            return Response(s.ContactConsentSerializer(services.contact_consents(contact), many=True).data)
        form = s.GrantContactConsentSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        data = form.validated_data
        client = token_client(request)
        try:
            notice = services.notice_for(contact, data["notice_version"])
            consent = services.record_contact_consent(
                contact,
                purposes=data["codes"],
                notice=notice,
                method=data["method"],
                by=person(request),
                client_id=str(client.client_id) if client is not None else "",
                expires_at=data.get("expires_at"),
            )
        except services.ContactError as exc:
            raise ValidationError(exc.errors) from None
        return Response(s.ContactConsentSerializer(consent).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Withdraw the contact's consents in force for one purpose",
        request=None,
        responses={200: s.ContactConsentSerializer(many=True), 400: OpenApiResponse(description="No such consent.")},
    )
    @action(
        detail=True,
        methods=["post"],
        url_path=r"consents/(?P<purpose>[a-z0-9_-]+)/withdraw",
        pagination_class=None,
        filter_backends=[],
    )
    def withdraw(self, request: Request, *args: Any, purpose: str = "", **kwargs: Any) -> Response:
        contact = cast(Contact, self.get_object())
        client = token_client(request)
        try:
            withdrawn = services.withdraw_contact_consent(
                contact,
                purpose,
                by=person(request),
                client_id=str(client.client_id) if client is not None else "",
                note=str(request.data.get("note", "") if isinstance(request.data, dict) else ""),
            )
        except services.ContactError as exc:
            raise ValidationError(exc.errors) from None
        return Response(s.ContactConsentSerializer(withdrawn, many=True).data)

    # ------------------------------------------------------------------ who may I write to

    @extend_schema(
        summary="Contacts with a consent in force for a purpose (email and name), JSON or CSV",
        parameters=[PURPOSE],
        responses={200: s.ReachableContactSerializer(many=True), 400: OpenApiResponse(description="`purpose`.")},
    )
    @action(detail=False, methods=["get"])
    def reachable(self, request: Request, *args: Any, **kwargs: Any) -> Any:
        try:
            queryset = services.reachable_contacts(self._owners(), request.query_params.get("purpose", ""))
        except services.ContactError as exc:
            raise ValidationError(exc.errors) from None
        queryset = self.filter_queryset(queryset)
        if self._wants_csv(request) and not request.query_params.get("fields"):
            self.csv_selected = list(s.ReachableContactSerializer.Meta.fields)
        return self._listed(queryset, s.ReachableContactSerializer, "reachable-contacts")

    def get_serializer_class(self) -> Any:
        if self.action == "reachable":
            return s.ReachableContactSerializer
        return super().get_serializer_class()


class ContactViewSet(JSONErrorsMixin, IdempotentCreateMixin, _ContactViewSetBase):
    """The structure's private contacts (never shared beyond the node); Idempotency-Key on creation."""
