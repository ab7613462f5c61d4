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
from marketdata import array_cache, columnar
from marketdata.candle_queries import candles_sql, native_codes_wanted, source_sql
from marketdata.data_versions import data_version
from marketdata.models import EquityHistory, Ohlcv, TickData
from marketdata.services import publish_stored_price
from marketdata.timeframes import RAW, Timeframe, bucket_expression
from marketdata.timescale import TIMESERIES_DB, timescaledb_enabled


@dataclass(frozen=True)
class Candle:
    time: datetime
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal
    candle_count: int | None  # 1m candles in it; None for a candle stored at its timeframe


@dataclass(frozen=True)
class CandlePage:
    candles: list[Candle]
    next_start: datetime | None  # where the next page starts, None when the range is done


def native_timeframes(
    *, symbol: str, timeframe: Timeframe, using: str = TIMESERIES_DB
) -> frozenset[str]:
    """Which of the timeframes that can enter `timeframe`'s candles (its own, and 1h or 1d for
    what rolls up from them) the symbol has candles stored at: one index probe each."""
    wanted = native_codes_wanted(timeframe)
    if not wanted:
        return frozenset()
    with connections[using].cursor() as cursor:
        cursor.execute(
            "SELECT code FROM unnest(%s::text[]) code WHERE EXISTS "
            "(SELECT 1 FROM ohlcv WHERE symbol = %s AND timeframe = code)",
            [list(wanted), symbol],
        )
        return frozenset(code for (code,) in cursor.fetchall())


def _window(
    *,
    symbol: str,
    timeframe: Timeframe,
    start: datetime,
    end: datetime,
    limit: int | None,
    natives: frozenset[str],
    using: str,
) -> tuple[datetime, datetime, datetime] | None:
    """Bucket-aligned [lo, hi) to read, and the aligned end of the whole range. The window
    starts at the first stored candle (so gaps are skipped) and holds at most `limit` buckets.
    None when nothing is stored in the range."""
    lo = start if timeframe.code == "1m" else timeframe.ceil(start)
    end_aligned = end if timeframe.code == "1m" else timeframe.ceil(end)
    first = _first_stored(
        symbol=symbol, timeframe=timeframe, lo=lo, hi=end_aligned, natives=natives, using=using
    )
    if first is None:
        return None
    lo = max(lo, first if timeframe.code == "1m" else timeframe.floor(first))
    hi = end_aligned if limit is None else timeframe.after_within(lo, limit, end_aligned)
    return lo, hi, end_aligned


def _first_stored(
    *,
    symbol: str,
    timeframe: Timeframe,
    lo: datetime,
    hi: datetime,
    natives: frozenset[str],
    using: str,
) -> datetime | None:
    """The earliest moment in [lo, hi) that `timeframe`'s candles are built from: a 1m candle,
    a candle stored at a native timeframe that enters them, or, for timeframes built from the
    hourly or daily rollup, a rollup bucket before the first 1m candle (history whose 1m candles
    retention has removed: the rollups keep it)."""
    with connections[using].cursor() as cursor:
        cursor.execute(
            "SELECT time FROM ohlcv WHERE symbol = %s AND timeframe = '1m' "
            "AND time >= %s AND time < %s ORDER BY time LIMIT 1",
            [symbol, lo, hi],
        )
        row = cursor.fetchone()
        first_minute = row[0] if row else None
        first_native = None
        if natives:
            cursor.execute(
                "SELECT min(time) FROM ohlcv WHERE symbol = %s AND timeframe = ANY(%s) "
                "AND time >= %s AND time < %s",
                [symbol, sorted(natives), lo, hi],
            )
            first_native = cursor.fetchone()[0]
        first_bucket = None
        if timeframe.source != RAW:
            # No 1m candle lies in [lo, first_minute), so the rollup's real-time part (raw
            # candles past its watermark) is empty there and only materialized buckets answer.
            relation = source_sql(
                timeframe.source, "%(lo)s", "%(hi)s", timescale=timescaledb_enabled(using)
            )
            cursor.execute(
                f"SELECT min(r.bucket) FROM ({relation}) r",
                {"symbol": symbol, "lo": lo, "hi": first_minute or hi},
            )
            first_bucket = cursor.fetchone()[0]
    found = [moment for moment in (first_minute, first_native, first_bucket) if moment is not None]
    return min(found) if found else None


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
    buckets per page; `next_start` continues the range (None when no candle is left in it).
    Candles stored at `timeframe` itself are served where they exist (see candle_queries)."""
    frame = Timeframe.parse(timeframe)
    natives = native_timeframes(symbol=symbol, timeframe=frame, using=using)
    window = _window(
        symbol=symbol,
        timeframe=frame,
        start=start,
        end=end,
        limit=limit,
        natives=natives,
        using=using,
    )
    if window is None:
        return CandlePage([], None)
    lo, hi, end_aligned = window
    sql = candles_sql(frame, timescale=timescaledb_enabled(using), natives=natives)
    with connections[using].cursor() as cursor:
        cursor.execute(sql, {"symbol": symbol, "lo": lo, "hi": hi})
        rows = cursor.fetchall()
    next_start = None
    if hi < end_aligned and _first_stored(
        symbol=symbol, timeframe=frame, lo=hi, hi=end_aligned, natives=natives, using=using
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
    use_cache: bool = True,
) -> dict[str, np.ndarray]:
    """A symbol's candles in [start, end) as NumPy arrays for the backtest engine: `time` as
    datetime64[ns] (UTC), float64 open/high/low/close/volume. The same candles as the API
    (native timeframes included), moved by binary COPY and decoded with no Python object per row
    (marketdata.columnar). Served from the local array cache (marketdata.array_cache) while the
    symbol's data version stands; the cached arrays are read-only."""
    frame = Timeframe.parse(timeframe)
    version = data_version(symbol=symbol, using=using) if use_cache else None
    if version is not None:
        cached = array_cache.load(
            symbol=symbol, timeframe=frame.code, start=start, end=end, version=version, using=using
        )
        if cached is not None:
            return cached
    natives = native_timeframes(symbol=symbol, timeframe=frame, using=using)
    window = _window(
        symbol=symbol,
        timeframe=frame,
        start=start,
        end=end,
        limit=None,
        natives=natives,
        using=using,
    )
    if window is None:
        arrays = columnar.empty_arrays()
    else:
        lo, hi, _ = window
        sql = candles_sql(
            frame, timescale=timescaledb_enabled(using), for_arrays=True, natives=natives
        )
        arrays = columnar.copy_arrays(
            connections[using], sql, {"symbol": symbol, "lo": lo, "hi": hi}
        )
    if version is not None:
        array_cache.store(
            arrays,
            symbol=symbol,
            timeframe=frame.code,
            start=start,
            end=end,
            version=version,
            using=using,
        )
    return arrays


def stored_range(
    *, symbol: str, using: str = TIMESERIES_DB
) -> tuple[datetime | None, datetime | None]:
    """The first and last stored candle of `symbol`, any timeframe (for messages such as "data
    exists from ... to ...")."""
    with connections[using].cursor() as cursor:
        cursor.execute("SELECT min(time), max(time) FROM ohlcv WHERE symbol = %s", [symbol])
        return cursor.fetchone()


def latest_candle_time(
    *, symbol: str, timeframe: str = "1m", using: str = TIMESERIES_DB
) -> datetime | None:
    """The newest candle of `symbol` stored at `timeframe`."""
    with connections[using].cursor() as cursor:
        cursor.execute(
            "SELECT max(time) FROM ohlcv WHERE symbol = %s AND timeframe = %s", [symbol, timeframe]
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
