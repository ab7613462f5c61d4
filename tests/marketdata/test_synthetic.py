"""generate_ohlcv: reproducible, consistent candles whose volatility clusters."""

import datetime as dt
from io import StringIO
from pathlib import Path

import numpy as np
import pytest
from django.core.management import CommandError, call_command

from marketdata.models import Ohlcv
from marketdata.synthetic import synthetic_candles

START = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)


def test_the_same_seed_gives_the_same_candles() -> None:
    first = synthetic_candles(bars=500, timeframe="1m", start=START, seed=7)
    again = synthetic_candles(bars=500, timeframe="1m", start=START, seed=7)
    other = synthetic_candles(bars=500, timeframe="1m", start=START, seed=8)

    for key in first:
        np.testing.assert_array_equal(first[key], again[key])
    assert not np.array_equal(first["close"], other["close"])


def test_candles_are_consistent_and_continuous() -> None:
    c = synthetic_candles(bars=20_000, timeframe="5m", start=START, seed=1)

    assert np.all(c["low"] <= np.minimum(c["open"], c["close"]))
    assert np.all(c["high"] >= np.maximum(c["open"], c["close"]))
    assert np.all(c["volume"] > 0)
    np.testing.assert_array_equal(c["open"][1:], c["close"][:-1])
    assert np.all(np.diff(c["time"]) == np.timedelta64(5, "m"))


def test_volatility_clusters() -> None:
    """Absolute returns are autocorrelated (GARCH), unlike plain geometric Brownian motion."""
    c = synthetic_candles(bars=50_000, timeframe="1m", start=START, seed=3)
    moves = np.abs(np.diff(np.log(c["close"])))

    assert np.corrcoef(moves[:-1], moves[1:])[0, 1] > 0.05


@pytest.mark.django_db(databases=["default", "timeseries"])
def test_generate_ohlcv_loads_the_candles(symbol: str) -> None:
    call_command("generate_ohlcv", "--symbol", symbol, "--bars", "120", "--seed", "5",
                 "--start", "2024-01-01T00:00:00", stdout=StringIO())  # fmt: skip

    rows = Ohlcv.objects.filter(symbol=symbol)
    assert rows.count() == 120
    assert rows.order_by("time").first().time == START


@pytest.mark.django_db(databases=["default", "timeseries"])
def test_generated_csv_imports_back(tmp_path: Path, symbol: str) -> None:
    path = tmp_path / "synthetic.csv"
    call_command("generate_ohlcv", "--symbol", symbol, "--bars", "50", "--seed", "5",
                 "--start", "2024-01-01", "--output", str(path), stdout=StringIO())  # fmt: skip

    call_command("import_ohlcv", str(path), "--symbol", symbol, "--timeframe", "1m",
                 stdout=StringIO())  # fmt: skip

    assert Ohlcv.objects.filter(symbol=symbol).count() == 50


@pytest.mark.django_db(databases=["default", "timeseries"])
@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--symbol", "btcusdt", "--bars", "5"], "symbol"),
        (["--symbol", "BTC/USDT", "--bars", "0"], "bars"),
        (["--symbol", "BTC/USDT", "--bars", "5", "--timeframe", "1M"], "timeframe"),
        (["--symbol", "BTC/USDT", "--bars", "5", "--start", "yesterday"], "--start"),
        (["--symbol", "BTC/USDT", "--bars", "5", "--start", "2024-01-01T00:00:30"], "start: Must"),
        (["--symbol", "BTC/USDT", "--bars", "5", "--price", "-5"], "price"),
        (["--symbol", "BTC/USDT", "--bars", "5", "--price", "2e10"], "price"),
    ],
)
def test_generate_ohlcv_refuses_bad_input_and_writes_nothing(arguments, message) -> None:
    with pytest.raises(CommandError, match=message):
        call_command("generate_ohlcv", *arguments, stdout=StringIO())
    assert not Ohlcv.objects.exists()


@pytest.mark.django_db(databases=["default", "timeseries"])
def test_generated_candles_the_database_cannot_store_are_a_command_error(monkeypatch) -> None:
    def impossible(**kwargs):
        candles = synthetic_candles(**kwargs)
        candles["high"][1] = candles["low"][1] - 1
        return candles

    monkeypatch.setattr("marketdata.services.synthetic.synthetic_candles", impossible)

    with pytest.raises(CommandError, match=r"1 generated candle\(s\) could not be stored"):
        call_command("generate_ohlcv", "--symbol", "BTC/USDT", "--bars", "5", stdout=StringIO())
    assert not Ohlcv.objects.exists()
