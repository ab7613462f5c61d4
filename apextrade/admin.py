"""Operator console for Celery beat's schedule (django_celery_beat's periodic tasks and their
schedules; the jobs themselves are listed in apextrade/beat_schedule.py). django_celery_beat
registers unaudited pages of its own; these replace them with the same pages, audited like the
rest of the console.

The list actions that enable, disable or toggle periodic tasks change rows with QuerySet.update(),
which bypasses save_model; they are wrapped here so that each task they change gets an update row
of its own, and "run selected tasks" records one row per task it sends.
"""

from collections.abc import Callable

from django.contrib import admin
from django.db import models, transaction
from django.http import HttpRequest
from django_celery_beat import admin as beat_admin
from django_celery_beat.models import (
    ClockedSchedule,
    CrontabSchedule,
    IntervalSchedule,
    PeriodicTask,
    SolarSchedule,
)

from compliance.models import AuditLog
from compliance.services import audit_snapshot, changed_values
from core.admin_console import AuditedModelAdmin

# What the bulk actions of django_celery_beat's PeriodicTaskAdmin write.
BULK_ACTION_FIELDS = ["enabled", "last_run_at"]

for _model in (PeriodicTask, IntervalSchedule, CrontabSchedule, SolarSchedule, ClockedSchedule):
    admin.site.unregister(_model)


@admin.register(PeriodicTask)
class PeriodicTaskAdmin(AuditedModelAdmin, beat_admin.PeriodicTaskAdmin):
    audit_resource_type = "periodic_task"

    def _audited_bulk_change(
        self,
        request: HttpRequest,
        queryset: models.QuerySet,
        action: Callable[[HttpRequest, models.QuerySet], None],
    ) -> None:
        """Run one of django_celery_beat's QuerySet.update() actions and record, for every task
        it changed, the old and new values, in the same transaction."""
        with transaction.atomic():
            locked = PeriodicTask.objects.select_for_update().filter(pk__in=queryset.values("pk"))
            before = {task.pk: audit_snapshot(task, BULK_ACTION_FIELDS) for task in locked}
            action(request, queryset)
            for task in PeriodicTask.objects.filter(pk__in=before).order_by("pk"):
                old, new = changed_values(before[task.pk], audit_snapshot(task, BULK_ACTION_FIELDS))
                if old or new:
                    self._record(
                        request, task, AuditLog.Action.UPDATE, old_values=old, new_values=new
                    )

    @admin.action(description=beat_admin.PeriodicTaskAdmin.enable_tasks.short_description)
    def enable_tasks(self, request: HttpRequest, queryset: models.QuerySet) -> None:
        self._audited_bulk_change(request, queryset, super().enable_tasks)

    @admin.action(description=beat_admin.PeriodicTaskAdmin.disable_tasks.short_description)
    def disable_tasks(self, request: HttpRequest, queryset: models.QuerySet) -> None:
        self._audited_bulk_change(request, queryset, super().disable_tasks)

    @admin.action(description=beat_admin.PeriodicTaskAdmin.toggle_tasks.short_description)
    def toggle_tasks(self, request: HttpRequest, queryset: models.QuerySet) -> None:
        self._audited_bulk_change(request, queryset, super().toggle_tasks)

    @admin.action(description=beat_admin.PeriodicTaskAdmin.run_tasks.short_description)
    def run_tasks(self, request: HttpRequest, queryset: models.QuerySet) -> None:
        """Sends the tasks now; django_celery_beat sends none of them when one is unknown, and
        then nothing is recorded."""
        tasks = list(queryset)
        super().run_tasks(request, queryset)
        if any(self.celery_app.tasks.get(task.task) is None for task in tasks):
            return
        with transaction.atomic():
            for task in tasks:
                self._record(
                    request,
                    task,
                    AuditLog.Action.ACTIVATE,
                    new_values={"run": "started by an operator", "task": task.task},
                )


@admin.register(IntervalSchedule)
class IntervalScheduleAdmin(AuditedModelAdmin, beat_admin.IntervalScheduleAdmin):
    audit_resource_type = "interval_schedule"


@admin.register(CrontabSchedule)
class CrontabScheduleAdmin(AuditedModelAdmin, beat_admin.CrontabScheduleAdmin):
    audit_resource_type = "crontab_schedule"


@admin.register(SolarSchedule)
class SolarScheduleAdmin(AuditedModelAdmin, beat_admin.SolarScheduleAdmin):
    audit_resource_type = "solar_schedule"


@admin.register(ClockedSchedule)
class ClockedScheduleAdmin(AuditedModelAdmin, beat_admin.ClockedScheduleAdmin):
    audit_resource_type = "clocked_schedule"
