"""Deploying a strategy to one of its user's portfolios over HTTP (trading.strategy_runs):
`POST /api/v1/strategies/{id}/deploy` with `portfolio_id`. Both come from selectors scoped to the
user, so another user's strategy or portfolio is a 404."""

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from compliance.audit import AuditContext
from core.api_serializers import StrictFieldsMixin
from strategies.api.serializers import StrategySerializer
from strategies.selectors import strategies_for
from trading.selectors import portfolios_for
from trading.strategy_runs import run_strategy


class DeployInputSerializer(StrictFieldsMixin, serializers.Serializer):
    portfolio_id = serializers.UUIDField()


class DeploymentSerializer(StrategySerializer):
    portfolio_id = serializers.UUIDField(read_only=True)

    class Meta(StrategySerializer.Meta):
        fields = [*StrategySerializer.Meta.fields, "portfolio_id"]


class DeployStrategyView(APIView):
    @extend_schema(
        summary="Run a strategy in one of your portfolios",
        description="Deploys the strategy in the portfolio (paper for a paper strategy, live "
        "for a live one) and activates it: it trades on each newly closed candle of its symbol "
        "and timeframe. Deploying again moves it to another portfolio.",
        request=DeployInputSerializer,
        responses={
            200: DeploymentSerializer,
            409: OpenApiResponse(
                description="The portfolio's kind does not match the strategy's trading mode, "
                "or the strategy cannot be activated (archived)."
            ),
        },
    )
    def post(self, request: Request, strategy_id: str) -> Response:
        strategy = get_object_or_404(strategies_for(request.user), pk=strategy_id)
        serializer = DeployInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        portfolio = get_object_or_404(
            portfolios_for(request.user), pk=serializer.validated_data["portfolio_id"]
        )
        strategy = run_strategy(
            strategy=strategy,
            portfolio=portfolio,
            actor=request.user,
            context=AuditContext.from_request(request),
        )
        strategy.portfolio_id = portfolio.pk
        return Response(DeploymentSerializer(strategy).data)
