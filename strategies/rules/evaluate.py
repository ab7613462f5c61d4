"""Evaluate a validated rule tree over a candle series, one boolean per bar, without look-ahead.

The value at bar t uses candles 0..t only: indicators are causal and offsets look backwards. A rule
is False on every bar where any operand it mentions is undefined (indicator warm-up, offset before
the first bar), so `not` and `any` never fire on missing data.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import numpy as np

from strategies.rules import indicators
from strategies.rules.schema import CROSS_OPS, INDICATORS


class CandleSeries(Protocol):
    """What evaluation needs from candles; strategies.engine.Candles satisfies it."""

    time: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray


IndicatorCache = dict[tuple, np.ndarray]


def _indicator_key(operand: dict[str, Any]) -> tuple:
    """Canonical identity of an indicator output, defaults filled in, offset excluded."""
    name = operand["indicator"]
    spec = INDICATORS[name]
    params = tuple(
        (param_name, operand.get(param_name, param.default))
        for param_name, param in spec.params.items()
    )
    source = operand.get("source", "close") if spec.has_source else None
    return (name, params, source, operand.get("output"))


def _compute_indicator(key: tuple, candles: CandleSeries) -> np.ndarray:
    name, params, source, output = key
    p = dict(params)
    src = getattr(candles, source) if source else None
    if name == "sma":
        return indicators.sma(src, p["period"])
    if name == "ema":
        return indicators.ema(src, p["period"])
    if name == "wma":
        return indicators.wma(src, p["period"])
    if name == "rsi":
        return indicators.rsi(src, p["period"])
    if name == "roc":
        return indicators.roc(src, p["period"])
    if name == "macd":
        line, signal, histogram = indicators.macd(src, p["fast"], p["slow"], p["signal"])
        return {"line": line, "signal": signal, "histogram": histogram}[output]
    if name == "bbands":
        upper, middle, lower = indicators.bbands(src, p["period"], float(p["stddev"]))
        return {"upper": upper, "middle": middle, "lower": lower}[output]
    if name == "atr":
        return indicators.atr(candles.high, candles.low, candles.close, p["period"])
    if name == "stoch":
        k, d = indicators.stochastic(
            candles.high, candles.low, candles.close, p["k_period"], p["d_period"]
        )
        return k if output == "k" else d
    if name == "obv":
        return indicators.obv(candles.close, candles.volume)
    if name == "vwap":
        return indicators.vwap(
            candles.time, candles.high, candles.low, candles.close, candles.volume
        )
    raise ValueError(f"unknown indicator {name!r}")


def _shift(values: np.ndarray, offset: int) -> np.ndarray:
    """Value `offset` bars ago; NaN before the first bar."""
    if offset == 0:
        return values
    out = np.full(values.shape[0], np.nan)
    if offset < values.shape[0]:
        out[offset:] = values[:-offset]
    return out


def operand_values(
    operand: Any, candles: CandleSeries, cache: IndicatorCache | None = None
) -> np.ndarray:
    """The float64 series an operand denotes (NaN where undefined)."""
    n = candles.close.shape[0]
    if isinstance(operand, bool):
        raise ValueError("a boolean is not an operand")
    if isinstance(operand, int | float):
        return np.full(n, float(operand))
    if isinstance(operand, str):
        return np.asarray(getattr(candles, operand), dtype=np.float64)
    offset = int(operand.get("offset", 0))
    if "field" in operand:
        series = np.asarray(getattr(candles, operand["field"]), dtype=np.float64)
        return _shift(series, offset)
    key = _indicator_key(operand)
    if cache is None:
        cache = {}
    if key not in cache:
        cache[key] = _compute_indicator(key, candles)
    return _shift(cache[key], offset)


def _series_or_number(operand: Any, candles: CandleSeries, cache: IndicatorCache):
    """A number stays a float (compared with a series, it gives the same booleans as a
    constant series, without making one); anything else is its series."""
    if isinstance(operand, int | float) and not isinstance(operand, bool):
        return float(operand)
    return operand_values(operand, candles, cache)


def _defined(left: Any, right: Any, n: int) -> np.ndarray:
    """Bars on which neither operand is NaN (a number is NaN everywhere or nowhere)."""
    missing = np.zeros(n, dtype=bool)
    for values in (left, right):
        if isinstance(values, np.ndarray):
            missing |= np.isnan(values)
        elif np.isnan(values):
            missing[:] = True
    return ~missing


def _compare(node: dict[str, Any], candles: CandleSeries, cache: IndicatorCache):
    left = _series_or_number(node["left"], candles, cache)
    right = _series_or_number(node["right"], candles, cache)
    n = candles.close.shape[0]
    valid = _defined(left, right, n)
    if not isinstance(left, np.ndarray) and not isinstance(right, np.ndarray):
        left = np.full(n, left)  # two numbers: a constant series, as before
    op = node["op"]
    if op == ">":
        return left > right, valid
    if op == "<":
        return left < right, valid
    if op == ">=":
        return left >= right, valid
    if op == "<=":
        return left <= right, valid
    if op in CROSS_OPS:
        now = left > right if op == "crosses_above" else left < right
        # On the bar before, left <= right (>= for crosses_below) is `not now` wherever both
        # operands are defined, and a bar whose previous one is undefined is not valid anyway.
        crossed = np.zeros_like(now)
        np.greater(now[1:], now[:-1], out=crossed[1:])  # now and not before
        valid_before = np.zeros_like(valid)
        valid_before[1:] = valid[:-1]
        return crossed, valid & valid_before
    raise ValueError(f"unknown operator {op!r}")


def _evaluate_node(node: dict[str, Any], candles: CandleSeries, cache: IndicatorCache):
    if "all" in node or "any" in node:
        children = node.get("all", node.get("any"))
        values, valid = _evaluate_node(children[0], candles, cache)
        for child in children[1:]:
            child_values, child_valid = _evaluate_node(child, candles, cache)
            values = values & child_values if "all" in node else values | child_values
            valid = valid & child_valid
        return values, valid
    if "not" in node:
        values, valid = _evaluate_node(node["not"], candles, cache)
        return ~values, valid
    return _compare(node, candles, cache)


def evaluate_rules(
    rules: dict[str, Any], candles: CandleSeries, cache: IndicatorCache | None = None
) -> np.ndarray:
    """Boolean array: does the (validated) rule tree hold at each bar's close?

    Pass the same `cache` for entry and exit rules so that shared indicators are computed once.
    An empty tree ({}) never holds.
    """
    n = candles.close.shape[0]
    body = {k: v for k, v in rules.items() if k != "direction"}
    if not body or n == 0:
        return np.zeros(n, dtype=bool)
    values, valid = _evaluate_node(body, candles, {} if cache is None else cache)
    return np.asarray(values & valid, dtype=bool)


def indicator_keys(rules: dict[str, Any]) -> list[tuple]:
    """The distinct indicator outputs a (validated) rule tree reads, in order of appearance."""
    keys: list[tuple] = []

    def visit(node: Any) -> None:
        if not isinstance(node, dict):
            return
        if "indicator" in node:
            key = _indicator_key(node)
            if key not in keys:
                keys.append(key)
            return
        for name in ("all", "any"):
            for child in node.get(name, ()):
                visit(child)
        visit(node.get("not"))
        visit(node.get("left"))
        visit(node.get("right"))

    visit({k: v for k, v in rules.items() if k != "direction"})
    return keys


def compute_indicators(
    keys: list[tuple],
    candles: CandleSeries,
    cache: IndicatorCache,
    before_each: Callable[[int], None] | None = None,
) -> None:
    """Compute each indicator output once into `cache`, calling `before_each(done)` before each
    (a cancel check, progress), so that a long run can stop between two indicators."""
    for done, key in enumerate(keys):
        if key in cache:
            continue
        if before_each is not None:
            before_each(done)
        cache[key] = _compute_indicator(key, candles)


def operand_warmup(operand: Any) -> int:
    """Leading bars on which the operand is undefined on gap-free data."""
    if isinstance(operand, str | int | float):
        return 0
    offset = int(operand.get("offset", 0))
    if "field" in operand:
        return offset
    name, params, _source, output = _indicator_key(operand)
    p = dict(params)
    if name in ("sma", "ema", "wma", "bbands"):
        base = p["period"] - 1
    elif name in ("rsi", "atr", "roc"):
        base = p["period"]
    elif name == "macd":
        base = p["slow"] - 1 + (p["signal"] - 1 if output in ("signal", "histogram") else 0)
    elif name == "stoch":
        base = p["k_period"] - 1 + (p["d_period"] - 1 if output == "d" else 0)
    else:  # obv, vwap
        base = 0
    return base + offset


def required_warmup(rules: dict[str, Any]) -> int:
    """Bars needed before the rules can hold: the first bar index at which all operands exist."""
    body = {k: v for k, v in rules.items() if k != "direction"} if isinstance(rules, dict) else {}
    if not body:
        return 0
    if "all" in body or "any" in body:
        return max(required_warmup(child) for child in body.get("all", body.get("any")))
    if "not" in body:
        return required_warmup(body["not"])
    extra = 1 if body["op"] in CROSS_OPS else 0
    return max(operand_warmup(body["left"]), operand_warmup(body["right"])) + extra


__all__ = [
    "CandleSeries",
    "IndicatorCache",
    "compute_indicators",
    "evaluate_rules",
    "indicator_keys",
    "operand_values",
    "operand_warmup",
    "required_warmup",
]
