"""Backtest runs: start one (freeze the strategy, enqueue), run it (claim, load candles, simulate,
save), cancel it, and fail the ones whose worker stopped. docs/backtests.md describes the state
machine, the heartbeat and what a redelivered task does.

Status moves only forward, and every move is a conditional UPDATE (`... WHERE status IN (...)`), so
two workers, a cancel and the stale-job sweep can race without one overwriting another's outcome:
the first to move a backtest out of `running` wins, later writers see no matching row.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import connections, transaction
from django.utils import timezone

from accounts.models import User
from compliance.audit import AuditContext
from compliance.models import AuditLog
from compliance.services import record_audit_event
from core.errors import StateConflict
from marketdata.selectors import candle_arrays
from marketdata.timescale import TIMESERIES_DB
from strategies import engine
from strategies.models import Backtest, BacktestTrade, Strategy
from strategies.services.backtest_limits import check_backtest_cost, reserve_backtest_start

logger = logging.getLogger(__name__)

DEFAULT_COMMISSION_PCT = Decimal("0.0010")
DEFAULT_SLIPPAGE_PCT = Decimal("0.0005")

# The strategy columns frozen into backtests.strategy_snapshot; decimals are stored as strings.
SNAPSHOT_FIELDS = (
    "name",
    "description",
    "version",
    "asset_symbol",
    "timeframe",
    "entry_rules",
    "exit_rules",
    "stop_loss_pct",
    "take_profit_pct",
    "max_position_size_pct",
    "max_drawdown_pct",
    "trailing_stop_pct",
)

# A running backtest refreshes `backtest:heartbeat:{id}` in Redis at least this often (seconds)...
HEARTBEAT_INTERVAL = 5
# ...and the key outlives a missed refresh or two; once it has expired the worker is presumed dead.
HEARTBEAT_TTL = 120
# progress_pct is written at most once per this many seconds (and on every 10% step).
PROGRESS_WRITE_INTERVAL = 1.0
# A pending backtest whose task was sent less than this long ago (seconds) is not sent again.
ENQUEUED_TTL = 600
# should_cancel() reads the status from the database at most this often.
CANCEL_CHECK_INTERVAL = 1.0

WORKER_STOPPED_MESSAGE = (
    "The worker running this backtest stopped (no heartbeat); start the backtest again."
)

TASK_CONTEXT = AuditContext.system("task")

# Candle times are nanoseconds since the epoch; nothing trades before it.
EARLIEST_START_DATE = dt.date(1970, 1, 1)


class BacktestStateError(StateConflict):
    """The action does not apply to the backtest in its current status."""


def heartbeat_key(backtest_id: uuid.UUID | str) -> str:
    return f"backtest:heartbeat:{backtest_id}"


def strategy_snapshot(strategy: Strategy) -> dict[str, Any]:
    """The strategy as the backtest will run it, as JSON (decimals as strings)."""
    snapshot: dict[str, Any] = {"id": str(strategy.pk)}
    for name in SNAPSHOT_FIELDS:
        value = getattr(strategy, name)
        snapshot[name] = str(value) if isinstance(value, Decimal) else value
    return snapshot


# --- Starting -----------------------------------------------------------------------------------


def start_backtest(
    *,
    user: User,
    strategy: Strategy,
    start_date: dt.date,
    end_date: dt.date,
    initial_capital: Decimal,
    commission_pct: Decimal | None = None,
    slippage_pct: Decimal | None = None,
    context: AuditContext | None = None,
    enqueue: bool = True,
    limits: bool = True,
) -> Backtest:
    """A `pending` backtest of the strategy as it is now; the Celery task is enqueued once the
    transaction commits (`enqueue=False` leaves running it to the caller, as `manage.py backtest`
    does). Raises ValidationError keyed by field, also for a backtest too costly to run, and
    LimitExceeded past the user's limits (backtest_limits; `limits=False` is for operators)."""
    if strategy.user_id != user.pk:
        raise ValidationError({"strategy": "Strategy not found."})
    if errors := date_range_errors(start_date, end_date):
        raise ValidationError(errors)
    with transaction.atomic():
        # Freeze the row as stored now, not the caller's possibly older copy of it.
        strategy = Strategy.objects.select_for_update().get(pk=strategy.pk)
        check_backtest_cost(
            timeframe=strategy.timeframe,
            entry_rules=strategy.entry_rules,
            exit_rules=strategy.exit_rules,
            start_date=start_date,
            end_date=end_date,
        )
        backtest = Backtest(
            strategy=strategy,
            user=user,
            start_date=start_date,
            end_date=end_date,
            initial_capital=initial_capital,
            commission_pct=DEFAULT_COMMISSION_PCT if commission_pct is None else commission_pct,
            slippage_pct=DEFAULT_SLIPPAGE_PCT if slippage_pct is None else slippage_pct,
            strategy_snapshot=strategy_snapshot(strategy),
            status=Backtest.Status.PENDING,
            progress_pct=0,
        )
        backtest.full_clean()
        if limits:  # after every input check: only a start that would happen counts
            reserve_backtest_start(user=user)
        backtest.save()
        record_audit_event(
            actor=user,
            action=AuditLog.Action.CREATE,
            resource_type="backtest",
            resource_id=backtest.pk,
            new_values={
                "strategy_id": str(strategy.pk),
                "strategy_version": strategy.version,
                "start_date": start_date.isoformat(),
                "end_date": end_date.isoformat(),
                "initial_capital": str(backtest.initial_capital),
                "commission_pct": str(backtest.commission_pct),
                "slippage_pct": str(backtest.slippage_pct),
            },
            context=context,
        )
        if enqueue:
            backtest_id = backtest.pk
            transaction.on_commit(lambda: enqueue_backtest(backtest_id))
    return backtest


def date_range_errors(start_date: dt.date | None, end_date: dt.date | None) -> dict[str, str]:
    """What is wrong with a backtest's dates, by field. The end date can be today (UTC) at the
    latest: later days have no candles yet, and far-future dates overflow the candle window. The
    start date can be 1970-01-01 at the earliest."""
    errors = {}
    if start_date and start_date < EARLIEST_START_DATE:
        errors["start_date"] = (
            f"The start date can be {EARLIEST_START_DATE:%Y-%m-%d} at the earliest."
        )
    today = timezone.now().date()
    if end_date and end_date > today:
        errors["end_date"] = (
            f"The end date can be at most today, {today:%Y-%m-%d} (UTC): there are no candles "
            "for later days."
        )
    elif start_date and end_date and end_date <= start_date:
        errors["end_date"] = "The end date must be after the start date."
    return errors


def enqueued_key(backtest_id: uuid.UUID | str) -> str:
    return f"backtest:enqueued:{backtest_id}"


def enqueue_backtest(backtest_id: uuid.UUID | str) -> bool:
    """Send the run task to the broker. When the broker cannot be reached the error is logged, not
    raised (the backtest is saved and stays `pending`), and requeue_pending_backtests sends it
    again later; a task sent twice is harmless, as only one delivery can claim the backtest."""
    from strategies.tasks import run_backtest_task

    try:
        run_backtest_task.delay(str(backtest_id))
        cache.set(enqueued_key(backtest_id), timezone.now().isoformat(), timeout=ENQUEUED_TTL)
    except Exception:
        logger.exception("could not enqueue backtest %s; the stale sweep will retry", backtest_id)
        return False
    return True


# --- Candles ------------------------------------------------------------------------------------


class NoCandlesError(Exception):
    """There is nothing to run the strategy on; the message says why, for error_message."""


def candle_window(start_date: dt.date, end_date: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """[start, end) in UTC: from the start date's midnight to the midnight after the end date,
    so both dates are included whole."""
    start = dt.datetime.combine(start_date, dt.time.min, tzinfo=dt.UTC)
    end = dt.datetime.combine(end_date + dt.timedelta(days=1), dt.time.min, tzinfo=dt.UTC)
    return start, end


# Market data keeps one-minute candles and rolls every other timeframe up from them.
_DATA_RANGE_SQL = "SELECT min(time), max(time) FROM ohlcv WHERE symbol = %s AND timeframe = '1m'"


def _data_range(symbol: str) -> tuple[dt.datetime | None, dt.datetime | None]:
    """First and last stored candle of the symbol, for the error message of an empty range."""
    with connections[TIMESERIES_DB].cursor() as cursor:
        cursor.execute(_DATA_RANGE_SQL, [symbol])
        return cursor.fetchone()


def load_candles(
    snapshot: dict[str, Any], start_date: dt.date, end_date: dt.date
) -> engine.Candles:
    """The strategy's candles over the backtest's dates. Raises NoCandlesError when there are
    none: an unknown or inactive symbol (no data at all) or a range outside the data."""
    symbol, timeframe = snapshot["asset_symbol"], snapshot["timeframe"]
    start, end = candle_window(start_date, end_date)
    arrays = candle_arrays(symbol=symbol, timeframe=timeframe, start=start, end=end)
    if arrays["close"].shape[0] == 0:
        first, last = _data_range(symbol)
        if first is None:
            raise NoCandlesError(
                f"No market data for {symbol}: the symbol is not active in market data (no "
                "candles at all)."
            )
        raise NoCandlesError(
            f"No {symbol} {timeframe} candles between {start_date} and {end_date}; data exists "
            f"from {first:%Y-%m-%d %H:%M} to {last:%Y-%m-%d %H:%M} UTC."
        )
    return engine.Candles.from_arrays(
        arrays["time"],
        arrays["open"],
        arrays["high"],
        arrays["low"],
        arrays["close"],
        arrays["volume"],
    )


# --- Running ------------------------------------------------------------------------------------


def _claim(backtest_id: uuid.UUID | str) -> bool:
    """pending → running, atomically; False when another task claimed it or it is finished."""
    with transaction.atomic():
        claimed = Backtest.objects.filter(pk=backtest_id, status=Backtest.Status.PENDING).update(
            status=Backtest.Status.RUNNING, started_at=timezone.now(), progress_pct=0
        )
        if claimed:
            record_audit_event(
                actor=None,
                action=AuditLog.Action.UPDATE,
                resource_type="backtest",
                resource_id=backtest_id,
                old_values={"status": Backtest.Status.PENDING},
                new_values={"status": Backtest.Status.RUNNING},
                context=TASK_CONTEXT,
            )
    return bool(claimed)


def _finish(
    backtest_id: uuid.UUID | str,
    status: str,
    *,
    fields: dict[str, Any] | None = None,
    trades: list[dict[str, Any]] | None = None,
    audit: dict[str, Any] | None = None,
) -> bool:
    """running → status with the result columns and trades, in one transaction. False (and
    nothing written) when the backtest is no longer running: it was cancelled or failed
    meanwhile, and that outcome stands."""
    with transaction.atomic():
        locked = (
            Backtest.objects.select_for_update()
            .filter(pk=backtest_id, status=Backtest.Status.RUNNING)
            .first()
        )
        if locked is None:
            return False
        values = {"status": status, "completed_at": timezone.now(), **(fields or {})}
        Backtest.objects.filter(pk=backtest_id).update(**values)
        if trades is not None:
            # A redelivered task (or a re-run) replaces the trades, never adds to them.
            BacktestTrade.objects.filter(backtest_id=backtest_id).delete()
            BacktestTrade.objects.bulk_create(
                [BacktestTrade(backtest_id=backtest_id, **row) for row in trades], batch_size=1000
            )
        record_audit_event(
            actor=None,
            action=AuditLog.Action.UPDATE,
            resource_type="backtest",
            resource_id=backtest_id,
            old_values={"status": Backtest.Status.RUNNING},
            new_values={"status": status, **(audit or {})},
            context=TASK_CONTEXT,
        )
    cache.delete(heartbeat_key(backtest_id))
    return True


def fail_backtest(backtest_id: uuid.UUID | str, message: str) -> bool:
    """running → failed with the reason; False when it was no longer running."""
    return _finish(
        backtest_id,
        Backtest.Status.FAILED,
        fields={"error_message": message},
        audit={"error_message": message},
    )


@dataclass
class RunMonitor:
    """The engine's progress and should_cancel callbacks for one backtest: throttled writes of
    progress_pct, the Redis heartbeat, and a throttled read of the status."""

    backtest_id: uuid.UUID | str
    clock: Callable[[], float] = time.monotonic
    _last_progress_write: float = float("-inf")
    _written_pct: int = 0
    _last_heartbeat: float = float("-inf")
    _last_cancel_check: float = float("-inf")
    _cancelled: bool = False

    def beat(self, *, force: bool = False) -> None:
        now = self.clock()
        if force or now - self._last_heartbeat >= HEARTBEAT_INTERVAL:
            cache.set(
                heartbeat_key(self.backtest_id), timezone.now().isoformat(), timeout=HEARTBEAT_TTL
            )
            self._last_heartbeat = now

    def progress(self, pct: int) -> None:
        self.beat()
        now = self.clock()
        step = pct // 10 > self._written_pct // 10
        if pct > self._written_pct and (
            step or now - self._last_progress_write >= PROGRESS_WRITE_INTERVAL
        ):
            written = Backtest.objects.filter(
                pk=self.backtest_id, status=Backtest.Status.RUNNING
            ).update(progress_pct=min(pct, 100))
            self._written_pct = pct
            self._last_progress_write = now
            if not written:
                self._cancelled = True

    def should_cancel(self) -> bool:
        now = self.clock()
        if not self._cancelled and now - self._last_cancel_check >= CANCEL_CHECK_INTERVAL:
            self._last_cancel_check = now
            status = (
                Backtest.objects.filter(pk=self.backtest_id)
                .values_list("status", flat=True)
                .first()
            )
            self._cancelled = status != Backtest.Status.RUNNING
        return self._cancelled


@contextmanager
def heartbeat_during(backtest_id: uuid.UUID | str) -> Iterator[None]:
    """Refresh the heartbeat every HEARTBEAT_INTERVAL from a background thread while the block
    runs, so that long phases without progress callbacks (loading candles, computing indicators)
    do not look like a dead worker to the stale-job sweep."""
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(HEARTBEAT_INTERVAL):
            cache.set(heartbeat_key(backtest_id), timezone.now().isoformat(), timeout=HEARTBEAT_TTL)

    thread = threading.Thread(target=beat, name=f"heartbeat-{backtest_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=HEARTBEAT_INTERVAL)
        cache.delete(heartbeat_key(backtest_id))


def _result_fields(result: engine.BacktestResult) -> dict[str, Any]:
    fields = engine.result_columns(result)
    fields["progress_pct"] = 100
    fields["error_message"] = None
    return fields


def run_backtest(*, backtest_id: uuid.UUID | str) -> Backtest | None:
    """Run a pending backtest to its end. Does nothing (returns the backtest as it is) when it is
    not pending: already claimed by another delivery of the task, finished or cancelled. Never
    leaves it `running`: every error ends in `failed` with the reason in error_message."""
    if not _claim(backtest_id):
        logger.info("backtest %s not pending; nothing to do", backtest_id)
        return Backtest.objects.filter(pk=backtest_id).first()
    monitor = RunMonitor(backtest_id)
    with heartbeat_during(backtest_id):
        _run_claimed(backtest_id, monitor)
    # None when the strategy, and with it the backtest, was deleted during the run.
    return Backtest.objects.filter(pk=backtest_id).first()


def _run_claimed(backtest_id: uuid.UUID | str, monitor: RunMonitor) -> None:
    try:
        monitor.beat(force=True)
        backtest = Backtest.objects.get(pk=backtest_id)
        snapshot = backtest.strategy_snapshot
        candles = load_candles(snapshot, backtest.start_date, backtest.end_date)
        if monitor.should_cancel():
            raise engine.BacktestCancelled("cancelled before the run")
        config = engine.BacktestConfig.from_strategy_snapshot(
            snapshot,
            initial_capital=backtest.initial_capital,
            commission_pct=backtest.commission_pct,
            slippage_pct=backtest.slippage_pct,
        )
        result = engine.run_backtest(
            candles,
            entry_rules=snapshot["entry_rules"],
            exit_rules=snapshot["exit_rules"],
            config=config,
            progress=monitor.progress,
            should_cancel=monitor.should_cancel,
        )
        trades = [engine.trade_columns(trade) for trade in result.trades]
        _finish(
            backtest_id,
            Backtest.Status.COMPLETED,
            fields=_result_fields(result),
            trades=trades,
            audit={"total_trades": len(trades), "bars": result.bars},
        )
    except engine.BacktestCancelled:
        # cancel_backtest already wrote `cancelled`; this is for a status that changed some other
        # way (the stale-job sweep), which then stands as it is.
        logger.info("backtest %s stopped: status changed while running", backtest_id)
        cache.delete(heartbeat_key(backtest_id))
    except NoCandlesError as error:
        fail_backtest(backtest_id, str(error))
    except SoftTimeLimitExceeded:
        logger.warning("backtest %s stopped at the soft time limit", backtest_id)
        fail_backtest(backtest_id, time_limit_message())
    except MemoryError:
        logger.warning("backtest %s stopped at the memory ceiling", backtest_id)
        fail_backtest(backtest_id, memory_limit_message())
    except Exception as error:
        logger.exception("backtest %s failed", backtest_id)
        fail_backtest(backtest_id, _error_message(error))


SHRINK_ADVICE = "Shorten the date range, use a longer timeframe or fewer indicators."


def time_limit_message() -> str:
    return (
        f"The backtest ran past the workers' time limit ({settings.CELERY_TASK_SOFT_TIME_LIMIT} s)"
        f" and was stopped. {SHRINK_ADVICE}"
    )


def memory_limit_message() -> str:
    return (
        "The backtest needed more memory than a worker may use "
        f"({settings.CELERY_WORKER_MEMORY_LIMIT_MB} MB) and was stopped. {SHRINK_ADVICE}"
    )


def _error_message(error: Exception) -> str:
    """A message for error_message: rule and config errors are the user's to fix, anything else
    is reported by its type so that the log entry can be found."""
    if isinstance(error, ValueError):
        return f"Invalid backtest input: {error}"
    return f"The backtest stopped with an internal error ({type(error).__name__}: {error})."


# --- Cancelling and the stale-job sweep ---------------------------------------------------------


def cancel_backtest(
    *, backtest: Backtest, actor: User | None, context: AuditContext | None = None
) -> Backtest:
    """pending or running → cancelled. A running engine notices at its next progress check and
    stops without saving results. Raises BacktestStateError for a finished backtest."""
    active = (Backtest.Status.PENDING, Backtest.Status.RUNNING)
    with transaction.atomic():
        locked = Backtest.objects.select_for_update().get(pk=backtest.pk)
        if locked.status not in active:
            raise BacktestStateError(
                f"The backtest is already {locked.status}; only pending or running backtests "
                "can be cancelled."
            )
        old_status = locked.status
        Backtest.objects.filter(pk=locked.pk).update(
            status=Backtest.Status.CANCELLED, completed_at=timezone.now()
        )
        record_audit_event(
            actor=actor,
            action=AuditLog.Action.UPDATE,
            resource_type="backtest",
            resource_id=locked.pk,
            old_values={"status": old_status},
            new_values={"status": Backtest.Status.CANCELLED},
            context=context,
        )
    cache.delete(heartbeat_key(backtest.pk))
    backtest.refresh_from_db()
    return backtest


def fail_stale_backtests(*, older_than: dt.timedelta = dt.timedelta(minutes=10)) -> list[uuid.UUID]:
    """Mark failed every backtest that has been running longer than `older_than` and whose worker
    no longer refreshes its heartbeat. Returns the ids it failed."""
    cutoff = timezone.now() - older_than
    candidates = Backtest.objects.filter(
        status=Backtest.Status.RUNNING, started_at__lt=cutoff
    ).values_list("pk", flat=True)
    failed = []
    for backtest_id in candidates:
        if cache.get(heartbeat_key(backtest_id)) is not None:
            continue
        if fail_backtest(backtest_id, WORKER_STOPPED_MESSAGE):
            failed.append(backtest_id)
    if failed:
        logger.warning("failed %d stale backtests: %s", len(failed), failed)
    return failed


def requeue_pending_backtests(
    *, older_than: dt.timedelta = dt.timedelta(minutes=10)
) -> list[uuid.UUID]:
    """Send the task again for backtests still `pending` after `older_than` whose task was never
    sent (the broker was down at the commit) or was sent longer than ENQUEUED_TTL ago and has not
    run. Returns the ids it sent."""
    cutoff = timezone.now() - older_than
    candidates = Backtest.objects.filter(
        status=Backtest.Status.PENDING, created_at__lt=cutoff
    ).values_list("pk", flat=True)
    sent = [
        backtest_id
        for backtest_id in candidates
        if cache.get(enqueued_key(backtest_id)) is None and enqueue_backtest(backtest_id)
    ]
    if sent:
        logger.warning("sent the task again for %d pending backtests: %s", len(sent), sent)
    return sent
