"""Retention beat jobs: unpack the arguments, call the job, nothing else. Their schedules are
rows of django-celery-beat (compliance migration 0008), tuned by operators in the console."""

from celery import shared_task

from compliance.retention import jobs


@shared_task(name="compliance.tasks.run_archival_job")
def run_archival_job(name: str) -> dict:
    try:
        return jobs.run_archival_job(name)
    except jobs.JobBusy:
        return {"skipped": "another worker is running this job"}


@shared_task(name="compliance.tasks.purge_audit_logs")
def purge_audit_logs() -> dict:
    try:
        return jobs.purge_audit_logs()
    except jobs.JobBusy:
        return {"skipped": "another worker is running this job"}
