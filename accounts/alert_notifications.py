"""Telling a user that an alert fired, by email and by webhook, as their preferences say.

Preferences (users.notification_preferences): `email_price_alerts` (default true) and
`push_price_alerts` (default true) switch the channels on or off for all of a user's alerts; the
alert's own notify_email / notify_push switch them per alert; `alert_webhook_url` is where the
webhook goes (no URL, no webhook). Each channel is sent at most once per firing (a Redis marker
per alert, firing time and channel), so a redelivered task does not notify twice.
"""

from __future__ import annotations

import json
import logging
import urllib.request
from collections.abc import Iterable
from datetime import datetime
from uuid import UUID

from celery import current_app
from django.conf import settings
from django.core.cache import cache
from django.core.mail import send_mail
from django.db import transaction

from accounts.models import Alert

logger = logging.getLogger(__name__)
WEBHOOK_TIMEOUT_SECONDS = 5
MARKER_SECONDS = 7 * 86_400


def queue_notifications(triggered: Iterable, *, at: datetime) -> None:
    """After the firing commits, one notification task per alert."""
    ids = [str(alert.id) for alert in triggered]
    if not ids:
        return

    def send() -> None:
        for alert_id in ids:
            current_app.send_task("accounts.tasks.notify_alert", args=[alert_id, at.isoformat()])

    transaction.on_commit(send)


def _message(alert: Alert) -> tuple[str, str, dict]:
    subject = f"Alert: {alert.symbol} {alert.alert_type} {alert.condition} {alert.threshold}"
    body = alert.message or subject
    payload = {
        "alert_id": str(alert.pk),
        "symbol": alert.symbol,
        "alert_type": alert.alert_type,
        "condition": alert.condition,
        "threshold": format(alert.threshold, "f"),
        "indicator": alert.indicator,
        "message": alert.message,
        "triggered_at": alert.triggered_at.isoformat() if alert.triggered_at else None,
    }
    return subject, body, payload


def _once(alert_id: UUID | str, at: str, channel: str) -> bool:
    return cache.get(f"alerts:notified:{alert_id}:{at}:{channel}") is None


def _done(alert_id: UUID | str, at: str, channel: str) -> None:
    cache.set(f"alerts:notified:{alert_id}:{at}:{channel}", 1, timeout=MARKER_SECONDS)


def notify_alert(*, alert_id: UUID | str, triggered_at: str) -> list[str]:
    """Send the firing's notifications; returns the channels used this time. A webhook that
    fails raises (the task retries; the email already sent is not sent again)."""
    alert = Alert.objects.select_related("user").get(pk=alert_id)
    preferences = alert.user.notification_preferences or {}
    subject, body, payload = _message(alert)
    sent = []
    if (
        alert.notify_email
        and preferences.get("email_price_alerts", True)
        and _once(alert_id, triggered_at, "email")
    ):
        send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [alert.user.email])
        _done(alert_id, triggered_at, "email")
        sent.append("email")
    url = preferences.get("alert_webhook_url")
    if (
        url
        and alert.notify_push
        and preferences.get("push_price_alerts", True)
        and _once(alert_id, triggered_at, "webhook")
    ):
        request = urllib.request.Request(
            url,
            data=json.dumps(payload).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=WEBHOOK_TIMEOUT_SECONDS) as response:
            response.read()
        _done(alert_id, triggered_at, "webhook")
        sent.append("webhook")
    return sent
