"""Evaluating alerts as prices arrive (services). One symbol's active alerts are checked by one
UPDATE ... RETURNING per price update, through the partial index idx_alerts_active (symbol,
untriggered): the database does the comparison for every alert of the symbol at once, so the
work is one index range scan, not a loop over alerts. docs/alerts.md is the contract.

Conditions compare a metric (the price, the 24-hour change in percent, the last candle's volume,
or an indicator's value) with the alert's threshold; `crosses_*` and `equals` also need the
metric's previous value, and never fire without one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from uuid import UUID

from django.db import connection, transaction

from accounts.models import Alert

LEVEL_CONDITIONS = ("above", "below", "equals")


@dataclass(frozen=True)
class Reading:
    """A metric's current value and the one before it (None: not known)."""

    current: Decimal
    previous: Decimal | None = None


@dataclass(frozen=True)
class MarketUpdate:
    """What arrived for one symbol: the metrics that moved. An alert type whose metric is absent
    is not evaluated by this update (volume and indicators move with candles, not ticks)."""

    symbol: str
    at: datetime
    price: Reading | None = None
    change_pct: Reading | None = None
    volume: Reading | None = None
    # indicator alerts by their (indicator, canonical params JSON) key
    indicators: dict[tuple[str, str], Reading] = field(default_factory=dict)


@dataclass(frozen=True)
class TriggeredAlert:
    id: UUID
    user_id: UUID
    alert_type: str
    condition: str
    threshold: Decimal
    value: Decimal


# The condition on `threshold` for a metric's (current %(c)s, previous %(p)s) values.
_CONDITION_SQL = {
    "above": "threshold < {c}",
    "below": "threshold > {c}",
    "crosses_above": "{p} IS NOT NULL AND {p} <= threshold AND {c} > threshold",
    "crosses_below": "{p} IS NOT NULL AND {p} >= threshold AND {c} < threshold",
    # touched: the price is the threshold, or moved through it since the previous one
    "equals": "(threshold = {c} OR ({p} IS NOT NULL AND "
    "(({p} < threshold AND {c} > threshold) OR ({p} > threshold AND {c} < threshold))))",
}


def _condition_sql(current: str, previous: str) -> str:
    """One CASE over the alert's condition, for a metric whose values are the named params."""
    branches = " ".join(
        f"WHEN '{name}' THEN {sql.format(c=current, p=previous)}"
        for name, sql in _CONDITION_SQL.items()
    )
    return f"(CASE condition {branches} ELSE false END)"


def _metric_clauses(update: MarketUpdate) -> tuple[str, dict]:
    """(SQL fragment true for an alert whose metric meets its condition, its params)."""
    clauses = []
    params: dict = {}
    for alert_type in ("price", "change_pct", "volume"):
        reading: Reading | None = getattr(update, alert_type)
        if reading is None:
            continue
        c, p = f"%({alert_type}_c)s::numeric", f"%({alert_type}_p)s::numeric"
        params[f"{alert_type}_c"] = reading.current
        params[f"{alert_type}_p"] = reading.previous
        clauses.append(f"(alert_type = '{alert_type}' AND {_condition_sql(c, p)})")
    for index, ((indicator, params_json), reading) in enumerate(sorted(update.indicators.items())):
        c, p = f"%(ind{index}_c)s::numeric", f"%(ind{index}_p)s::numeric"
        params.update(
            {
                f"ind{index}_c": reading.current,
                f"ind{index}_p": reading.previous,
                f"ind{index}_name": indicator,
                f"ind{index}_params": params_json,
            }
        )
        clauses.append(
            f"(alert_type = 'indicator' AND indicator = %(ind{index}_name)s AND "
            f"COALESCE(indicator_params, '{{}}'::jsonb) = %(ind{index}_params)s::jsonb AND "
            f"{_condition_sql(c, p)})"
        )
    return " OR ".join(clauses), params


def _value_sql(update: MarketUpdate) -> str:
    """The metric value that triggered, per alert type, for the notification."""
    parts = [
        f"WHEN '{alert_type}' THEN %({alert_type}_c)s::numeric"
        for alert_type in ("price", "change_pct", "volume")
        if getattr(update, alert_type) is not None
    ]
    indicator_parts = [
        f"WHEN indicator = %(ind{i}_name)s AND COALESCE(indicator_params, '{{}}'::jsonb) = "
        f"%(ind{i}_params)s::jsonb THEN %(ind{i}_c)s::numeric"
        for i in range(len(update.indicators))
    ]
    indicator_sql = f"CASE {' '.join(indicator_parts)} END" if indicator_parts else "NULL"
    return f"(CASE alert_type {' '.join(parts)} WHEN 'indicator' THEN {indicator_sql} END)"


def evaluate_alerts(update: MarketUpdate) -> list[TriggeredAlert]:
    """Fire the symbol's armed alerts that `update` meets, re-arm recurring level alerts whose
    condition no longer holds, and deactivate expired ones; one transaction, three statements.
    A one-shot alert stays triggered; a recurring crossing alert stays armed (it can only fire
    again after crossing back)."""
    where, params = _metric_clauses(update)
    params.update({"symbol": update.symbol, "at": update.at})
    triggered: list[TriggeredAlert] = []
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            # armed ones only (idx_alerts_active); the beat job stops triggered ones
            "UPDATE alerts SET is_active = false WHERE symbol = %(symbol)s AND is_active "
            "AND NOT is_triggered AND expires_at <= %(at)s",
            params,
        )
        if not where:
            return triggered
        cursor.execute(
            f"""
            UPDATE alerts SET is_triggered = false
            WHERE symbol = %(symbol)s AND is_active AND is_triggered AND is_recurring
              AND condition IN {LEVEL_CONDITIONS}
              AND ({where}) IS NOT TRUE
              AND ({_rearm_scope(update)})
            """,
            params,
        )
        cursor.execute(
            f"""
            UPDATE alerts SET
                triggered_at = %(at)s,
                is_triggered = NOT (
                    is_recurring AND condition IN ('crosses_above', 'crosses_below')
                )
            WHERE symbol = %(symbol)s AND is_active AND NOT is_triggered
              AND (expires_at IS NULL OR expires_at > %(at)s)
              AND (triggered_at IS NULL OR triggered_at < %(at)s)
              AND ({where})
            RETURNING id, user_id, alert_type, condition, threshold, {_value_sql(update)}
            """,
            params,
        )
        triggered = [TriggeredAlert(*row) for row in cursor.fetchall()]
    return triggered


def _rearm_scope(update: MarketUpdate) -> str:
    """Only alerts whose metric this update carries can be re-armed by it."""
    types = [t for t in ("price", "change_pct", "volume") if getattr(update, t) is not None]
    scope = [f"alert_type = '{t}'" for t in types]
    for index in range(len(update.indicators)):
        scope.append(
            f"(alert_type = 'indicator' AND indicator = %(ind{index}_name)s AND "
            f"COALESCE(indicator_params, '{{}}'::jsonb) = %(ind{index}_params)s::jsonb)"
        )
    return " OR ".join(scope) or "false"


def expire_alerts(*, now: datetime) -> int:
    """Beat job: every alert past its expires_at stops (is_active false)."""
    return Alert.objects.filter(is_active=True, expires_at__lte=now).update(is_active=False)
