"""A portfolio's equity history over HTTP, rolled up per interval."""

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from marketdata.equity_queries import EQUITY_INTERVALS
from trading.equity import equity_series
from trading.selectors import portfolios_for


class EquityQuerySerializer(serializers.Serializer):
    start = serializers.DateTimeField(required=False)
    end = serializers.DateTimeField(required=False)
    interval = serializers.ChoiceField(choices=list(EQUITY_INTERVALS), default="1d")


class EquityPointSerializer(serializers.Serializer):
    time = serializers.DateTimeField()
    equity_value = serializers.DecimalField(max_digits=15, decimal_places=2)
    cash_balance = serializers.DecimalField(max_digits=15, decimal_places=2)
    positions_value = serializers.DecimalField(max_digits=15, decimal_places=2)
    cumulative_pnl = serializers.DecimalField(max_digits=15, decimal_places=2, allow_null=True)
    cumulative_pnl_pct = serializers.DecimalField(max_digits=8, decimal_places=4, allow_null=True)
    peak_equity = serializers.DecimalField(max_digits=15, decimal_places=2, allow_null=True)
    drawdown = serializers.DecimalField(max_digits=15, decimal_places=2, allow_null=True)
    drawdown_pct = serializers.DecimalField(max_digits=8, decimal_places=4, allow_null=True)
    equity_low = serializers.DecimalField(max_digits=15, decimal_places=2)
    equity_high = serializers.DecimalField(max_digits=15, decimal_places=2)


class PortfolioEquityView(APIView):
    @extend_schema(
        summary="A portfolio's equity history, per interval",
        description="Each bucket carries its last values, highest peak, deepest drawdown and "
        "equity range. Default: the last 30 days per day.",
        parameters=[
            OpenApiParameter("start", str, description="ISO 8601; default end − 30 days"),
            OpenApiParameter("end", str, description="ISO 8601, exclusive; default now"),
            OpenApiParameter("interval", str, enum=list(EQUITY_INTERVALS), default="1d"),
        ],
        responses={200: EquityPointSerializer(many=True)},
    )
    def get(self, request: Request, portfolio_id: str) -> Response:
        portfolio = get_object_or_404(portfolios_for(request.user), pk=portfolio_id)
        query = EquityQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        points = equity_series(portfolio=portfolio, **query.validated_data)
        return Response(EquityPointSerializer(points, many=True).data)
