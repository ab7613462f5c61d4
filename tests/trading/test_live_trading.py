"""Live portfolios end to end against the fake Binance: place_order (and the order API) queue the
submission after commit, the task sends it once, and every fill the exchange reports is booked
into the position and the portfolio as a paper fill is."""

import datetime as dt
from decimal import Decimal
from unittest import mock

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone
from rest_framework.test import APIClient

from core.errors import StateConflict
from tests.factories import ApiKeyFactory, PortfolioFactory
from tests.trading.paper import assert_books_balance
from trading import tasks
from trading.models import Position, Trade
from trading.orders import cancel_order, place_order

pytestmark = pytest.mark.django_db(databases=["default", "timeseries"])
D = Decimal
SYMBOL = "BTC/USDT"


@pytest.fixture
def portfolio():
    live = PortfolioFactory(live=True, total_value=D("10000.00"))
    ApiKeyFactory(user=live.user, permissions=["read", "trade"])
    return live


def live_order(portfolio, run_tasks, **fields) -> Trade:
    capture, _ = run_tasks
    with capture():
        trade = place_order(
            portfolio=portfolio,
            actor=portfolio.user,
            symbol=SYMBOL,
            side=fields.pop("side", "BUY"),
            order_type=fields.pop("order_type", "MARKET"),
            quantity=fields.pop("quantity", D("0.02")),
            **fields,
        )
        assert trade.status == Trade.Status.PENDING  # nothing is sent before the commit
    trade.refresh_from_db()
    return trade


def test_a_live_market_order_is_sent_after_commit_filled_and_booked(
    fake_binance, portfolio, run_tasks
) -> None:
    trade = live_order(portfolio, run_tasks)

    assert run_tasks[1] == ["trading.tasks.submit_live_order"]
    assert trade.status == Trade.Status.FILLED
    assert (trade.filled_quantity, trade.filled_price) == (D("0.02"), D("40000"))
    assert trade.commission == D("0.8")
    assert trade.realized_pnl == D("-0.8")  # an opening fill realizes its commission
    position = Position.objects.get(portfolio=portfolio, is_open=True)
    assert trade.position_id == position.pk
    assert (position.quantity, position.average_entry_price) == (D("0.02"), D("40000"))
    assert position.market_value == D("800.00")
    books = assert_books_balance(portfolio)
    assert books.cash_balance == D("9199.20")  # 10000 − 800 − 0.80
    assert (books.positions_value, books.total_value) == (D("800.00"), D("9999.20"))

    fake_binance.market_price = D("41000.00")
    sold = live_order(portfolio, run_tasks, side="SELL")

    assert sold.status == Trade.Status.FILLED
    # 0.02 × (41000 − 40000) = 20, less the 0.82 commission
    assert sold.realized_pnl == D("19.18")
    position.refresh_from_db()
    assert position.is_open is False and position.closed_at is not None
    books = assert_books_balance(portfolio)
    assert books.cash_balance == D("10018.38")  # 9199.20 + 820 − 0.82
    assert books.positions_value == 0
    assert books.realized_pnl == D("18.38")
    assert len(fake_binance.calls("POST", "/order")) == 2


def test_a_partial_then_filled_live_order_books_each_fill_once(
    fake_binance, portfolio, run_tasks
) -> None:
    fake_binance.order_plan.append("partial")
    trade = live_order(portfolio, run_tasks, order_type="LIMIT", price=D("39000"))

    assert (trade.status, trade.filled_quantity) == (Trade.Status.PARTIAL, D("0.01"))
    position = Position.objects.get(portfolio=portfolio, is_open=True)
    assert position.quantity == D("0.01")
    assert assert_books_balance(portfolio).cash_balance == D("9609.61")  # − 390 − 0.39

    tasks.reconcile_live_orders()  # nothing new: nothing booked twice
    assert assert_books_balance(portfolio).cash_balance == D("9609.61")

    fake_binance.fill(int(trade.broker_order_id))
    tasks.reconcile_live_orders()

    trade.refresh_from_db()
    assert (trade.status, trade.filled_quantity) == (Trade.Status.FILLED, D("0.02"))
    position.refresh_from_db()
    assert (position.quantity, position.average_entry_price) == (D("0.02"), D("39000"))
    books = assert_books_balance(portfolio)
    assert books.cash_balance == D("9219.22")
    assert trade.realized_pnl == D("-0.78")
    assert len(fake_binance.calls("POST", "/order")) == 1


def test_a_rejected_live_order_fails_and_moves_nothing(fake_binance, portfolio, run_tasks) -> None:
    fake_binance.order_plan.append("reject")

    trade = live_order(portfolio, run_tasks)

    assert trade.status == Trade.Status.FAILED
    assert "MAX_NUM_ORDERS" in trade.error_message
    assert not Position.objects.filter(portfolio=portfolio).exists()
    books = assert_books_balance(portfolio)
    assert (books.cash_balance, books.total_value) == (D("10000.00"), D("10000.00"))


def test_a_timed_out_live_order_is_reconciled_booked_once_and_never_sent_twice(
    fake_binance, portfolio, run_tasks
) -> None:
    fake_binance.order_plan.append("timeout_open")
    trade = live_order(portfolio, run_tasks, order_type="LIMIT", price=D("39000"))
    assert trade.status == Trade.Status.SUBMITTED and trade.broker_order_id
    assert not Position.objects.filter(portfolio=portfolio).exists()

    # A redelivered submission task sends nothing.
    tasks.submit_live_order(str(trade.pk))
    fake_binance.fill(int(trade.broker_order_id))
    tasks.reconcile_live_orders()
    tasks.reconcile_live_orders()

    trade.refresh_from_db()
    assert trade.status == Trade.Status.FILLED
    assert Position.objects.get(portfolio=portfolio, is_open=True).quantity == D("0.02")
    assert assert_books_balance(portfolio).cash_balance == D("9219.22")
    assert len(fake_binance.calls("POST", "/order")) == 1


def test_a_live_order_whose_task_was_lost_is_sent_by_the_beat_job(fake_binance, portfolio) -> None:
    with mock.patch("celery.current_app.send_task"):  # the broker lost it
        trade = place_order(
            portfolio=portfolio,
            actor=portfolio.user,
            symbol=SYMBOL,
            side="BUY",
            order_type="MARKET",
            quantity=D("0.02"),
        )
    tasks.reconcile_live_orders()
    assert Trade.objects.get(pk=trade.pk).status == Trade.Status.PENDING  # within the grace

    Trade.objects.filter(pk=trade.pk).update(created_at="2026-01-01T00:00:00Z")
    tasks.reconcile_live_orders()
    tasks.reconcile_live_orders()

    assert Trade.objects.get(pk=trade.pk).status == Trade.Status.FILLED
    assert assert_books_balance(portfolio).cash_balance == D("9199.20")
    assert len(fake_binance.calls("POST", "/order")) == 1


@pytest.mark.parametrize(
    ("key_fields", "message"),
    [
        (None, "No binance API key"),
        ({"permissions": ["read"]}, "lacks the 'trade' permission"),
        (
            {"permissions": ["trade"], "is_valid": False, "validation_error": "Invalid API-key"},
            "refused by the exchange",
        ),
    ],
)
def test_a_live_order_needs_a_valid_key_with_the_trade_permission(
    fake_binance, key_fields, message
) -> None:
    live = PortfolioFactory(live=True)
    if key_fields is not None:
        ApiKeyFactory(user=live.user, **key_fields)
    with pytest.raises(StateConflict, match=message):
        place_order(
            portfolio=live,
            actor=live.user,
            symbol=SYMBOL,
            side="BUY",
            order_type="MARKET",
            quantity=D("0.02"),
        )
    assert not Trade.objects.exists()
    assert fake_binance.calls("POST", "/order") == []


def test_a_live_order_with_an_expiry_is_refused(fake_binance, portfolio) -> None:
    with pytest.raises(ValidationError) as refused:
        place_order(
            portfolio=portfolio,
            actor=portfolio.user,
            symbol=SYMBOL,
            side="BUY",
            order_type="LIMIT",
            quantity=D("0.02"),
            price=D("39000"),
            expires_at=timezone.now() + dt.timedelta(hours=1),
        )
    assert "expires_at" in refused.value.message_dict
    assert not Trade.objects.exists()


def test_cancelling_an_open_live_order_cancels_it_on_the_exchange(
    fake_binance, portfolio, run_tasks
) -> None:
    fake_binance.order_plan.append("open")
    trade = live_order(portfolio, run_tasks, order_type="LIMIT", price=D("39000"))

    cancelled = cancel_order(trade=trade, actor=portfolio.user)

    assert cancelled.status == Trade.Status.CANCELLED
    (order,) = fake_binance.orders.values()
    assert order["status"] == "CANCELED"
    with pytest.raises(StateConflict):
        cancel_order(trade=cancelled, actor=portfolio.user)


def test_the_order_api_places_a_live_order_and_answers_before_it_is_sent(
    fake_binance, portfolio, run_tasks
) -> None:
    api = APIClient()
    api.force_login(portfolio.user)
    capture, sent = run_tasks
    with capture():
        response = api.post(
            f"/api/v1/portfolios/{portfolio.pk}/orders",
            {"symbol": SYMBOL, "side": "BUY", "order_type": "MARKET", "quantity": "0.02"},
            format="json",
            HTTP_IDEMPOTENCY_KEY="live-1",
        )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["status"] == "pending"  # the task sends it after the commit
    assert sent == ["trading.tasks.submit_live_order"]

    retry = api.post(
        f"/api/v1/portfolios/{portfolio.pk}/orders",
        {"symbol": SYMBOL, "side": "BUY", "order_type": "MARKET", "quantity": "0.02"},
        format="json",
        HTTP_IDEMPOTENCY_KEY="live-1",
    )
    assert retry.status_code == 200
    assert retry.json()["status"] == "filled"
    assert len(fake_binance.calls("POST", "/order")) == 1
    assert assert_books_balance(portfolio).cash_balance == D("9199.20")

    keyless = PortfolioFactory(user=portfolio.user, live=True, broker="kraken")
    response = api.post(
        f"/api/v1/portfolios/{keyless.pk}/orders",
        {"symbol": SYMBOL, "side": "BUY", "order_type": "MARKET", "quantity": "0.02"},
        format="json",
    )
    assert response.status_code == 409
