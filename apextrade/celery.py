"""The Celery app: Redis as broker, tasks discovered in every app, beat from the database."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "apextrade.settings.dev")

app = Celery("apextrade")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
