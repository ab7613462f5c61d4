"""Strategies and backtests over HTTP. Every queryset comes from a selector scoped to the user, so
another user's object is a 404; every write goes through a service."""

import django_filters
from django.db.models import QuerySet
from django.urls import reverse
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.filters import OrderingFilter
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response

from compliance.audit import AuditContext
from core.api_pagination import CheckedCursorPagination, NewestFirst
from core.api_parsers import DepthLimitedJSONParser
from core.api_serializers import refuse_body_fields
from core.api_viewsets import UUID_PATTERN
from strategies.api.serializers import (
    BacktestDetailSerializer,
    BacktestInputSerializer,
    BacktestSerializer,
    BacktestTradeSerializer,
    StrategyInputSerializer,
    StrategySerializer,
)
from strategies.models import Backtest, Strategy
from strategies.rules.schema import RULES_JSON_SCHEMA
from strategies.selectors import (
    backtest_list_for,
    backtest_trades_for,
    backtests_for,
    strategies_for,
)
from strategies.services import backtests as backtest_services
from strategies.services import strategies as strategy_services


class TradesInOrder(CheckedCursorPagination):
    ordering = "trade_number"
    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 1000


@extend_schema_view(
    list=extend_schema(summary="Your strategies, newest first"),
    retrieve=extend_schema(summary="One of your strategies"),
    create=extend_schema(
        summary="Create a draft strategy",
        request=StrategyInputSerializer,
        responses={201: StrategySerializer},
    ),
    update=extend_schema(
        summary="Replace a strategy's definition",
        request=StrategyInputSerializer,
        responses={200: StrategySerializer},
    ),
    partial_update=extend_schema(
        summary="Change some of a strategy's fields",
        request=StrategyInputSerializer(partial=True),
        responses={200: StrategySerializer},
    ),
    destroy=extend_schema(summary="Delete a strategy and its backtests"),
)
class StrategyViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    queryset = Strategy.objects.none()  # for the schema generator; requests use get_queryset()
    serializer_class = StrategySerializer
    pagination_class = NewestFirst
    filter_backends = [DjangoFilterBackend, OrderingFilter]
    filterset_fields = ["status", "asset_symbol", "timeframe", "trading_mode"]
    ordering_fields = ["created_at", "updated_at", "name"]
    parser_classes = [DepthLimitedJSONParser]  # rules are JSON trees: a form cannot carry them
    lookup_value_regex = UUID_PATTERN

    def get_queryset(self) -> QuerySet[Strategy]:
        return strategies_for(self.request.user)

    def create(self, request: Request) -> Response:
        data = self._validated(request.data)
        strategy = strategy_services.create_strategy(
            user=request.user, context=AuditContext.from_request(request), **data
        )
        return Response(StrategySerializer(strategy).data, status=status.HTTP_201_CREATED)

    def update(self, request: Request, pk: str, partial: bool = False) -> Response:
        strategy = self.get_object()
        changes = self._validated(request.data, partial=partial)
        strategy = strategy_services.update_strategy(
            strategy=strategy,
            actor=request.user,
            changes=changes,
            context=AuditContext.from_request(request),
        )
        return Response(StrategySerializer(strategy).data)

    def partial_update(self, request: Request, pk: str) -> Response:
        return self.update(request, pk, partial=True)

    def destroy(self, request: Request, pk: str) -> Response:
        strategy_services.delete_strategy(
            strategy=self.get_object(),
            actor=request.user,
            context=AuditContext.from_request(request),
        )
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        summary="The JSON Schema of entry_rules and exit_rules",
        responses={200: OpenApiResponse(description="A JSON Schema (draft 2020-12) document.")},
    )
    @action(
        detail=False,
        methods=["get"],
        url_path="rules-schema",
        permission_classes=[AllowAny],
        pagination_class=None,
    )
    def rules_schema(self, request: Request) -> Response:
        return Response(RULES_JSON_SCHEMA)

    @extend_schema(
        summary="Start trading a draft or paused strategy (409 otherwise)",
        request=None,
        responses={200: StrategySerializer, 409: OpenApiResponse(description="Not allowed now.")},
    )
    @action(detail=True, methods=["post"])
    def activate(self, request: Request, pk: str) -> Response:
        return self._transition(request, strategy_services.activate_strategy)

    @extend_schema(
        summary="Pause an active strategy (409 otherwise)",
        request=None,
        responses={200: StrategySerializer, 409: OpenApiResponse(description="Not allowed now.")},
    )
    @action(detail=True, methods=["post"])
    def pause(self, request: Request, pk: str) -> Response:
        return self._transition(request, strategy_services.pause_strategy)

    @extend_schema(
        summary="Archive a strategy for good (409 when it is already archived)",
        request=None,
        responses={200: StrategySerializer, 409: OpenApiResponse(description="Not allowed now.")},
    )
    @action(detail=True, methods=["post"])
    def archive(self, request: Request, pk: str) -> Response:
        return self._transition(request, strategy_services.archive_strategy)

    def _transition(self, request: Request, service) -> Response:
        strategy = self.get_object()
        refuse_body_fields(request.data, read_only_names=tuple(StrategySerializer.Meta.fields))
        strategy = service(
            strategy=strategy,
            actor=request.user,
            context=AuditContext.from_request(request),
        )
        return Response(StrategySerializer(strategy).data)

    @staticmethod
    def _validated(data: object, *, partial: bool = False) -> dict:
        serializer = StrategyInputSerializer(data=data, partial=partial)
        serializer.is_valid(raise_exception=True)
        return dict(serializer.validated_data)


def _own_strategies(request: Request):
    return strategies_for(request.user) if request else Strategy.objects.none()


class BacktestFilter(django_filters.FilterSet):
    """?status= and ?strategy=; a strategy id is checked against the asker's own, so the answer
    is the same for another user's strategy as for one that does not exist."""

    strategy = django_filters.ModelChoiceFilter(queryset=_own_strategies)

    class Meta:
        model = Backtest
        fields = ["status", "strategy"]


@extend_schema_view(
    list=extend_schema(summary="Your backtests, newest first"),
    retrieve=extend_schema(
        summary="A backtest with its results", responses={200: BacktestDetailSerializer}
    ),
)
class BacktestViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    queryset = Backtest.objects.none()  # for the schema generator; requests use get_queryset()
    serializer_class = BacktestSerializer
    pagination_class = NewestFirst
    parser_classes = [DepthLimitedJSONParser]  # rules are JSON trees: a form cannot carry them
    lookup_value_regex = UUID_PATTERN
    filter_backends = [DjangoFilterBackend, OrderingFilter]
    filterset_class = BacktestFilter
    ordering_fields = ["created_at", "start_date"]

    def get_queryset(self) -> QuerySet[Backtest]:
        if self.action == "list":
            return backtest_list_for(self.request.user)
        return backtests_for(self.request.user)

    def get_serializer_class(self):
        if self.action in ("retrieve", "cancel", "create"):
            return BacktestDetailSerializer
        if self.action == "trades":
            return BacktestTradeSerializer
        return BacktestSerializer

    @extend_schema(
        summary="Start a backtest; it runs in the background",
        request=BacktestInputSerializer,
        responses={202: BacktestDetailSerializer},
    )
    def create(self, request: Request) -> Response:
        serializer = BacktestInputSerializer(data=request.data, context={"request": request})
        serializer.is_valid(raise_exception=True)
        backtest = backtest_services.start_backtest(
            user=request.user,
            context=AuditContext.from_request(request),
            **serializer.validated_data,
        )
        return Response(
            BacktestDetailSerializer(backtest).data,
            status=status.HTTP_202_ACCEPTED,
            headers={"Location": reverse("backtest-detail", kwargs={"pk": backtest.pk})},
        )

    @extend_schema(
        summary="The backtest's trades, in order",
        filters=False,
        responses=BacktestTradeSerializer(many=True),  # paged: the schema gets the cursor wrapper
    )
    @action(
        detail=True,
        methods=["get"],
        pagination_class=TradesInOrder,
        filter_backends=[],  # in trade_number order: the backtests' ordering fields are not its
    )
    def trades(self, request: Request, pk: str) -> Response:
        backtest: Backtest = self.get_object()
        page = self.paginate_queryset(backtest_trades_for(backtest))
        return self.get_paginated_response(BacktestTradeSerializer(page, many=True).data)

    @extend_schema(
        summary="Cancel a pending or running backtest",
        request=None,
        responses={
            200: BacktestDetailSerializer,
            409: OpenApiResponse(description="The backtest has already finished."),
        },
    )
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: str) -> Response:
        backtest = self.get_object()  # another user's backtest is a 404 whatever the body
        refuse_body_fields(
            request.data, read_only_names=tuple(BacktestDetailSerializer.Meta.fields)
        )
        backtest = backtest_services.cancel_backtest(
            backtest=backtest,
            actor=request.user,
            context=AuditContext.from_request(request),
        )
        return Response(BacktestDetailSerializer(backtest).data)
