"""GET /api/v1/me/export: the signed-in user's GDPR Article 15 export, streamed."""

from django.http import StreamingHttpResponse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.request import Request
from rest_framework.views import APIView

from compliance.audit import AuditContext
from compliance.gdpr.export import export_user_data


def export_response(pieces, user_pk) -> StreamingHttpResponse:
    response = StreamingHttpResponse(pieces, content_type="application/json")
    stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
    response["Content-Disposition"] = (
        f'attachment; filename="apextrade-export-{user_pk}-{stamp}.json"'
    )
    return response


class MeExportView(APIView):
    @extend_schema(
        operation_id="me_export",
        summary="Everything ApexTrade holds about you (GDPR Art. 15), as one JSON document",
        responses={
            200: OpenApiResponse(OpenApiTypes.OBJECT, description="schema_version 1"),
            401: OpenApiResponse(description="not signed in"),
            403: OpenApiResponse(description="not allowed"),
        },
    )
    def get(self, request: Request) -> StreamingHttpResponse:
        pieces = export_user_data(
            user=request.user,
            actor=request.user,
            context=AuditContext.from_request(request, channel="api"),
        )
        return export_response(pieces, request.user.pk)
