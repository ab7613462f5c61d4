"""The retention jobs' schedules, as django-celery-beat rows that operators see and tune in the
console (a frozen copy of what the job names were when this migration was written)."""

import json

from django.db import migrations

SCHEDULES = [
    # (periodic task name, task, kwargs, minute, hour)
    (
        "compliance.archive_backtests",
        "compliance.tasks.run_archival_job",
        {"name": "strategies.archive_backtests"},
        "30",
        "2",
    ),
    (
        "compliance.archive_trades",
        "compliance.tasks.run_archival_job",
        {"name": "trading.archive_trades"},
        "45",
        "2",
    ),
    ("compliance.purge_audit_logs", "compliance.tasks.purge_audit_logs", {}, "15", "4"),
]


def create_schedules(apps, schema_editor):
    crontab_model = apps.get_model("django_celery_beat", "CrontabSchedule")
    task_model = apps.get_model("django_celery_beat", "PeriodicTask")
    for name, task, kwargs, minute, hour in SCHEDULES:
        crontab, _ = crontab_model.objects.get_or_create(
            minute=minute,
            hour=hour,
            day_of_week="*",
            day_of_month="*",
            month_of_year="*",
            timezone="UTC",
        )
        task_model.objects.update_or_create(
            name=name,
            defaults={"task": task, "kwargs": json.dumps(kwargs), "crontab": crontab},
        )


def remove_schedules(apps, schema_editor):
    task_model = apps.get_model("django_celery_beat", "PeriodicTask")
    task_model.objects.filter(name__in=[name for name, *_ in SCHEDULES]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("compliance", "0007_archive_batches_and_retention_job_runs"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create_schedules, remove_schedules)]
