"""Connects alerts to market data's price signals: each arriving price and each closed candle
becomes an alert evaluation task (sent by name after commit). Market data asks which timeframes'
closes to announce beside the ones it stores: those of the active indicator alerts."""

from celery import current_app
from django.db import transaction
from django.dispatch import receiver

from accounts.models import Alert
from marketdata.price_events import candle_closed, candle_timeframes_wanted, price_arrived


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


@receiver(candle_timeframes_wanted, dispatch_uid="accounts.candle_timeframes_wanted")
def timeframes_of_indicator_alerts(*, symbol, **kwargs) -> set[str]:
    params = Alert.objects.filter(
        symbol=symbol, alert_type=Alert.AlertType.INDICATOR, is_active=True
    ).values_list("indicator_params", flat=True)
    return {str((p or {}).get("timeframe", "1m")) for p in params}
