"""Building blocks shared by the apps' operator-console pages (their admin.py modules): links
between related rows, audit rows for what operators change, and a view-only base for rows that
only services or the engine write."""

import uuid

from django.contrib import admin
from django.db import models
from django.db.models.constants import LOOKUP_SEP
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.http import urlencode
from django.utils.safestring import SafeString

from compliance.audit import AuditContext
from compliance.models import AuditLog
from compliance.registry import registry
from compliance.services import audit_snapshot, changed_values, record_audit_event

RELATED_ROWS_SHOWN = 10


def change_link(obj: models.Model | None, text: str | None = None) -> SafeString | str:
    """A link to `obj`'s admin change page, or "-" when there is none."""
    if obj is None:
        return "-"
    opts = obj._meta
    url = reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk])
    return format_html('<a href="{}">{}</a>', url, text if text is not None else str(obj))


def changelist_link(model: type[models.Model], text: str, **filters: object) -> SafeString:
    """A link to `model`'s admin list, filtered by `filters` (field=value)."""
    opts = model._meta
    url = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
    return format_html('<a href="{}?{}">{}</a>', url, urlencode(filters), text)


def related_rows(queryset: models.QuerySet, *, describe: str, **filters: object) -> SafeString:
    """The first rows of `queryset` as links, then a link to the admin list of all of them
    (`filters` select the same rows there)."""
    total = queryset.count()
    if not total:
        return format_html("<p>No {}.</p>", describe)
    items = format_html_join(
        "", "<li>{}</li>", ((change_link(row),) for row in queryset[:RELATED_ROWS_SHOWN])
    )
    everything = changelist_link(queryset.model, f"All {total} {describe} →", **filters)
    return format_html("<ul>{}</ul><p>{}</p>", items, everything)


class SecretLookupsRefused:
    """List pages refuse query-string lookups that touch a secret column (`?mfa_secret__startswith=`
    on users, `?user__password__startswith=` anywhere): filtering by prefix and counting the rows
    would read a secret one character at a time. Django answers such a lookup with 400."""

    def lookup_allowed(self, lookup: str, value: str, request: HttpRequest | None = None) -> bool:
        secrets = registry.secret_fields()
        if any(part in secrets for part in lookup.split(LOOKUP_SEP)):
            return False
        return super().lookup_allowed(lookup, value, request)


class AuditedModelAdmin(SecretLookupsRefused, admin.ModelAdmin):
    """Every add, change and delete an operator makes is written to the audit log, in the same
    transaction as the change (the admin wraps each form and delete in one), with the operator as
    actor and channel "admin". Secrets never enter the row (compliance.services.audit_snapshot)."""

    audit_resource_type: str | None = None  # default: the model's name
    audit_delete_action: str = AuditLog.Action.DELETE

    def _resource(self, obj: models.Model) -> tuple[str, uuid.UUID | None, dict]:
        resource_type = self.audit_resource_type or obj._meta.model_name
        if isinstance(obj.pk, uuid.UUID):
            return resource_type, obj.pk, {}
        return resource_type, None, {"pk": str(obj.pk)}

    def _record(self, request: HttpRequest, obj: models.Model, action: str, **values) -> None:
        resource_type, resource_id, metadata = self._resource(obj)
        record_audit_event(
            actor=request.user,
            action=action,
            resource_type=resource_type,
            resource_id=resource_id,
            metadata=metadata,
            context=AuditContext.from_request(request, channel="admin"),
            **values,
        )

    def save_model(self, request: HttpRequest, obj: models.Model, form, change: bool) -> None:
        fields = [
            field.attname
            for field in obj._meta.concrete_fields
            if field.name in form.changed_data or not change
        ]
        before = {}
        if change:
            stored = type(obj)._default_manager.filter(pk=obj.pk).first()
            before = audit_snapshot(stored, fields) if stored is not None else {}
        super().save_model(request, obj, form, change)
        after = audit_snapshot(obj, fields)
        if change:
            old, new = changed_values(before, after)
            if old or new:
                self._record(request, obj, AuditLog.Action.UPDATE, old_values=old, new_values=new)
        else:
            self._record(request, obj, AuditLog.Action.CREATE, new_values=after)

    def save_related(self, request: HttpRequest, form, formsets, change: bool) -> None:
        """Many-to-many fields (a user's groups and permissions, a group's permissions) are saved
        here, after save_model, so their changes get an update row of their own: each field's
        related rows as a sorted list of names, old and new (only new for an addition)."""
        obj = form.instance
        names = [field.name for field in obj._meta.many_to_many if field.name in form.changed_data]
        before = {name: self._related_names(obj, name) for name in names} if change else {}
        super().save_related(request, form, formsets, change)
        after = {name: self._related_names(obj, name) for name in names}
        if change:
            old, new = changed_values(before, after)
            if old or new:
                self._record(request, obj, AuditLog.Action.UPDATE, old_values=old, new_values=new)
        elif after:
            self._record(request, obj, AuditLog.Action.UPDATE, new_values=after)

    @staticmethod
    def _related_names(obj: models.Model, name: str) -> list[str]:
        return sorted(str(related) for related in getattr(obj, name).all())

    def delete_model(self, request: HttpRequest, obj: models.Model) -> None:
        self._record(request, obj, self.audit_delete_action, old_values=audit_snapshot(obj))
        super().delete_model(request, obj)

    def delete_queryset(self, request: HttpRequest, queryset: models.QuerySet) -> None:
        for obj in queryset:
            self._record(request, obj, self.audit_delete_action, old_values=audit_snapshot(obj))
        super().delete_queryset(request, queryset)


class ReadOnlyModelAdmin(AuditedModelAdmin):
    """View-only pages, for rows that services or the engine write and nobody edits by hand.
    Deletion follows the operator's permissions unless a subclass forbids it."""

    def has_add_permission(self, request: HttpRequest, obj: models.Model | None = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: models.Model | None = None) -> bool:
        return False
