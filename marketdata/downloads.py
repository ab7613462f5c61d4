"""Candle downloads from an exchange into `ohlcv`, through the exchanges adapter (ccxt) and the
same write path as every feed (`marketdata.services.upsert_candles`: rollups and the ticker follow).

Incremental: a download starts after the newest stored candle of the series (or at `since`,
whichever is later), so running it again fetches only what is new. Each page is written in a
transaction of its own, so an interrupted download keeps what it wrote and the next run resumes
after it. Only closed candles are fetched (see ExchangeClient.candle_pages), so the newest stored
candle is final. See docs/exchanges.md.
"""

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.core.exceptions import ValidationError
from django.utils import timezone

from exchanges.client import CCXT_IDS, ExchangeClient
from exchanges.connections import public_client
from exchanges.records import Candle
from marketdata.selectors import latest_candle_time
from marketdata.services import CandleInput, upsert_candles, validate_series
from marketdata.timeframes import Timeframe
from marketdata.timescale import TIMESERIES_DB

Progress = Callable[[int, int], None]
ONE_MILLISECOND = timedelta(milliseconds=1)


@dataclass
class DownloadReport:
    exchange: str
    symbol: str
    timeframe: str
    start: datetime
    resumed: bool
    candles: int = 0
    written: int = 0
    pages: int = 0
    first: datetime | None = None
    last: datetime | None = None


def _check_target(*, exchange: str, symbol: str, timeframe: str) -> None:
    errors: dict[str, list[str]] = {}
    try:
        validate_series(symbol=symbol, timeframe=timeframe)
    except ValidationError as error:
        errors.update(error.message_dict)
    if exchange not in CCXT_IDS:
        errors["exchange"] = [f"Choose one of {', '.join(sorted(CCXT_IDS))}."]
    if errors:
        raise ValidationError(errors)


def _as_utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def download_start(
    *,
    symbol: str,
    timeframe: str,
    since: datetime | None,
    using: str = TIMESERIES_DB,
) -> tuple[datetime, bool]:
    """Where a download begins and whether that is a resume: after the newest stored candle, or
    at `since` if that is later. ValidationError when nothing is stored and no `since` is given."""
    newest = latest_candle_time(symbol=symbol, timeframe=timeframe, using=using)
    if newest is None:
        if since is None:
            raise ValidationError(
                {"since": [f"No {symbol} {timeframe} candles are stored yet: give a start date."]}
            )
        return _as_utc(since), False
    width = Timeframe.parse(timeframe).width
    after_newest = newest + (width or ONE_MILLISECOND)  # months: the next candle after it
    if since is not None and _as_utc(since) > after_newest:
        return _as_utc(since), False
    return after_newest, True


def download_ohlcv(
    *,
    exchange: str,
    symbol: str,
    timeframe: str,
    since: datetime | None = None,
    until: datetime | None = None,
    progress: Progress | None = None,
    client: ExchangeClient | None = None,
    page_size: int = 1000,
    sleep: Callable[[float], None] = time.sleep,
    using: str = TIMESERIES_DB,
) -> DownloadReport:
    """Download the closed candles of one series from `exchange` into ohlcv (source = the
    exchange's name). `progress(done, expected)` counts candles.

    Raises ValidationError for a bad series or a missing start, and exchanges.errors for what
    the exchange refuses (unknown market or timeframe) or keeps refusing (rate limits, outages
    past the retries)."""
    _check_target(exchange=exchange, symbol=symbol, timeframe=timeframe)
    start, resumed = download_start(symbol=symbol, timeframe=timeframe, since=since, using=using)
    report = DownloadReport(exchange, symbol, timeframe, start=start, resumed=resumed)
    owned = client is None
    client = client or public_client(exchange)
    try:
        width = timedelta(milliseconds=client.timeframe_milliseconds(timeframe))
        horizon = min(_as_utc(until), timezone.now()) if until else timezone.now()
        expected = max(0, int((horizon - start) / width))
        if progress is not None:
            progress(0, expected)
        for page in client.candle_pages(
            symbol=symbol,
            timeframe=timeframe,
            since=start,
            until=until,
            page_size=page_size,
            sleep=sleep,
        ):
            report.written += _store(page, symbol=symbol, timeframe=timeframe, source=exchange,
                                     using=using)  # fmt: skip
            report.pages += 1
            report.candles += len(page)
            report.first = report.first or page[0].time
            report.last = page[-1].time
            if progress is not None:
                progress(report.candles, max(expected, report.candles))
    finally:
        if owned:
            client.close()
    return report


def _store(page: Sequence[Candle], *, symbol: str, timeframe: str, source: str, using: str) -> int:
    candles = [
        CandleInput(
            time=candle.time,
            open=candle.open,
            high=candle.high,
            low=candle.low,
            close=candle.close,
            volume=candle.volume,
        )
        for candle in page
    ]
    return upsert_candles(
        symbol=symbol, timeframe=timeframe, candles=candles, source=source, using=using
    )
