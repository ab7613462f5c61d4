"""Writes other apps call: ticks and equity snapshots in bulk (COPY for large batches), candles
as a feed delivers them."""

import dataclasses
import datetime as dt
import random
import threading
import uuid
from decimal import Decimal

import pytest
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.utils import timezone

from core.cache_keys import ticker_key
from marketdata.ingest.ohlcv import RowsRejected
from marketdata.models import EquityHistory, Ohlcv, TickData
from marketdata.services import (
    COPY_THRESHOLD,
    EquitySnapshotInput,
    TickInput,
    record_equity_snapshots,
    record_ticks,
    update_ticker,
    upsert_candles,
)
from tests.marketdata.helpers import minute_candles

pytestmark = pytest.mark.django_db(databases=["default", "timeseries"])

UTC = dt.UTC
START = dt.datetime(2024, 3, 4, tzinfo=UTC)


@pytest.mark.parametrize("count", [3, COPY_THRESHOLD + 5])
def test_ticks_are_stored_in_bulk_and_a_repeat_replaces_them(symbol: str, count: int) -> None:
    ticks = [
        TickInput(
            time=START + dt.timedelta(milliseconds=i),
            symbol=symbol,
            last_price=Decimal("100") + i,
            bid=Decimal("99.5") + i,
            ask=Decimal("100.5") + i,
            last_volume=Decimal("0.25"),
        )
        for i in range(count)
    ]

    assert record_ticks(ticks=ticks) == count
    assert record_ticks(ticks=ticks[:2]) == 2

    stored = TickData.objects.filter(symbol=symbol).order_by("time")
    assert stored.count() == count
    last = stored.last()
    assert (last.last_price, last.bid, last.source) == (
        Decimal(100 + count - 1), Decimal("99.5") + count - 1, "binance",
    )  # fmt: skip


@pytest.mark.parametrize("count", [3, COPY_THRESHOLD + 5])
def test_a_batch_repeating_a_tick_keeps_the_last_one_whatever_its_size(
    symbol: str, count: int
) -> None:
    ticks = [
        TickInput(time=START + dt.timedelta(seconds=i), symbol=symbol, last_price=Decimal(i + 1))
        for i in range(count)
    ]
    repeat = TickInput(time=START, symbol=symbol, last_price=Decimal("777"))

    assert record_ticks(ticks=[*ticks, repeat]) == count

    first = TickData.objects.get(symbol=symbol, time=START)
    assert first.last_price == Decimal("777")


def test_a_tick_with_a_bad_symbol_is_refused() -> None:
    with pytest.raises(ValidationError):
        record_ticks(ticks=[TickInput(time=START, symbol="btc", last_price=Decimal(1))])


@pytest.mark.parametrize("count", [2, COPY_THRESHOLD + 1])
def test_equity_snapshots_are_stored_per_time_and_portfolio(count: int) -> None:
    portfolio = uuid.uuid4()
    snapshots = [
        EquitySnapshotInput(
            time=START + dt.timedelta(minutes=i),
            portfolio_id=portfolio,
            equity_value=Decimal("10000.00") + i,
            cash_balance=Decimal("5000.00"),
            positions_value=Decimal("5000.00") + i,
            drawdown_pct=Decimal("1.2500"),
        )
        for i in range(count)
    ]

    assert record_equity_snapshots(snapshots=snapshots) == count
    record_equity_snapshots(snapshots=snapshots[:1])

    rows = EquityHistory.objects.filter(portfolio_id=portfolio).order_by("time")
    assert rows.count() == count
    assert rows.first().equity_value == Decimal("10000.00")
    assert rows.first().drawdown_pct == Decimal("1.2500")


@pytest.mark.parametrize("count", [5, COPY_THRESHOLD + 5])
def test_candles_from_a_feed_are_upserted(symbol: str, count: int) -> None:
    upsert_candles(symbol=symbol, timeframe="1m", candles=minute_candles(START, count))
    upsert_candles(symbol=symbol, timeframe="1m", candles=minute_candles(START, 2, first_open=7))

    rows = Ohlcv.objects.filter(symbol=symbol).order_by("time")
    assert rows.count() == count
    assert [row.open for row in rows[:3]] == [Decimal(7), Decimal(8), Decimal(102)]


@pytest.mark.parametrize("count", [5, COPY_THRESHOLD + 5])
def test_a_feed_batch_repeating_a_candle_keeps_the_last_one_whatever_its_size(
    symbol: str, count: int
) -> None:
    candles = minute_candles(START, count)
    repeat = dataclasses.replace(candles[0], close=candles[0].high, volume=Decimal("99"))

    upsert_candles(symbol=symbol, timeframe="1m", candles=[*candles, repeat])

    rows = Ohlcv.objects.filter(symbol=symbol).order_by("time")
    assert rows.count() == count
    assert (rows[0].close, rows[0].volume) == (candles[0].high, Decimal("99"))


@pytest.mark.parametrize("count", [5, COPY_THRESHOLD + 5])
def test_an_impossible_candle_rejects_a_feed_batch_whatever_its_size(
    symbol: str, count: int
) -> None:
    candles = minute_candles(START, count)
    candles[2] = dataclasses.replace(candles[2], high=candles[2].low - 1)

    with pytest.raises(RowsRejected) as rejected:
        upsert_candles(symbol=symbol, timeframe="1m", candles=candles)

    assert [(bad.line, bad.reason) for bad in rejected.value.report.bad_rows] == [(3, "high < low")]
    assert not Ohlcv.objects.filter(symbol=symbol).exists()


def test_candles_off_the_timeframes_boundaries_are_refused(symbol: str) -> None:
    candles = minute_candles(dt.datetime(2024, 1, 1, 0, 0, 30, tzinfo=dt.UTC), 2)
    with pytest.raises(ValidationError, match="not on a 1m boundary"):
        upsert_candles(symbol=symbol, timeframe="1m", candles=candles)
    assert not Ohlcv.objects.filter(symbol=symbol).exists()


def test_a_backfill_of_old_candles_does_not_make_an_old_price_the_ticker(
    symbol: str, django_capture_on_commit_callbacks
) -> None:
    upsert_candles(symbol=symbol, timeframe="1m", candles=minute_candles(START, 3))
    cache.delete(ticker_key(symbol))  # e.g. Redis restarted

    with django_capture_on_commit_callbacks(using="timeseries", execute=True):
        upsert_candles(
            symbol=symbol,
            timeframe="1m",
            candles=minute_candles(START - dt.timedelta(days=400), 2, first_open=7),
        )

    price = cache.get(ticker_key(symbol))
    newest_close = START + dt.timedelta(minutes=3)  # the end of the newest (00:02) candle
    assert (price["time"], price["price"]) == (newest_close.isoformat(), "102.50000000")


def test_a_candles_close_is_newer_than_a_tick_inside_its_minute(
    symbol: str, django_capture_on_commit_callbacks
) -> None:
    with django_capture_on_commit_callbacks(using="timeseries", execute=True):
        record_ticks(
            ticks=[TickInput(time=START + dt.timedelta(seconds=30), symbol=symbol,
                             last_price=Decimal("99"))]
        )  # fmt: skip
        upsert_candles(symbol=symbol, timeframe="1m", candles=minute_candles(START, 1))

    price = cache.get(ticker_key(symbol))
    assert (price["origin"], price["price"]) == ("candle", "100.50000000")
    assert price["time"] == (START + dt.timedelta(minutes=1)).isoformat()


def test_the_ticker_of_the_minute_still_running_is_stamped_now(
    symbol: str, django_capture_on_commit_callbacks
) -> None:
    running = timezone.now().replace(second=0, microsecond=0)
    with django_capture_on_commit_callbacks(using="timeseries", execute=True):
        upsert_candles(symbol=symbol, timeframe="1m", candles=minute_candles(running, 1))

    stamped = dt.datetime.fromisoformat(cache.get(ticker_key(symbol))["time"])
    assert running <= stamped <= timezone.now()


def test_concurrent_ticker_writers_leave_the_newest_price(symbol: str) -> None:
    moments = [START + dt.timedelta(seconds=n) for n in range(200)]
    random.Random(3).shuffle(moments)

    def write(share: list[dt.datetime]) -> None:
        for moment in share:
            update_ticker(symbol=symbol, price=str(moment.second), at=moment, origin="tick")

    threads = [threading.Thread(target=write, args=(moments[n::8],)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert cache.get(ticker_key(symbol))["time"] == max(moments).isoformat()
