"""`bench/backtest.py --with-db`: the way from stored candles to stored results, measured.

In one run, on the same 1,000,000 one-minute candles (bench/backtest.py's synthetic data, stored
once through marketdata's services under BENCH/USDT, so that their data version exists):
- the floor: a binary `COPY` of the candles' stored columns, read by the same Python client;
- the cold load: `candle_arrays()` with the array cache bypassed (the columnar path), and the
  warm load: `candle_arrays()` served by the array cache;
- the engine alone on the loaded candles;
- end to end through the Celery task (`run_backtest_task.apply()`: claim, load, engine, results
  and trades saved), cold (array cache emptied) and warm, in a worker process of its own, which
  also reports its peak RSS;
- backtesting.py on the same candles already in memory (skip with --skip-reference).
Needs the migrated databases of DJANGO_SETTINGS_MODULE (default apextrade.settings.dev).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
DB_SYMBOL = "BENCH/USDT"
DB_SOURCE = "bench"
BENCH_EMAIL = "bench-backtest@example.com"


def add_db_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("loading from the database")
    group.add_argument(
        "--with-db",
        action="store_true",
        help="the database path: COPY floor, cold and warm loads, engine, end to end through the "
        "Celery task, against backtesting.py in the same run",
    )
    group.add_argument("--db-symbol", default=DB_SYMBOL, help=f"default {DB_SYMBOL}")
    group.add_argument("--db-repeats", type=int, default=3, help="timed loads (default 3)")
    group.add_argument(
        "--skip-end-to-end", action="store_true", help="no run through the Celery task"
    )
    group.add_argument(
        "--drop-db-data", action="store_true", help="delete the bench candles afterwards"
    )
    group.add_argument(
        "--worker-run", nargs=2, metavar=("COLD_ID", "WARM_ID"), help=argparse.SUPPRESS
    )


def setup_django() -> None:
    import django

    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "apextrade.settings.dev")
    django.setup()


def window(candles):
    """[first bar, last bar + 1 minute) as aware datetimes."""
    from datetime import UTC, datetime, timedelta

    first = datetime.fromtimestamp(int(candles.time[0]) / 1e9, tz=UTC)
    last = datetime.fromtimestamp(int(candles.time[-1]) / 1e9, tz=UTC)
    return first, last + timedelta(minutes=1)


def store_candles(candles, symbol: str) -> tuple[int, float]:
    """Store the candles as 1m rows of `symbol` through marketdata's services unless exactly
    they are there with a data version: (rows written, seconds)."""
    from datetime import UTC, datetime

    from django.db import connections

    from marketdata.data_versions import data_version
    from marketdata.services import load_candle_rows

    start, end = window(candles)
    with connections["timeseries"].cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM ohlcv WHERE symbol = %s AND timeframe = '1m' "
            "AND time >= %s AND time < %s",
            [symbol, start, end],
        )
        stored = cursor.fetchone()[0]
    if stored == len(candles) and data_version(symbol=symbol) is not None:
        return 0, 0.0
    times = candles.time.view("datetime64[ns]").astype("datetime64[us]").astype(datetime)
    columns = [
        np.round(array, 8).astype(str)
        for array in (candles.open, candles.high, candles.low, candles.close, candles.volume)
    ]

    def rows():
        for i, moment in enumerate(times):
            yield (i + 2, moment.replace(tzinfo=UTC).isoformat(), *(c[i] for c in columns))

    started = time.perf_counter()
    drop_candles(symbol)
    result = load_candle_rows(rows=rows, symbol=symbol, timeframe="1m", source=DB_SOURCE)
    return result.report.rows_written, time.perf_counter() - started


def drop_candles(symbol: str) -> None:
    from django.db import connections

    with connections["timeseries"].cursor() as cursor:
        cursor.execute("DELETE FROM ohlcv WHERE symbol = %s AND source = %s", [symbol, DB_SOURCE])


def copy_floor(candles, symbol: str, *, lean: bool = False) -> float:
    """Seconds for a binary COPY of the candles' stored columns, read by this client: through
    psycopg's iteration (the issue's floor), or with `lean` straight from libpq's messages, as
    candle_arrays reads them (marketdata.columnar.read_and_decode, without its decoding)."""
    from django.db import connections

    start, end = window(candles)
    sql = (
        "COPY (SELECT time, open, high, low, close, volume FROM ohlcv WHERE symbol = %s "
        "AND timeframe = '1m' AND time >= %s AND time < %s ORDER BY time) "
        "TO STDOUT (FORMAT binary)"
    )
    started = time.perf_counter()
    data = bytearray()
    with (
        connections["timeseries"].cursor() as cursor,
        cursor.cursor.copy(sql, [symbol, start, end]) as copy,
    ):
        if lean:
            get_copy_data = cursor.cursor.connection.pgconn.get_copy_data
            while True:
                size, chunk = get_copy_data(0)
                data += chunk
                if size <= 2 and (size < 0 or chunk == b"\xff\xff"):
                    break
            assert not copy.read()
        else:
            for chunk in copy:
                data += chunk
    assert data
    return time.perf_counter() - started


def load(candles, symbol: str, *, use_cache: bool):
    from marketdata.selectors import candle_arrays
    from strategies.engine import Candles

    start, end = window(candles)
    arrays = candle_arrays(symbol=symbol, timeframe="1m", start=start, end=end, use_cache=use_cache)
    return Candles.from_arrays(
        arrays["time"], arrays["open"], arrays["high"], arrays["low"], arrays["close"],
        arrays["volume"],
    )  # fmt: skip


def timed(function, repeats: int) -> tuple[float, float, object]:
    times, result = [], None
    for _ in range(repeats):
        started = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - started)
    return min(times), statistics.median(times), result


def make_backtests(candles, symbol: str, count: int) -> list[str]:
    """`count` pending backtests of the bench strategy over the stored candles' days."""
    from datetime import timedelta
    from decimal import Decimal

    from backtest import CONFIG, ENTRY_RULES, EXIT_RULES

    from accounts.models import User
    from strategies.models import Strategy
    from strategies.services.backtests import start_backtest

    user = User.objects.filter(email=BENCH_EMAIL).first()
    if user is None:
        user = User.objects.create_user(email=BENCH_EMAIL, password=None)
    strategy, _ = Strategy.objects.update_or_create(
        user=user,
        name="bench SMA cross RSI",
        defaults={
            "asset_symbol": symbol,
            "timeframe": "1m",
            "entry_rules": ENTRY_RULES,
            "exit_rules": EXIT_RULES,
            "stop_loss_pct": Decimal(str(CONFIG.stop_loss_pct)),
            "take_profit_pct": Decimal(str(CONFIG.take_profit_pct)),
            "max_position_size_pct": Decimal(str(CONFIG.max_position_size_pct)),
        },
    )
    start, end = window(candles)
    return [
        str(
            start_backtest(
                user=user,
                strategy=strategy,
                start_date=start.date(),
                end_date=(end - timedelta(minutes=1)).date(),
                initial_capital=Decimal(str(CONFIG.initial_capital)),
                commission_pct=Decimal(str(CONFIG.commission_pct)),
                slippage_pct=Decimal(str(CONFIG.slippage_pct)),
                enqueue=False,
            ).pk
        )
        for _ in range(count)
    ]


def peak_rss_mb() -> float:
    """This process's own peak resident set: VmHWM belongs to the memory it has had since its
    execve, whereas getrusage's ru_maxrss is kept across execve (getrusage(2)) and so reported
    the bench's parent, several hundred MB larger, whenever the parent had been the bigger."""
    import resource

    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def worker_run(cold_id: str, warm_id: str) -> int:
    """In a process of its own, as a Celery worker would: run the task cold (array cache
    emptied), then warm; print the times, trades and peak RSS as JSON."""

    setup_django()
    from marketdata import array_cache
    from strategies.models import Backtest
    from strategies.tasks import run_backtest_task

    out = {}
    for name, backtest_id in (("cold", cold_id), ("warm", warm_id)):
        if name == "cold":
            array_cache.evict(limit=0)
        started = time.perf_counter()
        status = run_backtest_task.apply(args=[backtest_id]).get()
        out[name] = time.perf_counter() - started
        backtest = Backtest.objects.get(pk=backtest_id)
        out[f"{name}_status"] = status
        out[f"{name}_trades"] = backtest.total_trades
        out[f"{name}_error"] = backtest.error_message
    out["peak_rss_mb"] = peak_rss_mb()
    print(json.dumps(out))
    return 0


def run_with_db(args: argparse.Namespace, generate_candles, time_engine, run_reference) -> int:
    if args.worker_run:
        return worker_run(*args.worker_run)
    setup_django()
    from marketdata import array_cache

    generated = generate_candles(args.bars, args.seed)
    stored, seconds = store_candles(generated, args.db_symbol)
    if stored:
        print(f"stored {stored:,} 1m candles as {args.db_symbol} in {seconds:.1f} s (once)")
    else:
        print(f"{len(generated):,} 1m candles of {args.db_symbol} already stored")
    repeats = args.db_repeats

    floor_best, floor_median, _ = timed(lambda: copy_floor(generated, args.db_symbol), repeats)
    print(
        f"floor: binary COPY of the stored columns, read by psycopg: best {floor_best:.3f} s, "
        f"median {floor_median:.3f} s"
    )
    lean_best, lean_median, _ = timed(
        lambda: copy_floor(generated, args.db_symbol, lean=True), repeats
    )
    print(
        f"the same COPY read straight from libpq (as candle_arrays reads it): best "
        f"{lean_best:.3f} s, median {lean_median:.3f} s"
    )
    cold_best, cold_median, loaded = timed(
        lambda: load(generated, args.db_symbol, use_cache=False), repeats
    )
    if len(loaded) != len(generated) or not np.array_equal(loaded.time, generated.time):
        print(f"loaded {len(loaded):,} candles, expected {len(generated):,}: data differs")
        return 1
    price_error = float(np.max(np.abs(loaded.close - generated.close)))
    print(
        f"cold load (candle_arrays, binary COPY decoded by NumPy, + Candles): best "
        f"{cold_best:.3f} s, median {cold_median:.3f} s; largest close difference "
        f"{price_error:.1e}; cold / COPY {cold_median / floor_median:.2f}x (target <= 1.3x); "
        f"cold / libpq-read COPY {cold_median / lean_median:.2f}x"
    )
    array_cache.evict(limit=0)
    load(generated, args.db_symbol, use_cache=True)  # stores the entry
    warm_best, warm_median, warm = timed(
        lambda: load(generated, args.db_symbol, use_cache=True), repeats
    )
    assert np.array_equal(warm.close, loaded.close)
    print(
        f"warm load (array cache, memory-mapped): best {warm_best * 1000:.1f} ms, median "
        f"{warm_median * 1000:.1f} ms; warm / cold {warm_median / cold_median:.1%} "
        "(target <= 10%)"
    )
    engine_best, engine_median, result = time_engine(loaded, args.repeats)
    print(
        f"engine alone, {len(loaded):,} bars: best {engine_best:.3f} s, median "
        f"{engine_median:.3f} s over {args.repeats} runs; {len(result.trades):,} trades "
        "(target <= 0.1 s)"
    )
    e2e = None
    if not args.skip_end_to_end:
        ids = make_backtests(generated, args.db_symbol, 2)
        run = subprocess.run(
            [sys.executable, __file__.replace("backtest_db.py", "backtest.py"), "--with-db",
             "--worker-run", *ids],
            capture_output=True, text=True, check=False, env=os.environ.copy(),
        )  # fmt: skip
        if run.returncode:
            print(run.stdout, run.stderr)
            return 1
        e2e = json.loads(run.stdout.strip().splitlines()[-1])
        print(
            f"end to end through the Celery task (claim, load, engine, results + "
            f"{e2e['cold_trades']:,} trades saved): cold {e2e['cold']:.3f} s, warm "
            f"{e2e['warm']:.3f} s ({e2e['cold_status']}, {e2e['warm_status']}); worker peak "
            f"RSS {e2e['peak_rss_mb']:.0f} MB (target < 500 MB)"
        )
    if not args.skip_reference:
        reference_seconds, reference_trades = run_reference(generated)
        print(
            f"backtesting.py on the same candles in memory: {reference_seconds:.2f} s, "
            f"{len(reference_trades):,} trades"
        )
        if e2e:
            print(
                f"end to end vs backtesting.py: cold {reference_seconds / e2e['cold']:.1f}x "
                f"(target >= 3x), warm {reference_seconds / e2e['warm']:.1f}x (target >= 10x) "
                "faster"
            )
    if args.drop_db_data:
        drop_candles(args.db_symbol)
        print(f"dropped the {args.db_symbol} candles")
    return 0
