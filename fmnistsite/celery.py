"""The Celery app, in the project because both sides use it: the web sends jobs by task name
through it, workers (`celery -A worker worker`) run the tasks in worker.tasks. Configured from
Django's settings under the CELERY_ namespace (Celery's examples/django)."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fmnistsite.settings")

app = Celery("fmnistsite")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(["worker"])
