"""manage.py import_ohlcv PATH [PATH ...] [--symbol BTC/USDT] [--timeframe 1m] [--format auto]
[--time-unit ms] [--timezone UTC] [--adjusted] [--source NAME] [--skip-invalid] [--dry-run]"""

import sys

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from marketdata.ingest.candle_files import SeriesOutcome, import_candle_files
from marketdata.ingest.files import FileFormatError
from marketdata.ingest.formats import FORMATS, ReadOptions, expand_paths, inspect_file, parse_zone
from marketdata.ingest.times import TIME_UNITS
from marketdata.models import DEFAULT_SOURCE

MAX_GAPS_SHOWN = 10


class ProgressBar:
    """One tqdm bar over the bytes of every file."""

    def __init__(self, stream) -> None:
        self.bar = tqdm(total=0, unit="B", unit_scale=True, file=stream, dynamic_ncols=True)

    def __call__(self, done: int, total: int) -> None:
        self.bar.total = total
        self.bar.update(done - self.bar.n)

    def close(self) -> None:
        self.bar.close()


class Command(BaseCommand):
    help = (
        "Load candle files into ohlcv: CSV with a header, Binance klines, freqtrade Feather, "
        "Parquet or JSON; several files, a directory or a glob. Each series (symbol, timeframe) "
        "is loaded in one transaction: bad rows are reported by line and nothing of the series "
        "is written unless --skip-invalid."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("paths", nargs="+", metavar="PATH", help="files, directories, globs")
        parser.add_argument(
            "--symbol", help="BASE/QUOTE, e.g. BTC/USDT (default: from freqtrade file names)"
        )
        parser.add_argument(
            "--timeframe", help="e.g. 1m, 1h, 1d (default: from freqtrade/Binance file names)"
        )
        parser.add_argument("--format", default="auto", choices=FORMATS)
        parser.add_argument(
            "--time-unit", choices=TIME_UNITS, help="of epoch times (default: by their size)"
        )
        parser.add_argument(
            "--timezone",
            help="IANA zone of times without a UTC offset (refused without it), e.g. UTC",
        )
        parser.add_argument(
            "--adjusted",
            action="store_true",
            help="scale open/high/low/close so that close is the Adj Close column",
        )
        parser.add_argument("--source", default=DEFAULT_SOURCE)
        parser.add_argument(
            "--skip-invalid", action="store_true", help="write the good rows, report the bad"
        )
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="check everything and report per series what would be written; write nothing",
        )
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args, paths: list[str], **options) -> None:
        try:
            read_options = ReadOptions(
                format=options["format"],
                time_unit=options["time_unit"],
                zone=parse_zone(options["timezone"]) if options["timezone"] else None,
                adjusted=options["adjusted"],
            )
            files = [inspect_file(path, read_options) for path in expand_paths(paths)]
        except (FileFormatError, OSError, UnicodeDecodeError) as error:
            raise CommandError(str(error)) from error
        self.several = len(files) > 1
        if self.several or options["format"] == "auto":
            for candle_file in files:
                self.stdout.write(f"{candle_file.path.name}: {candle_file.description}")
        bar = None
        if not options["no_progress"] and sys.stderr.isatty():
            bar = ProgressBar(sys.stderr)
        try:
            outcomes = import_candle_files(
                files,
                symbol=options["symbol"],
                timeframe=options["timeframe"],
                source=options["source"],
                skip_invalid=options["skip_invalid"],
                dry_run=options["dry_run"],
                progress=bar,
            )
        except ValidationError as error:
            raise CommandError("; ".join(f"{k}: {' '.join(v)}" for k, v in error)) from error
        except FileFormatError as error:
            raise CommandError(str(error)) from error
        finally:
            if bar is not None:
                bar.close()
        for outcome in outcomes:
            self._report(outcome, dry_run=options["dry_run"])
        failed = [outcome for outcome in outcomes if outcome.refused or outcome.error]
        if failed:
            raise CommandError(self._failure(failed, outcomes, dry_run=options["dry_run"]))

    def _report(self, outcome: SeriesOutcome, *, dry_run: bool) -> None:
        series, report = outcome.series, outcome.report
        for bad in report.bad_rows:
            self.stderr.write(series.describe(bad, with_file=self.several))
        if report.bad_count > len(report.bad_rows):
            self.stderr.write(f"... and {report.bad_count - len(report.bad_rows)} more")
        if outcome.error:
            self.stderr.write(f"{series.name}: {outcome.error}")
            return
        files = f"{len(series.files)} files, " if len(series.files) > 1 else ""
        if dry_run:
            self._report_preview(outcome, files)
            return
        if outcome.refused:
            return
        seconds = outcome.seconds_loading
        rate = report.rows_valid / seconds if seconds else 0
        self.stdout.write(
            self.style.SUCCESS(
                f"{series.name}: {files}{report.rows_read} rows read, {report.rows_written} "
                f"written, {report.rows_unchanged} unchanged, {report.bad_count} skipped as "
                f"invalid; loaded in {seconds:.2f} s ({rate:,.0f} rows/s), "
                f"rollups refreshed in {outcome.seconds_refreshing:.2f} s."
            )
        )

    def _report_preview(self, outcome: SeriesOutcome, files: str) -> None:
        preview, report = outcome.preview, outcome.report
        span = (
            f"{report.earliest.isoformat()} to {report.latest.isoformat()}"
            if report.earliest
            else "no candles"
        )
        if outcome.refused:
            writes = "would write nothing (bad rows; --skip-invalid writes the good ones)"
        else:
            writes = (
                f"would write {preview.would_write} ({preview.new} new, {preview.changed} "
                f"changed), {preview.unchanged} unchanged"
            )
        self.stdout.write(
            f"{outcome.series.name} (dry run): {files}{report.rows_read} rows read, "
            f"{report.bad_count} bad; {span}; {preview.candles} candles, {preview.missing} "
            f"missing in {len(preview.gaps)} gap(s); {writes}. Nothing was written."
        )
        for gap in preview.gaps[:MAX_GAPS_SHOWN]:
            self.stdout.write(
                f"  gap: {gap.missing} missing after {gap.after.isoformat()} "
                f"(next {gap.before.isoformat()})"
            )
        if len(preview.gaps) > MAX_GAPS_SHOWN:
            self.stdout.write(f"  ... and {len(preview.gaps) - MAX_GAPS_SHOWN} more gaps")

    def _failure(
        self, failed: list[SeriesOutcome], outcomes: list[SeriesOutcome], *, dry_run: bool
    ) -> str:
        parts = []
        for outcome in failed:
            series = outcome.series
            where = (
                series.files[0].path.name
                if len(series.files) == 1
                else f"{len(series.files)} files"
            )
            if outcome.error:
                parts.append(f"{series.name}: {where} could not be read")
            else:
                parts.append(f"{outcome.report.bad_count} bad row(s) in {where}")
        verb = "would be written" if dry_run else "was written"
        message = "; ".join(parts) + f"; nothing {verb}"
        if len(outcomes) > 1:
            names = ", ".join(outcome.series.name for outcome in failed)
            message += f" of {names} (the other series {'would be' if dry_run else 'were'} "
            message += "written)"
        message += "."
        if any(outcome.refused for outcome in failed):
            message += " Fix them or pass --skip-invalid to load the good rows."
        return message
