"""Candles stored at their own timeframe are first-class: served by the candles API and
candle_arrays() bucket by bucket where they exist, derived from 1m elsewhere; and 1m writes past
ohlcv's retention horizon are refused. Both modes."""

import datetime as dt
from decimal import Decimal as D
from io import StringIO
from pathlib import Path

import numpy as np
import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse

from marketdata.ingest.ohlcv import RowsRejected
from marketdata.models import Ohlcv
from marketdata.retention import ohlcv_horizon
from marketdata.selectors import candle_arrays, candles
from marketdata.services import CandleInput, generate_synthetic_ohlcv, upsert_candles
from marketdata.status import timeseries_status
from tests.factories import OperatorFactory
from tests.marketdata.helpers import minute_candles, write_csv, write_minutes

pytestmark = pytest.mark.django_db(databases=["default", "timeseries"], transaction=True)

UTC = dt.UTC
MONDAY = dt.datetime(2024, 3, 4, tzinfo=UTC)
# Twenty years of weekday candles, most of them far past ohlcv's 1m retention horizon.
DAILY_FROM = dt.datetime(2005, 1, 3, tzinfo=UTC)


def daily(day: dt.datetime, close: str, *, spread: str = "5") -> CandleInput:
    price = D(close)
    return CandleInput(day, price - 1, price + D(spread), price - D(spread), price, D("1000"))


def daily_csv(path: Path, days: int) -> Path:
    lines = ["date,open,high,low,close,volume"]
    for i in range(days):
        close = 100 + (i % 50) + (i // 50) * 0.25
        day = DAILY_FROM + dt.timedelta(days=i)
        lines.append(f"{day:%Y-%m-%d},{close - 1},{close + 3},{close - 3},{close},{1000 + i}")
    return write_csv(path, "\n".join(lines) + "\n")


def test_a_daily_import_is_served_by_the_api_and_the_arrays(tmp_path: Path, symbol: str) -> None:
    path = daily_csv(tmp_path / "daily.csv", 7300)
    call_command("import_ohlcv", str(path), "--symbol", symbol, "--timeframe", "1d",
                 "--timezone", "UTC", stdout=StringIO(), stderr=StringIO())  # fmt: skip
    end = DAILY_FROM + dt.timedelta(days=7300)

    arrays = candle_arrays(symbol=symbol, timeframe="1d", start=DAILY_FROM, end=end)
    page = candles(symbol=symbol, timeframe="1d", start=DAILY_FROM, end=end, limit=3)

    assert arrays["close"].shape == (7300,)
    stored = list(
        Ohlcv.objects.filter(symbol=symbol, timeframe="1d")
        .order_by("time")
        .values_list("time", "open", "high", "low", "close", "volume")
    )
    assert [np.datetime64(row[0].replace(tzinfo=None), "ns") for row in stored] == list(
        arrays["time"]
    )
    for position, key in enumerate(("open", "high", "low", "close", "volume"), start=1):
        assert [float(row[position]) for row in stored] == arrays[key].tolist()
    assert [c.time for c in page.candles] == [DAILY_FROM + dt.timedelta(days=i) for i in range(3)]
    assert page.candles[0].close == D("100") and page.candles[0].candle_count is None
    assert page.next_start == DAILY_FROM + dt.timedelta(days=3)


def test_what_rolls_up_from_days_rolls_up_from_native_days(symbol: str) -> None:
    days = [daily(MONDAY + dt.timedelta(days=i), str(100 + i)) for i in range(10)]
    upsert_candles(symbol=symbol, timeframe="1d", candles=days)

    weeks = candles(symbol=symbol, timeframe="1w", start=MONDAY,
                    end=MONDAY + dt.timedelta(days=14), limit=10).candles  # fmt: skip

    assert [(w.time, w.open, w.high, w.low, w.close) for w in weeks] == [
        (MONDAY, D("99"), D("111"), D("95"), D("106")),
        (MONDAY + dt.timedelta(days=7), D("106"), D("114"), D("102"), D("109")),
    ]


def test_a_native_candle_wins_its_bucket_and_1m_fills_the_others(symbol: str) -> None:
    """Day 1 is stored at 1d and also has 1m candles; day 2 only has 1m candles."""
    write_minutes(symbol, minute_candles(MONDAY, 3))
    write_minutes(symbol, minute_candles(MONDAY + dt.timedelta(days=1), 3, first_open=200))
    upsert_candles(symbol=symbol, timeframe="1d", candles=[daily(MONDAY, "150")])
    end = MONDAY + dt.timedelta(days=3)

    days = candles(symbol=symbol, timeframe="1d", start=MONDAY, end=end, limit=10).candles
    arrays = candle_arrays(symbol=symbol, timeframe="1d", start=MONDAY, end=end)

    assert [(d.time, d.close, d.candle_count) for d in days] == [
        (MONDAY, D("150"), None),
        (MONDAY + dt.timedelta(days=1), D("202.5"), 3),
    ]
    assert arrays["close"].tolist() == [150.0, 202.5]
    minutes = candle_arrays(symbol=symbol, timeframe="1m", start=MONDAY, end=end)
    assert minutes["close"].shape == (6,)  # 1m is never replaced by another timeframe


def test_a_native_timeframe_other_than_the_rollups_is_served_too(symbol: str) -> None:
    four_hours = [daily(MONDAY + dt.timedelta(hours=4 * i), str(100 + i)) for i in range(3)]
    upsert_candles(symbol=symbol, timeframe="4h", candles=four_hours)

    arrays = candle_arrays(symbol=symbol, timeframe="4h", start=MONDAY,
                           end=MONDAY + dt.timedelta(days=1))  # fmt: skip

    assert arrays["close"].tolist() == [100.0, 101.0, 102.0]


def test_status_shows_the_native_timeframes_per_symbol(symbol: str) -> None:
    write_minutes(symbol, minute_candles(MONDAY, 2))
    upsert_candles(symbol=symbol, timeframe="1d", candles=[daily(MONDAY, "150")])
    upsert_candles(symbol=symbol, timeframe="4h", candles=[daily(MONDAY, "150")])
    other = symbol.replace("/", "X/")
    upsert_candles(symbol=other, timeframe="1h", candles=[daily(MONDAY, "150")])

    series = {entry["symbol"]: entry for entry in timeseries_status()["series"]}
    out = StringIO()
    call_command("timeseries_status", stdout=out)
    client = Client()
    client.force_login(OperatorFactory())
    page = client.get(reverse("admin:marketdata_maintenancejobrun_changelist")).content.decode()

    assert series[symbol] == {"symbol": symbol, "minutes": True, "native_timeframes": ["4h", "1d"]}
    assert series[other] == {"symbol": other, "minutes": False, "native_timeframes": ["1h"]}
    assert f"{symbol}: 1m and derived timeframes; native: 4h, 1d" in out.getvalue()
    assert f"<td>{other}</td><td>no</td><td>1h</td>" in page


# --- 1m writes past the retention horizon --------------------------------------------------------


def test_a_1m_feed_write_past_the_horizon_is_refused_naming_it(symbol: str) -> None:
    horizon = ohlcv_horizon()
    minute = horizon.replace(second=0, microsecond=0)
    # Two before the horizon, two well after it (the service reads the clock a moment later).
    batch = minute_candles(minute - dt.timedelta(minutes=2), 2) + minute_candles(
        minute + dt.timedelta(minutes=5), 2
    )

    with pytest.raises(RowsRejected) as refused:
        upsert_candles(symbol=symbol, timeframe="1m", candles=batch)

    assert [bad.line for bad in refused.value.report.bad_rows] == [1, 2]
    reason = refused.value.report.bad_rows[0].reason
    assert "retention horizon (5 years)" in reason and f"{horizon:%Y-%m-%d}" in reason
    assert not Ohlcv.objects.filter(symbol=symbol).exists()


def test_a_large_1m_write_past_the_horizon_is_refused_too(symbol: str) -> None:
    start = ohlcv_horizon().replace(second=0, microsecond=0) - dt.timedelta(minutes=599)
    with pytest.raises(RowsRejected) as refused:
        upsert_candles(symbol=symbol, timeframe="1m", candles=minute_candles(start, 1200))

    assert refused.value.report.bad_count == 600
    assert not Ohlcv.objects.filter(symbol=symbol).exists()


def test_an_import_of_old_1m_history_fails_naming_the_horizon(tmp_path: Path, symbol: str) -> None:
    path = write_csv(tmp_path / "old.csv", """
time,open,high,low,close,volume
2019-06-03T00:00:00Z,100,101,99,100.5,10
2019-06-03T00:01:00Z,100.5,102,100,101.5,12
""")  # fmt: skip
    err = StringIO()

    with pytest.raises(CommandError, match="2 bad row"):
        call_command("import_ohlcv", str(path), "--symbol", symbol, "--timeframe", "1m",
                     stdout=StringIO(), stderr=err)  # fmt: skip

    assert "line 2: 1m candles before" in err.getvalue()
    assert "retention horizon (5 years)" in err.getvalue()
    assert not Ohlcv.objects.filter(symbol=symbol).exists()


def test_a_dry_run_of_old_1m_history_reports_the_same_refusal(tmp_path: Path, symbol: str) -> None:
    path = write_csv(tmp_path / "old.csv", """
time,open,high,low,close,volume
2019-06-03T00:00:00Z,100,101,99,100.5,10
2019-06-03T00:01:00Z,100.5,102,100,101.5,12
""")  # fmt: skip
    arguments = (str(path), "--symbol", symbol, "--timeframe", "1m")
    real, dry = StringIO(), StringIO()
    with pytest.raises(CommandError, match="2 bad row"):
        call_command("import_ohlcv", *arguments, stdout=StringIO(), stderr=real)

    with pytest.raises(CommandError, match=r"2 bad row.*nothing would be written"):
        call_command("import_ohlcv", *arguments, "--dry-run", stdout=StringIO(), stderr=dry)

    assert "retention horizon (5 years)" in dry.getvalue()
    assert dry.getvalue() == real.getvalue()
    assert not Ohlcv.objects.filter(symbol=symbol).exists()


def test_synthetic_1m_history_past_the_horizon_is_refused(symbol: str) -> None:
    with pytest.raises(RowsRejected):
        generate_synthetic_ohlcv(symbol=symbol, timeframe="1m", bars=10, seed=1,
                                 start=dt.datetime(2015, 1, 1, tzinfo=UTC))  # fmt: skip


def test_old_history_at_its_own_timeframe_is_accepted(symbol: str) -> None:
    old = dt.datetime(2010, 3, 1, tzinfo=UTC)
    assert upsert_candles(symbol=symbol, timeframe="1d", candles=[daily(old, "50")]) == 1
    assert upsert_candles(symbol=symbol, timeframe="1h", candles=[daily(old, "50")]) == 1
