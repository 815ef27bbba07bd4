"""Who may call a node-to-node endpoint: a member node of a given role, signed and with its token.

`SignedMemberPermission` is the one rule, parameterised by the role the endpoint is for (the
registry's live search, the ministry's aggregation requests…). A request passes when:

1. it is signed (RFC 9421) by a trusted member (`request.signed_peer`, set by
   `federation.middleware.SignatureMiddleware`) — otherwise 401 ``signature_required``;
2. that member's roles include the role — otherwise 403 ``<role>_only``;
3. it carries a bearer token of a machine client (client credentials) — otherwise 401
   ``token_required``;
4. the token belongs to the node that signed (the client's `jwks_uri` is that node's) — otherwise
   403 ``signature_required``. (A peer client's token signed by another node is already refused by
   `dataspace.api.auth.BearerTokenAuthentication`, 401; this covers a local client's token.)

Subclass it with `role` and the French sentences of the refusals (`RegistryPeerPermission`,
`MinistryPeerPermission`). The scope the token needs is the view's business.
"""

from __future__ import annotations

from typing import Any, ClassVar

from django.utils.functional import Promise
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions, permissions
from rest_framework.request import Request

from dataspace.api.auth import bearer_token, machine_client, person, token_client


class SignedMemberPermission(permissions.BasePermission):
    """A request signed by a member with role `role`, carrying that member's bearer token."""

    #: The role the signer must hold (set by subclasses).
    role: ClassVar[str] = ""
    #: 403 when the signer lacks the role (its code is ``<role>_only``).
    role_detail: ClassVar[str | Promise] = _("Ce point d'accès est réservé à un autre type de nœud de la fédération.")
    #: 401 when the token is missing.
    token_detail: ClassVar[str | Promise] = _("Jeton d'accès du nœud exigé (client_credentials, private_key_jwt).")

    def has_permission(self, request: Request, view: Any) -> bool:
        if not self.role:  # pragma: no cover - a subclass without a role is a programming error
            raise exceptions.PermissionDenied(code="no_role_declared")
        peer = getattr(request._request, "signed_peer", None)
        if peer is None:
            raise exceptions.NotAuthenticated(
                gettext("Requête signée (RFC 9421) d'un nœud membre exigée."), code="signature_required"
            )
        if self.role not in tuple(peer.roles):
            raise exceptions.PermissionDenied(str(self.role_detail), code=f"{self.role}_only")
        if bearer_token(request) is None or machine_client(request) is None:
            raise exceptions.NotAuthenticated(str(self.token_detail), code="token_required")
        from federation.outbox import node_from_jwks_uri

        client = token_client(request)
        node = node_from_jwks_uri(str(getattr(client, "jwks_uri", "") or ""))
        if node.rstrip("/") != str(peer.base_url).rstrip("/"):
            raise exceptions.PermissionDenied(
                gettext("Le jeton n'appartient pas au nœud qui a signé la requête."), code="signature_required"
            )
        if person(request) is not None:  # pragma: no cover - a node's machine token never acts for a person
            raise exceptions.PermissionDenied(code=f"{self.role}_only")
        return True


class RegistryPeerPermission(SignedMemberPermission):
    """A request signed by a member with role registry, with that registry's bearer token."""

    role = "registry"
    role_detail = _("Seul le registre de la fédération interroge ce point d'accès.")
    token_detail = _("Jeton d'accès du registre exigé (client_credentials, private_key_jwt).")


class MinistryPeerPermission(SignedMemberPermission):
    """A request signed by a member with role ministry, with that ministry node's bearer token."""

    role = "ministry"
    role_detail = _("Seul le nœud du ministère de la Culture envoie des demandes d'agrégats.")
    token_detail = _("Jeton d'accès du nœud du ministère exigé (client_credentials, private_key_jwt).")
