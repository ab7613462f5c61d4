"""What retention_report shows: per declared table with a retention period, the rows past it;
per retention job, when it last ran (its own record, and beat's)."""

from dataclasses import dataclass
from typing import Any

from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from compliance.gdpr.subjects import model_for
from compliance.models import RetentionJobRun
from compliance.registry import registry


@dataclass(frozen=True)
class TableLine:
    label: str
    table: str
    retention_days: int
    reason: str
    rows_past: int


def tables_past_retention() -> list[TableLine]:
    now = timezone.now()
    lines = []
    for policy in sorted(registry.policies(), key=lambda policy: policy.label):
        if policy.retention.period is None or policy.time_field is None:
            continue
        model = model_for(policy)
        rows = model._default_manager.filter(
            **{f"{policy.time_field}__lt": now - policy.retention.period}
        ).count()
        lines.append(
            TableLine(
                policy.label,
                model._meta.db_table,
                policy.retention.period.days,
                policy.retention.reason,
                rows,
            )
        )
    return lines


def job_runs() -> list[dict[str, Any]]:
    runs = {run.job: run for run in RetentionJobRun.objects.all()}
    beat = {task.name: task for task in PeriodicTask.objects.all()}
    names = [job.name for job in registry.archival_jobs()] + ["compliance.purge_audit_logs"]
    lines = []
    for name in names:
        run = runs.get(name)
        scheduled = [
            task
            for task in beat.values()
            if name in (task.kwargs or "")
            or (task.task.endswith(name.split(".")[-1]) and not task.kwargs.strip("{} "))
        ]
        lines.append(
            {
                "job": name,
                "last_run_at": run.last_run_at.isoformat() if run else None,
                "last_status": run.last_status if run else "never run",
                "last_result": run.last_result if run else {},
                "beat_task": scheduled[0].name if scheduled else None,
                "beat_last_run_at": (
                    scheduled[0].last_run_at.isoformat()
                    if scheduled and scheduled[0].last_run_at
                    else None
                ),
            }
        )
    return lines
