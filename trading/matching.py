"""When a resting order fills, and at what price: pure functions over a price event, no Django.

docs/paper-trading.md is the contract. A tick is one traded price; a candle is a closed bar whose
order of prices inside is unknown. Gaps fill at the open (worse for a stop, better for a limit),
as the backtest engine does (docs/execution-semantics.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

BUY = "BUY"
SELL = "SELL"


@dataclass(frozen=True)
class PriceEvent:
    """A price that arrived for a symbol: a tick (open = high = low = close) or a closed candle.
    `at` is when it was seen (a candle's close time); `volume` caps what can fill on it (None: no
    cap, e.g. a ticker without volume)."""

    symbol: str
    at: datetime
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal | None = None

    @classmethod
    def tick(
        cls, *, symbol: str, price: Decimal, at: datetime, volume: Decimal | None = None
    ) -> PriceEvent:
        return cls(
            symbol=symbol, at=at, open=price, high=price, low=price, close=price, volume=volume
        )

    @property
    def is_tick(self) -> bool:
        return self.open == self.high == self.low == self.close


@dataclass(frozen=True)
class RestingOrder:
    """What matching needs from a trade row."""

    side: str
    order_type: str
    price: Decimal | None
    stop_price: Decimal | None
    triggered: bool


def _limit_fill(side: str, limit: Decimal, event: PriceEvent) -> Decimal | None:
    """A limit order fills at its limit or better: a buy when the price comes down to it, a sell
    when the price rises to it; a bar that opens beyond it fills at the open."""
    if side == BUY:
        if event.low <= limit:
            return min(event.open, limit)
        return None
    if event.high >= limit:
        return max(event.open, limit)
    return None


def _stop_fill(side: str, stop: Decimal, event: PriceEvent) -> Decimal | None:
    """A stop becomes a market order when the price reaches it: a sell stop on the way down, a buy
    stop on the way up; a bar that opens beyond it fills at the open (the worse price)."""
    if side == SELL:
        if event.low <= stop:
            return min(event.open, stop)
        return None
    if event.high >= stop:
        return max(event.open, stop)
    return None


def stop_reached(side: str, stop: Decimal, event: PriceEvent) -> bool:
    return _stop_fill(side, stop, event) is not None


def reference_price(order: RestingOrder, event: PriceEvent) -> Decimal | None:
    """The market price at which `order` fills on `event` (before slippage), or None.

    - MARKET (waiting for the next price): the event's open.
    - LIMIT: the limit or better. TAKE_PROFIT: a limit on the profitable side (`price`).
    - STOP_LOSS: a stop at `price`, filled as a market order.
    - STOP_LIMIT: once the stop (`stop_price`) has been reached, a limit at `price`. On the event
      that reaches the stop, only the event's close counts for the limit (the path inside a
      candle is unknown); later events use their whole range.
    """
    if order.order_type == "MARKET":
        return event.open
    if order.order_type in ("LIMIT", "TAKE_PROFIT"):
        return _limit_fill(order.side, order.price, event)
    if order.order_type == "STOP_LOSS":
        return _stop_fill(order.side, order.price, event)
    if order.order_type == "STOP_LIMIT":
        if order.triggered:
            return _limit_fill(order.side, order.price, event)
        if not stop_reached(order.side, order.stop_price, event):
            return None
        close_only = PriceEvent.tick(symbol=event.symbol, price=event.close, at=event.at)
        return _limit_fill(order.side, order.price, close_only)
    raise ValueError(f"unknown order type {order.order_type!r}")


def slipped_price(side: str, reference: Decimal, slippage_pct: Decimal) -> Decimal:
    """Slippage moves a fill against the trader (as in backtests): buys up, sells down."""
    factor = Decimal(1) + slippage_pct if side == BUY else Decimal(1) - slippage_pct
    return reference * factor


def takes_slippage(order_type: str) -> bool:
    """Market and stop orders take the book and pay slippage; a limit (LIMIT, TAKE_PROFIT, a
    triggered STOP_LIMIT) fills at its price or better, so it pays none."""
    return order_type in ("MARKET", "STOP_LOSS")
