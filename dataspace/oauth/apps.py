import os

from django.apps import AppConfig
from django.conf import settings
from django.utils.translation import gettext_lazy as _


class OAuthConfig(AppConfig):
    name = "dataspace.oauth"
    label = "oauth"
    verbose_name = _("Accès OAuth2")

    def ready(self) -> None:
        # authlib refuses OAuth requests over plain http (except to loopback hosts). The one place
        # where this node relaxes that: a demo/test node whose base URL is on loopback
        # (settings.OAUTH_ALLOW_INSECURE_LOOPBACK). A node with an https base URL never sets it.
        if settings.OAUTH_ALLOW_INSECURE_LOOPBACK:
            os.environ.setdefault("AUTHLIB_INSECURE_TRANSPORT", "1")
        # Algorithms: nothing is registered globally in joserfc. Every decode names its allowed
        # algorithms (dataspace.oauth.tokens.ALGORITHM, dataspace.oauth.server.ASSERTION_ALGORITHMS).
