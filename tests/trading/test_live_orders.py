"""Live orders against the fake Binance: each spec status reached from what the exchange reports,
timeouts reconciled without a second submission, refusals recorded, fills handed to the caller."""

import datetime as dt
import threading
from decimal import Decimal

import pytest
from django.db import connections, transaction
from django.utils import timezone

from compliance.models import AuditLog
from core.errors import StateConflict
from tests.factories import ApiKeyFactory, PortfolioFactory, TradeFactory
from trading import tasks
from trading.live_order_reports import LiveFill
from trading.live_orders import (
    NOT_RECEIVED_AFTER,
    cancel_live_order,
    client_order_id_for,
    reconcile_live_order,
    submit_live_order,
)
from trading.models import Trade

pytestmark = pytest.mark.django_db(databases=["default", "timeseries"])


@pytest.fixture
def portfolio():
    live = PortfolioFactory(live=True)
    ApiKeyFactory(user=live.user, permissions=["read", "trade"])
    return live


def live_trade(portfolio, **fields) -> Trade:
    return TradeFactory(portfolio=portfolio, quantity=Decimal("0.02"), **fields)


class Fills:
    """An on_fill hook that records what it is handed, and that the trade row is locked."""

    def __init__(self) -> None:
        self.fills: list[LiveFill] = []

    def __call__(self, trade: Trade, fill: LiveFill) -> None:
        assert connections["default"].in_atomic_block
        self.fills.append(fill)


def test_a_filled_market_order_fills_the_trade_and_hands_the_fill_over(
    fake_binance, portfolio
) -> None:
    trade = live_trade(portfolio)
    fills = Fills()

    trade = submit_live_order(trade=trade, on_fill=fills)

    assert trade.status == Trade.Status.FILLED
    (order,) = fake_binance.orders.values()
    assert trade.broker_order_id == str(order["orderId"])
    assert order["clientOrderId"] == client_order_id_for(trade) == f"apx{trade.pk.hex}"
    assert (trade.filled_quantity, trade.filled_price, trade.filled_value) == (
        Decimal("0.02"), Decimal("40000"), Decimal("800.00"),
    )  # fmt: skip
    assert trade.commission == Decimal("0.8")  # 0.1% of 800 USDT
    assert trade.submitted_at is not None and trade.filled_at is not None
    assert fills.fills == [LiveFill(Decimal("0.02"), Decimal("40000"), Decimal("0.8"))]
    actions = list(AuditLog.objects.filter(resource_id=trade.pk).values_list("action", flat=True))
    assert AuditLog.Action.ORDER_FILLED in actions
    filled = AuditLog.objects.get(resource_id=trade.pk, action=AuditLog.Action.ORDER_FILLED)
    assert (filled.new_values["status"], filled.new_values["filled_value"]) == ("filled", "800.00")
    assert filled.old_values["filled_value"] is None  # null through the one encoder, not "None"
    assert filled.metadata["broker"] == portfolio.broker


def test_a_fill_whose_booking_fails_is_handed_over_again_by_the_next_reconcile(
    fake_binance, portfolio
) -> None:
    def failing_hook(trade: Trade, fill: LiveFill) -> None:
        raise RuntimeError("the books are locked")

    trade = live_trade(portfolio)
    with pytest.raises(RuntimeError):
        submit_live_order(trade=trade, on_fill=failing_hook)
    trade.refresh_from_db()
    assert (trade.status, trade.filled_quantity, trade.broker_order_id) == (
        Trade.Status.SUBMITTED, 0, None,
    )  # fmt: skip

    fills = Fills()
    trade = reconcile_live_order(trade=trade, on_fill=fills)

    assert trade.status == Trade.Status.FILLED
    assert [fill.quantity for fill in fills.fills] == [Decimal("0.02")]
    assert len(fake_binance.calls("POST", "/order")) == 1


def test_a_partial_fill_is_partial_then_filled_on_reconcile_with_two_fills(
    fake_binance, portfolio
) -> None:
    fake_binance.order_plan.append("partial")
    trade = live_trade(portfolio, order_type=Trade.OrderType.LIMIT, price=Decimal("39000"))
    fills = Fills()

    trade = submit_live_order(trade=trade, on_fill=fills)
    assert (trade.status, trade.filled_quantity) == (Trade.Status.PARTIAL, Decimal("0.01"))

    fake_binance.fill(int(trade.broker_order_id))
    trade = reconcile_live_order(trade=trade, on_fill=fills)

    assert (trade.status, trade.filled_quantity) == (Trade.Status.FILLED, Decimal("0.02"))
    assert trade.filled_price == Decimal("39000")
    assert trade.filled_value == Decimal("780.00")
    assert [fill.quantity for fill in fills.fills] == [Decimal("0.01"), Decimal("0.01")]
    assert [fill.price for fill in fills.fills] == [Decimal("39000"), Decimal("39000")]
    # Fees: 0.1% of each 390 USDT fill; the second from the order's trades (GET /order has none).
    assert [fill.commission for fill in fills.fills] == [Decimal("0.39"), Decimal("0.39")]
    assert trade.commission == Decimal("0.78")
    assert len(fake_binance.calls("POST", "/order")) == 1


def test_an_order_left_open_is_submitted_with_its_broker_order_id(fake_binance, portfolio) -> None:
    fake_binance.order_plan.append("open")

    trade = submit_live_order(trade=live_trade(portfolio))

    assert trade.status == Trade.Status.SUBMITTED
    assert trade.broker_order_id is not None
    assert trade.filled_quantity == 0


@pytest.mark.parametrize(
    ("plan", "reason"),
    [
        ("reject", "MAX_NUM_ORDERS"),
        ("insufficient", "insufficient balance"),
        ("rate_limit", "Too many new orders"),
    ],
)
def test_a_refused_order_fails_the_trade_with_the_reason(
    fake_binance, portfolio, plan, reason
) -> None:
    fake_binance.order_plan.append(plan)

    trade = submit_live_order(trade=live_trade(portfolio))

    assert trade.status == Trade.Status.FAILED
    assert reason in trade.error_message
    assert trade.broker_order_id is None and trade.filled_quantity == 0


def test_a_timeout_is_reconciled_by_client_order_id_and_never_sent_twice(
    fake_binance, portfolio
) -> None:
    fake_binance.order_plan.append("timeout_filled")
    fills = Fills()

    trade = submit_live_order(trade=live_trade(portfolio), on_fill=fills)

    assert trade.status == Trade.Status.FILLED
    assert trade.filled_quantity == Decimal("0.02")
    assert len(fills.fills) == 1
    lookup = fake_binance.calls("GET", "/order")[0]
    assert lookup["origClientOrderId"] == client_order_id_for(trade)
    # Asked again (a retried task, a double click): nothing more is sent.
    assert submit_live_order(trade=trade).status == Trade.Status.FILLED
    assert len(fake_binance.calls("POST", "/order")) == 1


def test_a_timed_out_order_that_rests_on_the_book_is_followed_until_filled(
    fake_binance, portfolio
) -> None:
    fake_binance.order_plan.append("timeout_open")

    trade = submit_live_order(trade=live_trade(portfolio))
    assert trade.status == Trade.Status.SUBMITTED and trade.broker_order_id

    fake_binance.fill(int(trade.broker_order_id))
    counts = tasks.reconcile_live_orders()

    assert counts == {Trade.Status.FILLED: 1}
    trade.refresh_from_db()
    assert trade.status == Trade.Status.FILLED
    assert len(fake_binance.calls("POST", "/order")) == 1


def test_an_order_the_exchange_never_received_fails_after_the_grace_period(
    fake_binance, portfolio
) -> None:
    fake_binance.order_plan.append("unavailable")

    trade = submit_live_order(trade=live_trade(portfolio))

    assert trade.status == Trade.Status.SUBMITTED
    assert "Outcome unknown" in trade.error_message
    assert reconcile_live_order(trade=trade).status == Trade.Status.SUBMITTED  # too early
    Trade.objects.filter(pk=trade.pk).update(
        submitted_at=timezone.now() - NOT_RECEIVED_AFTER - dt.timedelta(seconds=1)
    )

    trade = reconcile_live_order(trade=trade)

    assert trade.status == Trade.Status.FAILED
    assert "never received" in trade.error_message
    assert len(fake_binance.calls("POST", "/order")) == 1


def test_stop_orders_send_their_trigger(fake_binance, portfolio) -> None:
    fake_binance.order_plan.extend(["open", "open"])
    stop = live_trade(
        portfolio, side="SELL", order_type=Trade.OrderType.STOP_LOSS, price=Decimal("35000")
    )
    stop_limit = live_trade(
        portfolio, side="SELL", order_type=Trade.OrderType.STOP_LIMIT, price=Decimal("34900")
    )

    submit_live_order(trade=stop)
    submit_live_order(trade=stop_limit, trigger_price=Decimal("35000"))

    first, second = fake_binance.calls("POST", "/order")
    assert (first["type"], first["stopPrice"]) == ("STOP_LOSS", "35000")
    assert (second["type"], second["stopPrice"], second["price"]) == (
        "STOP_LOSS_LIMIT", "35000", "34900",
    )  # fmt: skip


def test_a_stop_limit_without_its_trigger_fails_without_being_sent(fake_binance, portfolio) -> None:
    trade = live_trade(
        portfolio, side="SELL", order_type=Trade.OrderType.STOP_LIMIT, price=Decimal("34900")
    )

    trade = submit_live_order(trade=trade)

    assert trade.status == Trade.Status.FAILED and "trigger price" in trade.error_message
    assert fake_binance.calls("POST", "/order") == []


def test_a_key_without_trade_permission_fails_the_trade_before_sending(fake_binance) -> None:
    portfolio = PortfolioFactory(live=True)
    ApiKeyFactory(user=portfolio.user, permissions=["read"])

    trade = submit_live_order(trade=live_trade(portfolio))

    assert trade.status == Trade.Status.FAILED
    assert "'trade' permission" in trade.error_message
    assert fake_binance.calls("POST", "/order") == []


def test_a_portfolio_owner_without_a_key_gets_a_failed_trade(fake_binance) -> None:
    trade = submit_live_order(trade=live_trade(PortfolioFactory(live=True)))

    assert trade.status == Trade.Status.FAILED and "No binance API key" in trade.error_message
    assert fake_binance.requests == []


def test_a_broker_without_an_adapter_gets_a_failed_trade(fake_binance) -> None:
    portfolio = PortfolioFactory(live=True, broker="degiro")
    ApiKeyFactory(user=portfolio.user, exchange="degiro", permissions=["read", "trade"])

    trade = submit_live_order(trade=live_trade(portfolio))

    assert trade.status == Trade.Status.FAILED
    assert "No exchange adapter for 'degiro'" in trade.error_message


def test_paper_trades_and_other_peoples_keys_are_refused(fake_binance, portfolio) -> None:
    with pytest.raises(ValueError, match="paper"):
        submit_live_order(trade=TradeFactory())
    with pytest.raises(ValueError, match="owner"):
        submit_live_order(trade=live_trade(portfolio), api_key=ApiKeyFactory())


def test_submission_inside_a_transaction_is_refused(fake_binance, portfolio) -> None:
    trade = live_trade(portfolio)
    with pytest.raises(RuntimeError), transaction.atomic():
        submit_live_order(trade=trade)
    assert fake_binance.calls("POST", "/order") == []


def test_cancel_an_open_order(fake_binance, portfolio) -> None:
    fake_binance.order_plan.append("partial")
    trade = submit_live_order(
        trade=live_trade(portfolio, order_type=Trade.OrderType.LIMIT, price=Decimal("39000"))
    )

    trade = cancel_live_order(trade=trade)

    assert trade.status == Trade.Status.CANCELLED and trade.cancelled_at is not None
    assert trade.filled_quantity == Decimal("0.01")  # the part filled before stays
    with pytest.raises(StateConflict):
        cancel_live_order(trade=trade)


def test_cancelling_a_pending_trade_means_it_is_never_sent(fake_binance, portfolio) -> None:
    trade = cancel_live_order(trade=live_trade(portfolio))

    assert trade.status == Trade.Status.CANCELLED
    assert submit_live_order(trade=trade).status == Trade.Status.CANCELLED
    assert fake_binance.requests == []


def test_cancelling_an_order_that_filled_meanwhile_ends_filled(fake_binance, portfolio) -> None:
    fake_binance.order_plan.append("open")
    trade = submit_live_order(trade=live_trade(portfolio))
    fake_binance.fill(int(trade.broker_order_id))

    trade = cancel_live_order(trade=trade)

    assert trade.status == Trade.Status.FILLED


@pytest.mark.django_db(databases=["default", "timeseries"], transaction=True)
def test_two_concurrent_submissions_send_one_order(fake_binance) -> None:
    portfolio = PortfolioFactory(live=True)
    ApiKeyFactory(user=portfolio.user, permissions=["read", "trade"])
    trade = live_trade(portfolio)
    start = threading.Barrier(4)
    results: list[str] = []

    def submit() -> None:
        start.wait()
        try:
            results.append(submit_live_order(trade=trade).status)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=submit) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(fake_binance.calls("POST", "/order")) == 1
    trade.refresh_from_db()
    assert trade.status == Trade.Status.FILLED
    assert len(results) == 4
