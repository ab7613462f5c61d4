"""Turning arriving prices and closed candles into alert evaluations (services): the previous
value of each metric is kept in Redis per symbol (crossings need it), the 24-hour change is taken
against the stored 1m close a day earlier, indicators from the symbol's recent candles with the
rule language's own indicator code."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import numpy as np
from django.core.cache import cache
from django.db import connections, transaction

from accounts.alert_notifications import queue_notifications
from accounts.alerts import MarketUpdate, Reading, TriggeredAlert, evaluate_alerts
from accounts.models import Alert
from marketdata.selectors import candle_arrays, ticker
from marketdata.timescale import TIMESERIES_DB
from strategies.engine import Candles
from strategies.rules.evaluate import operand_values
from strategies.rules.schema import INDICATORS

PREVIOUS_SECONDS = 7 * 86_400
INDICATOR_BARS = 500  # recent bars an indicator alert is computed over (warm-up included)
EIGHT = Decimal("0.00000001")
# Volume alerts compare 1m candles' volumes; an indicator alert's candles are those of the
# timeframe in its indicator_params ("timeframe", default 1m).
VOLUME_TIMEFRAME = "1m"


def _previous_key(symbol: str, metric: str) -> str:
    return f"alerts:previous:{metric}:{symbol}"


def _swap_previous(symbol: str, metric: str, value: Decimal, at: datetime) -> Decimal | None:
    """Store this value as the metric's latest and return the one before it (None if none, or if
    the stored one is not older: a redelivered update must see the same previous value)."""
    key = _previous_key(symbol, metric)
    with cache.lock(f"lock:{key}", timeout=5):
        stored = cache.get(key)
        if stored and datetime.fromisoformat(stored["at"]) >= at:
            return None if stored.get("previous") is None else Decimal(stored["previous"])
        previous = None if not stored else stored["value"]
        cache.set(
            key,
            {"value": str(value), "at": at.isoformat(), "previous": previous},
            timeout=PREVIOUS_SECONDS,
        )
    return None if previous is None else Decimal(previous)


def _price_a_day_before(symbol: str, at: datetime) -> Decimal | None:
    with connections[TIMESERIES_DB].cursor() as cursor:
        cursor.execute(
            "SELECT close FROM ohlcv WHERE symbol = %s AND timeframe = '1m' AND time <= %s "
            "ORDER BY time DESC LIMIT 1",
            [symbol, at - timedelta(days=1)],
        )
        row = cursor.fetchone()
    return row[0] if row else None


def _reading(symbol: str, metric: str, value: Decimal, at: datetime) -> Reading:
    return Reading(current=value, previous=_swap_previous(symbol, metric, value, at))


def _evaluate(update: MarketUpdate) -> list[TriggeredAlert]:
    with transaction.atomic():
        triggered = evaluate_alerts(update)
        queue_notifications(triggered, at=update.at)
    return triggered


def on_price(*, symbol: str, price: Decimal, at: datetime) -> list[TriggeredAlert]:
    """A new price: price and change_pct alerts."""
    change = None
    reference = _price_a_day_before(symbol, at)
    if reference:
        percent = ((price - reference) / reference * 100).quantize(EIGHT)
        change = _reading(symbol, "change_pct", percent, at)
    update = MarketUpdate(
        symbol=symbol, at=at, price=_reading(symbol, "price", price, at), change_pct=change
    )
    return _evaluate(update)


def indicator_key(indicator: str, params: dict[str, Any] | None) -> tuple[str, str]:
    return indicator, json.dumps(params or {}, sort_keys=True)


def _indicator_values(
    keys: set[tuple[str, str]], candles: Candles
) -> dict[tuple[str, str], Reading]:
    readings = {}
    for indicator, params_json in keys:
        params = json.loads(params_json)
        params.pop("timeframe", None)
        operand = {"indicator": indicator, **params}
        try:
            values = operand_values(operand, candles)
        except (KeyError, ValueError, TypeError):
            continue  # an alert naming a bad indicator never fires
        if len(values) == 0 or not np.isfinite(values[-1]):
            continue
        previous = values[-2] if len(values) > 1 and np.isfinite(values[-2]) else None
        readings[(indicator, params_json)] = Reading(
            current=Decimal(repr(float(values[-1]))).quantize(EIGHT),
            previous=None if previous is None else Decimal(repr(float(previous))).quantize(EIGHT),
        )
    return readings


def on_candle_closed(
    *, symbol: str, timeframe: str, time: datetime, close_at: datetime
) -> list[TriggeredAlert]:
    """A closed candle (opened at `time`): volume alerts on a 1m candle's volume, indicator
    alerts of this timeframe on the indicator's value at its close (and at the close before, for
    crossings)."""
    arrays = candle_arrays(
        symbol=symbol,
        timeframe=timeframe,
        start=time - (close_at - time) * INDICATOR_BARS,
        end=close_at,
    )
    if len(arrays["close"]) == 0:
        return []
    candles = Candles.from_arrays(**arrays)
    volume = None
    if timeframe == VOLUME_TIMEFRAME:
        volume = Reading(
            current=Decimal(repr(float(candles.volume[-1]))).quantize(EIGHT),
            previous=(
                Decimal(repr(float(candles.volume[-2]))).quantize(EIGHT)
                if len(candles) > 1
                else None
            ),
        )
    keys = {
        indicator_key(indicator, params)
        for indicator, params in Alert.objects.filter(
            symbol=symbol,
            alert_type=Alert.AlertType.INDICATOR,
            is_active=True,
            indicator__in=list(INDICATORS),
        ).values_list("indicator", "indicator_params")
        if (params or {}).get("timeframe", VOLUME_TIMEFRAME) == timeframe
    }
    update = MarketUpdate(
        symbol=symbol,
        at=close_at,
        volume=volume,
        indicators=_indicator_values(keys, candles),
    )
    return _evaluate(update)


def evaluate_at_latest_tickers() -> int:
    """Price alerts of every symbol with active alerts, at its latest ticker."""
    fired = 0
    symbols = (
        Alert.objects.filter(is_active=True, is_triggered=False)
        .values_list("symbol", flat=True)
        .distinct()
    )
    for symbol in symbols:
        entry = ticker(symbol=symbol)
        if entry and entry.get("price") is not None:
            fired += len(
                on_price(
                    symbol=symbol,
                    price=Decimal(entry["price"]),
                    at=datetime.fromisoformat(entry["time"]),
                )
            )
    return fired
