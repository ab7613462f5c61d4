"""The candle array cache: a repeat load is served from memory-mapped files, any write through
marketdata in between is seen, derived timeframes included, and the cache stays under its cap.
The binary path's values equal the ORM's to the last decimal. Both modes."""

import datetime as dt
from decimal import Decimal
from unittest import mock

import numpy as np
import pytest
from django.db import connections
from django.test import override_settings

from marketdata import array_cache, columnar, rollups
from marketdata.models import Ohlcv
from marketdata.selectors import candle_arrays, candles
from marketdata.services import CandleInput, refresh_rollups, upsert_candles
from marketdata.timescale import timescaledb_enabled
from tests.marketdata.helpers import minute_candles, run_ohlcv_retention, write_minutes

pytestmark = pytest.mark.django_db(databases=["default", "timeseries"], transaction=True)

UTC = dt.UTC
START = dt.datetime(2024, 3, 4, tzinfo=UTC)
END = START + dt.timedelta(days=1)


def load(symbol: str, timeframe: str = "1m", **window) -> tuple[dict, bool]:
    """The arrays, and whether the database was read for them."""
    with mock.patch.object(columnar, "copy_arrays", wraps=columnar.copy_arrays) as copy:
        arrays = candle_arrays(
            symbol=symbol,
            timeframe=timeframe,
            start=window.get("start", START),
            end=window.get("end", END),
        )
    return arrays, copy.called


def test_a_repeat_load_comes_from_the_cache_read_only(symbol: str) -> None:
    write_minutes(symbol, minute_candles(START, 120))

    first, first_read = load(symbol)
    again, again_read = load(symbol)

    assert (first_read, again_read) == (True, False)
    for key in columnar.ARRAY_KEYS:
        np.testing.assert_array_equal(first[key], again[key])
    assert again["time"].dtype == np.dtype("datetime64[ns]")
    assert isinstance(again["close"].base, np.memmap) or isinstance(again["close"], np.memmap)
    with pytest.raises(ValueError):
        again["close"][0] = 1.0


@pytest.mark.parametrize("timeframe", ["1m", "15m", "1h", "4h", "1d"])
def test_a_write_in_between_is_always_seen(symbol: str, timeframe: str) -> None:
    write_minutes(symbol, minute_candles(START, 120))
    before, _ = load(symbol, timeframe)
    load(symbol, timeframe)  # cached now

    upsert_candles(symbol=symbol, timeframe="1m", candles=[
        CandleInput(START + dt.timedelta(minutes=1), Decimal(101), Decimal(5000), Decimal(100),
                    Decimal("101.5"), Decimal(2))])  # fmt: skip
    after, read = load(symbol, timeframe)

    assert read
    assert after["high"].max() == 5000.0 != before["high"].max()


def test_an_import_at_a_native_timeframe_is_seen(symbol: str) -> None:
    write_minutes(symbol, minute_candles(START, 120))
    before, _ = load(symbol, "1d")
    day = CandleInput(START, Decimal(7), Decimal(9), Decimal(6), Decimal(8), Decimal(1))

    upsert_candles(symbol=symbol, timeframe="1d", candles=[day])
    after, read = load(symbol, "1d")

    assert read and before["close"].tolist() == [219.5] and after["close"].tolist() == [8.0]


def test_the_rollup_refresh_moves_the_version(symbol: str) -> None:
    """A candle changed by raw SQL (no version moved) becomes visible once the rollups'
    refresh has rewritten its bucket, which moves the version."""
    write_minutes(symbol, minute_candles(START, 120))
    load(symbol, "1h")
    with connections["timeseries"].cursor() as cursor:
        cursor.execute(
            "UPDATE ohlcv SET high = 5000 WHERE symbol = %s AND time = %s", [symbol, START]
        )

    if timescaledb_enabled():
        # A refresh by time range covers every symbol, so every version moves.
        rollups.refresh_continuous_aggregates(earliest=START, latest=START)
    else:
        rollups.log_invalidation(symbol=symbol, earliest=START, latest=START)
        refresh_rollups()
    hourly, read = load(symbol, "1h")

    assert read and hourly["high"][0] == 5000.0


def test_the_retention_job_moves_every_version_when_it_deletes(symbol: str) -> None:
    """Both modes: the plain beat job, and TimescaleDB's ohlcv_retention job."""
    write_minutes(symbol, minute_candles(START, 120))
    load(symbol)
    run_ohlcv_retention()
    _, read_when_nothing_went = load(symbol)
    with connections["timeseries"].cursor() as cursor:
        cursor.execute(
            "INSERT INTO ohlcv (time, symbol, timeframe, open, high, low, close, volume) "
            "VALUES ('2015-01-01', %s, '1m', 1, 2, 1, 2, 0)",
            [symbol.replace("/", "OLD/")],
        )

    run_ohlcv_retention()
    _, read = load(symbol)

    assert (read_when_nothing_went, read) == (False, True)


def test_series_written_around_marketdata_are_never_cached(symbol: str) -> None:
    with connections["timeseries"].cursor() as cursor:
        cursor.execute(
            "INSERT INTO ohlcv (time, symbol, timeframe, open, high, low, close, volume) "
            "VALUES (%s, %s, '1m', 1, 2, 1, 2, 0)",
            [START, symbol],
        )
    _, first_read = load(symbol)
    _, again_read = load(symbol)

    assert first_read and again_read


def test_the_cache_stays_under_its_cap_evicting_the_least_recently_used(symbol: str) -> None:
    write_minutes(symbol, minute_candles(START, 300))
    windows = [{"start": START + dt.timedelta(minutes=m), "end": END} for m in (0, 100, 200)]
    # Entries of 300, 200 and 100 candles (48 bytes a candle and a header): room for the first
    # and the last, not for all three.
    cap = 48 * (300 + 100) + 1024
    with override_settings(CANDLE_ARRAY_CACHE_BYTES=cap):
        array_cache.evict(limit=0)
        load(symbol, **windows[0])
        load(symbol, **windows[1])
        load(symbol, **windows[0])  # a hit: now the most recently used
        load(symbol, **windows[2])  # evicts windows[1]
        reads = [load(symbol, **window)[1] for window in (windows[0], windows[2], windows[1])]
        total = sum(path.stat().st_size for path in array_cache.cache_dir().glob("*.npy"))

    assert reads == [False, False, True]
    assert total <= cap


def test_binary_values_equal_the_orms_to_the_last_decimal(symbol: str) -> None:
    rng = np.random.default_rng(3)
    prices = rng.integers(1, 10**12, 500)  # up to 10,000 with 8 decimals
    rows = []
    for i, units in enumerate(prices):
        price = Decimal(int(units)).scaleb(-8)
        tick = Decimal("0.00000001")
        volume = Decimal(int(units) % 10**9).scaleb(-8)
        time = START + dt.timedelta(minutes=i)
        rows.append(
            CandleInput(time, price, price + 3 * tick, price - tick, price + 2 * tick, volume)
        )
    upsert_candles(symbol=symbol, timeframe="1m", candles=rows)

    arrays = candle_arrays(symbol=symbol, timeframe="1m", start=START, end=END, use_cache=False)
    stored = Ohlcv.objects.filter(symbol=symbol).order_by("time")
    for key in ("open", "high", "low", "close", "volume"):
        assert arrays[key].tolist() == [float(v) for v in stored.values_list(key, flat=True)]
    for timeframe in ("15m", "1h", "4h", "1d"):
        derived = candle_arrays(symbol=symbol, timeframe=timeframe, start=START, end=END,
                                use_cache=False)  # fmt: skip
        page = candles(symbol=symbol, timeframe=timeframe, start=START, end=END, limit=5000)
        assert list(derived["time"]) == [
            np.datetime64(c.time.replace(tzinfo=None), "ns") for c in page.candles
        ]
        for key in ("open", "high", "low", "close", "volume"):
            assert derived[key].tolist() == [float(getattr(c, key)) for c in page.candles]
