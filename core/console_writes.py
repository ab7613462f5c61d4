"""Console (admin) pages whose writes go through the domain's services, as the API's do: a
console edit obeys the same rules (validation, state transitions, limits, the books) and writes
the same audit row, with the operator as actor and the request's address and agent (channel
"admin"). A refusal is shown on the form, or as a message for a delete, and writes nothing."""

from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db import models, router, transaction
from django.forms import BaseForm
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse

from compliance.audit import AuditContext
from core.admin_console import SERVICE_REFUSALS, SecretLookupsRefused, console_context

# Where the first attempt's refusal waits for the form that shows it (an attribute of the request).
_REFUSAL = "_console_service_refusal"


def refusal_messages(error: Exception) -> list[str]:
    """A service's refusal as sentences, fields named."""
    if isinstance(error, ValidationError):
        if hasattr(error, "error_dict"):
            return [
                f"{field}: {message}" if field != "__all__" else message
                for field, field_messages in error.message_dict.items()
                for message in field_messages
            ]
        return list(error.messages)
    return [str(error)]


def show_refusal(form: BaseForm, error: Exception) -> None:
    """Put a service's refusal on the form: field errors on their fields, the rest on top."""
    if isinstance(error, ValidationError) and hasattr(error, "error_dict"):
        for field, field_messages in error.message_dict.items():
            if field in form.fields:
                form.add_error(field, field_messages)
            else:
                prefix = "" if field in ("__all__", "non_field_errors") else f"{field}: "
                form.add_error(None, [prefix + message for message in field_messages])
        return
    form.add_error(None, refusal_messages(error))


class ServiceModelAdmin(SecretLookupsRefused, admin.ModelAdmin):
    """A ModelAdmin whose add, change and delete call the domain's services (the subclass says
    which, in `create_through_service`, `update_through_service` and `delete_through_service`);
    the services write the audit rows, so this class writes none of its own. A write the
    subclass does not implement is not offered (no add, change or delete permission)."""

    def create_through_service(
        self, request: HttpRequest, obj: models.Model, context: AuditContext
    ) -> models.Model:
        raise NotImplementedError

    def update_through_service(
        self,
        request: HttpRequest,
        obj: models.Model,
        changes: dict[str, Any],
        context: AuditContext,
    ) -> models.Model:
        raise NotImplementedError

    def delete_through_service(
        self, request: HttpRequest, obj: models.Model, context: AuditContext
    ) -> None:
        raise NotImplementedError

    def _implements(self, name: str) -> bool:
        return getattr(type(self), name) is not getattr(ServiceModelAdmin, name)

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return self._implements("create_through_service") and super().has_add_permission(
            request, *args
        )

    def has_change_permission(self, request: HttpRequest, obj: models.Model | None = None) -> bool:
        return self._implements("update_through_service") and super().has_change_permission(
            request, obj
        )

    def has_delete_permission(self, request: HttpRequest, obj: models.Model | None = None) -> bool:
        return self._implements("delete_through_service") and super().has_delete_permission(
            request, obj
        )

    # --- Add and change ---------------------------------------------------------------------

    def formfield_for_dbfield(
        self, db_field: models.Field, request: HttpRequest, **kwargs: Any
    ) -> Any:
        """A blank nullable text column is NULL, as the API stores it (Django's CharField does
        this already; its TextField would store "")."""
        if isinstance(db_field, models.TextField) and db_field.null:
            kwargs.setdefault("empty_value", None)
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    def save_model(self, request: HttpRequest, obj: models.Model, form: Any, change: bool) -> None:
        """The form built `obj` from what the operator typed; the service writes it."""
        context = console_context(request)
        if not change:
            saved = self.create_through_service(request, obj, context)
            obj.pk = saved.pk
            obj._state.adding = False
            obj.refresh_from_db()
            return
        concrete = {field.name for field in obj._meta.concrete_fields}
        changes = {name: getattr(obj, name) for name in form.changed_data if name in concrete}
        if changes:
            self.update_through_service(request, obj, changes, context)
        obj.refresh_from_db()

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        """Related rows are the services' too: nothing is saved besides what save_model wrote,
        and an inline that was changed anyway refuses the whole save."""
        for formset in formsets:
            if formset.has_changed():
                raise ValidationError(
                    f"{formset.model._meta.verbose_name_plural} are not changed here."
                )
            # What the admin's change message reads from a saved formset.
            formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []

    def get_form(
        self, request: HttpRequest, obj: models.Model | None = None, change: bool = False, **kwargs
    ) -> type[BaseForm]:
        form_class = super().get_form(request, obj, change, **kwargs)
        refusal = getattr(request, _REFUSAL, None)
        if refusal is None:
            return form_class

        class RefusedForm(form_class):
            def clean(self) -> dict[str, Any]:
                cleaned = super().clean()
                show_refusal(self, refusal)
                return cleaned

        return RefusedForm

    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: dict | None = None,
    ) -> HttpResponse:
        """A service's refusal rolls the whole attempt back (the admin runs it in one
        transaction); the form is then shown again as typed, with the refusal on it."""
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except SERVICE_REFUSALS as error:
            setattr(request, _REFUSAL, error)
            return super().changeform_view(request, object_id, form_url, extra_context)

    # --- Delete -------------------------------------------------------------------------------

    def delete_model(self, request: HttpRequest, obj: models.Model) -> None:
        self.delete_through_service(request, obj, console_context(request))

    def delete_queryset(self, request: HttpRequest, queryset: models.QuerySet) -> None:
        """All or nothing: one refusal undoes the others (response_action's transaction)."""
        context = console_context(request)
        for obj in queryset:
            self.delete_through_service(request, obj, context)

    def get_deleted_objects(self, objs: Any, request: HttpRequest) -> tuple:
        """What goes with the rows is the service's rule (a backtest's trades go with it, though
        nobody deletes a trade by hand), so the operator's permissions on the related models do
        not block the deletion; the page still lists them."""
        deleted, counts, _perms_needed, protected = super().get_deleted_objects(objs, request)
        return deleted, counts, set(), protected

    def delete_view(
        self, request: HttpRequest, object_id: str, extra_context: dict | None = None
    ) -> HttpResponse:
        try:
            return super().delete_view(request, object_id, extra_context)
        except SERVICE_REFUSALS as error:
            self._refused(request, error, "Not deleted")
            opts = self.opts
            url = reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[object_id])
            return HttpResponseRedirect(url)

    def response_action(self, request: HttpRequest, queryset: models.QuerySet) -> HttpResponse:
        """An action runs in one transaction: a service's refusal anywhere leaves every selected
        row as it was, and says why."""
        try:
            with transaction.atomic(using=router.db_for_write(self.model)):
                return super().response_action(request, queryset)
        except SERVICE_REFUSALS as error:
            self._refused(request, error, "Nothing was changed")
            return HttpResponseRedirect(request.get_full_path())

    def _refused(self, request: HttpRequest, error: Exception, what: str) -> None:
        self.message_user(
            request, f"{what}: {' '.join(refusal_messages(error))}", level=messages.ERROR
        )
