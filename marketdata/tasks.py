"""Beat jobs of the timeseries database. Plain mode: the rollups and retention. TimescaleDB mode
runs its own policies; there the rollup job only refreshes logged ranges of history whose refresh
right after their write failed or could not run, and the retention job does nothing. Both modes:
candle downloads of the configured series (settings.OHLCV_DOWNLOADS)."""

from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from exchanges.errors import ExchangeUnavailable, RateLimited
from marketdata import downloads, services


@shared_task(name="marketdata.tasks.refresh_ohlcv_rollups")
def refresh_ohlcv_rollups() -> str:
    return services.refresh_rollups().last_status


@shared_task(name="marketdata.tasks.enforce_retention")
def enforce_retention() -> str:
    return services.enforce_retention().last_status


@shared_task(
    name="marketdata.tasks.download_ohlcv",
    autoretry_for=(ExchangeUnavailable, RateLimited),
    retry_backoff=True,
    max_retries=3,
)
def download_ohlcv(exchange: str, symbol: str, timeframe: str) -> str:
    """Beat job per series in settings.OHLCV_DOWNLOADS: fetch what is new since the newest stored
    candle (or the last OHLCV_DOWNLOAD_BACKFILL_DAYS for a new series). Idempotent: candles are
    upserted, so an overlapping or repeated run changes nothing."""
    since = timezone.now() - timedelta(days=settings.OHLCV_DOWNLOAD_BACKFILL_DAYS)
    report = downloads.download_ohlcv(
        exchange=exchange, symbol=symbol, timeframe=timeframe, since=since
    )
    return f"{report.candles} candles, {report.written} written"
