"""ohlcv_1h and ohlcv_1d (continuous aggregates or plain rollups) and the on-the-fly rollups equal
a hand computation: first open, max high, min low, last close, summed volume.

Transactional tests: TimescaleDB refuses to refresh a continuous aggregate inside a transaction,
and the rollups are refreshed when the write commits, as in production."""

import datetime as dt
import itertools
import string
from decimal import Decimal

import pytest
from django.db import DatabaseError, connections
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from marketdata import rollups
from marketdata.models import Ohlcv
from marketdata.retention import enforce_retention, ohlcv_horizon
from marketdata.selectors import Candle, candle_arrays, candles
from marketdata.services import CandleInput, refresh_rollups, upsert_candles
from marketdata.timeframes import Timeframe
from marketdata.timescale import timescaledb_enabled
from tests.marketdata.helpers import minute_candles, write_minutes

pytestmark = pytest.mark.django_db(databases=["default", "timeseries"], transaction=True)

UTC = dt.UTC
MONDAY = dt.datetime(2024, 3, 4, tzinfo=UTC)
D = Decimal
# Hypothesis runs many examples in one test, hence symbols of its own for each.
_HYPOTHESIS_SYMBOLS = ("".join(x) for x in itertools.product(string.ascii_uppercase, repeat=5))


def series(symbol: str) -> None:
    """Monday 00:00-02:59 (180 candles, i = 0..179), then Tuesday 10:00-10:29 (30 candles)."""
    write_minutes(symbol, minute_candles(MONDAY, 180))
    tuesday = MONDAY + dt.timedelta(days=1, hours=10)
    write_minutes(symbol, minute_candles(tuesday, 30, first_open=500))


def read(symbol: str, timeframe: str, start=MONDAY, end=MONDAY + dt.timedelta(days=14)) -> list:
    return candles(symbol=symbol, timeframe=timeframe, start=start, end=end, limit=5000).candles


def c(time, open_, high, low, close, volume, count) -> Candle:
    return Candle(time, D(open_), D(high), D(low), D(close), D(volume), count)


def test_hourly_candles_equal_the_hand_computation(symbol: str) -> None:
    series(symbol)

    # Hour k holds i = 60k..60k+59: open 100+60k, high 101.5+60k+59, low 99+60k,
    # close 100.5+60k+59, volume sum(i+1) = 60*60k + 1830. Tuesday: i = 0..29 from 500.
    assert read(symbol, "1h") == [
        c(MONDAY, "100", "160.5", "99", "159.5", "1830", 60),
        c(MONDAY + dt.timedelta(hours=1), "160", "220.5", "159", "219.5", "5430", 60),
        c(MONDAY + dt.timedelta(hours=2), "220", "280.5", "219", "279.5", "9030", 60),
        c(MONDAY + dt.timedelta(days=1, hours=10), "500", "530.5", "499", "529.5", "465", 30),
    ]


def test_daily_candles_equal_the_hand_computation(symbol: str) -> None:
    series(symbol)

    assert read(symbol, "1d") == [
        c(MONDAY, "100", "280.5", "99", "279.5", "16290", 180),
        c(MONDAY + dt.timedelta(days=1), "500", "530.5", "499", "529.5", "465", 30),
    ]


def test_other_timeframes_roll_up_on_the_fly(symbol: str) -> None:
    series(symbol)

    assert read(symbol, "4h") == [
        c(MONDAY, "100", "280.5", "99", "279.5", "16290", 180),
        c(MONDAY + dt.timedelta(days=1, hours=8), "500", "530.5", "499", "529.5", "465", 30),
    ]
    # 15-minute buckets come from the raw 1m candles: i = 0..14, sum(1..15) = 120.
    assert read(symbol, "15m", end=MONDAY + dt.timedelta(minutes=30)) == [
        c(MONDAY, "100", "115.5", "99", "114.5", "120", 15),
        c(MONDAY + dt.timedelta(minutes=15), "115", "130.5", "114", "129.5", "345", 15),
    ]
    # A week starts on Monday, as time_bucket has it.
    assert read(symbol, "1w") == [
        c(MONDAY, "100", "530.5", "99", "529.5", "16755", 210),
    ]
    assert read(symbol, "1M", start=dt.datetime(2024, 3, 1, tzinfo=UTC)) == [
        c(dt.datetime(2024, 3, 1, tzinfo=UTC), "100", "530.5", "99", "529.5", "16755", 210),
    ]


def test_a_corrected_candle_reaches_both_rollups(symbol: str) -> None:
    series(symbol)

    upsert_candles(
        symbol=symbol,
        timeframe="1m",
        candles=[CandleInput(MONDAY + dt.timedelta(minutes=61), D("161"), D("999"), D("150"),
                             D("161.5"), D("2"))],
    )  # fmt: skip

    hourly = read(symbol, "1h")
    assert hourly[1] == c(MONDAY + dt.timedelta(hours=1), "160", "999", "150", "219.5", "5370", 60)
    assert read(symbol, "1d")[0] == c(MONDAY, "100", "999", "99", "279.5", "16230", 180)


def drop_minutes_as_retention_does(before: dt.datetime) -> None:
    """Each mode's retention, as far as 1m candles older than `before` are concerned:
    TimescaleDB's policy drops whole chunks; plain mode's beat job deletes rows."""
    if timescaledb_enabled():
        with connections["timeseries"].cursor() as cursor:
            cursor.execute(
                "SELECT drop_chunks('ohlcv', older_than => %s::timestamptz, "
                "newer_than => %s::timestamptz)",
                [before, before - dt.timedelta(days=60)],
            )
    else:
        enforce_retention(now=before.replace(year=before.year + 5))


def test_history_past_the_minutes_retention_is_served_from_the_rollups(symbol: str) -> None:
    """ohlcv keeps 5 years, the rollups keep their buckets: hourly and daily candles (and what
    rolls up from them) outlive the 1m candles they were made of, for the API and backtests."""
    # The first Monday a week inside the retention horizon (older 1m writes are refused).
    day = (ohlcv_horizon() + dt.timedelta(days=7)).replace(
        hour=0, minute=0, second=0, microsecond=0
    )
    monday = day + dt.timedelta(days=(7 - day.weekday()) % 7)
    write_minutes(symbol, minute_candles(monday, 180))
    drop_minutes_as_retention_does(monday + dt.timedelta(days=14))
    assert not Ohlcv.objects.filter(symbol=symbol).exists()
    later = monday + dt.timedelta(days=60)

    def old(timeframe: str) -> list:
        return read(symbol, timeframe, start=monday - dt.timedelta(days=30), end=later)

    assert old("1h") == [
        c(monday, "100", "160.5", "99", "159.5", "1830", 60),
        c(monday + dt.timedelta(hours=1), "160", "220.5", "159", "219.5", "5430", 60),
        c(monday + dt.timedelta(hours=2), "220", "280.5", "219", "279.5", "9030", 60),
    ]
    whole = [c(monday, "100", "280.5", "99", "279.5", "16290", 180)]
    assert old("4h") == old("1d") == old("1w") == whole
    assert old("1m") == old("15m") == []  # built from 1m candles, which are gone

    page = candles(symbol=symbol, timeframe="1h", start=monday, end=later, limit=2)
    assert [candle.time for candle in page.candles] == [monday, monday + dt.timedelta(hours=1)]
    assert page.next_start == monday + dt.timedelta(hours=2)
    arrays = candle_arrays(
        symbol=symbol, timeframe="1d", start=monday, end=monday + dt.timedelta(days=30)
    )
    assert arrays["close"].tolist() == [279.5]


def test_the_not_yet_materialized_tail_comes_from_raw_candles(symbol: str) -> None:
    """Candles of the current hour are past the refresh policies' end offset, so they are not
    materialized; the hourly and daily candles still include them."""
    now = timezone.now().replace(second=0, microsecond=0)
    start = now - dt.timedelta(minutes=4)
    write_minutes(symbol, minute_candles(start, 5))
    hour = start.replace(minute=0)

    hourly = read(symbol, "1h", start=hour - dt.timedelta(hours=1), end=now + dt.timedelta(hours=1))
    minutes_in_first_hour = min(5, 60 - start.minute)
    assert hourly[0].time == hour
    assert hourly[0].open == D(100)
    assert hourly[0].candle_count == minutes_in_first_hour
    assert sum(h.candle_count for h in hourly) == 5
    daily = read(symbol, "1d", start=now - dt.timedelta(days=2), end=now + dt.timedelta(days=1))
    assert sum(d.volume for d in daily) == D(15)


@pytest.mark.plain_postgres
def test_the_plain_refresh_rewrites_only_the_buckets_that_changed(symbol: str) -> None:
    series(symbol)
    upsert_candles(
        symbol=symbol,
        timeframe="1m",
        candles=[CandleInput(MONDAY + dt.timedelta(minutes=61), D("161"), D("170"), D("150"),
                             D("161.5"), D("2"))],
    )  # fmt: skip
    with connections["timeseries"].cursor() as cursor:
        # Written by hand, as if a write bypassed the services: the log is what the refresh reads.
        cursor.execute(
            "INSERT INTO ohlcv_rollup_invalidations (rollup, symbol, earliest, latest) "
            "VALUES ('ohlcv_1h', %s, %s, %s)",
            [symbol, MONDAY + dt.timedelta(minutes=130), MONDAY + dt.timedelta(minutes=131)],
        )

    hourly, daily = rollups.refresh_pending()

    assert hourly["buckets_written"] == 1  # hour 2 only
    assert daily["buckets_written"] == 1  # Monday only
    with connections["timeseries"].cursor() as cursor:
        cursor.execute("SELECT count(*) FROM ohlcv_rollup_invalidations")
        assert cursor.fetchone()[0] == 0
        cursor.execute("SELECT count(*) FROM ohlcv_1h WHERE symbol = %s", [symbol])
        assert cursor.fetchone()[0] == 4


@pytest.mark.plain_postgres
def test_recent_candles_written_by_raw_sql_are_materialized_by_the_next_refresh(
    symbol: str,
) -> None:
    now = timezone.now()
    hour = Timeframe.parse("1h").floor(now) - dt.timedelta(hours=2)
    with connections["timeseries"].cursor() as cursor:
        # Bypasses the services, so nothing is logged; the trailing window catches it, as the
        # TimescaleDB policy's start offset would.
        cursor.execute(
            "INSERT INTO ohlcv (time, symbol, timeframe, open, high, low, close, volume) "
            "SELECT %s + make_interval(mins => i), %s, '1m', 10, 12, 9, 11, 1 "
            "FROM generate_series(0, 59) AS i",
            [hour, symbol],
        )

    rollups.refresh_pending(now=now)

    with connections["timeseries"].cursor() as cursor:
        cursor.execute(
            "SELECT bucket, open, high, low, close, volume, candle_count FROM ohlcv_1h "
            "WHERE symbol = %s",
            [symbol],
        )
        assert cursor.fetchall() == [(hour, D(10), D(12), D(9), D(11), D(60), 60)]


@pytest.mark.plain_postgres
def test_the_plain_watermark_stops_at_the_end_offset(symbol: str) -> None:
    now = dt.datetime(2024, 3, 4, 12, 34, tzinfo=UTC)

    hourly, daily = rollups.refresh_pending(now=now)

    assert hourly["watermark"] == "2024-03-04T11:00:00+00:00"
    assert daily["watermark"] == "2024-03-03T00:00:00+00:00"


@pytest.mark.timescaledb
def test_timescaledb_rollups_are_real_time_continuous_aggregates() -> None:
    with connections["timeseries"].cursor() as cursor:
        cursor.execute(
            "SELECT view_name, materialized_only FROM timescaledb_information.continuous_aggregates"
            " ORDER BY view_name"
        )
        assert cursor.fetchall() == [("ohlcv_1d", False), ("ohlcv_1h", False)]
        cursor.execute(
            "SELECT hypertable_name, schedule_interval, config->>'start_offset', "
            "config->>'end_offset' FROM timescaledb_information.jobs "
            "WHERE proc_name = 'policy_refresh_continuous_aggregate' ORDER BY hypertable_name"
        )
        assert cursor.fetchall() == [
            ("ohlcv_1d", dt.timedelta(hours=1), "3 days", "1 day"),
            ("ohlcv_1h", dt.timedelta(minutes=10), "03:00:00", "01:00:00"),
        ]


@pytest.mark.timescaledb
def test_compressed_chunks_still_answer_and_take_upserts(symbol: str) -> None:
    series(symbol)
    with connections["timeseries"].cursor() as cursor:
        cursor.execute(
            "SELECT count(compress_chunk(c, if_not_compressed => true)) "
            "FROM show_chunks('ohlcv', older_than => INTERVAL '7 days') c"
        )
        assert cursor.fetchone()[0] >= 1
    before = read(symbol, "4h")

    upsert_candles(
        symbol=symbol,
        timeframe="1m",
        candles=[CandleInput(MONDAY, D("100"), D("300"), D("99"), D("100.5"), D("1"))],
    )

    assert read(symbol, "1m", end=MONDAY + dt.timedelta(minutes=1))[0].high == D(300)
    assert before[0] == c(MONDAY, "100", "280.5", "99", "279.5", "16290", 180)
    assert read(symbol, "4h")[0] == c(MONDAY, "100", "300", "99", "279.5", "16290", 180)
    assert read(symbol, "1h")[0] == c(MONDAY, "100", "300", "99", "159.5", "1830", 60)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    minutes=st.lists(
        st.tuples(
            st.integers(min_value=0, max_value=3 * 1440),
            st.integers(min_value=1, max_value=500),
            st.integers(min_value=1, max_value=500),
        ),
        min_size=1,
        max_size=60,
        unique_by=lambda row: row[0],
    ),
    timeframe=st.sampled_from(["7m", "1h", "3h", "1d", "2d"]),
)
def test_a_rollup_equals_its_parts(minutes: list[tuple[int, int, int]], timeframe: str) -> None:
    """Any set of 1m candles with prices in any order: each bucket is first open, max high, min
    low, last close, summed volume of the candles in it (a min/max in place of first/last fails)."""
    symbol = f"{next(_HYPOTHESIS_SYMBOLS)}/PROP"
    chosen = [
        CandleInput(
            time=MONDAY + dt.timedelta(minutes=minute),
            open=D(open_),
            high=D(max(open_, close) + 1),
            low=D(min(open_, close)) - D("0.5"),
            close=D(close),
            volume=D(minute % 7 + 1),
        )
        for minute, open_, close in sorted(minutes)
    ]
    write_minutes(symbol, chosen)
    frame = Timeframe.parse(timeframe)

    expected = []
    for bucket in sorted({frame.floor(x.time) for x in chosen}):
        inside = [x for x in chosen if frame.floor(x.time) == bucket]
        expected.append(
            Candle(bucket, inside[0].open, max(x.high for x in inside),
                   min(x.low for x in inside), inside[-1].close, sum(x.volume for x in inside),
                   len(inside))
        )  # fmt: skip

    assert read(symbol, timeframe, start=MONDAY - dt.timedelta(days=2)) == expected


def materialized_hours(symbol: str) -> int:
    """Rows of ohlcv_1h's materialization hypertable (not the real-time view) for `symbol`."""
    with connections["timeseries"].cursor() as cursor:
        cursor.execute(
            "SELECT format('%I.%I', materialization_hypertable_schema, "
            "materialization_hypertable_name) FROM timescaledb_information.continuous_aggregates "
            "WHERE view_name = 'ohlcv_1h'"
        )
        (table,) = cursor.fetchone()
        cursor.execute(f"SELECT count(*) FROM {table} WHERE symbol = %s", [symbol])
        return cursor.fetchone()[0]


def pending_ranges(symbol: str) -> int:
    with connections["timeseries"].cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM ohlcv_rollup_invalidations WHERE symbol = %s", [symbol]
        )
        return cursor.fetchone()[0]


@pytest.mark.timescaledb
def test_history_whose_refresh_failed_is_materialized_by_the_next_beat_run(
    symbol: str, monkeypatch, caplog
) -> None:
    def unavailable(**kwargs):
        raise DatabaseError("refresh failed")

    monkeypatch.setattr(rollups, "refresh_continuous_aggregates", unavailable)
    series(symbol)  # commits; its refresh fails and is logged, not raised

    assert read(symbol, "1m")  # the candles are stored
    assert materialized_hours(symbol) == 0
    assert pending_ranges(symbol) == 2
    assert "refresh failed" in caplog.text

    monkeypatch.undo()
    refresh_rollups()

    assert materialized_hours(symbol) == 4
    assert read(symbol, "1h")[0] == c(MONDAY, "100", "160.5", "99", "159.5", "1830", 60)


@pytest.mark.timescaledb
def test_history_is_refreshed_at_once_and_again_by_the_beat_job_which_forgets_it(
    symbol: str,
) -> None:
    series(symbol)

    assert materialized_hours(symbol) == 4
    assert pending_ranges(symbol) == 2  # kept for the beat job's second pass

    rollups.refresh_pending(now=timezone.now() + rollups.SECOND_PASS_AFTER / 2)
    assert pending_ranges(symbol) == 2  # too soon after the write
    rollups.refresh_pending(now=timezone.now() + 2 * rollups.SECOND_PASS_AFTER)

    assert pending_ranges(symbol) == 0
    assert materialized_hours(symbol) == 4


@pytest.mark.timescaledb
def test_a_bucket_left_invalidated_by_a_concurrent_refresh_is_materialized_by_the_second_pass(
    symbol: str,
) -> None:
    series(symbol)
    # What a policy refreshing at the same moment can leave behind: the 01:00 hour changed
    # after the refresh that covered it, so the real-time view still serves the old bucket.
    with connections["timeseries"].cursor() as cursor:
        cursor.execute(
            "UPDATE ohlcv SET high = 999 WHERE symbol = %s AND time = %s",
            [symbol, MONDAY + dt.timedelta(hours=1)],
        )
    assert read(symbol, "1h")[1].high == D("220.5")

    refresh_rollups()

    assert read(symbol, "1h")[1].high == D("999")


@pytest.mark.timescaledb
def test_a_live_feed_write_is_left_to_the_policies(symbol: str) -> None:
    write_minutes(symbol, minute_candles(timezone.now().replace(second=0, microsecond=0), 1))

    assert pending_ranges(symbol) == 0
