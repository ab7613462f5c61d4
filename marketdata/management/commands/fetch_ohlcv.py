"""manage.py fetch_ohlcv --exchange binance --symbol BTC/USDT --timeframe 1m --since 2026-01-01"""

import sys

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from exchanges.errors import ExchangeError
from marketdata.downloads import download_ohlcv
from marketdata.ingest.ohlcv import RowsRejected, parse_time


class ProgressBar:
    """tqdm over the candles expected between the start and now."""

    def __init__(self, stream, *, disable: bool) -> None:
        self.bar = tqdm(file=stream, unit="candle", disable=disable, dynamic_ncols=True)

    def __call__(self, done: int, expected: int) -> None:
        self.bar.total = expected
        self.bar.update(done - self.bar.n)

    def close(self) -> None:
        self.bar.close()


class Command(BaseCommand):
    help = (
        "Download closed candles from an exchange (through ccxt) into ohlcv, after the newest "
        "stored candle of the series or from --since, whichever is later; paged, rate-limit "
        "aware, written through the same upsert as every feed."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--exchange", required=True, help="e.g. binance")
        parser.add_argument("--symbol", required=True, help="BASE/QUOTE, e.g. BTC/USDT")
        parser.add_argument("--timeframe", required=True, help="e.g. 1m, 1h, 1d")
        parser.add_argument(
            "--since",
            help="first candle (ISO date or time, UTC); needed when nothing is stored yet",
        )
        parser.add_argument("--until", help="stop before this time (default: now)")
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args, exchange: str, symbol: str, timeframe: str, **options) -> None:
        since, until = (self._moment(options[name], name) for name in ("since", "until"))
        disable = options["no_progress"] or not sys.stderr.isatty()
        progress = ProgressBar(sys.stderr, disable=disable)
        try:
            report = download_ohlcv(
                exchange=exchange,
                symbol=symbol,
                timeframe=timeframe,
                since=since,
                until=until,
                progress=progress,
            )
        except ValidationError as error:
            raise CommandError("; ".join(f"{k}: {' '.join(v)}" for k, v in error)) from error
        except RowsRejected as rejected:
            reasons = "; ".join(f"{bad.line}: {bad.reason}" for bad in rejected.report.bad_rows)
            raise CommandError(f"The exchange sent impossible candles ({reasons}).") from None
        except ExchangeError as error:
            raise CommandError(str(error)) from None
        finally:
            progress.close()
        how = "resumed after the newest stored candle" if report.resumed else "from --since"
        span = (
            f"{report.first:%Y-%m-%d %H:%M} to {report.last:%Y-%m-%d %H:%M}"
            if report.first
            else "nothing new"
        )
        self.stdout.write(
            self.style.SUCCESS(
                f"{exchange} {symbol} {timeframe}: {report.candles} candles in {report.pages} "
                f"page(s), {report.written} written ({span}; {how}, "
                f"{report.start:%Y-%m-%d %H:%M})."
            )
        )

    @staticmethod
    def _moment(value: str | None, name: str):
        if value is None:
            return None
        try:
            return parse_time(value)
        except (ValueError, OverflowError) as error:
            raise CommandError(f"--{name}: not a date or time: {value!r}") from error
