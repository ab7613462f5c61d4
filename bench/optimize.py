"""Optimisation benchmark: 1,000 variants of the bench strategy over 1,000,000 one-minute candles,
run by real Celery workers with 1 worker process and then with 2, in the same run; and
backtesting.py's optimize() over the same grid on a 100,000-candle slice for the speed-up per
variant.

Usage:
    .venv/bin/python bench/optimize.py                       # the full run (several minutes)
    .venv/bin/python bench/optimize.py --bars 200000 --processes 1,2 --skip-reference

What is timed, per worker count: from start_optimisation() (which sends the optimisation's chunk
group to the `optimise` queue) to the optimisation's status `completed`, as a user would wait for
it: every process loads the candles from the database once (its candle cache), runs its chunks
(one indicator cache per chunk) and stores the variants. The per-variant time is that wall time x
processes / variants (process-seconds per variant), compared with the mean time of one ordinary
engine run (run_backtest, nothing cached) over a sample of the same variants on in-memory candles.

Needs PostgreSQL and Redis as for the tests. It uses databases of its own (apextrade_bench and
apextrade_bench_ts on the DATABASE_URL server, created and migrated on first use, the candles
kept for the next run) and Redis database 13 as the broker, so that no other worker takes its
tasks. bench/README.md records results.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import time
import warnings
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

BENCH_ENV = {
    "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/apextrade_bench",
    "TIMESCALE_URL": "postgres://postgres@127.0.0.1:5432/apextrade_bench_ts",
    "REDIS_URL": "redis://127.0.0.1:6379/13",
    "DJANGO_SETTINGS_MODULE": "apextrade.settings.dev",
    # One optimisation of 1,000 variants per worker count, and a cap above it.
    "OPTIMISATION_VARIANTS_PER_HOUR": "1000000",
    "OPTIMISATION_MAX_VARIANTS": "100000",
    "OPTIMISATION_CHUNK_SIZE": "25",
}
WORKER_THREADS = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
FAST = "entry_rules.all[0].left.period"
SLOW = "entry_rules.all[0].right.period"
# 10 x 10 x 10 = 1,000 variants: two SMA periods (20 distinct series) and the stop.
GRID = {
    FAST: {"start": 10, "stop": 28, "step": 2},
    SLOW: {"start": 40, "stop": 85, "step": 5},
    "stop_loss_pct": {"start": 1.0, "stop": 3.25, "step": 0.25},
}
SYMBOL = "BENCHOPT/USDT"


def setup_django() -> None:
    for key, value in BENCH_ENV.items():
        os.environ.setdefault(key, value)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("create_databases", verbosity=0)
    call_command("migrate", database="default", verbosity=0, interactive=False)
    call_command("migrate", database="timeseries", verbosity=0, interactive=False)


def bench_strategy():
    from accounts.models import User
    from bench.backtest import CONFIG, ENTRY_RULES, EXIT_RULES
    from strategies.models import Strategy

    user, _ = User.objects.get_or_create(
        email="bench-optimise@apextrade.local", defaults={"first_name": "Bench"}
    )
    strategy = Strategy.objects.filter(user=user, name="Bench SMA cross").first()
    if strategy is None:
        strategy = Strategy.objects.create(
            user=user,
            name="Bench SMA cross",
            asset_symbol=SYMBOL,
            timeframe="1m",
            entry_rules=ENTRY_RULES,
            exit_rules=EXIT_RULES,
            stop_loss_pct=Decimal(str(CONFIG.stop_loss_pct)),
            take_profit_pct=Decimal(str(CONFIG.take_profit_pct)),
            max_position_size_pct=Decimal(str(CONFIG.max_position_size_pct)),
        )
    return strategy


def start_worker(processes: int) -> subprocess.Popen:
    """A Celery worker on the optimise queue with `processes` prefork children; returns once it
    answers a ping."""
    from apextrade.celery import app

    # One BLAS thread per worker process (docs/optimisation.md): the indicators' blocked
    # recurrences use matrix products, and OpenBLAS's own threads (one per core, spinning after
    # each product) would fight the other worker processes for the same cores.
    env = {**os.environ, **BENCH_ENV, **WORKER_THREADS}
    worker = subprocess.Popen(
        [
            str(ROOT / ".venv/bin/celery"),
            "-A",
            "apextrade",
            "worker",
            "-Q",
            "optimise",
            "--concurrency",
            str(processes),
            "--prefetch-multiplier",
            "1",
            "--without-gossip",
            "--without-mingle",
            "--loglevel",
            "WARNING",
            "-n",
            f"bench{processes}-{os.getpid()}@%h",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if app.control.ping(timeout=1.0):
            return worker
    worker.terminate()
    raise SystemExit("the Celery worker did not start within 60 s")


def stop_worker(worker: subprocess.Popen) -> None:
    worker.terminate()  # warm shutdown of the worker this script started, by its own pid
    try:
        worker.wait(timeout=30)
    except subprocess.TimeoutExpired:
        worker.kill()


def run_optimisation(strategy, first_day, last_day, processes: int) -> tuple[float, object]:
    from strategies.models import Optimisation
    from strategies.services.optimisations import start_optimisation

    worker = start_worker(processes)
    try:
        started = time.perf_counter()
        run = start_optimisation(
            user=strategy.user,
            strategy=strategy,
            start_date=first_day,
            end_date=last_day,
            initial_capital=Decimal("100000"),
            commission_pct=Decimal("0.0010"),
            slippage_pct=Decimal("0.0005"),
            parameter_space=GRID,
            objective="sharpe",
        )
        while True:
            run.refresh_from_db()
            if run.status in Optimisation.FINISHED_STATUSES:
                break
            time.sleep(0.25)
        seconds = time.perf_counter() - started
    finally:
        stop_worker(worker)
    if run.status != "completed":
        raise SystemExit(f"optimisation {run.pk} {run.status}: {run.error_message}")
    return seconds, run


def grid_variants() -> list[dict]:
    from bench.backtest import ENTRY_RULES, EXIT_RULES
    from strategies.optimisation import parse_space, search_variants

    space = parse_space(GRID, trees={"entry_rules": ENTRY_RULES, "exit_rules": EXIT_RULES})
    return search_variants(space, method="grid", max_variants=10_000)


def engine_run_time(candles, variants: list[dict], sample: int, seed: int = 1) -> float:
    """Mean wall time of one ordinary engine run (fresh indicators) over a sample of variants."""
    from bench.backtest import CONFIG, ENTRY_RULES, EXIT_RULES
    from strategies.engine import run_backtest
    from strategies.optimisation import variant_inputs

    snapshot = {"entry_rules": ENTRY_RULES, "exit_rules": EXIT_RULES}
    times = []
    for parameters in random.Random(seed).sample(variants, sample):
        entry, exit_, config = variant_inputs(snapshot, parameters, CONFIG)
        started = time.perf_counter()
        run_backtest(candles, entry_rules=entry, exit_rules=exit_, config=config)
        times.append(time.perf_counter() - started)
    return statistics.fmean(times)


def engine_grid_time(candles, variants: list[dict], chunk_size: int = 25) -> float:
    """Seconds per variant for the whole grid run as the workers run it (a shared indicator
    cache per chunk), in this process."""
    from bench.backtest import CONFIG, ENTRY_RULES, EXIT_RULES
    from strategies.optimisation import run_variant

    snapshot = {"entry_rules": ENTRY_RULES, "exit_rules": EXIT_RULES}
    started = time.perf_counter()
    for first in range(0, len(variants), chunk_size):
        cache: dict = {}
        for number in range(first, min(first + chunk_size, len(variants))):
            run_variant(
                candles,
                number=number,
                snapshot=snapshot,
                parameters=variants[number],
                base_config=CONFIG,
                objective="sharpe",
                constraints={},
                indicator_cache=cache,
            )
    return (time.perf_counter() - started) / len(variants)


# backtesting.py's strategy for the reference: a module-level class, so that optimize() can hand
# it to its pool. Fast and slow SMA and the stop are the optimised parameters; the target and the
# position size are the bench strategy's.
def _reference_strategy():
    from backtesting import Strategy
    from backtesting.lib import crossover
    from backtesting.test import SMA

    from bench.backtest import CONFIG
    from strategies.rules.indicators import rsi

    target = CONFIG.take_profit_pct / 100
    size = CONFIG.max_position_size_pct / 100

    class SmaCrossRsi(Strategy):
        fast = 20
        slow = 50
        stop = 2.0

        def init(self):
            self.fast_ma = self.I(SMA, self.data.Close, self.fast)
            self.slow_ma = self.I(SMA, self.data.Close, self.slow)
            self.rsi = self.I(rsi, self.data.Close, 14)

        def next(self):
            if self.position:
                if crossover(self.slow_ma, self.fast_ma):
                    self.position.close()
            elif crossover(self.fast_ma, self.slow_ma) and self.rsi[-1] < 70:
                price = self.data.Close[-1]
                self.buy(size=size, sl=price * (1 - self.stop / 100), tp=price * (1 + target))

    return SmaCrossRsi


def reference_optimize(candles, tries: int) -> tuple[float, int]:
    """backtesting.py's optimize() over the same grid (fast, slow, stop), `tries` variants drawn
    from it (max_tries), on the same candles, in one process (its pool replaced by a one-thread
    pool, so that per variant it is compared with one engine process): seconds per variant and
    the variants run."""
    from multiprocessing.dummy import Pool as ThreadPool

    import backtesting
    import pandas as pd
    from backtesting.lib import FractionalBacktest

    from bench.backtest import CONFIG

    backtesting.Pool = lambda *args, **kwargs: ThreadPool(1)
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
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        backtest = FractionalBacktest(
            frame,
            _reference_strategy(),
            cash=CONFIG.initial_capital,
            commission=CONFIG.commission_pct,
            spread=CONFIG.slippage_pct,
            finalize_trades=True,
            fractional_unit=1e-8,
        )
        started = time.perf_counter()
        _stats, heatmap = backtest.optimize(
            fast=list(range(10, 29, 2)),
            slow=list(range(40, 86, 5)),
            stop=[1.0 + 0.25 * i for i in range(10)],
            maximize="Sharpe Ratio",
            max_tries=tries,
            random_state=0,
            return_heatmap=True,
        )
        seconds = time.perf_counter() - started
    return seconds / len(heatmap), len(heatmap)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bars", type=int, default=1_000_000)
    parser.add_argument("--processes", default="1,2", help="worker process counts, in order")
    parser.add_argument("--sample", type=int, default=20, help="engine runs for the baseline")
    parser.add_argument("--reference-bars", type=int, default=100_000)
    parser.add_argument(
        "--reference-tries",
        type=int,
        default=100,
        help="variants of the grid backtesting.py runs (its max_tries; all 1,000 take long)",
    )
    parser.add_argument("--skip-reference", action="store_true")
    parser.add_argument(
        "--skip-workers", action="store_true", help="only the per-variant comparison"
    )
    args = parser.parse_args()

    setup_django()
    from datetime import timedelta

    from bench.backtest import generate_candles
    from bench.backtest_db import store_candles
    from bench.backtest_db import window as _window

    candles = generate_candles(args.bars, 7)
    stored, seconds = store_candles(candles, SYMBOL)
    print(
        f"data: {len(candles):,} synthetic 1m candles"
        + (f", stored in {seconds:.1f} s" if stored else ", already stored")
    )
    start, end = _window(candles)
    first_day, last_day = start.date(), (end - timedelta(minutes=1)).date()
    strategy = bench_strategy()
    variants = grid_variants()
    print(f"grid: {len(variants):,} variants ({', '.join(GRID)})")

    baseline = engine_run_time(candles, variants, args.sample)
    print(
        f"one engine run on in-memory candles (mean of {args.sample} variants, nothing cached): "
        f"{baseline:.3f} s"
    )
    load = os.getloadavg()
    print(f"load average before the worker runs: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")

    walls = {}
    counts = [] if args.skip_workers else [int(p) for p in args.processes.split(",")]
    for processes in counts:
        wall, run = run_optimisation(strategy, first_day, last_day, processes)
        walls[processes] = wall
        per_variant = wall * processes / run.variants_total
        print(
            f"{processes} worker process{'es' if processes > 1 else ''}: {run.variants_total:,} "
            f"variants in {wall:.1f} s; {per_variant:.3f} process-s per variant "
            f"({per_variant / baseline:.2f}x one engine run)"
        )
    if 1 in walls and 2 in walls:
        print(f"speed-up, 2 processes vs 1: {walls[1] / walls[2]:.2f}x (target >= 1.8x)")
    print(f"load average after: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")

    if args.skip_reference:
        return 0
    subset = candles.slice(0, min(args.reference_bars, len(candles)))
    ours = engine_grid_time(subset, variants)
    print(
        f"engine, whole grid on {len(subset):,} bars in one process: {ours * 1000:.1f} ms per "
        "variant"
    )
    theirs, tried = reference_optimize(subset, args.reference_tries)
    print(
        f"backtesting.py optimize(), {tried} variants of the grid on {len(subset):,} bars: "
        f"{theirs * 1000:.1f} ms per variant"
    )
    print(f"speed-up per variant: {theirs / ours:.1f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
