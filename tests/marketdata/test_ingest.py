"""import_ohlcv: COPY into staging, upsert on (time, symbol, timeframe), bad rows by line."""

import datetime as dt
from decimal import Decimal
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from marketdata.ingest.files import FileFormatError, column_positions
from marketdata.ingest.ohlcv import parse_time
from marketdata.models import Ohlcv
from marketdata.selectors import candles
from tests.marketdata.helpers import write_csv

# Both databases: settings.test gives the test databases a TEST dict without DEPENDENCIES, so
# `timeseries` depends on `default`, which must then be set up too.
pytestmark = pytest.mark.django_db(databases=["default", "timeseries"])

UTC = dt.UTC
GOOD = """
time,open,high,low,close,volume
2024-01-01T00:00:00Z,100,101,99,100.5,10
2024-01-01T00:01:00Z,100.5,102,100,101.5,12.25
2024-01-01T00:02:00Z,101.5,101.5,100.75,101,0
"""


def run_import(path: Path, symbol: str, *extra: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command(
        "import_ohlcv", str(path), "--symbol", symbol, "--timeframe", "1m", *extra,
        stdout=out, stderr=err,
    )  # fmt: skip
    return out.getvalue(), err.getvalue()


def stored(symbol: str) -> list[tuple]:
    return list(
        Ohlcv.objects.filter(symbol=symbol)
        .order_by("time")
        .values_list("time", "open", "high", "low", "close", "volume", "source")
    )


def test_a_good_file_is_loaded_row_for_row(tmp_path: Path, symbol: str) -> None:
    out, _ = run_import(write_csv(tmp_path / "good.csv", GOOD), symbol, "--source", "kraken")

    assert stored(symbol) == [
        (dt.datetime(2024, 1, 1, 0, 0, tzinfo=UTC), Decimal("100"), Decimal("101"),
         Decimal("99"), Decimal("100.5"), Decimal("10"), "kraken"),
        (dt.datetime(2024, 1, 1, 0, 1, tzinfo=UTC), Decimal("100.5"), Decimal("102"),
         Decimal("100"), Decimal("101.5"), Decimal("12.25"), "kraken"),
        (dt.datetime(2024, 1, 1, 0, 2, tzinfo=UTC), Decimal("101.5"), Decimal("101.5"),
         Decimal("100.75"), Decimal("101"), Decimal("0"), "kraken"),
    ]  # fmt: skip
    assert "3 rows read, 3 written" in out


def test_a_reimport_changes_nothing(tmp_path: Path, symbol: str) -> None:
    path = write_csv(tmp_path / "good.csv", GOOD)
    run_import(path, symbol)
    before = stored(symbol)

    out, _ = run_import(path, symbol)

    assert stored(symbol) == before
    assert "0 written, 3 unchanged" in out


def test_a_reimport_with_a_corrected_row_updates_it_in_place(tmp_path: Path, symbol: str) -> None:
    run_import(write_csv(tmp_path / "first.csv", GOOD), symbol)
    corrected = GOOD.replace("2024-01-01T00:01:00Z,100.5,102,100,101.5,12.25",
                             "2024-01-01T00:01:00Z,100.5,103,100,102,13")  # fmt: skip

    run_import(write_csv(tmp_path / "second.csv", corrected), symbol)

    rows = stored(symbol)
    assert len(rows) == 3
    assert rows[1][1:6] == (Decimal("100.5"), Decimal("103"), Decimal("100"), Decimal("102"),
                            Decimal("13"))  # fmt: skip


BAD = """
time,open,high,low,close,volume
2024-01-01T00:00:00Z,100,101,99,100.5,10
2024-01-01T00:01:00Z,100,99,101,100,10
2024-01-01T00:02:00Z,100,101,99,100.5,-1
yesterday-ish,100,101,99,100.5,10
2024-01-01T00:04:00Z,100,101,99,100.5,10
2024-01-01T00:00:00Z,100,101,99,100.5,10
2024-01-01T00:05:00Z,abc,101,99,100.5,10
"""


def test_bad_rows_are_reported_by_line_and_nothing_is_written(tmp_path: Path, symbol: str) -> None:
    err = StringIO()
    with pytest.raises(CommandError, match="5 bad row"):
        call_command("import_ohlcv", str(write_csv(tmp_path / "bad.csv", BAD)),
                     "--symbol", symbol, "--timeframe", "1m", stderr=err)  # fmt: skip

    assert err.getvalue().splitlines() == [
        "line 3: high < low",
        "line 4: negative volume",
        "line 5: unparseable time 'yesterday-ish'",
        "line 7: duplicate timestamp (first at line 2)",
        "line 8: a price or the volume is not a number",
    ]
    assert stored(symbol) == []


def test_times_off_the_timeframes_boundaries_are_bad_rows(tmp_path: Path, symbol: str) -> None:
    # 00:00:30 is inside the 00:00 minute; 20240102 read as epoch seconds is 1970-08-23 06:15:02.
    text = (
        "time,open,high,low,close,volume\n"
        "2024-01-01T00:00:00Z,100,101,99,100.5,10\n"
        "2024-01-01T00:00:30Z,100,101,99,100.5,10\n"
        "20240102,100,101,99,100.5,10\n"
    )
    err = StringIO()
    with pytest.raises(CommandError, match="2 bad row"):
        call_command("import_ohlcv", str(write_csv(tmp_path / "off.csv", text)),
                     "--symbol", symbol, "--timeframe", "1m", stderr=err)  # fmt: skip

    assert err.getvalue().splitlines() == [
        "line 3: time 2024-01-01T00:00:30+00:00 is not on a 1m boundary",
        "line 4: time 1970-08-23T06:15:02+00:00 is not on a 1m boundary",
    ]
    assert stored(symbol) == []


def test_an_impossible_candle_at_extreme_prices_is_a_bad_row_not_a_failed_import(
    tmp_path: Path, symbol: str
) -> None:
    # Above 2**26 (~6.7e7) a float cannot see that open ...00000002 is above high ...00000001.
    text = (
        "time,open,high,low,close,volume\n"
        "2024-01-01T00:00:00Z,99999999.00000002,99999999.00000001,99999998,99999998.5,1\n"
        "2024-01-01T00:01:00Z,99999998.5,99999999.00000001,99999998,99999999,1\n"
        "2024-01-01T00:02:00Z,70000000.00000002,70000000.00000001,70000000,70000000,1\n"
    )
    _out, err = run_import(write_csv(tmp_path / "big.csv", text), symbol, "--skip-invalid")

    assert err.splitlines() == [
        "line 2: open outside [low, high]",
        "line 4: open outside [low, high]",
    ]
    assert [row[0] for row in stored(symbol)] == [dt.datetime(2024, 1, 1, 0, 1, tzinfo=UTC)]


def test_rows_are_judged_on_their_values_rounded_to_the_columns_8_decimals(
    tmp_path: Path, symbol: str
) -> None:
    # Line 2: open 1.000000004 is above high 1, but both are stored as 1.00000000: a good row.
    # Line 3: close and high are the same float, but PostgreSQL rounds close up to 1.00000001
    # and high down to 1.00000000: a bad row, not a failed import.
    text = (
        "time,open,high,low,close,volume\n"
        "2024-01-01T00:00:00Z,1.000000004,1,0.9,0.95,1\n"
        "2024-01-01T00:01:00Z,1,1.0000000049999999999,0.9,1.0000000050000000001,1\n"
    )
    _out, err = run_import(write_csv(tmp_path / "round.csv", text), symbol, "--skip-invalid")

    assert err.splitlines() == ["line 3: close outside [low, high]"]
    assert [row[1:3] for row in stored(symbol)] == [(Decimal("1"), Decimal("1"))]


@pytest.mark.parametrize("skip", [False, True])
@pytest.mark.parametrize(
    ("volume", "line"),
    [
        ("3\u00a0", 3),  # no-break space
        ("\u0663", 3),  # Arabic-Indic three
        ("\uff13", 3),  # full-width three
        ("3\u2003", 3),  # em space
        ('"3\r"', 4),  # a quoted carriage return: the row ends on the next line
    ],
)
def test_numbers_python_reads_but_postgresql_does_not_are_bad_rows(
    tmp_path: Path, symbol: str, volume: str, line: int, skip: bool
) -> None:
    text = (
        "time,open,high,low,close,volume\n"
        "2024-01-01T00:00:00Z,1,2,0.5,1.5,1\n"
        f"2024-01-01T00:01:00Z,1,2,0.5,1.5,{volume}\n"
    )
    path = write_csv(tmp_path / "odd.csv", text)
    if skip:
        _out, err = run_import(path, symbol, "--skip-invalid")
        assert len(stored(symbol)) == 1
    else:
        err_io = StringIO()
        with pytest.raises(CommandError, match="1 bad row"):
            call_command("import_ohlcv", str(path), "--symbol", symbol, "--timeframe", "1m",
                         stderr=err_io)  # fmt: skip
        err = err_io.getvalue()
        assert stored(symbol) == []
    assert err.splitlines() == [f"line {line}: a price or the volume is not a number"]


def test_duplicate_timestamps_in_the_file_are_bad_rows(tmp_path: Path, symbol: str) -> None:
    text = "\n".join(BAD.strip().splitlines()[:2] + BAD.strip().splitlines()[5:7]) + "\n"
    err = StringIO()
    with pytest.raises(CommandError, match="1 bad row"):
        call_command("import_ohlcv", str(write_csv(tmp_path / "dup.csv", text)),
                     "--symbol", symbol, "--timeframe", "1m", stderr=err)  # fmt: skip

    assert err.getvalue().splitlines() == ["line 4: duplicate timestamp (first at line 2)"]
    assert stored(symbol) == []


def test_skip_invalid_writes_the_good_rows_and_reports_the_bad(tmp_path: Path, symbol: str) -> None:
    out, err = run_import(write_csv(tmp_path / "bad.csv", BAD), symbol, "--skip-invalid")

    assert [row[0].minute for row in stored(symbol)] == [0, 4]
    assert err.splitlines() == [
        "line 3: high < low",
        "line 4: negative volume",
        "line 5: unparseable time 'yesterday-ish'",
        "line 7: duplicate timestamp (first at line 2)",
        "line 8: a price or the volume is not a number",
    ]
    assert "7 rows read, 2 written" in out
    assert "5 skipped as invalid" in out


def test_columns_in_any_order_and_case_and_the_time_column_aliases(
    tmp_path: Path, symbol: str
) -> None:
    text = """
Volume,CLOSE,Low,High,Open,Timestamp
10,100.5,99,101,100,2024-01-01 00:00:00
"""
    run_import(write_csv(tmp_path / "any-order.csv", text), symbol, "--timezone", "UTC")

    assert stored(symbol)[0][:6] == (
        dt.datetime(2024, 1, 1, tzinfo=UTC), Decimal("100"), Decimal("101"), Decimal("99"),
        Decimal("100.5"), Decimal("10"),
    )  # fmt: skip


@pytest.mark.parametrize(
    ("header", "position"),
    [
        (["time", "open", "high", "low", "close", "volume"], 0),
        (["open", "high", "low", "close", "volume", "Date"], 5),
        (["open", "DateTime", "high", "low", "close", "volume"], 1),
        (["", "open", "high", "low", "close", "volume"], 0),
    ],
)
def test_the_time_column_is_found_by_any_of_its_names(header: list[str], position: int) -> None:
    assert column_positions(header)[0] == position


def test_a_header_without_the_needed_columns_is_refused() -> None:
    with pytest.raises(FileFormatError, match="lacks the column"):
        column_positions(["time", "open", "close"])


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-01-01T00:00:00Z", dt.datetime(2024, 1, 1, tzinfo=UTC)),
        ("2024-01-01 02:00:00+02:00", dt.datetime(2024, 1, 1, tzinfo=UTC)),
        ("2024-01-01T00:00:00", dt.datetime(2024, 1, 1, tzinfo=UTC)),  # naive is UTC
        ("1704067200", dt.datetime(2024, 1, 1, tzinfo=UTC)),  # epoch seconds
        ("1704067200000", dt.datetime(2024, 1, 1, tzinfo=UTC)),  # epoch milliseconds
        ("1704067200.5", dt.datetime(2024, 1, 1, 0, 0, 0, 500000, tzinfo=UTC)),
    ],
)
def test_times_are_iso_8601_or_epoch_seconds_or_milliseconds(
    text: str, expected: dt.datetime
) -> None:
    assert parse_time(text) == expected


def test_epoch_milliseconds_and_an_unnamed_time_column_load(tmp_path: Path, symbol: str) -> None:
    text = """
,open,high,low,close,volume
1704067200000,100,101,99,100.5,10
1704067260000,100,101,99,100.5,10
"""
    run_import(write_csv(tmp_path / "epoch.csv", text), symbol)

    assert [row[0] for row in stored(symbol)] == [
        dt.datetime(2024, 1, 1, 0, 0, tzinfo=UTC),
        dt.datetime(2024, 1, 1, 0, 1, tzinfo=UTC),
    ]


def test_a_parquet_file_loads_like_its_csv(tmp_path: Path, symbol: str) -> None:
    pyarrow = pytest.importorskip("pyarrow")
    parquet = pytest.importorskip("pyarrow.parquet")
    table = pyarrow.table(
        {
            "timestamp": [dt.datetime(2024, 1, 1, 0, m) for m in range(3)],
            "open": [100.0, 100.5, 101.5],
            "high": [101.0, 102.0, 101.5],
            "low": [99.0, 100.0, 100.75],
            "close": [100.5, 101.5, 101.0],
            "volume": [10.0, 12.25, 0.0],
        }
    )
    path = tmp_path / "candles.parquet"
    parquet.write_table(table, path)

    run_import(path, symbol, "--timezone", "UTC")

    csv_symbol = symbol.replace("/TEST", "/CSV")
    run_import(write_csv(tmp_path / "good.csv", GOOD), csv_symbol)
    assert [row[:6] for row in stored(symbol)] == [row[:6] for row in stored(csv_symbol)]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--symbol", "btcusdt", "--timeframe", "1m"], "symbol: Enter a symbol as BASE/QUOTE"),
        (["--symbol", "BTC/USDT", "--timeframe", "7x"], "timeframe: Enter a timeframe"),
    ],
)
def test_symbols_and_timeframes_are_validated_as_the_strategies_table_does(
    tmp_path: Path, arguments: list[str], message: str
) -> None:
    with pytest.raises(CommandError, match=message):
        call_command("import_ohlcv", str(write_csv(tmp_path / "good.csv", GOOD)), *arguments)


def test_a_missing_column_is_a_clear_error(tmp_path: Path, symbol: str) -> None:
    path = write_csv(tmp_path / "short.csv", "time,open,high,low,close\n2024-01-01,1,1,1,1\n")
    with pytest.raises(CommandError, match="lacks the column\\(s\\) volume"):
        run_import(path, symbol)


def test_candles_of_another_timeframe_are_stored_and_served(tmp_path: Path, symbol: str) -> None:
    text = "time,open,high,low,close,volume\n2024-01-01,1,2,0.5,1.5,3\n"
    out, err = StringIO(), StringIO()
    call_command("import_ohlcv", str(write_csv(tmp_path / "daily.csv", text)),
                 "--symbol", symbol, "--timeframe", "1d", "--timezone", "UTC",
                 stdout=out, stderr=err)  # fmt: skip

    assert Ohlcv.objects.filter(symbol=symbol, timeframe="1d").count() == 1
    assert "1 written" in out.getvalue()
    assert err.getvalue() == ""  # no note that nothing reads them: the 1d candles are served
    day = candles(symbol=symbol, timeframe="1d", start=dt.datetime(2024, 1, 1, tzinfo=UTC),
                  end=dt.datetime(2024, 1, 2, tzinfo=UTC), limit=10).candles  # fmt: skip
    assert [c.close for c in day] == [Decimal("1.5")]
