"""Technical indicators over NumPy arrays, fully vectorised.

Every function takes float64 arrays and returns float64 arrays of the same length, with NaN on the
leading bars where the indicator is not yet defined (its warm-up). Definitions follow the common
references (TA-Lib, Wilder 1978); docs/rule-language.md lists them with their warm-up lengths.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

# Block size of the blocked linear recurrence below: large enough that the per-block Python loop is
# short, small enough that the block matrix product stays cheap.
_BLOCK = 64
_GEMM_ROWS = 64
_NS_PER_DAY = 86_400_000_000_000
# Up to this period a direct windowed sum (np.convolve, O(n × period)) is exact to rounding and
# at least as fast as the O(n) forms (cumulative sums for SMA, blocked prefix sums for WMA).
_DIRECT_SUM_MAX_PERIOD = 256


def _as_float(values: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(values, dtype=np.float64)


def _nan_like(values: np.ndarray) -> np.ndarray:
    return np.full(values.shape[0], np.nan)


def _first_valid(values: np.ndarray) -> int:
    """Index of the first non-NaN value (len(values) when there is none)."""
    valid = ~np.isnan(values)
    return int(np.argmax(valid)) if valid.any() else values.shape[0]


def linear_recurrence(increments: np.ndarray, decay: float, initial: float) -> np.ndarray:
    """Solve y[t] = decay * y[t-1] + increments[t] with y[-1] = initial, without a per-bar loop.

    The series is cut into blocks; inside a block the solution is one matrix product with the
    decay-power matrix, and the block ends are chained by the same recurrence on the much shorter
    series of block ends. Each value is a sum of at most _BLOCK terms, so precision matches a loop.
    """
    b = _as_float(increments)
    m = b.shape[0]
    if m == 0:
        return b.copy()
    if m <= _BLOCK:
        out = np.empty(m)
        y = float(initial)
        for t in range(m):
            y = decay * y + b[t]
            out[t] = y
        return out
    # Whole groups of _GEMM_ROWS blocks: a stack of small matrix products keeps every BLAS call
    # below OpenBLAS's threading threshold, so busy cores do not stall it.
    blocks = -(-m // (_BLOCK * _GEMM_ROWS)) * _GEMM_ROWS
    padded = np.empty(blocks * _BLOCK)
    padded[:m] = b
    padded[m:] = 0.0
    steps = np.arange(_BLOCK)
    lag = steps[None, :] - steps[:, None]
    with np.errstate(under="ignore"):
        powers = np.where(lag >= 0, float(decay) ** np.maximum(lag, 0), 0.0)
        local = (padded.reshape(-1, _GEMM_ROWS, _BLOCK) @ powers).reshape(blocks, _BLOCK)
        # carries[k] is y at the end of block k-1 (y[-1] = initial for the first block)
        block_decay = float(decay) ** _BLOCK
        ends = linear_recurrence(local[:, -1], block_decay, initial)
        carries = np.concatenate(([float(initial)], ends[:-1]))
        local += carries[:, None] * (float(decay) ** (steps + 1))[None, :]
    return local.reshape(-1)[:m]


def sma(values: np.ndarray, period: int) -> np.ndarray:
    """Simple moving average of the last `period` values."""
    x = _as_float(values)
    out = _nan_like(x)
    if period < 1 or x.shape[0] < period:
        return out
    if period <= _DIRECT_SUM_MAX_PERIOD:
        # A direct windowed sum is exact to rounding and, for short windows, as fast as cumsum.
        np.divide(np.convolve(x, np.ones(period), mode="valid"), period, out=out[period - 1 :])
        return out
    # Long windows: rolling sums from a cumulative sum of values centred on the first value,
    # which keeps the cancellation error of the subtraction small.
    shifted = x - x[0]
    csum = np.concatenate(([0.0], np.cumsum(shifted)))
    out[period - 1 :] = (csum[period:] - csum[:-period]) / period + x[0]
    return out


def rolling_std(values: np.ndarray, period: int) -> np.ndarray:
    """Population standard deviation (ddof=0) of the last `period` values, as Bollinger used.

    In O(n) time and memory whatever the period (a sliding-window `std` would hold bars x period
    floats); _blocked_variance says how it keeps its precision far from the first price."""
    x = _as_float(values)
    out = _nan_like(x)
    if period < 1 or x.shape[0] < period:
        return out
    # rounding can leave a flat window's variance a few ulps below zero
    out[period - 1 :] = np.sqrt(np.maximum(_blocked_variance(x, period), 0.0))
    return out


def _blocked_variance(x: np.ndarray, period: int) -> np.ndarray:
    """Population variance of every full window, as E[y²] − E[y]² of values y = x − centre.

    The subtraction cancels the digits that y shares with its mean, so the centre must lie inside
    the window: outputs go in blocks of `period` (as in _blocked_wma) and each block is centred on
    the one input all its windows contain, the last of its first window. Every |y| is then at most
    the window's own range, so the error is relative to the window's spread, not to the price
    level (a price flat at 60,000 with noise 0.01 keeps its std of 0.01); on random walks it agrees
    with the sliding-window std to ~1e-14 relative."""
    rows, outputs = _block_rows(x, period)
    y = rows - rows[:, period - 1 : period]
    mean = _sums_around_the_centre(y, period) / period
    variance = _sums_around_the_centre(y * y, period) / period - mean * mean
    return variance.reshape(-1)[:outputs]


def _sums_around_the_centre(y: np.ndarray, period: int) -> np.ndarray:
    """Sums of y over the `period` windows of each block row (window a: inputs a ... a+period−1).

    Each is a suffix sum of the first `period` inputs (a ... the centre) plus a prefix sum of the
    rest, so it only ever adds the window's own values: no difference of running sums to cancel."""
    sums = np.zeros((y.shape[0], period))
    np.cumsum(y[:, period:], axis=1, out=sums[:, 1:])
    sums += np.cumsum(y[:, period - 1 :: -1], axis=1)[:, ::-1]
    return sums


def wma(values: np.ndarray, period: int) -> np.ndarray:
    """Linearly weighted moving average: weights 1..period, the newest bar weighing most."""
    x = _as_float(values)
    out = _nan_like(x)
    if period < 1 or x.shape[0] < period:
        return out
    if period <= _DIRECT_SUM_MAX_PERIOD:
        weights = np.arange(period, 0, -1, dtype=np.float64)  # convolve flips the kernel
        out[period - 1 :] = np.convolve(x, weights, mode="valid") / weights.sum()
        return out
    out[period - 1 :] = _blocked_wma(x, period)
    return out


def _blocked_wma(x: np.ndarray, period: int) -> np.ndarray:
    """WMA of every full window in O(n), from prefix sums instead of a period-long kernel.

    With C the prefix sums of x (C[i] = x[0] + ... + x[i-1]) and CC those of C, the weighted
    sum of the window [a, t] (t = a + period - 1) is period·C[t+1] − (CC[t+1] − CC[a]). Over a
    whole series CC grows like n²·|x| and the subtraction would cancel most digits, so outputs go
    in blocks of `period`: each block gets its own prefix sums over its inputs (2·period − 1
    values), centred on the block's first input. The sums then stay within a few period² times
    the local price range and the result agrees with the direct sum to ~1e-13 relative."""
    rows, outputs = _block_rows(x, period)
    blocks, span = rows.shape
    centre = rows[:, :1]
    c = np.zeros((blocks, span + 1))
    np.cumsum(rows - centre, axis=1, out=c[:, 1:])
    cc = np.zeros((blocks, span + 2))
    np.cumsum(c, axis=1, out=cc[:, 1:])
    start = np.arange(period)  # window start a, local to the block
    end = start + period  # t + 1
    weighted = period * c[:, end] - (cc[:, end] - cc[:, start])
    weight_sum = period * (period + 1) / 2.0
    return (weighted / weight_sum + centre).reshape(-1)[:outputs]


def _block_rows(x: np.ndarray, period: int) -> tuple[np.ndarray, int]:
    """The inputs of every full window, grouped in blocks of `period` consecutive windows.

    Row b is a strided view (no copy) of the 2·period − 1 inputs of windows b·period ...
    b·period + period − 1, which start at its inputs 0 ... period − 1; the series is padded with
    its last value to fill the last row. Also returns the number of full windows."""
    n = x.shape[0]
    outputs = n - period + 1
    blocks = -(-outputs // period)
    padded = np.empty(blocks * period + period - 1)
    padded[:n] = x
    padded[n:] = x[-1]
    return sliding_window_view(padded, 2 * period - 1)[::period], outputs


def _smoothed(values: np.ndarray, period: int, alpha: float) -> np.ndarray:
    """Exponential smoothing seeded with the SMA of the first `period` valid values.

    Leading NaNs are skipped (so an EMA of an indicator starts where the indicator starts).
    """
    x = _as_float(values)
    out = _nan_like(x)
    start = _first_valid(x)
    seed_end = start + period - 1
    if period < 1 or seed_end >= x.shape[0]:
        return out
    seed = float(np.mean(x[start : seed_end + 1]))
    out[seed_end] = seed
    out[seed_end + 1 :] = linear_recurrence(alpha * x[seed_end + 1 :], 1.0 - alpha, seed)
    return out


def ema(values: np.ndarray, period: int) -> np.ndarray:
    """Exponential moving average, alpha = 2 / (period + 1), seeded with the first SMA."""
    return _smoothed(values, period, 2.0 / (period + 1.0))


def wilder(values: np.ndarray, period: int) -> np.ndarray:
    """Wilder's smoothing (alpha = 1 / period), seeded with the first SMA; used by RSI and ATR."""
    return _smoothed(values, period, 1.0 / period)


def rsi(values: np.ndarray, period: int = 14) -> np.ndarray:
    """Relative Strength Index with Wilder smoothing; first value at index `period`.

    When the average loss is zero the RSI is 100 (50 when the average gain is zero as well).
    """
    x = _as_float(values)
    out = _nan_like(x)
    if x.shape[0] <= period:
        return out
    change = np.diff(x)
    gains = wilder(np.maximum(change, 0.0), period)
    np.negative(change, out=change)
    losses = wilder(np.maximum(change, 0.0, out=change), period)
    # 100 - 100 / (1 + gains / losses), written into the output without temporaries.
    value = out[1:]
    with np.errstate(divide="ignore", invalid="ignore"):
        np.divide(gains, losses, out=value)
        value += 1.0
        np.divide(100.0, value, out=value)
        np.subtract(100.0, value, out=value)
    no_losses = losses == 0.0
    if no_losses.any():
        value[no_losses] = np.where(gains[no_losses] == 0.0, 50.0, 100.0)
    value[np.isnan(gains)] = np.nan
    return out


def macd(
    values: np.ndarray, fast: int = 12, slow: int = 26, signal: int = 9
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """MACD line (EMA fast − EMA slow), its signal line (EMA of the line) and the histogram."""
    line = ema(values, fast) - ema(values, slow)
    signal_line = ema(line, signal)
    return line, signal_line, line - signal_line


def bbands(
    values: np.ndarray, period: int = 20, stddev: float = 2.0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Bollinger bands: SMA ± stddev × population standard deviation; (upper, middle, lower)."""
    middle = sma(values, period)
    width = stddev * rolling_std(values, period)
    return middle + width, middle, middle - width


def true_range(high: np.ndarray, low: np.ndarray, close: np.ndarray) -> np.ndarray:
    """True range; NaN on the first bar, which has no previous close."""
    h, lo, c = _as_float(high), _as_float(low), _as_float(close)
    out = _nan_like(c)
    if c.shape[0] < 2:
        return out
    prev = c[:-1]
    out[1:] = np.maximum(h[1:], prev) - np.minimum(lo[1:], prev)
    return out


def atr(high: np.ndarray, low: np.ndarray, close: np.ndarray, period: int = 14) -> np.ndarray:
    """Average true range with Wilder smoothing; first value at index `period` (as TA-Lib)."""
    return wilder(true_range(high, low, close), period)


def _rolling_extreme(values: np.ndarray, period: int, combine: np.ufunc) -> np.ndarray:
    """Rolling maximum (combine=np.maximum) or minimum (np.minimum) of the last `period` values,
    in O(n) whatever the period (van Herk / Gil-Werman): cut into blocks of `period`, take the
    running extreme forwards and backwards inside each block; a window spans at most two
    blocks, so its extreme is that of its first bar's backward run and its last bar's forward
    run. Exact: no arithmetic, only comparisons."""
    x = _as_float(values)
    out = _nan_like(x)
    n = x.shape[0]
    if period < 1 or n < period:
        return out
    blocks = -(-n // period)
    padded = np.empty(blocks * period)
    padded[:n] = x
    padded[n:] = x[-1]  # never inside a full window's runs: they stop at its own bars
    grid = padded.reshape(blocks, period)
    forwards = combine.accumulate(grid, axis=1).reshape(-1)
    backwards = combine.accumulate(grid[:, ::-1], axis=1)[:, ::-1].reshape(-1)
    out[period - 1 :] = combine(backwards[: n - period + 1], forwards[period - 1 : n])
    return out


def stochastic(
    high: np.ndarray, low: np.ndarray, close: np.ndarray, k_period: int = 14, d_period: int = 3
) -> tuple[np.ndarray, np.ndarray]:
    """Fast stochastic: %K = 100 × (close − lowest low) / (highest high − lowest low), %D = SMA(%K).

    A flat window (highest high == lowest low) gives %K = 50.
    """
    highest = _rolling_extreme(high, k_period, np.maximum)
    lowest = _rolling_extreme(low, k_period, np.minimum)
    span = highest - lowest
    with np.errstate(divide="ignore", invalid="ignore"):
        k = 100.0 * (_as_float(close) - lowest) / span
    k = np.where(span == 0.0, 50.0, k)
    k[np.isnan(span)] = np.nan
    return k, _sma_of_valid(k, d_period)


def _sma_of_valid(values: np.ndarray, period: int) -> np.ndarray:
    out = _nan_like(values)
    start = _first_valid(values)
    out[start:] = sma(values[start:], period)
    return out


def roc(values: np.ndarray, period: int) -> np.ndarray:
    """Rate of change in percent: 100 × (value / value `period` bars ago − 1)."""
    x = _as_float(values)
    out = _nan_like(x)
    if period < 1 or x.shape[0] <= period:
        return out
    with np.errstate(divide="ignore", invalid="ignore"):
        out[period:] = 100.0 * (x[period:] / x[:-period] - 1.0)
    out[~np.isfinite(out)] = np.nan
    return out


def obv(close: np.ndarray, volume: np.ndarray) -> np.ndarray:
    """On-balance volume, starting at 0 on the first bar."""
    c, v = _as_float(close), _as_float(volume)
    if c.shape[0] == 0:
        return c.copy()
    signed = np.zeros(c.shape[0])
    signed[1:] = np.sign(np.diff(c)) * v[1:]
    return np.cumsum(signed)


def vwap(
    time_ns: np.ndarray,
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    volume: np.ndarray,
) -> np.ndarray:
    """Session VWAP that restarts at 00:00 UTC each day, on the typical price (H+L+C)/3.

    NaN while the day's cumulative volume is still zero.
    """
    c = _as_float(close)
    n = c.shape[0]
    if n == 0:
        return c.copy()
    typical = (_as_float(high) + _as_float(low) + c) / 3.0
    v = _as_float(volume)
    day = np.asarray(time_ns).astype(np.int64) // _NS_PER_DAY
    starts = np.flatnonzero(np.concatenate(([True], day[1:] != day[:-1])))
    counts = np.diff(np.append(starts, n))
    pv = np.cumsum(typical * v)
    vol = np.cumsum(v)
    # Subtract the running totals at the end of the previous session.
    pv_before = np.repeat(np.concatenate(([0.0], pv[starts[1:] - 1])), counts)
    vol_before = np.repeat(np.concatenate(([0.0], vol[starts[1:] - 1])), counts)
    session_vol = vol - vol_before
    with np.errstate(divide="ignore", invalid="ignore"):
        out = (pv - pv_before) / session_vol
    out[session_vol <= 0.0] = np.nan
    return out
