"""Periodic jobs, run by Celery beat through django-celery-beat's database scheduler.

Each app's jobs are listed here by task name so that beat sees them all in one place.
"""

from celery.schedules import crontab

BEAT_SCHEDULE: dict[str, dict] = {
    "strategies.fail_stale_backtests": {
        "task": "strategies.tasks.fail_stale_backtests",
        "schedule": crontab(minute="*/5"),
    },
    "strategies.recover_optimisations": {
        "task": "strategies.tasks.recover_optimisations",
        "schedule": crontab(minute="*/5"),
    },
    # The timeseries database: rollups every 10 minutes like the ohlcv_1h policy, retention
    # daily. Under TimescaleDB its policies do this; the rollup job then only retries refreshes
    # of logged history that failed, and retention does nothing.
    "marketdata.refresh_ohlcv_rollups": {
        "task": "marketdata.tasks.refresh_ohlcv_rollups",
        "schedule": crontab(minute="*/10"),
    },
    "marketdata.enforce_retention": {
        "task": "marketdata.tasks.enforce_retention",
        "schedule": crontab(minute=17, hour=3),
    },
}
