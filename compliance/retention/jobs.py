"""The retention jobs Celery beat runs (spec §7.1, §7.2): archival jobs declared by the apps
(archive to cold storage, verify, then delete, in bounded batches; a batch's progress is kept in
archive_batches, so a run that died anywhere is finished by the next one), and the purge of audit
rows past seven years. A PostgreSQL advisory lock keeps a second worker from running a job at
the same time."""

import contextlib
import datetime as dt
import uuid
import zlib
from collections.abc import Iterator
from typing import Any

from django.db import connections, router, transaction
from django.utils import timezone

from compliance.audit import AuditContext
from compliance.audit_chain import sanctioned_change
from compliance.gdpr.subjects import model_for
from compliance.models import (
    ArchiveBatch,
    AuditChainAnchor,
    AuditLog,
    RetentionJobRun,
)
from compliance.registry import ArchivalJob, registry
from compliance.retention.archives import ArchiveInvalid, verify_archive, write_archive
from compliance.retention.pause_points import pause_point
from compliance.services import record_audit_event

BATCH_ROWS = 500
AUDIT_PURGE_JOB = "compliance.purge_audit_logs"


class JobBusy(Exception):
    """Another worker holds the job's lock."""


@contextlib.contextmanager
def job_lock(name: str, using: str = "default") -> Iterator[None]:
    """A session-level advisory lock, held across the job's many transactions."""
    key = zlib.crc32(f"apextrade.retention.{name}".encode())
    with connections[using].cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [key])
        if not cursor.fetchone()[0]:
            raise JobBusy(name)
    try:
        yield
    finally:
        with connections[using].cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [key])


def _candidates(job: ArchivalJob, now: dt.datetime) -> Any:
    model = model_for(registry.policy(job.label))
    return model._default_manager.filter(
        **{f"{job.time_field}__lt": now - job.retention.period}, **dict(job.conditions)
    )


def _batch_lines(job: ArchivalJob, ids: list[Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    model = model_for(registry.policy(job.label))
    for label, queryset in [(job.label, model._default_manager.filter(pk__in=ids))] + [
        (child, model_for(registry.policy(child))._default_manager.filter(**{f"{col}__in": ids}))
        for child, col in job.children
    ]:
        columns = [field.attname for field in queryset.model._meta.concrete_fields]
        for values in queryset.order_by("pk").values_list(*columns).iterator(chunk_size=2000):
            yield label, dict(zip(columns, values, strict=True))


def _names(job: ArchivalJob, batch_id: uuid.UUID, now: dt.datetime) -> tuple[str, str]:
    folder = f"{job.name}/{now:%Y/%m}"
    return f"{folder}/{batch_id}.jsonl.gz", f"{folder}/{batch_id}.manifest.json"


def _archive(job: ArchivalJob, batch: ArchiveBatch) -> None:
    write_archive(
        job=job.name,
        batch_id=str(batch.pk),
        archive_name=batch.archive_name,
        manifest_name=batch.manifest_name,
        root_model=job.label,
        root_ids=batch.row_ids,
        lines=_batch_lines(job, batch.row_ids),
    )


def _finish(job: ArchivalJob, batch: ArchiveBatch, now: dt.datetime) -> int:
    """Verify the batch's archive (writing it again if it is missing or partial), then delete its
    rows and mark it done, in one transaction. Returns the root rows deleted."""
    if batch.status == ArchiveBatch.Status.PENDING:
        try:
            manifest = verify_archive(batch.manifest_name, expected_ids=batch.row_ids)
        except ArchiveInvalid:
            _archive(job, batch)
            manifest = verify_archive(batch.manifest_name, expected_ids=batch.row_ids)
        batch.status = ArchiveBatch.Status.VERIFIED
        batch.row_counts = manifest.row_counts
        batch.save(update_fields=["status", "row_counts"])
    pause_point("archive_verified")
    model = model_for(registry.policy(job.label))
    using = router.db_for_write(model)
    with transaction.atomic(using=using):
        _, per_model = _candidates(job, now).filter(pk__in=batch.row_ids).delete()
        deleted = per_model.get(job.label, 0)
        pause_point("rows_deleted")
        record_audit_event(
            actor=None,
            action=AuditLog.Action.DELETE,
            resource_type="archive",
            resource_id=batch.pk,
            metadata={
                "job": job.name,
                "archive": batch.archive_name,
                "rows": batch.row_counts,
            },
            context=AuditContext.system(f"task:{job.name}"),
        )
        batch.status = ArchiveBatch.Status.DELETED
        batch.finished_at = timezone.now()
        batch.save(update_fields=["status", "finished_at"])
    return deleted


def run_archival_job(
    name: str, *, batch_rows: int = BATCH_ROWS, max_batches: int | None = None
) -> dict[str, int]:
    """Finish any batch an earlier run left open, then archive and delete the rows past their
    retention batch by batch. Raises JobBusy if another worker runs the job."""
    job = registry.archival_job(name)
    now = timezone.now()
    result = {"batches": 0, "rows_deleted": 0, "resumed": 0}
    with job_lock(name):
        try:
            for batch in ArchiveBatch.objects.filter(job=name).exclude(
                status=ArchiveBatch.Status.DELETED
            ):
                result["rows_deleted"] += _finish(job, batch, now)
                result["resumed"] += 1
            while max_batches is None or result["batches"] < max_batches:
                ids = list(
                    _candidates(job, now).order_by("pk").values_list("pk", flat=True)[:batch_rows]
                )
                if not ids:
                    break
                batch_id = uuid.uuid4()
                archive_name, manifest_name = _names(job, batch_id, now)
                batch = ArchiveBatch.objects.create(
                    id=batch_id,
                    job=name,
                    row_ids=[str(pk) if isinstance(pk, uuid.UUID) else pk for pk in ids],
                    archive_name=archive_name,
                    manifest_name=manifest_name,
                )
                pause_point("batch_recorded")
                _archive(job, batch)
                result["rows_deleted"] += _finish(job, batch, now)
                result["batches"] += 1
        except Exception as error:
            _record_run(name, "failed", {**result, "error": str(error)[:500]})
            raise
        _record_run(name, "ok", result)
    return result


def purge_audit_logs(*, batch_rows: int = 10_000) -> dict[str, int]:
    """Delete the audit rows past seven years, oldest first in chain order, as a sanctioned
    change, and record where the chain now starts (the first row kept and the hash it links to).
    Only a prefix of the chain goes: a row past seven years behind a younger one waits for it."""
    period = registry.policy("compliance.AuditLog").retention.period
    purged = 0
    with job_lock(AUDIT_PURGE_JOB):
        while True:
            with sanctioned_change(AuditChainAnchor.Kind.RETENTION_PURGE) as cursor:
                cursor.execute(
                    """
                    SELECT chain_seq FROM audit_logs
                    WHERE chain_seq <= COALESCE(
                        (SELECT min(chain_seq) FROM audit_logs WHERE created_at >= %(cutoff)s),
                        (SELECT max(chain_seq) + 1 FROM audit_logs))
                      AND created_at < %(cutoff)s
                    ORDER BY chain_seq LIMIT %(limit)s
                    """,
                    {"cutoff": timezone.now() - period, "limit": batch_rows},
                )
                seqs = [row[0] for row in cursor.fetchall()]
                if not seqs or seqs != list(range(seqs[0], seqs[0] + len(seqs))):
                    break
                last = seqs[-1]
                cursor.execute("SELECT row_hash FROM audit_logs WHERE chain_seq = %s", [last])
                (link,) = cursor.fetchone()
                cursor.execute(
                    "DELETE FROM audit_chain_anchors WHERE kind <> 'retention_purge' AND "
                    "audit_log_id IN (SELECT id FROM audit_logs WHERE chain_seq <= %s)",
                    [last],
                )
                cursor.execute("DELETE FROM audit_logs WHERE chain_seq <= %s", [last])
                purged += cursor.rowcount
                pause_point("audit_rows_purged")
                AuditChainAnchor.objects.create(
                    kind=AuditChainAnchor.Kind.RETENTION_PURGE,
                    chain_seq=last + 1,
                    prev_hash=bytes(link),
                    rows=len(seqs),
                )
            if len(seqs) < batch_rows:
                break
    _record_run(AUDIT_PURGE_JOB, "ok", {"rows_deleted": purged})
    return {"rows_deleted": purged}


def _record_run(job: str, status: str, result: dict[str, Any]) -> None:
    RetentionJobRun.objects.update_or_create(
        job=job,
        defaults={"last_run_at": timezone.now(), "last_status": status, "last_result": result},
    )
