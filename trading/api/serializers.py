"""Portfolios, positions and trades over HTTP: input serializers validate, output serializers
shape; the views pass validated data to trading.services. Money is a string (Decimal)."""

from decimal import Decimal

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers

from core.api_serializers import StrictFieldsMixin
from core.currencies import validate_iso_4217
from trading.models import Portfolio, Position, Trade


class PortfolioSerializer(serializers.ModelSerializer):
    available_cash = serializers.DecimalField(
        max_digits=15,
        decimal_places=2,
        read_only=True,
        help_text="Cash no open order holds back: what a new order may spend.",
    )

    class Meta:
        model = Portfolio
        fields = [
            "id",
            "name",
            "description",
            "base_currency",
            "is_paper",
            "broker",
            "initial_balance",
            "cash_balance",
            "reserved_cash",
            "available_cash",
            "positions_value",
            "total_value",
            "unrealized_pnl",
            "realized_pnl",
            "is_active",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class PortfolioInputSerializer(StrictFieldsMixin, serializers.Serializer):
    """A new paper portfolio: what it is called and the cash it starts with. Balances, P&L and
    the paper/live flag are the service's to set."""

    read_only_names = tuple(PortfolioSerializer.Meta.fields)

    name = serializers.CharField(max_length=100)
    description = serializers.CharField(allow_null=True, allow_blank=True, required=False)
    base_currency = serializers.CharField(
        max_length=3, required=False, help_text="ISO 4217, upper case; EUR when left out."
    )

    def validate_base_currency(self, value: str) -> str:
        try:
            validate_iso_4217(value)
        except DjangoValidationError as error:
            raise serializers.ValidationError(error.messages) from error
        return value

    initial_balance = serializers.DecimalField(
        max_digits=15, decimal_places=2, min_value=Decimal("0")
    )


class PositionSerializer(serializers.ModelSerializer):
    class Meta:
        model = Position
        fields = [
            "id",
            "portfolio",
            "symbol",
            "quantity",
            "average_entry_price",
            "current_price",
            "market_value",
            "cost_basis",
            "unrealized_pnl",
            "unrealized_pnl_pct",
            "realized_pnl",
            "is_open",
            "opened_at",
            "closed_at",
            "updated_at",
        ]
        read_only_fields = fields


class TradeSerializer(serializers.ModelSerializer):
    class Meta:
        model = Trade
        fields = [
            "id",
            "portfolio",
            "strategy",
            "position",
            "symbol",
            "side",
            "order_type",
            "quantity",
            "price",
            "filled_quantity",
            "filled_price",
            "filled_value",
            "commission",
            "slippage",
            "realized_pnl",
            "status",
            "error_message",
            "is_paper",
            "signal_reason",
            "created_at",
            "submitted_at",
            "filled_at",
            "cancelled_at",
        ]
        read_only_fields = fields
