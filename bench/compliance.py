"""Compliance benchmark: verify_audit_log over a 1,000,000-row audit log, GDPR export throughput
and memory, archival throughput; each against a baseline measured in the same run.

Usage (its own databases, so that it never touches anyone else's):
    export DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_compliance
    export TIMESCALE_URL=postgres://postgres@127.0.0.1:5432/bench_compliance_ts
    .venv/bin/python manage.py create_databases && .venv/bin/python manage.py migrate
    .venv/bin/python manage.py migrate --database timeseries
    .venv/bin/python bench/compliance.py                       # 1M audit rows, 200k export rows
    .venv/bin/python bench/compliance.py --audit-rows 200000 --export-rows 50000

Baselines: verify_audit_log against `COPY audit_logs TO '/dev/null'` (PostgreSQL writing every
column of every row as text once: what any check of every row must at least read), in wall time
and in the CPU time of the PostgreSQL backend; the chained INSERT against the same INSERT into a
copy of the table without the trigger; the export and the archival job against iterating the same
rows through the ORM's server-side cursor without encoding or writing them. The machine's load
average is printed next to the timings: wall times on a shared machine say more about the others
than about the code, CPU times and ratios do not.
"""

import argparse
import datetime as dt
import os
import subprocess
import sys
import tempfile
import time
import tracemalloc
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "apextrade.settings.dev")

import django

django.setup()

from django.db import connection  # noqa: E402
from django.test import override_settings  # noqa: E402
from django.utils import timezone  # noqa: E402

from accounts.models import User  # noqa: E402
from compliance.audit_chain import verify_audit_chain  # noqa: E402
from compliance.gdpr.export import stream_user_export  # noqa: E402
from compliance.retention import jobs  # noqa: E402
from strategies.models import Backtest, BacktestTrade, Strategy  # noqa: E402

SEED_AUDIT = """
INSERT INTO {table} (user_id, action, resource_type, resource_id, ip_address, user_agent,
                     old_values, new_values, metadata, created_at)
SELECT NULL, 'update', 'strategy', gen_random_uuid(), '192.0.2.1', 'bench',
       jsonb_build_object('name', 'old ' || i, 'stop_loss_pct', '2.00'),
       jsonb_build_object('name', 'new ' || i, 'stop_loss_pct', '2.50'),
       '{{"channel": "api"}}'::jsonb, now()
FROM generate_series(1, %s) AS i
"""


def timed(label: str, function):
    start = time.perf_counter()
    result = function()
    elapsed = time.perf_counter() - start
    print(f"  {label}: {elapsed:.2f} s")
    return elapsed, result


def load_average() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg()) + f" on {os.cpu_count()} cores"


def backend_cpu_seconds(pid: int) -> float:
    """CPU time (user + system) so far of a PostgreSQL backend on this machine."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def best_of(runs: int, function) -> tuple[float, float, object]:
    """(best wall seconds, the backend's CPU seconds in that run, the result) of `runs` runs."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    best = None
    for _ in range(runs):
        cpu = backend_cpu_seconds(pid)
        started = time.perf_counter()
        result = function()
        wall = time.perf_counter() - started
        cpu = backend_cpu_seconds(pid) - cpu
        if best is None or wall < best[0]:
            best = (wall, cpu, result)
    return best


def copy_to_nowhere() -> None:
    with connection.cursor() as cursor:
        cursor.execute("COPY audit_logs TO '/dev/null'")


def seed_audit(rows: int) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM audit_logs")
        existing = cursor.fetchone()[0]
        if existing < rows:
            cursor.execute(
                "CREATE TEMP TABLE audit_copy (LIKE audit_logs INCLUDING DEFAULTS"
                " INCLUDING IDENTITY INCLUDING INDEXES)"
            )
            plain, _ = timed(
                "INSERT without the chain (baseline)",
                lambda: cursor.execute(SEED_AUDIT.format(table="audit_copy"), [rows - existing]),
            )
            chained, _ = timed(
                "INSERT with the chain trigger",
                lambda: cursor.execute(SEED_AUDIT.format(table="audit_logs"), [rows - existing]),
            )
            print(
                f"  chained insert: {(rows - existing) / chained:,.0f} rows/s, "
                f"{chained / plain:.1f}x the plain insert"
            )
            cursor.execute("DROP TABLE audit_copy")
        cursor.execute("VACUUM ANALYZE audit_logs")


def bench_audit(rows: int, runs: int) -> None:
    print(f"audit log: {rows:,} rows")
    seed_audit(rows)
    print(f"  load average before: {load_average()}")
    base_wall, base_cpu, _ = best_of(runs, copy_to_nowhere)
    print(
        f"  COPY audit_logs TO '/dev/null' (baseline): {base_wall:.2f} s, "
        f"backend CPU {base_cpu:.2f} s (best of {runs})"
    )
    wall, leader_cpu, report = best_of(runs, verify_audit_chain)
    assert report.intact, report.first_break
    print(
        f"  verify_audit_chain(): {wall:.2f} s (best of {runs}), {report.rows:,} rows intact, "
        f"{report.rows / wall:,.0f} rows/s; {wall / base_wall:.1f}x the baseline's wall time "
        f"(leader's CPU {leader_cpu:.2f} s; its parallel workers' CPU is not counted)"
    )
    # All of the work in the one backend, to count its CPU time.
    with connection.cursor() as cursor:
        cursor.execute("SET max_parallel_workers_per_gather = 0")
    try:
        serial_wall, serial_cpu, _ = best_of(runs, verify_audit_chain)
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET max_parallel_workers_per_gather")
    print(
        f"  verify_audit_chain() without parallel workers: {serial_wall:.2f} s, "
        f"backend CPU {serial_cpu:.2f} s = {serial_cpu / base_cpu:.1f}x the baseline's CPU, "
        f"{report.rows / serial_cpu:,.0f} rows per CPU second"
    )
    best_wall, best_cpu = None, None
    for _ in range(runs):
        started = time.perf_counter()
        before = os.times()
        subprocess.run(
            [sys.executable, "manage.py", "verify_audit_log"],
            cwd=Path(__file__).resolve().parent.parent,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        wall = time.perf_counter() - started
        after = os.times()
        if best_wall is None or wall < best_wall:
            best_wall = wall
            best_cpu = sum(after[2:4]) - sum(before[2:4])  # the child's user + system
    print(
        f"  manage.py verify_audit_log, a new process end to end: {best_wall:.2f} s "
        f"(best of {runs}; the Python process's own CPU {best_cpu:.2f} s, Django's start "
        f"included)"
    )
    print(f"  load average after: {load_average()}")


def seed_backtests(user: User, backtests: int, trades_each: int, *, days_old: int) -> None:
    strategy = Strategy.objects.create(
        user=user,
        name=f"bench {time.time()}",
        asset_symbol="BTC/USDT",
        timeframe="1h",
        entry_rules={
            "condition": {
                "indicator": "rsi",
                "params": {"period": 14},
                "operator": "<",
                "value": 30,
            }
        },
        exit_rules={},
    )
    made = Backtest.objects.bulk_create(
        Backtest(
            strategy=strategy,
            user=user,
            start_date=dt.date(2024, 1, 1),
            end_date=dt.date(2024, 6, 30),
            initial_capital=Decimal("10000.00"),
            status="completed",
            strategy_snapshot={},
        )
        for _ in range(backtests)
    )
    Backtest.objects.filter(pk__in=[b.pk for b in made]).update(
        created_at=timezone.now() - dt.timedelta(days=days_old)
    )
    entry = dt.datetime(2024, 2, 1, tzinfo=dt.UTC)
    for backtest in made:
        BacktestTrade.objects.bulk_create(
            (
                BacktestTrade(
                    backtest=backtest,
                    trade_number=n + 1,
                    entry_date=entry,
                    symbol="BTC/USDT",
                    side="BUY",
                    quantity=Decimal("0.1"),
                    entry_price=Decimal("40000"),
                )
                for n in range(trades_each)
            ),
            batch_size=5000,
        )


def bench_export(rows: int) -> None:
    print(f"GDPR export: a user with {rows:,} backtest trades")
    user, created = User.objects.get_or_create(email="bench-export@example.com")
    if created:
        seed_backtests(user, rows // 1000, 1000, days_old=10)

    def baseline():
        count = 0
        for _ in BacktestTrade.objects.filter(backtest__user=user).values_list().iterator(2000):
            count += 1
        return count

    base, count = timed("ORM iteration of the same rows (baseline)", baseline)

    def export():
        size = 0
        for piece in stream_user_export(user=user):
            size += len(piece)
        return size

    elapsed, size = timed("stream_user_export()", export)
    # Memory in a second pass: tracing allocations slows Python several times over.
    tracemalloc.start()
    export()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(
        f"  export: {count / elapsed:,.0f} rows/s, {elapsed / base:.1f}x the baseline; "
        f"{size / 1e6:.0f} MB of JSON, peak Python memory {peak / 1e6:.1f} MB"
    )


def bench_archival(rows: int) -> None:
    print(f"archival: {rows:,} backtest trades in {rows // 500} backtests past a year")
    user, _ = User.objects.get_or_create(email="bench-archive@example.com")
    seed_backtests(user, rows // 500, 500, days_old=400)

    def baseline():
        return sum(
            1
            for _ in BacktestTrade.objects.filter(backtest__user=user).values_list().iterator(2000)
        )

    base, count = timed("ORM iteration of the same rows (baseline)", baseline)
    with (
        tempfile.TemporaryDirectory() as folder,
        override_settings(
            STORAGES={
                "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
                "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
                "archives": {
                    "BACKEND": "django.core.files.storage.FileSystemStorage",
                    "OPTIONS": {"location": folder},
                },
            }
        ),
    ):
        elapsed, result = timed(
            "run_archival_job(strategies.archive_backtests)",
            lambda: jobs.run_archival_job("strategies.archive_backtests", batch_rows=20),
        )
    total = count + result["rows_deleted"]
    print(
        f"  archival: {total / elapsed:,.0f} rows/s (archived, verified, deleted), "
        f"{elapsed / base:.1f}x the baseline read"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--audit-rows", type=int, default=1_000_000)
    parser.add_argument("--export-rows", type=int, default=200_000)
    parser.add_argument("--archive-rows", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3, help="timed runs of the verification")
    parser.add_argument(
        "--only", choices=["audit", "export", "archival"], help="one part of the bench"
    )
    args = parser.parse_args()
    if args.only in (None, "audit"):
        bench_audit(args.audit_rows, args.runs)
    if args.only in (None, "export"):
        bench_export(args.export_rows)
    if args.only in (None, "archival"):
        bench_archival(args.archive_rows)


if __name__ == "__main__":
    main()
