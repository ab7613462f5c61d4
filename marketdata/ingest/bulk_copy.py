"""The fast way into ohlcv for text candle files: whole blocks of a CSV (or Binance klines) file
are read by Arrow as text columns, checked at once, and sent to PostgreSQL as binary COPY rows,
so that no Python code runs per row and the server parses no text.

It only takes files in which every row is plainly good: times as ISO 8601 with an offset (or
without one when the zone is UTC) or as whole epoch seconds/milliseconds/microseconds/nanoseconds,
on the timeframe's grid and inside the retention horizon; prices and volumes as decimal numbers
with at most 8 decimals inside their columns' ranges, satisfying `valid_ohlcv`. Anything else
(a bad row, an unusual but valid value such as a price with 9 decimals, a quoted newline, a
monthly timeframe) raises NeedsRowPath, and the caller loads the file the row-by-row way
(marketdata.ingest.ohlcv._stage), which decides and reports every row exactly as before. Every row
accepted here is one that way accepts, stored with the same value: Arrow's decimal parser takes
only numbers that PostgreSQL's numeric and Python's float() read alike (`1e5`, `+1`, `.5` included;
spaces, `NaN`, `1_000` refused), and a number needing rounding is refused rather than rounded.
"""

import gzip
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import psycopg
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
from psycopg.copy import QueuedLibpqWriter

from marketdata.ingest.files import Progress, column_positions, first_csv_row
from marketdata.ingest.formats import CandleFile
from marketdata.ingest.hourly_buckets import HourlyBuckets
from marketdata.ingest.ohlcv import LoadReport, NeedsRowPath
from marketdata.timeframes import FIXED_ORIGIN, Timeframe

BLOCK_BYTES = 1 << 22
COPY_SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + bytes(8)  # signature, flags, header extension
COPY_TRAILER = b"\xff\xff"
COPY_COLUMNS = "time, open, high, low, close, volume, symbol, timeframe, source"

_ISO_TIME = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}:[0-9]{2}(Z|[+-][0-9]{2}:[0-9]{2})?$"
_EPOCH_TIME = r"^[0-9]{1,18}$"
_PER_SECOND = {"s": 1, "ms": 1000, "us": 1_000_000, "ns": 1_000_000_000}
_MICROS = 1_000_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_PG_EPOCH_SECONDS = 946_684_800  # 2000-01-01, PostgreSQL's timestamp epoch
_FIRST_YEAR_SECONDS = -62_135_596_800  # 0001-01-01, Python's first year
_LAST_SECOND = 253_402_300_800  # 10000-01-01, past Python's last year
_SCALE = 10**8  # 8 decimals
_PRICE_LIMIT = 10**10 * _SCALE  # NUMERIC(18,8); volumes are held below 2**63 / 10**8 here
_NUMERIC_DIGITS = 5  # base-10000 digits per value: 3 before the point (weight 2), 2 after


@dataclass
class CopyBlock:
    """Binary COPY rows of a block of a file, and what they hold."""

    data: bytes
    moments: np.ndarray  # microseconds since 1970-01-01 UTC
    values: tuple[np.ndarray, ...]  # open, high, low, close, volume, scaled by 10**8

    @property
    def rows(self) -> int:
        return len(self.moments)


def takes(candle_file: CandleFile) -> bool:
    """Whether the file's format is one this path reads (it may still give up on its rows)."""
    return candle_file.format in ("csv", "binance") and not candle_file.options.adjusted


def _open_binary(path) -> tuple[object, object]:
    """(stream for Arrow, the raw file for the bytes read so far)."""
    raw = open(path, "rb")  # noqa: SIM115 - closed by the caller
    lower = str(path).lower()
    if lower.endswith(".zip"):
        archive = zipfile.ZipFile(raw)
        members = [m for m in archive.infolist() if not m.is_dir()]
        if len(members) != 1:
            raw.close()
            raise NeedsRowPath
        return archive.open(members[0]), raw
    if lower.endswith(".gz"):
        return gzip.GzipFile(fileobj=raw), raw
    return raw, raw


def text_blocks(
    candle_file: CandleFile, progress: Progress | None = None
) -> Iterator[list[pa.Array]]:
    """The file's time, open, high, low, close and volume as text columns, block by block."""
    header = candle_file.format == "csv"
    if header:
        positions = column_positions(first_csv_row(candle_file.path) or [])
    else:
        positions = [0, 1, 2, 3, 4, 5]
    names = [f"f{position}" for position in positions]
    stream, raw = _open_binary(candle_file.path)
    total = max(candle_file.path.stat().st_size, 1)
    try:
        reader = pa_csv.open_csv(
            stream,
            read_options=pa_csv.ReadOptions(
                use_threads=False,
                block_size=BLOCK_BYTES,
                skip_rows=1 if header else 0,
                autogenerate_column_names=True,
            ),
            convert_options=pa_csv.ConvertOptions(
                column_types={name: pa.string() for name in names},
                include_columns=names,
                strings_can_be_null=False,
            ),
        )
        while True:
            try:
                batch = reader.read_next_batch()
            except StopIteration:
                break
            if progress is not None:
                progress(min(raw.tell(), total), total)
            yield [batch.column(name) for name in names]
    except (pa.ArrowInvalid, UnicodeDecodeError) as error:
        raise NeedsRowPath from error
    finally:
        stream.close()
        raw.close()
    if progress is not None:
        progress(total, total)


def _all(mask) -> bool:
    return bool(np.all(mask))


def _seconds_from_iso(texts: pa.Array, zone) -> np.ndarray:
    if not pc.all(pc.match_substring_regex(texts, _ISO_TIME)).as_py():
        raise NeedsRowPath
    base = pc.cast(pc.utf8_slice_codeunits(texts, 0, 19), pa.timestamp("s"))
    seconds = pc.cast(base, pa.int64()).to_numpy()
    lengths = pc.utf8_length(texts).to_numpy()
    if _all(lengths == 19):  # no offset: only UTC places them as the row-by-row path does
        if zone is not UTC:
            raise NeedsRowPath
        return seconds
    if not _all(lengths > 19):
        raise NeedsRowPath
    signs = pc.utf8_slice_codeunits(texts, 19, 20)
    zulu = pc.equal(signs, "Z")
    if pc.all(zulu).as_py():
        return seconds
    if pc.any(zulu).as_py():  # some Z, some offsets
        texts = pc.replace_substring_regex(texts, "Z$", "+00:00")
        signs = pc.utf8_slice_codeunits(texts, 19, 20)
    minus = pc.equal(signs, "-")
    if not pc.all(pc.or_(minus, pc.equal(signs, "+"))).as_py():
        raise NeedsRowPath
    hours = pc.cast(pc.utf8_slice_codeunits(texts, 20, 22), pa.int64()).to_numpy()
    minutes = pc.cast(pc.utf8_slice_codeunits(texts, 23, 25), pa.int64()).to_numpy()
    if not _all((hours < 24) & (minutes < 60)):
        raise NeedsRowPath
    offsets = (hours * 3600 + minutes * 60) * np.where(minus.to_numpy(zero_copy_only=False), -1, 1)
    return seconds - offsets


def _seconds_from_epoch(texts: pa.Array, unit: str | None) -> np.ndarray:
    if not pc.all(pc.match_substring_regex(texts, _EPOCH_TIME)).as_py():
        raise NeedsRowPath
    numbers = pc.cast(texts, pa.int64()).to_numpy()
    if unit is not None:
        per_second = np.full(numbers.shape, _PER_SECOND[unit], dtype=np.int64)
    else:  # by size, as marketdata.ingest.times.epoch_unit
        per_second = np.select(
            [numbers < 10**11, numbers < 10**14, numbers < 10**17],
            [1, 1000, 1_000_000],
            default=1_000_000_000,
        ).astype(np.int64)
    seconds, rest = np.divmod(numbers, per_second)
    if not _all(rest == 0):  # a fraction of a second: no 1m+ candle starts there
        raise NeedsRowPath
    return seconds


def _times_us(texts: pa.Array, candle_file: CandleFile) -> np.ndarray:
    """Microseconds since 1970 UTC of every row's time, as the row-by-row path reads them."""
    options = candle_file.options
    try:
        if len(texts) and texts[0].as_py().isdigit():
            seconds = _seconds_from_epoch(texts, options.time_unit)
        else:
            seconds = _seconds_from_iso(texts, options.zone)
    except pa.ArrowInvalid as error:  # an impossible date (30 February, hour 24)
        raise NeedsRowPath from error
    if not _all((seconds >= _FIRST_YEAR_SECONDS) & (seconds < _LAST_SECOND)):
        raise NeedsRowPath
    return seconds * _MICROS


def _scaled(texts: pa.Array) -> np.ndarray:
    """The numbers times 10**8 (all of them exact at 8 decimals and below 2**63 / 10**8)."""
    try:
        decimals = pc.cast(texts, pa.decimal128(38, 8))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as error:
        raise NeedsRowPath from error
    if decimals.null_count:
        raise NeedsRowPath
    words = np.frombuffer(decimals.buffers()[1], dtype=np.int64)
    words = words[2 * decimals.offset : 2 * (decimals.offset + len(decimals))]
    low, high = words[0::2], words[1::2]
    # A 128-bit value that fits 64 bits: the high word is the low word's sign extension.
    if not _all(high == (low >> 63)):
        raise NeedsRowPath
    return low


def _numeric_fields(values: np.ndarray, out: np.ndarray, name: str) -> None:
    """Binary NUMERIC of `values` (scaled by 10**8): 5 base-10000 digits, weight 2, scale 8.
    PostgreSQL strips the leading and trailing zero digits as it stores them."""
    magnitude = np.abs(values)
    whole, fraction = np.divmod(magnitude, _SCALE)
    out[f"{name}_length"] = 8 + 2 * _NUMERIC_DIGITS
    out[f"{name}_ndigits"] = _NUMERIC_DIGITS
    out[f"{name}_weight"] = 2
    out[f"{name}_sign"] = np.where(values < 0, 0x4000, 0)
    out[f"{name}_dscale"] = 8
    digits = out[f"{name}_digits"]
    digits[:, 0] = whole // 10**8
    digits[:, 1] = (whole // 10**4) % 10**4
    digits[:, 2] = whole % 10**4
    digits[:, 3] = fraction // 10**4
    digits[:, 4] = fraction % 10**4


def _text_field(value: str) -> bytes:
    encoded = value.encode()
    return len(encoded).to_bytes(4, "big") + encoded


_VALUES = ("open", "high", "low", "close", "volume")


def _row_dtype(suffix_bytes: int) -> np.dtype:
    fields: list[tuple] = [("count", ">i2"), ("time_length", ">i4"), ("time", ">i8")]
    for name in _VALUES:
        fields += [
            (f"{name}_length", ">i4"),
            (f"{name}_ndigits", ">i2"),
            (f"{name}_weight", ">i2"),
            (f"{name}_sign", ">u2"),
            (f"{name}_dscale", ">u2"),
            (f"{name}_digits", ">u2", (_NUMERIC_DIGITS,)),
        ]
    fields.append(("suffix", f"V{suffix_bytes}"))
    return np.dtype(fields)


class BlockEncoder:
    """Checks blocks of text columns and encodes them as binary COPY rows of one series."""

    def __init__(
        self,
        candle_file: CandleFile,
        *,
        symbol: str,
        timeframe: str,
        source: str,
        not_before: datetime | None,
    ) -> None:
        frame = Timeframe.parse(timeframe)
        if frame.width is None:  # months: their grid is the row-by-row path's
            raise NeedsRowPath
        self.candle_file = candle_file
        self.width_us = frame.width // timedelta(microseconds=1)
        self.origin_us = (FIXED_ORIGIN - _EPOCH) // timedelta(microseconds=1)
        self.not_before_us = (
            None if not_before is None else (not_before - _EPOCH) // timedelta(microseconds=1)
        )
        suffix = _text_field(symbol) + _text_field(timeframe) + _text_field(source)
        self.suffix = np.frombuffer(suffix, dtype=f"V{len(suffix)}")[0]
        self.dtype = _row_dtype(len(suffix))

    def encode(self, block: list[pa.Array]) -> CopyBlock | None:
        """Raises NeedsRowPath unless every row of the block is plainly good; None for no rows."""
        times, *texts = block
        if not len(times):
            return None
        moments = _times_us(times, self.candle_file)
        if not _all((moments - self.origin_us) % self.width_us == 0):
            raise NeedsRowPath  # off the timeframe's grid
        if self.not_before_us is not None and not _all(moments >= self.not_before_us):
            raise NeedsRowPath  # past the retention horizon
        o, h, lo, c, v = (_scaled(column) for column in texts)
        if not _all(
            (np.maximum(np.abs(lo), np.abs(h)) < _PRICE_LIMIT)
            & (lo <= h)
            & (lo <= o)
            & (o <= h)
            & (lo <= c)
            & (c <= h)
            & (v >= 0)
        ):
            raise NeedsRowPath  # a bad row, or a number too large for this path
        out = np.empty(len(moments), dtype=self.dtype)
        out["count"] = 9
        out["time_length"] = 8
        out["time"] = moments - _PG_EPOCH_SECONDS * _MICROS
        for name, values in zip(_VALUES, (o, h, lo, c, v), strict=True):
            _numeric_fields(values, out, name)
        out["suffix"] = self.suffix
        return CopyBlock(out.tobytes(), moments, (o, h, lo, c, v))


def copy_series(
    cursor: psycopg.Cursor,
    files: list[CandleFile],
    *,
    symbol: str,
    timeframe: str,
    source: str,
    not_before: datetime | None,
    progress: Callable[[CandleFile], Progress | None] | None = None,
) -> LoadReport:
    """COPY every row of `files` straight into ohlcv, in the caller's transaction; raises
    NeedsRowPath (the COPY is then abandoned) unless every row is plainly good. Blocks are read
    and encoded while a psycopg worker thread writes the previous ones to the server. For 1m
    candles the report carries their hourly buckets (marketdata.ingest.hourly_buckets)."""
    report = LoadReport()
    earliest = latest = None
    hourly = HourlyBuckets() if timeframe == "1m" else None
    sql = f"COPY ohlcv ({COPY_COLUMNS}) FROM STDIN (FORMAT binary)"
    with cursor.copy(sql, writer=QueuedLibpqWriter(cursor)) as copy:
        copy.write(COPY_SIGNATURE)
        for candle_file in files:
            encoder = BlockEncoder(
                candle_file,
                symbol=symbol,
                timeframe=timeframe,
                source=source,
                not_before=not_before,
            )
            report_progress = None if progress is None else progress(candle_file)
            for block in text_blocks(candle_file, report_progress):
                encoded = encoder.encode(block)
                if encoded is None:
                    continue
                copy.write(encoded.data)
                report.rows_read += encoded.rows
                first, last = int(encoded.moments.min()), int(encoded.moments.max())
                earliest = first if earliest is None else min(earliest, first)
                latest = last if latest is None else max(latest, last)
                if hourly is not None:
                    hourly.add(encoded.moments, *encoded.values)
        copy.write(COPY_TRAILER)
    report.rows_valid = report.rows_written = report.rows_read
    if hourly is not None:
        report.hourly_rows = hourly.rows()
    if earliest is not None:
        report.earliest = _EPOCH + timedelta(microseconds=earliest)
        report.latest = _EPOCH + timedelta(microseconds=latest)
    return report
