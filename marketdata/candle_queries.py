"""The SQL behind every candle read, in both modes.

Three stored relations hold candles: `ohlcv` (1m), `ohlcv_1h` and `ohlcv_1d`. In TimescaleDB mode
the two rollups are real-time continuous aggregates, so reading them already fills the
not-yet-materialized tail from raw candles. In plain mode the same union is written out here:
materialized rows before the rollup's watermark, raw candles aggregated on the fly after it.
Any other timeframe is rolled up on the fly from the coarsest relation that tiles it (4h from
1h, 1w from 1d, 5m from 1m) with first / max / min / last / sum.

Candles stored at their own timeframe (an import of daily or hourly history: `ohlcv` rows whose
`timeframe` is not `1m`) are first-class: for each bucket, a stored candle of the asked timeframe
is used where there is one, the bucket derived from 1m otherwise (`native_merge_sql`). Native `1h`
and `1d` candles also feed what rolls up from those rollups (`4h`, `1w`, `1M` ...).

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


# The native timeframe that stands in for each stored rollup.
NATIVE_OF_SOURCE = {HOURLY: "1h", DAILY: "1d"}


def native_sql(code: str, lo: str, hi: str) -> str:
    """Candles stored at timeframe `code` itself. They were not built from 1m candles, so their
    candle_count is NULL."""
    return (
        "SELECT time AS bucket, open, high, low, close, volume, NULL::bigint AS candle_count "
        f"FROM ohlcv WHERE symbol = %(symbol)s AND timeframe = '{code}' "
        f"AND time >= {lo} AND time < {hi}"
    )


def native_merge_sql(code: str, derived_sql: str, lo: str, hi: str) -> str:
    """Per bucket, the candle stored at timeframe `code` where there is one, else the derived."""
    return (
        f"{native_sql(code, lo, hi)} UNION ALL SELECT d.* FROM ({derived_sql}) d "
        "WHERE NOT EXISTS (SELECT 1 FROM ohlcv n WHERE n.symbol = %(symbol)s "
        f"AND n.timeframe = '{code}' AND n.time = d.bucket)"
    )


def source_sql(
    source: str, lo: str, hi: str, *, timescale: bool, natives: frozenset[str] = frozenset()
) -> str:
    """The stored relation `source` over [lo, hi); with the native timeframe standing in for it
    (1h for ohlcv_1h, 1d for ohlcv_1d) in `natives`, merged with the native candles."""
    if source == RAW:
        return raw_minutes_sql(lo, hi)
    if source == HOURLY:
        relation = hourly_sql(lo, hi, timescale=timescale)
    else:
        relation = daily_sql(lo, hi, timescale=timescale)
    native = NATIVE_OF_SOURCE[source]
    return native_merge_sql(native, relation, lo, hi) if native in natives else relation


def native_codes_wanted(timeframe: Timeframe) -> tuple[str, ...]:
    """The native timeframes whose stored candles can enter `timeframe`'s candles: its own, and
    the one standing in for its source rollup."""
    codes = [] if timeframe.code == "1m" else [timeframe.code]
    native = NATIVE_OF_SOURCE.get(timeframe.source)
    if native and native not in codes:
        codes.append(native)
    return tuple(codes)


def candles_sql(
    timeframe: Timeframe,
    *,
    timescale: bool,
    for_arrays: bool = False,
    natives: frozenset[str] = frozenset(),
) -> str:
    """Candles of `timeframe` for %(symbol)s with bucket starts in [%(lo)s, %(hi)s), oldest
    first; `natives` are the timeframes the symbol has candles stored at (see the module doc).
    With `for_arrays`, the six columns that marketdata.columnar decodes from binary COPY (no
    candle_count)."""
    relation = source_sql(
        timeframe.source, "%(lo)s", "%(hi)s", timescale=timescale, natives=natives
    )
    if not timeframe.is_stored:
        relation = rollup_sql(relation, timeframe, timescale=timescale)
        if timeframe.code in natives:
            relation = native_merge_sql(timeframe.code, relation, "%(lo)s", "%(hi)s")
    if for_arrays:
        columns = "c.bucket, c.open, c.high, c.low, c.close, c.volume"
    else:
        columns = "c.bucket, c.open, c.high, c.low, c.close, c.volume, c.candle_count::bigint"
    return f"SELECT {columns} FROM ({relation}) c ORDER BY c.bucket"
