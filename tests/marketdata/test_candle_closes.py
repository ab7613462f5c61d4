"""Closes of derived timeframes: a feed's 1m writes announce each closed bucket of the timeframes
apps want (5m, 1h here) once, after commit, with the values the candle queries serve for it —
however the minutes are re-written or ordered. Transactional: the rollups refresh after each
commit, in TimescaleDB mode too (the writes lie ten days back, so they are logged and refreshed)."""

import datetime as dt
from dataclasses import replace
from decimal import Decimal
from unittest import mock

import pytest
from django.db import transaction

from marketdata.candle_closes import newest_closed_bucket
from marketdata.price_events import candle_closed, candle_timeframes_wanted
from marketdata.selectors import candles as candle_page
from marketdata.services import CandleInput, upsert_candles
from marketdata.timeframes import Timeframe

pytestmark = pytest.mark.django_db(databases=["default", "timeseries"], transaction=True)

D = Decimal
MINUTE = dt.timedelta(minutes=1)
# Whole days back: inside ohlcv's retention, older than the rollups' end offsets, and outside
# the plain refresh's trailing windows (3 hours, 3 days), which other tests' counts would see.
START = Timeframe.parse("1d").floor(dt.datetime.now(dt.UTC)) - dt.timedelta(days=10)


def minute(i: int) -> CandleInput:
    """The i-th minute after START; prices differ per minute so first/last/max/min matter."""
    base = D(100) + D(i % 37) / 10 - D(i % 11) / 7
    close = (base + D(i % 5) / 10 - D("0.2")).quantize(D("0.0001"))
    open_ = base.quantize(D("0.0001"))
    return CandleInput(
        time=START + i * MINUTE,
        open=open_,
        high=max(open_, close) + D("0.5") + D(i % 3) / 10,
        low=min(open_, close) - D("0.4") - D(i % 4) / 10,
        close=close,
        volume=D(10 + i % 7),
    )


def derived(minutes: list[CandleInput]) -> tuple[Decimal, ...]:
    """A bucket by hand: first open, highest high, lowest low, last close, summed volume."""
    ordered = sorted(minutes, key=lambda c: c.time)
    return (
        ordered[0].open,
        max(c.high for c in ordered),
        min(c.low for c in ordered),
        ordered[-1].close,
        sum(c.volume for c in ordered),
    )


@pytest.fixture
def feed(symbol):
    """Writes 1m candles of `symbol` as a live feed at a moment of the test's choosing (by
    default a second after the newest written minute ends) and records every close announced,
    with the tasks the receivers would queue left unsent. The symbol's apps want 5m and 1h."""
    announced: list[dict] = []

    def record(sender, **kwargs):
        if kwargs["symbol"] == symbol:
            announced.append(kwargs)

    def wants(sender, symbol, **kwargs):
        return {"5m", "1h", "1m"} if symbol == feed_symbol else set()

    feed_symbol = symbol
    candle_closed.connect(record, weak=False, dispatch_uid="test.record")
    candle_timeframes_wanted.connect(wants, weak=False, dispatch_uid="test.wants")

    def write(candles: list[CandleInput], at: dt.datetime | None = None, timeframe: str = "1m"):
        newest = max(c.time for c in candles)
        moment = at or newest + Timeframe.parse(timeframe).width + dt.timedelta(seconds=1)
        with mock.patch("marketdata.candle_closes.now", return_value=moment):
            upsert_candles(symbol=symbol, timeframe=timeframe, candles=candles)

    with mock.patch("celery.current_app.send_task"):
        yield write, announced
    candle_closed.disconnect(dispatch_uid="test.record")
    candle_timeframes_wanted.disconnect(dispatch_uid="test.wants")


def closes(announced: list[dict], timeframe: str) -> list[dt.datetime]:
    return [a["time"] for a in announced if a["timeframe"] == timeframe]


def values(announcement: dict) -> tuple[Decimal, ...]:
    return tuple(announcement[k] for k in ("open", "high", "low", "close", "volume"))


def test_the_newest_closed_bucket_ends_at_or_before_what_the_write_reaches():
    hour = Timeframe.parse("1h")
    ten = START + dt.timedelta(hours=10)
    assert newest_closed_bucket(hour, ten) == ten - dt.timedelta(hours=1)
    assert newest_closed_bucket(hour, ten + dt.timedelta(seconds=30)) == ten - dt.timedelta(hours=1)
    assert newest_closed_bucket(hour, ten - dt.timedelta(seconds=1)) == ten - dt.timedelta(hours=2)


def test_a_minute_by_minute_feed_announces_each_bucket_once_with_the_queried_values(feed, symbol):
    write, announced = feed
    series = [minute(i) for i in range(130)]
    for candle in series:
        write([candle])

    # 1m: every minute. 5m: every bucket, announced by its last minute. 1h: two hours.
    assert closes(announced, "1m") == [c.time for c in series]
    assert closes(announced, "5m") == [START + i * 5 * MINUTE for i in range(26)]
    assert closes(announced, "1h") == [START, START + dt.timedelta(hours=1)]
    for announcement in announced:
        if announcement["timeframe"] == "1m":
            continue
        frame = Timeframe.parse(announcement["timeframe"])
        bucket = announcement["time"]
        inside = [c for c in series if bucket <= c.time < frame.after(bucket)]
        assert values(announcement) == derived(inside)
        assert announcement["close_at"] == frame.after(bucket)
        served = candle_page(
            symbol=symbol,
            timeframe=frame.code,
            start=bucket,
            end=frame.after(bucket),
            limit=1,
        ).candles[0]
        assert values(announcement) == (
            served.open,
            served.high,
            served.low,
            served.close,
            served.volume,
        )
    hour = next(a for a in announced if a["timeframe"] == "1h")
    assert hour["high"] == max(c.high for c in series[:60])  # hand-computed, not the query


def test_rewrites_and_late_minutes_announce_nothing_again(feed):
    write, announced = feed
    series = [minute(i) for i in range(61)]
    write(series[:59])  # up to 00:58, a batch
    assert closes(announced, "1h") == []
    write([series[60]])  # 01:00 arrives before 00:59: the hour has ended, it is closed
    assert closes(announced, "1h") == [START]
    hour = next(a for a in announced if a["timeframe"] == "1h")
    assert values(hour) == derived(series[:59])  # what was stored when it closed
    count = len(announced)
    later = series[60].time + 2 * MINUTE + dt.timedelta(seconds=1)  # 1m: too old to announce
    write([series[59]], at=later)  # the late 00:59
    write([series[59]], at=later)  # and again
    write([replace(series[58], close=series[58].high)], at=later)  # a correction in the hour
    write(series[:61], at=later)  # the whole hour once more, one batch
    assert announced[count:] == []
    assert closes(announced, "1h") == [START]
    assert closes(announced, "5m").count(START + 55 * MINUTE) == 1


def test_a_minute_written_before_it_ends_closes_nothing_until_it_has_ended(feed):
    write, announced = feed
    series = [minute(i) for i in range(60)]
    write(series[:59])
    last = series[59]
    write([last], at=last.time + dt.timedelta(seconds=20))  # the feed's running candle
    assert closes(announced, "1h") == []
    write([last], at=last.time + MINUTE + dt.timedelta(seconds=2))  # its final version
    assert closes(announced, "1h") == [START]


def test_a_backfill_and_unwanted_timeframes_announce_nothing(feed):
    write, announced = feed
    series = [minute(i) for i in range(180)]
    write(series, at=series[-1].time + dt.timedelta(hours=2))  # three hours, written late
    assert announced == []
    write([minute(180)])  # the feed resumes: the hour before it is closed; 4h is not wanted
    assert closes(announced, "1h") == [START + dt.timedelta(hours=2)]
    assert {a["timeframe"] for a in announced} == {"1m", "5m", "1h"}


def test_a_rolled_back_write_claims_no_close(feed, symbol):
    write, announced = feed
    series = [minute(i) for i in range(60)]
    write(series[:59])
    with pytest.raises(RuntimeError), transaction.atomic(using="timeseries"):
        write([series[59]])
        raise RuntimeError("the caller's transaction fails")
    assert closes(announced, "1h") == []
    write([series[59]])
    assert closes(announced, "1h") == [START]


def test_native_candles_share_the_once_only_bookkeeping(feed):
    write, announced = feed
    series = [minute(i) for i in range(60)]
    write(series)
    assert closes(announced, "1h") == [START]
    native = CandleInput(START, D(90), D(120), D(80), D(110), D(5))
    write([native], timeframe="1h")  # the same hour, stored at 1h: already announced
    assert closes(announced, "1h") == [START]
    nxt = CandleInput(START + dt.timedelta(hours=1), D(110), D(115), D(100), D(101), D(7))
    write([nxt], timeframe="1h")
    assert closes(announced, "1h") == [START, nxt.time]
    assert values(announced[-1]) == (D(110), D(115), D(100), D(101), D(7))
