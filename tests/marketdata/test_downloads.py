"""Candle downloads from the fake Binance into the real ohlcv table: paging, resume, the command,
the beat job and its schedule."""

import datetime as dt
import io
from decimal import Decimal

import pytest
from celery.schedules import crontab
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command

from apextrade.beat_schedule import ohlcv_download_schedule, parse_ohlcv_downloads
from exchanges import errors
from marketdata import tasks
from marketdata.downloads import download_ohlcv
from marketdata.management.commands.fetch_ohlcv import ProgressBar
from marketdata.models import Ohlcv

pytestmark = pytest.mark.django_db(databases=["default", "timeseries"])

UTC = dt.UTC
MINUTE = dt.timedelta(minutes=1)


def minutes_ago(count: int) -> dt.datetime:
    return dt.datetime.now(UTC).replace(second=0, microsecond=0) - count * MINUTE


def milliseconds(moment: dt.datetime) -> int:
    return int(moment.timestamp() * 1000)


def stored(symbol: str, timeframe: str = "1m") -> list[Ohlcv]:
    return list(Ohlcv.objects.filter(symbol=symbol, timeframe=timeframe).order_by("time"))


def test_a_download_pages_through_the_exchange_into_ohlcv_exactly(fake_binance, symbol) -> None:
    market = fake_binance.add_market(symbol)
    start = minutes_ago(120)
    fake_binance.add_candles(market, "1m", milliseconds(start), 120)
    fake_binance.max_klines = 50
    seen: list[tuple[int, int]] = []

    report = download_ohlcv(
        exchange="binance",
        symbol=symbol,
        timeframe="1m",
        since=start - dt.timedelta(hours=2),
        progress=lambda done, expected: seen.append((done, expected)),
    )

    assert (report.pages, report.candles, report.written) == (3, 120, 120)
    assert not report.resumed
    rows = stored(symbol)
    assert [row.time for row in rows] == [start + i * MINUTE for i in range(120)]
    row = rows[7]  # candle 7: open 107, high 108.5, low 106, close 107.5, volume 8
    assert (row.open, row.high, row.low, row.close, row.volume, row.source) == (
        Decimal("107"), Decimal("108.5"), Decimal("106"), Decimal("107.5"), Decimal("8"),
        "binance",
    )  # fmt: skip
    assert [done for done, _ in seen] == [0, 50, 100, 120]
    assert seen[-1] == (120, 240)  # expected from the (empty) first two hours on


def test_a_second_download_resumes_after_the_newest_stored_candle(fake_binance, symbol) -> None:
    market = fake_binance.add_market(symbol)
    start = minutes_ago(90)
    fake_binance.add_candles(market, "1m", milliseconds(start), 60)
    download_ohlcv(exchange="binance", symbol=symbol, timeframe="1m", since=start)
    fake_binance.add_candles(market, "1m", milliseconds(start + 60 * MINUTE), 30, first_open=500)
    fake_binance.requests.clear()

    report = download_ohlcv(exchange="binance", symbol=symbol, timeframe="1m", since=start)

    assert report.resumed
    assert report.start == start + 60 * MINUTE
    assert (report.candles, report.written) == (30, 30)
    first_request = fake_binance.calls("GET", "/klines")[0]
    assert int(first_request["startTime"]) == milliseconds(start + 60 * MINUTE)
    rows = stored(symbol)
    assert len(rows) == 90 and rows[60].open == Decimal("500")

    again = download_ohlcv(exchange="binance", symbol=symbol, timeframe="1m")
    assert (again.candles, again.written, again.resumed) == (0, 0, True)


def test_a_since_later_than_the_stored_candles_wins(fake_binance, symbol) -> None:
    market = fake_binance.add_market(symbol)
    start = minutes_ago(60)
    fake_binance.add_candles(market, "1m", milliseconds(start), 60)
    download_ohlcv(
        exchange="binance", symbol=symbol, timeframe="1m", since=start, until=start + 5 * MINUTE
    )

    report = download_ohlcv(
        exchange="binance", symbol=symbol, timeframe="1m", since=start + 50 * MINUTE
    )

    assert (report.resumed, report.start, report.candles) == (False, start + 50 * MINUTE, 10)
    assert len(stored(symbol)) == 15


def test_hourly_candles_are_downloaded_on_their_own_timeframe(fake_binance, symbol) -> None:
    market = fake_binance.add_market(symbol)
    now = dt.datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    start = now - dt.timedelta(hours=10)
    fake_binance.add_candles(market, "1h", milliseconds(start), 10)

    report = download_ohlcv(exchange="binance", symbol=symbol, timeframe="1h", since=start)

    assert report.candles == 10
    assert [row.time for row in stored(symbol, "1h")] == [
        start + dt.timedelta(hours=i) for i in range(10)
    ]


def test_a_first_download_needs_a_start(fake_binance, symbol) -> None:
    fake_binance.add_market(symbol)
    with pytest.raises(ValidationError) as refused:
        download_ohlcv(exchange="binance", symbol=symbol, timeframe="1m")
    assert "since" in refused.value.message_dict
    assert fake_binance.calls("GET", "/klines") == []


def test_bad_series_and_exchanges_are_field_errors_before_any_request(fake_binance) -> None:
    with pytest.raises(ValidationError) as refused:
        download_ohlcv(exchange="nasdaq", symbol="btc-usdt", timeframe="1x", since=minutes_ago(5))
    assert set(refused.value.message_dict) == {"exchange", "symbol", "timeframe"}
    assert fake_binance.requests == []


def test_a_market_the_exchange_does_not_list_is_a_rejected_request(fake_binance) -> None:
    with pytest.raises(errors.RequestRejected):
        download_ohlcv(exchange="binance", symbol="XRP/EUR", timeframe="1m", since=minutes_ago(5))


def test_rate_limited_pages_are_retried_and_nothing_is_lost(fake_binance, symbol) -> None:
    market = fake_binance.add_market(symbol)
    start = minutes_ago(30)
    fake_binance.add_candles(market, "1m", milliseconds(start), 30)
    fake_binance.max_klines = 10
    fake_binance.klines_rate_limited = 2
    slept: list[float] = []

    report = download_ohlcv(
        exchange="binance", symbol=symbol, timeframe="1m", since=start, sleep=slept.append
    )

    assert slept == [1.0, 1.0]  # the fake's Retry-After
    assert report.candles == 30 and len(stored(symbol)) == 30


# --- the command -------------------------------------------------------------------------------


def test_fetch_ohlcv_downloads_into_ohlcv_end_to_end(fake_binance, symbol) -> None:
    market = fake_binance.add_market(symbol)
    start = minutes_ago(40)
    fake_binance.add_candles(market, "1m", milliseconds(start), 40)
    fake_binance.max_klines = 15
    out = io.StringIO()

    call_command(
        "fetch_ohlcv",
        "--exchange", "binance", "--symbol", symbol, "--timeframe", "1m",
        "--since", start.isoformat(), "--no-progress",
        stdout=out,
    )  # fmt: skip

    assert "40 candles in 3 page(s), 40 written" in out.getvalue()
    assert len(stored(symbol)) == 40

    out = io.StringIO()
    call_command(
        "fetch_ohlcv", "--exchange", "binance", "--symbol", symbol, "--timeframe", "1m",
        stdout=out,
    )  # fmt: skip
    assert "0 candles" in out.getvalue() and "resumed" in out.getvalue()


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--symbol", "QQQQ/TEST", "--timeframe", "1m"], "give a start date"),
        (["--symbol", "BTC/USDT", "--timeframe", "1m", "--since", "yesterday"], "not a date"),
        (["--symbol", "BTC/USDT", "--timeframe", "7m", "--since", "2026-01-01"], "no 7m"),
        (["--symbol", "XRP/EUR", "--timeframe", "1m", "--since", "2026-01-01"], "XRP/EUR"),
    ],
)
def test_fetch_ohlcv_refuses_bad_input_with_a_message(fake_binance, arguments, message) -> None:
    with pytest.raises(CommandError, match=message):
        call_command("fetch_ohlcv", "--exchange", "binance", *arguments, "--no-progress")


def test_the_progress_bar_counts_candles() -> None:
    stream = io.StringIO()
    bar = ProgressBar(stream, disable=False)
    bar(0, 200)
    bar(150, 200)
    bar(200, 200)
    bar.close()
    assert "200/200" in stream.getvalue() and "candle" in stream.getvalue()


# --- beat --------------------------------------------------------------------------------------


def test_the_beat_task_backfills_a_new_series_and_then_resumes(
    fake_binance, symbol, settings
) -> None:
    settings.OHLCV_DOWNLOAD_BACKFILL_DAYS = 1
    market = fake_binance.add_market(symbol)
    old = minutes_ago(2 * 24 * 60)  # two days ago: before the backfill window
    fake_binance.add_candles(market, "1m", milliseconds(old), 5)
    fake_binance.add_candles(market, "1m", milliseconds(minutes_ago(20)), 20)

    assert tasks.download_ohlcv("binance", symbol, "1m") == "20 candles, 20 written"
    assert tasks.download_ohlcv("binance", symbol, "1m") == "0 candles, 0 written"
    assert len(stored(symbol)) == 20


def test_one_beat_job_per_configured_series_at_its_timeframes_pace() -> None:
    targets = parse_ohlcv_downloads("binance:BTC/USDT:1m, binance:ETH/USDT:4h,kraken:ETH/EUR:1d")

    schedule = ohlcv_download_schedule(targets)

    assert list(schedule) == [
        "marketdata.download_ohlcv:binance:BTC/USDT:1m",
        "marketdata.download_ohlcv:binance:ETH/USDT:4h",
        "marketdata.download_ohlcv:kraken:ETH/EUR:1d",
    ]
    minute, four_hours, daily = schedule.values()
    assert minute["task"] == "marketdata.tasks.download_ohlcv"
    assert minute["args"] == ["binance", "BTC/USDT", "1m"]
    assert minute["schedule"] == crontab(minute="*/1")
    assert four_hours["schedule"] == crontab(minute=1, hour="*/4")
    assert daily["schedule"] == crontab(minute=1, hour=0)


def test_a_malformed_download_setting_is_refused_with_the_item() -> None:
    with pytest.raises(ValueError, match="binance:BTC/USDT"):
        parse_ohlcv_downloads("binance:BTC/USDT")
