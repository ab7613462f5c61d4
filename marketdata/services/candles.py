"""Writes of candles: imports of files, loads of any rows, and upserts as a feed delivers them.
Each keeps the rollups, the ticker and the symbol's data version up to date; 1m candles past
ohlcv's retention horizon are refused."""

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.db import connections, transaction

from core.validation import symbol_validator, timeframe_validator
from marketdata import candle_closes, retention, rollups
from marketdata.candle_closes import announce_closes_after_commit
from marketdata.data_versions import move_data_versions
from marketdata.ingest.files import Progress, Row, read_rows
from marketdata.ingest.ohlcv import (
    BulkLoad,
    LoadReport,
    RowsRejected,
    boundary_check,
    candle_problem,
    load_candles,
    too_old_reason,
)
from marketdata.models import DEFAULT_SOURCE
from marketdata.price_events import announce_candle_closed
from marketdata.services.ticker import publish_stored_price
from marketdata.timeframes import Timeframe
from marketdata.timescale import TIMESERIES_DB, timescaledb_enabled

COPY_THRESHOLD = 1000  # rows; fewer go through one multi-row INSERT


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


def load_candle_rows(
    *,
    rows: Callable[[], Iterable[Row]],
    symbol: str,
    timeframe: str,
    source: str = DEFAULT_SOURCE,
    skip_invalid: bool = False,
    bulk: BulkLoad | None = None,
    using: str = TIMESERIES_DB,
) -> ImportResult:
    """Load candle rows (`rows()` yields them, and may be called twice) into ohlcv. 1m rows
    older than ohlcv's retention horizon are bad rows (see retention.ohlcv_horizon). `bulk` is
    a faster way in for the same rows, tried first on a first load (see load_candles)."""
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
            not_before=retention.write_horizon(timeframe),
            bulk=bulk,
            using=using,
        )
        if report.rows_written:
            _after_candles_written(
                symbol=symbol,
                timeframe=timeframe,
                earliest=report.earliest,
                latest=report.latest,
                hourly_rows=report.hourly_rows,
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
    hourly_rows: list[tuple] | None = None,
) -> None:
    """`hourly_rows`: the hourly buckets of a series' first 1m candles, when the load computed
    them; plain mode writes them rather than read the candles back (rollups.materialize_hourly)."""
    move_data_versions(symbols=[symbol], using=using)
    if timeframe == "1m":
        if hourly_rows is not None and not timescaledb_enabled(using):
            rollups.materialize_hourly(
                symbol=symbol, rows=hourly_rows, earliest=earliest, latest=latest, using=using
            )
        else:
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
    impossible candle (high < low, open or close outside them, negative volume), or a 1m candle
    past ohlcv's retention horizon, rejects the whole batch with RowsRejected, whose report names
    each by its 1-based position in `candles`."""
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
        with transaction.atomic(using=using):  # the closes are claimed with the write
            result = load_candle_rows(
                rows=lambda: iter(rows),
                symbol=symbol,
                timeframe=timeframe,
                source=source,
                using=using,
            )
            if result.report.rows_written:
                _announce_after_commit(symbol, timeframe, [c for _n, c in numbered], using)
        return result.report.rows_written
    report = LoadReport(rows_read=len(candles))
    horizon = retention.write_horizon(timeframe)
    for n, c in numbered:
        problem = candle_problem(c.open, c.high, c.low, c.close, c.volume)
        if problem is None and horizon is not None and c.time < horizon:
            problem = too_old_reason(horizon)
        if problem is not None:
            report.reject(n, problem)
    if report.bad_count:
        raise RowsRejected(report)
    candles = [c for _n, c in numbered]
    with transaction.atomic(using=using), connections[using].cursor() as cursor:
        # The series lock imports take (load_candles): a series' first import writes the hourly
        # buckets it computed from its own rows (rollups.materialize_hourly), so no other write
        # of the series may land between its check that the series is empty and its commit.
        cursor.execute(
            "SELECT pg_advisory_xact_lock(hashtext(%s))", [f"ohlcv:{symbol}:{timeframe}"]
        )
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
        _announce_after_commit(symbol, timeframe, candles, using)
    return written


def _announce_after_commit(
    symbol: str, timeframe: str, candles: Sequence[CandleInput], using: str
) -> None:
    """After the commit, announce the batch's newest candle as closed (paper exchange,
    strategies, alerts) when its period has ended and it is recent: it ended at most one period
    ago. A backfill of older candles (a first download, an import) announces nothing, so no
    strategy acts on history as if it had just happened. A 1m candle is announced each time it
    is written so (the paper exchange and alerts are idempotent); candles of other timeframes,
    derived from 1m ones or stored at their own timeframe, once each (marketdata.candle_closes).
    Call inside the writing transaction."""
    if timeframe == "1m":
        _announce_minute_after_commit(symbol, candles, using)
    # Registered after the minute's: the paper exchange sees the minute that ends a derived
    # bucket before a strategy evaluates that bucket (its order then waits for the next price).
    announce_closes_after_commit(symbol=symbol, timeframe=timeframe, candles=candles, using=using)


def _announce_minute_after_commit(symbol: str, candles: Sequence[CandleInput], using: str) -> None:
    newest = max(candles, key=lambda candle: candle.time)
    frame = Timeframe.parse("1m")
    close_at = frame.after(newest.time)
    if not candle_closes.recent(frame, newest.time, candle_closes.now()):
        return

    def announce() -> None:
        announce_candle_closed(
            symbol=symbol,
            timeframe="1m",
            time=newest.time,
            close_at=close_at,
            open=newest.open,
            high=newest.high,
            low=newest.low,
            close=newest.close,
            volume=newest.volume,
        )

    transaction.on_commit(announce, using=using)
