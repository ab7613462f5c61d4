"""candle_arrays: a symbol's candles as NumPy arrays for the engine, any timeframe."""

import datetime as dt
from unittest import mock

import numpy as np
import pytest

from marketdata import columnar, selectors
from marketdata.selectors import candle_arrays
from tests.marketdata.helpers import minute_candles, write_minutes

pytestmark = pytest.mark.django_db(databases=["default", "timeseries"], transaction=True)

UTC = dt.UTC
START = dt.datetime(2024, 3, 4, tzinfo=UTC)


def test_minute_candles_come_as_float_arrays_with_nanosecond_times(symbol: str) -> None:
    write_minutes(symbol, minute_candles(START, 3))

    arrays = candle_arrays(symbol=symbol, timeframe="1m", start=START,
                           end=START + dt.timedelta(days=1))  # fmt: skip

    assert set(arrays) == {"time", "open", "high", "low", "close", "volume"}
    assert arrays["time"].dtype == np.dtype("datetime64[ns]")
    assert list(arrays["time"]) == [np.datetime64("2024-03-04T00:00", "ns") + np.timedelta64(m, "m")
                                    for m in range(3)]  # fmt: skip
    for key in ("open", "high", "low", "close", "volume"):
        assert arrays[key].dtype == np.float64
    np.testing.assert_array_equal(arrays["open"], [100.0, 101.0, 102.0])
    np.testing.assert_array_equal(arrays["volume"], [1.0, 2.0, 3.0])


def test_other_timeframes_use_the_same_rollups_as_the_api(symbol: str) -> None:
    write_minutes(symbol, minute_candles(START, 150))

    hourly = candle_arrays(symbol=symbol, timeframe="1h", start=START,
                           end=START + dt.timedelta(days=1))  # fmt: skip
    two_hourly = candle_arrays(symbol=symbol, timeframe="2h", start=START,
                               end=START + dt.timedelta(days=1))  # fmt: skip

    np.testing.assert_array_equal(hourly["open"], [100.0, 160.0, 220.0])
    np.testing.assert_array_equal(hourly["close"], [159.5, 219.5, 249.5])
    np.testing.assert_array_equal(two_hourly["high"], [220.5, 250.5])
    np.testing.assert_array_equal(two_hourly["volume"], [sum(range(1, 121)), sum(range(121, 151))])


def test_an_empty_range_gives_empty_arrays(symbol: str) -> None:
    arrays = candle_arrays(symbol=symbol, timeframe="4h", start=START,
                           end=START + dt.timedelta(days=1))  # fmt: skip

    assert arrays["time"].shape == (0,)
    assert arrays["time"].dtype == np.dtype("datetime64[ns]")
    assert arrays["close"].dtype == np.float64


def test_arrays_are_decoded_from_binary_copy_and_odd_data_takes_the_slow_path(
    symbol: str,
) -> None:
    write_minutes(symbol, minute_candles(START, 4))
    decoded = []
    original = columnar.decode_binary_rows

    def spy(data: bytes):
        decoded.append(original(data) is not None)
        return original(data)

    with mock.patch.object(columnar, "decode_binary_rows", spy):
        fast = candle_arrays(symbol=symbol, timeframe="1m", start=START,
                             end=START + dt.timedelta(days=1), use_cache=False)  # fmt: skip
    with mock.patch.object(columnar, "decode_binary_rows", lambda data: None):
        slow = candle_arrays(symbol=symbol, timeframe="1m", start=START,
                             end=START + dt.timedelta(days=1), use_cache=False)  # fmt: skip

    assert decoded == [True]
    for key in fast:
        np.testing.assert_array_equal(fast[key], slow[key])
    assert columnar.decode_binary_rows(b"not a copy") is None


def test_daily_counts_of_minute_candles_show_the_gaps(symbol: str) -> None:
    write_minutes(symbol, minute_candles(START, 90))
    write_minutes(symbol, minute_candles(START + dt.timedelta(days=2, hours=5), 3))

    counts = selectors.daily_candle_counts(symbol=symbol, start=START,
                                           end=START + dt.timedelta(days=7))  # fmt: skip

    assert counts == [(START, 90), (START + dt.timedelta(days=2), 3)]
