"""No overdraft, no double fill, no lost fill: concurrent orders (market, resting, cancelled,
filled by concurrent prices), redelivered tasks and a worker that dies in the middle of a
fill."""

import datetime as dt
import os
import subprocess
import sys
import threading
from decimal import Decimal
from pathlib import Path
from unittest import mock

import pytest
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, connections
from django.utils import timezone

from core.errors import StateConflict
from tests.factories import PortfolioFactory
from tests.trading.paper import (
    OPEN,
    SYMBOL,
    Clock,
    assert_books_balance,
    assert_reservations_hold,
    cash_from_fills,
    set_ticker,
)
from trading import fills
from trading.matching import PriceEvent
from trading.models import Position, Trade
from trading.orders import cancel_order, place_order
from trading.paper_exchange import on_price
from trading.tasks import process_price

D = Decimal
REPO = Path(__file__).resolve().parents[2]


def _order(portfolio, **fields):
    return place_order(
        portfolio=portfolio,
        actor=portfolio.user,
        symbol=SYMBOL,
        order_type=fields.pop("order_type", "MARKET"),
        **fields,
    )


@pytest.mark.django_db(transaction=True, databases=["default", "timeseries"])
def test_fifty_concurrent_orders_leave_the_books_balanced_to_the_cent():
    portfolio = PortfolioFactory(
        initial_balance=D("1000.00"),
        cash_balance=D("1000.00"),
        total_value=D("1000.00"),
        commission_pct=D("0.00123"),
        slippage_pct=D("0.00071"),
    )
    set_ticker("33.33")
    # 35 buys of 1.5 would cost ~1753, more than the cash and what 15 sells of 1 can bring
    # back: the cash runs out part way.
    sides = ["BUY"] * 35 + ["SELL"] * 15
    results: list[object] = []
    barrier = threading.Barrier(len(sides))

    def place(side: str) -> None:
        try:
            barrier.wait()
            quantity = D("1.5") if side == "BUY" else D("1")
            results.append(_order(portfolio, side=side, quantity=quantity))
        except Exception as error:  # refusals are part of the outcome
            results.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=place, args=(side,)) for side in sides]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    filled = Trade.objects.filter(portfolio=portfolio, status="filled")
    buys = filled.filter(side="BUY").count()
    sells = filled.filter(side="SELL").count()
    assert len(results) == 50
    refusals = [r for r in results if not isinstance(r, Trade)]
    assert all(isinstance(r, ValidationError) for r in refusals), refusals
    assert buys > 0 and buys < 35  # some buys were refused for lack of cash
    assert Trade.objects.filter(portfolio=portfolio).exclude(status="filled").count() == 0
    portfolio.refresh_from_db()
    expected_cash = D("1000.00")
    for trade in filled:
        notional = trade.filled_quantity * trade.filled_price
        if trade.side == "BUY":
            expected_cash -= fills.money(notional + trade.commission)
        else:
            expected_cash += fills.money(notional - trade.commission)
    assert portfolio.cash_balance == expected_cash
    position = Position.objects.get(portfolio=portfolio, is_open=True)
    assert position.quantity == D("1.5") * buys - sells
    assert_books_balance(portfolio)


def _candle(at, o, h, low, c, *, volume):
    event = PriceEvent(SYMBOL, at, D(o), D(h), D(low), D(c), volume=D(volume))
    return on_price(event)


@pytest.mark.django_db(transaction=True, databases=["default", "timeseries"])
def test_fifty_threads_of_resting_orders_cancels_and_fills_keep_the_reservations_to_the_cent():
    portfolio = PortfolioFactory(
        initial_balance=D("1000.00"),
        cash_balance=D("1000.00"),
        total_value=D("1000.00"),
        commission_pct=D("0.00123"),
        slippage_pct=D("0.00071"),
    )
    set_ticker("33.33")
    _order(portfolio, side="BUY", quantity=D("3"))  # units for the resting sells: ~100.11
    clock = Clock()
    # Resting buys (18 × ~46, at 30, 31 and 32) and market buys (8 × ~50) ask more than the
    # cash: some are refused at placement. Candles from 8 threads fill in parts (volume 2)
    # while others place and cancel.
    roles = (
        ["LIMIT_BUY"] * 18
        + ["MARKET_BUY"] * 8
        + ["PLACE_AND_CANCEL"] * 10
        + ["LIMIT_SELL"] * 6
        + ["CANDLE"] * 8
    )
    times = [clock.next() for _ in roles]
    results: list[object] = []
    barrier = threading.Barrier(len(roles))

    def run(role: str, index: int) -> None:
        try:
            barrier.wait()
            if role == "LIMIT_BUY":
                price = D(30 + index % 3)
                results.append(
                    _order(
                        portfolio, side="BUY", order_type="LIMIT", price=price, quantity=D("1.5")
                    )
                )
            elif role == "MARKET_BUY":
                results.append(_order(portfolio, side="BUY", quantity=D("1.5")))
            elif role == "PLACE_AND_CANCEL":
                trade = _order(
                    portfolio, side="BUY", order_type="LIMIT", price=D("31.5"), quantity=D("1")
                )
                results.append(cancel_order(trade=trade, actor=portfolio.user))
            elif role == "LIMIT_SELL":
                results.append(
                    _order(
                        portfolio, side="SELL", order_type="LIMIT", price=D("34"), quantity=D("1")
                    )
                )
            elif index % 2:  # down through the resting buys
                results.append(_candle(times[index], "33", "33.5", "29.5", "31", volume="2"))
            else:  # up through the resting sells
                results.append(_candle(times[index], "31", "34.5", "30.9", "34", volume="1.5"))
        except Exception as error:  # refusals and lost races are part of the outcome
            results.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(role, index)) for index, role in enumerate(roles)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(results) == 50
    refusals = [r for r in results if isinstance(r, Exception)]
    # ValidationError: no cash or units left; StateConflict: a cancel lost to a fill.
    assert all(isinstance(r, ValidationError | StateConflict) for r in refusals), refusals
    assert any(isinstance(r, ValidationError) for r in refusals)  # the cash ran out
    assert_books_balance(portfolio)
    assert_reservations_hold(portfolio)
    portfolio.refresh_from_db()
    assert portfolio.cash_balance == cash_from_fills(portfolio)

    # One more candle after all the placements: the resting orders it reaches fill in parts
    # out of their reservations, none fails for lack of cash.
    _candle(clock.next(), "31", "31", "29", "30", volume="4")
    assert (
        Trade.objects.filter(portfolio=portfolio, order_type="LIMIT")
        .exclude(filled_quantity=0)
        .exists()
    )
    assert not Trade.objects.filter(portfolio=portfolio, status="failed").exists()
    assert_books_balance(portfolio)
    assert_reservations_hold(portfolio)
    portfolio.refresh_from_db()
    assert portfolio.cash_balance == cash_from_fills(portfolio)
    signed = sum(
        (
            t.filled_quantity * (1 if t.side == "BUY" else -1)
            for t in Trade.objects.filter(portfolio=portfolio)
        ),
        D(0),
    )
    assert Position.objects.get(portfolio=portfolio, is_open=True).quantity == signed

    for trade in Trade.objects.filter(portfolio=portfolio, status__in=OPEN):
        cancel_order(trade=trade, actor=portfolio.user)
    portfolio.refresh_from_db()
    assert portfolio.reserved_cash == 0 and portfolio.available_cash == portfolio.cash_balance


@pytest.mark.django_db(databases=["default", "timeseries"])
def test_a_fill_that_dies_mid_transaction_is_not_lost_and_a_redelivery_fills_once():
    portfolio = PortfolioFactory(total_value=D("10000.00"))
    set_ticker("100")
    trade = _order(portfolio, side="BUY", order_type="LIMIT", price=D("90"), quantity=D("2"))
    at = (timezone.now() + dt.timedelta(minutes=1)).isoformat()
    args = (SYMBOL, at, "89", "89", "89", "89")

    died = RuntimeError("worker died")
    with (
        mock.patch.object(fills, "record_trade_event", side_effect=died),
        pytest.raises(RuntimeError),
    ):
        process_price(*args)
    trade.refresh_from_db()
    portfolio.refresh_from_db()
    assert trade.status == "submitted" and trade.filled_quantity == 0
    assert portfolio.cash_balance == D("10000.00")
    assert not Position.objects.filter(portfolio=portfolio).exists()

    assert process_price(*args) == 1  # the redelivered task
    assert process_price(*args) == 0  # and again: nothing more
    trade.refresh_from_db()
    assert trade.status == "filled" and trade.filled_quantity == D("2")
    assert Position.objects.get(portfolio=portfolio).quantity == D("2")
    assert_books_balance(portfolio)


KILL_MID_FILL = """
import os, sys, django
django.setup()
from trading import fills
from trading.tasks import process_price

def die(**kwargs):
    os._exit(9)  # the worker process is killed between the writes and the commit

fills.record_trade_event = die
process_price(*sys.argv[1:])
"""


@pytest.mark.django_db(transaction=True, databases=["default", "timeseries"])
def test_a_worker_killed_mid_fill_leaves_nothing_half_written_and_the_retry_fills_once():
    portfolio = PortfolioFactory(total_value=D("10000.00"))
    set_ticker("100")
    trade = _order(portfolio, side="BUY", order_type="LIMIT", price=D("90"), quantity=D("2"))
    at = (timezone.now() + dt.timedelta(minutes=1)).isoformat()
    args = [SYMBOL, at, "89", "89", "89", "89"]
    default, timeseries = settings.DATABASES["default"], settings.DATABASES["timeseries"]
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "apextrade.settings.test",
        "DATABASE_URL": f"postgres://{default['USER']}@{default['HOST']}:{default['PORT']}/"
        f"{connection.settings_dict['NAME']}",
        "TIMESCALE_URL": f"postgres://{timeseries['USER']}@{timeseries['HOST']}:"
        f"{timeseries['PORT']}/{connections['timeseries'].settings_dict['NAME']}",
    }
    killed = subprocess.run(
        [sys.executable, "-c", KILL_MID_FILL, *args], cwd=REPO, env=env, timeout=120
    )
    assert killed.returncode == 9
    trade.refresh_from_db()
    assert trade.status == "submitted" and trade.filled_quantity == 0
    assert not Position.objects.filter(portfolio=portfolio).exists()

    assert process_price(*args) == 1
    assert process_price(*args) == 0
    trade.refresh_from_db()
    assert trade.status == "filled"
    assert_books_balance(portfolio)
