"""Connects the paper exchange to market data's price signals: each arriving price becomes a
`trading.tasks.process_price` task, each closed candle a `trading.tasks.process_candle` task
(matching on 1m candles, then the strategies on that timeframe); sent by name after commit;
tasks are idempotent, so a duplicate announcement is harmless). Market data asks which
timeframes' closes to announce beside the ones it stores: those of the active strategies."""

from celery import current_app
from django.db import transaction
from django.dispatch import receiver

from marketdata.price_events import candle_closed, candle_timeframes_wanted, price_arrived
from strategies.models import Strategy


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
    args = [symbol, timeframe, close_at.isoformat(), *(str(v) for v in (open, high, low, close))]
    transaction.on_commit(
        lambda: current_app.send_task("trading.tasks.process_candle", args=[*args, str(volume)])
    )


@receiver(candle_timeframes_wanted, dispatch_uid="trading.candle_timeframes_wanted")
def timeframes_of_active_strategies(*, symbol, **kwargs) -> set[str]:
    return set(
        Strategy.objects.filter(status=Strategy.Status.ACTIVE, asset_symbol=symbol)
        .values_list("timeframe", flat=True)
        .distinct()
    )
