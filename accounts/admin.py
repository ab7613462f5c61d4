"""Operator console for users, their API keys and alerts, and operators' permission groups.

Secrets stay out of every page: the password hash is never rendered (only a link to the
password-change form), `mfa_secret` is not a field of any form, and broker credentials appear only
as "stored encrypted (n bytes)"; API keys are created by `accounts.services.create_api_key`, never
here.

Every write goes through the services the API calls (accounts.services, accounts.alert_services,
accounts.security), so a console edit obeys the same rules and writes the same audit row, with
the operator as actor (core.admin_console.AuditedModelAdmin shows a refusal on the form).
"""

from contextvars import ContextVar

from django import forms
from django.contrib import admin
from django.contrib.auth.admin import GroupAdmin as DjangoGroupAdmin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import AdminPasswordChangeForm, AdminUserCreationForm
from django.contrib.auth.models import Group
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString

from accounts import alert_services, services
from accounts.forms import AdminSignInForm
from accounts.models import AccessToken, Alert, ApiKey, User
from accounts.security.access_tokens import revoke_access_token
from accounts.security.passwords import set_password
from accounts.selectors import api_key_last_four
from compliance.admin_actions import export_personal_data
from compliance.audit import AuditContext
from compliance.models import AuditLog
from core.admin_console import AuditedModelAdmin, change_link, related_rows

# The request of the password form being saved (OperatorPasswordForm.save needs its operator,
# address and agent; Django builds the form without it).
_password_request: ContextVar[HttpRequest] = ContextVar("password_request")


def changed_fields(form: forms.ModelForm, names: tuple[str, ...]) -> dict[str, object]:
    """The form's values among `names` that differ from the stored row (a form reports a JSON
    field changed whenever its text differs)."""
    instance = form.instance
    stored = type(instance)._default_manager.filter(pk=instance.pk).first()
    return {
        name: form.cleaned_data[name]
        for name in names
        if name in form.changed_data
        and (stored is None or getattr(stored, name) != form.cleaned_data[name])
    }


class UserCreationForm(AdminUserCreationForm):
    """Django's admin creation form (password twice, or none) for our email-login user."""

    class Meta:
        model = User
        fields = ("email",)


class OperatorPasswordForm(AdminPasswordChangeForm):
    """Django's password form for an operator, saved through accounts.security.passwords: the
    validators and the same audit row (settings_changed, password redacted) as a user's own
    change, with how = "set_by_operator"."""

    def save(self, commit: bool = True) -> User:
        request = _password_request.get()
        usable = self.cleaned_data["set_usable_password"]
        set_password(
            user=self.user,
            new_password=self.cleaned_data["password1"] if usable else None,
            actor=request.user,
            how="set_by_operator" if usable else "disabled_by_operator",
            context=AuditContext.from_request(request, channel="admin"),
        )
        return self.user


class UserChangeForm(forms.ModelForm):
    """A plain form: unlike Django's, it has no read-only password-hash field at all."""

    class Meta:
        model = User
        fields = (
            "email",
            "first_name",
            "last_name",
            "timezone",
            "preferred_currency",
            "notification_preferences",
            "is_active",
            "is_verified",
            "is_staff",
            "is_superuser",
            "groups",
            "user_permissions",
        )


@admin.register(User)
class UserAdmin(AuditedModelAdmin, DjangoUserAdmin):
    form = UserChangeForm
    add_form = UserCreationForm
    change_password_form = OperatorPasswordForm
    exclude = ("password", "mfa_secret")
    actions = [export_personal_data]

    # Only a superuser hands out operator access: anyone else with change_user would otherwise
    # make themselves (or an accomplice) staff, superuser, or give any permission or group.
    privilege_fields = ("is_staff", "is_superuser", "groups", "user_permissions")

    def _may_manage(self, request: HttpRequest, obj: User | None) -> bool:
        """Only a superuser changes or deletes another operator's account: anyone else with
        change_user could otherwise set a superuser's password or email and become them."""
        return (
            obj is None
            or request.user.is_superuser
            or obj.pk == request.user.pk
            or not (obj.is_staff or obj.is_superuser)
        )

    def has_change_permission(self, request: HttpRequest, obj: User | None = None) -> bool:
        return super().has_change_permission(request, obj) and self._may_manage(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: User | None = None) -> bool:
        if obj is not None and obj.pk == request.user.pk and not request.user.is_superuser:
            return False
        return super().has_delete_permission(request, obj) and self._may_manage(request, obj)

    def get_readonly_fields(self, request: HttpRequest, obj: User | None = None) -> tuple:
        readonly = tuple(super().get_readonly_fields(request, obj))
        if request.user.is_superuser:
            return readonly
        return readonly + self.privilege_fields

    def user_change_password(
        self, request: HttpRequest, id: str, form_url: str = ""
    ) -> HttpResponse:
        """Django's password page, saved by OperatorPasswordForm through the password service."""
        token = _password_request.set(request)
        try:
            return self._refused(
                request,
                lambda: super(UserAdmin, self).user_change_password(request, id, form_url),
            )
        finally:
            _password_request.reset(token)

    def save_model(self, request: HttpRequest, obj: User, form, change: bool) -> None:
        """Through accounts.services, like the API: a new account by add_user; a change of the
        profile by update_profile (settings_changed, as the user's own), of email, status or
        operator access by change_account. Groups and permissions: save_related."""
        context = self.audit_context(request)
        if not change:
            usable = form.cleaned_data.get("set_usable_password", True)
            created = services.add_user(
                email=form.cleaned_data["email"],
                password=form.cleaned_data.get("password1") if usable else None,
                actor=request.user,
                context=context,
            )
            obj.pk, obj.password = created.pk, created.password
            obj._state.adding, obj._state.db = False, created._state.db
            return
        if profile := changed_fields(form, services.PROFILE_FIELDS):
            services.update_profile(user=obj, actor=request.user, changes=profile, context=context)
        if account := changed_fields(form, services.ACCOUNT_FIELDS):
            services.change_account(user=obj, actor=request.user, changes=account, context=context)

    def delete_model(self, request: HttpRequest, obj: User) -> None:
        services.delete_user(user=obj, actor=request.user, context=self.audit_context(request))

    list_display = (
        "email",
        "full_name",
        "is_active",
        "is_verified",
        "mfa_enabled",
        "is_staff",
        "preferred_currency",
        "created_at",
        "last_login",
    )
    list_filter = (
        "is_active",
        "is_verified",
        "mfa_enabled",
        "is_staff",
        "is_superuser",
        "preferred_currency",
        "groups",
    )
    search_fields = ("email", "first_name", "last_name")
    ordering = ("email",)
    date_hierarchy = "created_at"
    # MFA is switched on and off only through the user's own enrolment flow, which owns the
    # secret; an operator sees whether it is on.
    readonly_fields = (
        "password_change",
        "mfa_enabled",
        "created_at",
        "updated_at",
        "last_login",
        "verified_at",
        "user_strategies",
        "user_portfolios",
        "user_trades",
        "user_backtests",
    )
    fieldsets = (
        (None, {"fields": ("email", "password_change")}),
        (
            "Profile",
            {
                "fields": (
                    "first_name",
                    "last_name",
                    "timezone",
                    "preferred_currency",
                    "notification_preferences",
                )
            },
        ),
        ("Status", {"fields": ("is_active", "is_verified", "verified_at", "mfa_enabled")}),
        (
            "Operator access",
            {"fields": ("is_staff", "is_superuser", "groups", "user_permissions")},
        ),
        (
            "Activity",
            {"fields": ("user_strategies", "user_portfolios", "user_trades", "user_backtests")},
        ),
        ("Dates", {"fields": ("created_at", "updated_at", "last_login")}),
    )
    add_fieldsets = (
        (
            None,
            {
                "classes": ("wide",),
                "fields": ("email", "usable_password", "password1", "password2"),
            },
        ),
    )

    @admin.display(description="name")
    def full_name(self, user: User) -> str:
        return user.full_name

    @admin.display(description="password")
    def password_change(self, user: User) -> SafeString:
        url = reverse("admin:auth_user_password_change", args=[user.pk])
        state = "is set" if user.has_usable_password() else "is not set (password login disabled)"
        return format_html('A password {}. <a href="{}">Change or reset it</a>.', state, url)

    @admin.display(description="strategies")
    def user_strategies(self, user: User) -> SafeString:
        return related_rows(
            user.strategies.order_by("-updated_at"),
            describe="strategies",
            user=user.pk,
        )

    @admin.display(description="portfolios")
    def user_portfolios(self, user: User) -> SafeString:
        return related_rows(
            user.portfolios.order_by("-created_at"),
            describe="portfolios",
            user=user.pk,
        )

    @admin.display(description="trades")
    def user_trades(self, user: User) -> SafeString:
        return related_rows(
            user.trades.order_by("-created_at"),
            describe="trades",
            user=user.pk,
        )

    @admin.display(description="backtests")
    def user_backtests(self, user: User) -> SafeString:
        return related_rows(
            user.backtests.select_related("strategy").order_by("-created_at"),
            describe="backtests",
            user=user.pk,
        )


# Django registers its own, unaudited page for groups; this one records every change (a group's
# permissions included) like the rest of the console.
admin.site.unregister(Group)


@admin.register(Group)
class GroupAdmin(AuditedModelAdmin, DjangoGroupAdmin):
    """Operators' permission groups."""


@admin.register(ApiKey)
class ApiKeyAdmin(AuditedModelAdmin):
    audit_resource_type = "api_key"
    audit_delete_action = AuditLog.Action.API_KEY_DELETED

    """Keys are stored through the service (encrypted, audited); here an operator can only rename
    a key or mark it invalid, and delete it."""

    list_display = (
        "name",
        "user",
        "exchange",
        "is_testnet",
        "permissions",
        "key_ends_with",
        "is_valid",
        "last_used_at",
        "request_count",
        "created_at",
    )
    list_filter = ("exchange", "is_testnet", "is_valid")
    search_fields = ("name", "user__email")
    list_select_related = ("user",)
    date_hierarchy = "created_at"
    fields = (
        "user_link",
        "name",
        "exchange",
        "is_testnet",
        "permissions",
        "key_ends_with",
        "credentials",
        "is_valid",
        "validation_error",
        "last_validated_at",
        "last_used_at",
        "request_count",
        "created_at",
        "updated_at",
    )
    readonly_fields = (
        "user_link",
        "exchange",
        "is_testnet",
        "permissions",
        "key_ends_with",
        "credentials",
        "validation_error",
        "last_validated_at",
        "last_used_at",
        "request_count",
        "created_at",
        "updated_at",
    )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: ApiKey, form, change: bool) -> None:
        if changes := changed_fields(form, services.API_KEY_EDITABLE_FIELDS):
            services.update_api_key(
                api_key=obj,
                actor=request.user,
                changes=changes,
                context=self.audit_context(request),
            )

    def delete_model(self, request: HttpRequest, obj: ApiKey) -> None:
        services.delete_api_key(
            api_key=obj, actor=request.user, context=self.audit_context(request)
        )

    @admin.display(description="user")
    def user_link(self, api_key: ApiKey) -> SafeString | str:
        return change_link(api_key.user)

    @admin.display(description="API key ends with")
    def key_ends_with(self, api_key: ApiKey) -> str:
        """The last four characters of the key (not the secret), as the API shows them."""
        last_four = api_key_last_four(api_key)
        return f"…{last_four}" if last_four is not None else "(cannot be decrypted)"

    @admin.display(description="credentials")
    def credentials(self, api_key: ApiKey) -> str:
        parts = [
            ("API key", api_key.api_key_encrypted),
            ("secret", api_key.api_secret_encrypted),
            ("passphrase", api_key.passphrase_encrypted),
        ]
        stored = [f"{label}: {len(value)} bytes" for label, value in parts if value is not None]
        return f"Stored encrypted ({', '.join(stored)})."


@admin.register(Alert)
class AlertAdmin(AuditedModelAdmin):
    list_display = (
        "symbol",
        "user",
        "alert_type",
        "condition",
        "threshold",
        "is_active",
        "is_triggered",
        "triggered_at",
        "created_at",
    )
    list_filter = ("alert_type", "condition", "is_active", "is_triggered", "is_recurring")
    search_fields = ("symbol", "user__email")
    list_select_related = ("user",)
    autocomplete_fields = ("user",)
    date_hierarchy = "created_at"
    # The checker sets is_triggered and triggered_at; an alert keeps its owner and its id.
    exclude = ("id",)
    readonly_fields = ("is_triggered", "created_at", "triggered_at")

    def get_readonly_fields(self, request: HttpRequest, obj: Alert | None = None) -> tuple:
        readonly = tuple(super().get_readonly_fields(request, obj))
        return (*readonly, "user") if obj is not None else readonly

    def save_model(self, request: HttpRequest, obj: Alert, form, change: bool) -> None:
        """Through accounts.alert_services, like the API (its rules: an indicator alert names a
        known indicator with valid parameters, thresholds above zero, a future expiry)."""
        context = self.audit_context(request)
        if change:
            if changes := changed_fields(form, alert_services.ALERT_FIELDS):
                alert_services.update_alert(
                    alert=obj, actor=request.user, changes=changes, context=context
                )
            return
        values = {name: getattr(obj, name) for name in alert_services.ALERT_FIELDS}
        created = alert_services.create_alert(
            user=obj.user, values=values, actor=request.user, context=context
        )
        obj.pk, obj._state.adding, obj._state.db = created.pk, False, created._state.db

    def delete_model(self, request: HttpRequest, obj: Alert) -> None:
        alert_services.delete_alert(
            alert=obj, actor=request.user, context=self.audit_context(request)
        )


@admin.register(AccessToken)
class AccessTokenAdmin(AuditedModelAdmin):
    """Personal access tokens: made by their owners only (the secret is never stored); an
    operator sees them and may revoke one by deleting it."""

    audit_resource_type = "access_token"
    list_display = ("name", "user", "prefix", "scopes", "expires_at", "last_used_at", "created_at")
    search_fields = ("name", "prefix", "user__email")
    list_select_related = ("user",)
    date_hierarchy = "created_at"
    fields = ("user", "name", "prefix", "scopes", "expires_at", "last_used_at", "created_at")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def delete_model(self, request: HttpRequest, obj: AccessToken) -> None:
        """Revoked as its owner revokes it (accounts.security.access_tokens)."""
        revoke_access_token(token=obj, actor=request.user, context=self.audit_context(request))


# The console's login page signs in through accounts.security.sign_in (throttled, audited, with
# the two-factor code when the operator has it on).
admin.site.login_form = AdminSignInForm
admin.site.login_template = "admin/accounts/sign_in.html"
