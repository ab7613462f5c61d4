"""Writes to the time-series database: candle imports and upserts, ticks, equity snapshots, the
ticker cache, and the maintenance jobs of plain mode. Other apps call these, never the tables."""

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID

import numpy as np
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import connections, transaction
from django.utils import timezone

from core.cache_keys import ticker_key, ticker_lock_key
from core.validation import symbol_validator, timeframe_validator
from marketdata import retention, rollups
from marketdata.ingest.files import Progress, Row, read_rows
from marketdata.ingest.ohlcv import (
    LoadReport,
    RowsRejected,
    boundary_check,
    candle_problem,
    load_candles,
)
from marketdata.models import DEFAULT_SOURCE, MaintenanceJobRun
from marketdata.synthetic import synthetic_candles
from marketdata.timeframes import Timeframe
from marketdata.timescale import TIMESERIES_DB

EIGHT_PLACES = Decimal("0.00000001")
TICKER_LOCK_SECONDS = 5  # a holder that dies frees the lock after this
ONE_MINUTE = timedelta(minutes=1)
COPY_THRESHOLD = 1000  # rows; fewer go through one multi-row INSERT
# Synthetic series start at most here, so that their random walk stays inside NUMERIC(18,8).
SYNTHETIC_PRICE_LIMIT = 1e8


def validate_series(*, symbol: str, timeframe: str | None = None) -> None:
    """The same rules as the strategies table's CHECK constraints, as field errors."""
    errors: dict[str, list[str]] = {}
    for name, value, validator in (
        ("symbol", symbol, symbol_validator),
        ("timeframe", timeframe, timeframe_validator),
    ):
        if name == "timeframe" and timeframe is None:
            continue
        try:
            validator(value)
        except ValidationError as error:
            errors[name] = error.messages
    if errors:
        raise ValidationError(errors)


def _price_text(value: object) -> str:
    """As NUMERIC(18,8) prints it, whichever way the price arrived."""
    return format(Decimal(str(value)).quantize(EIGHT_PLACES), "f")


def update_ticker(
    *,
    symbol: str,
    price: Decimal | str,
    at: datetime,
    origin: str,
    bid: Decimal | str | None = None,
    ask: Decimal | str | None = None,
) -> bool:
    """Put the latest price of `symbol` in Redis (`cache:ticker:{symbol}`) unless a newer one is
    already there. Returns whether it was written."""
    key = ticker_key(symbol)
    price, bid, ask = (None if x is None else _price_text(x) for x in (price, bid, ask))
    entry = {
        "symbol": symbol,
        "price": price,
        "time": at.isoformat(),
        "origin": origin,
        "bid": bid,
        "ask": ask,
    }
    # Compare and set under a lock: two writers must not leave the older price as the latest.
    with cache.lock(ticker_lock_key(symbol), timeout=TICKER_LOCK_SECONDS):
        current = cache.get(key)
        if current and datetime.fromisoformat(current["time"]) > at:
            return False
        cache.set(key, entry, timeout=None)
    return True


def publish_stored_price(*, symbol: str, using: str = TIMESERIES_DB) -> bool:
    """Put the newest stored price of `symbol` (its newest tick or 1m candle, whichever is later)
    in the ticker cache; False when nothing is stored. A write publishes this rather than its own
    newest row, so a backfill of old candles never shows an old price as the latest.

    A candle's price is its close, seen at the end of its minute (or now, for the minute still
    running): a tick at 12:00:30 is older than the close of the 12:00 candle."""
    with connections[using].cursor() as cursor:
        cursor.execute(
            "SELECT time, last_price, bid, ask FROM tick_data WHERE symbol = %s "
            "ORDER BY time DESC LIMIT 1",
            [symbol],
        )
        tick = cursor.fetchone()
        cursor.execute(
            "SELECT time, close FROM ohlcv WHERE symbol = %s AND timeframe = '1m' "
            "ORDER BY time DESC LIMIT 1",
            [symbol],
        )
        candle = cursor.fetchone()
    if candle:
        candle = (min(candle[0] + ONE_MINUTE, timezone.now()), candle[1])
    if tick and (not candle or tick[0] >= candle[0]):
        update_ticker(
            symbol=symbol, price=tick[1], at=tick[0], origin="tick", bid=tick[2], ask=tick[3]
        )
    elif candle:
        update_ticker(symbol=symbol, price=candle[1], at=candle[0], origin="candle")
    else:
        return False
    return True


@dataclass
class ImportResult:
    report: LoadReport
    seconds_loading: float
    seconds_refreshing: float


def import_ohlcv(
    *,
    path: str | Path,
    symbol: str,
    timeframe: str,
    source: str = DEFAULT_SOURCE,
    skip_invalid: bool = False,
    progress: Progress | None = None,
    using: str = TIMESERIES_DB,
) -> ImportResult:
    """Load a CSV or Parquet file of candles of one series (see marketdata.ingest). Raises
    RowsRejected (nothing written) when rows are bad and `skip_invalid` is off."""
    validate_series(symbol=symbol, timeframe=timeframe)
    return load_candle_rows(
        rows=lambda: read_rows(path, progress=progress),
        symbol=symbol,
        timeframe=timeframe,
        source=source,
        skip_invalid=skip_invalid,
        using=using,
    )


def synthetic_series(
    *,
    symbol: str,
    timeframe: str,
    bars: int,
    seed: int,
    start: datetime | None = None,
    price: float = 30_000.0,
) -> dict[str, np.ndarray]:
    """Synthetic candles (marketdata.synthetic) of one series, checked like any other series; by
    default the last one is the current bar. Raises ValidationError keyed by argument."""
    validate_series(symbol=symbol, timeframe=timeframe)
    frame = Timeframe.parse(timeframe)
    if frame.width is None:
        raise ValidationError({"timeframe": ["Synthetic candles need a fixed-width timeframe."]})
    if bars < 1:
        raise ValidationError({"bars": ["Must be at least 1."]})
    if not 0 < price <= SYNTHETIC_PRICE_LIMIT:
        raise ValidationError(
            {"price": [f"Must be above 0 and at most {SYNTHETIC_PRICE_LIMIT:g}."]}
        )
    if start is None:
        start = frame.floor(timezone.now()) - frame.width * (bars - 1)
    elif start.tzinfo is None:
        start = start.replace(tzinfo=UTC)
    else:
        start = start.astimezone(UTC)
    if frame.floor(start) != start:
        raise ValidationError(
            {"start": [f"Must start a {frame.code} candle, e.g. {frame.floor(start).isoformat()}."]}
        )
    return synthetic_candles(bars=bars, timeframe=frame.code, start=start, seed=seed, price=price)


def generate_synthetic_ohlcv(
    *,
    symbol: str,
    timeframe: str,
    bars: int,
    seed: int,
    start: datetime | None = None,
    price: float = 30_000.0,
    source: str = "synthetic",
    using: str = TIMESERIES_DB,
) -> ImportResult:
    """Load `bars` synthetic candles of one series into ohlcv (see synthetic_series)."""
    candles = synthetic_series(
        symbol=symbol, timeframe=timeframe, bars=bars, seed=seed, start=start, price=price
    )

    def rows() -> Iterable[Row]:
        values = zip(
            candles["time"].astype(datetime),
            *(candles[key].astype(str) for key in ("open", "high", "low", "close", "volume")),
            strict=True,
        )
        for line, (moment, *prices) in enumerate(values, start=2):
            yield (line, moment.replace(tzinfo=UTC), *prices)

    return load_candle_rows(
        rows=rows,
        symbol=symbol,
        timeframe=Timeframe.parse(timeframe).code,
        source=source,
        using=using,
    )


def load_candle_rows(
    *,
    rows: Callable[[], Iterable[Row]],
    symbol: str,
    timeframe: str,
    source: str = DEFAULT_SOURCE,
    skip_invalid: bool = False,
    using: str = TIMESERIES_DB,
) -> ImportResult:
    """Load candle rows (`rows()` yields them, and may be called twice) into ohlcv."""
    validate_series(symbol=symbol, timeframe=timeframe)
    started = time.perf_counter()
    committed_at: list[float] = []
    with transaction.atomic(using=using):
        # Registered first, so it runs right after the COMMIT and before the rollup refresh
        # registered below: the load's time includes the commit, the refresh's does not.
        transaction.on_commit(lambda: committed_at.append(time.perf_counter()), using=using)
        report = load_candles(
            rows,
            symbol=symbol,
            timeframe=timeframe,
            source=source,
            skip_invalid=skip_invalid,
            using=using,
        )
        if report.rows_written:
            _after_candles_written(
                symbol=symbol,
                timeframe=timeframe,
                earliest=report.earliest,
                latest=report.latest,
                using=using,
            )
    # The rollup refresh registered above has run here, after the commit. Inside a caller's
    # transaction nothing has committed yet, and everything so far counts as loading.
    finished = time.perf_counter()
    loaded = committed_at[0] if committed_at else finished
    return ImportResult(report, loaded - started, finished - loaded)


def _after_candles_written(
    *,
    symbol: str,
    timeframe: str,
    earliest: datetime,
    latest: datetime,
    using: str,
) -> None:
    if timeframe == "1m":
        rollups.log_invalidation(symbol=symbol, earliest=earliest, latest=latest, using=using)
        rollups.refresh_after_write(earliest=earliest, latest=latest, using=using)
    transaction.on_commit(lambda: publish_stored_price(symbol=symbol, using=using), using=using)


@dataclass(frozen=True)
class CandleInput:
    time: datetime
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal


def upsert_candles(
    *,
    symbol: str,
    timeframe: str,
    candles: Sequence[CandleInput],
    source: str = DEFAULT_SOURCE,
    using: str = TIMESERIES_DB,
) -> int:
    """Write candles as they arrive from a feed (insert or replace), keep the rollups and the
    ticker up to date. Large batches go through the same COPY path as imports.

    A candle repeated in the batch (same time) is written once, as its last version. An
    impossible candle (high < low, open or close outside them, negative volume) rejects the whole
    batch with RowsRejected, whose report names each by its 1-based position in `candles`."""
    validate_series(symbol=symbol, timeframe=timeframe)
    if not candles:
        return 0
    on_boundary = boundary_check(timeframe)
    off = [candle.time.isoformat() for candle in candles if not on_boundary(candle.time)]
    if off:
        raise ValidationError({"candles": [f"not on a {timeframe} boundary: {', '.join(off[:5])}"]})
    latest = {c.time: (n, c) for n, c in enumerate(candles, 1)}
    numbered = sorted(latest.values(), key=lambda pair: pair[0])
    if len(numbered) >= COPY_THRESHOLD:
        rows = [(n, c.time, c.open, c.high, c.low, c.close, c.volume) for n, c in numbered]
        result = load_candle_rows(
            rows=lambda: iter(rows), symbol=symbol, timeframe=timeframe, source=source, using=using
        )
        return result.report.rows_written
    report = LoadReport(rows_read=len(candles))
    for n, c in numbered:
        problem = candle_problem(c.open, c.high, c.low, c.close, c.volume)
        if problem is not None:
            report.reject(n, problem)
    if report.bad_count:
        raise RowsRejected(report)
    candles = [c for _n, c in numbered]
    with transaction.atomic(using=using), connections[using].cursor() as cursor:
        values = ", ".join(["(%s, %s, %s, %s, %s, %s, %s, %s, %s)"] * len(candles))
        params: list[Any] = []
        for c in candles:
            params += [c.time, symbol, timeframe, c.open, c.high, c.low, c.close, c.volume, source]
        cursor.execute(
            "INSERT INTO ohlcv (time, symbol, timeframe, open, high, low, close, volume, source) "
            f"VALUES {values} ON CONFLICT (time, symbol, timeframe) DO UPDATE SET "
            "open = EXCLUDED.open, high = EXCLUDED.high, low = EXCLUDED.low, "
            "close = EXCLUDED.close, volume = EXCLUDED.volume, source = EXCLUDED.source",
            params,
        )
        written = cursor.rowcount
        _after_candles_written(
            symbol=symbol,
            timeframe=timeframe,
            earliest=min(c.time for c in candles),
            latest=max(c.time for c in candles),
            using=using,
        )
    return written


@dataclass(frozen=True)
class TickInput:
    time: datetime
    symbol: str
    last_price: Decimal
    bid: Decimal | None = None
    ask: Decimal | None = None
    last_volume: Decimal | None = None
    source: str = DEFAULT_SOURCE


TICK_COLUMNS = ("time", "symbol", "bid", "ask", "last_price", "last_volume", "source")
EQUITY_COLUMNS = (
    "time",
    "portfolio_id",
    "equity_value",
    "cash_balance",
    "positions_value",
    "daily_pnl",
    "daily_pnl_pct",
    "cumulative_pnl",
    "cumulative_pnl_pct",
    "peak_equity",
    "drawdown",
    "drawdown_pct",
)


def _bulk_upsert(
    *,
    table: str,
    columns: Sequence[str],
    key: Sequence[str],
    rows: list[tuple],
    using: str,
) -> int:
    """Insert or replace rows keyed by `key`: one multi-row INSERT for a few, COPY into a
    temporary staging table and one INSERT ... SELECT for many. Rows repeating a key are
    collapsed first, the last one winning, the same way whatever the batch size."""
    positions = [columns.index(name) for name in key]
    rows = list({tuple(row[i] for i in positions): row for row in rows}.values())
    column_list = ", ".join(columns)
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in columns if c not in key)
    conflict = f"ON CONFLICT ({', '.join(key)}) DO UPDATE SET {updates}"
    with connections[using].cursor() as cursor:
        if len(rows) < COPY_THRESHOLD:
            placeholders = ", ".join(["(" + ", ".join(["%s"] * len(columns)) + ")"] * len(rows))
            cursor.execute(
                f"INSERT INTO {table} ({column_list}) VALUES {placeholders} {conflict}",
                [value for row in rows for value in row],
            )
            return cursor.rowcount
        staging = f"{table}_staging"
        cursor.execute(
            f"CREATE TEMPORARY TABLE IF NOT EXISTS {staging} "
            f"(LIKE {table} INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
        )
        with cursor.cursor.copy(f"COPY {staging} ({column_list}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        cursor.execute(
            f"INSERT INTO {table} ({column_list}) SELECT {column_list} FROM {staging} {conflict}"
        )
        written = cursor.rowcount
        cursor.execute(f"TRUNCATE {staging}")
        return written


def record_ticks(*, ticks: Iterable[TickInput], using: str = TIMESERIES_DB) -> int:
    """Store ticks (bulk; COPY for large batches) and move each symbol's ticker forward."""
    ticks = list(ticks)
    if not ticks:
        return 0
    for symbol in {t.symbol for t in ticks}:
        validate_series(symbol=symbol)
    rows = [(t.time, t.symbol, t.bid, t.ask, t.last_price, t.last_volume, t.source) for t in ticks]
    with transaction.atomic(using=using):
        written = _bulk_upsert(
            table="tick_data", columns=TICK_COLUMNS, key=("time", "symbol"), rows=rows, using=using
        )
        newest: dict[str, TickInput] = {}
        for tick in ticks:
            if tick.symbol not in newest or tick.time >= newest[tick.symbol].time:
                newest[tick.symbol] = tick

        def publish() -> None:
            for tick in newest.values():
                update_ticker(
                    symbol=tick.symbol,
                    price=tick.last_price,
                    at=tick.time,
                    origin="tick",
                    bid=tick.bid,
                    ask=tick.ask,
                )

        transaction.on_commit(publish, using=using)
    return written


@dataclass(frozen=True)
class EquitySnapshotInput:
    time: datetime
    portfolio_id: UUID
    equity_value: Decimal
    cash_balance: Decimal
    positions_value: Decimal
    daily_pnl: Decimal | None = None
    daily_pnl_pct: Decimal | None = None
    cumulative_pnl: Decimal | None = None
    cumulative_pnl_pct: Decimal | None = None
    peak_equity: Decimal | None = None
    drawdown: Decimal | None = None
    drawdown_pct: Decimal | None = None


def record_equity_snapshots(
    *, snapshots: Iterable[EquitySnapshotInput], using: str = TIMESERIES_DB
) -> int:
    """Store portfolio equity snapshots (insert or replace per time and portfolio)."""
    rows = [tuple(getattr(s, column) for column in EQUITY_COLUMNS) for s in snapshots]
    if not rows:
        return 0
    with transaction.atomic(using=using):
        return _bulk_upsert(
            table="equity_history",
            columns=EQUITY_COLUMNS,
            key=("time", "portfolio_id"),
            rows=rows,
            using=using,
        )


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
