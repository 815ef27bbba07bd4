"""Serializers of /api/v1/clients/: a client's registration, never a secret except once on creation."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from dataspace.oauth import clients
from dataspace.oauth.models import Client, ClientSecret
from dataspace.oauth.scopes import SCOPES


class ScopeListField(serializers.ListField):
    """Scopes as a JSON list, or as one space-separated string (the OAuth `scope` form)."""

    child = serializers.ChoiceField(choices=list(SCOPES))

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, str):
            data = data.split()
        return super().to_internal_value(data)


@extend_schema_field(
    {
        "type": "string",
        "pattern": f"^({'|'.join(Client.Kind.values)})$",
        "description": "`depositor` (may write its owner's data, others' under a mandate) or `reader` (reads only)",
    }
)
class ClientKindField(serializers.ChoiceField):
    """The client's kind. Described by a pattern, not an enum: the schema's enum components are named
    after the field, and organisations already own the `kind` enum."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(choices=Client.Kind.choices, **kwargs)


class SecretVersionSerializer(serializers.ModelSerializer[ClientSecret]):
    """One secret version: its dates and status, never its digest."""

    status = serializers.SerializerMethodField(help_text="current, grace (retiring), retired or revoked")

    class Meta:
        model = ClientSecret
        fields = ("version", "created_at", "retires_at", "revoked_at", "status")
        read_only_fields = fields

    def get_status(self, obj: ClientSecret) -> str:
        return clients.secret_status(obj)


class ClientSerializer(serializers.ModelSerializer[Client]):
    """A registered client as its owner sees it."""

    kind = ClientKindField(read_only=True)
    owner = serializers.UUIDField(source="owner_id", read_only=True)
    owner_name = serializers.CharField(source="owner.name", read_only=True)
    acts_for = serializers.SerializerMethodField(help_text="username of the person a personal client acts for")
    usable = serializers.SerializerMethodField(help_text="active and not expired")
    secrets = SecretVersionSerializer(many=True, read_only=True)

    class Meta:
        model = Client
        fields: tuple[str, ...] = (
            "client_id",
            "name",
            "description",
            "kind",
            "owner",
            "owner_name",
            "allowed_scopes",
            "grant_types",
            "redirect_uris",
            "token_endpoint_auth_method",
            "jwks_uri",
            "acts_for",
            "expires_at",
            "is_active",
            "usable",
            "created_at",
            "secrets",
        )
        read_only_fields: tuple[str, ...] = fields

    def get_acts_for(self, obj: Client) -> str | None:
        return obj.user.get_username() if obj.user is not None else None

    def get_usable(self, obj: Client) -> bool:
        return obj.is_usable()


class ClientCreateSerializer(serializers.Serializer[Any]):
    """What a caller sends to register a client; the owner is always the caller's organisation."""

    name = serializers.CharField(max_length=200)
    description = serializers.CharField(required=False, allow_blank=True, default="")
    kind = ClientKindField(default=Client.Kind.READER)
    allowed_scopes = ScopeListField(allow_empty=False)
    grant_types = serializers.ListField(child=serializers.ChoiceField(choices=clients.GRANT_TYPES), allow_empty=False)
    redirect_uris = serializers.ListField(child=serializers.URLField(), required=False, default=list)
    token_endpoint_auth_method = serializers.ChoiceField(
        choices=Client.AuthMethod.choices, default=Client.AuthMethod.SECRET_BASIC
    )
    jwks_uri = serializers.URLField(required=False, allow_blank=True, default="")
    acts_for = serializers.CharField(
        required=False, allow_blank=True, default="", help_text="username: a personal client acting for this person"
    )
    expires_at = serializers.DateTimeField(required=False, allow_null=True, default=None)


class ClientCreatedSerializer(ClientSerializer):
    """The answer to a registration: the client, with its secret in clear this one time."""

    client_secret = serializers.SerializerMethodField(help_text="shown once; only a digest is kept")

    class Meta(ClientSerializer.Meta):
        fields = (*ClientSerializer.Meta.fields, "client_secret")
        read_only_fields = fields

    def get_client_secret(self, obj: Client) -> str | None:
        return self.context.get("client_secret")


class ClientUpdateSerializer(serializers.Serializer[Any]):
    """The registration fields that may change (PATCH); the same rules as on creation."""

    name = serializers.CharField(max_length=200, required=False)
    description = serializers.CharField(required=False, allow_blank=True)
    kind = ClientKindField(required=False)
    allowed_scopes = ScopeListField(allow_empty=False, required=False)
    grant_types = serializers.ListField(
        child=serializers.ChoiceField(choices=clients.GRANT_TYPES), allow_empty=False, required=False
    )
    redirect_uris = serializers.ListField(child=serializers.URLField(), required=False)
    jwks_uri = serializers.URLField(required=False, allow_blank=True)
    expires_at = serializers.DateTimeField(required=False, allow_null=True)


class RotateSerializer(serializers.Serializer[Any]):
    grace_seconds = serializers.IntegerField(
        required=False,
        min_value=0,
        allow_null=True,
        default=None,
        help_text="how long the previous secrets keep working (default: the node's grace period)",
    )


class RotatedSerializer(serializers.Serializer[Any]):
    client_id = serializers.CharField()
    client_secret = serializers.CharField(help_text="shown once; only a digest is kept")
    version = serializers.IntegerField()
    previous_secrets_retire_at = serializers.DateTimeField(allow_null=True)
