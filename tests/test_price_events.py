"""Market data announces prices; the paper exchange and alerts queue their tasks after commit."""

import datetime as dt
from decimal import Decimal
from unittest import mock

import pytest

from marketdata.price_events import announce_candle_closed, announce_price, wanted_timeframes
from strategies.models import Strategy
from tests.factories import AlertFactory, StrategyFactory

pytestmark = pytest.mark.django_db(databases=["default", "timeseries"])
AT = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)


def test_a_price_queues_the_paper_exchange_and_the_alerts_after_commit(
    django_capture_on_commit_callbacks,
):
    with (
        mock.patch("celery.current_app.send_task") as send_task,
        django_capture_on_commit_callbacks(execute=True),
    ):
        announce_price(symbol="BTC/USDT", price=Decimal("101.5"), at=AT)
        assert send_task.call_count == 0  # not before the commit
    sent = {call.args[0]: call.kwargs["args"] for call in send_task.call_args_list}
    assert sent["trading.tasks.process_price"] == [
        "BTC/USDT",
        AT.isoformat(),
        "101.5",
        "101.5",
        "101.5",
        "101.5",
        None,
    ]
    assert sent["accounts.tasks.evaluate_price_alerts"] == ["BTC/USDT", "101.5", AT.isoformat()]


@pytest.mark.parametrize("timeframe", ["1m", "1h"])
def test_a_closed_candle_queues_alerts_and_the_paper_exchange(
    django_capture_on_commit_callbacks, timeframe
):
    with (
        mock.patch("celery.current_app.send_task") as send_task,
        django_capture_on_commit_callbacks(execute=True),
    ):
        announce_candle_closed(
            symbol="BTC/USDT",
            timeframe=timeframe,
            time=AT,
            close_at=AT + dt.timedelta(minutes=1),
            open=Decimal(1),
            high=Decimal(2),
            low=Decimal("0.5"),
            close=Decimal("1.5"),
            volume=Decimal(10),
        )
    sent = {call.args[0]: call.kwargs["args"] for call in send_task.call_args_list}
    assert sent["accounts.tasks.evaluate_candle_alerts"][:2] == ["BTC/USDT", timeframe]
    # A 1m close is the latest price: price alerts follow it (a coarser candle's close is not).
    expected = ["BTC/USDT", "1.5", (AT + dt.timedelta(minutes=1)).isoformat()]
    assert sent.get("accounts.tasks.evaluate_price_alerts") == (
        expected if timeframe == "1m" else None
    )
    assert sent["trading.tasks.process_candle"] == [
        "BTC/USDT",
        timeframe,
        (AT + dt.timedelta(minutes=1)).isoformat(),
        "1",
        "2",
        "0.5",
        "1.5",
        "10",
    ]


def test_market_data_is_told_the_timeframes_of_active_strategies_and_indicator_alerts():
    StrategyFactory(asset_symbol="ETH/USDT", timeframe="1h", status=Strategy.Status.ACTIVE)
    StrategyFactory(asset_symbol="ETH/USDT", timeframe="15m", status=Strategy.Status.PAUSED)
    StrategyFactory(asset_symbol="SOL/USDT", timeframe="1d", status=Strategy.Status.ACTIVE)
    AlertFactory(
        symbol="ETH/USDT",
        alert_type="indicator",
        indicator="sma",
        indicator_params={"period": 5, "timeframe": "4h"},
        condition="crosses_above",
        threshold=Decimal("101"),
    )
    AlertFactory(
        symbol="ETH/USDT",
        alert_type="indicator",
        indicator="sma",
        indicator_params={"period": 5, "timeframe": "1w"},
        condition="crosses_above",
        threshold=Decimal("101"),
        is_active=False,
    )
    assert wanted_timeframes(symbol="ETH/USDT") == {"1h", "4h"}
    assert wanted_timeframes(symbol="BTC/USDT") == set()
