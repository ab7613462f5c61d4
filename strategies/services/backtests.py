"""Backtests: start one (freeze the strategy, enqueue its run task), cancel it, and send again
or give up on pending ones whose task never started. Running is strategies.services.backtest_runs;
the heartbeat and progress of a run are strategies.services.run_monitor. docs/backtests.md
describes the state machine.

Status moves only forward, and every move is a conditional UPDATE (`... WHERE status IN (...)`), so
two workers, a cancel and the stale-job sweep can race without one overwriting another's outcome:
the first to move a backtest out of `running` wins, later writers see no matching row.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from decimal import ROUND_DOWN, Decimal
from typing import Any

from celery import current_app
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from accounts.models import User
from compliance.audit import AuditContext
from compliance.services import audited_create, audited_delete, audited_update
from core.cache_keys import backtest_enqueued_key, backtest_heartbeat_key
from core.errors import StateConflict
from strategies.engine.config import DEFAULT_POSITION_SIZE_PCT
from strategies.models import Backtest, BacktestTrade, Strategy
from strategies.result_columns import column_limit
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
# What the audit row of a new backtest or optimisation records (the snapshot holds the strategy's
# version and rules as the run will see them).
RUN_AUDIT_FIELDS = (
    "strategy_id",
    "strategy_snapshot",
    "start_date",
    "end_date",
    "initial_capital",
    "commission_pct",
    "slippage_pct",
)
# The run task, sent by name: importing strategies.tasks here would make an import cycle.
RUN_TASK = "strategies.tasks.run_backtest_task"
# A pending backtest whose task has not started this long after it was sent is sent once more;
# one still pending this long after that is failed.
NOT_STARTED_AFTER = dt.timedelta(minutes=1)
NEVER_STARTED_AFTER = dt.timedelta(minutes=10)
# How long the record of a sent task (`backtest:enqueued:{id}`) is kept (seconds).
ENQUEUED_TTL = 86_400
NEVER_STARTED_MESSAGE = (
    "No worker started this backtest (its task was sent twice); start the backtest again."
)
TASK_CONTEXT = AuditContext.system("task")

# Candle times are nanoseconds since the epoch; nothing trades before it.
EARLIEST_START_DATE = dt.date(1970, 1, 1)


class BacktestStateError(StateConflict):
    """The action does not apply to the backtest in its current status."""


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
    if errors := size_errors(strategy, initial_capital):
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
        if limits:
            # After every input check (audited_create validates again): only a start that would
            # happen counts against the user's limits.
            backtest.full_clean()
            reserve_backtest_start(user=user)
        audited_create(
            instance=backtest, actor=user, fields=list(RUN_AUDIT_FIELDS), context=context
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


def size_errors(strategy: Strategy, initial_capital: Decimal | None) -> dict[str, str]:
    """What the trades implied by the capital would not fit, by field: a trade takes
    max_position_size_pct of the capital, and a move of 100% on it must fit the trade P&L
    columns (commission and slippage, fractions of it, then fit too). Checked before the run,
    so that it does not fail later with a value its column cannot hold."""
    if initial_capital is None or not isinstance(initial_capital, Decimal | int):
        return {}
    position_pct = strategy.max_position_size_pct
    if position_pct is None:
        position_pct = Decimal(str(DEFAULT_POSITION_SIZE_PCT))
    trade_value = Decimal(initial_capital) * position_pct / 100
    field = BacktestTrade._meta.get_field("gross_pnl")
    limit = column_limit(field.max_digits, field.decimal_places)
    if trade_value <= limit:
        return {}
    cent = Decimal("0.01")
    largest = (limit * 100 / position_pct).quantize(cent, rounding=ROUND_DOWN)
    shown_limit = limit.quantize(cent, rounding=ROUND_DOWN)
    return {
        "initial_capital": (
            f"With {position_pct}% of the capital per trade, a trade of {trade_value:,.2f} "
            f"would not fit the trade P&L columns (at most {shown_limit:,.2f}); use an initial "
            f"capital of at most {largest:,.2f} or a smaller max_position_size_pct."
        )
    }


def enqueue_backtest(backtest_id: uuid.UUID | str) -> bool:
    """Send the run task to the broker. When the broker cannot be reached the error is logged, not
    raised (the backtest is saved and stays `pending`), and requeue_pending_backtests sends it
    again later; a task sent twice is harmless, as only one delivery can claim the backtest."""
    try:
        current_app.send_task(RUN_TASK, args=[str(backtest_id)])
        sent = cache.get(backtest_enqueued_key(backtest_id)) or {}
        attempts = sent.get("attempts", 0) if isinstance(sent, dict) else 1
        record = {"sent_at": timezone.now().isoformat(), "attempts": attempts + 1}
        cache.set(backtest_enqueued_key(backtest_id), record, timeout=ENQUEUED_TTL)
    except Exception:
        logger.exception("could not enqueue backtest %s; the stale sweep will retry", backtest_id)
        return False
    return True


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
        audited_update(
            instance=locked,
            changes={"status": Backtest.Status.CANCELLED, "completed_at": timezone.now()},
            actor=actor,
            context=context,
        )
    cache.delete(backtest_heartbeat_key(backtest.pk))
    backtest.refresh_from_db()
    return backtest


def delete_backtest(
    *, backtest: Backtest, actor: User | None, context: AuditContext | None = None
) -> None:
    """Delete a finished backtest and its trades. A pending or running one is a
    BacktestStateError: cancel it first, so that no worker saves results for a deleted row."""
    with transaction.atomic():
        locked = Backtest.objects.select_for_update().get(pk=backtest.pk)
        if locked.status not in Backtest.FINISHED_STATUSES:
            raise BacktestStateError(
                f"The backtest is {locked.status}; cancel it before deleting it."
            )
        audited_delete(
            instance=locked,
            actor=actor,
            fields=[*RUN_AUDIT_FIELDS, "status"],
            context=context,
        )


def requeue_pending_backtests(*, older_than: dt.timedelta = NOT_STARTED_AFTER) -> list[uuid.UUID]:
    """Send the task again for backtests still `pending` after `older_than`: those whose task
    never reached the broker, and, once, those whose task was sent `older_than` ago and has not
    started (a worker that took it died before starting it). Returns the ids it sent. A backtest
    whose second task has not started NEVER_STARTED_AFTER later is failed (fail_unstarted)."""
    now = timezone.now()
    candidates = Backtest.objects.filter(
        status=Backtest.Status.PENDING, created_at__lt=now - older_than
    ).values_list("pk", flat=True)
    sent = []
    for backtest_id in candidates:
        record = cache.get(backtest_enqueued_key(backtest_id))
        if isinstance(record, dict):
            if record.get("attempts", 1) >= 2:
                continue
            if dt.datetime.fromisoformat(record["sent_at"]) > now - older_than:
                continue
        if enqueue_backtest(backtest_id):
            sent.append(backtest_id)
    if sent:
        logger.warning("sent the task again for %d pending backtests: %s", len(sent), sent)
    return sent


def fail_unstarted_backtests(*, older_than: dt.timedelta = NEVER_STARTED_AFTER) -> list[uuid.UUID]:
    """Fail the pending backtests whose task was sent twice, the second time more than
    `older_than` ago, and never started. Returns their ids."""
    now = timezone.now()
    candidates = Backtest.objects.filter(
        status=Backtest.Status.PENDING, created_at__lt=now - older_than
    ).values_list("pk", flat=True)
    failed = []
    for backtest_id in candidates:
        record = cache.get(backtest_enqueued_key(backtest_id))
        if not isinstance(record, dict) or record.get("attempts", 1) < 2:
            continue
        if dt.datetime.fromisoformat(record["sent_at"]) > now - older_than:
            continue
        with transaction.atomic():
            locked = (
                Backtest.objects.select_for_update()
                .filter(pk=backtest_id, status=Backtest.Status.PENDING)
                .first()
            )
            if locked is not None:
                audited_update(
                    instance=locked,
                    changes={
                        "status": Backtest.Status.FAILED,
                        "completed_at": timezone.now(),
                        "error_message": NEVER_STARTED_MESSAGE,
                    },
                    actor=None,
                    context=TASK_CONTEXT,
                )
        if locked is not None:
            failed.append(backtest_id)
    return failed
