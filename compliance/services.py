"""Writes of the compliance domain. Every business service calls `record_audit_event` inside its
own transaction, so an action and its audit row commit or roll back together."""

import datetime
import decimal
import uuid
from typing import Any

from django.db import models

from compliance.audit import AuditContext
from compliance.models import AuditLog

# Never copied into an audit row, whatever model they belong to.
SECRET_FIELDS = frozenset(
    {
        "password",
        "mfa_secret",
        "api_key_encrypted",
        "api_secret_encrypted",
        "passphrase_encrypted",
    }
)


def _json_value(value: Any) -> Any:
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, datetime.datetime | datetime.date):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, bytes | memoryview):
        return None
    return value


def audit_snapshot(instance: models.Model, fields: list[str] | None = None) -> dict[str, Any]:
    """The instance's concrete field values as JSON, without secrets."""
    names = fields or [field.attname for field in instance._meta.concrete_fields]
    return {
        name: _json_value(getattr(instance, name))
        for name in names
        if name not in SECRET_FIELDS and name.removesuffix("_id") not in SECRET_FIELDS
    }


def changed_values(
    before: dict[str, Any], after: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The (old, new) pairs of the keys whose value differs."""
    keys = [key for key in after if before.get(key) != after.get(key)]
    return {key: before.get(key) for key in keys}, {key: after[key] for key in keys}


def record_audit_event(
    *,
    actor: Any,
    action: str,
    resource_type: str,
    resource_id: uuid.UUID | None = None,
    old_values: dict[str, Any] | None = None,
    new_values: dict[str, Any] | None = None,
    metadata: dict[str, Any] | None = None,
    context: AuditContext | None = None,
) -> AuditLog:
    """Append one row to the audit trail. `actor` is the acting user, or None for the system."""
    context = context or AuditContext()
    return AuditLog.objects.create(
        user=actor if getattr(actor, "pk", None) else None,
        action=action,
        resource_type=resource_type,
        resource_id=resource_id,
        ip_address=context.ip_address,
        user_agent=context.user_agent,
        old_values=old_values,
        new_values=new_values,
        metadata={"channel": context.channel, **(metadata or {})},
    )


def save_audited_changes(
    *,
    instance: models.Model,
    changes: dict[str, Any],
    actor: Any,
    action: str,
    resource_type: str,
    context: AuditContext | None = None,
) -> models.Model:
    """Apply `changes` to a (locked) instance, validate, save those columns, and audit what really
    changed, old and new. Call inside the service's transaction."""
    before = audit_snapshot(instance, list(changes))
    for name, value in changes.items():
        setattr(instance, name, value)
    instance.full_clean()
    instance.save(update_fields=list(changes))
    old, new = changed_values(before, audit_snapshot(instance, list(changes)))
    record_audit_event(
        actor=actor,
        action=action,
        resource_type=resource_type,
        resource_id=instance.pk,
        old_values=old,
        new_values=new,
        context=context,
    )
    return instance
