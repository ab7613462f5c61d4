"""Timeframes (`1m`, `15m`, `4h`, `1d`, `1w`, `1M` ...) as the strategies table writes them, and
their buckets.

Buckets are aligned as TimescaleDB's `time_bucket` aligns them by default: fixed-width buckets
from 2000-01-03 00:00 UTC (a Monday, so weeks start on Monday), months from 2000-01-01 UTC. In
plain mode `date_bin` with that origin gives the same buckets, so both modes agree.
"""

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.db import models
from timescale.db.models.expressions import TimeBucket

from core.validation import TIMEFRAME_PATTERN

FIXED_ORIGIN = datetime(2000, 1, 3, tzinfo=UTC)
MONTH_ORIGIN = datetime(2000, 1, 1, tzinfo=UTC)
_UNIT_SECONDS = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_UNIT_WORDS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks", "M": "months"}

RAW = "ohlcv"
HOURLY = "ohlcv_1h"
DAILY = "ohlcv_1d"


class TimeframeError(ValueError):
    pass


@dataclass(frozen=True)
class Timeframe:
    code: str
    count: int
    unit: str

    @classmethod
    def parse(cls, code: str) -> "Timeframe":
        if not isinstance(code, str) or not re.fullmatch(TIMEFRAME_PATTERN, code):
            raise TimeframeError("Enter a timeframe such as 1m, 15m, 4h, 1d, 1w or 1M.")
        return cls(code=code, count=int(code[:-1]), unit=code[-1])

    @property
    def is_monthly(self) -> bool:
        return self.unit == "M"

    @property
    def width(self) -> timedelta | None:
        """Fixed width of a bucket; None for months."""
        if self.is_monthly:
            return None
        return timedelta(seconds=self.count * _UNIT_SECONDS[self.unit])

    @property
    def interval(self) -> str:
        """The SQL interval literal, e.g. '15 minutes', '1 months'."""
        if self.unit == "w":
            return f"{self.count * 7} days"
        return f"{self.count} {_UNIT_WORDS[self.unit]}"

    @property
    def source(self) -> str:
        """The coarsest stored relation whose buckets tile this timeframe's buckets."""
        if self.is_monthly:
            return DAILY
        seconds = self.width.total_seconds()
        if seconds % 86400 == 0:
            return DAILY
        if seconds % 3600 == 0:
            return HOURLY
        return RAW

    @property
    def is_stored(self) -> bool:
        """1m is `ohlcv` itself, 1h and 1d are the rollups: no further rollup needed."""
        return self.code in ("1m", "1h", "1d")

    def floor(self, moment: datetime) -> datetime:
        """The start (UTC) of the bucket holding `moment`, whatever its offset."""
        moment = moment.astimezone(UTC)
        if self.is_monthly:
            months = (moment.year - 2000) * 12 + moment.month - 1
            return _add_months(MONTH_ORIGIN, (months // self.count) * self.count)
        width = self.width
        return FIXED_ORIGIN + ((moment - FIXED_ORIGIN) // width) * width

    def ceil(self, moment: datetime) -> datetime:
        floor = self.floor(moment)
        return floor if floor == moment else self.after(floor)

    def after(self, bucket: datetime, buckets: int = 1) -> datetime:
        """The start of the bucket `buckets` after the one starting at `bucket`."""
        if self.is_monthly:
            return _add_months(bucket, self.count * buckets)
        return bucket + self.width * buckets

    def after_within(self, bucket: datetime, buckets: int, bound: datetime) -> datetime:
        """`after(bucket, buckets)`, but no further than `bound` (forward: at most `bound`;
        backward: at least `bound`), also where the calendar itself would run out."""
        try:
            moment = self.after(bucket, buckets)
        except (OverflowError, ValueError):
            return bound
        return min(moment, bound) if buckets >= 0 else max(moment, bound)


def _add_months(moment: datetime, months: int) -> datetime:
    total = moment.year * 12 + moment.month - 1 + months
    return moment.replace(year=total // 12, month=total % 12 + 1, day=1)


def bucket_sql(timeframe: Timeframe, column: str, *, timescale: bool) -> str:
    """SQL for the bucket of `column`: `time_bucket` in TimescaleDB, `date_bin` (or month
    arithmetic, which `date_bin` lacks) in plain PostgreSQL."""
    if timescale:
        return f"time_bucket(INTERVAL '{timeframe.interval}', {column})"
    if timeframe.is_monthly:
        utc = f"({column} AT TIME ZONE 'UTC')"
        year, month = f"extract(year FROM {utc})::int", f"extract(month FROM {utc})::int"
        months = f"(({year} - 2000) * 12 + {month} - 1)"
        floored = f"(floor({months}::numeric / {timeframe.count})::int * {timeframe.count})"
        return f"((TIMESTAMP '2000-01-01' + make_interval(months => {floored})) AT TIME ZONE 'UTC')"
    return (
        f"date_bin(INTERVAL '{timeframe.interval}', {column}, TIMESTAMPTZ '2000-01-03 00:00:00+00')"
    )


def first_sql(value: str, order: str, *, timescale: bool) -> str:
    if timescale:
        return f"first({value}, {order})"
    return f"(array_agg({value} ORDER BY {order}))[1]"


def last_sql(value: str, order: str, *, timescale: bool) -> str:
    if timescale:
        return f"last({value}, {order})"
    return f"(array_agg({value} ORDER BY {order} DESC))[1]"


class DateBin(models.Func):
    """`date_bin(width, column, origin)`: plain PostgreSQL's counterpart of `time_bucket`."""

    function = "date_bin"
    output_field = models.DateTimeField()

    def __init__(self, expression, width: timedelta, origin: datetime = FIXED_ORIGIN) -> None:
        super().__init__(models.Value(width), expression, models.Value(origin))


def bucket_expression(column: str, width: timedelta, *, timescale: bool) -> models.Func:
    """An ORM expression for fixed-width buckets: django-timescaledb's TimeBucket in TimescaleDB
    mode, DateBin in plain mode (the same buckets)."""
    if timescale:
        days, seconds = width.days, width.seconds
        return TimeBucket(column, f"{days} days {seconds} seconds")
    return DateBin(column, width)
