"""Open paper orders hold back what they may spend: a resting BUY reserves its most possible
cost, a resting SELL its units; fills consume the reservation, closing an order releases it, and
the database keeps the portfolio's sum (docs/paper-trading.md, "Reserved cash")."""

import datetime as dt
from decimal import Decimal
from unittest import mock

import pytest
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework.test import APIClient

from core.cache_keys import portfolio_key
from marketdata.services import upsert_candles
from tests.factories import ApiKeyFactory, PortfolioFactory
from tests.trading.paper import SYMBOL, Clock, assert_books_balance, candle, set_ticker, tick
from tests.trading.test_strategy_runs import FAST_SLOW, backtest, deployed, series
from trading.models import Portfolio, Trade
from trading.orders import cancel_order, expire_orders, place_order
from trading.portfolio_cache import portfolio_view
from trading.strategy_runs import evaluate_strategies

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
    fields = {"symbol": SYMBOL, "side": "BUY", "order_type": "LIMIT", "quantity": D("1")}
    fields.update(kwargs)
    return place_order(portfolio=portfolio, actor=portfolio.user, **fields)


def reserved(portfolio) -> tuple[Decimal, Decimal]:
    portfolio.refresh_from_db()
    return portfolio.reserved_cash, portfolio.available_cash


def assert_reserved_is_the_open_orders_sum(portfolio) -> None:
    portfolio.refresh_from_db()
    open_buys = Trade.objects.filter(
        portfolio=portfolio, side="BUY", status__in=["pending", "submitted", "partial"]
    )
    assert portfolio.reserved_cash == sum((t.reserved_cash for t in open_buys), D(0))
    assert not Trade.objects.filter(portfolio=portfolio, reserved_cash__gt=0).exclude(
        status__in=["pending", "submitted", "partial"]
    )
    assert portfolio.cash_balance >= portfolio.reserved_cash >= 0


def test_a_resting_buy_reserves_its_most_possible_cost_and_later_orders_see_the_rest(portfolio):
    set_ticker("100")
    limit = order(portfolio, price=D("90"), quantity=D("100"))
    # 100 × 90 × 1.001 = 9009.00; a limit fills at its price or better, without slippage
    assert limit.status == Trade.Status.SUBMITTED and limit.reserved_cash == D("9009.00")
    assert reserved(portfolio) == (D("9009.00"), D("991.00"))

    with pytest.raises(ValidationError) as error:
        order(portfolio, order_type="MARKET", quantity=D("50"))  # ~5010, more than 991
    assert "991.00 is available" in error.value.message_dict["quantity"][0]
    assert Trade.objects.count() == 1

    # 12 × 80 × 1.001 = 960.96 fits; then 30.04 is left and 80.08 does not fit
    order(portfolio, price=D("80"), quantity=D("12"))
    assert reserved(portfolio) == (D("9969.96"), D("30.04"))
    with pytest.raises(ValidationError):
        order(portfolio, price=D("80"), quantity=D("1"))
    # A buy stop reserves its stop with slippage: 0.2 × 120 × 1.001 × 1.001 = 24.048024 → 24.05
    stop = order(portfolio, order_type="STOP_LOSS", price=D("120"), quantity=D("0.2"))
    assert stop.reserved_cash == D("24.05")
    assert reserved(portfolio) == (D("9994.01"), D("5.99"))
    assert_reserved_is_the_open_orders_sum(portfolio)


def test_cancel_and_expiry_release_what_the_order_reserved(portfolio):
    set_ticker("100")
    expires = timezone.now() + dt.timedelta(seconds=30)
    first = order(portfolio, price=D("90"), quantity=D("10"))  # 900.90
    order(portfolio, price=D("50"), quantity=D("2"), expires_at=expires)  # 100.10
    assert reserved(portfolio) == (D("1001.00"), D("8999.00"))

    cancel_order(trade=first, actor=portfolio.user)
    first.refresh_from_db()
    assert first.reserved_cash == 0
    assert reserved(portfolio) == (D("100.10"), D("9899.90"))

    expire_orders(now=expires)
    assert reserved(portfolio) == (D("0.00"), D("10000.00"))
    assert_reserved_is_the_open_orders_sum(portfolio)


def test_a_partial_fill_debits_its_cost_and_a_fill_below_the_limit_frees_the_difference(
    portfolio, clock
):
    set_ticker("100")
    trade = order(portfolio, price=D("95"), quantity=D("10"))  # 10 × 95 × 1.001 = 950.95
    candle(clock, "93", "94", "92", "93", volume="4")  # opens below the limit: 4 @ 93
    trade.refresh_from_db()
    assert trade.status == Trade.Status.PARTIAL and trade.filled_quantity == D("4")
    # cost 4 × 93 × 1.001 = 372.372 → 372.37; the 6 left need 6 × 95 × 1.001 = 570.57
    assert trade.reserved_cash == D("570.57")
    portfolio.refresh_from_db()
    assert portfolio.cash_balance == D("9627.63")
    assert reserved(portfolio) == (D("570.57"), D("9057.06"))

    candle(clock, "96", "97", "94", "95", volume="100")  # the rest at the limit: 570.57
    trade.refresh_from_db()
    assert trade.status == Trade.Status.FILLED and trade.reserved_cash == 0
    portfolio.refresh_from_db()
    assert portfolio.cash_balance == D("9057.06")
    assert reserved(portfolio) == (D("0.00"), D("9057.06"))
    assert_books_balance(portfolio)


def test_a_resting_buy_reserving_all_but_a_cent_fills_out_of_its_reservation(portfolio, clock):
    set_ticker("105")
    with pytest.raises(ValidationError):  # 99.91 × 100 × 1.001 = 10001.00
        order(portfolio, order_type="TAKE_PROFIT", price=D("100"), quantity=D("99.91"))
    # 99.9 × 100 × 1.001 = 9999.99: all but a cent
    trade = order(portfolio, order_type="TAKE_PROFIT", price=D("100"), quantity=D("99.9"))
    assert trade.status == Trade.Status.SUBMITTED
    assert reserved(portfolio) == (D("9999.99"), D("0.01"))
    tick(clock, "100")  # 9990 + 9.99 commission
    trade.refresh_from_db()
    assert trade.status == Trade.Status.FILLED
    portfolio.refresh_from_db()
    assert portfolio.cash_balance == D("0.01")
    assert reserved(portfolio) == (D("0.00"), D("0.01"))
    assert_books_balance(portfolio)


def test_a_buy_stop_gapping_above_its_reservation_takes_the_rest_from_available_cash_or_fails(
    portfolio, clock
):
    set_ticker("100")
    stop = order(portfolio, order_type="STOP_LOSS", price=D("110"), quantity=D("10"))
    # 10 × 110 × 1.001 × 1.001 = 1102.2011 → 1102.21
    assert stop.reserved_cash == D("1102.21")
    # 177 × 50 × 1.001 = 8858.85 leaves 38.94 available
    limit = order(portfolio, price=D("50"), quantity=D("177"))
    assert reserved(portfolio) == (D("9961.06"), D("38.94"))

    candle(clock, "200", "201", "199", "200")  # gaps over the stop: 10 × 200.2 × 1.001 ≈ 2004
    stop.refresh_from_db()
    assert stop.status == Trade.Status.FAILED and "cash" in stop.error_message
    assert stop.reserved_cash == 0
    assert reserved(portfolio) == (D("8858.85"), D("1141.15"))
    limit.refresh_from_db()
    assert limit.status == Trade.Status.SUBMITTED

    cancel_order(trade=limit, actor=portfolio.user)
    stop = order(portfolio, order_type="STOP_LOSS", price=D("210"), quantity=D("1"))
    # reserved 1 × 210 × 1.001² = 210.420210 → 210.43; the gap to 250 costs 250.25 × 1.001
    candle(clock, "250", "251", "249", "250")
    stop.refresh_from_db()
    assert stop.status == Trade.Status.FILLED and stop.filled_price == D("250.25")
    portfolio.refresh_from_db()
    assert portfolio.cash_balance == D("10000.00") - D("250.50")  # 250.50025 → 250.50
    assert portfolio.reserved_cash == 0
    assert_books_balance(portfolio)


def test_a_sell_may_only_sell_units_no_other_open_sell_is_selling(portfolio, clock):
    set_ticker("100")
    order(portfolio, order_type="MARKET", quantity=D("2"))
    first = order(portfolio, side="SELL", price=D("110"), quantity=D("1.5"))
    with pytest.raises(ValidationError) as error:
        order(portfolio, side="SELL", order_type="MARKET", quantity=D("1"))
    assert "0.50000000 can be sold" in error.value.message_dict["quantity"][0]
    order(portfolio, side="SELL", order_type="STOP_LOSS", price=D("90"), quantity=D("0.5"))
    with pytest.raises(ValidationError):
        order(portfolio, side="SELL", price=D("120"), quantity=D("0.1"))

    candle(clock, "101", "111", "100", "105", volume="1")  # 1 of the 1.5 sells at 110
    first.refresh_from_db()
    assert first.status == Trade.Status.PARTIAL
    # held 1, open sells still selling 0.5 + 0.5: nothing left to sell
    with pytest.raises(ValidationError):
        order(portfolio, side="SELL", price=D("120"), quantity=D("0.1"))
    cancel_order(trade=first, actor=portfolio.user)
    assert order(portfolio, side="SELL", price=D("120"), quantity=D("0.5")).status == "submitted"
    assert_books_balance(portfolio)


def test_the_database_keeps_the_reserved_sum_whoever_writes(portfolio):
    set_ticker("100")
    trade = order(portfolio, price=D("90"), quantity=D("10"))  # 900.90
    stale = Portfolio.objects.get(pk=portfolio.pk)

    # A direct write of the sum is ignored, and so is a stale copy saved whole.
    Portfolio.objects.filter(pk=portfolio.pk).update(reserved_cash=D("0"))
    stale.reserved_cash = D("0")
    stale.name = "Renamed"
    stale.save()
    assert reserved(portfolio) == (D("900.90"), D("9099.10"))
    assert portfolio.name == "Renamed"

    # Cash may not drop below what the open orders hold back.
    with pytest.raises(IntegrityError), transaction.atomic():
        Portfolio.objects.filter(pk=portfolio.pk).update(cash_balance=D("900.89"))

    # An order closed by any UPDATE releases its reservation.
    Trade.objects.filter(pk=trade.pk).update(status=Trade.Status.FAILED)
    trade.refresh_from_db()
    assert trade.reserved_cash == 0
    assert reserved(portfolio) == (D("0.00"), D("10000.00"))

    # A deleted open order takes its reservation with it; one moved to another portfolio
    # takes it there.
    moved = order(portfolio, price=D("10"), quantity=D("10"))  # 100.10
    gone = order(portfolio, price=D("10"), quantity=D("1"))  # 10.01
    elsewhere = PortfolioFactory(cash_balance=D("500.00"), total_value=D("500.00"))
    Trade.objects.filter(pk=gone.pk).delete()
    Trade.objects.filter(pk=moved.pk).update(portfolio=elsewhere)
    assert reserved(portfolio) == (D("0.00"), D("10000.00"))
    assert reserved(elsewhere) == (D("100.10"), D("399.90"))
    Trade.objects.filter(pk=moved.pk).delete()

    # Nor may an order reserve more than the cash.
    other = order(portfolio, price=D("90"), quantity=D("1"))
    with pytest.raises(IntegrityError), transaction.atomic():
        Trade.objects.filter(pk=other.pk).update(reserved_cash=D("10000.01"))
    with pytest.raises(IntegrityError), transaction.atomic():
        Trade.objects.filter(pk=other.pk).update(reserved_cash=D("-1"))


def test_the_portfolio_view_and_api_show_what_is_available(portfolio):
    set_ticker("100")
    client = APIClient()
    client.force_login(portfolio.user)
    assert portfolio_view(portfolio.pk)["available_cash"] == "10000.00"

    response = client.post(
        f"/api/v1/portfolios/{portfolio.pk}/orders",
        {"symbol": SYMBOL, "side": "BUY", "order_type": "LIMIT", "quantity": "100", "price": "90"},
        format="json",
    )
    assert response.status_code == 201, response.json()
    assert response.json()["reserved_cash"] == "9009.00"
    assert cache.get(portfolio_key(portfolio.pk)) is None  # the placement dropped the view
    view = portfolio_view(portfolio.pk)
    assert (view["reserved_cash"], view["available_cash"]) == ("9009.00", "991.00")
    body = client.get(f"/api/v1/portfolios/{portfolio.pk}").json()
    assert (body["cash_balance"], body["reserved_cash"], body["available_cash"]) == (
        "10000.00",
        "9009.00",
        "991.00",
    )

    response = client.post(
        f"/api/v1/portfolios/{portfolio.pk}/orders",
        {"symbol": SYMBOL, "side": "BUY", "order_type": "LIMIT", "quantity": "12", "price": "90"},
        format="json",
    )
    assert response.status_code == 400
    assert "991.00 is available" in str(response.json())
    assert "quantity" in str(response.json())
    assert Trade.objects.filter(portfolio=portfolio).count() == 1


def test_a_tick_fills_a_resting_buy_out_of_its_own_reservation(portfolio, clock):
    set_ticker("100")
    trade = order(portfolio, price=D("90"), quantity=D("100"))  # 9009.00, 991.00 left
    order(portfolio, price=D("80"), quantity=D("12"))  # 960.96, 30.04 left
    tick(clock, "89")  # 100 × 89 × 1.001 = 8908.90: fills; 9009.00 − 8908.90 = 100.10 freed
    trade.refresh_from_db()
    assert trade.status == Trade.Status.FILLED
    portfolio.refresh_from_db()
    assert portfolio.cash_balance == D("1091.10")
    assert reserved(portfolio) == (D("960.96"), D("130.14"))
    assert_books_balance(portfolio)
    assert_reserved_is_the_open_orders_sum(portfolio)


def test_a_strategy_entry_is_sized_from_the_cash_no_order_holds_back():
    candles = series(120)
    upsert_candles(symbol=SYMBOL, timeframe="1m", candles=candles)
    strategy, portfolio = deployed(FAST_SLOW["entry"], FAST_SLOW["exit"], "100")
    order(portfolio, price=D("50"), quantity=D("100"))  # 100 × 50 × 1.001 = 5005.00
    expected = backtest(candles, FAST_SLOW["entry"], FAST_SLOW["exit"], 100.0)
    close_at = dt.datetime.fromisoformat(expected[0].entry_date.replace("Z", "+00:00"))

    placed = evaluate_strategies(timeframe="1m", close_at=close_at, symbols=[SYMBOL])

    # 100% of the 4995.00 available, not of the 10000.00 cash (which would be refused)
    assert len(placed) == 1 and placed[0].quote_quantity == D("4995.00")
    assert placed[0].reserved_cash == D("4995.00")
    assert reserved(portfolio) == (D("10000.00"), D("0.00"))
    assert placed[0].strategy_id == strategy.pk


def test_a_buy_stop_the_ticker_is_already_above_is_checked_at_the_ticker(portfolio):
    set_ticker("100")
    # At the stop (90) it would seem to fit; it fills at once at 100 × 1.001:
    # 99.81 × 100.1 × 1.001 = 10001.0 is more than the cash.
    with pytest.raises(ValidationError) as error:
        order(portfolio, order_type="STOP_LOSS", price=D("90"), quantity=D("99.81"))
    assert "quantity" in error.value.message_dict
    assert not Trade.objects.exists()
    # 99.8 × 100 × 1.001 × 1.001 = 9999.96998 → 9999.97 reserved; the fill costs 9999.97
    trade = order(portfolio, order_type="STOP_LOSS", price=D("90"), quantity=D("99.8"))
    assert trade.status == Trade.Status.FILLED and trade.filled_price == D("100.1")
    portfolio.refresh_from_db()
    assert portfolio.cash_balance == D("0.03") and portfolio.reserved_cash == 0
    assert_books_balance(portfolio)


def test_a_live_order_reserves_nothing_but_is_checked_against_the_cash(portfolio):
    # The exchange holds a live account's funds; the books' cash is not its balance.
    live = PortfolioFactory(
        user=portfolio.user, live=True, cash_balance=D("1000.00"), total_value=D("1000.00")
    )
    ApiKeyFactory(user=portfolio.user, permissions=["read", "trade"])
    with mock.patch("celery.current_app.send_task"):
        for _ in range(2):  # 11 × 90 × 1.001 = 990.99 each
            assert order(live, price=D("90"), quantity=D("11")).reserved_cash == 0
        with pytest.raises(ValidationError):  # 11 × 91 × 1.001 = 1002.00: more than the cash
            order(live, price=D("91"), quantity=D("11"))
    assert Trade.objects.filter(portfolio=live).count() == 2
    assert reserved(live) == (D("0.00"), D("1000.00"))
