from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "dataspace.api"
    label = "api"
    verbose_name = "API"
