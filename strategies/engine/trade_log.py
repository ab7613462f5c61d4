"""The closed trades as Trade objects: market facts at each entry signal, and the objects made in
bulk from columns (one list per field), without per-trade NumPy work."""

from __future__ import annotations

from dataclasses import fields
from itertools import repeat
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from strategies.engine.candles import Candles
from strategies.engine.results import Trade

CONTEXT_BARS = 20
TRADE_FIELDS = tuple(field.name for field in fields(Trade))


def market_conditions(candles: Candles, signal_bars: np.ndarray) -> list[dict[str, Any]]:
    """A few facts about the market at each entry signal, for the trade log."""
    close = candles.close
    volume = candles.volume
    if signal_bars.shape[0] == 0:
        return []
    has_context = signal_bars >= CONTEXT_BARS
    lookback = np.where(has_context, signal_bars, CONTEXT_BARS)
    if close.shape[0] > CONTEXT_BARS:
        # Rows of a strided view: one contiguous copy per signal instead of an index per bar.
        window_close = sliding_window_view(close, CONTEXT_BARS + 1)[lookback - CONTEXT_BARS]
        window_volume = sliding_window_view(volume, CONTEXT_BARS)[lookback - CONTEXT_BARS + 1]
    else:  # too short for any context: values are not reported, only their shapes matter
        window = lookback[:, None] + np.arange(-CONTEXT_BARS, 1)[None, :]
        window_close = close[np.minimum(window, close.shape[0] - 1)]
        window_volume = volume[np.minimum(window[:, 1:], volume.shape[0] - 1)]
    log_returns = np.diff(np.log(window_close), axis=1)
    volatility = np.std(log_returns, axis=1, ddof=1) * 100.0
    change = (window_close[:, -1] / window_close[:, 0] - 1.0) * 100.0
    mean_volume = window_volume.mean(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        volume_ratio = volume[signal_bars] / mean_volume

    def column(values: np.ndarray, defined: np.ndarray) -> list[float | None]:
        rounded = np.round(values, 6).tolist()
        if defined.all():
            return rounded
        return [v if ok else None for v, ok in zip(rounded, defined.tolist(), strict=True)]

    return [
        {
            "signal_close": signal_close,
            "change_20_bars_pct": change_pct,
            "volatility_20_bars_pct": volatility_pct,
            "volume_vs_20_bar_avg": volume_vs_average,
        }
        for signal_close, change_pct, volatility_pct, volume_vs_average in zip(
            close[signal_bars].tolist(),
            column(change, has_context),
            column(volatility, has_context),
            column(volume_ratio, has_context & (mean_volume > 0)),
            strict=True,
        )
    ]


def trades_from_columns(columns: dict[str, Any], count: int) -> list[Trade]:
    """`count` Trade objects from one sequence per Trade field; a str value is the same for every
    trade. Arguments go by position in the dataclass's field order, which is several times
    cheaper than keywords for thousands of trades; a missing field raises KeyError."""
    arguments = []
    for name in TRADE_FIELDS:
        value = columns[name]
        arguments.append(repeat(value, count) if isinstance(value, str) else value)
    return list(map(Trade, *arguments))
