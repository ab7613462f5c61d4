"""Periodic jobs, run by Celery beat through django-celery-beat's database scheduler.

Each app's jobs are listed here by task name so that beat sees them all in one place.
"""

from datetime import timedelta

from celery.schedules import crontab

BEAT_SCHEDULE: dict[str, dict] = {
    # Every 20 s: with the heartbeat's 30 s TTL, a dead worker's backtest fails within a minute.
    "strategies.fail_stale_backtests": {
        "task": "strategies.tasks.fail_stale_backtests",
        "schedule": timedelta(seconds=20),
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
