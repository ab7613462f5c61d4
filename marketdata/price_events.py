"""Announcing prices to the apps above market data, without importing them: a signal for each
arriving price and each closed candle. The paper exchange (trading) and alerts (accounts)
connect to them in their AppConfig.ready() and queue their work as Celery tasks.

Feeds call `announce_price` after a new latest price is published and `announce_candle_closed`
when a candle's period has ended.

Candles of other timeframes are derived from 1m candles (marketdata.candle_closes); which of
them a 1m write announces as closed is asked of the same apps through
`candle_timeframes_wanted` (the timeframes their active strategies or alerts run on), so that
market data announces no close nobody listens to."""

from datetime import datetime
from decimal import Decimal

from django.dispatch import Signal

# kwargs: symbol, price (Decimal), at (datetime), volume (Decimal | None)
price_arrived = Signal()
# kwargs: symbol, timeframe, time (open time), close_at, open, high, low, close, volume (Decimal)
candle_closed = Signal()
# kwargs: symbol; each receiver returns the timeframes (codes) it wants closes of
candle_timeframes_wanted = Signal()


def announce_price(
    *, symbol: str, price: Decimal, at: datetime, volume: Decimal | None = None
) -> None:
    price_arrived.send(sender=None, symbol=symbol, price=price, at=at, volume=volume)


def announce_candle_closed(
    *,
    symbol: str,
    timeframe: str,
    time: datetime,
    close_at: datetime,
    open: Decimal,
    high: Decimal,
    low: Decimal,
    close: Decimal,
    volume: Decimal,
) -> None:
    candle_closed.send(
        sender=None,
        symbol=symbol,
        timeframe=timeframe,
        time=time,
        close_at=close_at,
        open=open,
        high=high,
        low=low,
        close=close,
        volume=volume,
    )


def wanted_timeframes(*, symbol: str) -> set[str]:
    """The timeframes whose closed candles of `symbol` some app acts on."""
    wanted: set[str] = set()
    for _receiver, timeframes in candle_timeframes_wanted.send(sender=None, symbol=symbol):
        wanted.update(timeframes or ())
    return wanted
