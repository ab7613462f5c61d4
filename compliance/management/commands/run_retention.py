"""Run a retention job now (what Celery beat runs on schedule)."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from compliance.registry import registry
from compliance.retention import jobs


class Command(BaseCommand):
    help = "Run one retention job now (an archival job's name, or compliance.purge_audit_logs)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("job")

    def handle(self, *args: Any, job: str, **options: Any) -> None:
        names = [declared.name for declared in registry.archival_jobs()]
        try:
            if job == jobs.AUDIT_PURGE_JOB:
                result = jobs.purge_audit_logs()
            elif job in names:
                result = jobs.run_archival_job(job)
            else:
                raise CommandError(
                    f"No job {job!r}; known: {', '.join(names)}, {jobs.AUDIT_PURGE_JOB}."
                )
        except jobs.JobBusy as error:
            raise CommandError(f"{error} is running in another worker.") from error
        self.stdout.write(f"{job}: {result}")
