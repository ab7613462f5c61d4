"""Reading candle files row by row, never the whole file: CSV (header row naming the columns in
any order and case) and Parquet (read in record batches with pyarrow).

Each row comes out as (line number, time, open, high, low, close, volume) with the values as the
file holds them (text for CSV; numbers, text or datetimes for Parquet). Line numbers are the
file's own (the header is line 1) so that a reported bad row can be found in an editor; for
Parquet they count rows from 1.
"""

import csv
import io
import os
from collections.abc import Callable, Iterator
from operator import itemgetter
from pathlib import Path
from typing import Any

TIME_COLUMNS = ("time", "timestamp", "date", "datetime")
VALUE_COLUMNS = ("open", "high", "low", "close", "volume")
PARQUET_SUFFIXES = (".parquet", ".pq")

Row = tuple[int, Any, Any, Any, Any, Any, Any]
Progress = Callable[[int, int], None]


class FileFormatError(ValueError):
    """The file as a whole cannot be read: no header, missing columns, unknown format."""


def column_positions(header: list[str]) -> list[int]:
    """Positions of time, open, high, low, close, volume in a header row.

    `time` may also be called timestamp, date or datetime, or be an unnamed first column (as
    pandas writes its index)."""
    names = [name.strip().lower().lstrip("\ufeff") for name in header]
    time_position = next((names.index(alias) for alias in TIME_COLUMNS if alias in names), None)
    if time_position is None and names and names[0] == "":
        time_position = 0
    missing = [column for column in VALUE_COLUMNS if column not in names]
    if time_position is None:
        missing.insert(0, "time")
    if missing:
        raise FileFormatError(
            f"The header row lacks the column(s) {', '.join(missing)}; it has: "
            f"{', '.join(header) or '(nothing)'}."
        )
    return [time_position, *(names.index(column) for column in VALUE_COLUMNS)]


class _CountingReader(io.RawIOBase):
    """A binary file that counts the bytes read, for the progress bar."""

    def __init__(self, raw: io.BufferedReader) -> None:
        self.raw = raw
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        size = self.raw.readinto(buffer)
        self.count += size or 0
        return size


def read_rows(path: str | Path, *, progress: Progress | None = None) -> Iterator[Row]:
    if str(path).lower().endswith(PARQUET_SUFFIXES):
        yield from read_parquet_rows(path, progress=progress)
    else:
        yield from read_csv_rows(path, progress=progress)


def read_csv_rows(path: str | Path, *, progress: Progress | None = None) -> Iterator[Row]:
    total = os.path.getsize(path)
    with open(path, "rb") as binary:
        counting = _CountingReader(binary)
        text = io.TextIOWrapper(
            io.BufferedReader(counting, 1 << 20), encoding="utf-8-sig", newline=""
        )
        reader = csv.reader(text)
        header = next(reader, None)
        if header is None:
            raise FileFormatError("The file is empty: it needs a header row.")
        pick = itemgetter(*column_positions(header))
        width = max(column_positions(header)) + 1
        for count, fields in enumerate(reader, start=1):
            if len(fields) < width:
                if not fields or fields == [""]:
                    continue  # blank line
                yield (reader.line_num, *([None] * 6))  # reported as a short row
                continue
            yield (reader.line_num, *pick(fields))
            if progress is not None and count % 100_000 == 0:
                progress(counting.count, total)
        if progress is not None:
            progress(total, total)


def read_parquet_rows(path: str | Path, *, progress: Progress | None = None) -> Iterator[Row]:
    try:
        import pyarrow.parquet as parquet
    except ImportError as error:  # pragma: no cover - pyarrow is in requirements.txt
        raise FileFormatError("Reading Parquet needs pyarrow.") from error
    parquet_file = parquet.ParquetFile(path)
    names = parquet_file.schema_arrow.names
    positions = column_positions(names)
    columns = [names[position] for position in positions]
    total = parquet_file.metadata.num_rows
    line = 0
    for batch in parquet_file.iter_batches(batch_size=65_536, columns=columns):
        values = [batch.column(column).to_pylist() for column in columns]
        for row in zip(*values, strict=True):
            line += 1
            yield (line, *row)
        if progress is not None:
            progress(line, total)
