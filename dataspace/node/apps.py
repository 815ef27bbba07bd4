from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class NodeConfig(AppConfig):
    name = "dataspace.node"
    label = "node"
    verbose_name = _("Nœud")
