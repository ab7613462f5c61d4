"""Trading reads are scoped to the user who asks: another user's rows never appear."""

import datetime as dt

import pytest
from django.utils import timezone

from tests.factories import PortfolioFactory, PositionFactory, TradeFactory, UserFactory
from trading.selectors import open_positions, portfolios_for, trades_for

pytestmark = pytest.mark.django_db


def test_portfolios_for_lists_only_the_users_portfolios_by_name():
    alice, bob = UserFactory(), UserFactory()
    second = PortfolioFactory(user=alice, name="B swing")
    first = PortfolioFactory(user=alice, name="A scalping")
    PortfolioFactory(user=bob, name="A bob's")

    assert list(portfolios_for(alice)) == [first, second]
    assert list(portfolios_for(UserFactory())) == []


def test_trades_for_lists_only_the_users_trades_newest_first():
    alice, bob = UserFactory(), UserFactory()
    # rows made in one transaction share NOW(): the creation times are set apart by hand
    newer = TradeFactory(portfolio=PortfolioFactory(user=alice), created_at=timezone.now())
    older = TradeFactory(
        portfolio=PortfolioFactory(user=alice), created_at=newer.created_at - dt.timedelta(hours=1)
    )
    TradeFactory(portfolio=PortfolioFactory(user=bob))

    assert list(trades_for(alice)) == [newer, older]


def test_open_positions_lists_the_portfolios_open_positions_by_symbol():
    portfolio = PortfolioFactory()
    eth = PositionFactory(portfolio=portfolio, symbol="ETH/USDT")
    btc = PositionFactory(portfolio=portfolio, symbol="BTC/USDT")
    PositionFactory(portfolio=portfolio, symbol="SOL/USDT", closed=True)
    PositionFactory(symbol="ADA/USDT")  # someone else's portfolio

    assert list(open_positions(portfolio)) == [btc, eth]
