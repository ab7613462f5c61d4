"""Beat jobs of the timeseries database. Plain mode: the rollups and retention. TimescaleDB mode
runs its own policies; there the rollup job only refreshes logged ranges of history whose refresh
right after their write failed or could not run, and the retention job does nothing."""

from celery import shared_task

from marketdata import services


@shared_task(name="marketdata.tasks.refresh_ohlcv_rollups")
def refresh_ohlcv_rollups() -> str:
    return services.refresh_rollups().last_status


@shared_task(name="marketdata.tasks.enforce_retention")
def enforce_retention() -> str:
    return services.enforce_retention().last_status
