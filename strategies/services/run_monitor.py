"""The heartbeat and progress of a running backtest: the engine's progress and should_cancel
callbacks (throttled writes of progress_pct, throttled reads of the status), and the Redis
heartbeat (`backtest:heartbeat:{id}`, core.cache_keys) kept alive by a background thread for the
whole run, which the stale-job sweep (backtest_runs.fail_stale_backtests) reads."""

from __future__ import annotations

import datetime as dt
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from django.core.cache import cache
from django.utils import timezone

from core.cache_keys import backtest_heartbeat_key
from strategies.models import Backtest

# A running backtest refreshes its heartbeat in Redis at least this often (seconds)...
HEARTBEAT_INTERVAL = 5
# ...and the key outlives a few missed refreshes; once it has expired the worker is presumed dead.
# With the sweep every 20 s (beat_schedule), a dead worker is noticed within a minute.
HEARTBEAT_TTL = 30
# A running backtest younger than this is not judged by its heartbeat yet (the claim and the
# first beat are a moment apart).
STALE_GRACE = dt.timedelta(seconds=30)
# progress_pct is written at most once per this many seconds (and on every 10% step).
PROGRESS_WRITE_INTERVAL = 1.0
# should_cancel() reads the status from the database at most this often.
CANCEL_CHECK_INTERVAL = 1.0
# Progress of a run (progress_pct): loading the candles takes it to LOADED_PCT, the engine
# (indicators, simulation, results) moves it across ENGINE_PCT, saving to 100.
LOADED_PCT = 15
ENGINE_PCT = (15, 85)
RESULTS_READY_PCT = 92


def beat(backtest_id: uuid.UUID | str) -> None:
    """Refresh the run's heartbeat key."""
    cache.set(
        backtest_heartbeat_key(backtest_id), timezone.now().isoformat(), timeout=HEARTBEAT_TTL
    )


def is_beating(backtest_id: uuid.UUID | str) -> bool:
    return cache.get(backtest_heartbeat_key(backtest_id)) is not None


def stop_beating(backtest_id: uuid.UUID | str) -> None:
    cache.delete(backtest_heartbeat_key(backtest_id))


@dataclass
class RunMonitor:
    """The engine's progress and should_cancel callbacks for one backtest: throttled writes of
    progress_pct, the Redis heartbeat, and a throttled read of the status."""

    backtest_id: uuid.UUID | str
    clock: Callable[[], float] = time.monotonic
    _last_progress_write: float = float("-inf")
    _written_pct: int = 0
    _last_heartbeat: float = float("-inf")
    _last_cancel_check: float = float("-inf")
    _cancelled: bool = False

    def beat(self, *, force: bool = False) -> None:
        now = self.clock()
        if force or now - self._last_heartbeat >= HEARTBEAT_INTERVAL:
            beat(self.backtest_id)
            self._last_heartbeat = now

    def progress(self, pct: int) -> None:
        self.beat()
        now = self.clock()
        step = pct // 10 > self._written_pct // 10
        if pct > self._written_pct and (
            step or now - self._last_progress_write >= PROGRESS_WRITE_INTERVAL
        ):
            written = Backtest.objects.filter(
                pk=self.backtest_id, status=Backtest.Status.RUNNING
            ).update(progress_pct=min(pct, 100))
            self._written_pct = pct
            self._last_progress_write = now
            if not written:
                self._cancelled = True

    def engine_progress(self, pct: int) -> None:
        """The engine's 0-100 progress, placed within the run's ENGINE_PCT."""
        low, high = ENGINE_PCT
        self.progress(low + (high - low) * pct // 100)

    def should_cancel(self, *, now_or_never: bool = False) -> bool:
        """Whether the backtest is no longer running; the status is read at most once per
        CANCEL_CHECK_INTERVAL, or right away with `now_or_never` (between phases)."""
        now = self.clock()
        due = now_or_never or now - self._last_cancel_check >= CANCEL_CHECK_INTERVAL
        if not self._cancelled and due:
            self._last_cancel_check = now
            status = (
                Backtest.objects.filter(pk=self.backtest_id)
                .values_list("status", flat=True)
                .first()
            )
            self._cancelled = status != Backtest.Status.RUNNING
        return self._cancelled


@contextmanager
def heartbeat_during(backtest_id: uuid.UUID | str) -> Iterator[None]:
    """Refresh the heartbeat every HEARTBEAT_INTERVAL from a background thread while the block
    runs, so that long phases without progress callbacks (loading candles, computing indicators)
    do not look like a dead worker to the stale-job sweep."""
    stop = threading.Event()

    def keep_beating() -> None:
        while not stop.wait(HEARTBEAT_INTERVAL):
            beat(backtest_id)

    thread = threading.Thread(target=keep_beating, name=f"heartbeat-{backtest_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=HEARTBEAT_INTERVAL)
        stop_beating(backtest_id)
