from django.apps import AppConfig


class RecordsConfig(AppConfig):
    name = "dataspace.records"
    label = "records"
    verbose_name = "Enregistrements partagés"

    def ready(self) -> None:
        from dataspace.records import signals  # noqa: F401  (connects the change-log receivers)
