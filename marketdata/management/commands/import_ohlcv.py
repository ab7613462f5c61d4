"""manage.py import_ohlcv FILE --symbol BTC/USDT --timeframe 1m [--source NAME] [--skip-invalid]"""

import sys

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from marketdata.ingest.files import FileFormatError
from marketdata.ingest.ohlcv import LoadReport, RowsRejected
from marketdata.models import DEFAULT_SOURCE
from marketdata.services import import_ohlcv


class ProgressBar:
    def __init__(self, stream) -> None:
        self.stream = stream

    def __call__(self, done: int, total: int) -> None:
        fraction = done / total if total else 1.0
        filled = int(fraction * 40)
        self.stream.write(f"\r[{'#' * filled}{'.' * (40 - filled)}] {fraction:6.1%}")
        self.stream.flush()
        if done >= total:
            self.stream.write("\n")


class Command(BaseCommand):
    help = (
        "Load candles from a CSV (or Parquet) file into ohlcv: COPY into a staging table, then "
        "upsert on (time, symbol, timeframe). Bad rows are reported by line and nothing is "
        "written unless --skip-invalid."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("file")
        parser.add_argument("--symbol", required=True, help="BASE/QUOTE, e.g. BTC/USDT")
        parser.add_argument("--timeframe", required=True, help="e.g. 1m, 1h, 1d")
        parser.add_argument("--source", default=DEFAULT_SOURCE)
        parser.add_argument(
            "--skip-invalid", action="store_true", help="write the good rows, report the bad"
        )
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args, file: str, symbol: str, timeframe: str, **options) -> None:
        progress = None
        if not options["no_progress"] and sys.stderr.isatty():
            progress = ProgressBar(sys.stderr)
        try:
            result = import_ohlcv(
                path=file,
                symbol=symbol,
                timeframe=timeframe,
                source=options["source"],
                skip_invalid=options["skip_invalid"],
                progress=progress,
            )
        except ValidationError as error:
            raise CommandError("; ".join(f"{k}: {' '.join(v)}" for k, v in error)) from error
        except (FileFormatError, FileNotFoundError, UnicodeDecodeError) as error:
            raise CommandError(str(error)) from error
        except RowsRejected as rejected:
            self._report_bad_rows(rejected.report)
            raise CommandError(
                f"{rejected.report.bad_count} bad row(s) in {file}; nothing was written. "
                "Fix them or pass --skip-invalid to load the good rows."
            ) from rejected
        report = result.report
        self._report_bad_rows(report)
        rate = report.rows_valid / result.seconds_loading if result.seconds_loading else 0
        self.stdout.write(
            self.style.SUCCESS(
                f"{symbol} {timeframe}: {report.rows_read} rows read, {report.rows_written} "
                f"written, {report.rows_unchanged} unchanged, {report.bad_count} skipped as "
                f"invalid; loaded in {result.seconds_loading:.2f} s ({rate:,.0f} rows/s), "
                f"rollups refreshed in {result.seconds_refreshing:.2f} s."
            )
        )

    def _report_bad_rows(self, report: LoadReport) -> None:
        for bad in report.bad_rows:
            self.stderr.write(f"line {bad.line}: {bad.reason}")
        if report.bad_count > len(report.bad_rows):
            self.stderr.write(f"... and {report.bad_count - len(report.bad_rows)} more")
