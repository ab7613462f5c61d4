"""Closed candles of timeframes other than 1m, announced once each after a write commits.

A feed writes 1m candles; strategies and indicator alerts also run on timeframes derived from
them (5m, 15m, 1h, 4h, 1d, 1w ..., whichever fixed-width timeframes they use; monthly ones are
not run). **A bucket of a derived timeframe is closed by a write of 1m candles that reaches its
end**: the write reaches the close of its newest 1m candle, or now if that minute has not ended
yet, so the bucket is closed when the write holds its last minute once that minute is over, or
any later minute. The write announces the newest bucket it closes (the one ending at or just
before what it reaches), as the write of a 1m candle announces only the batch's newest one:

- only for timeframes some app wants for the symbol (`price_events.wanted_timeframes`: the
  timeframes of active strategies and active indicator alerts);
- only when the bucket is recent: it ended at most one of its periods ago (a backfill announces
  nothing, so no strategy trades on old candles);
- only once: `ohlcv_close_announcements` keeps the newest bucket announced per symbol and
  timeframe, moved forward in the writing transaction (`INSERT ... ON CONFLICT DO UPDATE ...
  WHERE bucket < new RETURNING`), so a bucket whose minutes are written again, or arrive out of
  order, or a bucket older than one already announced, is not announced again, and two writes
  racing for one bucket announce it once. A rolled-back write claims nothing.
- with the bucket's values as the candle queries serve them (`selectors.candles`, read after the
  commit, after the rollup refresh that the write's own commit runs): derived from 1m, or the
  candle stored at that timeframe where there is one (docs/timeseries.md, native timeframes). A
  closed bucket with no candle (a gap in the feed) is claimed but not announced.

Candles written at their own timeframe (not 1m) go through the same bookkeeping: the batch's
newest candle is announced when it is recent and newer than the last close announced for its
timeframe, whether that close came from 1m candles or from an earlier native write.
"""

from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Protocol

from django.db import connections, transaction
from django.utils import timezone

from marketdata.price_events import announce_candle_closed, wanted_timeframes
from marketdata.timeframes import Timeframe, TimeframeError

MINUTE = timedelta(minutes=1)


class WrittenCandle(Protocol):
    time: datetime
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal


def now() -> datetime:
    """The moment a write's closes are judged at (a test replaying a feed moves it)."""
    return timezone.now()


def newest_closed_bucket(frame: Timeframe, reached: datetime) -> datetime:
    """The start of the newest bucket of `frame` that ends at or before `reached`."""
    return frame.floor(reached) - frame.width


def derived_closes(
    *, symbol: str, newest_minute: datetime, at: datetime
) -> list[tuple[str, datetime]]:
    """(timeframe, bucket start) of the derived buckets a write of 1m candles up to
    `newest_minute` (the newest candle's open time) closes and should announce: one per wanted
    fixed-width timeframe, when that bucket is recent at `at` (now)."""
    reached = min(at, newest_minute + MINUTE)
    closes = []
    for code in sorted(wanted_timeframes(symbol=symbol)):
        try:
            frame = Timeframe.parse(code)
        except TimeframeError:
            continue
        if frame.code == "1m" or frame.width is None:
            continue
        bucket = newest_closed_bucket(frame, reached)
        if recent(frame, bucket, at):
            closes.append((frame.code, bucket))
    return closes


def recent(frame: Timeframe, bucket: datetime, at: datetime) -> bool:
    """The bucket has ended, at most one period before `at` (the rule for every announced
    close, 1m included)."""
    close_at = frame.after(bucket)
    return close_at <= at <= frame.after(close_at)


def announce_closes_after_commit(
    *, symbol: str, timeframe: str, candles: Sequence[WrittenCandle], using: str
) -> None:
    """Call inside the transaction that wrote `candles` of `symbol` at `timeframe`: claim the
    closes they bring (module doc) and announce the claimed ones after the commit."""
    if not candles:
        return
    moment = now()
    newest = max(candles, key=lambda candle: candle.time)
    if timeframe == "1m":
        wanted = derived_closes(symbol=symbol, newest_minute=newest.time, at=moment)
    else:
        frame = Timeframe.parse(timeframe)
        wanted = [(timeframe, newest.time)] if recent(frame, newest.time, moment) else []
    for code, bucket in _claim(symbol=symbol, closes=wanted, using=using):
        if code == timeframe:  # the written candle itself, stored at its own timeframe
            transaction.on_commit(
                lambda candle=newest, code=code: _announce(symbol, code, candle), using=using
            )
        else:
            transaction.on_commit(
                lambda code=code, bucket=bucket: _announce_derived(symbol, code, bucket, using),
                using=using,
            )


def _claim(
    *, symbol: str, closes: list[tuple[str, datetime]], using: str
) -> list[tuple[str, datetime]]:
    """Move the announced close of each (timeframe, bucket) forward; the ones that moved."""
    if not closes:
        return []
    values = ", ".join(["(%s, %s, %s)"] * len(closes))
    params: list[object] = []
    for code, bucket in closes:
        params += [symbol, code, bucket]
    with connections[using].cursor() as cursor:
        cursor.execute(
            "INSERT INTO ohlcv_close_announcements (symbol, timeframe, bucket) "
            f"VALUES {values} ON CONFLICT (symbol, timeframe) DO UPDATE "
            "SET bucket = EXCLUDED.bucket, announced_at = now() "
            "WHERE ohlcv_close_announcements.bucket < EXCLUDED.bucket "
            "RETURNING timeframe, bucket",
            params,
        )
        return cursor.fetchall()


def _announce(symbol: str, code: str, candle: WrittenCandle) -> None:
    frame = Timeframe.parse(code)
    announce_candle_closed(
        symbol=symbol,
        timeframe=code,
        time=candle.time,
        close_at=frame.after(candle.time),
        open=candle.open,
        high=candle.high,
        low=candle.low,
        close=candle.close,
        volume=candle.volume,
    )


def _announce_derived(symbol: str, code: str, bucket: datetime, using: str) -> None:
    from marketdata.selectors import candles  # selectors read; imported late (no cycle)

    frame = Timeframe.parse(code)
    page = candles(
        symbol=symbol, timeframe=code, start=bucket, end=frame.after(bucket), limit=1, using=using
    )
    found = [candle for candle in page.candles if candle.time == bucket]
    if found:
        _announce(symbol, code, found[0])
