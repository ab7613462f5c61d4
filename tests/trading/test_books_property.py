"""Property: whatever sequence of orders and prices a paper portfolio sees, its books balance."""

import contextlib
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.factories import PortfolioFactory
from tests.trading.paper import SYMBOL, Clock, assert_books_balance, set_ticker, tick
from trading.models import Position, Trade
from trading.orders import place_order

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
