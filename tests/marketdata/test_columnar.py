"""Binary COPY of (timestamptz, numeric × 5) decoded by NumPy: every value is float(Decimal) of
the stored one (correctly rounded), large values and row-like bytes inside a row included; what
the decoder cannot read takes the row path, with the same values."""

import datetime as dt
from decimal import Decimal

import numpy as np
import pytest
from django.db import connections

from marketdata import columnar

pytestmark = pytest.mark.django_db(databases=["timeseries"])

START = dt.datetime(2024, 3, 4, tzinfo=dt.UTC)
QUERY = (
    "SELECT t, o, h, l, c, v FROM unnest(%(t)s::timestamptz[], %(o)s::numeric[], "
    "%(h)s::numeric[], %(l)s::numeric[], %(c)s::numeric[], %(v)s::numeric[]) AS r(t, o, h, l, c, v)"
)
KEYS = ("open", "high", "low", "close", "volume")


def params(columns: list[list[Decimal]]) -> dict:
    times = [START + dt.timedelta(minutes=i) for i in range(len(columns[0]))]
    return dict(zip("tohlcv", [times, *columns], strict=True))


def binary_copy(columns: list[list[Decimal]]) -> bytearray:
    data = bytearray()
    with (
        connections["timeseries"].cursor() as cursor,
        cursor.cursor.copy(f"COPY ({QUERY}) TO STDOUT (FORMAT binary)", params(columns)) as copy,
    ):
        for chunk in copy:
            data += chunk
    return data


def assert_values(arrays: dict, columns: list[list[Decimal]]) -> None:
    count = len(columns[0])
    assert arrays["time"].tolist() == [
        np.datetime64((START + dt.timedelta(minutes=i)).replace(tzinfo=None), "ns").item()
        for i in range(count)
    ]
    for key, values in zip(KEYS, columns, strict=True):
        assert arrays[key].dtype == np.float64
        assert arrays[key].tolist() == [float(v) for v in values]


def test_every_magnitude_decodes_to_float_of_the_decimal() -> None:
    rng = np.random.default_rng(11)
    columns = []
    for _key in KEYS:
        units = rng.integers(0, 10**18, 2000, dtype=np.int64) // 10 ** rng.integers(0, 18, 2000)
        values = [Decimal(int(u)).scaleb(-8) for u in units]
        values[:8] = [Decimal(0), Decimal("0.00000001"), Decimal("90071992.54740993"),
                      Decimal("99999999.99999999"), Decimal("100000000"),
                      Decimal("1234567890123456.12345678"), Decimal("-5.5"),
                      Decimal("-123456789.00000001")]  # fmt: skip
        columns.append(values)

    arrays = columnar.decode_binary_rows(binary_copy(columns))

    assert arrays is not None
    assert_values(arrays, columns)


def test_row_like_bytes_inside_a_row_are_not_taken_for_a_row() -> None:
    """A close whose last base-10000 digit is 6 followed by a volume of 0 holds the words a row
    opens with (6, then length 8)."""
    closes = [Decimal("100.0006"), Decimal("7.00000006"), Decimal("6"), Decimal("12.5")]
    columns = [closes, closes, closes, closes, [Decimal(0)] * 4]

    arrays = columnar.decode_binary_rows(binary_copy(columns))

    assert arrays is not None
    assert_values(arrays, columns)


def test_what_the_decoder_cannot_read_takes_the_row_path_with_the_same_values() -> None:
    finer = [Decimal("1.000000001"), Decimal("2")]  # 9 decimals: not in 1e-8 units
    columns = [finer, finer, finer, finer, [Decimal(1), Decimal(2)]]
    assert columnar.decode_binary_rows(binary_copy(columns)) is None

    arrays = columnar.copy_arrays(connections["timeseries"], QUERY, params(columns))

    assert_values(arrays, columns)


def test_no_rows_and_foreign_bytes() -> None:
    empty = columnar.decode_binary_rows(binary_copy([[]] * 5))

    assert empty is not None and all(len(array) == 0 for array in empty.values())
    assert columnar.decode_binary_rows(b"not a copy") is None


def test_copy_arrays_reads_no_rows_and_leaves_the_connection_usable() -> None:
    arrays = columnar.copy_arrays(connections["timeseries"], QUERY, params([[]] * 5))

    assert all(len(array) == 0 for array in arrays.values())
    with connections["timeseries"].cursor() as cursor:
        cursor.execute("SELECT 1")
        assert cursor.fetchone() == (1,)


@pytest.mark.parametrize("count", [1, 2, 3, 4, 6, 7, 10])
def test_rows_decoded_in_slices_as_they_arrive_give_the_same_arrays(monkeypatch, count) -> None:
    # Slices of 3 rows: the first (with the header) and the last (with the trailer) partly
    # filled, exactly filled or alone.
    monkeypatch.setattr(columnar, "CHUNK_ROWS", 3)
    prices = [Decimal(f"{100 + i}.{i:02d}") for i in range(count)]
    columns = [prices, prices, prices, prices, [Decimal(i) for i in range(count)]]
    slices = []
    decode = columnar.decode_binary_rows
    monkeypatch.setattr(
        columnar, "decode_binary_rows", lambda data: slices.append(decode(data)) or slices[-1]
    )

    arrays = columnar.copy_arrays(connections["timeseries"], QUERY, params(columns))

    assert_values(arrays, columns)
    # Decoded slice by slice (not by the row path): 3 rows each, the last with what is left.
    assert [len(part["close"]) for part in slices] == [3] * (count // 3) + [count % 3]


def test_a_slice_the_decoder_declines_sends_the_whole_read_the_row_path(monkeypatch) -> None:
    monkeypatch.setattr(columnar, "CHUNK_ROWS", 3)
    plain = [Decimal(f"{100 + i}") for i in range(8)]
    finer = [*plain[:7], Decimal("1.000000001")]  # 9 decimals in the third slice only
    columns = [plain, plain, plain, finer, plain]
    calls = []
    decode = columnar.decode_binary_rows
    monkeypatch.setattr(
        columnar, "decode_binary_rows", lambda data: calls.append(1) or decode(data)
    )

    arrays = columnar.copy_arrays(connections["timeseries"], QUERY, params(columns))

    assert len(calls) == 3  # two slices decoded, the third declined
    assert_values(arrays, columns)
