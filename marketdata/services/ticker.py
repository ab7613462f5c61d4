"""The ticker cache: the latest price of each symbol in Redis (`cache:ticker:{symbol}`), moved
forward by every write of candles or ticks, never backwards in time."""

from datetime import datetime, timedelta
from decimal import Decimal

from django.core.cache import cache
from django.db import connections
from django.utils import timezone

from core.cache_keys import ticker_key, ticker_lock_key
from marketdata.timescale import TIMESERIES_DB

EIGHT_PLACES = Decimal("0.00000001")
TICKER_LOCK_SECONDS = 5  # a holder that dies frees the lock after this
ONE_MINUTE = timedelta(minutes=1)


def _price_text(value: object) -> str:
    """As NUMERIC(18,8) prints it, whichever way the price arrived."""
    return format(Decimal(str(value)).quantize(EIGHT_PLACES), "f")


def update_ticker(
    *,
    symbol: str,
    price: Decimal | str,
    at: datetime,
    origin: str,
    bid: Decimal | str | None = None,
    ask: Decimal | str | None = None,
) -> bool:
    """Put the latest price of `symbol` in Redis (`cache:ticker:{symbol}`) unless a newer one is
    already there. Returns whether it was written."""
    key = ticker_key(symbol)
    price, bid, ask = (None if x is None else _price_text(x) for x in (price, bid, ask))
    entry = {
        "symbol": symbol,
        "price": price,
        "time": at.isoformat(),
        "origin": origin,
        "bid": bid,
        "ask": ask,
    }
    # Compare and set under a lock: two writers must not leave the older price as the latest.
    with cache.lock(ticker_lock_key(symbol), timeout=TICKER_LOCK_SECONDS):
        current = cache.get(key)
        if current and datetime.fromisoformat(current["time"]) > at:
            return False
        cache.set(key, entry, timeout=None)
    return True


def publish_stored_price(*, symbol: str, using: str = TIMESERIES_DB) -> bool:
    """Put the newest stored price of `symbol` (its newest tick or 1m candle, whichever is later)
    in the ticker cache; False when nothing is stored. A write publishes this rather than its own
    newest row, so a backfill of old candles never shows an old price as the latest.

    A candle's price is its close, seen at the end of its minute (or now, for the minute still
    running): a tick at 12:00:30 is older than the close of the 12:00 candle."""
    with connections[using].cursor() as cursor:
        cursor.execute(
            "SELECT time, last_price, bid, ask FROM tick_data WHERE symbol = %s "
            "ORDER BY time DESC LIMIT 1",
            [symbol],
        )
        tick = cursor.fetchone()
        cursor.execute(
            "SELECT time, close FROM ohlcv WHERE symbol = %s AND timeframe = '1m' "
            "ORDER BY time DESC LIMIT 1",
            [symbol],
        )
        candle = cursor.fetchone()
    if candle:
        candle = (min(candle[0] + ONE_MINUTE, timezone.now()), candle[1])
    if tick and (not candle or tick[0] >= candle[0]):
        update_ticker(
            symbol=symbol, price=tick[1], at=tick[0], origin="tick", bid=tick[2], ask=tick[3]
        )
    elif candle:
        update_ticker(symbol=symbol, price=candle[1], at=candle[0], origin="candle")
    else:
        return False
    return True
