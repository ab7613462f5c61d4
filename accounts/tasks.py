"""Celery tasks of the accounts domain: unpack arguments, call a service, nothing else."""

from datetime import datetime
from decimal import Decimal

from celery import shared_task
from django.utils import timezone

from accounts import alert_feed, alert_notifications, alerts


@shared_task(
    name="accounts.tasks.notify_alert",
    acks_late=True,
    autoretry_for=(OSError,),
    retry_backoff=True,
    max_retries=5,
)
def notify_alert(alert_id: str, triggered_at: str) -> list[str]:
    return alert_notifications.notify_alert(alert_id=alert_id, triggered_at=triggered_at)


@shared_task(name="accounts.tasks.evaluate_price_alerts", acks_late=True)
def evaluate_price_alerts(symbol: str, price: str, at: str) -> int:
    """A price arrived: price and change_pct alerts. Returns how many fired."""
    return len(
        alert_feed.on_price(symbol=symbol, price=Decimal(price), at=datetime.fromisoformat(at))
    )


@shared_task(name="accounts.tasks.evaluate_candle_alerts", acks_late=True)
def evaluate_candle_alerts(symbol: str, timeframe: str, time: str, close_at: str) -> int:
    """A candle closed: volume and indicator alerts. Returns how many fired."""
    return len(
        alert_feed.on_candle_closed(
            symbol=symbol,
            timeframe=timeframe,
            time=datetime.fromisoformat(time),
            close_at=datetime.fromisoformat(close_at),
        )
    )


@shared_task(name="accounts.tasks.evaluate_alerts_at_tickers", acks_late=True)
def evaluate_alerts_at_tickers() -> int:
    """Beat job: every symbol with active alerts at its latest ticker (catches prices whose task
    was lost; a repeated price fires nothing new)."""
    return alert_feed.evaluate_at_latest_tickers()


@shared_task(name="accounts.tasks.expire_alerts")
def expire_alerts() -> int:
    """Beat job: alerts past their expiry stop."""
    return alerts.expire_alerts(now=timezone.now())
