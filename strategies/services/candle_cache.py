"""A bounded, per-process cache of candles for the optimisation workers."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from strategies import engine


class CandleCache:
    """Candles by (symbol, timeframe, start date, end date), least recently used dropped first
    once their arrays pass `max_bytes`. One per worker process: chunks of the same optimisation
    (and of others over the same window) that land on a process load from the database once.
    An entry is loaded again after `max_age` seconds, so that candles stored since (a window
    ending today) reach later optimisations."""

    def __init__(self, max_bytes: int, max_age: float = 900.0):
        self.max_bytes = max_bytes
        self.max_age = max_age
        self._entries: OrderedDict[tuple, tuple[float, engine.Candles]] = OrderedDict()
        self._lock = threading.Lock()
        self.loads = 0

    @staticmethod
    def size(candles: engine.Candles) -> int:
        return sum(
            getattr(candles, name).nbytes
            for name in ("time", "open", "high", "low", "close", "volume")
        )

    def get(self, key: tuple, load: Callable[[], engine.Candles]) -> engine.Candles:
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and time.monotonic() - entry[0] < self.max_age:
                self._entries.move_to_end(key)
                return entry[1]
        candles = load()
        with self._lock:
            self.loads += 1
            self._entries[key] = (time.monotonic(), candles)
            self._entries.move_to_end(key)
            total = sum(self.size(c) for _t, c in self._entries.values())
            while total > self.max_bytes and len(self._entries) > 1:
                _key, (_t, dropped) = self._entries.popitem(last=False)
                total -= self.size(dropped)
        return candles

    def clear(self) -> None:
        """Forget every entry (and the count of loads)."""
        with self._lock:
            self._entries.clear()
            self.loads = 0
