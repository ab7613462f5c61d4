"""Connects alerts to market data's price signals: each arriving price and each closed candle
becomes an alert evaluation task (sent by name after commit)."""

from celery import current_app
from django.db import transaction
from django.dispatch import receiver

from marketdata.price_events import candle_closed, price_arrived


def _send(name: str, *args: object) -> None:
    transaction.on_commit(lambda: current_app.send_task(name, args=list(args)))


@receiver(price_arrived, dispatch_uid="accounts.price_arrived")
def price_arrived_to_alerts(*, symbol, price, at, **kwargs) -> None:
    _send("accounts.tasks.evaluate_price_alerts", symbol, str(price), at.isoformat())


@receiver(candle_closed, dispatch_uid="accounts.candle_closed")
def candle_closed_to_alerts(*, symbol, timeframe, time, close_at, close, **kwargs) -> None:
    if timeframe == "1m":
        # A 1m close is the symbol's latest price (market data announces no separate price for
        # it, so the paper exchange sees the candle once): price and change_pct alerts too.
        _send("accounts.tasks.evaluate_price_alerts", symbol, str(close), close_at.isoformat())
    _send(
        "accounts.tasks.evaluate_candle_alerts",
        symbol,
        timeframe,
        time.isoformat(),
        close_at.isoformat(),
    )
