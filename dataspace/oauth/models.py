"""Clients, their secrets and mandates; authorization codes, refresh tokens and issued access tokens.

Nothing secret is stored in clear: client secrets, authorization codes and refresh tokens are kept
as keyed digests (`dataspace.oauth.secrets.digest`). Access tokens are JWTs signed by the node key;
only their `jti` is recorded, so that introspection and revocation work on this node.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class Client(models.Model):
    """Software that calls the API: a vendor's tool, a peer node, a person's app."""

    class Kind(models.TextChoices):
        DEPOSITOR = "depositor", _("déposant (écrit les données de son propriétaire)")
        READER = "reader", _("lecteur (lecture seule)")

    class AuthMethod(models.TextChoices):
        SECRET_BASIC = "client_secret_basic", _("secret (HTTP Basic)")
        SECRET_POST = "client_secret_post", _("secret (corps de requête)")
        PRIVATE_KEY_JWT = "private_key_jwt", _("clé privée du nœud (RFC 7523)")
        NONE = "none", _("client public (PKCE seul)")

    client_id = models.CharField(_("identifiant client"), max_length=100, unique=True)
    name = models.CharField(_("nom"), max_length=200)
    description = models.TextField(_("description"), blank=True)
    owner = models.ForeignKey(
        "referentials.Organisation",
        on_delete=models.PROTECT,
        related_name="oauth_clients",
        verbose_name=_("propriétaire"),
        help_text=_("Organisation responsable de ce client (l'éditeur, le nœud pair ou la structure)."),
    )
    kind = models.CharField(_("type"), max_length=10, choices=Kind.choices, default=Kind.READER)
    allowed_scopes = models.JSONField(_("portées autorisées"), default=list)
    grant_types = models.JSONField(_("types d'autorisation"), default=list)
    redirect_uris = models.JSONField(_("URI de redirection"), default=list, blank=True)
    token_endpoint_auth_method = models.CharField(
        _("authentification au point de jeton"),
        max_length=30,
        choices=AuthMethod.choices,
        default=AuthMethod.SECRET_BASIC,
    )
    jwks_uri = models.URLField(
        _("URL des clés publiques (JWKS)"),
        blank=True,
        help_text=_("Pour un nœud pair : l'adresse où il publie ses clés (/.well-known/jwks.json)."),
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="oauth_clients",
        verbose_name=_("agit pour"),
        help_text=_("Client personnel : ses jetons agissent au nom de cette personne."),
    )
    expires_at = models.DateTimeField(_("expire le"), null=True, blank=True)
    is_active = models.BooleanField(_("actif"), default=True)
    created_at = models.DateTimeField(_("créé le"), auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("créé par"),
    )

    class Meta:
        ordering = ["name"]
        verbose_name = _("client OAuth")
        verbose_name_plural = _("clients OAuth")

    def __str__(self) -> str:
        return f"{self.name} ({self.client_id})"

    def is_usable(self, at: object = None) -> bool:
        now = at or timezone.now()
        return self.is_active and (self.expires_at is None or self.expires_at > now)  # type: ignore[operator]


class ClientSecret(models.Model):
    """One version of a client's secret, kept as a keyed digest. Rotation retires the old one later."""

    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="secrets")
    version = models.PositiveIntegerField()
    digest = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
    retires_at = models.DateTimeField(
        null=True, blank=True, help_text=_("Fin de la période de grâce après une rotation.")
    )
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["client", "-version"]
        verbose_name = _("secret client")
        verbose_name_plural = _("secrets clients")
        constraints = [models.UniqueConstraint(fields=["client", "version"], name="client_secret_version_unique")]

    def __str__(self) -> str:
        return f"{self.client.client_id} v{self.version}"

    def is_current(self, at: object = None) -> bool:
        now = at or timezone.now()
        return self.revoked_at is None and (self.retires_at is None or self.retires_at > now)  # type: ignore[operator]


class Mandate(models.Model):
    """A structure lets a vendor's client write its data, until its administrator revokes it."""

    structure = models.ForeignKey(
        "referentials.Organisation", on_delete=models.CASCADE, related_name="mandates", verbose_name=_("structure")
    )
    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="mandates", verbose_name=_("client"))
    scopes = models.JSONField(_("portées déléguées"), default=list)
    granted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("accordé par")
    )
    granted_at = models.DateTimeField(_("accordé le"), auto_now_add=True)
    expires_at = models.DateTimeField(_("expire le"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("révoqué le"), null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("révoqué par"),
    )

    class Meta:
        ordering = ["-granted_at"]
        verbose_name = _("mandat")
        verbose_name_plural = _("mandats")
        constraints = [
            models.UniqueConstraint(
                fields=["structure", "client"], condition=Q(revoked_at__isnull=True), name="one_active_mandate"
            )
        ]

    def __str__(self) -> str:
        return f"{self.structure} → {self.client}"


class AuthorizationCode(models.Model):
    code_digest = models.CharField(max_length=64, unique=True)
    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    redirect_uri = models.URLField(max_length=500)
    scope = models.TextField()
    code_challenge = models.CharField(max_length=128)
    code_challenge_method = models.CharField(max_length=10)
    nonce = models.CharField(max_length=200, blank=True)
    auth_time = models.DateTimeField()
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    #: The refresh-token family created when the code was exchanged (revoked if the code is replayed).
    family = models.UUIDField(null=True, blank=True)

    class Meta:
        verbose_name = _("code d'autorisation")
        verbose_name_plural = _("codes d'autorisation")

    def __str__(self) -> str:
        return f"code for {self.client_id} (expires {self.expires_at:%Y-%m-%d %H:%M})"


class RefreshToken(models.Model):
    """One refresh token of a family; using it rotates it. Reusing a rotated one revokes the family."""

    token_digest = models.CharField(max_length=64, unique=True)
    family = models.UUIDField(default=uuid.uuid4, db_index=True)
    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    scope = models.TextField()
    issued_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("jeton de rafraîchissement")
        verbose_name_plural = _("jetons de rafraîchissement")

    def __str__(self) -> str:
        return f"refresh token of family {self.family}"


class IssuedToken(models.Model):
    """The record of an access token (JWT) issued here: its `jti`, for introspection and revocation."""

    jti = models.CharField(max_length=64, unique=True)
    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    scope = models.TextField()
    family = models.UUIDField(null=True, blank=True, db_index=True)
    issued_at = models.DateTimeField()
    expires_at = models.DateTimeField(db_index=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("jeton d'accès émis")
        verbose_name_plural = _("jetons d'accès émis")

    def __str__(self) -> str:
        return f"access token {self.jti}"


class UsedClientAssertion(models.Model):
    """A `private_key_jwt` assertion already presented: its `jti` may not be used again before it expires."""

    client_id = models.CharField(max_length=100)
    jti = models.CharField(max_length=200)
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        verbose_name = _("assertion client utilisée")
        verbose_name_plural = _("assertions client utilisées")
        constraints = [models.UniqueConstraint(fields=["client_id", "jti"], name="client_assertion_jti_unique")]

    def __str__(self) -> str:
        return f"{self.client_id} jti {self.jti}"
