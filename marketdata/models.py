"""Time-series tables of the `timeseries` database (spec §4): `ohlcv`, `equity_history`,
`tick_data`, the hourly and daily rollups `ohlcv_1h` / `ohlcv_1d`, and the bookkeeping that plain
PostgreSQL mode needs to keep those rollups and the retention windows up to date.

Keys are the ER diagram's composite keys, which all include `time`, as TimescaleDB requires of every
unique index on a hypertable. The `time` columns are django-timescaledb's field, so the chunk
interval is written next to the column; the hypertables themselves are made by migration 0002
with `create_hypertable` (only when the extension is there), because django-timescaledb's schema
editor would drop the composite primary key. See docs/timeseries.md.
"""

from decimal import Decimal

from django.db import models
from django.db.models import F, Q
from timescale.db.models.fields import TimescaleDateTimeField

from core.validation import symbol_validator, timeframe_validator

PRICE = {"max_digits": 18, "decimal_places": 8}
VOLUME = {"max_digits": 24, "decimal_places": 8}
MONEY = {"max_digits": 15, "decimal_places": 2}
PERCENT = {"max_digits": 8, "decimal_places": 4}
DEFAULT_SOURCE = "binance"


class Ohlcv(models.Model):
    """One candle. The primary key (time, symbol, timeframe) is also the unique index that
    `INSERT ... ON CONFLICT (time, symbol, timeframe)` upserts against."""

    pk = models.CompositePrimaryKey("time", "symbol", "timeframe")
    time = TimescaleDateTimeField(interval="7 days")
    symbol = models.TextField(validators=[symbol_validator])
    timeframe = models.TextField(validators=[timeframe_validator])
    open = models.DecimalField(**PRICE)
    high = models.DecimalField(**PRICE)
    low = models.DecimalField(**PRICE)
    close = models.DecimalField(**PRICE)
    volume = models.DecimalField(**VOLUME)
    source = models.TextField(
        null=True, blank=True, default=DEFAULT_SOURCE, db_default=DEFAULT_SOURCE
    )

    class Meta:
        db_table = "ohlcv"
        verbose_name = "OHLCV candle"
        verbose_name_plural = "OHLCV candles"
        constraints = [
            models.CheckConstraint(
                condition=(
                    Q(high__gte=F("low"))
                    & Q(high__gte=F("open"))
                    & Q(high__gte=F("close"))
                    & Q(low__lte=F("open"))
                    & Q(low__lte=F("close"))
                    & Q(volume__gte=Decimal("0"))
                ),
                name="valid_ohlcv",
                violation_error_message=(
                    "A candle needs low <= open, close <= high and a volume of at least 0."
                ),
            ),
        ]
        # The spec's idx_ohlcv_symbol_timeframe_time is one character over Django's 30-character
        # limit for index names, so migration 0001 makes it with SQL under its spec name; the
        # same migration names the primary key's index idx_ohlcv_unique, the spec's unique
        # index for upserts, rather than building a second identical one.
        indexes = [
            models.Index(fields=["symbol", "-time"], name="idx_ohlcv_symbol_time"),
        ]

    def __str__(self) -> str:
        return f"{self.symbol} {self.timeframe} {self.time:%Y-%m-%d %H:%M}"


class EquityHistory(models.Model):
    """A portfolio's equity snapshot. `portfolio_id` refers to `portfolios` in the other database,
    so it is a plain UUID, not a foreign key."""

    pk = models.CompositePrimaryKey("time", "portfolio_id")
    time = TimescaleDateTimeField(interval="30 days")
    portfolio_id = models.UUIDField()
    equity_value = models.DecimalField(**MONEY)
    cash_balance = models.DecimalField(**MONEY)
    positions_value = models.DecimalField(**MONEY)
    daily_pnl = models.DecimalField(**MONEY, null=True, blank=True)
    daily_pnl_pct = models.DecimalField(**PERCENT, null=True, blank=True)
    cumulative_pnl = models.DecimalField(**MONEY, null=True, blank=True)
    cumulative_pnl_pct = models.DecimalField(**PERCENT, null=True, blank=True)
    peak_equity = models.DecimalField(**MONEY, null=True, blank=True)
    drawdown = models.DecimalField(**MONEY, null=True, blank=True)
    drawdown_pct = models.DecimalField(**PERCENT, null=True, blank=True)

    class Meta:
        db_table = "equity_history"
        verbose_name = "equity snapshot"
        verbose_name_plural = "equity history"
        indexes = [
            models.Index(fields=["portfolio_id", "-time"], name="idx_equity_portfolio_time"),
        ]

    def __str__(self) -> str:
        return f"{self.portfolio_id} {self.time:%Y-%m-%d %H:%M} {self.equity_value}"


class TickData(models.Model):
    """One trade print or quote update."""

    pk = models.CompositePrimaryKey("time", "symbol")
    time = TimescaleDateTimeField(interval="1 day")
    symbol = models.TextField(validators=[symbol_validator])
    bid = models.DecimalField(**PRICE, null=True, blank=True)
    ask = models.DecimalField(**PRICE, null=True, blank=True)
    last_price = models.DecimalField(**PRICE)
    last_volume = models.DecimalField(**PRICE, null=True, blank=True)
    source = models.TextField(
        null=True, blank=True, default=DEFAULT_SOURCE, db_default=DEFAULT_SOURCE
    )

    class Meta:
        db_table = "tick_data"
        verbose_name = "tick"
        verbose_name_plural = "tick data"
        indexes = [
            models.Index(fields=["symbol", "-time"], name="idx_tick_symbol_time"),
        ]

    def __str__(self) -> str:
        return f"{self.symbol} {self.time:%Y-%m-%d %H:%M:%S.%f} {self.last_price}"


class OhlcvRollup(models.Model):
    """Columns shared by the hourly and daily rollups: a continuous aggregate in TimescaleDB mode,
    a table refreshed by a beat job in plain mode (migration 0002 makes whichever applies)."""

    pk = models.CompositePrimaryKey("bucket", "symbol")
    bucket = models.DateTimeField()
    symbol = models.TextField()
    timeframe = models.TextField()
    open = models.DecimalField(**PRICE)
    high = models.DecimalField(**PRICE)
    low = models.DecimalField(**PRICE)
    close = models.DecimalField(**PRICE)
    volume = models.DecimalField(**VOLUME)
    candle_count = models.BigIntegerField()

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return f"{self.symbol} {self.timeframe} {self.bucket:%Y-%m-%d %H:%M}"


class OhlcvHourly(OhlcvRollup):
    class Meta:
        managed = False
        db_table = "ohlcv_1h"
        verbose_name = "hourly candle"
        verbose_name_plural = "hourly candles (ohlcv_1h)"


class OhlcvDaily(OhlcvRollup):
    class Meta:
        managed = False
        db_table = "ohlcv_1d"
        verbose_name = "daily candle"
        verbose_name_plural = "daily candles (ohlcv_1d)"


class RollupInvalidation(models.Model):
    """Plain mode: a range of source rows of `rollup` that changed since it was last refreshed.
    The write services in marketdata.services record changed 1m candles for `ohlcv_1h`;
    refreshing `ohlcv_1h` records the buckets it rewrote for `ohlcv_1d`. (TimescaleDB keeps its
    own invalidation log. A statement trigger here would capture every row in a transition table,
    which costs a million-row import over three seconds, so the services log instead.)"""

    rollup = models.TextField()
    symbol = models.TextField()
    earliest = models.DateTimeField()
    latest = models.DateTimeField()
    recorded_at = models.DateTimeField(db_default=models.functions.Now())

    class Meta:
        db_table = "ohlcv_rollup_invalidations"
        indexes = [models.Index(fields=["rollup", "earliest"], name="idx_rollup_invalidations")]

    def __str__(self) -> str:
        return f"{self.symbol} {self.earliest} – {self.latest}"


class RollupWatermark(models.Model):
    """Plain mode: buckets of `rollup` before `watermark` are materialized; later ones are
    computed from raw candles at query time, as TimescaleDB's real-time aggregates do."""

    rollup = models.TextField(primary_key=True)
    watermark = models.DateTimeField()

    class Meta:
        db_table = "ohlcv_rollup_watermarks"

    def __str__(self) -> str:
        return f"{self.rollup} materialized to {self.watermark}"


class MaintenanceJobRun(models.Model):
    """Plain mode: the last run of each maintenance beat job (rollup refresh, retention), for
    `timeseries_status` and the admin. TimescaleDB mode reads its own job statistics instead."""

    job = models.TextField(primary_key=True)
    last_run_at = models.DateTimeField()
    last_duration_ms = models.IntegerField()
    last_status = models.TextField()
    last_result = models.JSONField(default=dict)

    class Meta:
        db_table = "timeseries_job_runs"
        verbose_name = "maintenance job run"

    def __str__(self) -> str:
        return f"{self.job} {self.last_status} at {self.last_run_at}"


class OhlcvDataVersion(models.Model):
    """A symbol's candle data version: every write through marketdata's services (imports,
    downloads, feeds, the rollups' refresh, retention) moves it in the writing transaction, so a
    copy of the symbol's arrays keyed by it (marketdata.array_cache) is never served stale."""

    symbol = models.TextField(primary_key=True)
    version = models.BigIntegerField(default=1)
    changed_at = models.DateTimeField(db_default=models.functions.Now())

    class Meta:
        db_table = "ohlcv_data_versions"
        verbose_name = "candle data version"

    def __str__(self) -> str:
        return f"{self.symbol} v{self.version}"


class CandleCloseAnnouncement(models.Model):
    """The newest closed candle announced (`marketdata.price_events.candle_closed`) per symbol and
    timeframe other than 1m: candles derived from 1m candles (5m, 1h, 4h, 1d ... closed by a
    feed's 1m writes) and candles written at their own timeframe. A close is announced only when
    it moves this forward, in the writing transaction, so each is announced once however often
    its candles are written again and in whatever order (marketdata.candle_closes)."""

    pk = models.CompositePrimaryKey("symbol", "timeframe")
    symbol = models.TextField()
    timeframe = models.TextField()
    bucket = models.DateTimeField()
    announced_at = models.DateTimeField(db_default=models.functions.Now())

    class Meta:
        db_table = "ohlcv_close_announcements"
        verbose_name = "candle close announcement"

    def __str__(self) -> str:
        return f"{self.symbol} {self.timeframe} closed to {self.bucket}"
