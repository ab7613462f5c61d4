"""/api/v1/auth/tokens/: personal access tokens, made, listed and revoked by their owner while
signed in with a password (a token cannot manage tokens)."""

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.api.auth_serializers import (
    AccessTokenInputSerializer,
    AccessTokenSerializer,
    NewAccessTokenSerializer,
)
from accounts.api.permissions import SessionOnly
from accounts.api.sign_in_views import api_context, body_of
from accounts.models import AccessToken
from accounts.security.access_tokens import create_access_token, revoke_access_token
from accounts.selectors import access_tokens_for
from core.api_pagination import CheckedCursorPagination


class NewestFirst(CheckedCursorPagination):
    ordering = ("-created_at", "-id")
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200


@extend_schema_view(
    list=extend_schema(summary="Your personal access tokens (never their secrets)"),
    retrieve=extend_schema(summary="One of your tokens"),
    create=extend_schema(
        summary="Make a token (its secret is in this answer only)",
        request=AccessTokenInputSerializer,
        responses={201: NewAccessTokenSerializer},
    ),
    destroy=extend_schema(summary="Revoke a token (it stops working at once)"),
)
class AccessTokenViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    queryset = AccessToken.objects.none()  # for the schema generator
    serializer_class = AccessTokenSerializer
    permission_classes = [SessionOnly]
    pagination_class = NewestFirst
    lookup_value_regex = r"[0-9a-fA-F-]{36}"

    def get_queryset(self) -> QuerySet[AccessToken]:
        return access_tokens_for(self.request.user)

    def create(self, request: Request) -> Response:
        serializer = AccessTokenInputSerializer(data=body_of(request))
        serializer.is_valid(raise_exception=True)
        token, secret = create_access_token(
            user=request.user, **serializer.validated_data, context=api_context(request)
        )
        body = NewAccessTokenSerializer({**AccessTokenSerializer(token).data, "token": secret})
        return Response(body.data, status=status.HTTP_201_CREATED)

    def perform_destroy(self, instance: AccessToken) -> None:
        revoke_access_token(
            token=instance, actor=self.request.user, context=api_context(self.request)
        )
