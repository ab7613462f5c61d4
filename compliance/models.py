"""The audit trail: table `audit_logs` (spec §3.10). Rows are written by
`compliance.services.record_audit_event` and never edited, except that erasing a user
nulls `user_id` (ON DELETE SET NULL) and GDPR anonymisation
(`compliance.services.anonymise_audit_rows`) nulls `ip_address` and `user_agent` and erases
personal values; a trigger enforces this (compliance migrations 0004 and 0005)."""

from django.conf import settings
from django.contrib.postgres.functions import TransactionNow
from django.db import models
from django.db.models import F, Q


class AuditLogAction(models.TextChoices):
    LOGIN = "login"
    LOGOUT = "logout"
    REGISTER = "register"
    CREATE = "create"
    READ = "read"
    UPDATE = "update"
    DELETE = "delete"
    ACTIVATE = "activate"
    DEACTIVATE = "deactivate"
    ORDER_PLACED = "order_placed"
    ORDER_FILLED = "order_filled"
    ORDER_CANCELLED = "order_cancelled"
    API_KEY_CREATED = "api_key_created"
    API_KEY_DELETED = "api_key_deleted"
    SETTINGS_CHANGED = "settings_changed"


class AuditLog(models.Model):
    Action = AuditLogAction

    id = models.BigAutoField(primary_key=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="audit_logs",
        db_index=False,
    )

    action = models.CharField(max_length=50, choices=Action.choices)
    resource_type = models.CharField(max_length=50)
    resource_id = models.UUIDField(null=True, blank=True)

    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.TextField(null=True, blank=True)

    old_values = models.JSONField(null=True, blank=True)
    new_values = models.JSONField(null=True, blank=True)
    metadata = models.JSONField(null=True, blank=True)

    created_at = models.DateTimeField(null=True, db_default=TransactionNow())

    class Meta:
        db_table = "audit_logs"
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(action__in=AuditLogAction.values), name="valid_action"
            ),
        ]
        indexes = [
            models.Index(fields=["user"], name="idx_audit_logs_user"),
            models.Index(fields=["resource_type", "resource_id"], name="idx_audit_logs_resource"),
            models.Index(F("created_at").desc(), name="idx_audit_logs_time"),
            models.Index("action", F("created_at").desc(), name="idx_audit_logs_action"),
        ]

    def __str__(self) -> str:
        return f"{self.action} {self.resource_type} {self.resource_id or ''}".strip()
