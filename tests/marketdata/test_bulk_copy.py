"""The bulk way into ohlcv (marketdata.ingest.bulk_copy): text files whose rows are all plainly good
go in as binary COPY, checked in blocks; they must be stored exactly as the row-by-row way stores
them, and every file it does not take (a bad row, a duplicate, a value that needs rounding) must
go the row-by-row way with the same reports as before."""

import datetime as dt
import gzip
import zipfile
from decimal import Decimal
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import connections

from marketdata.data_versions import data_version
from marketdata.ingest import bulk_copy
from marketdata.ingest.ohlcv import NeedsRowPath
from marketdata.models import Ohlcv
from tests.marketdata.helpers import write_csv

pytestmark = pytest.mark.django_db(databases=["default", "timeseries"])

UTC = dt.UTC
START = dt.datetime(2024, 3, 1, tzinfo=UTC)


@pytest.fixture
def bulk_outcomes(monkeypatch) -> list[str]:
    """'copied' or 'gave up' per bulk attempt."""
    outcomes: list[str] = []
    real = bulk_copy.copy_series

    def spy(*args, **kwargs):
        try:
            report = real(*args, **kwargs)
        except NeedsRowPath:
            outcomes.append("gave up")
            raise
        except Exception:
            outcomes.append("failed")
            raise
        outcomes.append("copied")
        return report

    monkeypatch.setattr(bulk_copy, "copy_series", spy)
    return outcomes


def stored(symbol: str, timeframe: str = "1m") -> list[tuple]:
    return list(
        Ohlcv.objects.filter(symbol=symbol, timeframe=timeframe)
        .order_by("time")
        .values_list("time", "open", "high", "low", "close", "volume", "source")
    )


def run(*arguments: str) -> str:
    out = StringIO()
    call_command("import_ohlcv", *arguments, stdout=out, stderr=StringIO())
    return out.getvalue()


def refused(*arguments: str) -> tuple[str, str]:
    err = StringIO()
    with pytest.raises(CommandError) as raised:
        call_command("import_ohlcv", *arguments, stdout=StringIO(), stderr=err)
    return str(raised.value), err.getvalue()


# Numbers in the forms files hold them: trailing zeros, none, exponents, a sign, a bare point.
VARIED = """time,open,high,low,close,volume
2024-03-01T00:00:00Z,100.00000000,102.5,99,101.25,0
2024-03-01T00:01:00+00:00,1e2,1.025E2,+99,101.12345678,12.5
2024-03-01 00:02:00+00:00,.5,5.,0.25,0.50000000,3
2024-03-01T05:33:00+05:30,0.00000001,0.00000003,0.00000001,0.00000002,91234567890.12345678
2024-02-29T20:04:00-04:00,9999999999.99999999,9999999999.99999999,-9999999999.99999999,-0.5,1
2024-03-01T00:05:00Z,-3.5,-1,-4,-2,7
"""

NAIVE = """time,open,high,low,close,volume
2024-03-01T00:00:00,100,102.5,99,101.25,0
2024-03-01 00:01:00,1e2,1.025E2,+99,101.12345678,12.5
"""


def klines(count: int, *, factor: int) -> str:
    start_ms = int(START.timestamp()) * 1000
    return "".join(
        f"{(start_ms + 60_000 * i) * factor},{100 + i}.5,{102 + i},{99 + i},{101 + i},{i}.125,"
        f"{(start_ms + 60_000 * i + 59_999) * factor},1000.5,42,1,2,0\n"
        for i in range(count)
    )


def _bytes(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _gzip(path: Path, text: str) -> Path:
    with gzip.open(path, "wt") as file:
        file.write(text)
    return path


def _zip(path: Path, text: str) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(path.with_suffix(".csv").name, text)
    return path


@pytest.mark.parametrize(
    ("name", "make", "options"),
    [
        ("varied.csv", lambda p: write_csv(p, VARIED), []),
        ("varied.csv.gz", lambda p: _gzip(p, VARIED), []),
        ("BTCUSDT-1m-2024-03.zip", lambda p: _zip(p, klines(30, factor=1)), []),
        ("BTCUSDT-1m-2024-03.csv", lambda p: write_csv(p, klines(30, factor=1000)), []),
        ("naive.csv", lambda p: write_csv(p, NAIVE), ["--timezone", "UTC"]),
        (
            "columns.csv",  # other columns, another order, CRLF line ends, a blank line
            lambda p: _bytes(
                p,
                b"Volume,Close,x,Date,High,Low,Open\r\n7,101,a,2024-03-01T00:00:00Z,102,99,100"
                b"\r\n\r\n8,100,b,2024-03-01T00:01:00Z,101,98,99\r\n",
            ),
            [],
        ),
    ],
)
def test_the_bulk_way_stores_what_the_row_way_stores(
    tmp_path, monkeypatch, bulk_outcomes, symbol, name, make, options
):
    path = make(tmp_path / name)
    bulk_symbol, row_symbol = symbol, symbol.replace("/", "Z/")
    run(str(path), "--symbol", bulk_symbol, "--timeframe", "1m", "--source", "file", *options)
    assert bulk_outcomes == ["copied"]
    monkeypatch.setattr(bulk_copy, "takes", lambda candle_file: False)
    run(str(path), "--symbol", row_symbol, "--timeframe", "1m", "--source", "file", *options)
    assert bulk_outcomes == ["copied"]  # the row way, not tried again
    assert stored(bulk_symbol) == stored(row_symbol)
    assert len(stored(bulk_symbol)) >= 2


def test_the_stored_values_are_the_files(tmp_path, bulk_outcomes, symbol):
    run(str(write_csv(tmp_path / "v.csv", VARIED)), "--symbol", symbol, "--timeframe", "1m")
    assert bulk_outcomes == ["copied"]
    rows = stored(symbol)
    d = Decimal
    assert rows[0] == (START, d(100), d("102.5"), d(99), d("101.25"), d(0), "binance")
    assert rows[1][1:6] == (d(100), d("102.5"), d(99), d("101.12345678"), d("12.5"))
    assert rows[2][1:6] == (d("0.5"), d(5), d("0.25"), d("0.5"), d(3))
    assert rows[3] == (
        START + dt.timedelta(minutes=3),
        d("0.00000001"),
        d("0.00000003"),
        d("0.00000001"),
        d("0.00000002"),
        d("91234567890.12345678"),
        "binance",
    )
    assert rows[4][0] == START + dt.timedelta(minutes=4)
    assert rows[4][1:4] == (d("9999999999.99999999"), d("9999999999.99999999"), -rows[4][2])
    assert rows[5][1:6] == (d("-3.5"), d(-1), d(-4), d(-2), d(7))


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        ("2024-03-01T00:03:00Z,100,99,101,100,1", "high < low"),
        ("2024-03-01T00:03:00Z,100,102,99,103,1", "close outside [low, high]"),
        ("2024-03-01T00:03:00Z,100,102,99,101,-1", "negative volume"),
        ("2024-03-01T00:03:30Z,100,102,99,101,1", "is not on a 1m boundary"),
        ("2024-03-01T00:03:00Z,100,102,99,101,NaN", "not a finite number"),
        ("2024-03-01T00:03:00Z,1_00,102,99,101,1", "not a number"),
        ("2024-03-01T00:03:00Z,10000000000,10000000000,99,101,1", "out of range"),
        ("2024-02-30T00:03:00Z,100,102,99,101,1", "unparseable time"),
        ("2024-03-01T00:01:00Z,100,102,99,101,1", "duplicate timestamp (first at line 3)"),
        ("2010-03-01T00:03:00Z,100,102,99,101,1", "past ohlcv's retention horizon"),
        ("2024-03-01T00:03:00Z,100,102,99", "missing columns"),
    ],
)
def test_a_bad_row_sends_the_file_the_row_way(tmp_path, bulk_outcomes, symbol, row, reason):
    good = [f"2024-03-01T00:0{i}:00Z,100,102,99,101,{i}" for i in range(3)]
    path = write_csv(
        tmp_path / "bad.csv", "\n".join(["time,open,high,low,close,volume", *good, row, ""])
    )
    message, err = refused(str(path), "--symbol", symbol, "--timeframe", "1m")
    assert bulk_outcomes == ["gave up"] or (
        reason.startswith("duplicate") and bulk_outcomes == ["failed"]
    )
    assert "line 5: " in err and reason in err
    assert "nothing was written" in message
    assert stored(symbol) == []
    run(str(path), "--symbol", symbol, "--timeframe", "1m", "--skip-invalid")
    assert [r[0].minute for r in stored(symbol)] == [0, 1, 2]


def test_a_price_to_round_goes_the_row_way_and_is_rounded(tmp_path, bulk_outcomes, symbol):
    path = write_csv(
        tmp_path / "round.csv",
        "time,open,high,low,close,volume\n2024-03-01T00:00:00Z,100.123456785,102,99,101,1\n",
    )
    run(str(path), "--symbol", symbol, "--timeframe", "1m")
    assert bulk_outcomes == ["gave up"]
    assert stored(symbol)[0][1] == Decimal("100.12345679")


def test_several_files_of_a_series_go_in_together(tmp_path, bulk_outcomes, symbol):
    first = write_csv(
        tmp_path / "a.csv", "time,open,high,low,close,volume\n" + VARIED.split("\n", 1)[1]
    )
    second = write_csv(
        tmp_path / "b.csv", "time,open,high,low,close,volume\n2024-03-02T00:00:00Z,1,2,1,2,3\n"
    )
    out = run(str(first), str(second), "--symbol", symbol, "--timeframe", "1m")
    assert bulk_outcomes == ["copied"]
    assert "2 files, 7 rows read, 7 written" in out
    assert len(stored(symbol)) == 7


def test_a_second_import_goes_the_upsert_way(tmp_path, bulk_outcomes, symbol):
    path = write_csv(tmp_path / "v.csv", VARIED)
    run(str(path), "--symbol", symbol, "--timeframe", "1m")
    out = run(str(path), "--symbol", symbol, "--timeframe", "1m")
    assert bulk_outcomes == ["copied"]  # only a first load of a series is bulk
    assert "0 written, 6 unchanged" in out


def rollup_rows(symbol: str, rollup: str) -> list[tuple]:
    with connections["timeseries"].cursor() as cursor:
        cursor.execute(
            f"SELECT bucket, open, high, low, close, volume, candle_count FROM {rollup} "
            "WHERE symbol = %s ORDER BY bucket",
            [symbol],
        )
        return cursor.fetchall()


def minute_rows(minutes: list[int]) -> str:
    """1m rows of 2024-03-04 from 00:00, shuffled, with negative prices and volumes near the bulk
    way's limit, whose hourly sums exceed 2**63 once scaled by 10**8."""
    monday = dt.datetime(2024, 3, 4, tzinfo=UTC)
    rows = []
    for minute in minutes:
        base = Decimal(minute * 7 % 23 - 11) + Decimal("0.12345678")
        time = (monday + dt.timedelta(minutes=minute)).isoformat()
        rows.append(
            f"{time},{base},{base + 3},{base - 2},{base + Decimal('0.5')},"
            f"{91234567890 - minute}.{minute:08d}"
        )
    return "time,open,high,low,close,volume\n" + "\n".join(rows) + "\n"


@pytest.mark.django_db(databases=["default", "timeseries"], transaction=True)
def test_the_rollups_of_a_bulk_load_are_the_refreshs(tmp_path, monkeypatch, bulk_outcomes, symbol):
    """Plain mode writes the hourly buckets the bulk load computed; they (and the daily buckets
    over them) must be what the refresh computes from the stored candles after a row-by-row load.
    Many small blocks, two files sharing hours, rows out of order."""
    monkeypatch.setattr(bulk_copy, "BLOCK_BYTES", 600)
    even = list(range(0, 180, 2))[::-1]
    odd = [*range(11, 180, 2), 1, 3, 5, 7, 9]
    first = write_csv(tmp_path / "a.csv", minute_rows(even))
    second = write_csv(tmp_path / "b.csv", minute_rows(odd))
    bulk_symbol, row_symbol = symbol, symbol.replace("/", "Z/")
    run(str(first), str(second), "--symbol", bulk_symbol, "--timeframe", "1m")
    assert bulk_outcomes == ["copied"]
    monkeypatch.setattr(bulk_copy, "takes", lambda candle_file: False)
    run(str(first), str(second), "--symbol", row_symbol, "--timeframe", "1m")
    hourly = rollup_rows(bulk_symbol, "ohlcv_1h")
    assert hourly == rollup_rows(row_symbol, "ohlcv_1h")
    assert rollup_rows(bulk_symbol, "ohlcv_1d") == rollup_rows(row_symbol, "ohlcv_1d")
    # By hand, 01:00-01:59: minutes 60..119; open of 60, close of 119, volumes summed.
    monday = dt.datetime(2024, 3, 4, tzinfo=UTC)
    base = {m: Decimal(m * 7 % 23 - 11) + Decimal("0.12345678") for m in range(60, 120)}
    assert hourly[1] == (
        monday + dt.timedelta(hours=1),
        base[60],
        max(base.values()) + 3,
        min(base.values()) - 2,
        base[119] + Decimal("0.5"),
        sum(Decimal(f"{91234567890 - m}.{m:08d}") for m in range(60, 120)),
        60,
    )
    assert len(hourly) == 3


def test_a_bulk_load_moves_the_symbols_data_version(tmp_path, bulk_outcomes, symbol):
    """The array cache is keyed by it: a bulk load must move it as any write does."""
    path = write_csv(tmp_path / "v.csv", VARIED)
    assert data_version(symbol=symbol) is None
    run(str(path), "--symbol", symbol, "--timeframe", "1m")
    first = data_version(symbol=symbol)
    assert bulk_outcomes == ["copied"]
    assert first is not None
    later = write_csv(
        tmp_path / "x.csv", "time,open,high,low,close,volume\n2024-03-05T00:00:00Z,1,2,1,2,3\n"
    )
    run(str(later), "--symbol", symbol, "--timeframe", "1m")
    assert data_version(symbol=symbol) > first
