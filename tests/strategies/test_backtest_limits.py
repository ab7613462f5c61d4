"""A backtest's cost is bounded before it is queued, and a run that hits the workers' time or
memory ceiling fails with a message instead of taking the worker down."""

import datetime as dt
import signal
import subprocess
import sys
import time
from decimal import Decimal
from unittest import mock

import pytest
from celery.exceptions import SoftTimeLimitExceeded
from django.test import override_settings
from rest_framework.test import APIClient

from strategies.models import Backtest
from strategies.rules.evaluate import indicator_keys
from strategies.services.backtest_limits import estimated_bars
from strategies.services.backtest_runs import memory_limit_message, time_limit_message
from strategies.services.backtests import start_backtest
from strategies.tasks import run_backtest_task
from tests.factories import StrategyFactory
from tests.strategies.candle_rows import ONE_TRADE_BARS, ONE_TRADE_STRATEGY, insert_candles

pytestmark = pytest.mark.django_db(databases=["default", "timeseries"])


def _sma(period):
    return {"indicator": "sma", "period": period}


def _many_indicators(count):
    """An entry rule comparing `count` distinct SMAs with the close."""
    return {"any": [{"left": "close", "op": ">", "right": _sma(p)} for p in range(2, count + 2)]}


def test_bars_are_estimated_from_the_dates_and_the_timeframe():
    one_day = (dt.date(2025, 1, 1), dt.date(2025, 1, 1))
    assert estimated_bars("1m", *one_day) == 1440
    assert estimated_bars("4h", *one_day) == 6
    assert estimated_bars("1d", dt.date(2025, 1, 1), dt.date(2025, 12, 31)) == 365
    assert estimated_bars("1M", dt.date(2025, 1, 1), dt.date(2025, 12, 31)) == 12


def test_an_indicator_named_twice_is_one_series():
    rules = {
        "all": [
            {"left": _sma(20), "op": "crosses_above", "right": _sma(50)},
            {"left": "close", "op": ">", "right": _sma(20) | {"offset": 3}},
            {"left": {"indicator": "macd", "output": "signal"}, "op": ">", "right": 0},
            {"left": {"indicator": "macd", "output": "macd"}, "op": ">", "right": 0},
        ]
    }
    assert len(indicator_keys(rules)) == 4  # sma 20, sma 50, macd's signal and macd lines


@override_settings(BACKTEST_MAX_COST=1_000_000)
def test_a_backtest_over_the_cost_ceiling_is_a_400_saying_how_to_shrink_it():
    strategy = StrategyFactory(timeframe="1m", entry_rules=_many_indicators(20))
    client = APIClient()
    client.force_login(strategy.user)
    body = {
        "strategy": str(strategy.pk),
        "start_date": "2025-01-01",
        "end_date": "2025-03-01",  # 60 days of 1m bars: 86,400 × 21 series
        "initial_capital": "1000",
    }

    with mock.patch("strategies.tasks.run_backtest_task.delay"):
        refused = client.post("/api/v1/backtests", body, format="json")
        shorter = client.post("/api/v1/backtests", body | {"end_date": "2025-01-05"}, format="json")

    assert refused.status_code == 400
    (message,) = refused.json()["non_field_errors"]
    assert "86,400 1m bars × 21 distinct indicator series = 1,814,400" in message
    assert "Shorten the date range to at most 33 days" in message
    assert "at most 11 distinct indicators" in message
    assert shorter.status_code == 202, shorter.json()
    assert Backtest.objects.count() == 1


def _started(strategy):
    return start_backtest(
        user=strategy.user,
        strategy=strategy,
        start_date=dt.date(2025, 1, 1),
        end_date=dt.date(2025, 1, 2),
        initial_capital=Decimal("10000"),
        enqueue=False,
    )


def test_a_run_stopped_by_the_soft_time_limit_fails_with_a_message():
    """Celery's pool delivers the soft limit as a signal whose handler raises
    SoftTimeLimitExceeded in the task; here a timer does the same to an engine that never ends."""
    insert_candles(ONE_TRADE_BARS)
    backtest = _started(StrategyFactory(**ONE_TRADE_STRATEGY))

    def endless_engine(*args, **kwargs):
        while True:
            time.sleep(0.01)

    def soft_limit(signum, frame):
        raise SoftTimeLimitExceeded()

    previous = signal.signal(signal.SIGALRM, soft_limit)
    signal.setitimer(signal.ITIMER_REAL, 0.5)
    try:
        with mock.patch("strategies.engine.run_backtest", endless_engine):
            outcome = run_backtest_task.apply(args=[str(backtest.pk)])
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)

    assert outcome.get() == "failed"
    backtest.refresh_from_db()
    assert backtest.status == Backtest.Status.FAILED
    assert backtest.error_message == time_limit_message()
    assert (
        "time limit" in backtest.error_message
        and "Shorten the date range" in backtest.error_message
    )


def test_a_run_out_of_memory_fails_with_a_message():
    insert_candles(ONE_TRADE_BARS)
    backtest = _started(StrategyFactory(**ONE_TRADE_STRATEGY))

    with mock.patch("strategies.engine.run_backtest", side_effect=MemoryError):
        outcome = run_backtest_task.apply(args=[str(backtest.pk)])

    assert outcome.get() == "failed"
    backtest.refresh_from_db()
    assert backtest.error_message == memory_limit_message()


def test_the_worker_memory_cap_turns_a_huge_allocation_into_a_memory_error():
    """What the cap does in a worker process (a child of its own here: the cap cannot be
    lifted again in the test process)."""
    script = (
        "import numpy as np\n"
        "from apextrade.celery import cap_address_space\n"
        "cap_address_space(2048)\n"
        "try:\n"
        "    np.ones(4 * 1024**3 // 8)\n"
        "    print('allocated')\n"
        "except MemoryError:\n"
        "    print('MemoryError')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == "MemoryError"


def test_the_workers_run_with_time_limits_and_a_memory_ceiling():
    from apextrade.celery import app

    assert 0 < app.conf.task_soft_time_limit < app.conf.task_time_limit
    assert app.conf.worker_max_memory_per_child > 0
