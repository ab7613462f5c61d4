"""Beat jobs of plain mode (TimescaleDB mode runs its own policies; these then do nothing)."""

from celery import shared_task

from marketdata import services


@shared_task(name="marketdata.tasks.refresh_ohlcv_rollups")
def refresh_ohlcv_rollups() -> str:
    return services.refresh_rollups().last_status


@shared_task(name="marketdata.tasks.enforce_retention")
def enforce_retention() -> str:
    return services.enforce_retention().last_status
