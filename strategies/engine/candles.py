"""OHLCV candles as parallel NumPy arrays, the engine's only input data."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np


def _to_ns(time: Any) -> np.ndarray:
    """UTC nanoseconds since the epoch from datetime64, int64 ns, or aware datetimes."""
    if isinstance(time, np.ndarray) and np.issubdtype(time.dtype, np.datetime64):
        return time.astype("datetime64[ns]").astype(np.int64)
    if isinstance(time, np.ndarray) and np.issubdtype(time.dtype, np.integer):
        return time.astype(np.int64)
    values = list(time)
    if values and isinstance(values[0], datetime):
        out = np.empty(len(values), dtype=np.int64)
        for i, moment in enumerate(values):
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=UTC)
            delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
            out[i] = (
                delta.days * 86_400 + delta.seconds
            ) * 1_000_000_000 + delta.microseconds * 1000
        return out
    array = np.asarray(values)
    if np.issubdtype(array.dtype, np.datetime64):
        return array.astype("datetime64[ns]").astype(np.int64)
    return array.astype(np.int64)


@dataclass(frozen=True, eq=False)
class Candles:
    """Bars in time order: `time` is int64 nanoseconds UTC (bar open time), prices float64.

    Each bar's high and low are taken to bound its open and close, as exchange data does.
    """

    time: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray

    @classmethod
    def from_arrays(
        cls,
        time: Sequence[Any] | np.ndarray,
        open: Sequence[float] | np.ndarray,
        high: Sequence[float] | np.ndarray,
        low: Sequence[float] | np.ndarray,
        close: Sequence[float] | np.ndarray,
        volume: Sequence[float] | np.ndarray | None = None,
    ) -> Candles:
        """Build and check candles; `volume` defaults to zeros. Raises ValueError on bad input."""
        close_arr = np.ascontiguousarray(close, dtype=np.float64)
        n = close_arr.shape[0]
        arrays = {
            "open": np.ascontiguousarray(open, dtype=np.float64),
            "high": np.ascontiguousarray(high, dtype=np.float64),
            "low": np.ascontiguousarray(low, dtype=np.float64),
            "close": close_arr,
            "volume": np.zeros(n)
            if volume is None
            else np.ascontiguousarray(volume, dtype=np.float64),
        }
        time_ns = np.ascontiguousarray(_to_ns(time), dtype=np.int64)
        for name, array in {"time": time_ns, **arrays}.items():
            if array.ndim != 1 or array.shape[0] != n:
                raise ValueError(f"{name}: expected a 1-d array of length {n}")
        if n > 1 and np.any(np.diff(time_ns) <= 0):
            raise ValueError("time: must be strictly increasing")
        prices = np.concatenate([arrays["open"], arrays["high"], arrays["low"], close_arr])
        if not np.all(np.isfinite(prices)) or np.any(prices <= 0):
            raise ValueError("prices: must be finite and > 0")
        if not np.all(np.isfinite(arrays["volume"])) or np.any(arrays["volume"] < 0):
            raise ValueError("volume: must be finite and >= 0")
        return cls(time=time_ns, **arrays)

    def __len__(self) -> int:
        return int(self.close.shape[0])

    def slice(self, start: int, stop: int) -> Candles:
        """The bars start..stop-1, sharing memory with these candles."""
        return Candles(
            time=self.time[start:stop],
            open=self.open[start:stop],
            high=self.high[start:stop],
            low=self.low[start:stop],
            close=self.close[start:stop],
            volume=self.volume[start:stop],
        )
