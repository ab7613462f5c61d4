"""Celery tasks of the strategies domain: unpack ids, call a service, nothing else."""

import datetime as dt

from celery import shared_task

from strategies.services import backtest_runs, backtests, optimisation_recovery, optimisation_runs

STALE_AFTER = dt.timedelta(minutes=10)


@shared_task(name="strategies.tasks.run_backtest_task", acks_late=True)
def run_backtest_task(backtest_id: str) -> str | None:
    """Run one backtest. Safe to redeliver: the service claims `pending` backtests only, and a
    re-run replaces trades rather than adding to them. Returns the final status."""
    backtest = backtest_runs.run_backtest(backtest_id=backtest_id)
    return None if backtest is None else backtest.status


@shared_task(name="strategies.tasks.fail_stale_backtests")
def fail_stale_backtests() -> dict[str, list[str]]:
    """Beat job (every 20 seconds): fail backtests whose worker stopped heartbeating, send the
    task again (once) for backtests left pending because it never reached or never started on a
    worker, and fail those whose second task never started either."""
    failed = backtest_runs.fail_stale_backtests()
    requeued = backtests.requeue_pending_backtests()
    failed += backtests.fail_unstarted_backtests()
    return {"failed": [str(pk) for pk in failed], "requeued": [str(pk) for pk in requeued]}


@shared_task(
    name="strategies.tasks.run_optimisation_chunk",
    acks_late=True,
    reject_on_worker_lost=True,
    # Sent to the "optimise" queue (settings.CELERY_TASK_ROUTES).
)
def run_optimisation_chunk(optimisation_id: str, fold: int, chunk: int) -> str:
    """Run one chunk of an optimisation's variants. Idempotent: a redelivered chunk stores only
    the variants it lacks, so a lost worker's chunk is simply run again."""
    return optimisation_runs.run_chunk(optimisation_id=optimisation_id, fold=fold, chunk=chunk)


@shared_task(name="strategies.tasks.recover_optimisations")
def recover_optimisations() -> list[str]:
    """Beat job (every 5 minutes): send again the chunks of optimisations that a dead worker left
    incomplete, and finish those with nothing left to run."""
    return optimisation_recovery.recover_optimisations(older_than=STALE_AFTER)
