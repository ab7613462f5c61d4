"""Writes of the compliance domain. Every business service writes its audit row inside its own
transaction, so an action and its audit row commit or roll back together:

- plain writes of a model go through the audited-write helpers `audited_create`,
  `audited_update` and `audited_delete` (validation, the write and its row in one transaction);
- an event that is not a create, update or delete of one model (a sign-in, a sign-out, a refused
  sign-in, an export, a batch job) goes through `record_audit_event`, with what happened in
  `metadata`.

Both write through `record_audit_event`, which refuses a resource type or action no app declared
(`compliance.registry.UndeclaredAuditEvent`), puts every value through the one encoder
(compliance.encoding) and redacts the values of every declared secret field name."""

import contextlib
import decimal
import uuid
from collections.abc import Callable, Collection
from typing import Any

from django.core.exceptions import FieldDoesNotExist
from django.db import models, router, transaction

from compliance.audit import AuditContext
from compliance.audit_chain import sanctioned_change
from compliance.encoding import json_value
from compliance.models import AuditChainAnchor, AuditLog
from compliance.registry import registry

# What an erased value of old_values/new_values becomes; the only new value that audit_logs'
# append-only trigger accepts (compliance migration 0005).
ERASED = "[erased]"
# What the value of a declared secret field becomes in an audit row: the row says that the
# secret was set or changed, never to what. None stays None (that no secret is set tells nothing).
REDACTED = "[redacted]"


def _is_secret(name: str, secrets: frozenset[str]) -> bool:
    return name in secrets or name.removesuffix("_id") in secrets


def _encoded(value: Any, secrets: frozenset[str]) -> Any:
    if isinstance(value, dict):
        return {
            str(key): REDACTED
            if _is_secret(str(key), secrets) and item is not None
            else _encoded(item, secrets)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple | set | frozenset):
        return [_encoded(item, secrets) for item in value]
    return json_value(value)


def audit_values(values: dict[str, Any] | None) -> dict[str, Any] | None:
    """`values` as an audit row stores them: every value (nested ones too) through the one
    encoder, the value of every declared secret field name (`password`, `token_hash`...)
    REDACTED."""
    if values is None:
        return None
    return _encoded(values, registry.secret_fields())


def _field_value(instance: models.Model, name: str) -> Any:
    """The value of `name` (a field's name or attname) as JSON, as the column holds it: a Decimal
    at its column's scale (2500 in NUMERIC(18, 8) is "2500.00000000", whoever wrote it)."""
    value = getattr(instance, name)
    if isinstance(value, decimal.Decimal) and value.is_finite():
        try:
            field = instance._meta.get_field(name)
        except FieldDoesNotExist:
            field = None
        if isinstance(field, models.DecimalField) and field.decimal_places is not None:
            with contextlib.suppress(decimal.InvalidOperation):
                value = value.quantize(decimal.Decimal(1).scaleb(-field.decimal_places))
    return json_value(value)


def audit_snapshot(instance: models.Model, fields: list[str] | None = None) -> dict[str, Any]:
    """The instance's concrete field values as JSON (compliance.encoding), without the secret
    fields the apps declare."""
    names = fields or [field.attname for field in instance._meta.concrete_fields]
    secrets = registry.secret_fields()
    return {name: _field_value(instance, name) for name in names if not _is_secret(name, secrets)}


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
    """Append one row to the audit trail; the helper for events that are not a plain create,
    update or delete (sign-in, sign-out, export...: say what happened in `metadata`), and what
    the audited-write helpers write through. `actor` is the acting user, or None for the system.
    Raises UndeclaredAuditEvent, writing nothing, when no app declared `action` on
    `resource_type`. Values and metadata go through `audit_values` (one encoder, secrets
    redacted)."""
    registry.check_audit_event(resource_type, action)
    context = context or AuditContext()
    return AuditLog.objects.create(
        user=actor if getattr(actor, "pk", None) else None,
        action=action,
        resource_type=resource_type,
        resource_id=resource_id,
        ip_address=context.ip_address,
        user_agent=context.user_agent,
        old_values=audit_values(old_values),
        new_values=audit_values(new_values),
        metadata=audit_values({"channel": context.channel, **(metadata or {})}),
    )


def _stored_values(instance: models.Model, names: list[str]) -> dict[str, Any]:
    """The named values as JSON, secrets included (record_audit_event redacts them), so that a
    changed secret shows as changed."""
    return {name: _field_value(instance, name) for name in names}


def save_audited_changes(
    *,
    instance: models.Model,
    changes: dict[str, Any],
    actor: Any,
    action: str,
    resource_type: str,
    context: AuditContext | None = None,
    metadata: dict[str, Any] | None = None,
    clean: Callable[[models.Model], None] | None = None,
) -> models.Model:
    """Apply `changes` to a (locked) instance, validate (`clean`, default full_clean), save
    those columns, and audit what really changed, old and new (a changed secret as REDACTED).
    Call inside the service's transaction; prefer `audited_update`."""
    registry.check_audit_event(resource_type, action)
    before = _stored_values(instance, list(changes))
    for name, value in changes.items():
        setattr(instance, name, value)
    (clean or type(instance).full_clean)(instance)
    instance.save(update_fields=list(changes))
    old, new = changed_values(before, _stored_values(instance, list(changes)))
    resource_type, resource_id, key = _resource(instance, resource_type)
    record_audit_event(
        actor=actor,
        action=action,
        resource_type=resource_type,
        resource_id=resource_id,
        old_values=old,
        new_values=new,
        metadata={**key, **(metadata or {})},
        context=context,
    )
    return instance


def _resource(instance: models.Model, resource_type: str | None) -> tuple[str, Any, dict]:
    """The audit row's resource type (declared by the model's app) and id; a pk that is not a
    UUID goes to metadata."""
    resource_type = resource_type or registry.resource_type_for(instance._meta.label)
    if isinstance(instance.pk, uuid.UUID):
        return resource_type, instance.pk, {}
    return resource_type, None, {"pk": str(instance.pk)}


def audited_create(
    *,
    instance: models.Model,
    actor: Any,
    context: AuditContext | None = None,
    action: str = AuditLog.Action.CREATE,
    fields: list[str] | None = None,
    resource_type: str | None = None,
    metadata: dict[str, Any] | None = None,
    clean: Callable[[models.Model], None] | None = None,
) -> models.Model:
    """Validate (`clean`, default full_clean) and insert `instance`, and audit its values
    (`fields`, or all; secrets never), in one transaction. An undeclared resource type or
    action is refused before anything is written."""
    registry.check_audit_event(_resource(instance, resource_type)[0], action)
    with transaction.atomic(using=router.db_for_write(type(instance))):
        (clean or type(instance).full_clean)(instance)
        instance.save(force_insert=True)
        resource_type, resource_id, key = _resource(instance, resource_type)
        record_audit_event(
            actor=actor,
            action=action,
            resource_type=resource_type,
            resource_id=resource_id,
            new_values=audit_snapshot(instance, fields),
            metadata={**key, **(metadata or {})},
            context=context,
        )
    return instance


def audited_update(
    *,
    instance: models.Model,
    changes: dict[str, Any],
    actor: Any,
    context: AuditContext | None = None,
    action: str = AuditLog.Action.UPDATE,
    resource_type: str | None = None,
    metadata: dict[str, Any] | None = None,
    clean: Callable[[models.Model], None] | None = None,
) -> models.Model:
    """Apply `changes` to a (locked) instance, validate (`clean`, default full_clean), save
    those columns, and audit what really changed, old and new, in one transaction."""
    resource_type = resource_type or registry.resource_type_for(instance._meta.label)
    with transaction.atomic(using=router.db_for_write(type(instance))):
        return save_audited_changes(
            instance=instance,
            changes=changes,
            actor=actor,
            action=action,
            resource_type=resource_type,
            context=context,
            metadata=metadata,
            clean=clean,
        )


def audited_delete(
    *,
    instance: models.Model,
    actor: Any,
    context: AuditContext | None = None,
    action: str = AuditLog.Action.DELETE,
    fields: list[str] | None = None,
    resource_type: str | None = None,
    metadata: dict[str, Any] | None = None,
) -> None:
    """Delete `instance` and audit its values (`fields`, or all; secrets never), in one
    transaction."""
    resource_type, resource_id, key = _resource(instance, resource_type)
    registry.check_audit_event(resource_type, action)
    with transaction.atomic(using=router.db_for_write(type(instance))):
        old_values = audit_snapshot(instance, fields)
        instance.delete()
        # The row last: audited transactions take turns from their first audit row to commit.
        record_audit_event(
            actor=actor,
            action=action,
            resource_type=resource_type,
            resource_id=resource_id,
            old_values=old_values,
            metadata={**key, **(metadata or {})},
            context=context,
        )


def _related_names(instance: models.Model, name: str) -> list[str]:
    return sorted(str(related) for related in getattr(instance, name).all())


def audited_relations_update(
    *,
    instance: models.Model,
    names: list[str],
    apply: Callable[[], None],
    actor: Any,
    context: AuditContext | None = None,
    created: bool = False,
    resource_type: str | None = None,
) -> None:
    """Many-to-many fields `names` of `instance` changed by `apply()` (a form's save_m2m), and
    one update row in the same transaction: each changed field's related rows as a sorted list
    of names, old and new (only new, for an instance just created). Nothing changed: no row."""
    resource_type, resource_id, key = _resource(instance, resource_type)
    registry.check_audit_event(resource_type, AuditLog.Action.UPDATE)
    with transaction.atomic(using=router.db_for_write(type(instance))):
        before = {} if created else {name: _related_names(instance, name) for name in names}
        apply()
        after = {name: _related_names(instance, name) for name in names}
        old, new = changed_values(before, after)
        if created:
            old, new = None, {name: value for name, value in after.items() if value}
        if not (old or new):
            return
        record_audit_event(
            actor=actor,
            action=AuditLog.Action.UPDATE,
            resource_type=resource_type,
            resource_id=resource_id,
            old_values=old,
            new_values=new,
            metadata=key,
            context=context,
        )


# An UPDATE expression for a JSON column ({column}) of audit_logs: a value that is the person's
# id, on rows about the person's account a value of one of the named (personal) keys, and in
# old_values/new_values ({values_column}) of rows about what they owned any value, becomes the
# marker; anything else stays as it is.
_ERASE_VALUES = """
    CASE WHEN jsonb_typeof({column}) = 'object' THEN
        {column} || COALESCE(
            (SELECT jsonb_object_agg(entry.key, to_jsonb(%(erased)s::text))
             FROM jsonb_each({column}) AS entry
             WHERE entry.value = to_jsonb(%(user)s::text)
                OR ({values_column} AND resource_id = ANY(%(resources)s::uuid[])
                    AND entry.value <> 'null'::jsonb)
                OR (resource_type = 'user' AND resource_id = %(user)s
                    AND entry.key = ANY(%(fields)s::text[]) AND entry.value <> 'null'::jsonb)),
            '{{}}'::jsonb)
    ELSE {column} END"""

_HOLDS_THE_ID = """
    EXISTS (SELECT 1 FROM jsonb_each_text(
        CASE WHEN jsonb_typeof({column}) = 'object' THEN {column} ELSE '{{}}'::jsonb END) AS entry
        WHERE entry.value = %(user)s::text)"""


def anonymise_audit_rows(
    *,
    user_id: uuid.UUID,
    fields: Collection[str] | None = None,
    resource_ids: Collection[uuid.UUID] = (),
) -> int:
    """Erase a person from the audit trail but keep what happened (spec §7.3): rows where they
    acted lose user_id, ip_address and user_agent; rows about their account (resource "user")
    lose resource_id and get ERASED for the values of `fields` (default: every declared personal
    field: email, first_name, last_name) in old_values and new_values; a value anywhere that is
    their id becomes ERASED; rows about `resource_ids` (what they owned and erasure deletes: their
    strategy names, token names...) get ERASED for every value. A row where they acted on
    something else keeps its values, which describe that thing, and a row about them keeps the
    address of whoever acted. Touched rows
    lose their salt, so the hash sealed at insertion cannot confirm a guess of what was erased.
    One UPDATE, a sanctioned change the trigger anchors row by row; returns the number of rows.
    The caller (GDPR erasure) records the erasure itself."""
    fields = registry.personal_fields() if fields is None else fields
    holds_the_id = " OR ".join(
        _HOLDS_THE_ID.format(column=column) for column in ("old_values", "new_values", "metadata")
    )
    sql = f"""
        UPDATE {AuditLog._meta.db_table} SET
            user_id = CASE WHEN user_id = %(user)s THEN NULL ELSE user_id END,
            ip_address = CASE WHEN user_id = %(user)s THEN NULL ELSE ip_address END,
            user_agent = CASE WHEN user_id = %(user)s THEN NULL ELSE user_agent END,
            resource_id = CASE WHEN resource_id = %(user)s THEN NULL ELSE resource_id END,
            old_values = {_ERASE_VALUES.format(column="old_values", values_column="true")},
            new_values = {_ERASE_VALUES.format(column="new_values", values_column="true")},
            metadata = {_ERASE_VALUES.format(column="metadata", values_column="false")},
            salt = NULL
        WHERE user_id = %(user)s OR resource_id = %(user)s
           OR resource_id = ANY(%(resources)s::uuid[]) OR {holds_the_id}
    """
    with sanctioned_change(AuditChainAnchor.Kind.GDPR_ANONYMISATION) as cursor:
        cursor.execute(
            sql,
            {
                "user": user_id,
                "fields": sorted(fields),
                "erased": ERASED,
                "resources": list(resource_ids),
            },
        )
        return cursor.rowcount
