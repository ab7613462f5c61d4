"""Celery tasks of the strategies domain: unpack ids, call a service, nothing else."""

import datetime as dt

from celery import shared_task

from strategies.services import backtests

STALE_AFTER = dt.timedelta(minutes=10)


@shared_task(name="strategies.tasks.run_backtest_task", acks_late=True)
def run_backtest_task(backtest_id: str) -> str | None:
    """Run one backtest. Safe to redeliver: the service claims `pending` backtests only, and a
    re-run replaces trades rather than adding to them. Returns the final status."""
    backtest = backtests.run_backtest(backtest_id=backtest_id)
    return None if backtest is None else backtest.status


@shared_task(name="strategies.tasks.fail_stale_backtests")
def fail_stale_backtests() -> dict[str, list[str]]:
    """Beat job (every 5 minutes): fail backtests whose worker stopped heartbeating, and send the
    task again for backtests left pending because it never reached a worker."""
    failed = backtests.fail_stale_backtests(older_than=STALE_AFTER)
    requeued = backtests.requeue_pending_backtests(older_than=STALE_AFTER)
    return {"failed": [str(pk) for pk in failed], "requeued": [str(pk) for pk in requeued]}
