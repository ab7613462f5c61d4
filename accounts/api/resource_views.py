"""Broker API keys, alerts and the profile over HTTP. Querysets come from selectors scoped to the
user (another user's object is a 404 and never listed); writes go through accounts' services."""

import django_filters
from django.db.models import QuerySet
from django.urls import reverse
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import alert_services, services
from accounts.api.resource_serializers import (
    AlertInputSerializer,
    AlertSerializer,
    ApiKeyInputSerializer,
    ApiKeySerializer,
    ProfileInputSerializer,
    ProfileSerializer,
)
from accounts.models import Alert, ApiKey
from accounts.selectors import alerts_for, api_key_listing_for
from compliance.audit import AuditContext
from core.api_viewsets import UserResourceViewSet


class ApiKeyFilter(django_filters.FilterSet):
    class Meta:
        model = ApiKey
        fields = ["exchange", "is_testnet"]


@extend_schema_view(
    list=extend_schema(summary="Your broker API keys (never their secrets), newest first"),
    retrieve=extend_schema(summary="One of your broker API keys (never its secret)"),
    destroy=extend_schema(summary="Delete a broker API key"),
)
class ApiKeyViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    UserResourceViewSet,
):
    queryset = ApiKey.objects.none()  # for the schema generator; requests use get_queryset()
    serializer_class = ApiKeySerializer
    filterset_class = ApiKeyFilter
    ordering_fields = ["created_at", "name"]

    def get_queryset(self) -> QuerySet[ApiKey]:
        return api_key_listing_for(self.request.user)

    @extend_schema(
        summary="Store a broker API key, encrypted",
        request=ApiKeyInputSerializer,
        responses={201: ApiKeySerializer},
    )
    def create(self, request: Request) -> Response:
        serializer = ApiKeyInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        data["passphrase"] = data.get("passphrase") or None
        key = services.create_api_key(
            user=request.user, context=AuditContext.from_request(request), **data
        )
        return Response(
            ApiKeySerializer(key).data,
            status=status.HTTP_201_CREATED,
            headers={"Location": reverse("api-key-detail", kwargs={"pk": key.pk})},
        )

    def perform_destroy(self, instance: ApiKey) -> None:
        services.delete_api_key(
            api_key=instance,
            actor=self.request.user,
            context=AuditContext.from_request(self.request),
        )


class AlertFilter(django_filters.FilterSet):
    class Meta:
        model = Alert
        fields = ["symbol", "alert_type", "condition", "is_active", "is_triggered"]


@extend_schema_view(
    list=extend_schema(summary="Your alerts, newest first"),
    retrieve=extend_schema(summary="One of your alerts"),
    create=extend_schema(
        summary="Create an alert", request=AlertInputSerializer, responses={201: AlertSerializer}
    ),
    update=extend_schema(
        summary="Replace an alert's settings",
        request=AlertInputSerializer,
        responses={200: AlertSerializer},
    ),
    partial_update=extend_schema(
        summary="Change some of an alert's settings",
        request=AlertInputSerializer(partial=True),
        responses={200: AlertSerializer},
    ),
    destroy=extend_schema(summary="Delete an alert"),
)
class AlertViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    UserResourceViewSet,
):
    queryset = Alert.objects.none()
    serializer_class = AlertSerializer
    filterset_class = AlertFilter
    ordering_fields = ["created_at", "symbol"]

    def get_queryset(self) -> QuerySet[Alert]:
        return alerts_for(self.request.user)

    def create(self, request: Request) -> Response:
        values = self._validated(request.data)
        alert = alert_services.create_alert(
            user=request.user, values=values, context=AuditContext.from_request(request)
        )
        return Response(
            AlertSerializer(alert).data,
            status=status.HTTP_201_CREATED,
            headers={"Location": reverse("alert-detail", kwargs={"pk": alert.pk})},
        )

    def update(self, request: Request, pk: str, partial: bool = False) -> Response:
        alert = self.get_object()
        changes = self._validated(request.data, partial=partial)
        alert = alert_services.update_alert(
            alert=alert,
            actor=request.user,
            changes=changes,
            context=AuditContext.from_request(request),
        )
        return Response(AlertSerializer(alert).data)

    def partial_update(self, request: Request, pk: str) -> Response:
        return self.update(request, pk, partial=True)

    def perform_destroy(self, instance: Alert) -> None:
        alert_services.delete_alert(
            alert=instance,
            actor=self.request.user,
            context=AuditContext.from_request(self.request),
        )

    @staticmethod
    def _validated(data: object, *, partial: bool = False) -> dict:
        serializer = AlertInputSerializer(data=data, partial=partial)
        serializer.is_valid(raise_exception=True)
        return dict(serializer.validated_data)


class ProfileView(APIView):
    """The signed-in user's own profile."""

    @extend_schema(summary="Your profile", responses={200: ProfileSerializer})
    def get(self, request: Request) -> Response:
        return Response(ProfileSerializer(request.user).data)

    @extend_schema(
        summary="Change your names, time zone, currency or notification preferences",
        request=ProfileInputSerializer,
        responses={200: ProfileSerializer},
    )
    def patch(self, request: Request) -> Response:
        serializer = ProfileInputSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        user = services.update_profile(
            user=request.user,
            actor=request.user,
            changes=dict(serializer.validated_data),
            context=AuditContext.from_request(request),
        )
        return Response(ProfileSerializer(user).data)
