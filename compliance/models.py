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

    # The hash chain (compliance migration 0006): set by the database's insert trigger under an
    # advisory lock held to commit, whatever the writer sends. row_hash = sha256(prev_hash ||
    # content_hash); content_hash = sha256 of the row's canonical content, salt included.
    chain_seq = models.BigIntegerField(null=True, unique=True, editable=False)
    salt = models.BinaryField(null=True, editable=False)
    content_hash = models.BinaryField(null=True, editable=False)
    prev_hash = models.BinaryField(null=True, editable=False)
    row_hash = models.BinaryField(null=True, editable=False)

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


class AuditChainHead(models.Model):
    """The chain's last link (one row), moved by audit_logs' statement trigger: verification
    compares the newest row with it, so rows cut from the end of the chain are noticed."""

    id = models.SmallIntegerField(primary_key=True)
    seq = models.BigIntegerField()
    row_hash = models.BinaryField()

    class Meta:
        db_table = "audit_chain_head"

    def __str__(self) -> str:
        return f"audit chain at {self.seq}"


class AuditChainAnchorKind(models.TextChoices):
    GDPR_ANONYMISATION = "gdpr_anonymisation"
    USER_DELETED = "user_deleted"  # ON DELETE SET NULL of user_id
    RETENTION_PURGE = "retention_purge"


class AuditChainAnchor(models.Model):
    """Where a sanctioned change re-anchored the chain, written by audit_logs' triggers: an
    anonymised row's new content hash (its link still uses the sealed one), or the first row kept
    by a retention purge and the hash it links to. Append-only like audit_logs."""

    Kind = AuditChainAnchorKind

    id = models.BigAutoField(primary_key=True)
    kind = models.CharField(max_length=30, choices=Kind.choices)
    audit_log_id = models.BigIntegerField(null=True)
    chain_seq = models.BigIntegerField(null=True)
    content_hash = models.BinaryField(null=True)
    prev_hash = models.BinaryField(null=True)
    rows = models.BigIntegerField(null=True)
    created_at = models.DateTimeField(db_default=TransactionNow())

    class Meta:
        db_table = "audit_chain_anchors"
        indexes = [models.Index(fields=["audit_log_id", "-id"], name="idx_audit_anchor_row")]

    def __str__(self) -> str:
        return f"{self.kind} at {self.chain_seq}"


class ArchiveBatchStatus(models.TextChoices):
    PENDING = "pending"  # chosen; the archive may be missing or partial
    VERIFIED = "verified"  # written, read back and checked against its manifest
    DELETED = "deleted"  # its rows are gone from the database


class ArchiveBatch(models.Model):
    """One batch of an archival job: the rows it took (their ids), where their archive is, and
    how far it got, so that a run that died anywhere is finished by the next one."""

    Status = ArchiveBatchStatus

    id = models.UUIDField(primary_key=True)
    job = models.CharField(max_length=100)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    row_ids = models.JSONField()
    archive_name = models.CharField(max_length=255)
    manifest_name = models.CharField(max_length=255)
    row_counts = models.JSONField(default=dict)
    created_at = models.DateTimeField(db_default=TransactionNow())
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "archive_batches"
        verbose_name_plural = "archive batches"
        indexes = [models.Index(fields=["job", "status"], name="idx_archive_batches_open")]

    def __str__(self) -> str:
        return f"{self.job} {self.id} ({self.status})"


class RetentionJobRun(models.Model):
    """The last run of each retention job, for retention_report and the console."""

    job = models.CharField(max_length=100, primary_key=True)
    last_run_at = models.DateTimeField()
    last_status = models.CharField(max_length=20)
    last_result = models.JSONField(default=dict)

    class Meta:
        db_table = "retention_job_runs"

    def __str__(self) -> str:
        return f"{self.job} {self.last_status} at {self.last_run_at}"
