"""Retention jobs: archive to cold storage, verify, then delete, in bounded batches; a crash
anywhere loses nothing and the next run finishes; two workers do not both archive; an archive
comes back with restore_archive; audit rows past seven years are purged, the chain re-anchored.
The crashes here are exceptions raised in this process; test_retention_crashes.py kills a real
job process with SIGKILL."""

import datetime as dt
import json
import threading

import pytest
from django.core.files.storage import storages
from django.core.management import CommandError, call_command
from django.db import connection, connections
from django.test import override_settings
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from compliance.audit_chain import verify_audit_chain
from compliance.models import ArchiveBatch, AuditChainAnchor, AuditLog, RetentionJobRun
from compliance.retention import archives, jobs
from compliance.retention.archives import ArchiveInvalid
from compliance.services import record_audit_event
from strategies.models import Backtest, BacktestTrade
from tests.factories import BacktestFactory, BacktestTradeFactory, TradeFactory
from trading.models import Trade

pytestmark = pytest.mark.django_db(databases=["default", "timeseries"])

JOB = "strategies.archive_backtests"


@pytest.fixture(autouse=True)
def archive_dir(tmp_path):
    config = {
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
        "archives": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path / "archives")},
        },
    }
    with override_settings(STORAGES=config):
        yield tmp_path / "archives"


def old_backtests(count: int, *, days: int = 400, trades: int = 2, **fields) -> list[Backtest]:
    made = []
    for _ in range(count):
        backtest = BacktestFactory(completed=True, **fields)
        for _ in range(trades):
            BacktestTradeFactory(backtest=backtest)
        made.append(backtest)
    Backtest.objects.filter(pk__in=[b.pk for b in made]).update(
        created_at=timezone.now() - dt.timedelta(days=days)
    )
    return made


def manifests(root) -> list[dict]:
    return [json.loads(path.read_text()) for path in sorted(root.rglob("*.manifest.json"))]


def test_old_completed_backtests_are_archived_verified_then_deleted(archive_dir):
    archived = old_backtests(3)
    recent = old_backtests(1, days=30)
    running = BacktestFactory(status=Backtest.Status.RUNNING)
    Backtest.objects.filter(pk=running.pk).update(
        created_at=timezone.now() - dt.timedelta(days=500)
    )

    result = jobs.run_archival_job(JOB)

    assert result["rows_deleted"] == 3
    assert not Backtest.objects.filter(pk__in=[b.pk for b in archived]).exists()
    assert not BacktestTrade.objects.filter(backtest_id__in=[b.pk for b in archived]).exists()
    assert Backtest.objects.filter(pk__in=[recent[0].pk, running.pk]).count() == 2
    [manifest] = manifests(archive_dir)
    assert manifest["row_counts"] == {"strategies.Backtest": 3, "strategies.BacktestTrade": 6}
    assert sorted(manifest["root_ids"]) == sorted(str(b.pk) for b in archived)
    assert ArchiveBatch.objects.get().status == "deleted"
    audit = AuditLog.objects.get(resource_type="archive")
    assert audit.metadata["rows"]["strategies.BacktestTrade"] == 6
    assert RetentionJobRun.objects.get(job=JOB).last_status == "ok"


def test_batches_are_bounded(archive_dir):
    old_backtests(5, trades=1)
    result = jobs.run_archival_job(JOB, batch_rows=2)
    assert result["batches"] == 3
    assert [m["row_counts"]["strategies.Backtest"] for m in manifests(archive_dir)].count(2) == 2


def test_a_crash_between_archive_and_delete_is_finished_by_the_next_run(archive_dir, monkeypatch):
    made = old_backtests(2)
    real_finish = jobs._finish

    def killed(*args, **kwargs):
        raise KeyboardInterrupt("worker killed")

    monkeypatch.setattr(jobs, "_finish", killed)
    with pytest.raises(KeyboardInterrupt):
        jobs.run_archival_job(JOB)
    assert Backtest.objects.filter(pk__in=[b.pk for b in made]).count() == 2
    assert ArchiveBatch.objects.get().status == "pending"
    assert len(manifests(archive_dir)) == 1

    monkeypatch.setattr(jobs, "_finish", real_finish)
    result = jobs.run_archival_job(JOB)

    assert result == {"batches": 0, "rows_deleted": 2, "resumed": 1}
    assert not Backtest.objects.filter(pk__in=[b.pk for b in made]).exists()
    assert len(manifests(archive_dir)) == 1  # archived once


def test_a_crash_while_writing_the_archive_loses_nothing(archive_dir, monkeypatch):
    made = old_backtests(2)
    real_write = archives.write_archive

    def half_written(**kwargs):
        # The archive reaches storage cut short, with no manifest, and the worker dies.
        archives._replace(archives.archive_storage(), kwargs["archive_name"], b"\x1f\x8b\x08")
        raise KeyboardInterrupt("worker killed")

    monkeypatch.setattr(jobs, "write_archive", half_written)
    with pytest.raises(KeyboardInterrupt):
        jobs.run_archival_job(JOB)
    assert Backtest.objects.filter(pk__in=[b.pk for b in made]).count() == 2

    monkeypatch.setattr(jobs, "write_archive", real_write)
    jobs.run_archival_job(JOB)

    assert not Backtest.objects.filter(pk__in=[b.pk for b in made]).exists()
    [manifest] = manifests(archive_dir)
    assert manifest["row_counts"]["strategies.Backtest"] == 2
    archives.verify_archive(ArchiveBatch.objects.get().manifest_name)


def test_nothing_is_deleted_when_the_archive_does_not_verify(monkeypatch):
    made = old_backtests(1)

    def never_valid(*args, **kwargs):
        raise ArchiveInvalid("checksum differs")

    monkeypatch.setattr(jobs, "verify_archive", never_valid)
    with pytest.raises(ArchiveInvalid):
        jobs.run_archival_job(JOB)
    assert Backtest.objects.filter(pk=made[0].pk).exists()
    assert RetentionJobRun.objects.get(job=JOB).last_status == "failed"


def test_a_second_worker_does_not_run_the_job_while_one_holds_it():
    old_backtests(1)
    with jobs.job_lock(JOB, using="default"):
        other = connections.create_connection("default")
        try:
            connections["default"], original = other, connections["default"]
            with pytest.raises(jobs.JobBusy):
                jobs.run_archival_job(JOB)
        finally:
            connections["default"] = original
            other.close()
    assert not ArchiveBatch.objects.exists()


@pytest.mark.django_db(transaction=True, databases=["default", "timeseries"])
def test_two_workers_at_once_archive_each_row_once(archive_dir):
    made = old_backtests(6, trades=1)
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def worker() -> None:
        try:
            barrier.wait()
            jobs.run_archival_job(JOB, batch_rows=1)
            outcomes.append("ran")
        except jobs.JobBusy:
            outcomes.append("busy")
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert "ran" in outcomes
    archived = [i for m in manifests(archive_dir) for i in m["root_ids"]]
    assert sorted(archived) == sorted(str(b.pk) for b in made)
    assert not Backtest.objects.exists()


def test_restore_archive_brings_the_rows_back(archive_dir):
    [backtest] = old_backtests(1, trades=3)
    before = Backtest.objects.filter(pk=backtest.pk).values().get()
    trades_before = list(BacktestTrade.objects.filter(backtest=backtest).order_by("pk").values())
    jobs.run_archival_job(JOB)
    assert not Backtest.objects.filter(pk=backtest.pk).exists()

    call_command("restore_archive", ArchiveBatch.objects.get().manifest_name)

    assert Backtest.objects.filter(pk=backtest.pk).values().get() == before
    assert list(BacktestTrade.objects.filter(backtest=backtest).order_by("pk").values()) == (
        trades_before
    )
    # Twice is harmless.
    call_command("restore_archive", ArchiveBatch.objects.get().manifest_name)
    assert BacktestTrade.objects.filter(backtest=backtest).count() == 3


def test_restore_refuses_a_changed_archive(archive_dir):
    old_backtests(1)
    jobs.run_archival_job(JOB)
    batch = ArchiveBatch.objects.get()
    (archive_dir / batch.archive_name).write_bytes(b"not the archive")
    with pytest.raises(CommandError, match="checksum"):
        call_command("restore_archive", batch.manifest_name)
    with pytest.raises(CommandError, match="No manifest"):
        call_command("restore_archive", "nope.manifest.json")


def test_trades_past_ten_years_are_archived_and_purged(archive_dir):
    old, young = TradeFactory(), TradeFactory()
    Trade.objects.filter(pk=old.pk).update(created_at=timezone.now() - dt.timedelta(days=3700))
    jobs.run_archival_job("trading.archive_trades")
    assert list(Trade.objects.values_list("pk", flat=True)) == [young.pk]
    [manifest] = manifests(archive_dir)
    assert manifest["root_ids"] == [str(old.pk)]


def insert_audit_row(days_ago: int) -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO audit_logs (action, resource_type, created_at) "
            "VALUES ('login', 'user', %s) RETURNING id",
            [timezone.now() - dt.timedelta(days=days_ago)],
        )
        return cursor.fetchone()[0]


def test_audit_rows_past_seven_years_are_purged_and_the_chain_re_anchored():
    old = [insert_audit_row(8 * 365) for _ in range(3)]
    young = insert_audit_row(10)
    late_old = insert_audit_row(9 * 365)  # behind a younger row: waits for it
    record_audit_event(actor=None, action="login", resource_type="user")

    result = jobs.purge_audit_logs(batch_rows=2)

    assert result == {"rows_deleted": 3}
    assert not AuditLog.objects.filter(pk__in=old).exists()
    assert AuditLog.objects.filter(pk__in=[young, late_old]).count() == 2
    anchor = AuditChainAnchor.objects.filter(kind="retention_purge").latest("id")
    assert anchor.chain_seq == AuditLog.objects.get(pk=young).chain_seq
    assert verify_audit_chain().intact
    assert jobs.purge_audit_logs() == {"rows_deleted": 0}


def test_the_beat_schedules_exist_for_operators_to_tune():
    tasks = {
        task.name: task for task in PeriodicTask.objects.filter(name__startswith="compliance.")
    }
    assert set(tasks) == {
        "compliance.archive_backtests",
        "compliance.archive_trades",
        "compliance.purge_audit_logs",
    }
    assert json.loads(tasks["compliance.archive_backtests"].kwargs) == {"name": JOB}
    assert tasks["compliance.archive_trades"].crontab is not None


def test_retention_report_shows_rows_past_retention_and_job_runs(capsys):
    old_backtests(2)
    call_command("retention_report", "--json")
    report = json.loads(capsys.readouterr().out)
    backtests = next(line for line in report["tables"] if line["table"] == "backtests")
    assert backtests["rows_past"] == 2
    job = next(line for line in report["jobs"] if line["job"] == JOB)
    assert (job["last_status"], job["beat_task"]) == ("never run", "compliance.archive_backtests")
    jobs.run_archival_job(JOB)
    call_command("retention_report")
    out = capsys.readouterr().out
    assert "backtests" in out
    assert storages["archives"].exists(ArchiveBatch.objects.get().manifest_name)


def test_run_retention_runs_one_job_in_batches_of_the_size_asked(archive_dir, capsys):
    old_backtests(3, trades=1)
    call_command("run_retention", JOB, "--batch-rows", "2")
    assert "'batches': 2" in capsys.readouterr().out
    assert not Backtest.objects.exists()
    with pytest.raises(CommandError, match="No job 'nope'"):
        call_command("run_retention", "nope")
    with pytest.raises(CommandError, match="at least 1"):
        call_command("run_retention", JOB, "--batch-rows", "0")
