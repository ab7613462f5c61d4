"""Many-files import benchmark: a year of 1m klines (525,600 rows) as 12 monthly Binance
public-data files through `manage.py import_ohlcv`, against the same rows in one Binance file,
imported in the same run into the same database.

Usage:
    .venv/bin/python bench/import_files.py                 # 525,600 rows, dev settings
    .venv/bin/python bench/import_files.py --runs 5
    TIMESCALE_URL=postgres://postgres@127.0.0.1:5433/apextrade_ts \\
        .venv/bin/python bench/import_files.py

The files (synthetic GBM candles of 2025, seed 3; no header, open time in epoch milliseconds,
twelve columns as Binance writes them) are made once and kept in /tmp. Each timed import goes
into symbol BENCH/FILES of the configured timeseries database, emptied of that symbol before
each import and afterwards. Single-file and 12-file imports alternate, so that a change in the
machine's load affects both; the best of each is compared. Figures are wall-clock seconds.
"""

import argparse
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from io import StringIO
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "apextrade.settings.dev")

import django

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connections  # noqa: E402

from marketdata.synthetic import synthetic_candles  # noqa: E402
from marketdata.timescale import mode_name  # noqa: E402

SYMBOL = "BENCH/FILES"
YEAR = 2025
ROWS = 525_600  # 365 days of minutes


def kline_lines(candles: dict[str, np.ndarray], part: slice) -> str:
    opened = candles["time"][part].astype("datetime64[ms]").astype(np.int64)
    columns = [
        opened.astype(str),
        *(np.char.mod("%.8f", candles[key][part]) for key in ("open", "high", "low", "close")),
        np.char.mod("%.8f", candles["volume"][part]),
        (opened + 59_999).astype(str),
        np.char.mod("%.8f", candles["volume"][part] * candles["close"][part]),
        np.full(len(opened), "100"),
        np.char.mod("%.8f", candles["volume"][part] / 2),
        np.char.mod("%.8f", candles["volume"][part] * candles["close"][part] / 2),
        np.full(len(opened), "0"),
    ]
    return "\n".join(",".join(row) for row in zip(*columns, strict=True)) + "\n"


def make_files(directory: Path) -> tuple[Path, list[Path]]:
    """One file of the whole year and twelve monthly files, made once."""
    single = directory / f"BENCHUSDT-1m-{YEAR}.csv"
    monthly = [directory / f"BENCHUSDT-1m-{YEAR}-{month:02d}.csv" for month in range(1, 13)]
    if single.exists() and all(path.exists() for path in monthly):
        return single, monthly
    directory.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    candles = synthetic_candles(
        bars=ROWS, timeframe="1m", start=datetime(YEAR, 1, 1, tzinfo=UTC), seed=3, price=30_000.0
    )
    months = candles["time"].astype("datetime64[M]")
    with single.open("w") as whole:
        for month, path in enumerate(monthly, start=1):
            indexes = np.flatnonzero(months == np.datetime64(f"{YEAR}-{month:02d}"))
            text = kline_lines(candles, slice(indexes[0], indexes[-1] + 1))
            path.write_text(text)
            whole.write(text)
    print(f"made the files in {time.perf_counter() - started:.1f} s")
    return single, monthly


def forget_symbol() -> None:
    with connections["timeseries"].cursor() as cursor:
        cursor.execute("DELETE FROM ohlcv WHERE symbol = %s", [SYMBOL])
        cursor.execute("DELETE FROM ohlcv_rollup_invalidations WHERE symbol = %s", [SYMBOL])
        if mode_name() == "plain":
            for rollup in ("ohlcv_1h", "ohlcv_1d"):
                cursor.execute(f"DELETE FROM {rollup} WHERE symbol = %s", [SYMBOL])
        cursor.execute("VACUUM ANALYZE ohlcv")


def backend_cpu_seconds(pid: int) -> float:
    """CPU time (user + system) so far of a PostgreSQL backend on this machine."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def import_once(paths: list[Path], *extra: str) -> tuple[float, float, float, str]:
    """(whole command seconds, load seconds, CPU seconds of this process and its PostgreSQL
    backend, the series summary) of one import."""
    forget_symbol()
    with connections["timeseries"].cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        backend = cursor.fetchone()[0]
    out = StringIO()
    cpu = time.process_time() + backend_cpu_seconds(backend)
    started = time.perf_counter()
    call_command(
        "import_ohlcv", *map(str, paths), "--symbol", SYMBOL, "--timeframe", "1m",
        "--source", "bench", "--no-progress", *extra, stdout=out,
    )  # fmt: skip
    seconds = time.perf_counter() - started
    cpu = time.process_time() + backend_cpu_seconds(backend) - cpu
    summary = next(line for line in out.getvalue().splitlines() if line.startswith(SYMBOL))
    loaded = float(summary.split("loaded in ")[1].split(" s")[0]) if "loaded in" in summary else 0
    return seconds, loaded, cpu, summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="timed imports of each kind")
    args = parser.parse_args()

    single, monthly = make_files(Path(tempfile.gettempdir()) / "apextrade-bench-klines")
    size_mb = single.stat().st_size / 1e6
    print(f"files: {single.name} ({size_mb:.0f} MB) and 12 monthly files; mode: {mode_name()}")

    one, twelve = [], []
    for _ in range(args.runs):
        one.append(import_once([single]))
        twelve.append(import_once(monthly))
    dry = import_once(monthly, "--dry-run")
    forget_symbol()

    def best(runs: list[tuple], index: int) -> float:
        return min(run[index] for run in runs)

    def median(runs: list[tuple], index: int) -> float:
        return statistics.median(run[index] for run in runs)

    def rate(seconds: float) -> str:
        return f"{ROWS / seconds:>9,.0f} rows/s ({seconds:6.2f} s)"

    for label, runs in (("one file", one), ("12 files", twelve)):
        print(
            f"{label:9}  whole command best {rate(best(runs, 0))}, median {rate(median(runs, 0))};"
            f" load only best {rate(best(runs, 1))}; CPU (client + backend) best "
            f"{best(runs, 2):.2f} s"
        )
    print(f"12 files, --dry-run: {rate(dry[0])}; CPU {dry[2]:.2f} s")
    print(
        "12 files / one file, rate: whole command "
        f"{best(one, 0) / best(twelve, 0):.0%} best, {median(one, 0) / median(twelve, 0):.0%} "
        f"median; load only {best(one, 1) / best(twelve, 1):.0%} best; CPU "
        f"{best(one, 2) / best(twelve, 2):.0%} best (target >= 90%)"
    )

    def runs_text(runs: list[tuple]) -> str:
        return ", ".join(f"{w:.1f}/{lo:.1f}/{c:.1f}" for w, lo, c, _ in runs)

    print(
        f"all runs (whole / load / CPU s): one file {runs_text(one)}; 12 files {runs_text(twelve)}"
    )
    print(f"load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"last 12-file import said: {twelve[-1][3]}")
    print(f"dry run said: {dry[3]}")


if __name__ == "__main__":
    main()
