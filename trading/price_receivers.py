"""Connects the paper exchange to market data's price signals: each arriving price or closed 1m
candle becomes a `trading.tasks.process_price` task (sent by name after commit; tasks are
idempotent, so a duplicate announcement is harmless)."""

from celery import current_app
from django.db import transaction
from django.dispatch import receiver

from marketdata.price_events import candle_closed, price_arrived


def _send(*args: object) -> None:
    transaction.on_commit(
        lambda: current_app.send_task("trading.tasks.process_price", args=list(args))
    )


@receiver(price_arrived, dispatch_uid="trading.price_arrived")
def price_arrived_to_paper_exchange(*, symbol, price, at, volume=None, **kwargs) -> None:
    text = str(price)
    _send(symbol, at.isoformat(), text, text, text, text, None if volume is None else str(volume))


@receiver(candle_closed, dispatch_uid="trading.candle_closed")
def candle_closed_to_paper_exchange(
    *, symbol, timeframe, close_at, open, high, low, close, volume, **kwargs
) -> None:
    if timeframe != "1m":  # orders are matched on the finest candles only, once
        return
    _send(symbol, close_at.isoformat(), str(open), str(high), str(low), str(close), str(volume))
