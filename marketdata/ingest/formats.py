"""Which kind of candle file a file is, what its name says, and which files a command line means.

Formats: `csv` (a header row naming the columns), `binance` (Binance public-data klines: no
header, twelve columns, open time in epoch milliseconds or microseconds), `parquet`, `feather`
(freqtrade's default), `json` (freqtrade's `.json` / `.json.gz`). `auto` decides by suffix and,
for text files, by whether the first row is a header. Everything that can be refused about a
file as a whole (unknown format, missing columns, naive times without a time zone) is refused
here, before any candle is written.
"""

import glob
import re
import zipfile
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from marketdata.ingest.files import (
    FileFormatError,
    Progress,
    Row,
    column_positions,
    first_csv_row,
    looks_like_numbers,
    read_csv_rows,
    read_feather_rows,
    read_json_rows,
    read_parquet_rows,
)
from marketdata.ingest.times import NUMBER, TIME_UNITS, epoch_unit, time_reader, with_times

FORMATS = ("auto", "csv", "binance", "parquet", "feather", "json")
CANDLE_SUFFIXES = (
    ".csv", ".csv.gz", ".zip", ".txt", ".parquet", ".pq", ".feather", ".arrow", ".json", ".json.gz"
)  # fmt: skip
UNIT_WORDS = {"s": "seconds", "ms": "milliseconds", "us": "microseconds", "ns": "nanoseconds"}
# freqtrade: BTC_USDT-1m.feather, ETH_BTC-1d.json.gz (the candle type suffix -spot is optional).
FREQTRADE_NAME = re.compile(
    r"(?P<base>[A-Za-z0-9]+)_(?P<quote>[A-Za-z0-9]+)-(?P<timeframe>[0-9]+(?:Mo|[mhdwM]))"
    r"(?:-spot)?\.(?:feather|parquet|json|json\.gz|csv)"
)
# Binance public data: BTCUSDT-1m-2024-01.zip, BTCUSDT-1m-2024-01-15.csv (symbol not splittable).
BINANCE_NAME = re.compile(
    r"[A-Z0-9]+-(?P<timeframe>[0-9]+[smhdwM])-[0-9]{4}-[0-9]{2}(?:-[0-9]{2})?\.(?:csv|zip)"
)


@dataclass(frozen=True)
class ReadOptions:
    format: str = "auto"
    time_unit: str | None = None
    zone: tzinfo | None = None
    adjusted: bool = False


def parse_zone(name: str) -> tzinfo:
    """An IANA time zone (`UTC`, `Europe/Berlin`, `America/New_York`)."""
    if name.strip().upper() in ("UTC", "Z", "ETC/UTC"):
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise FileFormatError(
            f"Unknown time zone {name!r}: use an IANA name such as UTC or America/New_York."
        ) from error


def names_from_file_name(name: str) -> tuple[str | None, str | None]:
    """(symbol, timeframe) as freqtrade's and Binance's file names give them, else None."""
    match = FREQTRADE_NAME.fullmatch(name)
    if match:
        timeframe = match["timeframe"].replace("Mo", "M")
        return f"{match['base'].upper()}/{match['quote'].upper()}", timeframe
    match = BINANCE_NAME.fullmatch(name)
    if match:
        return None, match["timeframe"]
    return None, None


@dataclass(frozen=True)
class CandleFile:
    """One file, its format as recognized (`description` says so) and what its name says."""

    path: Path
    format: str
    description: str
    options: ReadOptions
    symbol: str | None = None
    timeframe: str | None = None

    def raw_rows(self, *, progress: Progress | None = None) -> Generator[Row]:
        if self.format == "csv":
            return read_csv_rows(self.path, adjusted=self.options.adjusted, progress=progress)
        if self.format == "binance":
            return read_csv_rows(self.path, header=False, progress=progress)
        if self.format == "parquet":
            return read_parquet_rows(self.path, progress=progress)
        if self.format == "feather":
            return read_feather_rows(self.path, progress=progress)
        return read_json_rows(self.path, progress=progress)

    def rows(self, *, progress: Progress | None = None, line_offset: int = 0) -> Iterator[Row]:
        """The file's rows with their times read (aware datetimes, see time_reader), their line
        numbers moved by `line_offset`."""
        read_time = time_reader(unit=self.options.time_unit, zone=self.options.zone)
        return with_times(
            self.raw_rows(progress=progress),
            read_time,
            name=self.path.name,
            line_offset=line_offset,
        )


def _format_by_suffix(path: Path) -> str | None:
    name = path.name.lower()
    if name.endswith((".parquet", ".pq")):
        return "parquet"
    if name.endswith((".feather", ".arrow")):
        return "feather"
    if name.endswith((".json", ".json.gz")):
        return "json"
    return None


def _text_format(path: Path) -> tuple[str, str]:
    try:
        first = first_csv_row(path)
    except UnicodeDecodeError as error:
        raise FileFormatError(f"{path.name}: not a text file of a known format.") from error
    if first is None:
        raise FileFormatError(f"{path.name}: the file is empty.")
    if len(first) >= 6 and looks_like_numbers(first[1:6]):
        if len(first) == 12:
            return "binance", "Binance klines (no header, 12 columns)"
        return "binance", f"CSV without header ({len(first)} columns, the first six used)"
    return "csv", "CSV with header"


DESCRIPTIONS = {
    "csv": "CSV with header",
    "binance": "Binance klines (no header)",
    "parquet": "Parquet",
    "feather": "freqtrade Feather",
    "json": "freqtrade JSON",
}


def _describe_time(value: Any, options: ReadOptions) -> str:
    zone = f" in {options.zone}" if options.zone is not None else ""
    if isinstance(value, str) and NUMBER.fullmatch(value.strip()):
        value = int(value.strip().partition(".")[0])
    if isinstance(value, int) and not isinstance(value, bool):
        unit = options.time_unit or epoch_unit(value)
        guessed = "" if options.time_unit else " (by size)"
        return f"epoch {UNIT_WORDS[unit]}{guessed}"
    if isinstance(value, datetime):
        return "timestamps with time zone" if value.tzinfo else f"timestamps{zone}"
    if isinstance(value, str):
        try:
            aware = datetime.fromisoformat(value.strip()).tzinfo is not None
        except ValueError:
            return "times"
        return "ISO 8601 times with offset" if aware else f"ISO 8601 times{zone}"
    return "times"


def inspect_file(path: str | Path, options: ReadOptions | None = None) -> CandleFile:
    """Recognize `path`'s format (or take the forced one) and check what can be checked before
    reading it: the columns, and that its first time can be placed in time."""
    options = options or ReadOptions()
    path = Path(path)
    if not path.is_file():
        raise FileFormatError(f"No such file: {path}")
    if options.time_unit is not None and options.time_unit not in TIME_UNITS:
        raise FileFormatError(f"--time-unit must be one of {', '.join(TIME_UNITS)}.")
    kind = options.format
    if kind == "auto":
        kind = _format_by_suffix(path)
        description = DESCRIPTIONS[kind] if kind else None
        if kind is None:
            kind, description = _text_format(path)
    elif kind in DESCRIPTIONS:
        description = DESCRIPTIONS[kind]
    else:
        raise FileFormatError(f"Unknown format {kind!r}: one of {', '.join(FORMATS)}.")
    if kind == "csv":
        header = first_csv_row(path)
        column_positions(header or [], adjusted=options.adjusted)
    symbol, timeframe = names_from_file_name(path.name)
    candle_file = CandleFile(path, kind, description, options, symbol, timeframe)
    rows = candle_file.raw_rows()
    try:
        first = next(rows, None)
    except FileFormatError:
        raise
    except (UnicodeDecodeError, ValueError, OSError, EOFError, zipfile.BadZipFile) as error:
        raise FileFormatError(f"{path.name} cannot be read as {description}: {error}") from error
    finally:
        rows.close()
    if first is not None and first[1] is not None:
        next(with_times(iter([first]), time_reader(zone=options.zone), name=path.name))
        description = f"{description}, {_describe_time(first[1], options)}"
    elif first is None:
        description = f"{description}, no rows"
    return CandleFile(path, kind, description, options, symbol, timeframe)


def expand_paths(arguments: list[str]) -> list[Path]:
    """The files that command-line arguments name: files, directories (the candle files directly
    in them, not trades files) and globs, in name order, each once."""
    found: list[Path] = []
    for argument in arguments:
        path = Path(argument)
        if path.is_dir():
            files = sorted(
                p
                for p in path.iterdir()
                if p.is_file()
                and p.name.lower().endswith(CANDLE_SUFFIXES)
                and "-trades." not in p.name
            )
            if not files:
                raise FileFormatError(f"{argument}: no candle files in this directory.")
            found += files
        elif path.is_file():
            found.append(path)
        elif glob.has_magic(argument):
            matches = sorted(Path(p) for p in glob.glob(argument) if Path(p).is_file())
            if not matches:
                raise FileFormatError(f"{argument}: no file matches.")
            found += matches
        else:
            raise FileFormatError(f"No such file or directory: {argument}")
    return list(dict.fromkeys(found))
