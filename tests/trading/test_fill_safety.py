"""No overdraft, no double fill, no lost fill: concurrent orders, redelivered tasks and a worker
that dies in the middle of a fill."""

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

from tests.factories import PortfolioFactory
from tests.trading.paper import SYMBOL, assert_books_balance, set_ticker
from trading import fills
from trading.models import Position, Trade
from trading.orders import place_order
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
