"""Writes of the accounts domain's alerts: create, change, delete, each in one transaction with
its audit row."""

import datetime as dt
import re
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from accounts.models import Alert, User
from compliance.audit import AuditContext
from compliance.services import audited_create, audited_delete, audited_update
from core.validation import TIMEFRAME_PATTERN

ALERT_FIELDS = (
    "symbol",
    "alert_type",
    "condition",
    "threshold",
    "indicator",
    "indicator_params",
    "notify_email",
    "notify_push",
    "message",
    "is_active",
    "is_recurring",
    "expires_at",
)


def _alert_errors(alert: Alert, *, expires_at_changed: bool) -> dict[str, list[str]]:
    """The spec's alert types and conditions hold by the model's choices; this adds what an
    alert needs to make sense: an indicator alert names an indicator of the rule language with
    valid parameters, other types name none; a price or volume threshold is positive; a new
    expiry lies in the future."""
    from strategies.rules.schema import INDICATORS, validate_rules

    errors: dict[str, list[str]] = {}
    if alert.alert_type == Alert.AlertType.INDICATOR:
        if not alert.indicator:
            errors["indicator"] = [
                f"An indicator alert needs an indicator: one of {', '.join(INDICATORS)}."
            ]
        elif alert.indicator not in INDICATORS:
            errors["indicator"] = [f"Unknown indicator; expected one of {', '.join(INDICATORS)}."]
        else:
            params = alert.indicator_params or {}
            if not isinstance(params, dict) or "indicator" in params:
                errors["indicator_params"] = ["Must be an object of the indicator's parameters."]
            else:
                # "timeframe" picks the candles the alert checker reads (accounts.alert_feed);
                # the rest are the indicator's own parameters.
                indicator_params = {k: v for k, v in params.items() if k != "timeframe"}
                operand = {"indicator": alert.indicator, **indicator_params}
                problems = validate_rules({"left": operand, "op": ">", "right": 0}, path="alert")
                problems = [p.replace("alert.left", "indicator_params") for p in problems]
                timeframe = params.get("timeframe", "1m")
                if not isinstance(timeframe, str) or not re.fullmatch(TIMEFRAME_PATTERN, timeframe):
                    problems.append("indicator_params.timeframe: a timeframe such as 1m, 1h or 1d")
                if problems:
                    errors["indicator_params"] = problems
    else:
        if alert.indicator or alert.indicator_params:
            errors["indicator"] = [
                "Only indicator alerts name an indicator; leave indicator and indicator_params out."
            ]
        if (
            alert.alert_type in (Alert.AlertType.PRICE, Alert.AlertType.VOLUME)
            and isinstance(alert.threshold, Decimal)
            and alert.threshold <= 0
        ):
            errors["threshold"] = [f"A {alert.alert_type} threshold must be above zero."]
    if (
        expires_at_changed
        and alert.expires_at is not None
        and (not isinstance(alert.expires_at, dt.datetime) or alert.expires_at <= timezone.now())
    ):
        errors["expires_at"] = ["The expiry must lie in the future."]
    return errors


def _validated_alert(alert: Alert, *, expires_at_changed: bool) -> None:
    errors: dict[str, list[str]] = {}
    try:
        alert.full_clean()
    except ValidationError as error:
        errors.update(error.message_dict)
    for field, messages in _alert_errors(alert, expires_at_changed=expires_at_changed).items():
        errors.setdefault(field, []).extend(messages)
    if errors:
        raise ValidationError(errors)


def _normalised(values: dict[str, Any]) -> dict[str, Any]:
    """An empty message is no message (a form's empty text box and an API's null alike)."""
    if values.get("message") == "":
        return {**values, "message": None}
    return values


def _alert_clean(*, expires_at_changed: bool):
    def clean(alert: Alert) -> None:
        _validated_alert(alert, expires_at_changed=expires_at_changed)

    return clean


def create_alert(
    *,
    user: User,
    values: dict[str, Any],
    actor: User | None = None,
    context: AuditContext | None = None,
) -> Alert:
    """A new alert of the user's (values: ALERT_FIELDS, symbol, alert_type, condition and
    threshold required). Raises ValidationError keyed by field. `actor`: who makes it, the user
    unless an operator does (the console)."""
    unknown = set(values) - set(ALERT_FIELDS)
    if unknown:
        raise ValueError(f"Not alert fields: {', '.join(sorted(unknown))}")
    alert = audited_create(
        instance=Alert(user=user, **_normalised(values)),
        actor=actor or user,
        fields=list(ALERT_FIELDS),
        clean=_alert_clean(expires_at_changed=values.get("expires_at") is not None),
        context=context,
    )
    alert.refresh_from_db()
    return alert


def update_alert(
    *, alert: Alert, actor: User, changes: dict[str, Any], context: AuditContext | None = None
) -> Alert:
    """Change an alert's fields (ALERT_FIELDS); the whole alert is checked again."""
    unknown = set(changes) - set(ALERT_FIELDS)
    if unknown:
        raise ValueError(f"Not alert fields: {', '.join(sorted(unknown))}")
    with transaction.atomic():
        locked = Alert.objects.select_for_update().get(pk=alert.pk)
        audited_update(
            instance=locked,
            changes=_normalised(changes),
            actor=actor,
            clean=_alert_clean(expires_at_changed="expires_at" in changes),
            context=context,
        )
    return locked


def delete_alert(*, alert: Alert, actor: User, context: AuditContext | None = None) -> None:
    audited_delete(instance=alert, actor=actor, fields=list(ALERT_FIELDS), context=context)
