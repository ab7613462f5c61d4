"""Orders over HTTP: the order request (validated here for shape, by trading.orders for the
trading rules) and the trade as it is answered."""

from rest_framework import serializers

from core.api_serializers import StrictFieldsMixin
from trading.models import Trade


class OrderInputSerializer(StrictFieldsMixin, serializers.Serializer):
    """Shapes only; quantities and prices stay strings until the service parses them as Decimal
    (no float on the way)."""

    symbol = serializers.CharField(max_length=20)
    side = serializers.ChoiceField(choices=Trade.Side.choices)
    order_type = serializers.ChoiceField(choices=Trade.OrderType.choices)
    quantity = serializers.DecimalField(max_digits=18, decimal_places=8)
    price = serializers.DecimalField(
        max_digits=18, decimal_places=8, required=False, allow_null=True
    )
    stop_price = serializers.DecimalField(
        max_digits=18, decimal_places=8, required=False, allow_null=True
    )
    time_in_force = serializers.ChoiceField(
        choices=[("GTC", "Good till cancelled"), ("GTD", "Good till expires_at")],
        default="GTC",
        help_text="GTC, or GTD with expires_at.",
    )
    expires_at = serializers.DateTimeField(required=False, allow_null=True)

    def validate(self, data: dict) -> dict:
        if data.get("time_in_force") == "GTD" and not data.get("expires_at"):
            raise serializers.ValidationError({"expires_at": ["GTD needs expires_at."]})
        if data.get("time_in_force") == "GTC" and data.get("expires_at"):
            raise serializers.ValidationError(
                {"expires_at": ["A GTC order has no expiry; send time_in_force GTD."]}
            )
        return data


class OrderSerializer(serializers.ModelSerializer):
    strategy_id = serializers.UUIDField(read_only=True, allow_null=True)
    portfolio_id = serializers.UUIDField(read_only=True)
    position_id = serializers.UUIDField(read_only=True, allow_null=True)

    class Meta:
        model = Trade
        fields = [
            "id",
            "portfolio_id",
            "strategy_id",
            "position_id",
            "symbol",
            "side",
            "order_type",
            "quantity",
            "price",
            "stop_price",
            "expires_at",
            "status",
            "filled_quantity",
            "filled_price",
            "filled_value",
            "commission",
            "slippage",
            "reserved_cash",
            "realized_pnl",
            "is_paper",
            "signal_reason",
            "error_message",
            "created_at",
            "submitted_at",
            "triggered_at",
            "filled_at",
            "cancelled_at",
        ]
        read_only_fields = fields
