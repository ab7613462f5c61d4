"""Prices flow from market data's write path to the paper exchange and the alerts: a tick stored
through record_ticks, or a fresh 1m candle through upsert_candles, is announced after commit,
and the queued tasks fill resting orders, mark positions and fire alerts."""

import datetime as dt
from contextlib import contextmanager
from decimal import Decimal
from unittest import mock

import pytest
from django.utils import timezone

from marketdata.services import CandleInput, TickInput, record_ticks, upsert_candles
from tests.factories import AlertFactory, PortfolioFactory, PositionFactory
from tests.trading.paper import SYMBOL, assert_books_balance, set_ticker
from trading.models import Position, Trade
from trading.orders import place_order

pytestmark = pytest.mark.django_db(databases=["default", "timeseries"])
D = Decimal


@pytest.fixture
def flow(run_tasks, django_capture_on_commit_callbacks):
    """Commit market data's write (timeseries callbacks), then the default database's callbacks
    (the queued tasks), which run in this process."""
    capture, sent = run_tasks

    @contextmanager
    def committed():
        with capture(), django_capture_on_commit_callbacks(using="timeseries", execute=True):
            yield

    return committed, sent


@pytest.fixture
def resting_buy():
    portfolio = PortfolioFactory()
    set_ticker("100", at=timezone.now() - dt.timedelta(minutes=5))
    trade = place_order(
        portfolio=portfolio,
        actor=portfolio.user,
        symbol=SYMBOL,
        side="BUY",
        order_type="LIMIT",
        quantity=D("2"),
        price=D("95"),
    )
    assert trade.status == Trade.Status.SUBMITTED
    return trade


def test_a_tick_written_by_market_data_fills_a_resting_order_and_fires_an_alert(
    flow, resting_buy
) -> None:
    committed, sent = flow
    alert = AlertFactory(symbol=SYMBOL, condition="below", threshold=D("96"))
    untouched = AlertFactory(symbol=SYMBOL, condition="below", threshold=D("90"))

    with committed():
        record_ticks(ticks=[TickInput(time=timezone.now(), symbol=SYMBOL, last_price=D("94.5"))])
        assert sent == []  # nothing before the commit

    assert "trading.tasks.process_price" in sent
    assert "accounts.tasks.evaluate_price_alerts" in sent
    trade = Trade.objects.get(pk=resting_buy.pk)
    assert trade.status == Trade.Status.FILLED
    assert trade.filled_price == D("94.5")  # a tick beyond the limit fills at the tick (better)
    position = Position.objects.get(portfolio=trade.portfolio, is_open=True)
    assert (position.quantity, position.current_price) == (D("2"), D("94.5"))
    assert position.market_value == D("189.00")  # marked at the tick
    assert_books_balance(trade.portfolio)
    alert.refresh_from_db()
    untouched.refresh_from_db()
    assert alert.is_triggered and alert.triggered_at is not None
    assert not untouched.is_triggered


def test_a_fresh_1m_candle_fills_what_its_low_crosses_and_fires_price_alerts(
    flow, resting_buy
) -> None:
    committed, sent = flow
    alert = AlertFactory(symbol=SYMBOL, condition="above", threshold=D("97"))
    minute = timezone.now().replace(second=0, microsecond=0) - dt.timedelta(minutes=1)
    candle = CandleInput(minute, D("99"), D("99.5"), D("94"), D("98"), D("10"))
    # matched only by prices after its submission: placed before the candle's minute
    Trade.objects.filter(pk=resting_buy.pk).update(submitted_at=minute - dt.timedelta(minutes=1))

    with committed():
        upsert_candles(symbol=SYMBOL, timeframe="1m", candles=[candle])

    assert "trading.tasks.process_candle" in sent
    assert "trading.tasks.process_price" not in sent  # the candle is seen once
    trade = Trade.objects.get(pk=resting_buy.pk)
    assert (trade.status, trade.filled_price) == (Trade.Status.FILLED, D("95"))
    position = Position.objects.get(portfolio=trade.portfolio, is_open=True)
    assert position.current_price == D("98")  # marked at the close
    assert_books_balance(trade.portfolio)
    alert.refresh_from_db()
    assert alert.is_triggered  # the close, 98, is above 97


def test_a_moving_tick_marks_open_positions_without_orders(flow) -> None:
    committed, _ = flow
    position = PositionFactory(quantity=D("0.5"), average_entry_price=D("100"))

    with committed():
        record_ticks(ticks=[TickInput(time=timezone.now(), symbol=SYMBOL, last_price=D("110"))])

    position.refresh_from_db()
    assert (position.current_price, position.market_value) == (D("110"), D("55.00"))
    assert position.unrealized_pnl == D("5")
    position.portfolio.refresh_from_db()
    assert position.portfolio.unrealized_pnl == D("5.00")


def test_history_and_late_ticks_are_stored_without_being_announced(flow, resting_buy) -> None:
    committed, _ = flow
    old = timezone.now() - dt.timedelta(days=2)
    old = old.replace(second=0, microsecond=0)
    with mock.patch("celery.current_app.send_task") as send_task, committed():
        upsert_candles(
            symbol=SYMBOL,
            timeframe="1m",
            candles=[CandleInput(old, D("90"), D("91"), D("80"), D("85"), D("5"))],
        )
        # older than the ticker (set when the order was placed): not the latest price
        record_ticks(
            ticks=[TickInput(time=old, symbol=SYMBOL, last_price=D("80"))],
        )
    assert send_task.call_count == 0
    assert Trade.objects.get(pk=resting_buy.pk).status == Trade.Status.SUBMITTED
