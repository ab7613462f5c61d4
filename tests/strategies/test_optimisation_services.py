import datetime as dt
from decimal import Decimal
from unittest import mock

import pytest
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.test import override_settings
from django.utils import timezone

from compliance.models import AuditLog
from core.errors import LimitExceeded
from strategies.models import Optimisation, OptimisationVariant, Strategy
from strategies.optimisation_selectors import best_variant, variants_of, walk_forward_report
from strategies.services import optimisation_runs
from strategies.services.optimisation_recovery import incomplete_chunks, recover_optimisations
from strategies.services.optimisation_runs import candle_cache, chunk_heartbeat_key, run_chunk
from strategies.services.optimisations import (
    OptimisationStateError,
    apply_variant,
    cancel_optimisation,
    chunk_enqueued_key,
    chunks_of,
    start_optimisation,
)
from strategies.tasks import run_optimisation_chunk
from tests.factories import StrategyFactory
from tests.strategies.candle_rows import ONE_TRADE_BARS, ONE_TRADE_STRATEGY, insert_candles

pytestmark = pytest.mark.django_db(databases=["default", "timeseries"])

ENTRY = "entry_rules.right"
EXIT = "exit_rules.right"
# ONE_TRADE_BARS by hand (no costs, 10% of 10,000 a trade): entry above 105 fills at 107 (bar 2),
# above 107.5 at 108 (bar 3), above 200 never. Exit below 95 fills at 93 (bar 6), below 100 at
# 96 (bar 5). Total returns: 105/95 -1.3084%, 105/100 -1.0280%, 107.5/95 -1.3889%,
# 107.5/100 -1.1111%, 200/any 0% with no trade.
SPACE = {ENTRY: {"values": [105, 107.5, 200]}, EXIT: {"values": [95, 100]}}


@pytest.fixture(autouse=True)
def _fresh_candle_cache():
    candle_cache.clear()
    yield
    candle_cache.clear()


@pytest.fixture
def strategy():
    insert_candles(ONE_TRADE_BARS)
    return StrategyFactory(**ONE_TRADE_STRATEGY, max_position_size_pct=Decimal("10.00"))


def start(strategy, **overrides):
    values = {
        "user": strategy.user,
        "strategy": strategy,
        "start_date": dt.date(2025, 1, 1),
        "end_date": dt.date(2025, 1, 2),
        "initial_capital": Decimal("10000.00"),
        "commission_pct": Decimal("0"),
        "slippage_pct": Decimal("0"),
        "parameter_space": SPACE,
        "objective": "total_return",
        "constraints": {"min_trades": 1},
        "enqueue": False,
    }
    values.update(overrides)
    return start_optimisation(**values)


def run_everything(run):
    return [run_chunk(optimisation_id=run.pk, fold=f, chunk=c) for f, c in chunks_of(run)]


@override_settings(OPTIMISATION_CHUNK_SIZE=4)
def test_an_optimisation_runs_every_variant_and_ranks_them_by_hand(strategy):
    run = start(strategy)
    assert (run.status, run.variants_total, chunks_of(run)) == ("pending", 6, [(0, 0), (0, 1)])

    assert run_everything(run) == ["done", "done"]

    run.refresh_from_db()
    assert (run.status, run.variants_done) == ("completed", 6)
    returns = {
        (v.parameters[ENTRY], v.parameters[EXIT]): (v.total_return_pct, v.meets_constraints)
        for v in variants_of(run)
    }
    assert returns == {
        (105.0, 95.0): (Decimal("-1.3084"), True),
        (105.0, 100.0): (Decimal("-1.0280"), True),
        (107.5, 95.0): (Decimal("-1.3889"), True),
        (107.5, 100.0): (Decimal("-1.1111"), True),
        (200.0, 95.0): (Decimal("0.0000"), False),  # no trade: fails min_trades
        (200.0, 100.0): (Decimal("0.0000"), False),
    }
    best = best_variant(run)
    assert best.parameters == {ENTRY: 105.0, EXIT: 100.0}
    assert best.objective_value == Decimal("-1.0280")
    statuses = list(
        AuditLog.objects.filter(resource_type="optimisation", resource_id=run.pk)
        .order_by("id")
        .values_list("action", "new_values__status")
    )
    assert statuses == [("create", None), ("update", "running"), ("update", "completed")]


def test_the_start_is_audited_with_the_backtest_run_columns_and_the_search(strategy):
    run = start(strategy)

    row = AuditLog.objects.get(resource_type="optimisation", resource_id=run.pk)
    assert (row.action, row.user) == ("create", strategy.user)
    assert row.new_values == {
        "strategy_id": str(strategy.pk),
        "strategy_snapshot": run.strategy_snapshot,
        "start_date": run.start_date.isoformat(),
        "end_date": "2025-01-02",
        "initial_capital": "10000.00",
        "commission_pct": "0.0000",
        "slippage_pct": "0.0000",
        "parameter_space": SPACE,
        "search_method": "grid",
        "random_seed": None,
        "max_variants": run.max_variants,
        "objective": "total_return",
        "constraints": {"min_trades": "1"},
        "walk_forward_folds": None,
        "walk_forward_mode": None,
        "in_sample_ratio": None,
        "variants_total": 6,
    }


def test_a_redelivered_chunk_stores_and_counts_nothing_twice(strategy):
    run = start(strategy)
    first = run_optimisation_chunk.apply(args=[str(run.pk), 0, 0]).get()
    run.refresh_from_db()
    # A second delivery of the same message after the optimisation completed, and one while it
    # is still running (forced back), both leave the counts as they were.
    second = run_optimisation_chunk.apply(args=[str(run.pk), 0, 0]).get()
    Optimisation.objects.filter(pk=run.pk).update(status="running")
    third = run_chunk(optimisation_id=run.pk, fold=0, chunk=0)

    assert (first, second, third) == ("done", "skipped", "done")
    run.refresh_from_db()
    assert run.variants_done == 6
    assert OptimisationVariant.objects.filter(optimisation=run).count() == 6


def test_the_database_refuses_a_second_row_for_the_same_variant(strategy):
    run = start(strategy)
    run_everything(run)
    variant = OptimisationVariant.objects.filter(optimisation=run).first()
    with pytest.raises(IntegrityError), transaction.atomic():
        OptimisationVariant.objects.create(
            optimisation=run,
            fold=0,
            variant_number=variant.variant_number,
            parameters={},
            meets_constraints=False,
        )


def test_the_chunk_task_is_acknowledged_late_and_routed_to_the_optimise_queue(settings):
    assert run_optimisation_chunk.acks_late is True
    assert run_optimisation_chunk.reject_on_worker_lost is True
    assert settings.CELERY_TASK_ROUTES["strategies.tasks.run_optimisation_chunk"] == {
        "queue": "optimise"
    }


def test_the_chunks_are_sent_as_one_group_after_commit(
    strategy, django_capture_on_commit_callbacks
):
    with (
        override_settings(OPTIMISATION_CHUNK_SIZE=2),
        mock.patch("celery.canvas.group.apply_async", autospec=True) as send,
        django_capture_on_commit_callbacks(execute=True),
    ):
        run = start(strategy, enqueue=True)
        assert not send.called

    [(sent_group,), _kwargs] = send.call_args
    assert [tuple(task.args) for task in sent_group.tasks] == [
        (str(run.pk), 0, 0),
        (str(run.pk), 0, 1),
        (str(run.pk), 0, 2),
    ]
    assert cache.get(chunk_enqueued_key(run.pk, 0, 2)) is not None


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        (
            {"parameter_space": {"entry_rules.all[0].period": {"values": [1]}}},
            "parameter_space",
            "parameters.entry_rules.all[0].period: entry_rules has no 'all'",
        ),
        ({"max_variants": 5}, "max_variants", "the grid has 6 variants"),
        ({"max_variants": 10_001}, "max_variants", "Must be between 1 and 10,000"),
        ({"objective": "luck"}, "objective", "Must be one of sharpe"),
        ({"constraints": {"min_luck": 1}}, "constraints", "constraints.min_luck: unknown"),
        ({"search_method": "random"}, "random_seed", "random_seed: is required"),
        ({"walk_forward_mode": "rolling"}, "walk_forward_folds", "Is required"),
        ({"end_date": dt.date(2024, 12, 1)}, "end_date", "must be after the start date"),
    ],
)
def test_bad_input_is_refused_on_its_field_and_nothing_is_saved(
    strategy, overrides, field, message
):
    with pytest.raises(ValidationError) as caught:
        start(strategy, **overrides)
    assert message in " ".join(caught.value.message_dict[field])
    assert not Optimisation.objects.exists()


@override_settings(OPTIMISATION_RUNNING_PER_USER=1)
def test_a_user_may_run_only_so_many_optimisations_at_once(strategy):
    first = start(strategy)
    with pytest.raises(LimitExceeded) as caught:
        start(strategy)
    assert caught.value.retry_after == 60
    cancel_optimisation(optimisation=first, actor=strategy.user)
    start(strategy)


@override_settings(OPTIMISATION_VARIANTS_PER_HOUR=10)
def test_variants_per_hour_are_limited_per_user(strategy, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        start(strategy)  # 6 of 10
    with pytest.raises(LimitExceeded, match="at most 10 variants an hour") as caught:
        start(strategy)
    assert 0 < caught.value.retry_after <= 3600
    other = StrategyFactory(**ONE_TRADE_STRATEGY)
    start(other)  # another user's budget is their own


def test_cancel_stops_a_running_chunk_at_its_next_check(strategy, monkeypatch):
    monkeypatch.setattr(optimisation_runs, "CANCEL_CHECK_INTERVAL", 0.0)
    run = start(strategy)
    real = optimisation_runs.run_variant

    def cancel_after_the_first(*args, **kwargs):
        outcome = real(*args, **kwargs)
        if Optimisation.objects.get(pk=run.pk).status != "cancelled":
            cancel_optimisation(optimisation=run, actor=strategy.user)
        return outcome

    monkeypatch.setattr(optimisation_runs, "run_variant", cancel_after_the_first)
    assert run_chunk(optimisation_id=run.pk, fold=0, chunk=0) == "cancelled"
    run.refresh_from_db()
    assert run.status == "cancelled"
    assert run.variants_done == 0  # nothing stored after the cancel
    # A chunk still queued does nothing when it starts.
    assert run_chunk(optimisation_id=run.pk, fold=0, chunk=0) == "skipped"
    with pytest.raises(OptimisationStateError):
        cancel_optimisation(optimisation=run, actor=strategy.user)


def test_a_dead_workers_chunk_is_sent_again_and_completes_without_double_counting(
    strategy, monkeypatch
):
    monkeypatch.setattr(optimisation_runs, "FLUSH_INTERVAL", 0.0)
    run = start(strategy)
    real = optimisation_runs.run_variant
    calls = []

    def die_on_the_third(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise SystemExit("worker killed")  # not an Exception: nothing is marked failed
        return real(*args, **kwargs)

    monkeypatch.setattr(optimisation_runs, "run_variant", die_on_the_third)
    with pytest.raises(SystemExit):
        run_chunk(optimisation_id=run.pk, fold=0, chunk=0)
    monkeypatch.setattr(optimisation_runs, "run_variant", real)
    run.refresh_from_db()
    assert (run.status, run.variants_done) == ("running", 2)
    assert incomplete_chunks(run) == [(0, 0)]

    Optimisation.objects.filter(pk=run.pk).update(
        created_at=timezone.now() - dt.timedelta(minutes=30)
    )
    with mock.patch("celery.canvas.group.apply_async", autospec=True) as send:
        # While a chunk of the optimisation runs (its heartbeat), nothing is sent again.
        cache.set(chunk_heartbeat_key(run.pk, 0, 0), "beat", timeout=60)
        assert recover_optimisations(older_than=dt.timedelta(minutes=10)) == []
        cache.delete(chunk_heartbeat_key(run.pk, 0, 0))
        sent = recover_optimisations(older_than=dt.timedelta(minutes=10))
        again = recover_optimisations(older_than=dt.timedelta(minutes=10))
    assert sent == [f"{run.pk}:0:0"]
    assert again == []  # sent recently: not sent twice
    [(sent_group,), _kwargs] = send.call_args
    [task] = sent_group.tasks
    assert run_optimisation_chunk.apply(args=task.args).get() == "done"

    run.refresh_from_db()
    assert (run.status, run.variants_done) == ("completed", 6)
    assert OptimisationVariant.objects.filter(optimisation=run).count() == 6


def test_candles_are_loaded_once_per_process_for_every_chunk(strategy):
    with override_settings(OPTIMISATION_CHUNK_SIZE=1):
        run = start(strategy)
    assert len(chunks_of(run)) == 6
    run_everything(run)
    assert candle_cache.loads == 1


def test_no_candles_fails_the_optimisation_with_the_reason():
    strategy = StrategyFactory(**ONE_TRADE_STRATEGY)
    run = start(strategy)
    assert run_chunk(optimisation_id=run.pk, fold=0, chunk=0) == "failed"
    run.refresh_from_db()
    assert run.status == "failed"
    assert "No market data for BTC/USDT" in run.error_message


def test_the_best_variant_becomes_the_next_version_of_the_strategy(strategy):
    run = start(strategy, parameter_space={**SPACE, "stop_loss_pct": {"values": [None]}})
    run_everything(run)

    updated = apply_variant(optimisation=run, actor=strategy.user)

    assert updated.version == 2
    assert updated.entry_rules == {"left": "close", "op": ">", "right": 105.0}
    assert updated.exit_rules == {"left": "close", "op": "<", "right": 100.0}
    assert updated.stop_loss_pct is None
    row = AuditLog.objects.filter(resource_type="optimisation", resource_id=run.pk).latest("id")
    assert row.new_values["strategy_version"] == 2
    # The strategy has moved on: the same values are not applied over the new rules.
    with pytest.raises(OptimisationStateError, match="at version 2"):
        apply_variant(optimisation=run, actor=strategy.user)


def test_deleting_the_strategy_deletes_its_optimisations_in_the_database(strategy):
    run = start(strategy)
    run_everything(run)
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM strategies WHERE id = %s", [strategy.pk])
    assert not Optimisation.objects.filter(pk=run.pk).exists()
    assert not OptimisationVariant.objects.filter(optimisation_id=run.pk).exists()
    assert not Strategy.objects.filter(pk=strategy.pk).exists()


# Twelve bars for a 2-fold rolling walk-forward with ratio 1 (blocks of 4 bars): fold 1 is in
# sample on bars 0-3 and out of sample on 4-7, fold 2 in sample on 4-7 and out of sample on 8-11.
WALK_FORWARD_BARS = [
    # in sample 1: a losing trade 107 -> 93 (the entry above 105 trades, above 200 never)
    (100, 106),
    (107, 108),
    (108, 94),
    (93, 93),
    # out of sample 1: 1,000 buys 9.0909 at 110, sold at 88: -200, so -2.00%
    (100, 106),
    (110, 112),
    (112, 90),
    (88, 88),
    # out of sample 2: 1,000 buys 10 at 100, held to the last close 120: +200, so +2.00%
    (100, 106),
    (100, 110),
    (110, 120),
    (120, 120),
]


def test_walk_forward_scores_each_folds_in_sample_winner_out_of_sample_by_hand():
    insert_candles(WALK_FORWARD_BARS)
    strategy = StrategyFactory(**ONE_TRADE_STRATEGY, max_position_size_pct=Decimal("10.00"))
    run = start(
        strategy,
        parameter_space={ENTRY: {"values": [105, 200]}},
        walk_forward_folds=2,
        walk_forward_mode="rolling",
        in_sample_ratio=1,
    )
    assert run.variants_total == 6  # 2 on the whole window + 2 per fold

    assert set(run_everything(run)) == {"done"}

    run.refresh_from_db()
    assert run.status == "completed"
    report = walk_forward_report(run)
    minute = dt.timedelta(minutes=1)
    t0 = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    first, second = report["folds"]
    assert (first["in_sample_start"], first["in_sample_end"]) == (t0, t0 + 3 * minute)
    assert (first["out_of_sample_start"], first["out_of_sample_end"]) == (
        t0 + 4 * minute,
        t0 + 7 * minute,
    )
    assert (second["in_sample_start"], second["out_of_sample_end"]) == (
        t0 + 4 * minute,
        t0 + 11 * minute,
    )
    assert first["parameters"] == second["parameters"] == {ENTRY: 105.0}
    assert first["out_of_sample_objective"] == Decimal("-2.0000")
    assert second["out_of_sample_objective"] == Decimal("2.0000")
    assert first["in_sample_objective"] == Decimal("-1.3084")  # 107 -> 93, as in ONE_TRADE_BARS
    # Stitched: fold 2's run (10,000 -> 10,100 -> 10,200 -> 10,200) scaled by 9,800 / 10,000.
    assert [p["equity"] for p in report["stitched_equity"]] == [
        10000.0,
        10018.18,
        9818.18,
        9800.0,
        9800.0,
        9898.0,
        9996.0,
        9996.0,
    ]
    assert report["parameter_stability"][ENTRY]["distinct"] == 1
    assert report["efficiency"] == pytest.approx(0.0)  # mean OOS 0 over mean IS


def test_a_window_too_short_for_its_folds_fails_with_the_reason(strategy):
    run = start(strategy, walk_forward_folds=10, in_sample_ratio=1)
    assert run_chunk(optimisation_id=run.pk, fold=1, chunk=0) == "failed"
    run.refresh_from_db()
    assert "the window has 8 bars: too few for 10 folds" in run.error_message
