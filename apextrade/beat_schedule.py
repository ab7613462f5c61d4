"""Periodic jobs, run by Celery beat through django-celery-beat's database scheduler.

Each app's jobs are listed here by task name so that beat sees them all in one place.
"""

from celery.schedules import crontab

BEAT_SCHEDULE: dict[str, dict] = {
    "strategies.fail_stale_backtests": {
        "task": "strategies.tasks.fail_stale_backtests",
        "schedule": crontab(minute="*/5"),
    },
}
