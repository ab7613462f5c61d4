import datetime as dt
import time
from decimal import Decimal
from unittest import mock

import pytest
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.utils import timezone

from compliance.models import AuditLog
from core.cache_keys import backtest_enqueued_key as enqueued_key
from core.cache_keys import backtest_heartbeat_key as heartbeat_key
from strategies import engine
from strategies.models import Backtest, BacktestTrade
from strategies.services import backtest_runs, backtests, run_monitor
from strategies.services.backtest_runs import (
    WORKER_STOPPED_MESSAGE,
    fail_stale_backtests,
    run_backtest,
)
from strategies.services.backtests import (
    RUN_TASK,
    BacktestStateError,
    cancel_backtest,
    requeue_pending_backtests,
    start_backtest,
)
from strategies.services.run_monitor import RunMonitor, heartbeat_during
from strategies.services.strategies import update_strategy
from tests.factories import BacktestFactory, BacktestTradeFactory, StrategyFactory, UserFactory
from tests.strategies.candle_rows import (
    ENTRY_ABOVE_105,
    NEVER,
    ONE_TRADE_BARS,
    ONE_TRADE_FINAL_CAPITAL,
    ONE_TRADE_NET_PNL,
    ONE_TRADE_QUANTITY,
    ONE_TRADE_STRATEGY,
    insert_candles,
)

pytestmark = pytest.mark.django_db(databases=["default", "timeseries"])

JAN_1 = dt.date(2025, 1, 1)
JAN_2 = dt.date(2025, 1, 2)


@pytest.fixture
def strategy():
    return StrategyFactory(**ONE_TRADE_STRATEGY, max_position_size_pct=Decimal("10.00"))


def start(strategy, **overrides):
    values = {
        "user": strategy.user,
        "strategy": strategy,
        "start_date": JAN_1,
        "end_date": JAN_2,
        "initial_capital": Decimal("10000.00"),
        "commission_pct": Decimal("0"),
        "slippage_pct": Decimal("0"),
        "enqueue": False,
    }
    values.update(overrides)
    return start_backtest(**values)


def test_start_backtest_freezes_the_strategy_and_audits(strategy):
    backtest = start(strategy)

    backtest.refresh_from_db()
    assert (backtest.status, backtest.progress_pct) == ("pending", 0)
    snapshot = backtest.strategy_snapshot
    assert snapshot["id"] == str(strategy.pk)
    assert snapshot["version"] == 1
    assert snapshot["entry_rules"] == ENTRY_ABOVE_105
    assert snapshot["max_position_size_pct"] == "10.00"
    assert snapshot["stop_loss_pct"] is None
    row = AuditLog.objects.get(resource_type="backtest", resource_id=backtest.pk)
    assert row.action == "create"
    assert row.user == strategy.user
    # audited_create's values: the run columns through the one encoder, the snapshot whole.
    assert row.new_values == {
        "strategy_id": str(strategy.pk),
        "strategy_snapshot": snapshot,
        "start_date": backtest.start_date.isoformat(),
        "end_date": backtest.end_date.isoformat(),
        "initial_capital": "10000.00",
        "commission_pct": str(backtest.commission_pct),
        "slippage_pct": str(backtest.slippage_pct),
    }


def test_start_backtest_enqueues_the_task_only_after_commit(
    strategy, django_capture_on_commit_callbacks
):
    with (
        mock.patch("strategies.services.backtests.current_app.send_task") as delay,
        django_capture_on_commit_callbacks(execute=True) as callbacks,
    ):
        backtest = start(strategy, enqueue=True)
        assert not delay.called

    assert len(callbacks) == 1
    delay.assert_called_once_with(RUN_TASK, args=[str(backtest.pk)])


def test_a_broker_outage_at_commit_leaves_the_backtest_pending_for_the_sweep(
    strategy, django_capture_on_commit_callbacks
):
    with (
        mock.patch(
            "strategies.services.backtests.current_app.send_task",
            side_effect=ConnectionError("no broker"),
        ),
        django_capture_on_commit_callbacks(execute=True),
    ):
        backtest = start(strategy, enqueue=True)

    assert Backtest.objects.get(pk=backtest.pk).status == "pending"
    assert cache.get(enqueued_key(backtest.pk)) is None


def test_pending_backtests_whose_task_never_left_or_never_started_are_sent_again_once():
    def pending_since(minutes: float, *, sent_minutes_ago=None, attempts=1) -> Backtest:
        backtest = BacktestFactory(created_at=timezone.now() - dt.timedelta(minutes=minutes))
        if sent_minutes_ago is not None:
            sent_at = timezone.now() - dt.timedelta(minutes=sent_minutes_ago)
            record = {"sent_at": sent_at.isoformat(), "attempts": attempts}
            cache.set(enqueued_key(backtest.pk), record, timeout=600)
        return backtest

    lost = pending_since(30)
    not_started = pending_since(5, sent_minutes_ago=5)
    sent_recently = pending_since(5, sent_minutes_ago=0.2)
    sent_twice = pending_since(30, sent_minutes_ago=5, attempts=2)
    young = pending_since(0.3)
    BacktestFactory(status="running", created_at=timezone.now() - dt.timedelta(minutes=30))

    with mock.patch("strategies.services.backtests.current_app.send_task") as delay:
        sent = requeue_pending_backtests()

    assert sorted(sent) == sorted([lost.pk, not_started.pk])
    assert cache.get(enqueued_key(not_started.pk))["attempts"] == 2
    assert cache.get(enqueued_key(lost.pk))["attempts"] == 1
    assert delay.call_count == 2
    assert {sent_recently.pk, sent_twice.pk, young.pk}.isdisjoint(sent)


def test_a_backtest_whose_second_task_never_started_is_failed():
    backtest = BacktestFactory(created_at=timezone.now() - dt.timedelta(minutes=30))
    sent_at = (timezone.now() - dt.timedelta(minutes=11)).isoformat()
    cache.set(enqueued_key(backtest.pk), {"sent_at": sent_at, "attempts": 2}, timeout=600)
    waiting = BacktestFactory(created_at=timezone.now() - dt.timedelta(minutes=30))
    recent = (timezone.now() - dt.timedelta(minutes=2)).isoformat()
    cache.set(enqueued_key(waiting.pk), {"sent_at": recent, "attempts": 2}, timeout=600)

    assert backtests.fail_unstarted_backtests() == [backtest.pk]

    backtest.refresh_from_db()
    assert (backtest.status, backtest.error_message) == ("failed", backtests.NEVER_STARTED_MESSAGE)
    assert Backtest.objects.get(pk=waiting.pk).status == "pending"
    assert AuditLog.objects.filter(resource_id=backtest.pk, new_values__status="failed").exists()


def test_start_backtest_uses_the_default_costs(strategy):
    backtest = start(strategy, commission_pct=None, slippage_pct=None)
    assert (backtest.commission_pct, backtest.slippage_pct) == (
        Decimal("0.0010"),
        Decimal("0.0005"),
    )


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"end_date": JAN_1}, "end_date"),
        ({"end_date": dt.date(2024, 12, 31)}, "end_date"),
        ({"initial_capital": Decimal("0")}, "initial_capital"),
        ({"commission_pct": Decimal("0.6")}, "commission_pct"),
        ({"slippage_pct": Decimal("-0.001")}, "slippage_pct"),
    ],
)
def test_start_backtest_reports_bad_input_on_its_field(strategy, overrides, field):
    with pytest.raises(ValidationError) as excinfo:
        start(strategy, **overrides)
    assert field in excinfo.value.message_dict
    assert not Backtest.objects.exists()


def utc_today() -> dt.date:
    return timezone.now().date()


def test_the_end_date_may_be_today_in_utc(strategy):
    today = utc_today()
    backtest = start(strategy, start_date=today - dt.timedelta(days=30), end_date=today)
    assert backtest.end_date == today


@pytest.mark.parametrize("end_date", [dt.timedelta(days=1), dt.date(9999, 12, 31)])
def test_an_end_date_after_today_is_refused_with_the_last_allowed_date(strategy, end_date):
    if isinstance(end_date, dt.timedelta):
        end_date = utc_today() + end_date

    with pytest.raises(ValidationError) as excinfo:
        start(strategy, end_date=end_date)

    assert excinfo.value.message_dict == {
        "end_date": [
            f"The end date can be at most today, {utc_today():%Y-%m-%d} (UTC): there are no "
            "candles for later days."
        ]
    }
    assert not Backtest.objects.exists()


def test_a_start_date_before_1970_is_refused(strategy):
    with pytest.raises(ValidationError) as excinfo:
        start(strategy, start_date=dt.date(1, 1, 1))

    assert excinfo.value.message_dict == {
        "start_date": ["The start date can be 1970-01-01 at the earliest."]
    }
    assert not Backtest.objects.exists()


def test_start_backtest_refuses_another_users_strategy(strategy):
    with pytest.raises(ValidationError) as excinfo:
        start(strategy, user=UserFactory())
    assert "strategy" in excinfo.value.message_dict


def test_run_completes_with_the_hand_computed_trade_and_metrics(strategy):
    insert_candles(ONE_TRADE_BARS)
    backtest = start(strategy)

    done = run_backtest(backtest_id=backtest.pk)

    assert (done.status, done.progress_pct, done.error_message) == ("completed", 100, None)
    assert done.started_at is not None and done.completed_at >= done.started_at
    assert done.final_capital == ONE_TRADE_FINAL_CAPITAL
    assert done.total_return_pct == Decimal("-1.3084")
    assert (done.total_trades, done.winning_trades, done.losing_trades) == (1, 0, 1)
    assert done.win_rate_pct == Decimal("0.00")
    assert done.avg_trade_duration_minutes == 4
    assert done.equity_curve[0] == {"time": "2025-01-01T00:00:00Z", "equity": 10000.0}
    assert len(done.equity_curve) == len(ONE_TRADE_BARS)
    [trade] = BacktestTrade.objects.filter(backtest=done)
    assert (trade.trade_number, trade.side, trade.symbol) == (1, "BUY", "BTC/USDT")
    assert trade.entry_date == dt.datetime(2025, 1, 1, 0, 2, tzinfo=dt.UTC)
    assert trade.exit_date == dt.datetime(2025, 1, 1, 0, 6, tzinfo=dt.UTC)
    assert (trade.entry_price, trade.exit_price) == (Decimal("107"), Decimal("93"))
    assert trade.quantity == ONE_TRADE_QUANTITY
    assert trade.net_pnl == ONE_TRADE_NET_PNL
    assert trade.pnl_pct == Decimal("-13.0841")
    assert (trade.exit_signal, trade.is_open) == ("exit_rules", False)
    statuses = [
        row.new_values["status"]
        for row in AuditLog.objects.filter(resource_id=backtest.pk, action="update").order_by("id")
    ]
    assert statuses == ["running", "completed"]
    assert cache.get(heartbeat_key(backtest.pk)) is None


def test_a_second_delivery_of_the_task_changes_nothing(strategy):
    insert_candles(ONE_TRADE_BARS)
    backtest = start(strategy)
    first = run_backtest(backtest_id=backtest.pk)

    again = run_backtest(backtest_id=backtest.pk)

    assert again.status == "completed"
    assert again.completed_at == first.completed_at
    assert BacktestTrade.objects.filter(backtest=backtest).count() == 1


def test_a_run_replaces_trades_left_by_an_earlier_attempt(strategy):
    insert_candles(ONE_TRADE_BARS)
    backtest = start(strategy)
    BacktestTradeFactory.create_batch(3, backtest=backtest)

    run_backtest(backtest_id=backtest.pk)

    numbers = list(
        BacktestTrade.objects.filter(backtest=backtest).values_list("trade_number", flat=True)
    )
    assert numbers == [1]


def test_editing_the_strategy_after_starting_does_not_change_the_run(strategy):
    insert_candles(ONE_TRADE_BARS)
    backtest = start(strategy)
    update_strategy(strategy=strategy, actor=strategy.user, changes={"entry_rules": NEVER})

    done = run_backtest(backtest_id=backtest.pk)

    assert done.strategy_snapshot["entry_rules"] == ENTRY_ABOVE_105
    assert done.strategy_snapshot["version"] == 1
    assert done.total_trades == 1


def test_rules_that_never_fire_complete_with_no_trades_and_null_trade_metrics(strategy):
    insert_candles(ONE_TRADE_BARS)
    update_strategy(strategy=strategy, actor=strategy.user, changes={"entry_rules": NEVER})
    backtest = start(strategy)

    done = run_backtest(backtest_id=backtest.pk)

    assert done.status == "completed"
    assert (done.final_capital, done.total_return_pct) == (Decimal("10000.00"), Decimal("0"))
    assert (done.total_trades, done.winning_trades, done.losing_trades) == (0, 0, 0)
    for name in ("win_rate_pct", "profit_factor", "avg_trade_pct", "sharpe_ratio"):
        assert getattr(done, name) is None, name
    assert done.avg_trade_duration_minutes is None
    assert not BacktestTrade.objects.filter(backtest=backtest).exists()


def test_no_candles_in_the_range_fails_with_a_message_naming_the_data(strategy):
    insert_candles(ONE_TRADE_BARS)
    backtest = start(strategy, start_date=dt.date(2024, 3, 1), end_date=dt.date(2024, 4, 1))

    done = run_backtest(backtest_id=backtest.pk)

    assert done.status == "failed"
    assert done.error_message == (
        "No BTC/USDT 1m candles between 2024-03-01 and 2024-04-01; data exists from "
        "2025-01-01 00:00 to 2025-01-01 00:07 UTC."
    )
    assert done.completed_at is not None


def test_a_symbol_without_any_market_data_fails_as_inactive(strategy):
    insert_candles(ONE_TRADE_BARS)
    update_strategy(strategy=strategy, actor=strategy.user, changes={"asset_symbol": "XYZ/USDT"})
    backtest = start(strategy)

    done = run_backtest(backtest_id=backtest.pk)

    assert done.status == "failed"
    assert done.error_message.startswith("No market data for XYZ/USDT: the symbol is not active")


def test_the_end_date_is_included_whole(strategy):
    insert_candles([(100, 100)] * 3, start=dt.datetime(2025, 1, 2, 23, 59, tzinfo=dt.UTC))
    backtest = start(strategy)

    done = run_backtest(backtest_id=backtest.pk)

    # 23:59 on the end date is in; 00:00 and 00:01 of the day after are not.
    assert done.status == "completed"
    assert [point["time"] for point in done.equity_curve] == ["2025-01-02T23:59:00Z"]


def test_other_timeframes_run_on_candles_rolled_up_from_one_minute_candles(strategy):
    # Two hours of 1m candles: the 1h bars open at 100 and 160 and close at 159 and 219.
    insert_candles([(100 + i, 100 + i) for i in range(120)])
    update_strategy(strategy=strategy, actor=strategy.user, changes={"timeframe": "1h"})
    backtest = start(strategy)

    done = run_backtest(backtest_id=backtest.pk)

    assert done.status == "completed"
    assert done.strategy_snapshot["timeframe"] == "1h"
    assert [point["time"] for point in done.equity_curve] == [
        "2025-01-01T00:00:00Z",
        "2025-01-01T01:00:00Z",
    ]
    # close > 105 on the first hourly bar: the entry fills at the second bar's open (160) and
    # the position is closed at the last close (219), the end of the data.
    [trade] = BacktestTrade.objects.filter(backtest=done)
    assert (trade.entry_price, trade.exit_price) == (Decimal("160"), Decimal("219"))
    assert trade.exit_signal == "end_of_data"


def test_an_engine_crash_fails_the_backtest_and_never_leaves_it_running(strategy):
    insert_candles(ONE_TRADE_BARS)
    backtest = start(strategy)

    with mock.patch.object(engine, "run_backtest", side_effect=RuntimeError("boom")):
        done = run_backtest(backtest_id=backtest.pk)

    assert done.status == "failed"
    assert done.error_message == (
        "The backtest stopped with an internal error (RuntimeError: boom)."
    )
    assert cache.get(heartbeat_key(backtest.pk)) is None


def test_invalid_rules_in_the_snapshot_fail_with_their_path(strategy):
    insert_candles(ONE_TRADE_BARS)
    backtest = start(strategy)
    bad = {"left": "close", "op": ">", "right": {"indicator": "sma", "period": 0}}
    Backtest.objects.filter(pk=backtest.pk).update(
        strategy_snapshot={**backtest.strategy_snapshot, "entry_rules": bad}
    )

    done = run_backtest(backtest_id=backtest.pk)

    assert done.status == "failed"
    assert "entry_rules.right.period" in done.error_message


def test_cancel_a_pending_backtest_then_the_task_does_nothing(strategy):
    insert_candles(ONE_TRADE_BARS)
    backtest = start(strategy)

    cancelled = cancel_backtest(backtest=backtest, actor=strategy.user)
    after_task = run_backtest(backtest_id=backtest.pk)

    assert cancelled.status == after_task.status == "cancelled"
    assert after_task.started_at is None
    row = AuditLog.objects.filter(resource_id=backtest.pk, action="update").get()
    assert row.old_values == {"status": "pending", "completed_at": None}
    assert row.new_values == {
        "status": "cancelled",
        "completed_at": after_task.completed_at.isoformat(),
    }


def test_cancel_while_running_stops_the_engine_and_saves_no_results(strategy):
    insert_candles(ONE_TRADE_BARS)
    backtest = start(strategy)
    real_run = engine.run_backtest

    def cancel_then_run(candles, **kwargs):
        cancel_backtest(backtest=backtest, actor=strategy.user)
        return real_run(candles, **kwargs)

    with mock.patch.object(engine, "run_backtest", side_effect=cancel_then_run):
        done = run_backtest(backtest_id=backtest.pk)

    assert done.status == "cancelled"
    assert done.final_capital is None and done.equity_curve is None
    assert not BacktestTrade.objects.filter(backtest=backtest).exists()


@pytest.mark.parametrize("status", ["completed", "failed", "cancelled"])
def test_a_finished_backtest_cannot_be_cancelled(status):
    backtest = BacktestFactory(status=status)
    with pytest.raises(BacktestStateError, match=f"already {status}"):
        cancel_backtest(backtest=backtest, actor=backtest.user)
    backtest.refresh_from_db()
    assert backtest.status == status


def running_since(minutes: int) -> Backtest:
    return BacktestFactory(
        status="running", started_at=timezone.now() - dt.timedelta(minutes=minutes)
    )


def test_stale_running_backtests_without_heartbeat_are_failed():
    stale = running_since(30)
    beating = running_since(30)
    cache.set(heartbeat_key(beating.pk), "alive", timeout=60)
    recent = running_since(2)
    pending = BacktestFactory(status="pending")

    failed = fail_stale_backtests(older_than=dt.timedelta(minutes=10))

    assert failed == [stale.pk]
    statuses = {
        b.pk: (b.status, b.error_message)
        for b in Backtest.objects.filter(pk__in=[stale.pk, beating.pk, recent.pk, pending.pk])
    }
    assert statuses[stale.pk] == ("failed", WORKER_STOPPED_MESSAGE)
    assert statuses[beating.pk][0] == statuses[recent.pk][0] == "running"
    assert statuses[pending.pk][0] == "pending"


def test_a_worker_finishing_after_the_stale_sweep_does_not_overwrite_failed(strategy):
    insert_candles(ONE_TRADE_BARS)
    backtest = start(strategy)
    real_run = engine.run_backtest

    def sweep_then_run(candles, **kwargs):
        Backtest.objects.filter(pk=backtest.pk).update(
            started_at=timezone.now() - dt.timedelta(hours=1)
        )
        cache.delete(heartbeat_key(backtest.pk))
        assert fail_stale_backtests(older_than=dt.timedelta(minutes=10)) == [backtest.pk]
        return real_run(candles, **{**kwargs, "should_cancel": None})

    with mock.patch.object(engine, "run_backtest", side_effect=sweep_then_run):
        done = run_backtest(backtest_id=backtest.pk)

    assert (done.status, done.error_message) == ("failed", WORKER_STOPPED_MESSAGE)
    assert not BacktestTrade.objects.filter(backtest=backtest).exists()


def test_the_monitor_throttles_progress_writes_and_keeps_the_heartbeat(strategy):
    backtest = BacktestFactory(strategy=strategy, status="running", started_at=timezone.now())
    now = [0.0]
    monitor = RunMonitor(backtest.pk, clock=lambda: now[0])

    monitor.progress(1)
    monitor.progress(2)  # same second, same 10% step: not written
    assert Backtest.objects.get(pk=backtest.pk).progress_pct == 1
    monitor.progress(12)  # a new 10% step is always written
    assert Backtest.objects.get(pk=backtest.pk).progress_pct == 12
    now[0] = 1.5
    monitor.progress(13)
    assert Backtest.objects.get(pk=backtest.pk).progress_pct == 13
    assert cache.get(heartbeat_key(backtest.pk)) is not None
    assert monitor.should_cancel() is False

    Backtest.objects.filter(pk=backtest.pk).update(status="cancelled")
    assert monitor.should_cancel() is False  # read at most once a second
    now[0] = 3.0
    assert monitor.should_cancel() is True


def test_progress_moves_through_loading_the_engine_and_saving(strategy):
    insert_candles(ONE_TRADE_BARS)
    backtest = start(strategy)
    seen = []
    real_progress = RunMonitor.progress

    def spy(self, pct):
        seen.append(pct)
        real_progress(self, pct)

    with mock.patch.object(RunMonitor, "progress", spy):
        run_backtest(backtest_id=backtest.pk)

    low, high = run_monitor.ENGINE_PCT
    assert seen[0] == run_monitor.LOADED_PCT  # the candles are loaded
    assert any(low < pct < high for pct in seen)  # the engine's phases
    assert seen[-2:] == [high, run_monitor.RESULTS_READY_PCT]  # engine done, results ready
    assert seen == sorted(seen)
    assert Backtest.objects.get(pk=backtest.pk).progress_pct == 100  # saved


def test_a_cancel_during_the_indicators_stops_the_run_before_the_simulation(strategy):
    insert_candles(ONE_TRADE_BARS)
    strategy.entry_rules = {"left": {"indicator": "sma", "period": 2}, "op": ">",
                            "right": {"indicator": "ema", "period": 3}}  # fmt: skip
    strategy.save()
    backtest = start(strategy)
    seen = []
    real_compute = backtest_runs.engine.simulate.compute_indicators

    def cancel_midway(keys, candles, cache, before_each=None):
        def before(done):
            if done == 1:
                cancel_backtest(backtest=backtest, actor=None)
            before_each(done)

        real_compute(keys, candles, cache, before)

    with (
        mock.patch.object(backtest_runs.engine.simulate, "compute_indicators", cancel_midway),
        mock.patch.object(backtest_runs.engine.simulate, "_simulate", side_effect=AssertionError),
        mock.patch.object(RunMonitor, "progress", lambda self, pct: seen.append(pct)),
        mock.patch.object(run_monitor, "CANCEL_CHECK_INTERVAL", 0),
    ):
        done = run_backtest(backtest_id=backtest.pk)

    assert done.status == "cancelled"
    assert max(seen) < run_monitor.ENGINE_PCT[0] + 30 * 70 // 100  # within the indicator phase
    assert not BacktestTrade.objects.filter(backtest=done).exists()


def test_a_trade_too_large_for_its_columns_fails_the_run_instead_of_storing_clamped_money(
    strategy,
):
    # A backtest made before sizes were checked at the start: a 10% position of 1e11 loses
    # ~1.3e9 on the one trade, beyond NUMERIC(15,8) of net_pnl.
    insert_candles(ONE_TRADE_BARS)
    backtest = start(strategy)
    Backtest.objects.filter(pk=backtest.pk).update(initial_capital=Decimal("100000000000.00"))

    done = run_backtest(backtest_id=backtest.pk)

    assert done.status == "failed"
    assert "does not fit NUMERIC(15,8)" in done.error_message
    assert not BacktestTrade.objects.filter(backtest=done).exists()
    assert done.final_capital is None


@pytest.mark.parametrize(
    ("capital", "position_pct", "largest"),
    [
        (Decimal("9999999999999.99"), Decimal("10.00"), "99,999,999.99"),
        (Decimal("20000000.00"), Decimal("100"), "9,999,999.99"),
    ],
)
def test_a_capital_whose_trades_would_not_fit_is_refused_before_the_run(
    strategy, capital, position_pct, largest
):
    strategy.max_position_size_pct = position_pct
    strategy.save()

    with pytest.raises(ValidationError) as refused:
        start(strategy, initial_capital=capital)

    message = refused.value.message_dict["initial_capital"][0]
    assert "would not fit the trade P&L columns" in message
    assert "(at most 9,999,999.99)" in message
    assert f"initial capital of at most {largest} " in message
    assert not Backtest.objects.filter(strategy=strategy).exists()


def test_the_largest_capital_that_fits_is_accepted(strategy):
    backtest = start(strategy, initial_capital=Decimal("99999999.99"))  # 10% per trade
    assert backtest.status == "pending"


def test_the_heartbeat_keeps_beating_through_phases_without_progress(monkeypatch):
    monkeypatch.setattr("strategies.services.run_monitor.HEARTBEAT_INTERVAL", 0.02)
    backtest_id = "00000000-0000-0000-0000-0000000000aa"

    with heartbeat_during(backtest_id):
        time.sleep(0.2)  # e.g. loading a year of candles: no progress callback meanwhile
        assert cache.get(heartbeat_key(backtest_id)) is not None

    assert cache.get(heartbeat_key(backtest_id)) is None


def test_trades_are_copied_value_for_value_text_and_json_included():
    backtest = BacktestFactory(status="running")
    row = {
        "trade_number": 1,
        "entry_date": dt.datetime(2024, 1, 1, 0, 1, tzinfo=dt.UTC),
        "exit_date": dt.datetime(2024, 1, 1, 0, 5, tzinfo=dt.UTC),
        "symbol": "BTC/USDT",
        "side": "BUY",
        "quantity": Decimal("0.12345678"),
        "entry_price": Decimal("42000.50000000"),
        "exit_price": Decimal("41999.00000001"),
        "commission": Decimal("0E-8"),
        "slippage": Decimal("0.00000001"),
        "gross_pnl": Decimal("-0.18518517"),
        "net_pnl": Decimal("-1234567.12345678"),
        "pnl_pct": Decimal("-0.0036"),
        "entry_signal": "entry_rules",
        "exit_signal": "tab\there, back\\slash, new\nline",
        "market_conditions": {"close": [1.5, None], "note": "a\\b\tc\nd \u00e9"},
        "is_open": False,
    }

    backtest_runs._copy_trades(backtest.pk, [row, {**row, "trade_number": 2, "exit_date": None,
                                                   "market_conditions": None}])  # fmt: skip

    stored = list(BacktestTrade.objects.filter(backtest=backtest).order_by("trade_number").values())
    assert {k: stored[0][k] for k in row} == row
    assert stored[1]["exit_date"] is None and stored[1]["market_conditions"] is None
