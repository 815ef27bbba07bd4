"""Admin of the node's identity (one row, created by `node_init`) and the site's titles."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.utils.html import format_html_join
from django.utils.safestring import SafeString
from django.utils.translation import gettext_lazy as _

from dataspace.node import keys
from dataspace.node.models import NodeIdentity

admin.site.site_header = _("Scène Commune — administration du nœud")
admin.site.site_title = _("Scène Commune — administration")
admin.site.index_title = _("Données du nœud")
admin.site.site_url = "/"


@admin.register(NodeIdentity)
class NodeIdentityAdmin(admin.ModelAdmin):
    """Name, URL and roles come from the environment (NODE_*); only the operator and description are edited."""

    list_display = ("name", "base_url", "role_list", "organisation")
    fields = ("name", "base_url", "roles", "organisation", "description", "public_keys", "created_at", "updated_at")
    readonly_fields = ("name", "base_url", "roles", "public_keys", "created_at", "updated_at")
    autocomplete_fields = ("organisation",)

    @admin.display(description=_("rôles"))
    def role_list(self, obj: NodeIdentity) -> str:
        return ", ".join(obj.roles)

    @admin.display(description=_("clés publiques (JWKS)"))
    def public_keys(self, obj: NodeIdentity) -> SafeString:
        try:
            loaded = keys.load_keys()
        except (keys.KeyFileError, OSError) as exc:
            return format_html_join("", "<p>{}</p>", [(str(exc),)])
        return format_html_join("", "<div><code>{}</code> (Ed25519)</div>", ((key.kid,) for key in loaded))

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # created by `manage.py node_init`

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
