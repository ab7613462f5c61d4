"""Input serializers validate a request; output serializers shape a response. Neither saves:
the views pass validated data to the services. Money and percentages are strings (Decimal)."""

import uuid
from decimal import Decimal
from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from core.api_serializers import StrictFieldsMixin
from strategies.api.openapi import ENTRY_RULES_REF, EXIT_RULES_REF, RULES_REF
from strategies.models import (
    BACKTEST_RESULT_FIELDS,
    TAKE_PROFIT_LIMIT,
    TAKE_PROFIT_LIMIT_MESSAGE,
    Backtest,
    BacktestTrade,
    Strategy,
)
from strategies.rules.schema import validate_rules
from strategies.selectors import strategies_for
from strategies.services.backtests import DEFAULT_COMMISSION_PCT, DEFAULT_SLIPPAGE_PCT


@extend_schema_field(RULES_REF)
class RulesField(serializers.JSONField):
    """A rule tree (see the StrategyRules schema); errors name their path in the tree."""

    def __init__(self, *, path: str, **kwargs: Any) -> None:
        self.path = path
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> Any:
        # The rules first: validate_rules stops at the language's depth, JSONField's own check
        # (json.dumps) recurses through the whole document.
        errors = validate_rules(data, path=self.path)
        if errors:
            raise serializers.ValidationError(errors)
        return super().to_internal_value(data)


@extend_schema_field(ENTRY_RULES_REF)
class EntryRulesField(RulesField):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(path="entry_rules", **kwargs)


@extend_schema_field(EXIT_RULES_REF)
class ExitRulesField(RulesField):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(path="exit_rules", **kwargs)


def _percent(maximum: int | Decimal, **kwargs: Any) -> serializers.DecimalField:
    return serializers.DecimalField(
        max_digits=5,
        decimal_places=2,
        min_value=Decimal("0"),
        max_value=Decimal(maximum),
        allow_null=True,
        required=False,
        **kwargs,
    )


class StrategyInputSerializer(StrictFieldsMixin, serializers.Serializer):
    """The editable columns of a strategy; symbol and timeframe are checked by the service
    (full_clean) against the same patterns as the database's CHECK constraints."""

    name = serializers.CharField(max_length=100)
    description = serializers.CharField(allow_null=True, allow_blank=True, required=False)
    asset_symbol = serializers.CharField(max_length=20, help_text="For example BTC/USDT.")
    timeframe = serializers.CharField(max_length=5, help_text="1m, 5m, 1h, 4h, 1d, 1w, 1M ...")
    entry_rules = EntryRulesField()
    exit_rules = ExitRulesField()
    stop_loss_pct = _percent(100)
    take_profit_pct = _percent(
        TAKE_PROFIT_LIMIT,
        error_messages={
            key: TAKE_PROFIT_LIMIT_MESSAGE
            for key in ("max_value", "max_digits", "max_whole_digits")
        },
    )
    max_position_size_pct = serializers.DecimalField(
        max_digits=5,
        decimal_places=2,
        min_value=Decimal("0.01"),
        max_value=Decimal(100),
        required=False,
    )
    max_drawdown_pct = _percent(100)
    trailing_stop_pct = _percent(100)
    trading_mode = serializers.ChoiceField(
        choices=Strategy.TradingMode.choices, allow_null=True, required=False
    )


class StrategySerializer(serializers.ModelSerializer):
    entry_rules = EntryRulesField(read_only=True)
    exit_rules = ExitRulesField(read_only=True)

    class Meta:
        model = Strategy
        fields = [
            "id",
            "name",
            "description",
            "version",
            "asset_symbol",
            "timeframe",
            "entry_rules",
            "exit_rules",
            "stop_loss_pct",
            "take_profit_pct",
            "max_position_size_pct",
            "max_drawdown_pct",
            "trailing_stop_pct",
            "status",
            "trading_mode",
            "created_at",
            "updated_at",
            "activated_at",
            "last_signal_at",
        ]
        read_only_fields = fields


class BacktestInputSerializer(StrictFieldsMixin, serializers.Serializer):
    strategy = serializers.UUIDField(help_text="The id of one of your strategies.")
    start_date = serializers.DateField()
    end_date = serializers.DateField(help_text="Included whole: candles up to 24:00 UTC.")
    initial_capital = serializers.DecimalField(
        max_digits=15, decimal_places=2, min_value=Decimal("0.01")
    )
    commission_pct = serializers.DecimalField(
        max_digits=5,
        decimal_places=4,
        min_value=Decimal("0"),
        max_value=Decimal("0.5"),
        default=DEFAULT_COMMISSION_PCT,
        help_text="Fraction of each fill's notional: 0.0010 is 0.1%.",
    )
    slippage_pct = serializers.DecimalField(
        max_digits=5,
        decimal_places=4,
        min_value=Decimal("0"),
        max_value=Decimal("0.5"),
        default=DEFAULT_SLIPPAGE_PCT,
        help_text="Fraction of the price: buys fill at price × (1 + slippage).",
    )

    def validate_strategy(self, value: uuid.UUID) -> Strategy:
        """The asker's strategy with that id; another user's answers like one that does not
        exist."""
        request = self.context.get("request")
        strategy = None
        if request is not None and request.user.is_authenticated:
            strategy = strategies_for(request.user).filter(pk=value).first()
        if strategy is None:
            raise serializers.ValidationError(
                f'Invalid pk "{value}" - object does not exist.', code="does_not_exist"
            )
        return strategy

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs["end_date"] <= attrs["start_date"]:
            raise serializers.ValidationError(
                {"end_date": ["The end date must be after the start date."]}
            )
        return attrs


class BacktestSerializer(serializers.ModelSerializer):
    """A backtest without its bulky series (the list)."""

    class Meta:
        model = Backtest
        fields = [
            "id",
            "strategy",
            "start_date",
            "end_date",
            "initial_capital",
            "commission_pct",
            "slippage_pct",
            "status",
            "progress_pct",
            "error_message",
            *BACKTEST_RESULT_FIELDS,
            "created_at",
            "started_at",
            "completed_at",
        ]
        read_only_fields = fields


class BacktestDetailSerializer(BacktestSerializer):
    """A backtest with its frozen strategy and the equity, monthly and drawdown series."""

    class Meta(BacktestSerializer.Meta):
        fields = [
            *BacktestSerializer.Meta.fields,
            "strategy_snapshot",
            "equity_curve",
            "monthly_returns",
            "drawdown_periods",
        ]
        read_only_fields = fields


class BacktestTradeSerializer(serializers.ModelSerializer):
    class Meta:
        model = BacktestTrade
        fields = [
            "trade_number",
            "entry_date",
            "exit_date",
            "symbol",
            "side",
            "quantity",
            "entry_price",
            "exit_price",
            "commission",
            "slippage",
            "gross_pnl",
            "net_pnl",
            "pnl_pct",
            "entry_signal",
            "exit_signal",
            "market_conditions",
            "is_open",
        ]
        read_only_fields = fields


# What a client sees of a strategy or a backtest but cannot set (named as read-only in a refusal).
StrategyInputSerializer.read_only_names = tuple(StrategySerializer.Meta.fields)
BacktestInputSerializer.read_only_names = tuple(BacktestDetailSerializer.Meta.fields)
