"""Operator console for users, their API keys and alerts, and operators' permission groups.

Secrets stay out of every page: the password hash is never rendered (only a link to the
password-change form), `mfa_secret` is not a field of any form, and broker credentials appear only
as "stored encrypted (n bytes)"; API keys are created by `accounts.services.create_api_key`, never
here.
"""

from django import forms
from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.contrib.auth.admin import GroupAdmin as DjangoGroupAdmin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import AdminUserCreationForm
from django.contrib.auth.models import Group
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString

from accounts.forms import AdminSignInForm
from accounts.models import AccessToken, Alert, ApiKey, User
from accounts.selectors import api_key_last_four
from compliance.admin_actions import export_personal_data
from compliance.models import AuditLog
from core.admin_console import AuditedModelAdmin, change_link, related_rows


class UserCreationForm(AdminUserCreationForm):
    """Django's admin creation form (password twice, or none) for our email-login user."""

    class Meta:
        model = User
        fields = ("email",)


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
        """Django's password form, plus an audit row when an operator sets a password (the row
        says that it changed, never what to). Django's view is not atomic by itself: the new
        password and its audit row commit together or not at all."""
        with transaction.atomic():
            response = super().user_change_password(request, id, form_url)
            succeeded = response.status_code == 302 and response.url != request.get_full_path()
            if request.method == "POST" and succeeded:
                user = self.get_object(request, unquote(id))
                self._record(
                    request,
                    user,
                    AuditLog.Action.SETTINGS_CHANGED,
                    new_values={"password": "set by an operator"},
                )
        return response

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
    readonly_fields = ("created_at", "triggered_at")


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


# The console's login page signs in through accounts.security.sign_in (throttled, audited, with
# the two-factor code when the operator has it on).
admin.site.login_form = AdminSignInForm
admin.site.login_template = "admin/accounts/sign_in.html"
