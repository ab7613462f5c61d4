"""GDPR Article 17: erase a person. In order: their rows in the time-series database (no foreign
key reaches them; done first so a rerun still finds them through the person), then in one
transaction of the main database: the erasure's own audit row, the rows kept by law moved to an
anonymous placeholder owner (each app's `detach`), the audit trail anonymised (a sanctioned,
anchored change), Django's admin history about them deleted, and the person deleted (their
other rows go by ON DELETE CASCADE); last their Redis keys and sessions. Running it again finds
nothing more to do."""

import uuid
from dataclasses import dataclass, field
from typing import Any

from django.contrib.admin.models import LogEntry
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.db import router, transaction
from django.db.models.functions import Now

from compliance.audit import AuditContext
from compliance.gdpr.subjects import model_for, rows_of
from compliance.models import AuditLog
from compliance.registry import Erasure, ModelPolicy, registry
from compliance.services import anonymise_audit_rows, record_audit_event
from core.cache_keys import SESSION_KEY_PREFIX, rate_limit_key

PLACEHOLDER_DOMAIN = "erased.invalid"


@dataclass(frozen=True)
class PlanLine:
    label: str
    rows: int
    outcome: str
    reason: str = ""


@dataclass
class ErasurePlan:
    user_id: uuid.UUID
    lines: list[PlanLine] = field(default_factory=list)
    placeholder_id: uuid.UUID | None = None

    def describe(self) -> list[str]:
        return [
            f"{line.label}: {line.rows} row(s) {line.outcome}"
            + (f" ({line.reason})" if line.reason else "")
            for line in self.lines
        ]


def _personal_policies() -> list[ModelPolicy]:
    return [
        policy
        for policy in registry.policies()
        if policy.erasure is not Erasure.NO_PERSONAL_DATA and (policy.owner or policy.via)
    ]


def plan_erasure(user: Any) -> ErasurePlan:
    """What erasing `user` will do, table by table (nothing is changed)."""
    plan = ErasurePlan(user.pk)
    for policy in _personal_policies():
        rows = rows_of(policy, user)
        if policy.erasure is Erasure.RETAINED_BY_LAW:
            kept = rows.filter(created_at__gte=Now() - policy.retention.period).count()
            plan.lines.append(
                PlanLine(
                    policy.label,
                    kept,
                    "kept, detached to an anonymous placeholder owner",
                    f"retained by law: {policy.retention.reason}, GDPR Art. 17(3)(b)",
                )
            )
            plan.lines.append(
                PlanLine(policy.label, rows.count() - kept, "deleted", "past their retention")
            )
        elif policy.erasure is Erasure.ANONYMISED:
            plan.lines.append(
                PlanLine(policy.label, rows.count(), "anonymised", policy.retention.reason)
            )
        else:
            plan.lines.append(PlanLine(policy.label, rows.count(), "deleted"))
    return plan


def _make_placeholder() -> Any:
    """An owner for the rows kept by law: no name, no address of anyone, cannot sign in."""
    user_model = get_user_model()
    return user_model.objects.create_user(
        email=f"erased-{uuid.uuid4().hex}@{PLACEHOLDER_DOMAIN}",
        password=None,
        is_active=False,
        first_name=None,
        last_name=None,
        notification_preferences=None,
    )


def _owned_resource_ids(user: Any) -> list[uuid.UUID]:
    """The ids of what the person owns that erasure deletes or detaches (not what the law keeps
    as it is): audit rows about them lose their values."""
    ids: list[uuid.UUID] = []
    for policy in _personal_policies():
        if policy.erasure is Erasure.ERASED and policy.label != type(user)._meta.label:
            ids += [
                pk
                for pk in rows_of(policy, user).values_list("pk", flat=True)
                if isinstance(pk, uuid.UUID)
            ]
    return ids


def _delete_elsewhere(user: Any) -> None:
    """Erased rows in a database other than the user's (no foreign key cascades there)."""
    home = router.db_for_write(type(user))
    for policy in _personal_policies():
        model = model_for(policy)
        using = router.db_for_write(model)
        if using != home and policy.erasure is Erasure.ERASED:
            with transaction.atomic(using=using):
                rows_of(policy, user).delete()


def declared_redis_keys(user: Any) -> list[str]:
    """The person's keys the apps declare (rate limits, cached valuations), as the cache names
    them."""
    return [key for finder in registry.redis_key_finders() for key in finder(user)]


def delete_sessions_of(user_id: uuid.UUID) -> int:
    """Delete every session signed in as the person (sessions are keyed by session, not by user:
    each one under `session:` is read)."""
    client = cache.client.get_client(write=True)
    deleted = 0
    for raw_key in client.scan_iter(match=cache.make_key(f"{SESSION_KEY_PREFIX}*"), count=500):
        raw_value = client.get(raw_key)
        data = cache.client.decode(raw_value) if raw_value is not None else None
        if isinstance(data, dict) and str(data.get("_auth_user_id")) == str(user_id):
            deleted += client.delete(raw_key)
    return deleted


def erase_user(*, user: Any, actor: Any, context: AuditContext | None = None) -> ErasurePlan:
    """Erase `user` as the module docstring says; returns what was done."""
    plan = plan_erasure(user)
    user_id = user.pk  # Model.delete() forgets it
    redis_keys = declared_redis_keys(user)
    owned_ids = _owned_resource_ids(user)
    _delete_elsewhere(user)
    with transaction.atomic(using=router.db_for_write(type(user))):
        placeholder = _make_placeholder()
        plan.placeholder_id = placeholder.pk
        # The erasure itself is recorded first; it names the placeholder, never the person.
        record_audit_event(
            actor=actor,
            action=AuditLog.Action.DELETE,
            resource_type="user",
            resource_id=placeholder.pk,
            metadata={
                "purpose": "gdpr_erasure",
                "plan": [
                    {"table": line.label, "rows": line.rows, "outcome": line.outcome}
                    for line in plan.lines
                ],
            },
            context=context,
        )
        for policy in registry.policies():
            if policy.detach is not None:
                policy.detach(user, placeholder)
        anonymise_audit_rows(user_id=user.pk, resource_ids=owned_ids)
        LogEntry.objects.filter(object_id=str(user.pk)).delete()
        user.delete()
    if redis_keys:
        cache.delete_many(redis_keys)
    delete_sessions_of(user_id)
    return plan


def erase_leftovers(*, user_id: uuid.UUID) -> int:
    """A rerun for a person already erased: sessions and their rate-limit key, if a crash between
    the database and Redis left any. Returns how many keys went."""
    return delete_sessions_of(user_id) + cache.delete(rate_limit_key(user_id))
