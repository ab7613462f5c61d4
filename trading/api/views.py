"""Portfolios, positions and trades over HTTP. Querysets come from selectors scoped to the user
(another user's object is a 404 and never listed); the one write, a new paper portfolio, goes
through trading.services. Orders arrive with paper trading, on top of these viewsets."""

import django_filters
from django.db.models import QuerySet
from django.urls import reverse
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, status
from rest_framework.request import Request
from rest_framework.response import Response

from compliance.audit import AuditContext
from core.api_filters import UtcIsoDateTimeFilter
from core.api_pagination import NewestFirst
from core.api_viewsets import UserResourceViewSet
from trading import services
from trading.api.serializers import (
    PortfolioInputSerializer,
    PortfolioSerializer,
    PositionSerializer,
    TradeSerializer,
)
from trading.models import Portfolio, Position, Trade
from trading.selectors import portfolios_for, positions_for, trades_for


def _own_portfolios(request: Request | None) -> QuerySet[Portfolio]:
    """For ?portfolio=: another user's portfolio answers like one that does not exist (400)."""
    return portfolios_for(request.user) if request else Portfolio.objects.none()


class PortfolioFilter(django_filters.FilterSet):
    class Meta:
        model = Portfolio
        fields = ["is_paper", "is_active", "base_currency"]


@extend_schema_view(
    list=extend_schema(summary="Your portfolios, newest first"),
    retrieve=extend_schema(summary="One of your portfolios"),
)
class PortfolioViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, UserResourceViewSet):
    queryset = Portfolio.objects.none()  # for the schema generator; requests use get_queryset()
    serializer_class = PortfolioSerializer
    filterset_class = PortfolioFilter
    ordering_fields = ["created_at", "name"]

    def get_queryset(self) -> QuerySet[Portfolio]:
        return portfolios_for(self.request.user)

    @extend_schema(
        summary="Create a paper portfolio, funded with its initial balance in cash",
        request=PortfolioInputSerializer,
        responses={201: PortfolioSerializer},
    )
    def create(self, request: Request) -> Response:
        serializer = PortfolioInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        portfolio = services.create_portfolio(
            user=request.user,
            is_paper=True,
            context=AuditContext.from_request(request),
            **serializer.validated_data,
        )
        return Response(
            PortfolioSerializer(portfolio).data,
            status=status.HTTP_201_CREATED,
            headers={"Location": reverse("portfolio-detail", kwargs={"pk": portfolio.pk})},
        )


class PositionsNewestFirst(NewestFirst):
    ordering = ("-opened_at", "-id")  # positions have no created_at


class PositionFilter(django_filters.FilterSet):
    portfolio = django_filters.ModelChoiceFilter(queryset=_own_portfolios)

    class Meta:
        model = Position
        fields = ["portfolio", "symbol", "is_open"]


@extend_schema_view(
    list=extend_schema(summary="Your positions, open and closed, newest first"),
    retrieve=extend_schema(summary="One of your positions"),
)
class PositionViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, UserResourceViewSet):
    queryset = Position.objects.none()
    serializer_class = PositionSerializer
    pagination_class = PositionsNewestFirst
    filterset_class = PositionFilter
    ordering_fields = ["opened_at", "symbol"]

    def get_queryset(self) -> QuerySet[Position]:
        return positions_for(self.request.user)


class TradeFilter(django_filters.FilterSet):
    portfolio = django_filters.ModelChoiceFilter(queryset=_own_portfolios)
    created_after = UtcIsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = UtcIsoDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = Trade
        fields = ["portfolio", "symbol", "side", "order_type", "status", "is_paper"]


@extend_schema_view(
    list=extend_schema(summary="Your trades (orders and fills), newest first"),
    retrieve=extend_schema(summary="One of your trades"),
)
class TradeViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, UserResourceViewSet):
    queryset = Trade.objects.none()
    serializer_class = TradeSerializer
    filterset_class = TradeFilter
    ordering_fields = ["created_at", "symbol"]

    def get_queryset(self) -> QuerySet[Trade]:
        return trades_for(self.request.user)
