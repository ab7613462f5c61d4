import datetime as dt
from decimal import Decimal
from unittest import mock

import pytest
from django.conf import settings
from django.utils import timezone

from apextrade.celery import app as celery_app
from strategies.models import Backtest, BacktestTrade
from strategies.services.backtest_runs import WORKER_STOPPED_MESSAGE
from strategies.services.backtests import RUN_TASK, start_backtest
from strategies.tasks import fail_stale_backtests, run_backtest_task
from tests.factories import BacktestFactory, StrategyFactory
from tests.strategies.candle_rows import (
    ONE_TRADE_BARS,
    ONE_TRADE_STRATEGY,
    insert_candles,
)

pytestmark = pytest.mark.django_db(databases=["default", "timeseries"])


@pytest.fixture
def backtest():
    strategy = StrategyFactory(**ONE_TRADE_STRATEGY)
    return start_backtest(
        user=strategy.user,
        strategy=strategy,
        start_date=dt.date(2025, 1, 1),
        end_date=dt.date(2025, 1, 2),
        initial_capital=Decimal("10000"),
        enqueue=False,
    )


def test_the_task_runs_the_backtest_and_returns_its_status(backtest):
    insert_candles(ONE_TRADE_BARS)

    outcome = run_backtest_task.apply(args=[str(backtest.pk)])

    assert outcome.get() == "completed"
    assert Backtest.objects.get(pk=backtest.pk).status == "completed"
    assert BacktestTrade.objects.filter(backtest=backtest).count() == 1


def test_a_redelivered_task_does_not_duplicate_trades(backtest):
    insert_candles(ONE_TRADE_BARS)

    run_backtest_task.apply(args=[str(backtest.pk)])
    second = run_backtest_task.apply(args=[str(backtest.pk)])

    assert second.get() == "completed"
    assert BacktestTrade.objects.filter(backtest=backtest).count() == 1


def test_the_task_is_acknowledged_late_so_a_lost_worker_means_redelivery():
    assert run_backtest_task.acks_late is True
    assert run_backtest_task.name == "strategies.tasks.run_backtest_task"


def test_the_beat_job_names_the_stale_sweep_task():
    entry = settings.CELERY_BEAT_SCHEDULE["strategies.fail_stale_backtests"]
    celery_app.loader.import_default_modules()
    assert celery_app.tasks[entry["task"]].name == fail_stale_backtests.name


def test_the_stale_sweep_task_fails_running_backtests_without_heartbeat_within_a_minute():
    stale = BacktestFactory(status="running", started_at=timezone.now() - dt.timedelta(seconds=40))
    fresh = BacktestFactory(status="running", started_at=timezone.now() - dt.timedelta(seconds=5))

    assert fail_stale_backtests.apply().get() == {"failed": [str(stale.pk)], "requeued": []}

    stale.refresh_from_db()
    fresh.refresh_from_db()
    assert (stale.status, stale.error_message) == ("failed", WORKER_STOPPED_MESSAGE)
    assert fresh.status == "running"


def test_the_stale_sweep_task_sends_lost_pending_backtests_again():
    lost = BacktestFactory(created_at=timezone.now() - dt.timedelta(minutes=2))

    with mock.patch("strategies.services.backtests.current_app.send_task") as send:
        outcome = fail_stale_backtests.apply().get()

    assert outcome == {"failed": [], "requeued": [str(lost.pk)]}
    send.assert_called_once_with(RUN_TASK, args=[str(lost.pk)])


@pytest.mark.django_db(databases=["default", "timeseries"], transaction=True)
def test_two_deliveries_running_at_once_claim_the_backtest_only_once():
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connections

    from compliance.models import AuditLog

    insert_candles(ONE_TRADE_BARS)
    strategy = StrategyFactory(**ONE_TRADE_STRATEGY)
    backtest = start_backtest(
        user=strategy.user,
        strategy=strategy,
        start_date=dt.date(2025, 1, 1),
        end_date=dt.date(2025, 1, 2),
        initial_capital=Decimal("10000"),
        enqueue=False,
    )

    def deliver(_: int) -> str:
        try:
            return run_backtest_task.apply(args=[str(backtest.pk)]).get()
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=2) as pool:
        outcomes = list(pool.map(deliver, range(2)))

    # The delivery that lost the claim returns the status it found: running or already completed.
    assert "completed" in outcomes and set(outcomes) <= {"running", "completed"}
    assert Backtest.objects.get(pk=backtest.pk).status == "completed"
    assert BacktestTrade.objects.filter(backtest=backtest).count() == 1
    transitions = AuditLog.objects.filter(resource_id=backtest.pk, action="update")
    assert [row.new_values["status"] for row in transitions.order_by("id")] == [
        "running",
        "completed",
    ]


def test_a_dead_worker_is_noticed_within_a_minute():
    """The last heartbeat of a dead worker expires HEARTBEAT_TTL later; the sweep runs every
    schedule interval; a run is judged only after STALE_GRACE, which the TTL already covers."""
    from apextrade.beat_schedule import BEAT_SCHEDULE
    from strategies.services import run_monitor as backtests

    sweep = BEAT_SCHEDULE["strategies.fail_stale_backtests"]["schedule"]
    worst_case = backtests.HEARTBEAT_INTERVAL + backtests.HEARTBEAT_TTL + sweep.total_seconds()
    assert worst_case <= 60
    assert backtests.STALE_GRACE.total_seconds() <= backtests.HEARTBEAT_TTL
