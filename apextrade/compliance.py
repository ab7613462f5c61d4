"""Compliance declarations of the third-party models ApexTrade stores (Django's auth, admin,
sessions and content types; django-celery-beat), so that nothing in either database is left
unexamined. Registered from ApexTradeConfig.ready()."""

import datetime as dt

from compliance.registry import AuditEvents, Erasure, ModelPolicy, Retention, registry

BEAT_MODELS = (
    "ClockedSchedule",
    "CrontabSchedule",
    "IntervalSchedule",
    "PeriodicTask",
    "PeriodicTasks",
    "SolarSchedule",
)


def declare() -> None:
    registry.register(
        "apextrade",
        models=[
            # Operators' permission groups: no personal data of clients.
            ModelPolicy("auth.Group", Erasure.NO_PERSONAL_DATA),
            ModelPolicy("auth.Permission", Erasure.NO_PERSONAL_DATA),
            ModelPolicy("contenttypes.ContentType", Erasure.NO_PERSONAL_DATA),
            # Django's admin history names the object changed (object_repr: a user's email);
            # erasure deletes the entries about the person (compliance.gdpr.erasure).
            ModelPolicy(
                "admin.LogEntry",
                Erasure.ERASED,
                retention=Retention(dt.timedelta(days=7 * 365), "the console's own history"),
            ),
            # Sessions live in Redis (accounts.session_store); the table exists but stays empty.
            ModelPolicy(
                "sessions.Session",
                Erasure.ERASED,
                retention=Retention(dt.timedelta(weeks=2), "SESSION_COOKIE_AGE"),
            ),
            *(
                ModelPolicy(f"django_celery_beat.{name}", Erasure.NO_PERSONAL_DATA)
                for name in BEAT_MODELS
            ),
        ],
        # The console's edits of operators' permission groups (accounts.admin) and of beat's
        # schedules (apextrade.admin).
        audit_events=[
            AuditEvents("group", ("create", "update", "delete"), model="auth.Group"),
            *(
                AuditEvents(resource, ("create", "update", "delete", "activate", "deactivate"))
                for resource in (
                    "periodic_task",
                    "interval_schedule",
                    "crontab_schedule",
                    "solar_schedule",
                    "clocked_schedule",
                )
            ),
        ],
    )
