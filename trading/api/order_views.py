"""Placing and cancelling orders over HTTP. Portfolios and trades come from selectors scoped to
the user (another user's is a 404); the rules are trading.orders'."""

from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from compliance.audit import AuditContext
from core.api_serializers import refuse_body_fields
from trading import orders
from trading.api.order_serializers import OrderInputSerializer, OrderSerializer
from trading.selectors import order_for_idempotency_key, portfolios_for, trades_for

IDEMPOTENCY_HEADER = "Idempotency-Key"


class PlaceOrderView(APIView):
    @extend_schema(
        summary="Place an order in one of your portfolios",
        description="A paper MARKET order fills at once at the latest price; other orders rest "
        "until a price crosses them. A retried request with the same Idempotency-Key answers "
        "with the first order (200) instead of placing another.",
        parameters=[
            OpenApiParameter(
                IDEMPOTENCY_HEADER,
                OpenApiTypes.STR,
                OpenApiParameter.HEADER,
                description="Up to 100 characters, unique per user.",
            )
        ],
        request=OrderInputSerializer,
        responses={
            201: OrderSerializer,
            200: OpenApiResponse(OrderSerializer, description="A retry: the first order."),
            409: OpenApiResponse(description="The portfolio cannot take the order now."),
        },
    )
    def post(self, request: Request, portfolio_id: str) -> Response:
        portfolio = get_object_or_404(portfolios_for(request.user), pk=portfolio_id)
        key = request.headers.get(IDEMPOTENCY_HEADER)
        if key is not None:
            first = order_for_idempotency_key(request.user, key)
            if first is not None and first.portfolio_id == portfolio.pk:
                return Response(OrderSerializer(first).data, status=status.HTTP_200_OK)
        serializer = OrderInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        data.pop("time_in_force")
        trade = orders.place_order(
            portfolio=portfolio,
            actor=request.user,
            idempotency_key=key,
            context=AuditContext.from_request(request),
            **data,
        )
        return Response(OrderSerializer(trade).data, status=status.HTTP_201_CREATED)


class CancelOrderView(APIView):
    @extend_schema(
        summary="Cancel an order not yet filled",
        request=None,
        responses={
            200: OrderSerializer,
            409: OpenApiResponse(description="The order is filled, cancelled, failed or expired."),
        },
    )
    def post(self, request: Request, trade_id: str) -> Response:
        trade = get_object_or_404(trades_for(request.user), pk=trade_id)
        refuse_body_fields(request.data, read_only_names=tuple(OrderSerializer.Meta.fields))
        trade = orders.cancel_order(
            trade=trade, actor=request.user, context=AuditContext.from_request(request)
        )
        return Response(OrderSerializer(trade).data)
