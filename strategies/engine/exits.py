"""Where a position ends: the first bar touching its stop, trailing stop or target, and the price.

The levels of every possible entry depend only on that entry's fill, not on equity, so exits are
found for many candidate entries at once: a range minimum/maximum over each position's whole span
(one `reduceat` for all of them) clears those that never come near a level, and a scan of growing
windows over the few that do finds the bar. `first_exit_bar` is the same search for one entry.
"""

from __future__ import annotations

import math

import numpy as np

EXIT_RULES = "exit_rules"
STOP_LOSS = "stop_loss"
TAKE_PROFIT = "take_profit"
TRAILING_STOP = "trailing_stop"
END_OF_DATA = "end_of_data"
# Exit reasons by their code in ExitLevels / exit_prices output.
EXIT_REASONS = (EXIT_RULES, STOP_LOSS, TAKE_PROFIT, TRAILING_STOP, END_OF_DATA)
EXIT_RULES_CODE, STOP_LOSS_CODE, TAKE_PROFIT_CODE, TRAILING_STOP_CODE, END_OF_DATA_CODE = range(5)

# Prices are stored with 8 decimal places.
PRICE_DECIMALS = 8
_PRICE_SCALE = 10.0**PRICE_DECIMALS
_FIRST_WINDOW = 256
_FIRST_BATCH_WINDOW = 32


def price_level(level):
    """A stop, target or trailing level rounded to the price precision, so that a level that is
    exactly a price (a 10% target from 100 is 110, not 110.00000000000001) is reached by a bar
    whose high or low is that price. Takes a float or an array; the same rounding for both.

    A float is rounded as np.round rounds (scale by 10**8, round half to even, scale back) but
    without NumPy's per-call overhead, which was a third of a 10,000-trade run."""
    if type(level) is float and math.isfinite(level):
        return float(round(level * _PRICE_SCALE)) / _PRICE_SCALE
    rounded = np.round(level, PRICE_DECIMALS)
    return float(rounded) if np.ndim(rounded) == 0 else rounded


def first_exit_bar(
    high: np.ndarray,
    low: np.ndarray,
    start: int,
    stop_bar: int,
    side: int,
    stop_level: float,
    target_level: float,
    trail_fraction: float | None,
    trail_start: float,
) -> tuple[int, float]:
    """First bar in [start, stop_bar) whose range touches the stop, trailing stop or target.

    Returns (bar, trailing level on that bar) or (-1, nan). The trailing reference is the best
    price seen on the bars before the one being checked (the entry fill on the entry bar).
    """
    a = start
    width = _FIRST_WINDOW
    best = trail_start
    while a < stop_bar:
        z = min(stop_bar, a + width)
        lo = low[a:z]
        hi = high[a:z]
        if trail_fraction is None:
            if side > 0:
                hit = (lo <= stop_level) | (hi >= target_level)
            else:
                hit = (hi >= stop_level) | (lo <= target_level)
            trail = None
        else:
            if side > 0:
                reference = np.maximum.accumulate(np.concatenate(([best], hi[:-1])))
                trail = price_level(reference * (1.0 - trail_fraction))
                hit = (lo <= np.maximum(trail, stop_level)) | (hi >= target_level)
                best = max(float(reference[-1]), float(hi[-1]))
            else:
                reference = np.minimum.accumulate(np.concatenate(([best], lo[:-1])))
                trail = price_level(reference * (1.0 + trail_fraction))
                hit = (hi >= np.minimum(trail, stop_level)) | (lo <= target_level)
                best = min(float(reference[-1]), float(lo[-1]))
        i = int(hit.argmax())
        if hit[i]:
            return a + i, (math.nan if trail is None else float(trail[i]))
        a = z
        width *= 4
    return -1, math.nan


def _range_extremes(
    high: np.ndarray, low: np.ndarray, starts: np.ndarray, ends: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Highest high and lowest low over each [starts[i], ends[i]) (non-empty, ends <= bars).

    One reduceat over the interleaved bounds: its odd entries are the gaps between spans, so for
    spans sorted by start the work is one pass over the bars they and their gaps cover."""
    n = low.shape[0]
    last = n - 1
    # reduceat needs indices < n: a span to the end is [start, n - 1) plus the last bar (a span
    # of the last bar alone gives that bar, as reduceat does for an empty slice).
    bounds = np.empty(2 * starts.shape[0], dtype=np.intp)
    bounds[0::2] = starts
    bounds[1::2] = np.minimum(ends, last)
    highest = np.maximum.reduceat(high, bounds)[0::2]
    lowest = np.minimum.reduceat(low, bounds)[0::2]
    to_end = ends > last
    if to_end.any():
        highest[to_end] = np.maximum(highest[to_end], high[last])
        lowest[to_end] = np.minimum(lowest[to_end], low[last])
    return highest, lowest


def first_exit_bars(
    high: np.ndarray,
    low: np.ndarray,
    starts: np.ndarray,
    ends: np.ndarray,
    side: int,
    stop_levels: np.ndarray,
    target_levels: np.ndarray,
    trail_fraction: float | None,
    trail_starts: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """first_exit_bar for many entries at once: (bars, trailing levels), -1 and NaN for none.

    `starts` must be sorted and each span [starts[i], ends[i]) non-empty; spans may overlap, but
    the work is proportional to the bars they cover."""
    count = starts.shape[0]
    bars = np.full(count, -1, dtype=np.int64)
    trails = np.full(count, np.nan)
    if count == 0:
        return bars, trails
    highest, lowest = _range_extremes(high, low, starts, ends)
    # A span whose extremes stay strictly inside its levels cannot touch them. The trailing
    # level only tightens towards the span's best price, and rounding keeps that order, so the
    # level at the span's best price bounds every trailing level inside it.
    if side > 0:
        stop_bound = stop_levels
        if trail_fraction is not None:
            best = np.maximum(trail_starts, highest)
            stop_bound = np.maximum(stop_bound, price_level(best * (1.0 - trail_fraction)))
        maybe = (lowest <= stop_bound) | (highest >= target_levels)
    else:
        stop_bound = stop_levels
        if trail_fraction is not None:
            best = np.minimum(trail_starts, lowest)
            stop_bound = np.minimum(stop_bound, price_level(best * (1.0 + trail_fraction)))
        maybe = (highest >= stop_bound) | (lowest <= target_levels)
    active = np.flatnonzero(maybe)
    if active.shape[0] == 0:
        return bars, trails
    a = starts[active]
    span_ends = ends[active]
    stops = stop_levels[active]
    targets = target_levels[active]
    best = None if trail_fraction is None else trail_starts[active]
    width = _FIRST_BATCH_WINDOW
    while active.shape[0]:
        columns = np.arange(width)
        index = a[:, None] + columns
        # Bars past a span's end (or the data's) are read clipped and masked out below.
        lo = np.take(low, index, mode="clip")
        hi = np.take(high, index, mode="clip")
        stop = stops[:, None]
        target = targets[:, None]
        trail = None
        if trail_fraction is None:
            hit = (lo <= stop) | (hi >= target) if side > 0 else (hi >= stop) | (lo <= target)
        elif side > 0:
            reference = np.maximum.accumulate(
                np.concatenate((best[:, None], hi[:, :-1]), axis=1), axis=1
            )
            trail = price_level(reference * (1.0 - trail_fraction))
            hit = (lo <= np.maximum(trail, stop)) | (hi >= target)
        else:
            reference = np.minimum.accumulate(
                np.concatenate((best[:, None], lo[:, :-1]), axis=1), axis=1
            )
            trail = price_level(reference * (1.0 + trail_fraction))
            hit = (hi >= np.minimum(trail, stop)) | (lo <= target)
        hit &= columns < (span_ends - a)[:, None]
        first = hit.argmax(axis=1)
        rows = np.arange(active.shape[0])
        found = hit[rows, first]
        bars[active[found]] = a[found] + first[found]
        if trail is not None:
            trails[active[found]] = trail[rows[found], first[found]]
        more = ~found & (a + width < span_ends)
        if trail is not None:
            extreme = np.maximum if side > 0 else np.minimum
            edge = hi[:, -1] if side > 0 else lo[:, -1]
            best = extreme(reference[:, -1], edge)[more]
        active = active[more]
        a = a[more] + width
        span_ends = span_ends[more]
        stops = stops[more]
        targets = targets[more]
        width *= 2
    return bars, trails


def exit_prices(
    bar_open: np.ndarray,
    bar_high: np.ndarray,
    bar_low: np.ndarray,
    side: int,
    stop_levels: np.ndarray,
    target_levels: np.ndarray,
    trail_levels: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Reference exit prices and reason codes on bars known to touch a level.

    A gap through a level fills at the open; when the stop and the target both lie inside the
    bar, the stop is taken (we cannot know which came first, so assume the worse). The trailing
    stop applies, and names the exit, only when it is strictly tighter than the fixed stop.
    """
    with np.errstate(invalid="ignore"):
        trailing = (trail_levels > stop_levels) if side > 0 else (trail_levels < stop_levels)
    effective = np.where(trailing, trail_levels, stop_levels)
    stop_code = np.where(trailing, TRAILING_STOP_CODE, STOP_LOSS_CODE)
    if side > 0:
        gap_stop = bar_open <= effective
        gap_target = bar_open >= target_levels
        touch_stop = bar_low <= effective
    else:
        gap_stop = bar_open >= effective
        gap_target = bar_open <= target_levels
        touch_stop = bar_high >= effective
    price = np.select(
        [gap_stop, gap_target, touch_stop], [bar_open, bar_open, effective], target_levels
    )
    code = np.select([gap_stop, gap_target, touch_stop], [stop_code, TAKE_PROFIT_CODE, stop_code],
                     TAKE_PROFIT_CODE)  # fmt: skip
    return price, code
