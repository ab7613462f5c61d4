"""Celery tasks of the trading domain: unpack arguments, call a service, nothing else."""

from celery import shared_task

from trading import live_orders


@shared_task(name="trading.tasks.reconcile_live_orders")
def reconcile_live_orders() -> dict[str, int]:
    """Beat job: bring open live orders in line with their exchange (live_orders docstring).
    Idempotent: a trade already in the exchange's state is left as it is."""
    return live_orders.reconcile_open_live_orders()
