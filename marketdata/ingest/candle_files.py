"""Importing many candle files at once: files are grouped into series (symbol, timeframe) and
each series is loaded in one transaction through `marketdata.services.load_candle_rows`, so a
bad row in its fifth file writes nothing of that series (unless `skip_invalid`); other series
are loaded on their own. A dry run previews each series instead (marketdata.ingest.preview).

Line numbers: rows of the k-th file of a series carry `k * LINE_STRIDE + line`, so one load can
report bad rows of any of its files; `locate()` turns them back into (file, line).
"""

import re
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from marketdata.ingest import bulk_copy
from marketdata.ingest.files import FileFormatError, Progress, Row
from marketdata.ingest.formats import CandleFile
from marketdata.ingest.ohlcv import TIMESERIES, BadRow, BulkLoad, LoadReport, RowsRejected
from marketdata.ingest.preview import Preview, preview_candles
from marketdata.services import load_candle_rows, validate_series

LINE_STRIDE = 10**12
_FIRST_AT = re.compile(r"first at line ([0-9]+)")


@dataclass
class Series:
    symbol: str
    timeframe: str
    files: list[CandleFile] = field(default_factory=list)

    @property
    def name(self) -> str:
        return f"{self.symbol} {self.timeframe}"

    def locate(self, line: int) -> tuple[Path, int]:
        index, local = divmod(line, LINE_STRIDE)
        return self.files[index].path, local

    def describe(self, bad: BadRow, *, with_file: bool) -> str:
        """`line N: reason`, or `FILE line N: reason` where several files are read."""
        path, line = self.locate(bad.line)

        def where(match: re.Match) -> str:
            other, other_line = self.locate(int(match[1]))
            named = f"{other.name} line" if with_file and other != path else "line"
            return f"first at {named} {other_line}"

        reason = _FIRST_AT.sub(where, bad.reason)
        return f"{path.name} line {line}: {reason}" if with_file else f"line {line}: {reason}"

    def bulk_load(self, *, source: str, progress: "ImportProgress | None") -> BulkLoad | None:
        """The bulk COPY of every file of the series (bulk_copy), when their formats allow."""
        if not all(bulk_copy.takes(candle_file) for candle_file in self.files):
            return None

        def load(cursor, not_before: datetime | None) -> LoadReport:
            return bulk_copy.copy_series(
                cursor,
                self.files,
                symbol=self.symbol,
                timeframe=self.timeframe,
                source=source,
                not_before=not_before,
                progress=None if progress is None else lambda f: progress.for_file(f.path),
            )

        return load

    def rows(self, progress: "ImportProgress | None" = None) -> Iterator[Row]:
        for index, candle_file in enumerate(self.files):
            report = None if progress is None else progress.for_file(candle_file.path)
            yield from candle_file.rows(progress=report, line_offset=index * LINE_STRIDE)


class ImportProgress:
    """One progress figure over every file: bytes of the files on disk, each file's own progress
    (bytes or rows) scaled onto its size."""

    def __init__(self, paths: list[Path], report: Progress) -> None:
        self.sizes = {path: max(path.stat().st_size, 1) for path in paths}
        self.total = sum(self.sizes.values())
        self.report = report
        self.bases: dict[Path, int] = {}
        base = 0
        for path in paths:
            self.bases[path] = base
            base += self.sizes[path]

    def for_file(self, path: Path) -> Progress:
        base, size = self.bases[path], self.sizes[path]

        def report(done: int, total: int) -> None:
            fraction = done / total if total else 1.0
            self.report(base + int(size * fraction), self.total)

        return report


def group_series(
    files: list[CandleFile], *, symbol: str | None, timeframe: str | None
) -> list[Series]:
    """Files grouped by (symbol, timeframe): given ones, else those their names say. Raises
    FileFormatError naming the files whose series cannot be told."""
    series: dict[tuple[str, str], Series] = {}
    unknown = []
    for candle_file in files:
        key = (symbol or candle_file.symbol, timeframe or candle_file.timeframe)
        if key[0] is None or key[1] is None:
            missing = " and ".join(
                option
                for option, value in (("--symbol", key[0]), ("--timeframe", key[1]))
                if value is None
            )
            unknown.append(f"{candle_file.path.name} (pass {missing})")
            continue
        series.setdefault(key, Series(*key)).files.append(candle_file)
    if unknown:
        raise FileFormatError(
            "The symbol or timeframe cannot be read from the file name of "
            + ", ".join(unknown)
            + "; names like BTC_USDT-1m.feather (freqtrade) or BTCUSDT-1m-2024-01.zip (Binance, "
            "timeframe only) carry them."
        )
    return list(series.values())


@dataclass
class SeriesOutcome:
    series: Series
    report: LoadReport
    refused: bool = False  # bad rows and no skip_invalid: nothing of the series was written
    error: str | None = None  # a file of the series could not be read: nothing written
    seconds_loading: float = 0.0
    seconds_refreshing: float = 0.0
    preview: Preview | None = None


def import_series(
    series: Series,
    *,
    source: str,
    skip_invalid: bool = False,
    dry_run: bool = False,
    progress: ImportProgress | None = None,
    using: str = TIMESERIES,
) -> SeriesOutcome:
    """Load (or, with `dry_run`, preview) one series from all its files in one transaction."""
    validate_series(symbol=series.symbol, timeframe=series.timeframe)

    def rows() -> Iterator[Row]:
        return series.rows(progress)

    try:
        if dry_run:
            started = time.perf_counter()
            preview = preview_candles(
                rows, symbol=series.symbol, timeframe=series.timeframe, source=source, using=using
            )
            return SeriesOutcome(
                series,
                preview.report,
                refused=bool(preview.report.bad_count) and not skip_invalid,
                seconds_loading=time.perf_counter() - started,
                preview=preview,
            )
        result = load_candle_rows(
            rows=rows,
            symbol=series.symbol,
            timeframe=series.timeframe,
            source=source,
            skip_invalid=skip_invalid,
            bulk=series.bulk_load(source=source, progress=progress),
            using=using,
        )
    except RowsRejected as rejected:
        return SeriesOutcome(series, rejected.report, refused=True)
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as error:
        # FileFormatError, UnicodeDecodeError, pyarrow's ArrowInvalid are ValueErrors; a
        # truncated gzip is an EOFError. The series' transaction has been rolled back.
        return SeriesOutcome(series, LoadReport(), error=str(error))
    return SeriesOutcome(
        series,
        result.report,
        seconds_loading=result.seconds_loading,
        seconds_refreshing=result.seconds_refreshing,
    )


def import_candle_files(
    files: list[CandleFile],
    *,
    symbol: str | None,
    timeframe: str | None,
    source: str,
    skip_invalid: bool = False,
    dry_run: bool = False,
    progress: Progress | None = None,
    using: str = TIMESERIES,
) -> list[SeriesOutcome]:
    """Import (or preview) `files` series by series, each in its own transaction. Every series
    is validated before the first is loaded."""
    all_series = group_series(files, symbol=symbol, timeframe=timeframe)
    for series in all_series:
        validate_series(symbol=series.symbol, timeframe=series.timeframe)
    tracker = None
    if progress is not None:
        tracker = ImportProgress([f.path for s in all_series for f in s.files], progress)
    outcomes = []
    for series in all_series:
        outcome = import_series(
            series,
            source=source,
            skip_invalid=skip_invalid,
            dry_run=dry_run,
            progress=tracker,
            using=using,
        )
        outcomes.append(outcome)
    return outcomes
