"""Backtest engine benchmark: ApexTrade's engine against backtesting.py on the same data.

Usage:
    .venv/bin/python bench/backtest.py                 # 1,000,000 one-minute candles
    .venv/bin/python bench/backtest.py --bars 200000 --reference-bars 200000

Candles are synthetic (seeded GBM with clustered volatility and small opening gaps), generated in
memory; a database load step can replace generate_candles() (see load_candles). The strategy is the
one in the issue: entry when SMA(20) crosses above SMA(50) and RSI(14) < 70, exit when SMA(20)
crosses below SMA(50), 2% stop, 4% target, 0.1% commission, 0.05% slippage, 10% of equity a trade.

bench/README.md explains how the backtesting.py run is made to follow the same execution rules.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from backtest_db import add_db_arguments, run_with_db

from strategies.engine import BacktestConfig, Candles, run_backtest
from strategies.rules.indicators import linear_recurrence, rsi, sma

ENTRY_RULES = {
    "all": [
        {
            "left": {"indicator": "sma", "period": 20},
            "op": "crosses_above",
            "right": {"indicator": "sma", "period": 50},
        },
        {"left": {"indicator": "rsi", "period": 14}, "op": "<", "right": 70},
    ]
}
EXIT_RULES = {
    "left": {"indicator": "sma", "period": 20},
    "op": "crosses_below",
    "right": {"indicator": "sma", "period": 50},
}
CONFIG = BacktestConfig(
    symbol="BTC/USDT",
    initial_capital=100_000.0,
    commission_pct=0.001,
    slippage_pct=0.0005,
    stop_loss_pct=2.0,
    take_profit_pct=4.0,
    max_position_size_pct=10.0,
)
PRICE_TOLERANCE = 1e-9  # relative
QUANTITY_TOLERANCE = 1e-4  # relative; backtesting.py sizes in whole satoshis


def generate_candles(bars: int, seed: int = 7) -> Candles:
    """Seeded one-minute candles: GBM whose log-volatility is a persistent AR(1) process."""
    rng = np.random.default_rng(seed)
    base_vol = 0.0008  # per minute
    log_vol = linear_recurrence(rng.normal(0.0, 0.03, bars), 0.999, 0.0)
    vol = base_vol * np.exp(log_vol - log_vol.mean())
    returns = rng.normal(0.0, 1.0, bars) * vol - 0.5 * vol**2
    gaps = np.where(rng.random(bars) < 0.02, rng.normal(0.0, 1.5, bars) * vol, 0.0)
    log_close = np.log(30_000.0) + np.cumsum(returns + gaps)
    close = np.exp(log_close)
    previous_close = np.concatenate(([close[0]], close[:-1]))
    open_ = previous_close * np.exp(gaps)
    wick = np.abs(rng.normal(0.0, 0.6, (2, bars))) * vol
    high = np.maximum(open_, close) * np.exp(wick[0])
    low = np.minimum(open_, close) * np.exp(-wick[1])
    volume = rng.gamma(2.0, 5.0, bars) * (vol / base_vol)
    start = np.datetime64("2023-01-01T00:00", "ns")
    time_ns = start + np.arange(bars) * np.timedelta64(60, "s")
    return Candles.from_arrays(time_ns, open_, high, low, close, volume)


def load_candles(args: argparse.Namespace) -> Candles:
    """The load step: synthetic data today; a --with-db loader can plug in here."""
    return generate_candles(args.bars, args.seed)


@dataclasses.dataclass
class EngineTimes:
    """Wall time and CPU time (time.process_time: this process only, so other work on a shared
    machine inflates it far less than wall time) of repeated run_backtest calls, in seconds."""

    best: float
    median: float
    cpu_best: float
    cpu_median: float
    result: object


def time_engine_runs(
    candles: Candles, repeats: int, config: BacktestConfig = CONFIG
) -> EngineTimes:
    """Wall and CPU times of run_backtest over `repeats` runs, and the last result."""
    wall = []
    cpu = []
    result = None
    for _ in range(repeats):
        started, started_cpu = time.perf_counter(), time.process_time()
        result = run_backtest(
            candles, entry_rules=ENTRY_RULES, exit_rules=EXIT_RULES, config=config
        )
        wall.append(time.perf_counter() - started)
        cpu.append(time.process_time() - started_cpu)
    return EngineTimes(min(wall), statistics.median(wall), min(cpu), statistics.median(cpu), result)


def time_engine(candles: Candles, repeats: int, config: BacktestConfig = CONFIG):
    """Best and median wall time of run_backtest over `repeats` runs, and the last result."""
    times = time_engine_runs(candles, repeats, config)
    return times.best, times.median, times.result


def load_average() -> str:
    try:
        return ", ".join(f"{value:.2f}" for value in os.getloadavg())
    except OSError:
        return "unknown"


def run_reference(candles: Candles, config: BacktestConfig = CONFIG):
    """The same strategy in backtesting.py; returns (seconds, trades DataFrame)."""
    import pandas as pd
    from backtesting import Strategy
    from backtesting.lib import FractionalBacktest, crossover

    frame = pd.DataFrame(
        {
            "Open": candles.open,
            "High": candles.high,
            "Low": candles.low,
            "Close": candles.close,
            "Volume": candles.volume,
        },
        index=pd.DatetimeIndex(candles.time.astype("datetime64[ns]")),
    )
    sma20 = sma(candles.close, 20)
    sma50 = sma(candles.close, 50)
    rsi14 = rsi(candles.close, 14)
    slippage = config.slippage_pct
    stop = config.stop_loss_pct / 100
    target = config.take_profit_pct / 100
    size = config.max_position_size_pct / 100

    class SmaCrossRsi(Strategy):
        def init(self):
            self.fast = self.I(lambda: sma20, name="SMA20")
            self.slow = self.I(lambda: sma50, name="SMA50")
            self.rsi = self.I(lambda: rsi14, name="RSI14", overlay=False)
            # Opens in the (fractional-unit scaled) price units this Backtest trades in.
            self.opens = np.asarray(self.data.Open, dtype=np.float64).copy()

        def next(self):
            i = len(self.data) - 1
            if self.position:
                # crossover() requires a strict '<' on the previous bar, the engine '<='; on
                # float data the two only differ on exact ties.
                if crossover(self.slow, self.fast):
                    # The engine fills a pending exit at the open before any stop or target in
                    # that bar; backtesting.py would process its SL order first.
                    for trade in self.trades:
                        trade.sl = None
                        trade.tp = None
                    self.position.close()
            elif i + 1 < len(self.opens) and crossover(self.fast, self.slow) and self.rsi[-1] < 70:
                # The engine sets stop and target relative to the fill (next open + slippage);
                # backtesting.py needs absolute prices at order time, so read the next open.
                fill = self.opens[i + 1] * (1 + slippage)
                self.buy(size=size, sl=fill * (1 - stop), tp=fill * (1 + target))

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        backtest = FractionalBacktest(
            frame,
            SmaCrossRsi,
            cash=config.initial_capital,
            commission=config.commission_pct,
            spread=slippage,
            trade_on_close=False,
            exclusive_orders=False,
            finalize_trades=True,
            fractional_unit=1e-8,
        )
        started = time.perf_counter()
        stats = backtest.run()
        seconds = time.perf_counter() - started
    return seconds, stats["_trades"]


def compare_trades(result, reference, *, slippage: float, check_money: bool) -> dict[str, object]:
    """Match trades one to one on bars and prices (and sizes and P&L when check_money)."""
    ours = result.trades
    theirs = reference.reset_index(drop=True)
    report: dict[str, object] = {"ours": len(ours), "theirs": len(theirs)}
    mismatches = []
    end_of_data_note = None
    quantity_drift = 0.0
    for i in range(min(len(ours), len(theirs))):
        trade = ours[i]
        row = theirs.iloc[i]
        # backtesting.py applies `spread` only to the entry price; our exit price has slippage.
        our_exit_reference = trade.exit_price / (1 - slippage)
        problems = []
        if trade.entry_bar != int(row["EntryBar"]):
            problems.append(f"entry bar {trade.entry_bar} vs {int(row['EntryBar'])}")
        if trade.exit_bar != int(row["ExitBar"]):
            problems.append(f"exit bar {trade.exit_bar} vs {int(row['ExitBar'])}")
        if not np.isclose(trade.entry_price, row["EntryPrice"], rtol=PRICE_TOLERANCE):
            problems.append(f"entry price {trade.entry_price} vs {row['EntryPrice']}")
        if not np.isclose(our_exit_reference, row["ExitPrice"], rtol=PRICE_TOLERANCE):
            problems.append(f"exit price {our_exit_reference} vs {row['ExitPrice']}")
        quantity_drift = max(quantity_drift, abs(trade.quantity / row["Size"] - 1))
        if check_money:
            if not np.isclose(trade.quantity, row["Size"], rtol=QUANTITY_TOLERANCE):
                problems.append(f"quantity {trade.quantity} vs {row['Size']}")
            if not np.isclose(trade.net_pnl, row["PnL"], rtol=QUANTITY_TOLERANCE, atol=1e-6):
                problems.append(f"net P&L {trade.net_pnl} vs {row['PnL']}")
        if problems and trade.exit_signal == "end_of_data" and i == len(ours) - 1:
            # finalize_trades closes at the last bar's open; the engine at its close.
            end_of_data_note = "; ".join(problems)
            continue
        if problems:
            mismatches.append((i + 1, trade.exit_signal, problems))
    report["mismatches"] = len(mismatches) + abs(len(ours) - len(theirs))
    report["first_mismatches"] = mismatches[:3]
    report["end_of_data_note"] = end_of_data_note
    report["quantity_drift"] = quantity_drift
    return report


def print_comparison(report: dict[str, object], *, check_money: bool) -> bool:
    agree = report["mismatches"] == 0
    checked = "bars, prices" + (", quantities, net P&L" if check_money else "")
    print(
        f"  trades: engine {report['ours']:,}, backtesting.py {report['theirs']:,}; "
        f"lists agree on {checked}: {'yes' if agree else 'NO'}"
    )
    print(f"  largest relative quantity difference: {report['quantity_drift']:.2e}")
    if report["end_of_data_note"]:
        print(
            f"  last trade, closed at end of data, differs as documented: "
            f"{report['end_of_data_note']}"
        )
    for number, reason, problems in report["first_mismatches"]:
        print(f"  trade {number} ({reason}): {'; '.join(problems)}")
    return agree


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bars", type=int, default=1_000_000)
    parser.add_argument(
        "--reference-bars",
        type=int,
        default=None,
        help="bars for the backtesting.py comparison (default: all); the engine is re-timed on "
        "the same slice for the ratio",
    )
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--skip-reference", action="store_true")
    parser.add_argument(
        "--skip-money-check",
        action="store_true",
        help="skip the second, slippage-free comparison of sizes and P&L",
    )
    add_db_arguments(parser)
    args = parser.parse_args()
    if args.with_db:
        return run_with_db(args, generate_candles, time_engine, run_reference)

    started = time.perf_counter()
    candles = load_candles(args)
    print(f"data: {len(candles):,} synthetic 1m candles in {time.perf_counter() - started:.2f} s")

    print(f"load average before: {load_average()}")
    times = time_engine_runs(candles, args.repeats)
    best, median, result = times.best, times.median, times.result
    print(
        f"engine, {len(candles):,} bars: best {best:.3f} s, median {median:.3f} s "
        f"over {args.repeats} runs; {len(result.trades):,} trades"
    )
    print(
        f"engine CPU time (process_time): best {times.cpu_best:.3f} s, median "
        f"{times.cpu_median:.3f} s; load average after: {load_average()}"
    )
    if args.skip_reference:
        return 0

    bars = args.reference_bars or len(candles)
    subset = candles if bars >= len(candles) else candles.slice(0, bars)
    if subset is not candles:
        print(f"comparison slice: the first {bars:,} bars (backtesting.py on all would be slow)")
        best, median, result = time_engine(subset, args.repeats)
        print(f"engine, {bars:,} bars: best {best:.3f} s, median {median:.3f} s")
    reference_seconds, reference_trades = run_reference(subset)
    print(f"backtesting.py, {bars:,} bars: {reference_seconds:.2f} s")
    print(f"speed-up: {reference_seconds / median:.1f}x (backtesting.py / engine median)")
    print(
        f"comparison with costs (prices rtol {PRICE_TOLERANCE:g}; sizes drift apart because "
        "backtesting.py charges `spread` on entry only, the engine slippage on both fills):"
    )
    agree = print_comparison(
        compare_trades(result, reference_trades, slippage=CONFIG.slippage_pct, check_money=False),
        check_money=False,
    )
    if not args.skip_money_check:
        no_slippage = dataclasses.replace(CONFIG, slippage_pct=0.0)
        _best, _median, result = time_engine(subset, 1, no_slippage)
        _seconds, reference_trades = run_reference(subset, no_slippage)
        print(
            f"comparison without slippage (quantity and P&L rtol {QUANTITY_TOLERANCE:g}; "
            "backtesting.py sizes in whole satoshis):"
        )
        agree &= print_comparison(
            compare_trades(result, reference_trades, slippage=0.0, check_money=True),
            check_money=True,
        )
    return 0 if agree else 1


if __name__ == "__main__":
    raise SystemExit(main())
