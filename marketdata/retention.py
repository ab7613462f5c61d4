"""Spec §7.1 retention for the time-series tables: OHLCV 5 years, equity history 10 years, ticks
7 days. OHLCV's retention applies to 1m candles only: candles stored at their own timeframe (1h,
1d imports) are kept however old, so twenty years of daily history can be backtested (a deviation
from §7.1, docs/timeseries.md). TimescaleDB mode drops whole chunks of equity_history and
tick_data through retention policies and deletes old 1m candles with the custom job
`ohlcv_retention` (migration 0004); plain mode deletes the rows with this job. Rollups are left
alone, as drop_chunks leaves continuous aggregates."""

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
    interval: str  # as the TimescaleDB policy (or job) is written
    rows: str = "TRUE"  # which rows of the table retention applies to (SQL)


OHLCV_RETENTION = "5 years"
RETENTION = (
    RetentionRule("ohlcv", timedelta(days=5 * 365), OHLCV_RETENTION, "timeframe = '1m'"),
    RetentionRule("equity_history", timedelta(days=10 * 365), "10 years"),
    RetentionRule("tick_data", timedelta(days=7), "7 days"),
)


def ohlcv_horizon(*, now: datetime | None = None) -> datetime:
    """1m candles before this are past ohlcv's retention: writes of them are refused (they
    would be deleted within days, and in TimescaleDB mode refreshing that range would remove
    other symbols' old rollup buckets). Longer history is stored at its own timeframe."""
    return (now or timezone.now()) - RETENTION[0].keep


def write_horizon(timeframe: str) -> datetime | None:
    """Candles of `timeframe` must not start before this (None: no limit). Only 1m candles are
    subject to ohlcv's retention, so only they have a horizon."""
    return ohlcv_horizon() if timeframe == "1m" else None


def enforce_retention(*, now: datetime | None = None, using: str = TIMESERIES_DB) -> dict:
    """Plain mode: delete rows older than each table's retention (of ohlcv, 1m candles only);
    returns rows deleted per table. TimescaleDB mode: nothing to do here."""
    if timescaledb_enabled(using):
        return {}
    now = now or timezone.now()
    deleted = {}
    with transaction.atomic(using=using), connections[using].cursor() as cursor:
        for rule in RETENTION:
            cursor.execute(
                f"DELETE FROM {rule.table} "
                f"WHERE {rule.rows} AND time < %s::timestamptz - %s::interval",
                [now, rule.interval],
            )
            deleted[rule.table] = cursor.rowcount
        if deleted["ohlcv"]:
            move_data_versions(symbols=None, using=using)
    return deleted
