"""Helpers for paper trading tests: set the ticker, feed a price, check the books."""

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal

from django.db.models import Sum
from django.utils import timezone

from compliance.models import AuditLog
from marketdata.services import update_ticker
from trading.matching import PriceEvent
from trading.models import Portfolio, Position, Trade
from trading.paper_exchange import on_price
from trading.reservations import cents_up

SYMBOL = "BTC/USDT"
CENT = Decimal("0.01")


class Clock:
    """Strictly increasing event times, starting a minute from now (after any order's
    submission)."""

    def __init__(self) -> None:
        self.at = timezone.now() + dt.timedelta(minutes=1)

    def next(self) -> dt.datetime:
        self.at += dt.timedelta(seconds=1)
        return self.at


def set_ticker(price: str, at: dt.datetime | None = None, symbol: str = SYMBOL) -> None:
    update_ticker(symbol=symbol, price=Decimal(price), at=at or timezone.now(), origin="tick")


def tick(clock: Clock, price: str, volume: str | None = None, symbol: str = SYMBOL):
    event = PriceEvent.tick(
        symbol=symbol,
        price=Decimal(price),
        at=clock.next(),
        volume=None if volume is None else Decimal(volume),
    )
    return on_price(event)


def candle(clock: Clock, o: str, h: str, low: str, c: str, volume: str | None = None):
    event = PriceEvent(
        symbol=SYMBOL,
        at=clock.next(),
        open=Decimal(o),
        high=Decimal(h),
        low=Decimal(low),
        close=Decimal(c),
        volume=None if volume is None else Decimal(volume),
    )
    return on_price(event)


def assert_books_balance(portfolio: Portfolio) -> Portfolio:
    """cash + positions = total; realized P&L = the trades'; cash = initial minus what the fills
    cost (each settled to the cent); positions value = the open positions'."""
    portfolio.refresh_from_db()
    assert portfolio.cash_balance >= 0
    assert portfolio.total_value == portfolio.cash_balance + portfolio.positions_value
    trades = Trade.objects.filter(portfolio=portfolio)
    realized = trades.aggregate(total=Sum("realized_pnl"))["total"] or Decimal(0)
    assert portfolio.realized_pnl == realized.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    open_value = Position.objects.filter(portfolio=portfolio, is_open=True).aggregate(
        total=Sum("market_value")
    )["total"] or Decimal(0)
    assert portfolio.positions_value == open_value
    return portfolio


OPEN = ("pending", "submitted", "partial")


def cash_from_fills(portfolio: Portfolio) -> Decimal:
    """The initial balance moved by every fill the audit log recorded, each settled to the cent
    (a BUY pays notional + commission, a SELL receives notional − commission)."""
    cash = portfolio.initial_balance
    sides = dict(Trade.objects.filter(portfolio=portfolio).values_list("pk", "side"))
    for entry in AuditLog.objects.filter(
        action=AuditLog.Action.ORDER_FILLED, metadata__portfolio_id=str(portfolio.pk)
    ):
        values = entry.metadata["fill"]  # this fill's own quantity, price and commission
        notional = Decimal(values["quantity"]) * Decimal(values["price"])
        commission = Decimal(values["commission"])
        if sides[entry.resource_id] == "BUY":
            cash -= (notional + commission).quantize(CENT, rounding=ROUND_HALF_UP)
        else:
            cash += (notional - commission).quantize(CENT, rounding=ROUND_HALF_UP)
    return cash


def assert_reservations_hold(portfolio: Portfolio) -> Portfolio:
    """The portfolio reserves the sum of its open BUY orders' reservations, to the cent, and
    its cash covers it; a closed order reserves nothing; an open LIMIT BUY not yet filled
    reserves quantity × limit × (1 + commission) rounded up to the cent."""
    portfolio.refresh_from_db()
    open_buys = list(Trade.objects.filter(portfolio=portfolio, side="BUY", status__in=OPEN))
    assert portfolio.reserved_cash == sum((t.reserved_cash for t in open_buys), Decimal(0))
    assert portfolio.cash_balance >= portfolio.reserved_cash >= 0
    closed = Trade.objects.filter(portfolio=portfolio).exclude(status__in=OPEN)
    assert not closed.filter(reserved_cash__gt=0).exists()
    assert not Trade.objects.filter(portfolio=portfolio, side="SELL", reserved_cash__gt=0)
    for trade in open_buys:
        if trade.order_type == "LIMIT" and not trade.filled_quantity:
            cost = trade.quantity * trade.price * (1 + portfolio.commission_pct)
            assert trade.reserved_cash == cents_up(cost), trade
    return portfolio
