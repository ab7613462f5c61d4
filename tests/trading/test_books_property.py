"""Property: whatever sequence of orders, cancels and prices a paper portfolio sees, its books
balance and its open orders' reservations add up."""

import contextlib
import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.factories import PortfolioFactory
from tests.trading.paper import (
    OPEN,
    SYMBOL,
    Clock,
    assert_books_balance,
    assert_reservations_hold,
    candle,
    cash_from_fills,
    set_ticker,
    tick,
)
from trading.models import Position, Trade
from trading.orders import cancel_order, place_order

pytestmark = pytest.mark.django_db(databases=["default", "timeseries"])

CLOCK = Clock()
prices = st.decimals(min_value=Decimal("1"), max_value=Decimal("500"), places=2)
steps = st.lists(
    st.one_of(
        st.tuples(
            st.sampled_from(["BUY", "SELL"]),
            st.decimals(min_value=Decimal("0.001"), max_value=Decimal("40"), places=3),
        ),
        st.tuples(st.just("PRICE"), prices),
    ),
    min_size=1,
    max_size=15,
)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(first=prices, steps=steps)
def test_the_books_balance_after_any_sequence_of_orders_and_prices(first, steps):
    portfolio = PortfolioFactory(
        total_value=Decimal("10000.00"),
        commission_pct=Decimal("0.00075"),
        slippage_pct=Decimal("0.0003"),
    )
    clock = CLOCK  # one clock for all examples: the ticker only moves forward in time
    set_ticker(str(first), at=clock.next())
    for kind, value in steps:
        if kind == "PRICE":
            set_ticker(str(value), at=clock.next())
            tick(clock, str(value))
            continue
        with contextlib.suppress(ValidationError):  # refused: not enough cash or position
            place_order(
                portfolio=portfolio,
                actor=portfolio.user,
                symbol=SYMBOL,
                side=kind,
                order_type="MARKET",
                quantity=value,
            )
        assert_books_balance(portfolio)
    portfolio.refresh_from_db()
    # What the account gained is what it realized plus what it holds unrealized, up to the cent
    # each fill settled in.
    fills = Trade.objects.filter(portfolio=portfolio, status="filled").count()
    gained = portfolio.total_value - portfolio.initial_balance
    explained = portfolio.realized_pnl + portfolio.unrealized_pnl
    assert abs(gained - explained) <= Decimal("0.01") * (fills + 2)
    held = sum(
        (p.quantity for p in Position.objects.filter(portfolio=portfolio, is_open=True)),
        Decimal(0),
    )
    bought = sum(
        (t.filled_quantity for t in Trade.objects.filter(portfolio=portfolio, side="BUY")),
        Decimal(0),
    )
    sold = sum(
        (t.filled_quantity for t in Trade.objects.filter(portfolio=portfolio, side="SELL")),
        Decimal(0),
    )
    assert held == bought - sold


fractions = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("0.2"), places=2)
quantities = st.decimals(min_value=Decimal("0.001"), max_value=Decimal("10"), places=3)
volumes = st.decimals(min_value=Decimal("0.5"), max_value=Decimal("8"), places=3)
KINDS = [
    "BUY",
    "SELL",
    "LIMIT_BUY",
    "LIMIT_SELL",
    "STOP_BUY",
    "STOP_SELL",
    "CANCEL",
    "PRICE",
    "CANDLE",
    "CANDLE",
]
# Every step draws all its parameters, the kind picks what it uses: a flat choice keeps the
# kinds mixed in every example.
resting_steps = st.lists(
    st.tuples(st.sampled_from(KINDS), quantities, fractions, prices, volumes),
    min_size=4,
    max_size=20,
)
RESTING = {
    "LIMIT_BUY": ("BUY", "LIMIT", -1),
    "LIMIT_SELL": ("SELL", "LIMIT", 1),
    "STOP_BUY": ("BUY", "STOP_LOSS", 1),
    "STOP_SELL": ("SELL", "STOP_LOSS", -1),
}


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(first=prices, steps=resting_steps)
def test_the_books_and_reservations_balance_with_resting_orders_cancels_and_partial_fills(
    first, steps
):
    portfolio = PortfolioFactory(
        total_value=Decimal("10000.00"),
        commission_pct=Decimal("0.00075"),
        slippage_pct=Decimal("0.0003"),
    )
    clock = CLOCK
    # Prices come after the orders placed now (matching ignores earlier ones) and after the
    # last example's ticker.
    clock.at = max(clock.at, timezone.now() + dt.timedelta(minutes=1))
    last = first
    set_ticker(str(first), at=clock.next())
    first_buy = ("BUY", Decimal("5"), Decimal("0.01"), first, Decimal("1"))
    for kind, quantity, fraction, price, volume in [first_buy, *steps]:
        if kind == "PRICE":
            set_ticker(str(price), at=clock.next())
            tick(clock, str(price))
            last = price
        elif kind == "CANDLE":  # from the last price to this one, its volume capping fills
            high = max(last, price) * (1 + fraction)
            low = min(last, price) * (1 - fraction)
            candle(clock, str(last), f"{high:.8f}", f"{low:.8f}", str(price), f"{volume:.8f}")
            set_ticker(str(price), at=clock.next())
            last = price
        elif kind == "CANCEL":
            waiting = list(
                Trade.objects.filter(portfolio=portfolio, status__in=OPEN).order_by("created_at")
            )
            if waiting:
                pick = int(fraction * 100) % len(waiting)
                cancel_order(trade=waiting[pick], actor=portfolio.user)
        else:
            side, order_type, direction = RESTING.get(kind, (kind, "MARKET", 0))
            price = None
            if order_type != "MARKET":
                price = (last * (1 + direction * fraction)).quantize(Decimal("0.01"))
            with contextlib.suppress(ValidationError):  # refused: not enough cash or units
                place_order(
                    portfolio=portfolio,
                    actor=portfolio.user,
                    symbol=SYMBOL,
                    side=side,
                    order_type=order_type,
                    quantity=quantity,
                    price=price,
                )
        assert_books_balance(portfolio)
        assert_reservations_hold(portfolio)
    portfolio.refresh_from_db()
    assert portfolio.cash_balance == cash_from_fills(portfolio)
    held = sum(
        (p.quantity for p in Position.objects.filter(portfolio=portfolio, is_open=True)),
        Decimal(0),
    )
    signed = sum(
        (
            t.filled_quantity * (1 if t.side == "BUY" else -1)
            for t in Trade.objects.filter(portfolio=portfolio)
        ),
        Decimal(0),
    )
    assert held == signed
    # No resting order ever sold units another one was selling: what the open SELLs still
    # sell is within the position.
    selling = sum(
        (
            t.quantity - t.filled_quantity
            for t in Trade.objects.filter(portfolio=portfolio, side="SELL", status__in=OPEN)
        ),
        Decimal(0),
    )
    assert selling <= max(held, Decimal(0))
    # A LIMIT BUY never failed for lack of cash: its reservation paid for it.
    assert not Trade.objects.filter(
        portfolio=portfolio, side="BUY", order_type="LIMIT", status="failed"
    ).exists()
