"""A dry run of a candle import: the rows are read and checked exactly as an import checks them
and COPYed into the import's temporary staging table, which is then compared with what `ohlcv`
holds; the transaction is rolled back, so nothing is written."""

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime

from django.db import connections, transaction

from marketdata.ingest.files import Row
from marketdata.ingest.ohlcv import (
    STAGING_SQL,
    TIMESERIES,
    LoadReport,
    _reject_duplicates,
    _stage,
    too_old_reason,
)
from marketdata.retention import write_horizon
from marketdata.timeframes import Timeframe

# What an upsert would do with each staged row (the first of duplicate timestamps), with the
# values as ohlcv's columns would store them.
COMPARE_SQL = """
SELECT
    count(*) FILTER (WHERE o.time IS NULL),
    count(*) FILTER (WHERE o.time IS NOT NULL AND (o.open, o.high, o.low, o.close, o.volume,
        o.source) IS DISTINCT FROM (s.open::numeric(18,8), s.high::numeric(18,8),
        s.low::numeric(18,8), s.close::numeric(18,8), s.volume::numeric(24,8), %(source)s)),
    count(DISTINCT s.time)
FROM ohlcv_staging s
LEFT JOIN ohlcv o ON o.symbol = %(symbol)s AND o.timeframe = %(timeframe)s AND o.time = s.time
WHERE s.line <> ALL(%(duplicates)s)
"""
GAPS_SQL = """
SELECT time, next FROM (
    SELECT time, lead(time) OVER (ORDER BY time) AS next
    FROM (SELECT DISTINCT time FROM ohlcv_staging) t
) g WHERE next > time + %(width)s::interval ORDER BY time
"""


@dataclass
class Gap:
    after: datetime  # the last candle before the gap
    before: datetime  # the first candle after it
    missing: int


@dataclass
class Preview:
    report: LoadReport
    new: int = 0
    changed: int = 0
    unchanged: int = 0
    candles: int = 0  # distinct times among the good rows
    gaps: list[Gap] = field(default_factory=list)

    @property
    def missing(self) -> int:
        return sum(gap.missing for gap in self.gaps)

    @property
    def would_write(self) -> int:
        return self.new + self.changed


def _buckets_between(frame: Timeframe, start: datetime, end: datetime) -> int:
    """How many buckets of `frame` lie strictly between the buckets starting at start and end."""
    if frame.width is not None:
        return (end - start) // frame.width - 1
    months = (end.year - start.year) * 12 + end.month - start.month
    return months // frame.count - 1


def preview_candles(
    rows: Callable[[], Iterable[Row]],
    *,
    symbol: str,
    timeframe: str,
    source: str,
    using: str = TIMESERIES,
) -> Preview:
    """What loading `rows()` as (symbol, timeframe) would do: bad rows, new, changed and
    unchanged candles, and the gaps (missing candles on the timeframe's grid) between the first
    and the last. Writes nothing."""
    frame = Timeframe.parse(timeframe)
    connection = connections[using]
    with transaction.atomic(using=using), connection.cursor() as cursor:
        report = LoadReport()
        cursor.execute("DROP TABLE IF EXISTS pg_temp.ohlcv_staging")
        cursor.execute(STAGING_SQL)
        # The same refusal of 1m candles past the retention horizon as load_candles gives.
        horizon = write_horizon(timeframe)
        _stage(cursor.cursor, rows(), report, timeframe=timeframe, not_before=horizon,
               too_old=too_old_reason(horizon))  # fmt: skip
        duplicates = _reject_duplicates(cursor, report)
        preview = Preview(report)
        params = {
            "symbol": symbol,
            "timeframe": timeframe,
            "source": source,
            "duplicates": duplicates,
            "width": frame.interval,
        }
        cursor.execute(COMPARE_SQL, params)
        preview.new, preview.changed, preview.candles = cursor.fetchone()
        preview.unchanged = report.rows_valid - preview.new - preview.changed
        cursor.execute(GAPS_SQL, params)
        preview.gaps = [
            Gap(after, before, _buckets_between(frame, after, before))
            for after, before in cursor.fetchall()
        ]
        transaction.set_rollback(True, using=using)
    return preview
