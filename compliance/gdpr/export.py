"""GDPR Article 15: everything held about a person in both databases, as one JSON document,
streamed section by section and row by row (server-side cursors), so that a user with millions
of rows exports in bounded memory."""

import datetime as dt
from collections.abc import Iterator
from typing import Any

from django.db import transaction
from django.utils import timezone

from compliance.audit import AuditContext
from compliance.encoding import dumps
from compliance.gdpr.subjects import exported_columns, rows_of
from compliance.models import AuditLog
from compliance.registry import registry
from compliance.services import record_audit_event

EXPORT_SCHEMA_VERSION = 1
CHUNK_ROWS = 2000


def export_sections() -> list[tuple[str, Any]]:
    """(section name, policy) of every exported model, in a stable order."""
    return sorted(((policy.section, policy) for policy in registry.exported()), key=lambda p: p[0])


def record_export(*, user: Any, actor: Any, context: AuditContext | None) -> AuditLog:
    """The audit row of an export (a read of personal data), committed before any data leaves."""
    with transaction.atomic():
        return record_audit_event(
            actor=actor,
            action=AuditLog.Action.READ,
            resource_type="user",
            resource_id=user.pk,
            metadata={"purpose": "gdpr_export", "schema_version": EXPORT_SCHEMA_VERSION},
            context=context,
        )


def stream_user_export(*, user: Any, exported_at: dt.datetime | None = None) -> Iterator[str]:
    """The export document in pieces: `{"schema_version": 1, "exported_at": ..., "user_id": ...,
    "<section>": [rows...], ...}`. Secret fields are left out."""
    exported_at = exported_at or timezone.now()
    yield (
        f'{{"schema_version":{EXPORT_SCHEMA_VERSION},"exported_at":{dumps(exported_at)},'
        f'"user_id":{dumps(user.pk)}'
    )
    for section, policy in export_sections():
        columns = exported_columns(policy)
        rows = rows_of(policy, user).order_by(*policy.order_by).values_list(*columns)
        yield f",{dumps(section)}:["
        separator = ""
        for row in rows.iterator(chunk_size=CHUNK_ROWS):
            yield separator + dumps(dict(zip(columns, row, strict=True)))
            separator = ","
        yield "]"
    yield "}\n"


def export_user_data(
    *, user: Any, actor: Any, context: AuditContext | None = None
) -> Iterator[str]:
    """Audit the export, then give its pieces (for a file, a command's output or a response)."""
    record_export(user=user, actor=actor, context=context)
    return stream_user_export(user=user)
