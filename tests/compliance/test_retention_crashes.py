"""The retention jobs killed with SIGKILL at chosen points, in a real process (`manage.py
run_retention` against this run's test databases), then run again: no row is lost or archived
twice. Every row is either still in its table or in exactly one archive, which reads back and
matches its manifest; every batch is deleted once and audited once; the audit chain verifies.

The job is held at a named point (compliance/retention/pause_points.py: the test settings read
RETENTION_PAUSE_AT from the environment) so that the kill lands there and nowhere else."""

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from django.core.management import call_command
from django.db import connection, connections
from django.test import override_settings
from django.utils import timezone

from compliance.audit_chain import verify_audit_chain
from compliance.encoding import dumps
from compliance.models import ArchiveBatch, AuditChainAnchor, AuditLog
from compliance.retention import archives, jobs
from strategies.models import Backtest, BacktestTrade
from tests.factories import BacktestFactory, BacktestTradeFactory, TradeFactory
from trading.models import Trade

pytestmark = pytest.mark.django_db(transaction=True, databases=["default", "timeseries"])

REPO = Path(__file__).resolve().parents[2]
BACKTESTS = "strategies.archive_backtests"
TRADES = "trading.archive_trades"
PAUSE_TIMEOUT_SECONDS = 180


@pytest.fixture(autouse=True)
def archive_dir(tmp_path):
    folder = tmp_path / "archives"
    config = {
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
        "archives": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(folder)},
        },
    }
    with override_settings(STORAGES=config):
        yield folder


def _url(alias: str) -> str:
    """The URL of the database this test run uses under `alias` (its test database)."""
    config = connections[alias].settings_dict
    password = f":{quote(config['PASSWORD'], safe='')}" if config["PASSWORD"] else ""
    return (
        f"postgres://{quote(config['USER'], safe='')}{password}@{config['HOST']}:"
        f"{config['PORT']}/{config['NAME']}"
    )


def kill_at(point: str, job: str, *options: str, archive_dir: Path) -> None:
    """Run the job in a new process until it reaches `point`, then SIGKILL it."""
    marker = archive_dir.parent / "paused"
    marker.unlink(missing_ok=True)
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("ARCHIVE_", "RETENTION_PAUSE_"))
    }
    env |= {
        "DJANGO_SETTINGS_MODULE": "apextrade.settings.test",
        "DATABASE_URL": _url("default"),
        "TIMESCALE_URL": _url("timeseries"),
        "ARCHIVE_ROOT": str(archive_dir),
        "RETENTION_PAUSE_AT": point,
        "RETENTION_PAUSE_FILE": str(marker),
    }
    process = subprocess.Popen(
        [sys.executable, "manage.py", "run_retention", job, *options],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + PAUSE_TIMEOUT_SECONDS
        while not marker.exists():
            if process.poll() is not None:
                out, err = process.communicate()
                pytest.fail(f"the job ended before {point}: {out.decode()} {err.decode()}")
            if time.monotonic() > deadline:
                pytest.fail(f"the job did not reach {point} in {PAUSE_TIMEOUT_SECONDS} s")
            time.sleep(0.05)
        assert marker.read_text() == point.partition(":")[0]
        os.kill(process.pid, signal.SIGKILL)
        assert process.wait(timeout=60) == -signal.SIGKILL
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    _wait_for_its_connection_to_end(job)


def _wait_for_its_connection_to_end(job: str) -> None:
    """The killed process's PostgreSQL backend ends (rolling back its open transaction and
    releasing the job's session lock) once it notices its client is gone."""
    deadline = time.monotonic() + 60
    while True:
        try:
            with jobs.job_lock(job):
                return
        except jobs.JobBusy:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def old_backtests(count: int, *, trades: int = 2) -> list[Backtest]:
    made = []
    for _ in range(count):
        backtest = BacktestFactory(completed=True)
        for _ in range(trades):
            BacktestTradeFactory(backtest=backtest)
        made.append(backtest)
    Backtest.objects.filter(pk__in=[b.pk for b in made]).update(
        created_at=timezone.now() - dt.timedelta(days=400)
    )
    return made


def snapshot(*models: Any) -> dict[str, dict[str, Any]]:
    """Every row of `models` as the archive encodes it, by model label and id."""
    rows: dict[str, dict[str, Any]] = {}
    for model in models:
        columns = [field.attname for field in model._meta.concrete_fields]
        rows[model._meta.label] = {
            str(values["id"]): json.loads(dumps(values))
            for values in model._default_manager.values(*columns)
        }
    return rows


def archived_rows(archive_dir: Path) -> dict[str, Counter[str]]:
    """Every archive read back and checked against its manifest; the ids of the rows in them,
    counted across archives. No archive file is left without its manifest."""
    found: dict[str, Counter[str]] = {}
    manifests = sorted(archive_dir.rglob("*.manifest.json"))
    names = {str(path.relative_to(archive_dir)) for path in manifests}
    assert {str(path.relative_to(archive_dir)) for path in archive_dir.rglob("*.jsonl.gz")} == {
        archives.read_manifest(name).archive_name for name in names
    }
    for name in names:
        batch = ArchiveBatch.objects.get(manifest_name=name)
        manifest = archives.verify_archive(name, expected_ids=batch.row_ids)
        assert manifest.row_counts == batch.row_counts
        for label, row in archives.read_rows(manifest):
            found.setdefault(label, Counter())[str(row["id"])] += 1
    return found


def assert_each_row_kept_exactly_once(before: dict[str, dict[str, Any]], archive_dir) -> None:
    archived = archived_rows(archive_dir)
    now = snapshot(*(model_of(label) for label in before))
    for label, rows in before.items():
        for pk, row in rows.items():
            places = archived.get(label, Counter())[pk] + (pk in now[label])
            assert places == 1, f"{label} {pk} is in {places} places"
            if pk in now[label]:
                assert now[label][pk] == row
        assert set(now[label]) <= set(rows)
    for manifest_path in archive_dir.rglob("*.manifest.json"):
        manifest = archives.read_manifest(str(manifest_path.relative_to(archive_dir)))
        for label, row in archives.read_rows(manifest):
            assert row == before[label][str(row["id"])]
    batches = list(ArchiveBatch.objects.all())
    assert {batch.status for batch in batches} == {ArchiveBatch.Status.DELETED}
    audited = Counter(
        AuditLog.objects.filter(resource_type="archive", action="delete").values_list(
            "resource_id", flat=True
        )
    )
    assert audited == Counter(batch.pk for batch in batches)
    assert verify_audit_chain().intact


def model_of(label: str) -> Any:
    return {
        "strategies.Backtest": Backtest,
        "strategies.BacktestTrade": BacktestTrade,
        "trading.Trade": Trade,
    }[label]


def test_killed_between_the_verified_archive_and_the_delete(archive_dir):
    made = old_backtests(3)
    recent = BacktestFactory(completed=True)
    before = snapshot(Backtest, BacktestTrade)

    kill_at("archive_verified", BACKTESTS, archive_dir=archive_dir)

    assert snapshot(Backtest, BacktestTrade) == before  # nothing deleted yet
    batch = ArchiveBatch.objects.get()
    assert batch.status == ArchiveBatch.Status.VERIFIED
    assert batch.row_counts == {"strategies.Backtest": 3, "strategies.BacktestTrade": 6}
    assert not AuditLog.objects.filter(resource_type="archive").exists()

    call_command("run_retention", BACKTESTS)

    assert not Backtest.objects.filter(pk__in=[b.pk for b in made]).exists()
    assert Backtest.objects.filter(pk=recent.pk).exists()
    assert len(list(archive_dir.rglob("*.manifest.json"))) == 1  # the same archive, finished
    assert_each_row_kept_exactly_once(before, archive_dir)


def test_killed_after_the_archive_is_stored_before_its_manifest(archive_dir):
    old_backtests(2)
    before = snapshot(Backtest, BacktestTrade)

    kill_at("archive_stored", BACKTESTS, archive_dir=archive_dir)

    assert snapshot(Backtest, BacktestTrade) == before
    assert ArchiveBatch.objects.get().status == ArchiveBatch.Status.PENDING
    assert len(list(archive_dir.rglob("*.jsonl.gz"))) == 1
    assert not list(archive_dir.rglob("*.manifest.json"))

    call_command("run_retention", BACKTESTS)

    assert not Backtest.objects.exists()
    assert_each_row_kept_exactly_once(before, archive_dir)


def test_killed_inside_the_delete_before_it_commits(archive_dir):
    old_backtests(2, trades=3)
    before = snapshot(Backtest, BacktestTrade)

    kill_at("rows_deleted", BACKTESTS, archive_dir=archive_dir)

    assert snapshot(Backtest, BacktestTrade) == before  # the delete was rolled back
    assert ArchiveBatch.objects.get().status == ArchiveBatch.Status.VERIFIED

    call_command("run_retention", BACKTESTS)

    assert not Backtest.objects.exists() and not BacktestTrade.objects.exists()
    assert_each_row_kept_exactly_once(before, archive_dir)


def test_killed_mid_run_after_one_batch_with_the_next_one_recorded(archive_dir):
    made = old_backtests(5, trades=1)
    before = snapshot(Backtest, BacktestTrade)

    kill_at("batch_recorded:2", BACKTESTS, "--batch-rows", "2", archive_dir=archive_dir)

    first, second = ArchiveBatch.objects.order_by("created_at")
    assert (first.status, second.status) == ("deleted", "pending")
    assert Backtest.objects.count() == 3
    assert not Backtest.objects.filter(pk__in=first.row_ids).exists()
    assert not list(archive_dir.rglob(f"{second.pk}.*"))  # nothing of it written yet

    call_command("run_retention", BACKTESTS, "--batch-rows", "2")

    assert not Backtest.objects.filter(pk__in=[b.pk for b in made]).exists()
    assert ArchiveBatch.objects.count() == 3
    assert_each_row_kept_exactly_once(before, archive_dir)


def test_trades_job_killed_between_the_archive_and_the_delete(archive_dir):
    old, young = TradeFactory(), TradeFactory()
    Trade.objects.filter(pk=old.pk).update(created_at=timezone.now() - dt.timedelta(days=3700))
    before = snapshot(Trade)

    kill_at("archive_verified", TRADES, archive_dir=archive_dir)

    assert snapshot(Trade) == before
    call_command("run_retention", TRADES)

    assert list(Trade.objects.values_list("pk", flat=True)) == [young.pk]
    assert_each_row_kept_exactly_once(before, archive_dir)


def insert_audit_row(days_ago: int) -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO audit_logs (action, resource_type, created_at) "
            "VALUES ('login', 'user', %s) RETURNING id",
            [timezone.now() - dt.timedelta(days=days_ago)],
        )
        return cursor.fetchone()[0]


def test_audit_purge_killed_inside_its_transaction_purges_nothing(archive_dir):
    old = [insert_audit_row(8 * 365) for _ in range(3)]
    young = insert_audit_row(10)

    kill_at("audit_rows_purged", jobs.AUDIT_PURGE_JOB, archive_dir=archive_dir)

    assert AuditLog.objects.filter(pk__in=[*old, young]).count() == 4
    assert not AuditChainAnchor.objects.filter(kind="retention_purge").exists()
    assert verify_audit_chain().intact

    call_command("run_retention", jobs.AUDIT_PURGE_JOB)

    assert list(AuditLog.objects.values_list("pk", flat=True)) == [young]
    assert AuditChainAnchor.objects.filter(kind="retention_purge").count() == 1
    assert verify_audit_chain().intact


def test_audit_purge_killed_in_its_second_batch_keeps_the_first_and_the_chain(archive_dir):
    old = [insert_audit_row(8 * 365) for _ in range(5)]
    young = insert_audit_row(10)

    kill_at(
        "audit_rows_purged:2", jobs.AUDIT_PURGE_JOB, "--batch-rows", "2", archive_dir=archive_dir
    )

    assert set(AuditLog.objects.values_list("pk", flat=True)) == {*old[2:], young}
    assert AuditChainAnchor.objects.filter(kind="retention_purge").count() == 1
    assert verify_audit_chain().intact

    call_command("run_retention", jobs.AUDIT_PURGE_JOB, "--batch-rows", "2")

    assert list(AuditLog.objects.values_list("pk", flat=True)) == [young]
    assert verify_audit_chain().intact


@pytest.mark.django_db(databases=[])
def test_the_pause_points_are_inert_outside_the_test_settings():
    from apextrade.settings import base

    assert not hasattr(base, "RETENTION_PAUSE_AT")
    for module in (REPO / "apextrade" / "settings").glob("*.py"):
        if module.name != "test.py":
            assert "RETENTION_PAUSE" not in module.read_text(), module
