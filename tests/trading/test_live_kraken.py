"""A live portfolio on Kraken end to end against the fake Kraken: the same placement, booking,
reconciliation and cancel as on Binance (tests/trading/test_live_trading.py), through Kraken's
shapes (AddOrder answering a txid only, fees with the order at 0.26 %, client order ids as
UUIDs)."""

from decimal import Decimal

import pytest

from tests.exchanges import fake_kraken as kraken
from tests.factories import ApiKeyFactory, PortfolioFactory
from tests.trading.paper import assert_books_balance
from trading import tasks
from trading.live_balances import reconcile_live_balance
from trading.models import Position, Trade
from trading.orders import cancel_order, place_order

pytestmark = pytest.mark.django_db(databases=["default", "timeseries"])
D = Decimal


@pytest.fixture
def portfolio(fake_kraken):
    live = PortfolioFactory(live=True, broker="kraken", total_value=D("10000.00"))
    ApiKeyFactory(
        user=live.user,
        exchange="kraken",
        is_testnet=False,
        permissions=["read", "trade"],
        clear_api_secret=kraken.API_SECRET,
    )
    return live


def live_order(portfolio, run_tasks, **fields) -> Trade:
    capture, _ = run_tasks
    with capture():
        trade = place_order(
            portfolio=portfolio,
            actor=portfolio.user,
            symbol="BTC/USDT",
            side=fields.pop("side", "BUY"),
            order_type=fields.pop("order_type", "MARKET"),
            quantity=fields.pop("quantity", D("0.02")),
            **fields,
        )
    trade.refresh_from_db()
    return trade


def test_a_kraken_market_order_is_filled_booked_and_reconciled_with_the_balance(
    fake_kraken, portfolio, run_tasks
) -> None:
    trade = live_order(portfolio, run_tasks)

    assert trade.status == Trade.Status.FILLED
    assert (trade.filled_quantity, trade.filled_price, trade.commission) == (
        D("0.02"), D("40000"), D("2.08"),
    )  # fmt: skip  # 800 × 0.26 %
    (sent,) = fake_kraken.placed()
    assert (sent["pair"], sent["type"], sent["ordertype"], sent["volume"]) == (
        "XBTUSDT", "buy", "market", "0.02",
    )  # fmt: skip
    assert sent["cl_ord_id"] == trade.pk.hex and sent["oflags"] == "fciq"
    position = Position.objects.get(portfolio=portfolio, is_open=True)
    assert position.quantity == D("0.02")
    assert assert_books_balance(portfolio).cash_balance == D("9197.92")  # 10000 − 800 − 2.08

    fake_kraken.balances = {"USDT": ("9197.92", "0"), "BTC": ("0.02", "0")}
    assert reconcile_live_balance(portfolio=portfolio).outcome == "matched"


def test_a_partial_kraken_order_books_each_fill_once(fake_kraken, portfolio, run_tasks) -> None:
    fake_kraken.order_plan.append("partial")
    trade = live_order(portfolio, run_tasks, order_type="LIMIT", price=D("39000"))

    assert (trade.status, trade.filled_quantity, trade.commission) == (
        Trade.Status.PARTIAL, D("0.01"), D("1.014"),
    )  # fmt: skip
    assert assert_books_balance(portfolio).cash_balance == D("9608.99")  # − 390 − 1.014

    tasks.reconcile_live_orders()
    assert assert_books_balance(portfolio).cash_balance == D("9608.99")  # nothing new

    fake_kraken.fill(trade.broker_order_id)
    tasks.reconcile_live_orders()

    trade.refresh_from_db()
    assert (trade.status, trade.filled_quantity, trade.commission) == (
        Trade.Status.FILLED, D("0.02"), D("2.028"),
    )  # fmt: skip
    assert assert_books_balance(portfolio).cash_balance == D("9217.98")
    assert len(fake_kraken.placed()) == 1


def test_a_timed_out_kraken_order_is_found_by_its_client_order_id_and_booked_once(
    fake_kraken, portfolio, run_tasks
) -> None:
    fake_kraken.order_plan.append("timeout_filled")

    trade = live_order(portfolio, run_tasks)

    assert trade.status == Trade.Status.FILLED
    lookups = fake_kraken.calls("POST", "/0/private/ClosedOrders")
    assert lookups and lookups[0]["cl_ord_id"] == trade.pk.hex
    assert assert_books_balance(portfolio).cash_balance == D("9197.92")
    tasks.reconcile_live_orders()
    assert assert_books_balance(portfolio).cash_balance == D("9197.92")
    assert len(fake_kraken.placed()) == 1


def test_cancelling_a_resting_kraken_order(fake_kraken, portfolio, run_tasks) -> None:
    fake_kraken.order_plan.append("open")
    trade = live_order(portfolio, run_tasks, order_type="LIMIT", price=D("39000"))
    assert trade.status == Trade.Status.SUBMITTED and trade.broker_order_id

    cancelled = cancel_order(trade=trade, actor=portfolio.user)

    assert cancelled.status == Trade.Status.CANCELLED
    (sent,) = fake_kraken.calls("POST", "/0/private/CancelOrder")
    assert sent["txid"] == trade.broker_order_id
    assert fake_kraken.orders[trade.broker_order_id]["status"] == "canceled"
    assert assert_books_balance(portfolio).cash_balance == D("10000.00")
