"""Running an optimisation's chunks on the workers: claim, load candles (once per process and
window), run the chunk's variants, store them without ever counting one twice, score each
walk-forward fold out of sample when its in-sample variants are all in, finish the optimisation
when everything is; and the sweep that sends the chunks of a dead worker again.

Every chunk task is idempotent: the variants it stores are unique per (optimisation, fold,
variant_number), it skips those already stored, and `variants_done` rises by the rows it actually
inserted, under the optimisation's row lock. docs/optimisation.md has the state machine; the
sweep for dead workers' chunks is strategies.services.optimisation_recovery.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
import uuid
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from compliance.services import audited_update
from strategies import engine
from strategies.models import Optimisation, OptimisationFold, OptimisationVariant
from strategies.optimisation import Fold, fold_windows, run_variant
from strategies.optimisation_selectors import best_variant
from strategies.services.backtest_runs import NoCandlesError, load_candles
from strategies.services.backtests import TASK_CONTEXT
from strategies.services.candle_cache import CandleCache
from strategies.services.optimisations import plan_variants

logger = logging.getLogger(__name__)

HEARTBEAT_TTL = 120
# Stored variants are written at least this often (seconds), so progress moves during a chunk.
FLUSH_INTERVAL = 1.0
# A chunk reads the optimisation's status at most this often (seconds).
CANCEL_CHECK_INTERVAL = 1.0


def chunk_heartbeat_key(optimisation_id: uuid.UUID | str, fold: int, chunk: int) -> str:
    return f"optimisation:heartbeat:{optimisation_id}:{fold}:{chunk}"


candle_cache = CandleCache(settings.OPTIMISATION_CANDLE_CACHE_MB * 1024 * 1024)


def window_candles(run: Optimisation) -> engine.Candles:
    snapshot = run.strategy_snapshot
    key = (snapshot["asset_symbol"], snapshot["timeframe"], run.start_date, run.end_date)
    return candle_cache.get(key, lambda: load_candles(snapshot, run.start_date, run.end_date))


def run_folds(run: Optimisation, bars: int) -> list[Fold]:
    return fold_windows(
        bars,
        folds=run.walk_forward_folds,
        mode=run.walk_forward_mode,
        in_sample_ratio=run.in_sample_ratio,
    )


def base_config(run: Optimisation) -> engine.BacktestConfig:
    return engine.BacktestConfig.from_strategy_snapshot(
        run.strategy_snapshot,
        initial_capital=run.initial_capital,
        commission_pct=run.commission_pct,
        slippage_pct=run.slippage_pct,
    )


# --- State --------------------------------------------------------------------------------------


def _claim(optimisation_id: uuid.UUID | str) -> None:
    """pending → running by the first chunk to start (the others find it running)."""
    with transaction.atomic():
        locked = (
            Optimisation.objects.select_for_update()
            .filter(pk=optimisation_id, status=Optimisation.Status.PENDING)
            .first()
        )
        if locked is not None:
            audited_update(
                instance=locked,
                changes={"status": Optimisation.Status.RUNNING, "started_at": timezone.now()},
                actor=None,
                context=TASK_CONTEXT,
            )


def _finish(optimisation_id: uuid.UUID | str, status: str, message: str | None = None) -> bool:
    """running → status, under the row lock; False when it is no longer running."""
    with transaction.atomic():
        locked = (
            Optimisation.objects.select_for_update()
            .filter(pk=optimisation_id, status=Optimisation.Status.RUNNING)
            .first()
        )
        if locked is None:
            return False
        audited_update(
            instance=locked,
            changes={"status": status, "completed_at": timezone.now(), "error_message": message},
            actor=None,
            context=TASK_CONTEXT,
        )
    return True


def fail_optimisation(optimisation_id: uuid.UUID | str, message: str) -> bool:
    return _finish(optimisation_id, Optimisation.Status.FAILED, message)


def finish_if_complete(optimisation_id: uuid.UUID | str) -> bool:
    """running → completed once every variant is stored and every fold scored."""
    with transaction.atomic():
        run = (
            Optimisation.objects.select_for_update()
            .filter(pk=optimisation_id, status=Optimisation.Status.RUNNING)
            .first()
        )
        if run is None or run.variants_done < run.variants_total:
            return False
        if run.folds.count() < (run.walk_forward_folds or 0):
            return False
        return _finish(optimisation_id, Optimisation.Status.COMPLETED)


class StatusWatch:
    """should_cancel() for the engine and the chunk loop: reads the status at most once a
    second; anything but `running` stops the chunk."""

    def __init__(
        self, optimisation_id: uuid.UUID | str, clock: Callable[[], float] = time.monotonic
    ):
        self.optimisation_id = optimisation_id
        self.clock = clock
        self._checked = float("-inf")
        self._stopped = False

    def should_cancel(self) -> bool:
        now = self.clock()
        if not self._stopped and now - self._checked >= CANCEL_CHECK_INTERVAL:
            self._checked = now
            status = (
                Optimisation.objects.filter(pk=self.optimisation_id)
                .values_list("status", flat=True)
                .first()
            )
            self._stopped = status != Optimisation.Status.RUNNING
        return self._stopped


# --- Storing variants ---------------------------------------------------------------------------


def _variant_row(run_id: uuid.UUID, fold: int, outcome: Any) -> OptimisationVariant:
    return OptimisationVariant(
        optimisation_id=run_id,
        fold=fold,
        variant_number=outcome.number,
        parameters=outcome.parameters,
        objective_value=outcome.objective,
        meets_constraints=outcome.meets_constraints,
        error_message=outcome.error,
        **outcome.columns,
    )


def store_variants(run_id: uuid.UUID, fold: int, outcomes: list[Any]) -> int:
    """Insert the outcomes not stored yet and add them to variants_done, in one transaction under
    the optimisation's row lock; returns how many were new. Nothing is stored for an optimisation
    that is no longer running (cancelled: its counters stand as they were)."""
    if not outcomes:
        return 0
    with transaction.atomic():
        run = (
            Optimisation.objects.select_for_update()
            .filter(pk=run_id, status=Optimisation.Status.RUNNING)
            .first()
        )
        if run is None:
            return 0
        numbers = [o.number for o in outcomes]
        stored = set(
            OptimisationVariant.objects.filter(
                optimisation_id=run_id, fold=fold, variant_number__in=numbers
            ).values_list("variant_number", flat=True)
        )
        new = [_variant_row(run_id, fold, o) for o in outcomes if o.number not in stored]
        # The unique (optimisation, fold, variant_number) is the guarantee; the lock and the
        # filter above keep a redelivered chunk from ever reaching it.
        OptimisationVariant.objects.bulk_create(new)
        Optimisation.objects.filter(pk=run_id).update(variants_done=run.variants_done + len(new))
    return len(new)


# --- Running a chunk ----------------------------------------------------------------------------


def run_chunk(*, optimisation_id: uuid.UUID | str, fold: int, chunk: int) -> str:
    """Run one chunk's variants and store them; then score the fold and finish the optimisation
    if this chunk completed them. Returns what happened ("done", "skipped", "cancelled",
    "failed")."""
    run = Optimisation.objects.filter(pk=optimisation_id).first()
    if run is None or run.is_finished:
        return "skipped"
    _claim(run.pk)
    watch = StatusWatch(run.pk)
    heartbeat = chunk_heartbeat_key(run.pk, fold, chunk)
    cache.set(heartbeat, timezone.now().isoformat(), timeout=HEARTBEAT_TTL)
    try:
        candles = window_candles(run)
        _run_variants(run, fold, chunk, candles, watch, heartbeat)
        if run.is_walk_forward and fold > 0:
            score_fold_if_complete(run, fold, candles)
        finish_if_complete(run.pk)
        return "done"
    except engine.BacktestCancelled:
        return "cancelled"
    except NoCandlesError as error:
        fail_optimisation(run.pk, str(error))
        return "failed"
    except ValueError as error:  # a window too short for its folds, a bad snapshot
        fail_optimisation(run.pk, f"Invalid optimisation input: {error}")
        return "failed"
    except Exception as error:
        logger.exception("optimisation %s chunk %s/%s failed", run.pk, fold, chunk)
        fail_optimisation(
            run.pk,
            f"The optimisation stopped with an internal error ({type(error).__name__}: {error}).",
        )
        return "failed"
    finally:
        cache.delete(heartbeat)


def _run_variants(
    run: Optimisation,
    fold: int,
    chunk: int,
    candles: engine.Candles,
    watch: StatusWatch,
    heartbeat: str,
) -> None:
    variants = plan_variants(
        snapshot=run.strategy_snapshot,
        parameter_space=run.parameter_space,
        search_method=run.search_method,
        max_variants=run.max_variants,
        random_seed=run.random_seed,
    )
    first = chunk * run.chunk_size
    numbers = range(first, min(first + run.chunk_size, len(variants)))
    stored = set(
        OptimisationVariant.objects.filter(
            optimisation_id=run.pk, fold=fold, variant_number__in=list(numbers)
        ).values_list("variant_number", flat=True)
    )
    todo = [n for n in numbers if n not in stored]
    if not todo:
        return
    if fold > 0:
        start, stop = run_folds(run, len(candles))[fold - 1].in_sample
        candles = candles.slice(start, stop)
    config = base_config(run)
    indicator_cache: dict = {}  # one per chunk: each distinct series computed once
    pending: list[Any] = []
    last_flush = time.monotonic()
    for number in todo:
        if watch.should_cancel():
            raise engine.BacktestCancelled("the optimisation is no longer running")
        pending.append(
            run_variant(
                candles,
                number=number,
                snapshot=run.strategy_snapshot,
                parameters=variants[number],
                base_config=config,
                objective=run.objective,
                constraints=run.constraints,
                indicator_cache=indicator_cache,
                should_cancel=watch.should_cancel,
            )
        )
        if time.monotonic() - last_flush >= FLUSH_INTERVAL:
            store_variants(run.pk, fold, pending)
            cache.set(heartbeat, timezone.now().isoformat(), timeout=HEARTBEAT_TTL)
            pending, last_flush = [], time.monotonic()
    store_variants(run.pk, fold, pending)


# --- Walk-forward folds -------------------------------------------------------------------------


def _bar_time(candles: engine.Candles, index: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(int(candles.time[index]) / 1e9, tz=dt.UTC)


def score_fold_if_complete(run: Optimisation, fold_number: int, candles: engine.Candles) -> bool:
    """Once fold k's in-sample variants are all stored, run its best one on the out-of-sample
    bars and store the fold. Safe to call any number of times: one fold row per number."""
    per_fold = run.variants_total // (1 + run.walk_forward_folds)
    if OptimisationVariant.objects.filter(optimisation=run, fold=fold_number).count() < per_fold:
        return False
    if OptimisationFold.objects.filter(optimisation=run, fold_number=fold_number).exists():
        return False
    fold = run_folds(run, len(candles))[fold_number - 1]
    best = best_variant(run, fold=fold_number)
    values: dict[str, Any] = {
        "in_sample_start": _bar_time(candles, fold.in_sample[0]),
        "in_sample_end": _bar_time(candles, fold.in_sample[1] - 1),
        "out_of_sample_start": _bar_time(candles, fold.out_of_sample[0]),
        "out_of_sample_end": _bar_time(candles, fold.out_of_sample[1] - 1),
    }
    if best is None:
        values["error_message"] = "No in-sample variant ran and met the constraints."
    else:
        outcome = run_variant(
            candles.slice(*fold.out_of_sample),
            number=best.variant_number,
            snapshot=run.strategy_snapshot,
            parameters=best.parameters,
            base_config=base_config(run),
            objective=run.objective,
            constraints={},
            keep_result=True,
        )
        values.update(
            best_variant=best,
            parameters=best.parameters,
            in_sample_objective=best.objective_value,
            out_of_sample_objective=outcome.objective,
            error_message=outcome.error,
            out_of_sample_equity=outcome.result.equity_curve if outcome.result else None,
            **outcome.columns,
        )
    with transaction.atomic():
        locked = (
            Optimisation.objects.select_for_update()
            .filter(pk=run.pk, status=Optimisation.Status.RUNNING)
            .first()
        )
        if locked is None:
            return False
        _fold, created = OptimisationFold.objects.get_or_create(
            optimisation=run, fold_number=fold_number, defaults=values
        )
    return created
