"""Run a retention job now (what Celery beat runs on schedule)."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from compliance.registry import registry
from compliance.retention import jobs


class Command(BaseCommand):
    help = "Run one retention job now (an archival job's name, or compliance.purge_audit_logs)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("job")
        parser.add_argument(
            "--batch-rows",
            type=int,
            help="rows per batch (default: the job's own; archival batches count root rows)",
        )

    def handle(self, *args: Any, job: str, batch_rows: int | None, **options: Any) -> None:
        names = [declared.name for declared in registry.archival_jobs()]
        if batch_rows is not None and batch_rows < 1:
            raise CommandError("--batch-rows must be at least 1.")
        sizes = {} if batch_rows is None else {"batch_rows": batch_rows}
        try:
            if job == jobs.AUDIT_PURGE_JOB:
                result = jobs.purge_audit_logs(**sizes)
            elif job in names:
                result = jobs.run_archival_job(job, **sizes)
            else:
                raise CommandError(
                    f"No job {job!r}; known: {', '.join(names)}, {jobs.AUDIT_PURGE_JOB}."
                )
        except jobs.JobBusy as error:
            raise CommandError(f"{error} is running in another worker.") from error
        self.stdout.write(f"{job}: {result}")
