"""Operator console for the audit trail: searchable, filtered by user (the user column links to
their rows), action, resource type and date, and entirely read-only (no add, change or delete
for anyone), since rows are written only by compliance.services and the database chains them."""

from django.contrib import admin
from django.http import HttpRequest
from django.utils.safestring import SafeString

from compliance.models import AuditLog
from core.admin_console import SecretLookupsRefused, change_link, changelist_link


@admin.register(AuditLog)
class AuditLogAdmin(SecretLookupsRefused, admin.ModelAdmin):
    list_display = (
        "created_at",
        "action",
        "resource_type",
        "resource_id",
        "user_filter_link",
        "ip_address",
    )
    list_filter = ("action", "resource_type", ("created_at", admin.DateFieldListFilter))
    search_fields = ("=resource_id", "user__email", "ip_address")
    list_select_related = ("user",)
    date_hierarchy = "created_at"
    # The biggest tables: skip the second COUNT(*) over all rows on every filtered list.
    show_full_result_count = False
    fields = (
        "created_at",
        "user_link",
        "action",
        "resource_type",
        "resource_id",
        "ip_address",
        "user_agent",
        "old_values",
        "new_values",
        "metadata",
        "chain_seq",
    )
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: AuditLog | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: AuditLog | None = None) -> bool:
        return False

    @admin.display(description="user")
    def user_link(self, entry: AuditLog) -> SafeString | str:
        return change_link(entry.user)

    @admin.display(description="user", ordering="user__email")
    def user_filter_link(self, entry: AuditLog) -> SafeString | str:
        """The user's email, linking to this list filtered to their rows."""
        if entry.user is None:
            return "-"
        return changelist_link(AuditLog, entry.user.email, user__id__exact=entry.user_id)
