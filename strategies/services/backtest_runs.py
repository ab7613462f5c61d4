"""Running a backtest (the Celery task's work): claim it, load its candles, run the engine, save
the results and trades, and fail it with a clear message on any error; the stale-job sweep fails
the runs whose worker stopped. See docs/backtests.md."""

from __future__ import annotations

import datetime as dt
import json
import logging
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import connections, models, transaction
from django.utils import timezone

from compliance.services import audited_update
from marketdata.selectors import candle_arrays, stored_range
from strategies import engine
from strategies.models import Backtest, BacktestTrade
from strategies.result_columns import result_columns, trade_columns
from strategies.services.backtests import TASK_CONTEXT
from strategies.services.run_monitor import (
    LOADED_PCT,
    RESULTS_READY_PCT,
    STALE_GRACE,
    RunMonitor,
    heartbeat_during,
    is_beating,
    stop_beating,
)

logger = logging.getLogger(__name__)

WORKER_STOPPED_MESSAGE = (
    "The worker running this backtest stopped (no heartbeat); start the backtest again."
)


class NoCandlesError(Exception):
    """There is nothing to run the strategy on; the message says why, for error_message."""


def candle_window(start_date: dt.date, end_date: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """[start, end) in UTC: from the start date's midnight to the midnight after the end date,
    so both dates are included whole."""
    start = dt.datetime.combine(start_date, dt.time.min, tzinfo=dt.UTC)
    end = dt.datetime.combine(end_date + dt.timedelta(days=1), dt.time.min, tzinfo=dt.UTC)
    return start, end


def load_candles(
    snapshot: dict[str, Any], start_date: dt.date, end_date: dt.date
) -> engine.Candles:
    """The strategy's candles over the backtest's dates. Raises NoCandlesError when there are
    none: an unknown or inactive symbol (no data at all) or a range outside the data."""
    symbol, timeframe = snapshot["asset_symbol"], snapshot["timeframe"]
    start, end = candle_window(start_date, end_date)
    arrays = candle_arrays(symbol=symbol, timeframe=timeframe, start=start, end=end)
    if arrays["close"].shape[0] == 0:
        first, last = stored_range(symbol=symbol)
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


def _claim(backtest_id: uuid.UUID | str) -> bool:
    """pending → running under the row lock; False when another task claimed it or it is
    finished."""
    with transaction.atomic():
        locked = (
            Backtest.objects.select_for_update()
            .filter(pk=backtest_id, status=Backtest.Status.PENDING)
            .first()
        )
        if locked is None:
            return False
        audited_update(
            instance=locked,
            changes={
                "status": Backtest.Status.RUNNING,
                "started_at": timezone.now(),
                "progress_pct": 0,
            },
            actor=None,
            context=TASK_CONTEXT,
        )
    return True


# The result columns a finished backtest's audit row shows beside its status; the series and the
# other metrics are in the row itself (and in the archive).
AUDITED_RESULT_FIELDS = ("error_message", "total_trades")


def _finish(
    backtest_id: uuid.UUID | str,
    status: str,
    *,
    fields: dict[str, Any] | None = None,
    trades: list[dict[str, Any]] | None = None,
) -> bool:
    """running → status with the result columns and trades, in one transaction. False (and
    nothing written) when the backtest is no longer running: it was cancelled or failed
    meanwhile, and that outcome stands."""
    fields = fields or {}
    with transaction.atomic():
        locked = (
            Backtest.objects.select_for_update()
            .filter(pk=backtest_id, status=Backtest.Status.RUNNING)
            .first()
        )
        if locked is None:
            return False
        results = {
            name: value for name, value in fields.items() if name not in AUDITED_RESULT_FIELDS
        }
        if results:
            Backtest.objects.filter(pk=backtest_id).update(**results)
        if trades is not None:
            # A redelivered task (or a re-run) replaces the trades, never adds to them.
            BacktestTrade.objects.filter(backtest_id=backtest_id).delete()
            _copy_trades(backtest_id, trades)
        audited_update(
            instance=locked,
            changes={
                "status": status,
                "completed_at": timezone.now(),
                **{name: fields[name] for name in AUDITED_RESULT_FIELDS if name in fields},
            },
            actor=None,
            context=TASK_CONTEXT,
        )
    stop_beating(backtest_id)
    return True


# The columns of a trade row as result_columns.trade_columns() gives them: every field of the
# model but its own key and the backtest it belongs to.
TRADE_COLUMNS = tuple(
    field.column
    for field in BacktestTrade._meta.concrete_fields
    if field.name not in ("id", "backtest")
)


_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _copy_text(value: Any) -> str:
    """One value as COPY's text format writes it."""
    if value is None:
        return "\\N"
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, dict | list):
        value = json.dumps(value, allow_nan=False)
    return str(value).translate(_COPY_ESCAPES)


def _copy_writer(field: models.Field) -> Callable[[Any], str]:
    """COPY text of one column's values, chosen once per column (the type tests of _copy_text
    for each of 180,000 values took a quarter of a second for 10,000 trades)."""
    if isinstance(field, models.DecimalField):
        return lambda value: "\\N" if value is None else format(value, "f")
    if isinstance(field, models.DateTimeField):
        return lambda value: "\\N" if value is None else value.isoformat()
    if isinstance(field, models.IntegerField):
        return lambda value: "\\N" if value is None else str(value)
    return _copy_text


TRADE_COPY_WRITERS = tuple(
    (field.column, _copy_writer(field))
    for field in BacktestTrade._meta.concrete_fields
    if field.name not in ("id", "backtest")
)


def _copy_trades(backtest_id: uuid.UUID | str, trades: list[dict[str, Any]]) -> None:
    """Write the trade rows with one COPY, the rows written out as COPY text here (psycopg's
    per-value adaptation took most of the time for 10,000 trades)."""
    if not trades:
        return
    columns = ", ".join(("backtest_id", *TRADE_COLUMNS))
    prefix = f"{uuid.UUID(str(backtest_id))}\t"
    text = "".join(
        prefix + "\t".join([write(row[name]) for name, write in TRADE_COPY_WRITERS]) + "\n"
        for row in trades
    )
    copy_sql = f"COPY backtest_trades ({columns}) FROM STDIN"
    with connections["default"].cursor() as cursor, cursor.cursor.copy(copy_sql) as copy:
        copy.write(text)


def fail_backtest(backtest_id: uuid.UUID | str, message: str) -> bool:
    """running → failed with the reason; False when it was no longer running."""
    return _finish(
        backtest_id,
        Backtest.Status.FAILED,
        fields={"error_message": message},
    )


def _result_fields(result: engine.BacktestResult) -> dict[str, Any]:
    fields = result_columns(result)
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
        if monitor.should_cancel(now_or_never=True):
            raise engine.BacktestCancelled("cancelled after loading the candles")
        monitor.progress(LOADED_PCT)
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
            progress=monitor.engine_progress,
            should_cancel=monitor.should_cancel,
        )
        del candles  # the arrays are not needed for saving
        if monitor.should_cancel(now_or_never=True):
            raise engine.BacktestCancelled("cancelled before saving")
        fields = _result_fields(result)
        trades = [trade_columns(trade) for trade in result.trades]
        monitor.progress(RESULTS_READY_PCT)
        _finish(
            backtest_id,
            Backtest.Status.COMPLETED,
            fields=fields,
            trades=trades,
        )
    except engine.BacktestCancelled:
        # cancel_backtest already wrote `cancelled`; this is for a status that changed some other
        # way (the stale-job sweep), which then stands as it is.
        logger.info("backtest %s stopped: status changed while running", backtest_id)
        stop_beating(backtest_id)
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


def fail_stale_backtests(*, older_than: dt.timedelta = STALE_GRACE) -> list[uuid.UUID]:
    """Mark failed every backtest that has been running longer than `older_than` and whose worker
    no longer refreshes its heartbeat. Returns the ids it failed."""
    cutoff = timezone.now() - older_than
    candidates = Backtest.objects.filter(
        status=Backtest.Status.RUNNING, started_at__lt=cutoff
    ).values_list("pk", flat=True)
    failed = []
    for backtest_id in candidates:
        if is_beating(backtest_id):
            continue
        if fail_backtest(backtest_id, WORKER_STOPPED_MESSAGE):
            failed.append(backtest_id)
    if failed:
        logger.warning("failed %d stale backtests: %s", len(failed), failed)
    return failed
