"""Celery tasks of the strategies domain: unpack ids, call a service, nothing else."""

from celery import shared_task

from strategies.services import backtest_runs, backtests


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
