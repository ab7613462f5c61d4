"""Console actions of compliance that other apps' admin pages offer (compliance names no other
app's model: the user admin lists this action)."""

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse

from compliance.api.views import export_response
from compliance.audit import AuditContext
from compliance.gdpr.export import export_user_data


@admin.action(description="Export personal data (GDPR Art. 15)", permissions=["view"])
def export_personal_data(
    modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet
) -> HttpResponse | None:
    if queryset.count() != 1:
        modeladmin.message_user(request, "Select exactly one user to export.", messages.ERROR)
        return None
    user = queryset.get()
    pieces = export_user_data(
        user=user, actor=request.user, context=AuditContext.from_request(request, channel="admin")
    )
    return export_response(pieces, user.pk)
