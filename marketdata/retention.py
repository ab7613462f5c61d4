"""Spec §7.1 retention for the time-series tables: OHLCV 5 years, equity history 10 years, ticks
7 days. TimescaleDB mode drops whole chunks through its retention policies; plain mode deletes
the rows with this job. Rollups are left alone, as drop_chunks leaves continuous aggregates."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import connections, transaction
from django.utils import timezone

from marketdata.data_versions import move_data_versions
from marketdata.timescale import TIMESERIES_DB, timescaledb_enabled


@dataclass(frozen=True)
class RetentionRule:
    table: str
    keep: timedelta
    interval: str  # as the TimescaleDB policy is written


OHLCV_RETENTION = "5 years"
RETENTION = (
    RetentionRule("ohlcv", timedelta(days=5 * 365), OHLCV_RETENTION),
    RetentionRule("equity_history", timedelta(days=10 * 365), "10 years"),
    RetentionRule("tick_data", timedelta(days=7), "7 days"),
)


def ohlcv_horizon(*, now: datetime | None = None) -> datetime:
    """1m candles before this are past ohlcv's retention: writes of them are refused (they
    would be deleted within days, and in TimescaleDB mode refreshing that range would remove
    other symbols' old rollup buckets). Longer history is stored at its own timeframe."""
    return (now or timezone.now()) - RETENTION[0].keep


def enforce_retention(*, now: datetime | None = None, using: str = TIMESERIES_DB) -> dict:
    """Plain mode: delete rows older than each table's retention; returns rows deleted per
    table. TimescaleDB mode: nothing to do here."""
    if timescaledb_enabled(using):
        return {}
    now = now or timezone.now()
    deleted = {}
    with transaction.atomic(using=using), connections[using].cursor() as cursor:
        for rule in RETENTION:
            cursor.execute(
                f"DELETE FROM {rule.table} WHERE time < %s::timestamptz - %s::interval",
                [now, rule.interval],
            )
            deleted[rule.table] = cursor.rowcount
        if deleted["ohlcv"]:
            move_data_versions(symbols=None, using=using)
    return deleted
