"""/api/v1/clients/: register, list, change, rotate and disable OAuth clients (scope `clients:manage`).

A caller manages the clients of one organisation only (`dataspace.oauth.clients.managing_organisation`):
a token manages those of its calling client's owner, a session those of the node's organisation
(superuser or administrator of it). Anything else is invisible: another organisation's client is a 404.

Secrets appear in clear only in the answer that creates them (creation, rotation). This view
deliberately does not honour `Idempotency-Key`: a stored answer would keep the secret in clear.
A token caller cannot give a new client scopes that its own client is not registered for, and
only a person may register a personal client, for themselves (a superuser for anyone).
"""

from __future__ import annotations

from typing import Any, ClassVar, cast

from django.db.models import Prefetch, QuerySet
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import exceptions, filters, mixins, permissions, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.settings import api_settings

from dataspace.api.mixins import JSONErrorsMixin
from dataspace.oauth import clients
from dataspace.oauth.api import serializers as s
from dataspace.oauth.models import Client, ClientSecret

MANAGE_SCOPE = "clients:manage"

_ERRORS = {
    400: OpenApiResponse(description="Invalid request: `{error, detail, fields}` names the fields."),
    401: OpenApiResponse(description="No credentials."),
    403: OpenApiResponse(description="The token lacks `clients:manage`, or the caller administers no organisation."),
}
_DETAIL_ERRORS = {**_ERRORS, 404: OpenApiResponse(description="No such client among the caller's organisation's.")}


def caller_of(request: Request) -> tuple[str | None, Any]:
    """(client_id of the bearer token or None, the person behind the request or None)."""
    token = getattr(request, "auth", None)
    client_id = getattr(token, "client_id", None) if token is not None else None
    user = getattr(request, "user", None)
    if client_id:
        person = user if getattr(token, "user_id", None) is not None else None
        return str(client_id), person
    if user is None or not user.is_authenticated or getattr(user, "pk", None) is None:
        return None, None
    return None, user


class ManagesClients(permissions.BasePermission):
    """The caller must manage some organisation's clients (and a token must carry `clients:manage`)."""

    def has_permission(self, request: Request, view: Any) -> bool:
        client_id, person = caller_of(request)
        if client_id:
            if MANAGE_SCOPE not in (getattr(request.auth, "scopes", None) or ()):
                raise exceptions.PermissionDenied(
                    f"This request needs the scope '{MANAGE_SCOPE}'.", code="insufficient_scope"
                )
        elif person is None:
            raise exceptions.NotAuthenticated(f"Managing clients needs a token with the scope '{MANAGE_SCOPE}'.")
        organisation = clients.managing_organisation(client_id=client_id, user=person)
        if organisation is None:
            raise exceptions.PermissionDenied(
                "Managing clients needs the administrator role on the node's organisation "
                "(or a token of a client of the organisation)."
            )
        view.managed_organisation = organisation
        view.calling_client_id = client_id
        view.calling_person = person
        return True


@extend_schema_view(
    list=extend_schema(
        summary="List the organisation's OAuth clients", responses={200: s.ClientSerializer(many=True), **_ERRORS}
    ),
    retrieve=extend_schema(summary="One OAuth client", responses={200: s.ClientSerializer, **_DETAIL_ERRORS}),
    create=extend_schema(
        summary="Register an OAuth client (the answer holds its secret, once)",
        request=s.ClientCreateSerializer,
        responses={201: s.ClientCreatedSerializer, **_ERRORS},
    ),
    partial_update=extend_schema(
        summary="Change an OAuth client's registration",
        request=s.ClientUpdateSerializer,
        responses={200: s.ClientSerializer, **_DETAIL_ERRORS},
    ),
    destroy=extend_schema(
        summary="Disable an OAuth client (same as POST …/disable)", responses={204: None, **_DETAIL_ERRORS}
    ),
)
class ClientViewSet(
    JSONErrorsMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    """The OAuth clients of the caller's organisation."""

    required_scopes: ClassVar[dict[str, str]] = {"read": MANAGE_SCOPE, "write": MANAGE_SCOPE}
    #: The API's default permission (scopes, roles), then the ownership rule of this module.
    permission_classes = [*cast(list[Any], api_settings.DEFAULT_PERMISSION_CLASSES), ManagesClients]
    serializer_class = s.ClientSerializer
    lookup_field = "client_id"
    lookup_value_regex = r"[A-Za-z0-9_\-]+"
    filter_backends = [filters.SearchFilter]
    search_fields: ClassVar[list[str]] = ["name", "=client_id"]
    queryset = Client.objects.none()  # the real one is per caller: get_queryset

    managed_organisation: Any = None
    calling_client_id: str | None = None
    calling_person: Any = None

    def get_queryset(self) -> QuerySet[Client]:
        return clients.clients_owned_by(self.managed_organisation).prefetch_related(
            Prefetch("secrets", queryset=ClientSecret.objects.order_by("-version"))
        )

    # ------------------------------------------------------------------ rules of the caller

    def _check_scopes_held(self, scopes: list[str]) -> None:
        """A token caller cannot hand out scopes its own client does not hold."""
        if not self.calling_client_id:
            return
        caller = Client.objects.filter(client_id=self.calling_client_id).first()
        held = set(caller.allowed_scopes if caller is not None else [])
        beyond = [name for name in scopes if name not in held]
        if beyond:
            raise exceptions.ValidationError(
                {"allowed_scopes": [f"The calling client does not hold these scopes itself: {', '.join(beyond)}."]}
            )

    def _personal_user(self, username: str) -> Any:
        if not username:
            return None
        person = self.calling_person
        if person is None:
            raise exceptions.ValidationError(
                {"acts_for": ["Only a person registers a personal client (for themselves); a machine client cannot."]}
            )
        if not person.is_superuser and username != person.get_username():
            raise exceptions.ValidationError({"acts_for": ["A personal client acts for the person registering it."]})
        return clients.resolve_user(username)

    # ------------------------------------------------------------------ actions

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        incoming = s.ClientCreateSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        data = incoming.validated_data
        self._check_scopes_held(list(data["allowed_scopes"]))
        issued = clients.create_client(
            name=data["name"],
            description=data["description"],
            owner=self.managed_organisation,
            scopes=list(data["allowed_scopes"]),
            grant_types=list(dict.fromkeys(data["grant_types"])),
            kind=data["kind"],
            redirect_uris=list(data["redirect_uris"]),
            auth_method=data["token_endpoint_auth_method"],
            jwks_uri=data["jwks_uri"],
            user=self._personal_user(data["acts_for"]),
            expires_at=data["expires_at"],
            created_by=self.calling_person,
        )
        created = self.get_queryset().get(pk=issued.client.pk)
        body = s.ClientCreatedSerializer(created, context={"client_secret": issued.secret}).data
        return Response(body, status=status.HTTP_201_CREATED, headers={"Cache-Control": "no-store"})

    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        client = self.get_object()
        incoming = s.ClientUpdateSerializer(data=request.data, partial=True)
        incoming.is_valid(raise_exception=True)
        changes = dict(incoming.validated_data)
        if "allowed_scopes" in changes:
            self._check_scopes_held(list(changes["allowed_scopes"]))
        clients.update_client(client, **changes)
        return Response(s.ClientSerializer(self.get_queryset().get(pk=client.pk)).data)

    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        clients.disable_client(self.get_object(), by=self.calling_person)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(summary="Disable an OAuth client at once (its tokens are revoked)", request=None,
                   responses={200: s.ClientSerializer, **_DETAIL_ERRORS})  # fmt: skip
    @action(detail=True, methods=["post"], url_path="disable")
    def disable(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        client = clients.disable_client(self.get_object(), by=self.calling_person)
        return Response(s.ClientSerializer(self.get_queryset().get(pk=client.pk)).data)

    @extend_schema(
        summary="Issue a new secret (shown once); the previous ones retire after the grace period",
        request=s.RotateSerializer,
        responses={200: s.RotatedSerializer, **_DETAIL_ERRORS},
    )
    @action(detail=True, methods=["post"], url_path="rotate")
    def rotate(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        client = self.get_object()
        incoming = s.RotateSerializer(data=request.data or {})
        incoming.is_valid(raise_exception=True)
        if client.token_endpoint_auth_method in (Client.AuthMethod.PRIVATE_KEY_JWT, Client.AuthMethod.NONE):
            raise exceptions.ValidationError(
                {"token_endpoint_auth_method": [f"This client uses {client.token_endpoint_auth_method}: no secret."]}
            )
        if not client.is_usable():
            raise exceptions.ValidationError({"client_id": ["This client is disabled or expired."]})
        issued = clients.rotate_secret(client, grace_seconds=incoming.validated_data["grace_seconds"])
        retiring = [
            stored.retires_at
            for stored in client.secrets.filter(revoked_at__isnull=True, version__lt=issued.version or 0)
            if stored.retires_at is not None
        ]
        body = {
            "client_id": client.client_id,
            "client_secret": issued.secret,
            "version": issued.version,
            "previous_secrets_retire_at": max(retiring, default=None),
        }
        return Response(s.RotatedSerializer(body).data, headers={"Cache-Control": "no-store"})
