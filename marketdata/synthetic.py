"""Synthetic candles for demos and benchmarks: geometric Brownian motion whose volatility clusters
(a GARCH(1,1) variance), consistent OHLC (low <= open, close <= high) and a volume that rises with
the size of the move. Deterministic for a given seed."""

from collections.abc import Iterator
from datetime import datetime, timedelta

import numpy as np

from marketdata.timeframes import Timeframe

YEAR_SECONDS = 365 * 86400


def synthetic_candles(
    *,
    bars: int,
    timeframe: str,
    start: datetime,
    seed: int,
    price: float = 30_000.0,
    annual_volatility: float = 0.6,
    annual_drift: float = 0.05,
) -> dict[str, np.ndarray]:
    """Arrays time (datetime64[us]), open, high, low, close, volume (float64, 8 decimals)."""
    frame = Timeframe.parse(timeframe)
    if frame.width is None:
        raise ValueError("Synthetic candles need a fixed-width timeframe (not months).")
    rng = np.random.default_rng(seed)
    dt = frame.width.total_seconds() / YEAR_SECONDS
    base_variance = annual_volatility**2 * dt
    # GARCH(1,1) on per-bar returns: persistence alpha + beta = 0.98 gives calm and stormy spells.
    alpha, beta = 0.08, 0.90
    omega = base_variance * (1 - alpha - beta)
    shocks = rng.standard_normal(bars)
    variance = np.empty(bars)
    returns = np.empty(bars)
    v = base_variance
    previous = 0.0
    for i in range(bars):
        v = omega + alpha * previous * previous + beta * v
        previous = np.sqrt(v) * shocks[i]
        variance[i] = v
        returns[i] = previous
    sigma = np.sqrt(variance)
    log_close = np.log(price) + np.cumsum(returns + (annual_drift * dt - 0.5 * variance))
    close = np.exp(log_close)
    open_ = np.concatenate(([price], close[:-1]))
    # Wicks beyond the body, scaled by the bar's volatility.
    upper = np.abs(rng.normal(0.0, 0.6, bars)) * sigma
    lower = np.abs(rng.normal(0.0, 0.6, bars)) * sigma
    high = np.maximum(open_, close) * np.exp(upper)
    low = np.minimum(open_, close) * np.exp(-lower)
    move = np.abs(returns) / np.sqrt(base_variance)
    volume = 10.0 * np.exp(0.5 * move + rng.normal(0.0, 0.4, bars))
    open_, close = np.round(open_, 8), np.round(close, 8)
    high = np.maximum(np.round(high, 8), np.maximum(open_, close))
    low = np.minimum(np.round(low, 8), np.minimum(open_, close))
    first = np.datetime64(start.replace(tzinfo=None), "us")
    step = np.timedelta64(int(frame.width / timedelta(microseconds=1)), "us")
    return {
        "time": first + np.arange(bars) * step,
        "open": open_,
        "high": high,
        "low": low,
        "close": close,
        "volume": np.round(volume, 8),
    }


def csv_lines(candles: dict[str, np.ndarray], chunk: int = 100_000) -> Iterator[str]:
    """The candles as CSV text (ISO 8601 UTC times), header first, in chunks."""
    yield "time,open,high,low,close,volume\n"
    for offset in range(0, len(candles["time"]), chunk):
        part = slice(offset, offset + chunk)
        times = np.datetime_as_string(candles["time"][part], unit="s")
        columns = [np.char.add(times, "Z")] + [
            np.char.mod("%.8f", candles[key][part])
            for key in ("open", "high", "low", "close", "volume")
        ]
        yield "\n".join(",".join(row) for row in zip(*columns, strict=True)) + "\n"
