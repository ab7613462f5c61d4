"""Keeping `ohlcv_1h` and `ohlcv_1d` up to date.

TimescaleDB mode: continuous aggregates with the spec's refresh policies. A policy only looks at
the last few hours or days, so a write of older candles (an import of history) logs its range in
`ohlcv_rollup_invalidations` and, once committed, the logged ranges are refreshed explicitly,
outside any transaction (refresh_continuous_aggregate refuses to run inside one). The beat job
refreshes them once more before forgetting them; a refresh that fails or cannot run (the write
was inside a caller's transaction) leaves its range logged for the next run, so no range of
history stays unmaterialized.

Plain mode: the write services log the changed range of 1m candles; `refresh_pending` (a beat job
every 10 minutes, and right after each write) rewrites only the buckets those ranges touch, up to
the same end offsets as the policies (1 hour, 1 day), then advances the watermark. Queries read
materialized buckets before the watermark and aggregate raw candles after it. Like the policies'
start offsets, each beat run also rewrites the trailing window (3 hours, 3 days) of every symbol
that has candles in it, so recent candles written by raw SQL, bypassing the services' log, are
materialized within one run too. (Older raw-SQL writes need `refresh_rollups`-style explicit
ranges: ohlcv has no row trigger, which would cost seconds per million imported rows.)

Either way the buckets before `now - end offset` are materialized as soon as a write commits, so
both modes answer the same.
"""

import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import DatabaseError, connections, transaction
from django.utils import timezone

from marketdata.candle_queries import DAY, HOUR, hourly_sql, rollup_sql
from marketdata.data_versions import move_data_versions
from marketdata.timeframes import Timeframe, bucket_sql
from marketdata.timescale import TIMESERIES_DB, timescaledb_enabled

REFRESH_ATTEMPTS = 6
# Refreshes run with JIT off: their plans cover one chunk per week of history, each with its own
# expressions, and right after an import the new chunks have no statistics; JIT then compiled
# thousands of functions per refresh (8.3 s of emission for a million imported 1m candles,
# measured with EXPLAIN ANALYZE in TimescaleDB mode) to run each only a few thousand times.
# Plain mode's refresh is one statement over the same rows.
NO_JIT = "SET LOCAL jit = off"
# TimescaleDB mode: a logged range is forgotten only by a refresh this long after it was logged
# (see refresh_logged_continuous_aggregates).
SECOND_PASS_AFTER = timedelta(minutes=1)
logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Rollup:
    name: str
    timeframe: Timeframe
    end_offset: timedelta
    start_offset: timedelta
    dependent: str | None

    def cap(self, now: datetime) -> datetime:
        """Buckets starting before this are complete enough to materialize."""
        return self.timeframe.floor(now - self.end_offset)

    def compute_sql(self) -> str:
        if self.name == "ohlcv_1h":
            return _HOURLY_FROM_MINUTES_SQL.format(
                bucket=bucket_sql(self.timeframe, "time", timescale=False)
            )
        source = hourly_sql("%(lo)s", "%(hi)s", timescale=False)
        return rollup_sql(source, self.timeframe, timescale=False)


# Plain mode's hourly refresh: the same buckets as rollup_sql over raw_minutes_sql, computed
# without sorting the minutes. first/last as `(array_agg(x ORDER BY time))[1]` sort every
# minute by bucket (a million minutes: a sort spilling to disk, 2.6-3.0 s on the loaded bench
# machine); here a hash aggregate finds each bucket's first and last minute, and one index
# look-up each reads their open and close (LIMIT 1 keeps the planner from turning the look-ups
# into hash joins over every minute): 1.7-1.9 s (bench/README.md, ingest).
_HOURLY_FROM_MINUTES_SQL = (
    "SELECT g.bucket, f.open, g.high, g.low, l.close, g.volume, g.candle_count FROM ("
    "SELECT {bucket} AS bucket, min(time) AS first_time, max(time) AS last_time, "
    "max(high) AS high, min(low) AS low, sum(volume) AS volume, count(*) AS candle_count "
    "FROM ohlcv WHERE symbol = %(symbol)s AND timeframe = '1m' "
    "AND time >= %(lo)s AND time < %(hi)s GROUP BY 1) g "
    "CROSS JOIN LATERAL (SELECT open FROM ohlcv WHERE symbol = %(symbol)s "
    "AND timeframe = '1m' AND time = g.first_time LIMIT 1) f "
    "CROSS JOIN LATERAL (SELECT close FROM ohlcv WHERE symbol = %(symbol)s "
    "AND timeframe = '1m' AND time = g.last_time LIMIT 1) l"
)


HOURLY = Rollup("ohlcv_1h", HOUR, timedelta(hours=1), timedelta(hours=3), dependent="ohlcv_1d")
DAILY = Rollup("ohlcv_1d", DAY, timedelta(days=1), timedelta(days=3), dependent=None)

# Symbols with source rows in a rollup's trailing window [lo, cap).
_TRAILING_SYMBOLS_SQL = {
    "ohlcv_1h": "SELECT DISTINCT symbol FROM ohlcv "
    "WHERE timeframe = '1m' AND time >= %s AND time < %s",
    "ohlcv_1d": "SELECT DISTINCT symbol FROM ohlcv_1h WHERE bucket >= %s AND bucket < %s",
}
ROLLUPS = (HOURLY, DAILY)


def log_invalidation(
    *, symbol: str, earliest: datetime, latest: datetime, using: str = TIMESERIES_DB
) -> None:
    """Note that 1m candles of `symbol` in [earliest, latest] changed. Call inside the
    transaction that wrote them. In TimescaleDB mode only ranges reaching below the hourly
    policy's end offset are noted: the policies cover the rest."""
    if timescaledb_enabled(using) and earliest >= HOURLY.cap(timezone.now()):
        return
    with connections[using].cursor() as cursor:
        cursor.execute(
            "INSERT INTO ohlcv_rollup_invalidations (rollup, symbol, earliest, latest) "
            "VALUES (%s, %s, %s, %s)",
            [HOURLY.name, symbol, earliest, latest],
        )


def materialize_hourly(
    *,
    symbol: str,
    rows: list[tuple],
    earliest: datetime,
    latest: datetime,
    now: datetime | None = None,
    using: str = TIMESERIES_DB,
) -> None:
    """Plain mode, inside the transaction that wrote a series' first 1m candles: write the hourly
    buckets the load computed from them (marketdata.ingest.hourly_buckets), instead of logging
    [earliest, latest] for refresh_plain_rollup to read the candles back. With no other 1m
    candles of the symbol, they are the buckets that refresh would write; buckets from the hourly
    cap on, and the daily buckets over them, are logged for the refresh as any write's are."""
    cap = HOURLY.cap(now or timezone.now())
    lo = HOUR.floor(earliest)
    hi = min(HOUR.after(HOUR.floor(latest)), cap)
    with connections[using].cursor() as cursor:
        # As refresh_plain_rollup: no refresh of ohlcv_1h interleaves with this write.
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"refresh:{HOURLY.name}"])
        if lo < hi:
            cursor.execute(
                "DELETE FROM ohlcv_1h WHERE symbol = %s AND bucket >= %s AND bucket < %s",
                [symbol, lo, hi],
            )
            written = [row for row in rows if row[0] < cap]
            cursor.execute(
                "INSERT INTO ohlcv_1h "
                "(bucket, symbol, timeframe, open, high, low, close, volume, candle_count) "
                "SELECT b, %s, '1h', o, h, l, c, v, n FROM unnest(%s::timestamptz[], "
                "%s::numeric[], %s::numeric[], %s::numeric[], %s::numeric[], %s::numeric[], "
                "%s::bigint[]) AS r(b, o, h, l, c, v, n)",
                [symbol, *(list(column) for column in zip(*written, strict=True))]
                if written
                else [symbol, [], [], [], [], [], [], []],
            )
            cursor.execute(
                "INSERT INTO ohlcv_rollup_invalidations (rollup, symbol, earliest, latest) "
                "VALUES (%s, %s, %s, %s)",
                [DAILY.name, symbol, lo, hi - timedelta(microseconds=1)],
            )
        if latest >= cap:
            log_invalidation(symbol=symbol, earliest=max(earliest, cap), latest=latest, using=using)


def _merged_ranges(
    rows: list[tuple[str, datetime, datetime]], rollup: Rollup, cap: datetime
) -> list[tuple[str, datetime, datetime]]:
    """Bucket-aligned [lo, hi) per symbol, overlapping or touching ranges merged, cut at cap."""
    by_symbol: dict[str, list[tuple[datetime, datetime]]] = {}
    for symbol, earliest, latest in rows:
        lo = rollup.timeframe.floor(earliest)
        hi = min(rollup.timeframe.after(rollup.timeframe.floor(latest)), cap)
        if lo < hi:
            by_symbol.setdefault(symbol, []).append((lo, hi))
    merged = []
    for symbol, ranges in sorted(by_symbol.items()):
        ranges.sort()
        current_lo, current_hi = ranges[0]
        for lo, hi in ranges[1:]:
            if lo <= current_hi:
                current_hi = max(current_hi, hi)
            else:
                merged.append((symbol, current_lo, current_hi))
                current_lo, current_hi = lo, hi
        merged.append((symbol, current_lo, current_hi))
    return merged


def refresh_plain_rollup(
    rollup: Rollup,
    *,
    now: datetime | None = None,
    trailing_window: bool = True,
    using: str = TIMESERIES_DB,
) -> dict:
    """Rewrite the buckets of `rollup` that logged changes touch, below its cap; advance the
    watermark to the cap. Returns what was done."""
    cap = rollup.cap(now or timezone.now())
    buckets = 0
    with transaction.atomic(using=using), connections[using].cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"refresh:{rollup.name}"])
        cursor.execute(NO_JIT)
        cursor.execute(
            "DELETE FROM ohlcv_rollup_invalidations WHERE rollup = %s AND earliest < %s "
            "RETURNING symbol, earliest, latest",
            [rollup.name, cap],
        )
        taken = cursor.fetchall()
        later = [(rollup.name, s, cap, latest) for s, _, latest in taken if latest >= cap]
        if trailing_window:
            trailing_lo = rollup.timeframe.floor(cap - rollup.start_offset)
            cursor.execute(_TRAILING_SYMBOLS_SQL[rollup.name], [trailing_lo, cap])
            taken += [
                (symbol, trailing_lo, cap - timedelta(microseconds=1)) for (symbol,) in cursor
            ]
        if later:
            cursor.executemany(
                "INSERT INTO ohlcv_rollup_invalidations (rollup, symbol, earliest, latest) "
                "VALUES (%s, %s, %s, %s)",
                later,
            )
        ranges = _merged_ranges(taken, rollup, cap)
        compute = rollup.compute_sql()
        for symbol, lo, hi in ranges:
            params = {"symbol": symbol, "lo": lo, "hi": hi, "timeframe": rollup.timeframe.code}
            cursor.execute(
                f"DELETE FROM {rollup.name} WHERE symbol = %(symbol)s "
                "AND bucket >= %(lo)s AND bucket < %(hi)s",
                params,
            )
            cursor.execute(
                f"INSERT INTO {rollup.name} "
                "(bucket, symbol, timeframe, open, high, low, close, volume, candle_count) "
                "SELECT r.bucket, %(symbol)s, %(timeframe)s, r.open, r.high, r.low, r.close, "
                f"r.volume, r.candle_count FROM ({compute}) r",
                params,
            )
            buckets += cursor.rowcount
            if rollup.dependent:
                cursor.execute(
                    "INSERT INTO ohlcv_rollup_invalidations (rollup, symbol, earliest, latest) "
                    "VALUES (%s, %s, %s, %s)",
                    [rollup.dependent, symbol, lo, hi - timedelta(microseconds=1)],
                )
        if ranges:
            move_data_versions(symbols={symbol for symbol, _lo, _hi in ranges}, using=using)
        cursor.execute(
            "INSERT INTO ohlcv_rollup_watermarks (rollup, watermark) VALUES (%s, %s) "
            "ON CONFLICT (rollup) DO UPDATE SET watermark = "
            "GREATEST(ohlcv_rollup_watermarks.watermark, EXCLUDED.watermark)",
            [rollup.name, cap],
        )
    return {
        "rollup": rollup.name,
        "ranges": len(ranges),
        "buckets_written": buckets,
        "watermark": cap.isoformat(),
    }


def refresh_pending(
    *, now: datetime | None = None, trailing_window: bool = True, using: str = TIMESERIES_DB
) -> list[dict]:
    """Refresh both rollups from the invalidation log, hourly first since the daily one is built
    from it. Plain mode also rewrites the trailing window for the beat job (TimescaleDB's
    policies do that themselves)."""
    if timescaledb_enabled(using):
        return refresh_logged_continuous_aggregates(now=now, using=using)
    now = now or timezone.now()
    return [
        refresh_plain_rollup(rollup, now=now, trailing_window=trailing_window, using=using)
        for rollup in ROLLUPS
    ]


def refresh_continuous_aggregates(
    *, earliest: datetime, latest: datetime, now: datetime | None = None, using: str = TIMESERIES_DB
) -> list[dict]:
    """TimescaleDB mode: materialize the buckets of ohlcv_1h, then ohlcv_1d, that hold candles
    in [earliest, latest], up to each policy's end offset. Must run outside a transaction."""
    if connections[using].in_atomic_block:
        # Only reachable when a caller's own transaction wraps the write (as in tests); the
        # policies, or the next write outside a transaction, materialize these buckets.
        logger.warning("Not refreshing continuous aggregates inside a transaction.")
        return []
    now = now or timezone.now()
    done = []
    with connections[using].cursor() as cursor:
        # As NO_JIT, but for the session (there is no transaction here) until the RESET below.
        cursor.execute("SET jit = off")
        try:
            done = _refresh_each(cursor, earliest=earliest, latest=latest, now=now)
        finally:
            cursor.execute("RESET jit")
    if done:
        # A refresh by time range covers every symbol (and may drop old buckets of any).
        move_data_versions(symbols=None, using=using)
    return done


# TimescaleDB 2.28 materializes an explicit refresh in batches of a few buckets each (1,667
# batches of DELETE + INSERT ... SELECT for a million imported 1m candles: 1.4-2.0 s, against
# 0.4-0.6 s for the aggregate's query alone). Batches of 10,000 buckets (over a year of hours,
# 27 years of days) do the same work in a statement or two: 0.58 s for that import, the same
# rows materialized.
REFRESH_OPTIONS = '{"buckets_per_batch": 10000}'


def _refresh_each(cursor, *, earliest: datetime, latest: datetime, now: datetime) -> list[dict]:
    """refresh_continuous_aggregate of ohlcv_1h, then ohlcv_1d, over what [earliest, latest]
    touches below each one's end offset."""
    done = []
    for rollup in ROLLUPS:
        lo = rollup.timeframe.floor(earliest)
        hi = min(rollup.timeframe.after(rollup.timeframe.floor(latest)), rollup.cap(now))
        if lo >= hi:
            continue
        for attempt in range(REFRESH_ATTEMPTS):
            try:
                cursor.execute(
                    "CALL refresh_continuous_aggregate(%s, %s::timestamptz, %s::timestamptz,"
                    " options => %s::jsonb)",
                    [rollup.name, lo, hi, REFRESH_OPTIONS],
                )
                break
            except DatabaseError as error:
                # A policy job may be refreshing the same aggregate right now.
                if "concurrent" not in str(error) or attempt == REFRESH_ATTEMPTS - 1:
                    raise
                time.sleep(0.2 * (attempt + 1))
        done.append({"rollup": rollup.name, "from": lo.isoformat(), "to": hi.isoformat()})
    return done


def refresh_logged_continuous_aggregates(
    *, now: datetime | None = None, using: str = TIMESERIES_DB
) -> list[dict]:
    """TimescaleDB mode: refresh the continuous aggregates over the logged ranges that reach
    below the hourly end offset (a refresh covers every symbol, so overlapping ranges are merged
    whatever their symbol). What lies above the offsets is the policies' work. Outside a
    transaction only; a range whose refresh fails stays logged.

    A range is forgotten only by a refresh at least SECOND_PASS_AFTER after it was logged, so the
    refresh right after a write is always followed by the beat job's: a policy refreshing at the
    same moment as the first can leave one of the range's buckets invalidated but unmaterialized
    (seen with TimescaleDB 2.28), and the real-time view then serves the stale bucket. A second
    refresh of a range with nothing invalidated in it costs next to nothing."""
    if connections[using].in_atomic_block:
        logger.warning("Not refreshing continuous aggregates inside a transaction.")
        return []
    now = now or timezone.now()
    with connections[using].cursor() as cursor:
        cursor.execute(
            "SELECT id, earliest, latest FROM ohlcv_rollup_invalidations "
            "WHERE rollup = %s AND earliest < %s ORDER BY earliest",
            [HOURLY.name, HOURLY.cap(now)],
        )
        logged = cursor.fetchall()
    merged: list[list] = []  # [ids, earliest, latest], overlapping ranges joined
    for row_id, earliest, latest in logged:
        if merged and earliest <= merged[-1][2]:
            merged[-1][0].append(row_id)
            merged[-1][2] = max(merged[-1][2], latest)
        else:
            merged.append([[row_id], earliest, latest])
    done: list[dict] = []
    for ids, earliest, latest in merged:
        done += refresh_continuous_aggregates(
            earliest=earliest, latest=latest, now=now, using=using
        )
        with connections[using].cursor() as cursor:
            cursor.execute(
                "DELETE FROM ohlcv_rollup_invalidations WHERE id = ANY(%s) AND recorded_at < %s",
                [ids, now - SECOND_PASS_AFTER],
            )
    return done


def refresh_after_write(
    *, earliest: datetime, latest: datetime, using: str = TIMESERIES_DB
) -> None:
    """Once the write that changed 1m candles in [earliest, latest] commits, materialize what it
    touched below the end offsets (immediately if no transaction is open) from the invalidation
    log. A write of only recent candles (a live feed) has nothing below them yet and costs no
    refresh; the trailing window of every symbol is left to the beat job (plain mode) or the
    policies (TimescaleDB mode)."""
    if earliest >= HOURLY.cap(timezone.now()):
        return
    # robust: the write has committed whatever happens here, and a range whose refresh fails
    # stays logged for the beat job, so a failure is logged, not raised to the writer.
    transaction.on_commit(
        lambda: refresh_pending(trailing_window=False, using=using), using=using, robust=True
    )
