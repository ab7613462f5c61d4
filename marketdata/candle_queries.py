"""The SQL behind every candle read, in both modes.

Three stored relations hold candles: `ohlcv` (1m), `ohlcv_1h` and `ohlcv_1d`. In TimescaleDB mode
the two rollups are real-time continuous aggregates, so reading them already fills the
not-yet-materialized tail from raw candles. In plain mode the same union is written out here:
materialized rows before the rollup's watermark, raw candles aggregated on the fly after it.
Any other timeframe is rolled up on the fly from the coarsest relation that tiles it (4h from
1h, 1w from 1d, 5m from 1m) with first / max / min / last / sum.

Every builder takes SQL expressions for the window [lo, hi) of bucket starts; values travel as
named parameters (`%(symbol)s` ...).
"""

from marketdata.timeframes import (
    DAILY,
    HOURLY,
    RAW,
    Timeframe,
    bucket_sql,
    first_sql,
    last_sql,
)

HOUR = Timeframe.parse("1h")
DAY = Timeframe.parse("1d")
COLUMNS = "bucket, open, high, low, close, volume, candle_count"


def watermark_sql(rollup: str) -> str:
    """Plain mode: buckets before this are materialized. No row (a flushed test database) means
    nothing is, and everything is computed from raw candles."""
    return (
        "coalesce((SELECT watermark FROM ohlcv_rollup_watermarks "
        f"WHERE rollup = '{rollup}'), '-infinity')"
    )


def raw_minutes_sql(lo: str, hi: str) -> str:
    return (
        "SELECT time AS bucket, open, high, low, close, volume, 1::bigint AS candle_count "
        "FROM ohlcv WHERE symbol = %(symbol)s AND timeframe = '1m' "
        f"AND time >= {lo} AND time < {hi}"
    )


def rollup_sql(source_sql: str, timeframe: Timeframe, *, timescale: bool) -> str:
    """Buckets of `timeframe` over a relation with COLUMNS."""
    return (
        f"SELECT {bucket_sql(timeframe, 's.bucket', timescale=timescale)} AS bucket, "
        f"{first_sql('s.open', 's.bucket', timescale=timescale)} AS open, "
        "max(s.high) AS high, min(s.low) AS low, "
        f"{last_sql('s.close', 's.bucket', timescale=timescale)} AS close, "
        "sum(s.volume) AS volume, sum(s.candle_count)::bigint AS candle_count "
        f"FROM ({source_sql}) s GROUP BY 1"
    )


def hourly_sql(lo: str, hi: str, *, timescale: bool) -> str:
    if timescale:
        return (
            f"SELECT {COLUMNS} FROM ohlcv_1h WHERE symbol = %(symbol)s "
            f"AND bucket >= {lo} AND bucket < {hi}"
        )
    watermark = watermark_sql(HOURLY)
    materialized = (
        f"SELECT {COLUMNS} FROM ohlcv_1h WHERE symbol = %(symbol)s "
        f"AND bucket >= {lo} AND bucket < {hi} AND bucket < {watermark}"
    )
    tail = rollup_sql(raw_minutes_sql(f"GREATEST({lo}, {watermark})", hi), HOUR, timescale=False)
    return f"{materialized} UNION ALL {tail}"


def daily_sql(lo: str, hi: str, *, timescale: bool) -> str:
    if timescale:
        return (
            f"SELECT {COLUMNS} FROM ohlcv_1d WHERE symbol = %(symbol)s "
            f"AND bucket >= {lo} AND bucket < {hi}"
        )
    watermark = watermark_sql(DAILY)
    materialized = (
        f"SELECT {COLUMNS} FROM ohlcv_1d WHERE symbol = %(symbol)s "
        f"AND bucket >= {lo} AND bucket < {hi} AND bucket < {watermark}"
    )
    hours = hourly_sql(f"GREATEST({lo}, {watermark})", hi, timescale=False)
    return f"{materialized} UNION ALL {rollup_sql(hours, DAY, timescale=False)}"


def source_sql(source: str, lo: str, hi: str, *, timescale: bool) -> str:
    if source == RAW:
        return raw_minutes_sql(lo, hi)
    if source == HOURLY:
        return hourly_sql(lo, hi, timescale=timescale)
    return daily_sql(lo, hi, timescale=timescale)


def candles_sql(timeframe: Timeframe, *, timescale: bool, as_float: bool = False) -> str:
    """Candles of `timeframe` for %(symbol)s with bucket starts in [%(lo)s, %(hi)s), oldest
    first. With `as_float`, prices come as float8 and times as epoch microseconds (for NumPy)."""
    relation = source_sql(timeframe.source, "%(lo)s", "%(hi)s", timescale=timescale)
    if not timeframe.is_stored:
        relation = rollup_sql(relation, timeframe, timescale=timescale)
    if as_float:
        columns = (
            "(extract(epoch FROM c.bucket) * 1000000)::bigint, c.open::float8, c.high::float8, "
            "c.low::float8, c.close::float8, c.volume::float8"
        )
    else:
        columns = "c.bucket, c.open, c.high, c.low, c.close, c.volume, c.candle_count::bigint"
    return f"SELECT {columns} FROM ({relation}) c ORDER BY c.bucket"
