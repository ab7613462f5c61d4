"""The backtest simulation: signals at the close, fills at the next open, one position at a time.

docs/execution-semantics.md is the contract. The loop runs once per trade, not once per bar: the
next entry is found by bisection over the entry-signal bars, and the bar that ends a trade by a
scan of growing windows over the lows/highs, capped by the next exit-signal bar. The per-bar
equity is rebuilt afterwards from the trade list.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from strategies.engine.candles import Candles
from strategies.engine.config import BacktestConfig
from strategies.engine.metrics import (
    compute_metrics,
    equity_curve_points,
    iso_times,
    monthly_returns,
)
from strategies.engine.results import BacktestResult, Trade
from strategies.rules.evaluate import (
    IndicatorCache,
    compute_indicators,
    evaluate_rules,
    indicator_keys,
    required_warmup,
)
from strategies.rules.schema import ensure_valid_rules, rule_direction

ENTRY_SIGNAL = "entry_rules"
EXIT_RULES = "exit_rules"
STOP_LOSS = "stop_loss"
TAKE_PROFIT = "take_profit"
TRAILING_STOP = "trailing_stop"
END_OF_DATA = "end_of_data"

_FIRST_WINDOW = 256
# Prices are stored with 8 decimal places.
_PRICE_DECIMALS = 8
_PRICE_SCALE = 10.0**_PRICE_DECIMALS
_PROGRESS_STEPS = 100
_CONTEXT_BARS = 20


class BacktestCancelled(Exception):
    """Raised inside run_backtest when should_cancel() returns True."""


def _price_level(level):
    """A stop, target or trailing level rounded to the price precision, so that a level that is
    exactly a price (a 10% target from 100 is 110, not 110.00000000000001) is reached by a bar
    whose high or low is that price. Takes a float or an array; the same rounding for both.

    A float is rounded as np.round rounds (scale by 10**8, round half to even, scale back) but
    without NumPy's per-call overhead, which was a third of a 10,000-trade run."""
    if type(level) is float and math.isfinite(level):
        return float(round(level * _PRICE_SCALE)) / _PRICE_SCALE
    rounded = np.round(level, _PRICE_DECIMALS)
    return float(rounded) if np.ndim(rounded) == 0 else rounded


@dataclass
class _Fills:
    """Column-wise record of the trades, filled by the loop."""

    entry_bar: list[int] = field(default_factory=list)
    exit_bar: list[int] = field(default_factory=list)
    entry_ref: list[float] = field(default_factory=list)
    exit_ref: list[float] = field(default_factory=list)
    quantity: list[float] = field(default_factory=list)
    equity_before: list[float] = field(default_factory=list)
    equity_after: list[float] = field(default_factory=list)
    exit_reason: list[str] = field(default_factory=list)


# Where each phase of a run lies on its 0-100 progress scale.
INDICATORS_PHASE = (0, 30)
SIMULATION_PHASE = (30, 90)
RESULTS_PHASE = (90, 100)


class _Checkpoints:
    """Calls progress/should_cancel at most once per percent (≤ ~100 times): per indicator
    computed, then per bar of the simulation, then once the results are built."""

    def __init__(self, bars: int, progress, should_cancel):
        self.bars = max(bars, 1)
        self.progress = progress
        self.should_cancel = should_cancel
        self.next_bar = 0
        self.last_pct = -1

    def indicator(self, done: int, total: int) -> None:
        low, high = INDICATORS_PHASE
        self.report(low + (high - low) * done // max(total, 1), force_check=True)

    def reached(self, bar: int) -> None:
        if bar < self.next_bar:
            return
        low, high = SIMULATION_PHASE
        pct = low + (high - low) * bar // self.bars
        self.report(min(pct, high - 1))
        # The next bar worth a report: one percent further on.
        self.next_bar = (pct + 1 - low) * self.bars // (high - low)

    def report(self, pct: int, *, force_check: bool = False) -> None:
        if pct <= self.last_pct and not force_check:
            return
        if pct <= self.last_pct:
            if self.should_cancel is not None and self.should_cancel():
                raise BacktestCancelled(f"cancelled at {pct}%")
            return
        self.last_pct = pct
        if self.should_cancel is not None and self.should_cancel():
            raise BacktestCancelled(f"cancelled at {pct}%")
        if self.progress is not None:
            self.progress(pct)


def _first_exit_bar(
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
                trail = _price_level(reference * (1.0 - trail_fraction))
                hit = (lo <= np.maximum(trail, stop_level)) | (hi >= target_level)
                best = max(float(reference[-1]), float(hi[-1]))
            else:
                reference = np.minimum.accumulate(np.concatenate(([best], lo[:-1])))
                trail = _price_level(reference * (1.0 + trail_fraction))
                hit = (hi >= np.minimum(trail, stop_level)) | (lo <= target_level)
                best = min(float(reference[-1]), float(lo[-1]))
        i = int(hit.argmax())
        if hit[i]:
            return a + i, (math.nan if trail is None else float(trail[i]))
        a = z
        width *= 4
    return -1, math.nan


def _exit_at_bar(
    bar_open: float,
    bar_high: float,
    bar_low: float,
    side: int,
    stop_level: float,
    target_level: float,
    trail_level: float,
) -> tuple[float, str]:
    """Reference exit price and reason on a bar known to touch a level.

    A gap through a level fills at the open; when the stop and the target both lie inside the
    bar, the stop is taken (we cannot know which came first, so assume the worse).
    """
    stop_reason = STOP_LOSS
    effective_stop = stop_level
    if not math.isnan(trail_level) and (
        (side > 0 and trail_level > stop_level) or (side < 0 and trail_level < stop_level)
    ):
        effective_stop = trail_level
        stop_reason = TRAILING_STOP
    if side > 0:
        if bar_open <= effective_stop:
            return bar_open, stop_reason
        if bar_open >= target_level:
            return bar_open, TAKE_PROFIT
        if bar_low <= effective_stop:
            return effective_stop, stop_reason
        return target_level, TAKE_PROFIT
    if bar_open >= effective_stop:
        return bar_open, stop_reason
    if bar_open <= target_level:
        return bar_open, TAKE_PROFIT
    if bar_high >= effective_stop:
        return effective_stop, stop_reason
    return target_level, TAKE_PROFIT


def _simulate(
    candles: Candles,
    entry_signal: np.ndarray,
    exit_signal: np.ndarray,
    side: int,
    config: BacktestConfig,
    checkpoints: _Checkpoints,
) -> _Fills:
    n = len(candles)
    opens, highs, lows, closes = candles.open, candles.high, candles.low, candles.close
    slip = config.slippage_pct
    fee = config.commission_pct
    size_fraction = config.max_position_size_pct / 100.0
    sl = None if config.stop_loss_pct is None else config.stop_loss_pct / 100.0
    tp = None if config.take_profit_pct is None else config.take_profit_pct / 100.0
    trail = None if config.trailing_stop_pct is None else config.trailing_stop_pct / 100.0
    max_dd = None if config.max_drawdown_pct is None else config.max_drawdown_pct / 100.0

    # Signals on the last bar cannot be filled: there is no next open.
    # Plain lists: bisect on a list is several times cheaper than np.searchsorted per call.
    entry_bars = (np.flatnonzero(entry_signal[: max(n - 1, 0)]) + 1).tolist()
    exit_fill_bars = (np.flatnonzero(exit_signal[: max(n - 1, 0)]) + 1).tolist()

    fills = _Fills()
    equity = float(config.initial_capital)
    peak = equity
    search_from = 1  # first bar on which an entry may fill
    while True:
        k = bisect.bisect_left(entry_bars, search_from)
        if k >= len(entry_bars):
            break
        e = entry_bars[k]
        checkpoints.reached(e)
        entry_ref = float(opens[e])
        entry_fill = entry_ref * (1.0 + side * slip)
        quantity = equity * size_fraction / (entry_fill * (1.0 + fee))
        if side > 0:
            stop_level = -math.inf if sl is None else _price_level(entry_fill * (1.0 - sl))
            target_level = math.inf if tp is None else _price_level(entry_fill * (1.0 + tp))
        else:
            stop_level = math.inf if sl is None else _price_level(entry_fill * (1.0 + sl))
            target_level = -math.inf if tp is None else _price_level(entry_fill * (1.0 - tp))

        j = bisect.bisect_left(exit_fill_bars, e + 1)
        signal_exit = exit_fill_bars[j] if j < len(exit_fill_bars) else -1
        scan_end = signal_exit if signal_exit >= 0 else n
        if sl is None and tp is None and trail is None:
            hit_bar, trail_level = -1, math.nan
        else:
            hit_bar, trail_level = _first_exit_bar(
                highs, lows, e, scan_end, side, stop_level, target_level, trail, entry_fill
            )
        if hit_bar >= 0:
            exit_bar = hit_bar
            exit_ref, reason = _exit_at_bar(
                float(opens[hit_bar]),
                float(highs[hit_bar]),
                float(lows[hit_bar]),
                side,
                stop_level,
                target_level,
                trail_level,
            )
        elif signal_exit >= 0:
            exit_bar, exit_ref, reason = signal_exit, float(opens[signal_exit]), EXIT_RULES
        else:
            exit_bar, exit_ref, reason = n - 1, float(closes[n - 1]), END_OF_DATA

        exit_fill = exit_ref * (1.0 - side * slip)
        entry_fee = quantity * entry_fill * fee
        exit_fee = quantity * exit_fill * fee
        equity_after = equity - entry_fee - exit_fee + side * quantity * (exit_fill - entry_fill)

        fills.entry_bar.append(e)
        fills.exit_bar.append(exit_bar)
        fills.entry_ref.append(entry_ref)
        fills.exit_ref.append(exit_ref)
        fills.quantity.append(quantity)
        fills.equity_before.append(equity)
        fills.equity_after.append(equity_after)
        fills.exit_reason.append(reason)

        if max_dd is not None:
            marks = equity - entry_fee + side * quantity * (closes[e:exit_bar] - entry_fill)
            path = np.append(marks, equity_after)
            running_peak = np.maximum(np.maximum.accumulate(path), peak)
            peak = float(running_peak[-1])
            if bool(np.any(path < running_peak * (1.0 - max_dd))):
                equity = equity_after
                break
        equity = equity_after
        if equity <= 0.0:
            break  # a short squeezed past the whole account: nothing left to trade with
        # Flat from the exit bar's close: the next entry signal may be that bar's.
        search_from = exit_bar + 1
    return fills


def _equity_marks(
    candles: Candles, fills: _Fills, trades: dict[str, np.ndarray], side: int, initial: float
) -> np.ndarray:
    """Equity at every bar's close: cash when flat, marked to the close while in a position."""
    n = len(candles)
    exits = trades["exit_bar"]
    # Exit bars strictly increase; the cash level changes at each exit bar's close.
    levels = np.concatenate(([initial], trades["equity_after"]))
    equity = np.repeat(levels, np.diff(np.concatenate(([0], exits, [n]))))
    entries = trades["entry_bar"]
    lengths = exits - entries  # closes spent in the position: entry bar .. bar before the exit
    total = int(lengths.sum())
    if total:
        owner = np.repeat(np.arange(lengths.shape[0]), lengths)
        first = np.repeat(np.cumsum(lengths) - lengths, lengths)
        bars = np.arange(total) - first + entries[owner]
        base = trades["equity_before"] - trades["entry_commission"]
        equity[bars] = base[owner] + side * trades["quantity"][owner] * (
            candles.close[bars] - trades["entry_price"][owner]
        )
    return equity


def _market_conditions(candles: Candles, signal_bars: np.ndarray) -> list[dict[str, Any]]:
    """A few facts about the market at each entry signal, for the trade log."""
    close = candles.close
    volume = candles.volume
    if signal_bars.shape[0] == 0:
        return []
    has_context = signal_bars >= _CONTEXT_BARS
    lookback = np.where(has_context, signal_bars, _CONTEXT_BARS)
    window = lookback[:, None] + np.arange(-_CONTEXT_BARS, 1)[None, :]
    window_close = close[np.minimum(window, close.shape[0] - 1)]
    log_returns = np.diff(np.log(window_close), axis=1)
    volatility = np.std(log_returns, axis=1, ddof=1) * 100.0
    change = (window_close[:, -1] / window_close[:, 0] - 1.0) * 100.0
    window_volume = volume[np.minimum(window[:, 1:], volume.shape[0] - 1)]
    mean_volume = window_volume.mean(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        volume_ratio = volume[signal_bars] / mean_volume

    def column(values: np.ndarray, defined: np.ndarray) -> list[float | None]:
        rounded = np.round(values, 6).tolist()
        return [v if ok else None for v, ok in zip(rounded, defined.tolist(), strict=True)]

    keys = ("signal_close", "change_20_bars_pct", "volatility_20_bars_pct", "volume_vs_20_bar_avg")
    rows = zip(
        close[signal_bars].tolist(),
        column(change, has_context),
        column(volatility, has_context),
        column(volume_ratio, has_context & (mean_volume > 0)),
        strict=True,
    )
    return [dict(zip(keys, row, strict=True)) for row in rows]


def _trade_arrays(fills: _Fills, side: int, config: BacktestConfig) -> dict[str, np.ndarray]:
    slip = config.slippage_pct
    fee = config.commission_pct
    entry_ref = np.asarray(fills.entry_ref, dtype=np.float64)
    exit_ref = np.asarray(fills.exit_ref, dtype=np.float64)
    quantity = np.asarray(fills.quantity, dtype=np.float64)
    entry_price = entry_ref * (1.0 + side * slip)
    exit_price = exit_ref * (1.0 - side * slip)
    entry_commission = quantity * entry_price * fee
    commission = entry_commission + quantity * exit_price * fee
    gross = side * quantity * (exit_price - entry_price)
    net = gross - commission
    equity_before = np.asarray(fills.equity_before, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        pnl_pct = net / (quantity * entry_price) * 100.0
    return {
        "entry_bar": np.asarray(fills.entry_bar, dtype=np.int64),
        "exit_bar": np.asarray(fills.exit_bar, dtype=np.int64),
        "quantity": quantity,
        "entry_price": entry_price,
        "exit_price": exit_price,
        "entry_commission": entry_commission,
        "commission": commission,
        "slippage": quantity * (entry_ref + exit_ref) * slip,
        "gross_pnl": gross,
        "net_pnl": net,
        "pnl_pct": np.nan_to_num(pnl_pct),
        "equity_before": equity_before,
        "equity_after": np.asarray(fills.equity_after, dtype=np.float64),
    }


def _signals(
    candles: Candles,
    entry_rules: dict[str, Any],
    exit_rules: dict[str, Any],
    checkpoints: _Checkpoints,
    shared_cache: IndicatorCache | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Entry and exit signals. Each distinct indicator is computed once (a cancel check before
    each), and, unless the cache is shared with other runs over the same candles, all of them are
    freed once the signals exist: only booleans go on."""
    keys = indicator_keys(entry_rules)
    keys += [key for key in indicator_keys(exit_rules) if key not in keys]
    cache: IndicatorCache = {} if shared_cache is None else shared_cache
    compute_indicators(keys, candles, cache, lambda done: checkpoints.indicator(done, len(keys)))
    checkpoints.indicator(len(keys), len(keys))
    entry_signal = evaluate_rules(entry_rules, candles, cache)
    exit_signal = evaluate_rules(exit_rules, candles, cache)
    if shared_cache is None:
        cache.clear()
    return entry_signal, exit_signal


def run_backtest(
    candles: Candles,
    *,
    entry_rules: dict[str, Any],
    exit_rules: dict[str, Any],
    config: BacktestConfig,
    progress: Callable[[int], None] | None = None,
    should_cancel: Callable[[], bool] | None = None,
    indicator_cache: IndicatorCache | None = None,
) -> BacktestResult:
    """Simulate the strategy over the candles and compute every result the backtests table holds.

    `progress(pct)` and `should_cancel()` are called at most about 100 times: indicators move
    progress through INDICATORS_PHASE (should_cancel() is asked before each indicator), the
    simulation through SIMULATION_PHASE, the results through RESULTS_PHASE. BacktestCancelled
    is raised as soon as should_cancel() returns True. Raises RuleValidationError for invalid
    rules. `indicator_cache`, shared by runs over the same candles (an optimisation's variants),
    keeps each distinct indicator series computed once; it must never be shared across candles.
    """
    ensure_valid_rules(entry_rules, path="entry_rules")
    ensure_valid_rules(exit_rules, path="exit_rules")
    n = len(candles)
    side = -1 if rule_direction(entry_rules) == "short" else 1
    checkpoints = _Checkpoints(n, progress, should_cancel)
    checkpoints.report(0)
    entry_signal, exit_signal = _signals(
        candles, entry_rules, exit_rules, checkpoints, shared_cache=indicator_cache
    )
    fills = _simulate(candles, entry_signal, exit_signal, side, config, checkpoints)
    checkpoints.report(RESULTS_PHASE[0])
    arrays = _trade_arrays(fills, side, config)
    equity = _equity_marks(candles, fills, arrays, side, config.initial_capital)

    entry_times = candles.time[arrays["entry_bar"]]
    exit_times = candles.time[arrays["exit_bar"]]
    metrics, drawdown_periods = compute_metrics(
        candles.time,
        equity,
        config.initial_capital,
        arrays["net_pnl"],
        arrays["pnl_pct"],
        exit_times - entry_times,
    )
    entry_iso = iso_times(entry_times)
    exit_iso = iso_times(exit_times)
    conditions = _market_conditions(candles, arrays["entry_bar"] - 1)
    side_name = "BUY" if side > 0 else "SELL"
    columns = {
        name: arrays[name].tolist()
        for name in (
            "quantity",
            "entry_price",
            "exit_price",
            "commission",
            "slippage",
            "gross_pnl",
            "net_pnl",
            "pnl_pct",
        )
    }
    trades = [
        Trade(
            trade_number=i + 1,
            entry_date=entry_iso[i],
            exit_date=exit_iso[i],
            symbol=config.symbol,
            side=side_name,
            quantity=columns["quantity"][i],
            entry_price=columns["entry_price"][i],
            exit_price=columns["exit_price"][i],
            commission=columns["commission"][i],
            slippage=columns["slippage"][i],
            gross_pnl=columns["gross_pnl"][i],
            net_pnl=columns["net_pnl"][i],
            pnl_pct=columns["pnl_pct"][i],
            entry_signal=ENTRY_SIGNAL,
            exit_signal=fills.exit_reason[i],
            market_conditions=conditions[i],
            entry_bar=fills.entry_bar[i],
            exit_bar=fills.exit_bar[i],
        )
        for i in range(len(fills.entry_bar))
    ]
    result = BacktestResult(
        trades=trades,
        metrics=metrics,
        equity_curve=equity_curve_points(candles.time, equity),
        monthly_returns=monthly_returns(candles.time, equity, config.initial_capital),
        drawdown_periods=drawdown_periods,
        bars=n,
        warmup_bars=max(required_warmup(entry_rules), required_warmup(exit_rules)),
        settings={
            "symbol": config.symbol,
            "direction": "short" if side < 0 else "long",
            "initial_capital": config.initial_capital,
            "commission_pct": config.commission_pct,
            "slippage_pct": config.slippage_pct,
            "stop_loss_pct": config.stop_loss_pct,
            "take_profit_pct": config.take_profit_pct,
            "trailing_stop_pct": config.trailing_stop_pct,
            "max_position_size_pct": config.max_position_size_pct,
            "max_drawdown_pct": config.max_drawdown_pct,
        },
    )
    checkpoints.report(100)
    return result


def equity_series(
    candles: Candles,
    *,
    entry_rules: dict[str, Any],
    exit_rules: dict[str, Any],
    config: BacktestConfig,
) -> np.ndarray:
    """The full per-bar equity curve (unthinned), for tests and analysis."""
    side = -1 if rule_direction(entry_rules) == "short" else 1
    cache: dict = {}
    entry_signal = evaluate_rules(entry_rules, candles, cache)
    exit_signal = evaluate_rules(exit_rules, candles, cache)
    fills = _simulate(
        candles, entry_signal, exit_signal, side, config, _Checkpoints(len(candles), None, None)
    )
    arrays = _trade_arrays(fills, side, config)
    return _equity_marks(candles, fills, arrays, side, config.initial_capital)
