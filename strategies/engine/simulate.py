"""The backtest simulation: signals at the close, fills at the next open, one position at a time.

docs/execution-semantics.md is the contract. Nothing here loops over bars, and the one loop over
trades only follows indices: where a position ends depends only on its entry, so the exits of the
candidate entries are found in bulk (strategies.engine.exits), then a walk picks the entries
actually taken, and sizes, equity and the per-bar equity curve are computed afterwards.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from strategies.engine.candles import Candles
from strategies.engine.config import BacktestConfig
from strategies.engine.exits import (
    END_OF_DATA_CODE,
    EXIT_REASONS,
    EXIT_RULES_CODE,
    exit_prices,
    first_exit_bar,
    first_exit_bars,
    price_level,
)
from strategies.engine.metrics import (
    compute_metrics,
    drawdown_segments,
    equity_curve_points,
    iso_times,
    monthly_returns,
)
from strategies.engine.results import BacktestResult
from strategies.engine.trade_log import market_conditions, trades_from_columns
from strategies.rules.evaluate import (
    IndicatorCache,
    compute_indicators,
    evaluate_rules,
    indicator_keys,
    required_warmup,
)
from strategies.rules.schema import ensure_valid_rules, rule_direction

ENTRY_SIGNAL = "entry_rules"
# Follow-up rounds of the vectorised exit search are worth their fixed cost above this many
# positions; fewer are found one by one as the walk along the trades reaches them.
_MIN_BATCH = 16
_UNKNOWN = -2


class BacktestCancelled(Exception):
    """Raised inside run_backtest when should_cancel() returns True."""


@dataclass
class _Fills:
    """The trades of a run, column-wise and in order."""

    entry_bar: np.ndarray
    exit_bar: np.ndarray
    entry_ref: np.ndarray
    exit_ref: np.ndarray
    quantity: np.ndarray
    equity_before: np.ndarray
    equity_after: np.ndarray
    exit_reason: np.ndarray  # codes into EXIT_REASONS


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


def _stop_and_target_levels(
    entry_fill: np.ndarray, side: int, sl: float | None, tp: float | None
) -> tuple[np.ndarray, np.ndarray]:
    """Each entry's stop and target from its fill, rounded to the price precision (±inf: none)."""
    # A missing level is one no price reaches: -inf / +inf on the losing / winning side.
    beyond = np.full_like(entry_fill, side * np.inf)
    stop = -beyond if sl is None else price_level(entry_fill * (1.0 - side * sl))
    target = beyond if tp is None else price_level(entry_fill * (1.0 + side * tp))
    return stop, target


def _distinct_sorted(values: np.ndarray) -> np.ndarray:
    """The distinct values of a sorted array (np.unique hashes, which costs more here)."""
    if values.shape[0] < 2:
        return values
    keep = np.empty(values.shape[0], dtype=bool)
    keep[0] = True
    np.not_equal(values[1:], values[:-1], out=keep[1:])
    return values[keep]


def _simulate(
    candles: Candles,
    entry_signal: np.ndarray,
    exit_signal: np.ndarray,
    side: int,
    config: BacktestConfig,
    checkpoints: _Checkpoints,
) -> _Fills:
    """The trades, in three steps. Where a position would end depends only on where it starts
    (its levels come from the entry fill, not from equity), so the exits are found first for the
    candidate entries that can follow a flat moment, vectorised; a walk along the trades then
    picks the entries actually taken (the first candidate after each exit), finding any exit not
    yet known one by one; equity, sizes and the stopping rules come last."""
    n = len(candles)
    opens, highs, lows, closes = candles.open, candles.high, candles.low, candles.close
    slip = config.slippage_pct
    sl = None if config.stop_loss_pct is None else config.stop_loss_pct / 100.0
    tp = None if config.take_profit_pct is None else config.take_profit_pct / 100.0
    trail = None if config.trailing_stop_pct is None else config.trailing_stop_pct / 100.0

    # Candidate entries: the bar after each entry signal (a signal on the last bar is never
    # filled); likewise the bars at whose open an exit signal fills.
    entries = np.flatnonzero(entry_signal[: max(n - 1, 0)]) + 1
    signal_exits = np.flatnonzero(exit_signal[: max(n - 1, 0)]) + 1
    count = entries.shape[0]
    entry_ref = opens[entries]
    entry_fill = entry_ref * (1.0 + side * slip)
    stop_levels, target_levels = _stop_and_target_levels(entry_fill, side, sl, tp)
    # The first exit signal after the entry bar bounds the search for a touched level.
    after = np.searchsorted(signal_exits, entries + 1)
    has_signal = after < signal_exits.shape[0]
    span_end = np.full(count, n, dtype=np.int64)
    span_end[has_signal] = signal_exits[after[has_signal]]
    unhit_exit = np.where(has_signal, span_end, n - 1)
    hit_bar = np.full(count, -1, dtype=np.int64)
    trail_level = np.full(count, np.nan)

    has_levels = not (sl is None and tp is None and trail is None)
    if has_levels:
        exit_bar = np.full(count, _UNKNOWN, dtype=np.int64)
        # Being flat is possible from bar 1 on, and from each exit signal's fill bar (after a
        # stop in the bar before it) or the bar after (after the signal's own fill).
        flat_from = np.sort(np.concatenate(([1], signal_exits, signal_exits + 1)))
        batch = _distinct_sorted(np.searchsorted(entries, flat_from))
        batch = batch[batch < count]
        while batch.shape[0]:
            bars, trails = first_exit_bars(
                highs, lows, entries[batch], span_end[batch], side,
                stop_levels[batch], target_levels[batch], trail, entry_fill[batch],
            )  # fmt: skip
            hit_bar[batch] = bars
            trail_level[batch] = trails
            exits = np.where(bars >= 0, bars, unhit_exit[batch])
            exit_bar[batch] = exits
            # The entry after a stop inside the span is another candidate of the same span.
            following = np.searchsorted(entries, exits + 1)
            following = _distinct_sorted(np.sort(following[following < count]))
            following = following[exit_bar[following] == _UNKNOWN]
            batch = following if following.shape[0] >= _MIN_BATCH else following[:0]
    else:
        exit_bar = unhit_exit

    # Walk along the trades: each is the first candidate after the previous exit bar.
    entry_bars = entries.tolist()
    exit_bars = exit_bar.tolist()
    next_entry = np.searchsorted(entries, exit_bar + 1).tolist()
    taken = []
    k = 0
    while k < count:
        exit_at = exit_bars[k]
        if exit_at == _UNKNOWN:
            bar, level = first_exit_bar(
                highs, lows, entry_bars[k], int(span_end[k]), side, float(stop_levels[k]),
                float(target_levels[k]), trail, float(entry_fill[k]),
            )  # fmt: skip
            hit_bar[k] = bar
            trail_level[k] = level
            exit_at = bar if bar >= 0 else int(unhit_exit[k])
            exit_bar[k] = exit_at
            next_entry[k] = bisect.bisect_left(entry_bars, exit_at + 1)
        taken.append(k)
        if entry_bars[k] >= checkpoints.next_bar:
            checkpoints.reached(entry_bars[k])
        k = next_entry[k]

    taken_index = np.asarray(taken, dtype=np.intp)
    trade_exit = exit_bar[taken_index]
    signalled = has_signal[taken_index]
    exit_ref = np.where(signalled, opens[trade_exit], closes[n - 1] if n else np.nan)
    reason = np.where(signalled, EXIT_RULES_CODE, END_OF_DATA_CODE)
    hit = hit_bar[taken_index] >= 0
    if hit.any():
        bars = trade_exit[hit]
        prices, codes = exit_prices(
            opens[bars], highs[bars], lows[bars], side,
            stop_levels[taken_index[hit]], target_levels[taken_index[hit]],
            trail_level[taken_index[hit]],
        )  # fmt: skip
        exit_ref[hit] = prices
        reason[hit] = codes
    return _sized_fills(
        candles,
        entries[taken_index],
        trade_exit,
        entry_ref[taken_index],
        exit_ref,
        reason,
        side,
        config,
    )


def _sized_fills(
    candles: Candles,
    entry_bar: np.ndarray,
    exit_bar: np.ndarray,
    entry_ref: np.ndarray,
    exit_ref: np.ndarray,
    reason: np.ndarray,
    side: int,
    config: BacktestConfig,
) -> _Fills:
    """Sizes and equity along the trades, and where trading stops: after the first trade that
    leaves equity at or below zero, or whose marks breach max_drawdown_pct."""
    slip = config.slippage_pct
    fee = config.commission_pct
    size_fraction = config.max_position_size_pct / 100.0
    initial = float(config.initial_capital)
    entry_fill = entry_ref * (1.0 + side * slip)
    exit_fill = exit_ref * (1.0 - side * slip)
    cost_basis = entry_fill * (1.0 + fee)
    # Each size depends on the equity the trade before left: one float recurrence, in the same
    # order of operations as the per-trade formulas (a cumulative product would round apart).
    equity = initial
    equity_after: list[float] = []
    record = equity_after.append
    for entry_price, exit_price, basis in zip(
        entry_fill.tolist(), exit_fill.tolist(), cost_basis.tolist(), strict=True
    ):
        quantity = equity * size_fraction / basis
        equity = (
            equity
            - quantity * entry_price * fee
            - quantity * exit_price * fee
            + side * quantity * (exit_price - entry_price)
        )
        record(equity)
        if equity <= 0.0:
            break  # a short squeezed past the whole account: nothing left to trade with
    count = len(equity_after)
    after = np.asarray(equity_after, dtype=np.float64)
    before = np.concatenate(([initial], after[:-1]))
    entry_fill = entry_fill[:count]
    quantity = before * size_fraction / cost_basis[:count]
    if config.max_drawdown_pct is not None and count:
        count = _trades_until_drawdown_stop(
            candles.close, entry_bar[:count], exit_bar[:count], entry_fill, quantity,
            before, after, side, fee, config.max_drawdown_pct / 100.0, initial,
        )  # fmt: skip
    return _Fills(
        entry_bar=entry_bar[:count],
        exit_bar=exit_bar[:count],
        entry_ref=entry_ref[:count],
        exit_ref=exit_ref[:count],
        quantity=quantity[:count],
        equity_before=before[:count],
        equity_after=after[:count],
        exit_reason=reason[:count],
    )


def _trades_until_drawdown_stop(
    closes: np.ndarray,
    entry_bar: np.ndarray,
    exit_bar: np.ndarray,
    entry_fill: np.ndarray,
    quantity: np.ndarray,
    before: np.ndarray,
    after: np.ndarray,
    side: int,
    fee: float,
    max_dd: float,
    initial: float,
) -> int:
    """How many trades are made: up to and including the first whose equity (marked at each
    close in the position, then after the exit) falls more than max_dd below the running peak
    (which starts at the initial capital)."""
    lengths = exit_bar - entry_bar  # closes marked: the entry bar .. the bar before the exit
    steps = lengths + 1
    owner = np.repeat(np.arange(steps.shape[0]), steps)
    offset = np.arange(owner.shape[0]) - np.repeat(np.cumsum(steps) - steps, steps)
    is_exit = offset == lengths[owner]
    bars = np.where(is_exit, 0, entry_bar[owner] + offset)
    base = before - quantity * entry_fill * fee
    path = base[owner] + (side * quantity)[owner] * (closes[bars] - entry_fill[owner])
    path[is_exit] = after
    peak = np.maximum(np.maximum.accumulate(path), initial)
    breach = path < peak * (1.0 - max_dd)
    if not breach.any():
        return int(steps.shape[0])
    return int(owner[int(breach.argmax())]) + 1


def _equity_marks(
    candles: Candles, fills: _Fills, trades: dict[str, np.ndarray], side: int, initial: float
) -> np.ndarray:
    """Equity at every bar's close: cash when flat, marked to the close while in a position.

    The bars split into stretches, flat (before the first entry, from each exit bar on) and in a
    position (entry bar .. the bar before the exit); each has equity offset + scale × (close −
    price): cash, 0, 0 when flat, so that one pass over the bars serves both."""
    n = len(candles)
    entries = trades["entry_bar"]
    exits = trades["exit_bar"]
    count = entries.shape[0]
    bounds = np.empty(2 * count + 2, dtype=np.int64)
    bounds[0] = 0
    bounds[1:-1:2] = entries
    bounds[2:-1:2] = exits
    bounds[-1] = n
    lengths = np.diff(bounds)  # flat, position, flat, ..., flat
    offset = np.empty(2 * count + 1)
    offset[0] = initial
    offset[2::2] = trades["equity_after"]
    offset[1::2] = trades["equity_before"] - trades["entry_commission"]
    scale = np.zeros(2 * count + 1)
    scale[1::2] = side * trades["quantity"]
    price = np.zeros(2 * count + 1)
    price[1::2] = trades["entry_price"]
    equity = candles.close - np.repeat(price, lengths)
    equity *= np.repeat(scale, lengths)
    equity += np.repeat(offset, lengths)
    return equity


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
    segments = drawdown_segments(equity)
    metrics, drawdown_periods = compute_metrics(
        candles.time,
        equity,
        config.initial_capital,
        arrays["net_pnl"],
        arrays["pnl_pct"],
        exit_times - entry_times,
        segments=segments,
    )
    count = arrays["entry_bar"].shape[0]
    columns: dict[str, Any] = {
        name: arrays[name].tolist()
        for name in (
            "entry_bar",
            "exit_bar",
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
    columns.update(
        trade_number=range(1, count + 1),
        entry_date=iso_times(entry_times),
        exit_date=iso_times(exit_times),
        symbol=config.symbol,
        side="BUY" if side > 0 else "SELL",
        entry_signal=ENTRY_SIGNAL,
        exit_signal=np.asarray(EXIT_REASONS, dtype=object)[fills.exit_reason].tolist(),
        market_conditions=market_conditions(candles, arrays["entry_bar"] - 1),
    )
    trades = trades_from_columns(columns, count)
    result = BacktestResult(
        trades=trades,
        metrics=metrics,
        equity_curve=equity_curve_points(candles.time, equity, segments=segments),
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
