"""Compliance benchmark: verify_audit_log over a 1,000,000-row audit log, GDPR export throughput
and memory, archival throughput; each against a baseline measured in the same run.

Usage (its own databases, so that it never touches anyone else's):
    export DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_compliance
    export TIMESCALE_URL=postgres://postgres@127.0.0.1:5432/bench_compliance_ts
    .venv/bin/python manage.py create_databases && .venv/bin/python manage.py migrate
    .venv/bin/python manage.py migrate --database timeseries
    .venv/bin/python bench/compliance.py                       # 1M audit rows, 200k export rows
    .venv/bin/python bench/compliance.py --audit-rows 200000 --export-rows 50000

Baselines: verify_audit_log against one plain sequential read of the same rows' text (what any
check of every row must at least do); the chained INSERT against the same INSERT into a copy of
the table without the trigger; the export and the archival job against iterating the same rows
through the ORM's server-side cursor without encoding or writing them.
"""

import argparse
import datetime as dt
import os
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


def bench_audit(rows: int) -> None:
    print(f"audit log: {rows:,} rows")
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
        base, _ = timed(
            "sequential read of every row's values (baseline)",
            lambda: cursor.execute(
                "SELECT sum(length(old_values::text) + length(new_values::text)) FROM audit_logs"
            ),
        )
    verify, report = timed("verify_audit_chain()", verify_audit_chain)
    assert report.intact, report.first_break
    print(
        f"  verify: {report.rows / verify:,.0f} rows/s, {verify / base:.1f}x the baseline; "
        f"{report.rows:,} rows {'intact' if report.intact else 'BROKEN'}"
    )


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
    args = parser.parse_args()
    bench_audit(args.audit_rows)
    bench_export(args.export_rows)
    bench_archival(args.archive_rows)


if __name__ == "__main__":
    main()
