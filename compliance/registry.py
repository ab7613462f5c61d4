"""The compliance registry: each app declares, in `<app>/compliance.py` and from its
`AppConfig.ready()`, how the GDPR export, the erasure and the retention jobs treat each of its
models, which fields are secrets, and which audit event types it writes (the way Sentry's
audit-log manager registers event types). Compliance reads the declarations and never names
another app's model. A second declaration of the same model or resource type is refused."""

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from django.core.exceptions import ImproperlyConfigured


class UndeclaredAuditEvent(LookupError):
    """An audit row about a resource type, or with an action, that no app declared in its
    `<app>/compliance.py` (`AuditEvents`): refused before anything is written."""


class Erasure(StrEnum):
    """What GDPR erasure (Art. 17) does to a model's rows of the person."""

    ERASED = "erased"  # deleted with the person
    ANONYMISED = "anonymised"  # kept, everything that identifies the person removed
    RETAINED_BY_LAW = "retained_by_law"  # kept for its legal period, detached from the person
    NO_PERSONAL_DATA = "no_personal_data"  # about markets or the system, about nobody


@dataclass(frozen=True)
class Retention:
    """How long rows are kept (spec §7.1) and why. `period` None: forever."""

    period: dt.timedelta | None
    reason: str


FOREVER = Retention(None, "account data or user content, kept while the account exists")


@dataclass(frozen=True)
class ModelPolicy:
    """One model's compliance story.

    `owner`: the ORM path from the model to its user (`"user"`, `"portfolio__user"`; several
    paths: rows matching any of them), or `via`:
    a column holding ids of another declared model's rows (`("portfolio_id", "trading.Portfolio")`,
    for a table in the other database). `section`: the key of the model's rows in a GDPR export.
    `personal_fields`: values that identify the person (erased from audit rows about them).
    `detach`: for RETAINED_BY_LAW models, `detach(user, placeholder) -> int` moves the person's
    rows inside their retention to the anonymous placeholder owner (called before the person is
    deleted); rows past it are deleted with the person."""

    label: str
    erasure: Erasure
    retention: Retention = FOREVER
    exported: bool = False
    section: str | None = None
    owner: str | tuple[str, ...] | None = None
    via: tuple[str, str] | None = None
    secret_fields: frozenset[str] = frozenset()
    personal_fields: frozenset[str] = frozenset()
    detach: Callable[[Any, Any], int] | None = None
    order_by: tuple[str, ...] = ("pk",)
    # The column (or path) whose age the retention counts from, for retention_report.
    time_field: str | None = None


@dataclass(frozen=True)
class ArchivalJob:
    """A retention job over one model: rows of `label` whose `time_field` is older than the
    retention period (and that match `conditions`) are archived to cold storage with their
    `children` (`(label, column naming the parent)`, deleted with it by ON DELETE CASCADE),
    verified, then deleted, batch by batch."""

    name: str
    label: str
    retention: Retention
    time_field: str = "created_at"
    conditions: tuple[tuple[str, Any], ...] = ()
    children: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class AuditEvents:
    """The audit rows an app writes about one resource type: `(resource_type, action)` pairs."""

    resource_type: str
    actions: tuple[str, ...]
    model: str | None = None


@dataclass
class AppDeclaration:
    app_label: str
    models: dict[str, ModelPolicy] = field(default_factory=dict)
    audit_events: dict[str, AuditEvents] = field(default_factory=dict)
    # Each returns the Redis keys (as the cache names them) holding the user's data.
    redis_keys: list[Callable[[Any], Iterable[str]]] = field(default_factory=list)
    archival_jobs: list[ArchivalJob] = field(default_factory=list)


class ComplianceRegistry:
    def __init__(self) -> None:
        self._apps: dict[str, AppDeclaration] = {}
        self._models: dict[str, ModelPolicy] = {}
        self._resources: dict[str, AuditEvents] = {}

    def register(
        self,
        app_label: str,
        *,
        models: Iterable[ModelPolicy],
        audit_events: Iterable[AuditEvents] = (),
        redis_keys: Iterable[Callable[[Any], Iterable[str]]] = (),
        archival_jobs: Iterable[ArchivalJob] = (),
    ) -> None:
        if app_label in self._apps:
            raise ImproperlyConfigured(f"{app_label} has already declared its compliance.")
        declaration = AppDeclaration(
            app_label, redis_keys=list(redis_keys), archival_jobs=list(archival_jobs)
        )
        known_jobs = {job.name for job in self.archival_jobs()}
        for job in declaration.archival_jobs:
            if job.name in known_jobs:
                raise ImproperlyConfigured(f"Archival job {job.name} is declared twice.")
        for policy in models:
            if policy.label in self._models:
                raise ImproperlyConfigured(f"{policy.label} is declared twice.")
            if policy.exported and not (policy.owner or policy.via):
                raise ImproperlyConfigured(f"{policy.label} is exported but names no owner.")
            if policy.erasure is Erasure.RETAINED_BY_LAW and policy.retention.period is None:
                raise ImproperlyConfigured(f"{policy.label} is retained by law for no period.")
            declaration.models[policy.label] = policy
        for events in audit_events:
            if events.resource_type in self._resources:
                raise ImproperlyConfigured(
                    f"Resource type {events.resource_type} is declared twice."
                )
            declaration.audit_events[events.resource_type] = events
        # Only a complete declaration enters the registry.
        self._apps[app_label] = declaration
        self._models.update(declaration.models)
        self._resources.update(declaration.audit_events)

    def unregister(self, app_label: str) -> None:
        """Tests only: forget an app's declaration."""
        declaration = self._apps.pop(app_label)
        for label in declaration.models:
            del self._models[label]
        for resource_type in declaration.audit_events:
            del self._resources[resource_type]

    def policy(self, label: str) -> ModelPolicy | None:
        return self._models.get(label)

    def declaring_app(self, label: str) -> str | None:
        for app_label, declaration in self._apps.items():
            if label in declaration.models:
                return app_label
        return None

    def policies(self) -> list[ModelPolicy]:
        return list(self._models.values())

    def exported(self) -> list[ModelPolicy]:
        return [policy for policy in self._models.values() if policy.exported]

    def audit_events(self) -> list[AuditEvents]:
        return list(self._resources.values())

    def resource_type_for(self, label: str) -> str:
        """The audit resource type the model's app declared for it (default: its model name)."""
        for events in self._resources.values():
            if events.model == label:
                return events.resource_type
        return label.split(".")[-1].lower()

    def check_audit_event(self, resource_type: str, action: str) -> None:
        """Raise UndeclaredAuditEvent unless an app declared `action` on `resource_type`."""
        events = self._resources.get(resource_type)
        if events is None:
            raise UndeclaredAuditEvent(
                f"Audit resource type {resource_type!r} is not declared by any app: add "
                f"AuditEvents({resource_type!r}, ...) to the owning app's compliance.py "
                "(see docs/compliance.md)."
            )
        if action not in events.actions:
            raise UndeclaredAuditEvent(
                f"Action {action!r} is not declared for audit resource type {resource_type!r} "
                f"(declared: {', '.join(events.actions)})."
            )

    def is_declared(self, resource_type: str, action: str) -> bool:
        events = self._resources.get(resource_type)
        return events is not None and action in events.actions

    def secret_fields(self) -> frozenset[str]:
        """Every declared secret field name: never exported, never in an audit value."""
        return frozenset().union(*(policy.secret_fields for policy in self._models.values()))

    def personal_fields(self) -> frozenset[str]:
        return frozenset().union(*(policy.personal_fields for policy in self._models.values()))

    def redis_key_finders(self) -> list[Callable[[Any], Iterable[str]]]:
        return [finder for app in self._apps.values() for finder in app.redis_keys]

    def archival_jobs(self) -> list[ArchivalJob]:
        return [job for app in self._apps.values() for job in app.archival_jobs]

    def archival_job(self, name: str) -> ArchivalJob:
        for job in self.archival_jobs():
            if job.name == name:
                return job
        raise KeyError(f"No archival job {name!r}.")

    def app_labels(self) -> list[str]:
        return list(self._apps)


registry = ComplianceRegistry()
