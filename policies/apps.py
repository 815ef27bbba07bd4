from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PoliciesConfig(AppConfig):
    name = "policies"
    label = "policies"
    verbose_name = _("Politiques d'usage")

    def ready(self) -> None:
        # The decision point's receivers (a block or hidden record saved or deleted refreshes its
        # compiled-policy cache) must listen in every process, not only those that load the API.
        from policies import pdp  # noqa: F401
