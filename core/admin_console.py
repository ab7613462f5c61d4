"""Building blocks shared by the apps' operator-console pages (their admin.py modules): links
between related rows, audit rows for what operators change, and a view-only base for rows that
only services or the engine write."""

import uuid
from collections.abc import Callable

from django.contrib import admin, messages
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import models, transaction
from django.db.models.constants import LOOKUP_SEP
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.http import urlencode
from django.utils.safestring import SafeString

from compliance.audit import AuditContext
from compliance.models import AuditLog
from compliance.registry import registry
from compliance.services import (
    audited_create,
    audited_delete,
    audited_relations_update,
    audited_update,
    record_audit_event,
)
from core.errors import LimitExceeded, StateConflict

RELATED_ROWS_SHOWN = 10
# What a service raises to refuse a write; the console shows it as a message.
# (Not PermissionDenied: Django's own permission checks raise it, and answer 403.)
SERVICE_REFUSALS = (ValidationError, StateConflict, LimitExceeded)


def console_context(request: HttpRequest) -> AuditContext:
    """The audit context of an operator's console request."""
    return AuditContext.from_request(request, channel="admin")


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


def refusal_errors(error: Exception) -> dict[str, list[str]]:
    """A service's refusal as form errors: field name (or NON_FIELD_ERRORS) to messages."""
    if isinstance(error, ValidationError):
        if hasattr(error, "error_dict"):
            return error.message_dict
        return {NON_FIELD_ERRORS: error.messages}
    return {NON_FIELD_ERRORS: [str(error) or "Not allowed."]}


def refusal_message(error: Exception) -> str:
    """A service's refusal as one line for the console's message bar."""
    return "; ".join(
        " ".join(messages) if field == NON_FIELD_ERRORS else f"{field}: {' '.join(messages)}"
        for field, messages in refusal_errors(error).items()
    )


class AuditedModelAdmin(SecretLookupsRefused, admin.ModelAdmin):
    """Every add, change and delete an operator makes is written through compliance's audited-
    write helpers (the model validated, the write and its audit row in one transaction), with the
    operator as actor, the request's address and agent, and channel "admin". Pages whose model
    has services (accounts.admin) override save_model / delete_model / delete_queryset to call
    them, so that a console edit obeys the API's rules and writes the API's row.

    A service's refusal (ValidationError, StateConflict, LimitExceeded) raised while saving or
    deleting rolls the whole request back and comes back as an error message on the page. The
    console offers only the writes whose audit events the model's app declared (add: create,
    change: update, delete: `audit_delete_action`); compliance refuses any other."""

    audit_resource_type: str | None = None  # default: what the model's app declared for it
    audit_delete_action: str = AuditLog.Action.DELETE

    def audit_type(self) -> str:
        return self.audit_resource_type or registry.resource_type_for(self.model._meta.label)

    def audit_context(self, request: HttpRequest) -> AuditContext:
        return console_context(request)

    def _declares(self, action: str) -> bool:
        return registry.is_declared(self.audit_type(), action)

    def has_add_permission(self, request: HttpRequest, *args: object) -> bool:
        return super().has_add_permission(request, *args) and self._declares(AuditLog.Action.CREATE)

    def has_change_permission(self, request: HttpRequest, obj: models.Model | None = None) -> bool:
        return super().has_change_permission(request, obj) and self._declares(
            AuditLog.Action.UPDATE
        )

    def has_delete_permission(self, request: HttpRequest, obj: models.Model | None = None) -> bool:
        return super().has_delete_permission(request, obj) and self._declares(
            self.audit_delete_action
        )

    def _refused(self, request: HttpRequest, view: Callable[[], HttpResponse]) -> HttpResponse:
        """Run an admin view; a service's refusal undoes everything the request wrote (the
        view's transaction) and shows the reason on the page it came from."""
        try:
            with transaction.atomic():
                return view()
        except SERVICE_REFUSALS as error:
            messages.error(request, f"Not saved: {refusal_message(error)}")
            return HttpResponseRedirect(request.get_full_path())

    def changeform_view(self, request: HttpRequest, *args: object, **kwargs: object):
        """A service's refusal of a form undoes the request and shows the form again, as posted,
        with the refusal as its errors (see get_form)."""
        view = super().changeform_view
        if request.method != "POST":
            return view(request, *args, **kwargs)
        try:
            with transaction.atomic():
                return view(request, *args, **kwargs)
        except SERVICE_REFUSALS as error:
            request.service_refusal = error
            return view(request, *args, **kwargs)

    def get_form(self, request: HttpRequest, obj: models.Model | None = None, **kwargs: object):
        form_class = super().get_form(request, obj, **kwargs)
        refusal = getattr(request, "service_refusal", None)
        if refusal is None:
            return form_class

        class RefusedForm(form_class):
            """The form as posted, invalid with the service's refusal."""

            def clean(self) -> dict:
                cleaned = super().clean()
                for field, errors in refusal_errors(refusal).items():
                    self.add_error(field if field in self.fields else None, errors)
                return cleaned

        return RefusedForm

    def delete_view(self, request: HttpRequest, *args: object, **kwargs: object):
        return self._refused(
            request, lambda: super(AuditedModelAdmin, self).delete_view(request, *args, **kwargs)
        )

    def changelist_view(self, request: HttpRequest, *args: object, **kwargs: object):
        """List actions (bulk delete included) run here, on POST."""
        view = super().changelist_view
        if request.method != "POST":
            return view(request, *args, **kwargs)
        return self._refused(request, lambda: view(request, *args, **kwargs))

    def _record(self, request: HttpRequest, obj: models.Model, action: str, **values) -> None:
        """An audit row of the operator's for `obj`, for a console write that is not a plain
        save or delete (a list action, a password set)."""
        resource_id = obj.pk if isinstance(obj.pk, uuid.UUID) else None
        record_audit_event(
            actor=request.user,
            action=action,
            resource_type=self.audit_type(),
            resource_id=resource_id,
            metadata={} if resource_id else {"pk": str(obj.pk)},
            context=self.audit_context(request),
            **values,
        )

    def save_model(self, request: HttpRequest, obj: models.Model, form, change: bool) -> None:
        context = self.audit_context(request)
        if not change:
            audited_create(
                instance=obj, actor=request.user, context=context, resource_type=self.audit_type()
            )
            return
        names = [
            field.attname for field in obj._meta.concrete_fields if field.name in form.changed_data
        ]
        if not names:
            return
        stored = type(obj)._default_manager.select_for_update().get(pk=obj.pk)
        audited_update(
            instance=stored,
            changes={name: getattr(obj, name) for name in names},
            actor=request.user,
            context=context,
            resource_type=self.audit_type(),
        )

    def save_related(self, request: HttpRequest, form, formsets, change: bool) -> None:
        """Many-to-many fields (a user's groups and permissions, a group's permissions) are saved
        here, after save_model, with an update row of their own
        (compliance.services.audited_relations_update)."""
        obj = form.instance
        names = [field.name for field in obj._meta.many_to_many if field.name in form.changed_data]
        if not names:
            super().save_related(request, form, formsets, change)
            return
        audited_relations_update(
            instance=obj,
            names=names,
            apply=lambda: super(AuditedModelAdmin, self).save_related(
                request, form, formsets, change
            ),
            actor=request.user,
            context=self.audit_context(request),
            created=not change,
            resource_type=self.audit_type(),
        )

    def delete_model(self, request: HttpRequest, obj: models.Model) -> None:
        audited_delete(
            instance=obj,
            actor=request.user,
            context=self.audit_context(request),
            action=self.audit_delete_action,
            resource_type=self.audit_type(),
        )

    def delete_queryset(self, request: HttpRequest, queryset: models.QuerySet) -> None:
        for obj in queryset:
            self.delete_model(request, obj)


class ReadOnlyModelAdmin(AuditedModelAdmin):
    """View-only pages, for rows that services or the engine write and nobody edits by hand.
    Deletion follows the operator's permissions unless a subclass forbids it."""

    def has_add_permission(self, request: HttpRequest, obj: models.Model | None = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: models.Model | None = None) -> bool:
        return False
