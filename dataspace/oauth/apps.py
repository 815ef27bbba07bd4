from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class OAuthConfig(AppConfig):
    name = "dataspace.oauth"
    label = "oauth"
    verbose_name = _("Accès OAuth2")
