"""manage.py generate_ohlcv --symbol X --timeframe 1m --bars N --seed S [--output FILE]"""

from datetime import UTC, datetime

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from marketdata.services import load_candle_rows, validate_series
from marketdata.synthetic import csv_lines, synthetic_candles
from marketdata.timeframes import Timeframe


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
        try:
            validate_series(symbol=options["symbol"], timeframe=options["timeframe"])
        except ValidationError as error:
            raise CommandError("; ".join(f"{k}: {' '.join(v)}" for k, v in error)) from error
        frame = Timeframe.parse(options["timeframe"])
        if frame.width is None:
            raise CommandError("Synthetic candles need a fixed-width timeframe (not months).")
        if options["bars"] < 1:
            raise CommandError("--bars must be at least 1.")
        if options["start"]:
            start = datetime.fromisoformat(options["start"])
            start = start if start.tzinfo else start.replace(tzinfo=UTC)
        else:
            start = frame.floor(datetime.now(UTC)) - frame.width * (options["bars"] - 1)
        candles = synthetic_candles(
            bars=options["bars"],
            timeframe=frame.code,
            start=start,
            seed=options["seed"],
            price=options["price"],
        )
        if options["output"]:
            with open(options["output"], "w") as output:
                for text in csv_lines(candles):
                    output.write(text)
            self.stdout.write(f"Wrote {options['bars']} candles to {options['output']}.")
            return

        def rows():
            values = zip(
                range(2, options["bars"] + 2),
                candles["time"].astype(datetime),
                *(candles[k].astype(str) for k in ("open", "high", "low", "close", "volume")),
                strict=True,
            )
            return ((line, t.replace(tzinfo=UTC), *rest) for line, t, *rest in values)

        result = load_candle_rows(
            rows=rows,
            symbol=options["symbol"],
            timeframe=frame.code,
            source=options["source"],
        )
        self.stdout.write(
            self.style.SUCCESS(
                f"{options['symbol']} {frame.code}: {result.report.rows_written} synthetic "
                f"candles written from {start.isoformat()}."
            )
        )
