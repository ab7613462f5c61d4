"""Placing and cancelling paper orders: every order type and status path, fills against hand
computation, overdraft refusal, idempotent retries."""

import datetime as dt
from decimal import Decimal
from unittest import mock

import pytest
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.utils import timezone

from compliance.models import AuditLog
from core.cache_keys import portfolio_key
from core.errors import StateConflict
from tests.factories import ApiKeyFactory, PortfolioFactory, StrategyFactory, UserFactory
from tests.trading.paper import SYMBOL, Clock, assert_books_balance, candle, set_ticker, tick
from trading.models import Position, Trade
from trading.orders import (
    cancel_order,
    expire_orders,
    place_order,
)
from trading.portfolio_cache import portfolio_view

pytestmark = pytest.mark.django_db(databases=["default", "timeseries"])

D = Decimal


@pytest.fixture
def portfolio():
    # Round costs for hand computation: 0.1% commission, 0.1% slippage.
    return PortfolioFactory(
        initial_balance=D("10000.00"),
        cash_balance=D("10000.00"),
        total_value=D("10000.00"),
        commission_pct=D("0.001"),
        slippage_pct=D("0.001"),
    )


@pytest.fixture
def clock():
    return Clock()


def order(portfolio, **kwargs):
    fields = {"symbol": SYMBOL, "side": "BUY", "order_type": "MARKET", "quantity": D("1")}
    fields.update(kwargs)
    return place_order(portfolio=portfolio, actor=portfolio.user, **fields)


def test_a_market_buy_fills_at_once_at_the_ticker_with_slippage_and_commission(portfolio):
    set_ticker("100")

    trade = order(portfolio, quantity=D("2"))

    # fill = 100 × 1.001 = 100.1; notional 200.2; commission 0.2002; cash 10000 − 200.4002
    assert trade.status == Trade.Status.FILLED
    assert trade.submitted_at is not None and trade.filled_at is not None
    assert trade.filled_quantity == D("2")
    assert trade.filled_price == D("100.1")
    assert trade.filled_value == D("200.20")
    assert trade.commission == D("0.2002")
    assert trade.slippage == D("0.2")
    assert trade.realized_pnl == D("-0.2002")
    position = Position.objects.get(portfolio=portfolio, is_open=True)
    assert position.quantity == D("2")
    assert position.average_entry_price == D("100.1")
    assert position.current_price == D("100")
    assert position.market_value == D("200.00")
    assert position.unrealized_pnl == D("-0.2")
    portfolio.refresh_from_db()
    assert portfolio.cash_balance == D("9799.60")
    assert portfolio.positions_value == D("200.00")
    assert portfolio.total_value == D("9999.60")
    assert portfolio.realized_pnl == D("-0.20")
    assert portfolio.unrealized_pnl == D("-0.20")
    assert_books_balance(portfolio)
    actions = set(AuditLog.objects.filter(resource_id=trade.pk).values_list("action", flat=True))
    assert actions == {"order_placed", "order_filled"}


def test_placing_and_filling_are_audited_through_the_one_encoder(portfolio):
    set_ticker("100")

    trade = order(portfolio, quantity=D("2"))

    placed = AuditLog.objects.get(resource_id=trade.pk, action="order_placed")
    assert (placed.user, placed.old_values) == (portfolio.user, None)
    assert placed.new_values == {
        "portfolio_id": str(portfolio.pk),
        "symbol": SYMBOL,
        "side": "BUY",
        "order_type": "MARKET",
        "quantity": "2.00000000",
        "quote_quantity": None,
        "price": None,
        "stop_price": None,
        "expires_at": None,
        "strategy_id": None,
    }
    filled = AuditLog.objects.get(resource_id=trade.pk, action="order_filled")
    # Old and new of the fill columns that changed (by hand above: 2 @ 100.1, 0.2002 commission).
    old = filled.old_values
    assert (old.pop("status"), old.pop("filled_price"), old.pop("filled_value")) == (
        "submitted",
        None,
        None,
    )
    # Zeros at their columns' 8 places, written positionally (not "0E-8").
    assert old == {
        "filled_quantity": "0.00000000",
        "commission": "0.00000000",
        "slippage": "0.00000000",
    }
    assert filled.new_values == {
        "status": "filled",
        "filled_quantity": "2.00000000",
        "filled_price": "100.10000000",
        "filled_value": "200.20",
        "commission": "0.20020000",
        "slippage": "0.20000000",
    }
    assert filled.metadata["fill"] == {
        "quantity": "2.00000000",
        "price": "100.10000000",
        "commission": "0.20020000",
    }


def test_average_entry_and_realized_pnl_match_hand_computation(portfolio):
    portfolio.slippage_pct = D("0")
    portfolio.save()
    set_ticker("100")
    order(portfolio, quantity=D("2"))  # 2 @ 100, commission 0.2
    set_ticker("130")
    order(portfolio, quantity=D("1"))  # 1 @ 130, commission 0.13 → average (200+130)/3 = 110
    position = Position.objects.get(portfolio=portfolio, is_open=True)
    assert position.average_entry_price == D("110")

    set_ticker("120")
    sell = order(portfolio, side="SELL", quantity=D("1.5"))  # closes 1.5 @ 120: +15, fee 0.18
    assert sell.realized_pnl == D("14.82")
    position.refresh_from_db()
    assert position.quantity == D("1.5")
    assert position.average_entry_price == D("110")
    assert position.is_open is True

    set_ticker("90")
    last = order(portfolio, side="SELL", quantity=D("1.5"))  # closes 1.5 @ 90: −30, fee 0.135
    assert last.realized_pnl == D("-30.135")
    position.refresh_from_db()
    assert position.is_open is False and position.closed_at is not None
    # the position's realized P&L: −0.2 − 0.13 + 14.82 − 30.135
    assert position.realized_pnl == D("-15.645")
    portfolio.refresh_from_db()
    # cash: 10000 − 200.2 − 130.13 + 179.82 + 134.865 → cents: −200.20 −130.13 +179.82 +134.87
    assert portfolio.cash_balance == D("9984.36")
    assert portfolio.positions_value == D("0")
    assert portfolio.realized_pnl == D("-15.65")
    assert_books_balance(portfolio)


def test_a_short_strategy_reverses_through_zero(portfolio):
    portfolio.slippage_pct = portfolio.commission_pct = D("0")
    portfolio.save()
    short = StrategyFactory(
        user=portfolio.user,
        entry_rules={
            "direction": "short",
            "all": [{"left": {"price": "close"}, "op": ">", "right": {"value": 1}}],
        },
    )
    set_ticker("100")
    order(portfolio, quantity=D("1"))
    set_ticker("110")
    reversal = order(portfolio, side="SELL", quantity=D("3"), strategy=short)
    assert reversal.realized_pnl == D("10")
    closed = Position.objects.get(portfolio=portfolio, is_open=False)
    opened = Position.objects.get(portfolio=portfolio, is_open=True)
    assert closed.closed_at is not None
    assert opened.quantity == D("-2") and opened.average_entry_price == D("110")
    assert reversal.position_id == opened.pk
    portfolio.refresh_from_db()
    assert portfolio.cash_balance == D("10230.00")  # −100 + 330
    assert portfolio.positions_value == D("-220.00")
    assert portfolio.total_value == D("10010.00")
    assert_books_balance(portfolio)


def test_a_buy_the_cash_cannot_pay_for_is_refused(portfolio):
    set_ticker("100")
    with pytest.raises(ValidationError) as error:
        order(portfolio, quantity=D("99.9"))  # 99.9 × 100.1 × 1.001 > 10000
    assert "quantity" in error.value.message_dict
    assert not Trade.objects.exists()
    trade = order(portfolio, quantity=D("99.7"))
    assert trade.status == Trade.Status.FILLED
    assert_books_balance(portfolio)


def test_a_sell_without_the_position_is_refused_unless_the_strategy_goes_short(portfolio):
    set_ticker("100")
    with pytest.raises(ValidationError) as error:
        order(portfolio, side="SELL")
    assert "quantity" in error.value.message_dict


def test_a_resting_buy_keeps_its_cash_from_later_orders_and_fills(portfolio, clock):
    # A fill the cash cannot pay for (a buy stop gapping far above its reserved price) fails
    # the order: test_reservations.py.
    set_ticker("100")
    limit = order(portfolio, order_type="LIMIT", price=D("90"), quantity=D("100"))
    assert limit.status == Trade.Status.SUBMITTED
    with pytest.raises(ValidationError) as error:
        order(portfolio, quantity=D("50"))  # would spend half the cash the limit holds back
    assert "quantity" in error.value.message_dict
    tick(clock, "89")
    limit.refresh_from_db()
    assert limit.status == Trade.Status.FILLED
    assert limit.filled_quantity == D("100")
    assert_books_balance(portfolio)


def test_a_market_order_without_a_known_price_is_a_field_error(portfolio):
    with pytest.raises(ValidationError) as error:
        order(portfolio, symbol="ZZZ/USDT")
    assert "symbol" in error.value.message_dict


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"order_type": "LIMIT"}, "price"),
        ({"order_type": "MARKET", "price": D("1")}, "price"),
        ({"order_type": "STOP_LIMIT", "price": D("1")}, "stop_price"),
        ({"order_type": "LIMIT", "price": D("1"), "stop_price": D("1")}, "stop_price"),
        ({"quantity": D("0")}, "quantity"),
        ({"quantity": D("0.000000001")}, "quantity"),
        ({"quantity": "abc"}, "quantity"),
        ({"side": "HOLD"}, "side"),
        ({"order_type": "ICEBERG"}, "order_type"),
        ({"symbol": "btc"}, "symbol"),
        ({"order_type": "LIMIT", "price": D("-5")}, "price"),
        (
            {
                "order_type": "LIMIT",
                "price": D("1"),
                "expires_at": dt.datetime(2000, 1, 1, tzinfo=dt.UTC),
            },
            "expires_at",
        ),
    ],
)
def test_a_bad_order_is_refused_with_a_field_error(portfolio, fields, field):
    set_ticker("100")
    with pytest.raises(ValidationError) as error:
        order(portfolio, **fields)
    assert field in error.value.message_dict
    assert not Trade.objects.exists()


def test_a_limit_buy_rests_until_a_price_comes_down_to_it(portfolio, clock):
    set_ticker("100")
    trade = order(portfolio, order_type="LIMIT", price=D("95"))
    assert trade.status == Trade.Status.SUBMITTED and trade.filled_at is None
    tick(clock, "96")
    trade.refresh_from_db()
    assert trade.status == Trade.Status.SUBMITTED
    tick(clock, "94")  # fills at 94, better than the limit, without slippage
    trade.refresh_from_db()
    assert trade.status == Trade.Status.FILLED
    assert trade.filled_price == D("94")
    assert trade.slippage == 0
    assert_books_balance(portfolio)


def test_a_marketable_limit_fills_at_once_at_the_ticker(portfolio):
    set_ticker("100")
    trade = order(portfolio, order_type="LIMIT", price=D("105"))
    assert trade.status == Trade.Status.FILLED
    assert trade.filled_price == D("100")


def test_a_limit_sell_fills_at_the_limit_on_a_candle_reaching_it_and_at_a_gap_open(
    portfolio, clock
):
    set_ticker("100")
    order(portfolio, quantity=D("2"))
    first = order(portfolio, side="SELL", order_type="LIMIT", price=D("110"), quantity=D("1"))
    second = order(portfolio, side="SELL", order_type="LIMIT", price=D("112"), quantity=D("1"))
    candle(clock, "101", "111", "100", "105")
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.status == Trade.Status.FILLED and first.filled_price == D("110")
    assert second.status == Trade.Status.SUBMITTED
    candle(clock, "115", "116", "114", "115")  # opens above the limit: fills at the open
    second.refresh_from_db()
    assert second.filled_price == D("115")
    assert_books_balance(portfolio)


def test_a_stop_loss_sells_at_the_stop_with_slippage_or_at_a_gap_open(portfolio, clock):
    set_ticker("100")
    order(portfolio, quantity=D("2"))
    stop = order(portfolio, side="SELL", order_type="STOP_LOSS", price=D("95"), quantity=D("1"))
    gap = order(portfolio, side="SELL", order_type="STOP_LOSS", price=D("90"), quantity=D("1"))
    assert stop.status == gap.status == Trade.Status.SUBMITTED
    candle(clock, "99", "100", "94", "96")
    stop.refresh_from_db()
    assert stop.status == Trade.Status.FILLED
    assert stop.filled_price == D("94.905")  # 95 × (1 − 0.001)
    candle(clock, "85", "86", "84", "85")  # gapped below 90: the open, worse
    gap.refresh_from_db()
    assert gap.filled_price == D("84.915")
    assert_books_balance(portfolio)


def test_a_take_profit_sells_at_its_price_when_reached(portfolio, clock):
    set_ticker("100")
    order(portfolio, quantity=D("1"))
    target = order(portfolio, side="SELL", order_type="TAKE_PROFIT", price=D("120"))
    tick(clock, "119.99")
    target.refresh_from_db()
    assert target.status == Trade.Status.SUBMITTED
    tick(clock, "120")
    target.refresh_from_db()
    assert target.status == Trade.Status.FILLED and target.filled_price == D("120")


def test_a_stop_limit_waits_for_its_stop_then_rests_as_a_limit(portfolio, clock):
    set_ticker("100")
    trade = order(
        portfolio, order_type="STOP_LIMIT", stop_price=D("105"), price=D("106"), quantity=D("1")
    )
    assert trade.status == Trade.Status.SUBMITTED
    tick(clock, "104")
    trade.refresh_from_db()
    assert trade.triggered_at is None
    tick(clock, "107")  # the stop is reached, the limit (106) is not
    trade.refresh_from_db()
    assert trade.triggered_at is not None and trade.status == Trade.Status.SUBMITTED
    tick(clock, "105.5")
    trade.refresh_from_db()
    assert trade.status == Trade.Status.FILLED and trade.filled_price == D("105.5")


def test_a_candle_smaller_than_the_order_fills_it_partially(portfolio, clock):
    set_ticker("100")
    trade = order(portfolio, order_type="LIMIT", price=D("95"), quantity=D("10"))
    candle(clock, "96", "97", "94", "95", volume="4")
    trade.refresh_from_db()
    assert trade.status == Trade.Status.PARTIAL
    assert trade.filled_quantity == D("4") and trade.filled_price == D("95")
    candle(clock, "95", "95", "93", "94", volume="100")
    trade.refresh_from_db()
    assert trade.status == Trade.Status.FILLED
    # 4 @ 95 then 6 @ 95 (the limit; the bar opened at it)
    assert trade.filled_price == D("95")
    assert trade.commission == D("0.95")
    assert_books_balance(portfolio)


def test_a_partial_order_can_be_cancelled_and_keeps_what_it_filled(portfolio, clock):
    set_ticker("100")
    trade = order(portfolio, order_type="LIMIT", price=D("95"), quantity=D("10"))
    candle(clock, "96", "97", "94", "95", volume="3")
    cancelled = cancel_order(trade=trade, actor=portfolio.user)
    assert cancelled.status == Trade.Status.CANCELLED and cancelled.cancelled_at is not None
    assert cancelled.filled_quantity == D("3")
    candle(clock, "90", "90", "80", "85", volume="100")
    cancelled.refresh_from_db()
    assert cancelled.filled_quantity == D("3")
    assert AuditLog.objects.filter(action="order_cancelled", resource_id=trade.pk).exists()


@pytest.mark.parametrize("status", ["filled", "cancelled", "failed", "expired"])
def test_only_an_open_order_can_be_cancelled(portfolio, status):
    trade = Trade.objects.create(
        user=portfolio.user,
        portfolio=portfolio,
        symbol=SYMBOL,
        side="BUY",
        order_type="LIMIT",
        price=D("1"),
        quantity=D("1"),
        is_paper=True,
        status=status,
    )
    with pytest.raises(StateConflict):
        cancel_order(trade=trade, actor=portfolio.user)


def test_an_order_past_its_expiry_expires_and_no_longer_fills(portfolio, clock):
    set_ticker("100")
    expires = timezone.now() + dt.timedelta(seconds=30)
    trade = order(portfolio, order_type="LIMIT", price=D("90"), expires_at=expires)
    assert trade.expires_at == expires
    assert expire_orders(now=expires - dt.timedelta(seconds=1)) == []
    tick(clock, "80")  # the clock is past the expiry already: no fill
    trade.refresh_from_db()
    assert trade.status == Trade.Status.SUBMITTED
    assert [t.pk for t in expire_orders(now=expires)] == [trade.pk]
    trade.refresh_from_db()
    assert trade.status == Trade.Status.EXPIRED
    assert expire_orders(now=expires) == []


def test_a_retry_with_the_same_idempotency_key_returns_the_first_order(portfolio):
    set_ticker("100")
    first = order(portfolio, idempotency_key="abc-1")
    again = order(portfolio, idempotency_key="abc-1", quantity=D("5"))
    assert again.pk == first.pk
    assert Trade.objects.count() == 1
    other_user_portfolio = PortfolioFactory(user=UserFactory())
    theirs = place_order(
        portfolio=other_user_portfolio,
        actor=other_user_portfolio.user,
        symbol=SYMBOL,
        side="BUY",
        order_type="MARKET",
        quantity=D("1"),
        idempotency_key="abc-1",
    )
    assert theirs.pk != first.pk  # keys are unique per user


def test_an_idempotency_key_from_another_portfolio_is_a_conflict(portfolio):
    set_ticker("100")
    order(portfolio, idempotency_key="k")
    second = PortfolioFactory(user=portfolio.user)
    with pytest.raises(StateConflict):
        order(second, idempotency_key="k")


def test_a_live_portfolio_order_is_pending_and_queued_after_commit_or_refused(
    portfolio, django_capture_on_commit_callbacks
):
    live = PortfolioFactory(user=portfolio.user, live=True)
    with pytest.raises(StateConflict):  # no broker key
        order(live)
    assert not Trade.objects.exists()
    ApiKeyFactory(user=portfolio.user, permissions=["read", "trade"])
    with (
        mock.patch("celery.current_app.send_task") as send_task,
        django_capture_on_commit_callbacks(execute=True),
    ):
        trade = order(live)
        assert send_task.call_count == 0
    send_task.assert_called_once_with("trading.tasks.submit_live_order", args=[str(trade.pk)])
    assert trade.status == Trade.Status.PENDING and trade.is_paper is False


def test_every_fill_drops_the_cached_portfolio_view(portfolio, clock):
    set_ticker("100")
    assert portfolio_view(portfolio.pk)["cash_balance"] == "10000.00"
    assert cache.get(portfolio_key(portfolio.pk)) is not None
    order(portfolio, quantity=D("1"))
    assert cache.get(portfolio_key(portfolio.pk)) is None
    view = portfolio_view(portfolio.pk)
    assert view["cash_balance"] == "9899.80"
    assert view["positions"][0]["quantity"] == "1.00000000"
    tick(clock, "110")  # marking to market drops it too
    assert cache.get(portfolio_key(portfolio.pk)) is None
    assert portfolio_view(portfolio.pk)["positions_value"] == "110.00"


def test_positions_are_marked_to_market_as_prices_arrive(portfolio, clock):
    set_ticker("100")
    order(portfolio, quantity=D("2"))
    tick(clock, "150")
    position = Position.objects.get(portfolio=portfolio, is_open=True)
    assert position.current_price == D("150")
    assert position.market_value == D("300.00")
    assert position.unrealized_pnl == D("99.8")  # 2 × (150 − 100.1)
    assert position.unrealized_pnl_pct == D("49.8501")
    portfolio.refresh_from_db()
    assert portfolio.unrealized_pnl == D("99.80")
    assert portfolio.total_value == portfolio.cash_balance + D("300.00")
    assert_books_balance(portfolio)


def test_a_position_up_more_than_a_hundredfold_shows_the_largest_percent_the_column_holds(
    portfolio, clock
):
    set_ticker("1")
    order(portfolio, quantity=D("10"))
    tick(clock, "500")
    position = Position.objects.get(portfolio=portfolio, is_open=True)
    assert position.unrealized_pnl_pct == D("9999.9999")
    assert position.unrealized_pnl == D("4989.99")  # 10 × (500 − 1.001)
