"""Re-encrypting every secret column under the first of settings.FIELD_ENCRYPTION_KEYS, so that
an old key can then be removed. Runs while the application serves: the old keys still decrypt
during the rotation (MultiFernet), rows are locked a batch at a time (one short transaction per
batch, with its audit row), and a row already under the first key is left alone, so a rotation
that stops half-way is finished by running it again."""

from collections.abc import Callable
from dataclasses import dataclass, field

from django.db import models, transaction

from accounts.credential_encryption import (
    CredentialDecryptionError,
    is_under_first_key,
    rotate_credential,
)
from accounts.models import ApiKey, User
from compliance.audit import AuditContext
from compliance.models import AuditLog
from compliance.services import record_audit_event


@dataclass(frozen=True)
class SecretColumns:
    model: type[models.Model]
    fields: tuple[str, ...]
    # BYTEA columns hold the token's bytes; text columns its ASCII.
    text: bool = False


SECRET_COLUMNS = (
    SecretColumns(ApiKey, ("api_key_encrypted", "api_secret_encrypted", "passphrase_encrypted")),
    SecretColumns(User, ("mfa_secret",), text=True),
)


@dataclass
class RotationReport:
    rotated: dict[str, int] = field(default_factory=dict)
    already_current: dict[str, int] = field(default_factory=dict)
    undecryptable: list[str] = field(default_factory=list)


def _rotate_value(value: object, text: bool) -> object | None:
    """The value re-encrypted under the first key, or None when it already is."""
    token = value.encode("ascii") if text else bytes(value)
    if is_under_first_key(token):
        return None
    rotated = rotate_credential(token)
    return rotated.decode("ascii") if text else rotated


def _rotate_batch(
    columns: SecretColumns, after: object, batch_size: int, report: RotationReport, context
) -> object | None:
    """Rotate the next batch of rows after primary key `after`; returns the last key seen."""
    table = columns.model._meta.db_table
    has_secret = models.Q()
    for name in columns.fields:
        has_secret |= models.Q(**{f"{name}__isnull": False})
    with transaction.atomic():
        rows = (
            columns.model.objects.select_for_update()
            .filter(has_secret)
            .filter(**({"pk__gt": after} if after is not None else {}))
            .order_by("pk")
            .only("pk", *columns.fields)[:batch_size]
        )
        last = None
        rotated_rows = 0
        for row in rows:
            last = row.pk
            changed = []
            for name in columns.fields:
                value = getattr(row, name)
                if value is None:
                    continue
                label = f"{table}.{name}"
                try:
                    new_value = _rotate_value(value, columns.text)
                except CredentialDecryptionError:
                    report.undecryptable.append(f"{label} of {row.pk}")
                    continue
                if new_value is None:
                    report.already_current[label] = report.already_current.get(label, 0) + 1
                    continue
                setattr(row, name, new_value)
                changed.append(name)
                report.rotated[label] = report.rotated.get(label, 0) + 1
            if changed:
                row.save(update_fields=changed)
                rotated_rows += 1
        if rotated_rows:
            record_audit_event(
                actor=None,
                action=AuditLog.Action.UPDATE,
                resource_type="encryption_keys",
                metadata={"table": table, "rows_reencrypted": rotated_rows},
                context=context,
            )
    return last


def rotate_encryption_keys(
    *,
    batch_size: int = 500,
    context: AuditContext | None = None,
    progress: Callable[[str, int], None] | None = None,
) -> RotationReport:
    """Re-encrypt every secret column (broker credentials, TOTP secrets) under the first key;
    values no configured key decrypts are listed in the report, not changed."""
    if batch_size < 1:
        raise ValueError("The batch size must be at least 1.")
    context = context or AuditContext.system("rotate_encryption_keys")
    report = RotationReport()
    for columns in SECRET_COLUMNS:
        after = None
        batches = 0
        while True:
            after_batch = _rotate_batch(columns, after, batch_size, report, context)
            if after_batch is None:
                break
            after = after_batch
            batches += 1
            if progress is not None:
                progress(columns.model._meta.db_table, batches)
    return report
