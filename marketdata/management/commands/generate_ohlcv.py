"""manage.py generate_ohlcv --symbol X --timeframe 1m --bars N --seed S [--output FILE]"""

from datetime import datetime

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from marketdata.ingest.ohlcv import RowsRejected
from marketdata.services import generate_synthetic_ohlcv, synthetic_series
from marketdata.synthetic import csv_lines


class Command(BaseCommand):
    help = (
        "Generate realistic synthetic candles (GBM with clustered volatility) and load them into "
        "ohlcv, or write them to a CSV file with --output."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--symbol", required=True)
        parser.add_argument("--timeframe", default="1m")
        parser.add_argument("--bars", type=int, required=True)
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--price", type=float, default=30_000.0)
        parser.add_argument(
            "--start", help="first candle (ISO 8601, UTC); default: so the last one is now"
        )
        parser.add_argument("--source", default="synthetic")
        parser.add_argument("--output", help="write CSV here instead of loading")

    def handle(self, *args, **options) -> None:
        start = None
        if options["start"]:
            try:
                start = datetime.fromisoformat(options["start"])
            except ValueError as error:
                raise CommandError(f"--start: not an ISO 8601 time: {options['start']}") from error
        series = {key: options[key] for key in ("symbol", "timeframe", "bars", "seed", "price")}
        try:
            if options["output"]:
                candles = synthetic_series(**series, start=start)
                with open(options["output"], "w") as output:
                    for text in csv_lines(candles):
                        output.write(text)
                self.stdout.write(f"Wrote {options['bars']} candles to {options['output']}.")
                return
            result = generate_synthetic_ohlcv(**series, start=start, source=options["source"])
        except ValidationError as error:
            raise CommandError("; ".join(f"{k}: {' '.join(v)}" for k, v in error)) from error
        except RowsRejected as rejected:
            first = rejected.report.bad_rows[0]
            raise CommandError(
                f"{rejected.report.bad_count} generated candle(s) could not be stored (the first:"
                f" {first.reason}); nothing was written. Try a lower --price or fewer --bars."
            ) from rejected
        self.stdout.write(
            self.style.SUCCESS(
                f"{options['symbol']} {options['timeframe']}: {result.report.rows_written} "
                f"synthetic candles written, {result.report.earliest:%Y-%m-%d %H:%M} to "
                f"{result.report.latest:%Y-%m-%d %H:%M} UTC."
            )
        )
