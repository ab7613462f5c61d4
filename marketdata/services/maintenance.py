"""The maintenance beat jobs of the time-series database (rollup refresh, retention), each run
recorded for timeseries_status."""

import time
from collections.abc import Callable
from typing import Any

from django.utils import timezone

from marketdata import retention, rollups
from marketdata.models import MaintenanceJobRun
from marketdata.timescale import TIMESERIES_DB


def _run_job(job: str, work: Callable[[], Any], using: str) -> MaintenanceJobRun:
    started = time.perf_counter()
    at = timezone.now()
    try:
        result = work()
        status = "success"
    except Exception as error:
        result, status = {"error": str(error)}, "failed"
        _save_run(job, at, started, status, result, using)
        raise
    return _save_run(job, at, started, status, result, using)


def _save_run(job, at, started, status, result, using) -> MaintenanceJobRun:
    run, _ = MaintenanceJobRun.objects.using(using).update_or_create(
        job=job,
        defaults={
            "last_run_at": at,
            "last_duration_ms": int((time.perf_counter() - started) * 1000),
            "last_status": status,
            "last_result": result if isinstance(result, dict) else {"result": result},
        },
    )
    return run


def refresh_rollups(*, using: str = TIMESERIES_DB) -> MaintenanceJobRun:
    """Beat job: refresh ohlcv_1h and ohlcv_1d from the invalidation log (see rollups)."""
    return _run_job(
        "refresh_ohlcv_rollups",
        lambda: {"rollups": rollups.refresh_pending(using=using)},
        using,
    )


def enforce_retention(*, using: str = TIMESERIES_DB) -> MaintenanceJobRun:
    """Beat job (plain mode): delete rows past spec §7.1 retention."""
    return _run_job(
        "enforce_retention", lambda: {"deleted": retention.enforce_retention(using=using)}, using
    )
