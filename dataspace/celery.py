"""The node's Celery application. Eager (in-process) when no REDIS_URL is configured."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dataspace.settings")

app = Celery("dataspace")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
