"""Reading candle files row by row, never the whole file: CSV with a header row naming the columns
(any order and case, the usual aliases), CSV without one (Binance public-data klines), Parquet,
Feather (Arrow IPC) and freqtrade's JSON; plain, gzip-compressed, or the one CSV in a zip.

Each row comes out as (line number, time, open, high, low, close, volume) with the values as
the file holds them (text for CSV and JSON; numbers, texts or datetimes for Arrow formats); the
times are read by marketdata.ingest.times. Line numbers are the file's own (a header is line 1)
so that a reported bad row can be found in an editor; for Parquet, Feather and JSON they count
rows from 1.
"""

import csv
import gzip
import io
import os
import re
import zipfile
from collections.abc import Callable, Iterable, Iterator
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from operator import itemgetter
from pathlib import Path
from typing import IO, Any

TIME_COLUMNS = ("time", "timestamp", "date", "datetime", "open_time", "open time")
VALUE_COLUMNS = ("open", "high", "low", "close", "volume")
ADJUSTED_CLOSE_COLUMNS = ("adj close", "adj_close", "adjclose", "adjusted close", "adjusted_close")
BATCH_ROWS = 65_536

Row = tuple[int, Any, Any, Any, Any, Any, Any]
Progress = Callable[[int, int], None]


class FileFormatError(ValueError):
    """The file as a whole cannot be read: no header, missing columns, unknown format."""


def column_positions(header: list[str], *, adjusted: bool = False) -> list[int]:
    """Positions of time, open, high, low, close, volume in a header row (and of the adjusted
    close after them, with `adjusted`).

    `time` may also be called timestamp, date, datetime or open_time, or be an unnamed first
    column (as pandas writes its index). `Adj Close` is ignored unless `adjusted`."""
    names = [name.strip().lower().lstrip("\ufeff") for name in header]
    time_position = next((names.index(alias) for alias in TIME_COLUMNS if alias in names), None)
    if time_position is None and names and names[0] in ("", "unnamed: 0"):
        time_position = 0
    if time_position is None and "__index_level_0__" in names:  # pandas' index in Parquet
        time_position = names.index("__index_level_0__")
    missing = [column for column in VALUE_COLUMNS if column not in names]
    if time_position is None:
        missing.insert(0, "time")
    adjusted_position = next((names.index(a) for a in ADJUSTED_CLOSE_COLUMNS if a in names), None)
    if adjusted and adjusted_position is None:
        missing.append("Adj Close (asked for with --adjusted)")
    if missing:
        raise FileFormatError(
            f"The header row lacks the column(s) {', '.join(missing)}; it has: "
            f"{', '.join(header) or '(nothing)'}."
        )
    positions = [time_position, *(names.index(column) for column in VALUE_COLUMNS)]
    return [*positions, adjusted_position] if adjusted else positions


EIGHT_DECIMALS = Decimal("1e-8")


def _adjust(o: Any, h: Any, lo: Any, c: Any, adjusted_close: Any) -> tuple[str, ...]:
    """Open, high, low and close scaled so that close becomes the adjusted close (splits and
    dividends, as Yahoo's `Adj Close`), rounded to the columns' 8 decimals."""
    try:
        factor = Decimal(str(adjusted_close).strip()) / Decimal(str(c).strip())
        if not factor.is_finite() or factor <= 0:
            raise InvalidOperation
        return tuple(
            str((Decimal(str(x).strip()) * factor).quantize(EIGHT_DECIMALS, ROUND_HALF_UP))
            for x in (o, h, lo, c)
        )
    except (InvalidOperation, ArithmeticError, ValueError):
        return ("NaN",) * 4  # reported as a bad row by the loader


class _CountingReader(io.RawIOBase):
    """A binary file that counts the bytes read, for the progress bar."""

    def __init__(self, raw: IO[bytes]) -> None:
        self.raw = raw
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        size = self.raw.readinto(buffer)
        self.count += size or 0
        return size


class _TextSource:
    """A text file (plain, .gz, or the one .csv in a .zip) and how far into it reading is."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self._binary: IO[bytes] = open(path, "rb")  # noqa: SIM115 - closed in close()
        self._member: IO[bytes] | None = None
        lower = self.path.lower()
        if lower.endswith(".zip"):
            archive = zipfile.ZipFile(self._binary)
            members = [m for m in archive.infolist() if not m.is_dir()]
            if len(members) != 1:
                self.close()
                raise FileFormatError(
                    f"{Path(path).name}: a zip must hold exactly one candle file; it holds "
                    f"{len(members)}."
                )
            self.total = members[0].file_size
            self._member = archive.open(members[0])
            counting = _CountingReader(self._member)
            stream: IO[bytes] = io.BufferedReader(counting, 1 << 20)
        elif lower.endswith(".gz"):
            self.total = os.path.getsize(path)
            counting = _CountingReader(self._binary)
            stream = gzip.GzipFile(fileobj=io.BufferedReader(counting, 1 << 20))
        else:
            self.total = os.path.getsize(path)
            counting = _CountingReader(self._binary)
            stream = io.BufferedReader(counting, 1 << 20)
        self._counting = counting
        self.text = io.TextIOWrapper(stream, encoding="utf-8-sig", newline="")

    @property
    def done(self) -> int:
        return min(self._counting.count, self.total)

    def close(self) -> None:
        if self._member is not None:
            self._member.close()
        self._binary.close()

    def __enter__(self) -> "_TextSource":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def first_csv_row(path: str | Path) -> list[str] | None:
    """The first non-blank row of a CSV file (for format detection)."""
    with _TextSource(path) as source:
        for fields in csv.reader(source.text):
            if fields and fields != [""]:
                return fields
    return None


def looks_like_numbers(fields: list[str]) -> bool:
    try:
        for field in fields:
            float(field)
    except ValueError:
        return False
    return True


def read_csv_rows(
    path: str | Path,
    *,
    header: bool = True,
    adjusted: bool = False,
    progress: Progress | None = None,
) -> Iterator[Row]:
    """Rows of a CSV file; with `header`, the first row names the columns; without, the first six
    columns are time, open, high, low, close, volume (Binance klines: the other six are ignored)
    and a first row that does not start with a number is skipped as a header."""
    with _TextSource(path) as source:
        reader = csv.reader(source.text)
        if header:
            names = next(reader, None)
            if names is None:
                raise FileFormatError("The file is empty: it needs a header row.")
            positions = column_positions(names, adjusted=adjusted)
        else:
            positions = [0, 1, 2, 3, 4, 5]
        pick = itemgetter(*positions)
        width = max(positions) + 1
        first = not header
        for count, fields in enumerate(reader, start=1):
            if len(fields) < width:
                if not fields or fields == [""]:
                    continue  # blank line
                yield (reader.line_num, *([None] * 6))  # reported as a short row
                continue
            if first:
                first = False
                if not looks_like_numbers(fields[:1]) and not looks_like_numbers(fields[1:6]):
                    continue  # the header of a Binance file that has one
            if adjusted:
                moment, o, h, lo, c, v, adjusted_close = pick(fields)
                yield (reader.line_num, moment, *_adjust(o, h, lo, c, adjusted_close), v)
            else:
                yield (reader.line_num, *pick(fields))
            if progress is not None and count % 100_000 == 0:
                progress(source.done, source.total)
        if progress is not None:
            progress(source.total, source.total)


def _arrow_columns(names: list[str]) -> list[str]:
    return [names[position] for position in column_positions(names)]


def _batch_rows(batches: Iterable[Any], columns: list[str], total: int, progress) -> Iterator[Row]:
    import pyarrow as pa
    import pyarrow.compute as pc

    line = 0
    for batch in batches:
        values = []
        for column in columns:
            array = batch.column(batch.schema.get_field_index(column))
            if pa.types.is_timestamp(array.type) and array.type.unit == "ns":
                # As datetimes: microseconds are the finest a candle can start on.
                array = pc.cast(array, pa.timestamp("us", tz=array.type.tz), safe=False)
            values.append(array.to_pylist())
        for row in zip(*values, strict=True):
            line += 1
            yield (line, *row)
        if progress is not None:
            progress(line, total)


def read_parquet_rows(path: str | Path, *, progress: Progress | None = None) -> Iterator[Row]:
    import pyarrow.parquet as parquet

    parquet_file = parquet.ParquetFile(path)
    columns = _arrow_columns(parquet_file.schema_arrow.names)
    batches = parquet_file.iter_batches(batch_size=BATCH_ROWS, columns=columns)
    yield from _batch_rows(batches, columns, parquet_file.metadata.num_rows, progress)


def read_feather_rows(path: str | Path, *, progress: Progress | None = None) -> Iterator[Row]:
    """Feather v2 (Arrow IPC, as pandas and freqtrade write it) batch by batch, memory-mapped;
    a Feather v1 file is read whole."""
    import pyarrow as pa
    import pyarrow.feather as feather

    try:
        reader = pa.ipc.open_file(pa.memory_map(str(path)))
    except pa.ArrowInvalid:
        table = feather.read_table(str(path))
        columns = _arrow_columns(table.column_names)
        yield from _batch_rows(table.to_batches(BATCH_ROWS), columns, table.num_rows, progress)
        return
    columns = _arrow_columns(reader.schema.names)
    total = reader.count_rows()  # from the batches' metadata
    batches = (reader.get_batch(i) for i in range(reader.num_record_batches))
    yield from _batch_rows(batches, columns, total, progress)


_JSON_ROW = re.compile(r"\[([^\[\]]*)\]")


def read_json_rows(path: str | Path, *, progress: Progress | None = None) -> Iterator[Row]:
    """freqtrade's JSON candles (`.json`, `.json.gz`): a list of [ms, open, high, low, close,
    volume], read in chunks with the numbers kept as text."""
    with _TextSource(path) as source:
        head = source.text.read(1 << 16)
        if not head.lstrip().startswith("["):
            raise FileFormatError(
                f"{Path(path).name}: not a JSON list of [time, open, high, low, close, volume]."
            )
        line = 0
        tail = head
        while True:
            end = 0
            for match in _JSON_ROW.finditer(tail):
                end = match.end()
                line += 1
                fields = [field.strip().strip('"') for field in match.group(1).split(",")]
                if len(fields) < 6:
                    yield (line, *([None] * 6))
                else:
                    yield (line, *fields[:6])
            tail = tail[end:]
            chunk = source.text.read(1 << 20)
            if not chunk:
                break
            tail += chunk
            if progress is not None:
                progress(source.done, source.total)
        if progress is not None:
            progress(source.total, source.total)


def read_rows(path: str | Path, *, progress: Progress | None = None) -> Iterator[Row]:
    """The rows of one candle file of any format recognized by auto-detection, times read
    without a time zone (see marketdata.ingest.formats for the options)."""
    from marketdata.ingest.formats import inspect_file

    yield from inspect_file(path).rows(progress=progress)
