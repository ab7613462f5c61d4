"""Strategy evaluation benchmark: 1,000 active paper strategies over 50 symbols, all evaluated
when a new 1m candle closes on every symbol.

Usage:
    .venv/bin/python bench/strategy_eval.py                 # seeds once, then measures
    .venv/bin/python bench/strategy_eval.py --rounds 10
    .venv/bin/python bench/strategy_eval.py --drop          # delete the bench rows afterwards

Data: 50 symbols (BS.../USDT) x 20,000 one-minute candles of history (a wavy series generated in
SQL), 1,000 strategies (20 per symbol) crossing an SMA of 5-24 bars over one of 25-64 bars, each
deployed in a paper portfolio of its own.

What is timed, as production does it: each symbol's new candle arrives as its own
`trading.tasks.process_candle` task, so a round is 50 calls of that task's body (called in
this process, not through the broker): for each symbol the paper exchange's `on_price` for the
candle, then `evaluate_strategies` for that one symbol (its 20 deployed strategies, their
window of candles, positions, waiting orders, the rules, the orders the signals place, the
evaluated-close marks). Wall time and CPU time (`time.process_time`) of the round; each round
is rolled back so every round sees the same state (so the orders' and marks' commits are not in
the time: inside the round's transaction each call's own transaction is a savepoint).

Baselines, measured in the same run:
- batched: one `evaluate_strategies` call for all 50 symbols (what this bench timed before; not
  what production does, and without the paper exchange's pass);
- whole history: evaluating each strategy over its whole history (20,000 bars), which is what
  re-running the rules without an incremental window costs; measured on `--baseline-symbols`
  symbols and scaled to 50.
Load averages (1, 5, 15 min) are printed before and after the timed part.
"""

import argparse
import datetime as dt
import os
import statistics
import sys
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "apextrade.settings.dev")

import django

django.setup()

from django.db import connections, transaction  # noqa: E402

from accounts.models import User  # noqa: E402
from marketdata.selectors import candle_arrays  # noqa: E402
from strategies.engine import Candles  # noqa: E402
from strategies.models import Strategy  # noqa: E402
from strategies.rules.evaluate import evaluate_rules  # noqa: E402
from trading.models import Portfolio, StrategyDeployment  # noqa: E402
from trading.strategy_runs import evaluate_strategies  # noqa: E402
from trading.tasks import process_candle  # noqa: E402

SYMBOLS = 50
PER_SYMBOL = 20
BARS = 20_000
START = dt.datetime(2026, 1, 5, tzinfo=dt.UTC)
END = START + dt.timedelta(minutes=BARS)
BENCH_EMAIL = "strategy-bench@apextrade.local"


def symbol(n: int) -> str:
    return f"BS{chr(65 + n // 26)}{chr(65 + n % 26)}/USDT"


SEED_SQL = """
INSERT INTO ohlcv (time, symbol, timeframe, open, high, low, close, volume, source)
SELECT %(start)s::timestamptz + i * INTERVAL '1 minute', %(symbol)s, '1m',
       p.o, greatest(p.o, p.c) + 0.05, least(p.o, p.c) - 0.05, p.c, 10, 'bench'
FROM generate_series(0, %(bars)s - 1) AS i,
LATERAL (
    SELECT round((100 + 5 * sin(i / (20.0 + %(n)s)) + 2 * sin(i / 3.1))::numeric, 8) AS o,
           round((100 + 5 * sin((i + 1) / (20.0 + %(n)s)) + 2 * sin((i + 1) / 3.1))::numeric, 8)
               AS c
) AS p
ON CONFLICT DO NOTHING
"""


def rules(fast: int, slow: int, op: str) -> dict:
    return {
        "all": [
            {
                "left": {"indicator": "sma", "period": fast},
                "op": op,
                "right": {"indicator": "sma", "period": slow},
            }
        ]
    }


def seed() -> User:
    user, _ = User.objects.get_or_create(email=BENCH_EMAIL, defaults={"first_name": "Bench"})
    for n in range(SYMBOLS):
        with connections["timeseries"].cursor() as cursor:
            cursor.execute("SELECT count(*) FROM ohlcv WHERE symbol = %s", [symbol(n)])
            if cursor.fetchone()[0] == BARS:
                continue
            cursor.execute(SEED_SQL, {"start": START, "symbol": symbol(n), "bars": BARS, "n": n})
    if StrategyDeployment.objects.filter(strategy__user=user).count() == SYMBOLS * PER_SYMBOL:
        return user
    Strategy.objects.filter(user=user).delete()
    Portfolio.objects.filter(user=user).delete()
    for n in range(SYMBOLS):
        for k in range(PER_SYMBOL):
            fast, slow = 5 + k, 25 + 2 * k
            strategy = Strategy.objects.create(
                user=user,
                name=f"bench {n}-{k}",
                asset_symbol=symbol(n),
                timeframe="1m",
                entry_rules=rules(fast, slow, "crosses_above"),
                exit_rules=rules(fast, slow, "crosses_below"),
                status=Strategy.Status.ACTIVE,
                trading_mode="paper",
            )
            portfolio = Portfolio.objects.create(
                user=user,
                name=f"bench {n}-{k}",
                initial_balance=Decimal("10000"),
                cash_balance=Decimal("10000"),
                total_value=Decimal("10000"),
            )
            StrategyDeployment.objects.create(strategy=strategy, portfolio=portfolio)
    return user


class Rollback(Exception):
    pass


def newest_candles() -> dict[str, list[str]]:
    """Each symbol's candle closing at END, as process_candle's arguments after the symbol."""
    with connections["timeseries"].cursor() as cursor:
        cursor.execute(
            "SELECT symbol, open, high, low, close, volume FROM ohlcv WHERE timeframe = '1m' "
            "AND time = %s AND symbol = ANY(%s)",
            [END - dt.timedelta(minutes=1), [symbol(n) for n in range(SYMBOLS)]],
        )
        rows = cursor.fetchall()
    return {row[0]: ["1m", END.isoformat(), *(str(value) for value in row[1:])] for row in rows}


def timed_round(work) -> tuple[float, float, int]:
    """(wall seconds, CPU seconds, orders placed) of `work()`, rolled back."""
    placed = 0
    wall = cpu = 0.0
    try:
        with transaction.atomic():
            started, started_cpu = time.perf_counter(), time.process_time()
            placed = work()
            wall = time.perf_counter() - started
            cpu = time.process_time() - started_cpu
            raise Rollback
    except Rollback:
        pass
    return wall, cpu, placed


def per_symbol_tasks(candles: dict[str, list[str]]) -> int:
    """What the workers do for one new 1m candle on every symbol: one task body per symbol."""
    return sum(process_candle(name, *args) for name, args in candles.items())


def batched() -> int:
    return len(
        evaluate_strategies(
            timeframe="1m", close_at=END, symbols=[symbol(n) for n in range(SYMBOLS)]
        )
    )


def summary(name: str, rounds: list[tuple[float, float, int]]) -> tuple[float, float]:
    walls = [wall for wall, _cpu, _placed in rounds]
    cpus = [cpu for _wall, cpu, _placed in rounds]
    print(
        f"{name}: wall median {statistics.median(walls):.3f} s, best {min(walls):.3f} s; "
        f"CPU median {statistics.median(cpus):.3f} s, best {min(cpus):.3f} s "
        f"over {len(rounds)} rounds; {rounds[0][2]} orders placed"
    )
    return statistics.median(walls), min(walls)


def load_average() -> str:
    return ", ".join(f"{value:.2f}" for value in os.getloadavg())


def full_history(symbols: int) -> float:
    started = time.perf_counter()
    for n in range(symbols):
        arrays = candle_arrays(symbol=symbol(n), timeframe="1m", start=START, end=END)
        candles = Candles.from_arrays(**arrays)
        for strategy in Strategy.objects.filter(asset_symbol=symbol(n), status="active"):
            evaluate_rules(strategy.entry_rules, candles)[-1]
            evaluate_rules(strategy.exit_rules, candles)[-1]
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--baseline-symbols", type=int, default=10)
    parser.add_argument("--drop", action="store_true")
    args = parser.parse_args()
    started = time.perf_counter()
    user = seed()
    print(
        f"data ready in {time.perf_counter() - started:.1f} s: {SYMBOLS} symbols x {BARS:,} "
        f"1m candles, {SYMBOLS * PER_SYMBOL:,} active strategies"
    )
    candles = newest_candles()
    assert len(candles) == SYMBOLS, "every symbol needs its candle closing at END"
    print(f"load average before: {load_average()}")
    # Alternated, so both see the same machine load.
    tasks_rounds, batched_rounds = [], []
    for _ in range(args.rounds):
        tasks_rounds.append(timed_round(lambda: per_symbol_tasks(candles)))
        batched_rounds.append(timed_round(batched))
    tasks_median, tasks_best = summary(
        f"per symbol (process_candle x {SYMBOLS}, as the workers run it)", tasks_rounds
    )
    batched_median, _ = summary(
        f"batched (one evaluate_strategies call for {SYMBOLS} symbols)", batched_rounds
    )
    print(f"load average after: {load_average()}")
    print(
        f"per symbol / batched (medians): {tasks_median / batched_median:.2f}x; "
        f"target: per symbol < 1 s per new 1m candle on {SYMBOLS} symbols "
        f"({'met' if tasks_median < 1 else 'NOT met'}: median {tasks_median:.3f} s, "
        f"best {tasks_best:.3f} s)"
    )
    baseline = full_history(args.baseline_symbols) * SYMBOLS / args.baseline_symbols
    print(
        f"baseline (whole history, {args.baseline_symbols} symbols scaled to {SYMBOLS}): "
        f"{baseline:.3f} s; whole history / per symbol median = {baseline / tasks_median:.1f}x"
    )
    if args.drop:
        Strategy.objects.filter(user=user).delete()
        Portfolio.objects.filter(user=user).delete()
        with connections["timeseries"].cursor() as cursor:
            cursor.execute("DELETE FROM ohlcv WHERE symbol LIKE 'BS%%/USDT'")


if __name__ == "__main__":
    main()
