"""import_ohlcv with the files traders already have: format detection, several files, series from
file names, time units and zones, the dry run, all-or-nothing per series."""

import datetime as dt
import gzip
import json
import zipfile
from decimal import Decimal
from io import StringIO
from pathlib import Path

import pyarrow
import pyarrow.feather as feather
import pyarrow.parquet as parquet
import pytest
from django.core.management import CommandError, call_command

from marketdata.ingest.candle_files import import_candle_files
from marketdata.ingest.formats import inspect_file, names_from_file_name
from marketdata.ingest.times import NaiveTimeError, time_reader
from marketdata.management.commands.import_ohlcv import ProgressBar
from marketdata.models import Ohlcv
from tests.marketdata.helpers import write_csv

pytestmark = pytest.mark.django_db(databases=["default", "timeseries"])

UTC = dt.UTC
START = dt.datetime(2024, 3, 1, tzinfo=UTC)
START_MS = int(START.timestamp()) * 1000
MINUTE = dt.timedelta(minutes=1)
# Candle i: open 100+i, high 102+i, low 99+i, close 101+i, volume i+1.
PRICES = [(f"{100 + i}", f"{102 + i}", f"{99 + i}", f"{101 + i}", f"{i + 1}") for i in range(10)]


def expected(count: int, *, first: int = 0, step: dt.timedelta = dt.timedelta(minutes=1)):
    return [
        (START + step * i, *(Decimal(x) for x in PRICES[i])) for i in range(first, first + count)
    ]


def stored(symbol: str, timeframe: str = "1m") -> list[tuple]:
    return list(
        Ohlcv.objects.filter(symbol=symbol, timeframe=timeframe)
        .order_by("time")
        .values_list("time", "open", "high", "low", "close", "volume")
    )


def run(*arguments: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("import_ohlcv", *arguments, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def refused(*arguments: str) -> tuple[str, str, str]:
    out, err = StringIO(), StringIO()
    with pytest.raises(CommandError) as raised:
        call_command("import_ohlcv", *arguments, stdout=out, stderr=err)
    return str(raised.value), out.getvalue(), err.getvalue()


def kline(i: int, *, first: int = 0, factor: int = 1) -> str:
    """A Binance public-data kline: open time, OHLCV, close time and six other columns."""
    opened = (START_MS + 60_000 * (first + i)) * factor
    closed = opened + 59_999 * factor
    return ",".join([str(opened), *PRICES[first + i], str(closed), "1000.5", "42", "1", "2", "0"])


def write_klines(path: Path, count: int, *, first: int = 0, factor: int = 1) -> Path:
    return write_csv(
        path, "".join(kline(i, first=first, factor=factor) + "\n" for i in range(count))
    )


def freqtrade_table(
    count: int, *, unit: str = "ms", tz: str | None = "UTC", step: dt.timedelta = MINUTE
) -> pyarrow.Table:
    times = [(START + step * i).replace(tzinfo=None) for i in range(count)]
    return pyarrow.table(
        {
            "date": pyarrow.array(times, pyarrow.timestamp(unit, tz=tz)),
            **{
                column: [float(PRICES[i][k]) for i in range(count)]
                for k, column in enumerate(("open", "high", "low", "close", "volume"))
            },
        }
    )


def freqtrade_json(count: int) -> str:
    return json.dumps(
        [[START_MS + 60_000 * i, *(float(x) for x in PRICES[i])] for i in range(count)]
    )


def file_name(symbol: str, timeframe: str, suffix: str) -> str:
    return f"{symbol.replace('/', '_')}-{timeframe}.{suffix}"


# --- Binance klines -------------------------------------------------------------------------


@pytest.mark.parametrize(("factor", "unit"), [(1, "milliseconds"), (1000, "microseconds")])
def test_binance_klines_load_with_their_epoch_unit_told_by_size(
    tmp_path: Path, symbol: str, factor: int, unit: str
) -> None:
    path = write_klines(tmp_path / "BTCUSDT-1m-2024-03.csv", 3, factor=factor)

    out, _ = run(str(path), "--symbol", symbol)

    assert stored(symbol) == expected(3)
    assert f"Binance klines (no header, 12 columns), epoch {unit} (by size)" in out
    assert "3 rows read, 3 written" in out


def test_a_binance_zip_and_a_binance_file_with_a_header_load(tmp_path: Path, symbol: str) -> None:
    archive = tmp_path / "BTCUSDT-1m-2024-03.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zipped:
        zipped.writestr("BTCUSDT-1m-2024-03.csv", "".join(kline(i) + "\n" for i in range(2)))
    header = (
        "open_time,open,high,low,close,volume,close_time,quote_volume,count,"
        "taker_buy_volume,taker_buy_quote_volume,ignore\n"
    )
    with_header = write_csv(tmp_path / "later.csv", header + kline(0, first=2) + "\n")

    out, _ = run(str(archive), str(with_header), "--symbol", symbol, "--timeframe", "1m")

    assert stored(symbol) == expected(3)
    assert "later.csv: CSV with header, epoch milliseconds (by size)" in out
    assert f"{symbol} 1m: 2 files, 3 rows read, 3 written" in out


def test_an_explicit_time_unit_is_used_and_an_impossible_time_is_a_bad_row(
    tmp_path: Path, symbol: str
) -> None:
    path = write_klines(tmp_path / "k.txt", 2)

    message, _out, err = refused(str(path), "--symbol", symbol, "--timeframe", "1m",
                                 "--time-unit", "s")  # fmt: skip

    assert err.splitlines() == [
        f"line 1: unparseable time '{START_MS} in s'",
        f"line 2: unparseable time '{START_MS + 60_000} in s'",
    ]
    assert "2 bad row(s) in k.txt; nothing was written" in message
    run(str(path), "--symbol", symbol, "--timeframe", "1m", "--time-unit", "ms")
    assert stored(symbol) == expected(2)


def test_a_forced_format_is_used_whatever_the_file_looks_like(tmp_path: Path, symbol: str) -> None:
    path = write_klines(tmp_path / "k.txt", 2)

    message, _, _ = refused(str(path), "--symbol", symbol, "--timeframe", "1m", "--format", "csv")

    assert "The header row lacks the column(s) time, open, high, low, close, volume" in message
    assert stored(symbol) == []


# --- CSVs with a header ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "header_and_first_field",
    [
        ("Timestamp,Open,High,Low,Close,Volume", "2024-03-01T00:00:00Z"),
        ("datetime,open,high,low,close,volume", "2024-03-01 00:00:00+00:00"),
        ("Open_Time,open,high,low,close,volume", str(START_MS)),
        # pandas' unnamed index holding the times, and a RangeIndex beside a date column
        (",open,high,low,close,volume", "2024-03-01T00:00:00+00:00"),
        (",date,open,high,low,close,volume", "0,2024-03-01T00:00:00Z"),
    ],
)
def test_header_aliases_and_unnamed_index_columns(
    tmp_path: Path, symbol: str, header_and_first_field: tuple[str, str]
) -> None:
    header, first = header_and_first_field
    path = write_csv(tmp_path / "c.csv", f"{header}\n{first},{','.join(PRICES[0])}\n")

    run(str(path), "--symbol", symbol, "--timeframe", "1m")

    assert stored(symbol) == expected(1)


YAHOO = """
Date,Open,High,Low,Close,Adj Close,Volume
2024-03-01,100,102,99,101,50.5,1000
2024-03-04,101,103,100,102,51,1100
"""


def test_yahoo_daily_csv_loads_with_a_time_zone_and_ignores_adj_close(
    tmp_path: Path, symbol: str
) -> None:
    path = write_csv(tmp_path / "AAPL.csv", YAHOO)

    run(str(path), "--symbol", symbol, "--timeframe", "1d", "--timezone", "UTC")

    assert stored(symbol, "1d") == [
        (START, Decimal(100), Decimal(102), Decimal(99), Decimal(101), Decimal(1000)),
        (START + dt.timedelta(days=3), Decimal(101), Decimal(103), Decimal(100), Decimal(102),
         Decimal(1100)),
    ]  # fmt: skip


def test_adjusted_scales_the_prices_to_the_adjusted_close(tmp_path: Path, symbol: str) -> None:
    path = write_csv(tmp_path / "AAPL.csv", YAHOO)

    run(str(path), "--symbol", symbol, "--timeframe", "1d", "--timezone", "UTC", "--adjusted")

    # Factor 50.5/101 = 0.5 and 51/102 = 0.5; volume unchanged.
    assert stored(symbol, "1d") == [
        (START, Decimal(50), Decimal(51), Decimal("49.5"), Decimal("50.5"), Decimal(1000)),
        (START + dt.timedelta(days=3), Decimal("50.5"), Decimal("51.5"), Decimal(50), Decimal(51),
         Decimal(1100)),
    ]  # fmt: skip


def test_naive_times_are_refused_without_a_time_zone(tmp_path: Path, symbol: str) -> None:
    path = write_csv(tmp_path / "AAPL.csv", YAHOO)

    message, _, _ = refused(str(path), "--symbol", symbol, "--timeframe", "1d")

    assert message == (
        "AAPL.csv line 2: the time '2024-03-01' has no UTC offset. Pass --timezone with the zone "
        "the file's times are in (--timezone UTC if they are UTC); they are not guessed."
    )
    assert stored(symbol, "1d") == []


def test_naive_times_are_placed_in_the_given_time_zone(tmp_path: Path, symbol: str) -> None:
    # 09:00 in New York in winter is 14:00 UTC; an ISO time with an offset keeps its own.
    text = (
        "time,open,high,low,close,volume\n"
        f"2024-03-01 09:00:00,{','.join(PRICES[0])}\n"
        f"2024-03-01T10:00:00-05:00,{','.join(PRICES[1])}\n"
    )
    path = write_csv(tmp_path / "ny.csv", text)

    run(str(path), "--symbol", symbol, "--timeframe", "1h", "--timezone", "America/New_York")

    assert [row[0] for row in stored(symbol, "1h")] == [
        dt.datetime(2024, 3, 1, 14, tzinfo=UTC),
        dt.datetime(2024, 3, 1, 15, tzinfo=UTC),
    ]


def test_a_naive_time_later_in_a_file_refuses_the_series(tmp_path: Path, symbol: str) -> None:
    text = (
        "time,open,high,low,close,volume\n"
        f"2024-03-01T00:00:00Z,{','.join(PRICES[0])}\n"
        f"2024-03-01T00:01:00,{','.join(PRICES[1])}\n"
    )
    message, _, err = refused(str(write_csv(tmp_path / "mixed.csv", text)),
                              "--symbol", symbol, "--timeframe", "1m")  # fmt: skip

    assert "mixed.csv line 3: the time '2024-03-01T00:01:00' has no UTC offset" in err
    assert "could not be read; nothing was written" in message
    assert stored(symbol) == []


# --- freqtrade ------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", ["feather", "parquet", "json", "json.gz"])
def test_freqtrade_files_load_with_symbol_and_timeframe_from_their_names(
    tmp_path: Path, symbol: str, suffix: str
) -> None:
    path = tmp_path / file_name(symbol, "1m", suffix)
    if suffix == "feather":
        feather.write_feather(freqtrade_table(3), path)  # lz4-compressed Arrow IPC, as pandas
    elif suffix == "parquet":
        parquet.write_table(freqtrade_table(3, unit="ns"), path)
    elif suffix == "json":
        path.write_text(freqtrade_json(3))
    else:
        path.write_bytes(gzip.compress(freqtrade_json(3).encode()))

    out, _ = run(str(path))

    assert stored(symbol) == expected(3)
    assert f"{symbol} 1m: 3 rows read, 3 written" in out


def test_a_freqtrade_data_directory_loads_every_series(tmp_path: Path, symbol: str) -> None:
    other = symbol.replace("/TEST", "/OTHER")
    feather.write_feather(freqtrade_table(3), tmp_path / file_name(symbol, "1m", "feather"))
    (tmp_path / file_name(symbol, "1h", "json")).write_text(
        json.dumps([[START_MS + 3_600_000 * i, *map(float, PRICES[i])] for i in range(2)])
    )
    (tmp_path / file_name(other, "1m", "json.gz")).write_bytes(
        gzip.compress(freqtrade_json(2).encode())
    )
    feather.write_feather(  # trades, not candles: left alone
        pyarrow.table({"timestamp": [1], "price": [1.0]}),
        tmp_path / f"{symbol[:4]}_TEST-trades.feather",
    )

    out, _ = run(str(tmp_path))

    assert stored(symbol) == expected(3)
    assert stored(symbol, "1h") == expected(2, step=dt.timedelta(hours=1))
    assert stored(other) == expected(2)
    summaries = [line.split(":")[0] for line in out.splitlines() if "rows read" in line]
    assert summaries == [f"{other} 1m", f"{symbol} 1h", f"{symbol} 1m"]
    assert "trades" not in out


def test_naive_feather_timestamps_are_refused_without_a_time_zone(
    tmp_path: Path, symbol: str
) -> None:
    path = tmp_path / file_name(symbol, "1m", "feather")
    feather.write_feather(freqtrade_table(2, tz=None), path)

    message, _, _ = refused(str(path))
    assert "has no UTC offset" in message

    run(str(path), "--timezone", "UTC")
    assert stored(symbol) == expected(2)


def test_a_file_name_that_does_not_say_the_series_needs_the_options(tmp_path: Path) -> None:
    path = write_klines(tmp_path / "candles.csv", 2)

    message, _, _ = refused(str(path))

    assert "cannot be read from the file name of candles.csv (pass --symbol and --timeframe)" in (
        message
    )


# --- many files -----------------------------------------------------------------------------


def test_monthly_files_by_glob_are_one_series_with_one_summary(tmp_path: Path, symbol: str) -> None:
    for month in range(3):
        write_klines(tmp_path / f"XUSDT-1m-2024-0{month + 1}.csv", 3, first=3 * month)

    out, _ = run(str(tmp_path / "XUSDT-1m-2024-*.csv"), "--symbol", symbol)

    assert stored(symbol) == expected(9)
    summaries = [line for line in out.splitlines() if "rows read" in line]
    assert len(summaries) == 1
    assert summaries[0].startswith(f"{symbol} 1m: 3 files, 9 rows read, 9 written")


def test_a_bad_row_in_a_later_file_writes_nothing_of_that_series(
    tmp_path: Path, symbol: str
) -> None:
    good = symbol.replace("/TEST", "/GOOD")
    files = [write_klines(tmp_path / f"{symbol[:4]}_TEST-1m-{n}.csv", 3, first=3 * n)
             for n in range(2)]  # fmt: skip
    bad_rows = kline(0, first=6) + "\n" + kline(1, first=6).replace(",109,", ",105,", 1) + "\n"
    files.append(write_csv(tmp_path / "third.csv", bad_rows))

    message, _, err = refused(*map(str, files), "--symbol", symbol, "--timeframe", "1m")
    assert err.splitlines() == ["third.csv line 2: high < low"]
    assert message == (
        "1 bad row(s) in 3 files; nothing was written. "
        "Fix them or pass --skip-invalid to load the good rows."
    )
    assert stored(symbol) == []

    # Another series in the same command is loaded on its own.
    feather.write_feather(freqtrade_table(2), tmp_path / file_name(good, "1m", "feather"))
    bad_series = tmp_path / file_name(symbol, "1m", "json")
    bad_series.write_text(json.dumps([[START_MS, 100, 99, 101, 100, 1]]))
    message, _, _ = refused(str(tmp_path / file_name(good, "1m", "feather")), str(bad_series))
    assert f"of {symbol} 1m (the other series were written)" in message
    assert stored(good) == expected(2)
    assert stored(symbol) == []

    out, _ = run(*map(str, files), "--symbol", symbol, "--timeframe", "1m",
                   "--skip-invalid")  # fmt: skip
    assert len(stored(symbol)) == 7
    assert "3 files, 8 rows read, 7 written, 0 unchanged, 1 skipped as invalid" in out


def test_a_duplicate_across_files_names_both_files(tmp_path: Path, symbol: str) -> None:
    first = write_klines(tmp_path / "a.csv", 3)
    second = write_klines(tmp_path / "b.csv", 2, first=2)

    _, _, err = refused(str(first), str(second), "--symbol", symbol, "--timeframe", "1m")

    assert err.splitlines() == ["b.csv line 1: duplicate timestamp (first at a.csv line 3)"]
    assert stored(symbol) == []


# --- dry run --------------------------------------------------------------------------------


def test_a_dry_run_reports_range_rows_gaps_and_writes_nothing(tmp_path: Path, symbol: str) -> None:
    run(str(write_klines(tmp_path / "stored.csv", 2)), "--symbol", symbol, "--timeframe", "1m")
    before = stored(symbol)
    # Minutes 0-1 as stored (0 unchanged, 1 changed), 2-3 new, then 4-6 missing, 7-8 new.
    rows = [kline(0), kline(1).replace(",102,2,", ",102,7,"), kline(2), kline(3), kline(7),
            kline(8)]  # fmt: skip
    path = write_csv(tmp_path / "update.csv", "\n".join(rows) + "\n")

    out, _ = run(str(path), "--symbol", symbol, "--timeframe", "1m", "--dry-run")

    assert stored(symbol) == before
    assert (
        f"{symbol} 1m (dry run): 6 rows read, 0 bad; 2024-03-01T00:00:00+00:00 to "
        "2024-03-01T00:08:00+00:00; 6 candles, 3 missing in 1 gap(s); would write 5 (4 new, "
        "1 changed), 1 unchanged. Nothing was written."
    ) in out
    assert (
        "  gap: 3 missing after 2024-03-01T00:03:00+00:00 (next 2024-03-01T00:07:00+00:00)" in out
    )


def test_a_dry_run_with_bad_rows_says_nothing_would_be_written(tmp_path: Path, symbol: str) -> None:
    path = write_csv(tmp_path / "bad.csv", kline(0) + "\n" + kline(0) + "\n")

    message, out, err = refused(str(path), "--symbol", symbol, "--timeframe", "1m", "--dry-run")

    assert err.splitlines() == ["line 2: duplicate timestamp (first at line 1)"]
    assert "would write nothing (bad rows; --skip-invalid writes the good ones)" in out
    assert "1 bad row(s) in bad.csv; nothing would be written" in message
    assert stored(symbol) == []


# --- the pieces -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "unit", "expected_time"),
    [
        ("1709251200", None, START),
        ("1709251200000", None, START),
        ("1709251200000000", None, START),
        ("1709251200000000000", None, START),
        (1709251200000, "ms", START),
        ("1709251200.5", "s", START + dt.timedelta(milliseconds=500)),
        ("1709251200000", "s", "1709251200000 in s"),  # past the year 9999
        ("1709251200000000001", "ns", "1709251200000000001 in ns"),  # finer than a microsecond
        ("2024-03-01T01:00:00+01:00", None, START),
        ("yesterday", None, "yesterday"),
    ],
)
def test_time_reader(value: object, unit: str | None, expected_time: object) -> None:
    assert time_reader(unit=unit)(value) == expected_time


def test_time_reader_refuses_naive_times_without_a_zone() -> None:
    with pytest.raises(NaiveTimeError):
        time_reader()("2024-03-01 00:00")
    assert time_reader(zone=UTC)("2024-03-01 00:00") == START


@pytest.mark.parametrize(
    ("name", "series"),
    [
        ("BTC_USDT-1m.feather", ("BTC/USDT", "1m")),
        ("ETH_BTC-4h.json.gz", ("ETH/BTC", "4h")),
        ("ETH_BTC-1Mo.parquet", ("ETH/BTC", "1M")),
        ("BTCUSDT-1m-2024-01.zip", (None, "1m")),
        ("BTCUSDT-1h-2024-01-15.csv", (None, "1h")),
        ("BTC_USDT_USDT-1h-futures.feather", (None, None)),
        ("candles.csv", (None, None)),
    ],
)
def test_names_from_file_names(name: str, series: tuple) -> None:
    assert names_from_file_name(name) == series


def test_one_progress_figure_runs_over_all_files_to_their_total_size(
    tmp_path: Path, symbol: str
) -> None:
    write_klines(tmp_path / "XUSDT-1m-2024-03.csv", 3)
    write_klines(tmp_path / "XUSDT-1m-2024-04.csv", 2, first=3)
    hourly = freqtrade_table(2, step=dt.timedelta(hours=1))
    feather.write_feather(hourly, tmp_path / file_name(symbol, "1h", "feather"))
    paths = sorted(tmp_path.iterdir())
    files = [inspect_file(path) for path in paths]
    seen: list[tuple[int, int]] = []

    outcomes = import_candle_files(
        files, symbol=symbol, timeframe=None, source="test",
        progress=lambda done, total: seen.append((done, total)),
    )  # fmt: skip

    total = sum(path.stat().st_size for path in paths)
    assert [(o.series.name, o.report.rows_written) for o in outcomes] == [
        (f"{symbol} 1h", 2),
        (f"{symbol} 1m", 5),
    ]
    assert {t for _, t in seen} == {total}
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)
    assert seen[-1] == (total, total)
    assert len(seen) >= 3


def test_a_file_that_is_not_of_the_forced_format_is_a_clear_error(
    tmp_path: Path, symbol: str
) -> None:
    path = tmp_path / file_name(symbol, "1m", "feather")
    feather.write_feather(freqtrade_table(2), path)

    message, _, _ = refused(str(path), "--format", "binance")

    assert message.startswith(f"{path.name} cannot be read as Binance klines (no header): ")


def test_a_truncated_gzip_refuses_its_series_and_not_the_others(
    tmp_path: Path, symbol: str
) -> None:
    good = symbol.replace("/TEST", "/GOOD")
    (tmp_path / file_name(good, "1m", "json")).write_text(freqtrade_json(2))
    whole = gzip.compress(
        ("[" + ",".join(["[1709251200000,1,2,0.5,1.5,1]"] * 50_000) + "]").encode()
    )
    (tmp_path / file_name(symbol, "1m", "json.gz")).write_bytes(whole[: len(whole) // 2])

    message, _, err = refused(str(tmp_path))

    assert f"{symbol} 1m: " in err
    assert f"{symbol} 1m: {file_name(symbol, '1m', 'json.gz')} could not be read" in message
    assert stored(symbol) == []
    assert stored(good) == expected(2)


def test_pandas_parquet_index_holding_the_times_is_the_time_column(
    tmp_path: Path, symbol: str
) -> None:
    table = freqtrade_table(2).rename_columns(
        ["__index_level_0__", "open", "high", "low", "close", "volume"]
    )
    parquet.write_table(table, tmp_path / "pandas.parquet")

    run(str(tmp_path / "pandas.parquet"), "--symbol", symbol, "--timeframe", "1m")

    assert stored(symbol) == expected(2)


def test_the_progress_bar_shows_bytes_done_of_all_files() -> None:
    stream = StringIO()
    bar = ProgressBar(stream)

    bar(512, 2048)
    bar(2048, 2048)
    bar.close()

    assert "100%|##########| 2.05k/2.05k" in stream.getvalue()


def test_an_unknown_time_zone_is_a_clear_error(tmp_path: Path, symbol: str) -> None:
    path = write_csv(tmp_path / "AAPL.csv", YAHOO)

    message, _, _ = refused(str(path), "--symbol", symbol, "--timeframe", "1d",
                            "--timezone", "Mars/Olympus")  # fmt: skip

    assert (
        message
        == "Unknown time zone 'Mars/Olympus': use an IANA name such as UTC or America/New_York."
    )
