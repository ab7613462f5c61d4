"""Reads from the time-series database: candles for the API and charts, NumPy arrays for the
backtest engine, the ticker, and the status of the database and its newest rows for operators."""

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from uuid import UUID

import numpy as np
from django.core.cache import cache
from django.db import connections
from django.db.models import Count

from core.cache_keys import ticker_key
from marketdata.candle_queries import candles_sql, source_sql
from marketdata.models import EquityHistory, Ohlcv, TickData
from marketdata.services import publish_stored_price
from marketdata.timeframes import RAW, Timeframe, bucket_expression
from marketdata.timescale import TIMESERIES_DB, timescaledb_enabled

ARRAY_KEYS = ("time", "open", "high", "low", "close", "volume")


@dataclass(frozen=True)
class Candle:
    time: datetime
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal
    candle_count: int


@dataclass(frozen=True)
class CandlePage:
    candles: list[Candle]
    next_start: datetime | None  # where the next page starts, None when the range is done


def _window(
    *, symbol: str, timeframe: Timeframe, start: datetime, end: datetime, limit: int | None, using
) -> tuple[datetime, datetime, datetime] | None:
    """Bucket-aligned [lo, hi) to read, and the aligned end of the whole range. The window
    starts at the first stored candle (so gaps are skipped) and holds at most `limit` buckets.
    None when nothing is stored in the range."""
    lo = start if timeframe.code == "1m" else timeframe.ceil(start)
    end_aligned = end if timeframe.code == "1m" else timeframe.ceil(end)
    first = _first_stored(symbol=symbol, timeframe=timeframe, lo=lo, hi=end_aligned, using=using)
    if first is None:
        return None
    lo = max(lo, first if timeframe.code == "1m" else timeframe.floor(first))
    hi = end_aligned if limit is None else timeframe.after_within(lo, limit, end_aligned)
    return lo, hi, end_aligned


def _first_stored(
    *, symbol: str, timeframe: Timeframe, lo: datetime, hi: datetime, using: str
) -> datetime | None:
    """The earliest moment in [lo, hi) that `timeframe`'s candles are built from: a 1m candle,
    or, for timeframes built from the hourly or daily rollup, a rollup bucket before the first
    1m candle (history whose 1m candles retention has removed: the rollups keep it)."""
    with connections[using].cursor() as cursor:
        cursor.execute(
            "SELECT time FROM ohlcv WHERE symbol = %s AND timeframe = '1m' "
            "AND time >= %s AND time < %s ORDER BY time LIMIT 1",
            [symbol, lo, hi],
        )
        row = cursor.fetchone()
        first_minute = row[0] if row else None
        if timeframe.source == RAW:
            return first_minute
        # No 1m candle lies in [lo, first_minute), so the rollup's real-time part (raw candles
        # past its watermark) is empty there and only materialized buckets can answer.
        relation = source_sql(
            timeframe.source, "%(lo)s", "%(hi)s", timescale=timescaledb_enabled(using)
        )
        cursor.execute(
            f"SELECT min(r.bucket) FROM ({relation}) r",
            {"symbol": symbol, "lo": lo, "hi": first_minute or hi},
        )
        first_bucket = cursor.fetchone()[0]
    if first_bucket is None:
        return first_minute
    return first_bucket if first_minute is None else min(first_bucket, first_minute)


def candles(
    *,
    symbol: str,
    timeframe: str,
    start: datetime,
    end: datetime,
    limit: int,
    using: str = TIMESERIES_DB,
) -> CandlePage:
    """Candles of `symbol` whose bucket starts in [start, end), oldest first, at most `limit`
    buckets per page; `next_start` continues the range (None when no candle is left in it)."""
    frame = Timeframe.parse(timeframe)
    window = _window(symbol=symbol, timeframe=frame, start=start, end=end, limit=limit, using=using)
    if window is None:
        return CandlePage([], None)
    lo, hi, end_aligned = window
    sql = candles_sql(frame, timescale=timescaledb_enabled(using))
    with connections[using].cursor() as cursor:
        cursor.execute(sql, {"symbol": symbol, "lo": lo, "hi": hi})
        rows = cursor.fetchall()
    next_start = None
    if hi < end_aligned and _first_stored(
        symbol=symbol, timeframe=frame, lo=hi, hi=end_aligned, using=using
    ):
        next_start = hi
    return CandlePage([Candle(*row) for row in rows], next_start)


def candle_arrays(
    *,
    symbol: str,
    timeframe: str,
    start: datetime,
    end: datetime,
    using: str = TIMESERIES_DB,
) -> dict[str, np.ndarray]:
    """A symbol's candles in [start, end) as NumPy arrays for the backtest engine: `time` as
    datetime64[ns] (UTC), float64 open/high/low/close/volume. Same rollups as the API, no model
    instance per row."""
    frame = Timeframe.parse(timeframe)
    window = _window(symbol=symbol, timeframe=frame, start=start, end=end, limit=None, using=using)
    if window is None:
        rows = np.empty((0, 6), dtype=np.float64)
    else:
        lo, hi, _ = window
        sql = candles_sql(frame, timescale=timescaledb_enabled(using), as_float=True)
        params = {"symbol": symbol, "lo": lo, "hi": hi}
        with connections[using].cursor() as cursor:
            with cursor.cursor.copy(f"COPY ({sql}) TO STDOUT (FORMAT binary)", params) as copy:
                data = b"".join(copy)
            arrays = _binary_rows(data)
            if arrays is not None:
                return arrays
            cursor.execute(sql, params)
            rows = np.array(cursor.fetchall(), dtype=np.float64).reshape(-1, 6)
    arrays = {"time": (rows[:, 0].astype(np.int64) * 1000).astype("datetime64[ns]")}
    for position, key in enumerate(ARRAY_KEYS[1:], start=1):
        arrays[key] = np.ascontiguousarray(rows[:, position])
    return arrays


# COPY ... (FORMAT binary) of (bigint, 5 x float8): a 19-byte header, then per row a field count
# and, per field, its length and its big-endian value; a 2-byte trailer.
_COPY_HEADER, _COPY_TRAILER = 19, 2
_COPY_ROW = np.dtype(
    [("fields", ">i2"), ("time_length", ">i4"), ("time", ">i8")]
    + [item for key in ARRAY_KEYS[1:] for item in ((f"{key}_length", ">i4"), (key, ">f8"))]
)


def _binary_rows(data: bytes) -> dict[str, np.ndarray] | None:
    """Decode binary COPY rows straight into arrays (no Python object per value); None if the
    data is not laid out as expected (a NULL, say), for the caller's slower path."""
    body = len(data) - _COPY_HEADER - _COPY_TRAILER
    if body < 0 or body % _COPY_ROW.itemsize or not data.startswith(b"PGCOPY\n\xff\r\n\0"):
        return None
    rows = np.frombuffer(data, dtype=_COPY_ROW, count=body // _COPY_ROW.itemsize, offset=19)
    lengths = [rows["time_length"]] + [rows[f"{key}_length"] for key in ARRAY_KEYS[1:]]
    if not (np.all(rows["fields"] == 6) and all(np.all(length == 8) for length in lengths)):
        return None
    arrays = {"time": (rows["time"].astype(np.int64) * 1000).astype("datetime64[ns]")}
    for key in ARRAY_KEYS[1:]:
        arrays[key] = rows[key].astype(np.float64)
    return arrays


def latest_candle_time(*, symbol: str, using: str = TIMESERIES_DB) -> datetime | None:
    with connections[using].cursor() as cursor:
        cursor.execute(
            "SELECT max(time) FROM ohlcv WHERE symbol = %s AND timeframe = '1m'", [symbol]
        )
        return cursor.fetchone()[0]


def daily_candle_counts(
    *, symbol: str, start: datetime, end: datetime, using: str = TIMESERIES_DB
) -> list[tuple[datetime, int]]:
    """1m candles stored per UTC day in [start, end): a full day has 1,440, fewer means gaps."""
    day = bucket_expression("time", timedelta(days=1), timescale=timescaledb_enabled(using))
    return list(
        Ohlcv.objects.using(using)
        .filter(symbol=symbol, timeframe="1m", time__gte=start, time__lt=end)
        .annotate(day=day)
        .values("day")
        .annotate(candles=Count("*"))
        .order_by("day")
        .values_list("day", "candles")
    )


EQUITY_SNAPSHOT_FIELDS = (
    "time",
    "equity_value",
    "cash_balance",
    "positions_value",
    "daily_pnl",
    "daily_pnl_pct",
    "cumulative_pnl",
    "drawdown_pct",
)
TICK_FIELDS = ("time", "bid", "ask", "last_price", "last_volume", "source")


def equity_snapshots(
    *, portfolio_id: UUID, limit: int = 100, using: str = TIMESERIES_DB
) -> list[dict]:
    """A portfolio's newest `limit` equity snapshots, newest first, as plain dicts."""
    return list(
        EquityHistory.objects.using(using)
        .filter(portfolio_id=portfolio_id)
        .order_by("-time")
        .values(*EQUITY_SNAPSHOT_FIELDS)[:limit]
    )


def latest_ticks(*, symbol: str, limit: int = 100, using: str = TIMESERIES_DB) -> list[dict]:
    """A symbol's newest `limit` ticks, newest first, as plain dicts."""
    return list(
        TickData.objects.using(using)
        .filter(symbol=symbol)
        .order_by("-time")
        .values(*TICK_FIELDS)[:limit]
    )


def ticker(*, symbol: str, using: str = TIMESERIES_DB) -> dict | None:
    """The latest price of `symbol`: from Redis `cache:ticker:{symbol}`, or, when the cache has
    nothing, from the newest stored tick or 1m candle (and then cached)."""
    cached = cache.get(ticker_key(symbol))
    if cached:
        return cached
    if not publish_stored_price(symbol=symbol, using=using):
        return None
    return cache.get(ticker_key(symbol))


HYPERTABLES = ("ohlcv", "equity_history", "tick_data")
ROLLUP_RELATIONS = ("ohlcv_1h", "ohlcv_1d")
PLAIN_JOBS = {
    "refresh_ohlcv_rollups": "marketdata.tasks.refresh_ohlcv_rollups",
    "enforce_retention": "marketdata.tasks.enforce_retention",
}
# Under TimescaleDB the policies do the rest; the beat job refreshes logged ranges of history
# whose refresh right after their write failed or could not run.
TIMESCALEDB_JOBS = {"refresh_ohlcv_rollups": PLAIN_JOBS["refresh_ohlcv_rollups"]}


def _fetch_dicts(cursor, sql: str, params=None) -> list[dict]:
    cursor.execute(sql, params)
    names = [column.name for column in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _estimated_rows(cursor, table: str, *, timescale: bool) -> int | None:
    """The planner's row estimate; None where there is none (a plain table never analysed)."""
    if timescale and table in HYPERTABLES:
        cursor.execute("SELECT approximate_row_count(%s::regclass)", [table])
    elif timescale:
        # A continuous aggregate is a view: its rows live in its materialization hypertable.
        cursor.execute(
            "SELECT approximate_row_count(format('%%I.%%I', materialization_hypertable_schema, "
            "materialization_hypertable_name)::regclass) "
            "FROM timescaledb_information.continuous_aggregates WHERE view_name = %s",
            [table],
        )
    else:
        cursor.execute(
            "SELECT CASE WHEN reltuples >= 0 THEN reltuples::bigint END "
            "FROM pg_class WHERE oid = %s::regclass",
            [table],
        )
    return cursor.fetchone()[0]


def timeseries_status(*, exact_counts: bool = True, using: str = TIMESERIES_DB) -> dict:
    """What operators need to see: the mode, each table's rows and size, and the jobs that keep
    the data in shape (TimescaleDB: chunks, compression and policies with their last run;
    plain: rollup watermarks), the beat jobs with their last run, and pending invalidations."""
    timescale = timescaledb_enabled(using)
    status: dict = {"mode": "timescaledb" if timescale else "plain", "tables": []}
    with connections[using].cursor() as cursor:
        for table in HYPERTABLES + ROLLUP_RELATIONS:
            rows = None if exact_counts else _estimated_rows(cursor, table, timescale=timescale)
            if rows is None:
                cursor.execute(f"SELECT count(*) FROM {table}")
                rows = cursor.fetchone()[0]
            entry = {"table": table, "rows": rows, "rows_exact": exact_counts}
            if timescale and table in HYPERTABLES:
                cursor.execute("SELECT hypertable_size(%s::regclass)", [table])
                entry["size_bytes"] = cursor.fetchone()[0] or 0
                cursor.execute(
                    "SELECT count(*), count(*) FILTER (WHERE is_compressed) "
                    "FROM timescaledb_information.chunks WHERE hypertable_name = %s",
                    [table],
                )
                entry["chunks"], entry["compressed_chunks"] = cursor.fetchone()
                cursor.execute(
                    "SELECT sum(before_compression_total_bytes), "
                    "sum(after_compression_total_bytes) FROM hypertable_compression_stats(%s)",
                    [table],
                )
                before, after = cursor.fetchone()
                entry["compression_ratio"] = (
                    round(float(before) / float(after), 2) if before and after else None
                )
            elif timescale:
                cursor.execute(
                    "SELECT hypertable_size(format('%%I.%%I', materialization_hypertable_schema, "
                    "materialization_hypertable_name)::regclass) "
                    "FROM timescaledb_information.continuous_aggregates WHERE view_name = %s",
                    [table],
                )
                entry["size_bytes"] = cursor.fetchone()[0] or 0
            else:
                cursor.execute("SELECT pg_total_relation_size(%s::regclass)", [table])
                entry["size_bytes"] = cursor.fetchone()[0]
            status["tables"].append(entry)
        if timescale:
            status["policies"] = _fetch_dicts(
                cursor,
                "SELECT j.job_id, j.application_name AS job, "
                "coalesce(j.hypertable_name, '') AS relation, "
                "j.schedule_interval::text AS schedule, j.config::text AS config, "
                "s.last_run_started_at AS last_run_at, s.last_run_status, s.next_start, "
                "s.total_runs, s.total_failures "
                "FROM timescaledb_information.jobs j "
                "LEFT JOIN timescaledb_information.job_stats s USING (job_id) "
                "WHERE j.hypertable_name IN ('ohlcv', 'equity_history', 'tick_data', "
                "'ohlcv_1h', 'ohlcv_1d') "
                "ORDER BY j.job_id",
            )
            status["continuous_aggregates"] = _fetch_dicts(
                cursor,
                "SELECT view_name, materialized_only, compression_enabled "
                "FROM timescaledb_information.continuous_aggregates ORDER BY view_name",
            )
        else:
            status["watermarks"] = _fetch_dicts(
                cursor,
                "SELECT rollup, watermark::text AS watermark FROM ohlcv_rollup_watermarks "
                "ORDER BY rollup",
            )
        runs = {
            row["job"]: row
            for row in _fetch_dicts(
                cursor,
                "SELECT job, last_run_at, last_duration_ms, last_status, "
                "last_result::text AS last_result FROM timeseries_job_runs",
            )
        }
        status["jobs"] = [
            {
                "job": job,
                "task": task,
                "last_run_at": runs.get(job, {}).get("last_run_at"),
                "last_status": runs.get(job, {}).get("last_status", "never run"),
                "last_duration_ms": runs.get(job, {}).get("last_duration_ms"),
                "last_result": runs.get(job, {}).get("last_result"),
            }
            for job, task in (TIMESCALEDB_JOBS if timescale else PLAIN_JOBS).items()
        ]
        cursor.execute("SELECT count(*) FROM ohlcv_rollup_invalidations")
        status["pending_invalidations"] = cursor.fetchone()[0]
    return status
