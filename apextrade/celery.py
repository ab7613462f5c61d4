"""The Celery app: Redis as broker, tasks discovered in every app, beat from the database."""

import os
import resource

from celery import Celery
from celery.signals import worker_process_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "apextrade.settings.dev")

app = Celery("apextrade")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


def cap_address_space(limit_mb: int) -> None:
    """Cap this process's address space: an allocation past it raises MemoryError in the task
    (which fails it with a message) instead of the kernel killing the worker."""
    if limit_mb <= 0:
        return
    limit = limit_mb * 1024 * 1024
    _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


@worker_process_init.connect
def _cap_worker_memory(**_kwargs) -> None:
    from django.conf import settings

    cap_address_space(settings.CELERY_WORKER_MEMORY_LIMIT_MB)
